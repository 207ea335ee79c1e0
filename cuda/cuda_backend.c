/*
 * cuda_backend.c: the network on one GPU (runtime/backend.h's table for CUDA).
 *
 * Memory is planned once, for the largest batch that fits (halving from the batch asked for,
 * with a warning, when the GPU is short of memory): one allocation of weights in the storage
 * type (fp16 or fp32), the graph's arena (root r of a batch of n at offset * n), the
 * normalized input in its own buffer padded to 8 (fp16) or 4 channels so the first
 * convolution gets tensor-core shapes, one cuDNN workspace, one packed scratch tensor for
 * convolutions whose epilogue cuDNN did not fuse, and two slots of pinned host and device
 * staging for inputs and outputs.
 *
 * Depthwise convolutions (groups > 1) run on our own kernel (kernels.cu), not cuDNN: their
 * weights are stored tap-major, (kh * kw, c), and they have no plan.
 *
 * Batch sizes are planned as "buckets": powers of two up to the planned batch, and the
 * planned batch itself; a batch of n runs in the smallest bucket >= n (the extra images are
 * whatever the slot held, computed and ignored). Each bucket has its cuDNN plans (built and
 * probed with one run per node: a node whose path fails falls to the next, see conv.h) and,
 * per slot, the whole forward captured as a CUDA graph on its first use and replayed after
 * (plain launches where capture fails). The planned batch's bucket is built at plan time,
 * the others on first use.
 *
 * Pipeline: three streams. A batch is copied into pinned memory, uploaded (upload stream),
 * normalized and run (compute stream), and its float outputs downloaded (download stream);
 * events order each slot's reuse, so batch k + 1 uploads while batch k computes and k - 1
 * downloads, and submit() returns before any of it is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv.h"
#include "plan_cache.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "runtime/backend.h"
#include "kernels.h"
#include "vision.h"

#define SLOTS FR_BACKEND_IN_FLIGHT
#define WORKSPACE_LIMIT ((size_t)512 << 20) /* per convolution plan */
#define PARAM_ALIGN 64                      /* elements: 128-byte aligned fp16 weights */

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fr_status try_status_ = (expr);                                                        \
        if (try_status_ != FR_OK)                                                              \
            return try_status_;                                                                \
    } while (0)

typedef struct bucket {
    int n;
    int built;
    fr_conv_plan **plans;            /* per node; NULL for the other operations */
    cudaGraphExec_t exec[SLOTS];     /* the captured forward, per slot */
    int no_graph;                    /* capture failed: plain launches */
} bucket;

typedef struct cuda_state {
    const fr_graph *g;
    fr_precision precision;
    fr_cu_dtype dtype;
    size_t elem;                     /* bytes per stored value */
    int max_batch;
    int input_channels;              /* the normalized input's channels, padded */
    int norm_root;                   /* tensor the normalize node writes */
    unsigned paths;                  /* bit mask of fr_conv_path allowed */
    size_t image_bytes, dim;

    cudnnHandle_t dnn;
    cudaStream_t upload, compute, download;
    cudaEvent_t uploaded[SLOTS], computed[SLOTS], downloaded[SLOTS], start, stop;
    cudaEvent_t outside_ready, outside_done; /* run_on: ordering with a context's stream */

    char *weights;                   /* every convolution's weights, bias, slopes */
    size_t *w_off, *b_off, *a_off;   /* per node, elements into weights */
    char *arena;                     /* arena_size * max_batch values */
    char *input;                     /* normalized input (n, h, w, input_channels) */
    float *stats;                    /* per-image mean and 1/std (standardization) */
    void *packed, *workspace;
    size_t packed_bytes, workspace_bytes;
    int memory_fixed;                /* after the largest bucket: no more (re)allocation */
    uint8_t *d_in[SLOTS], *h_in[SLOTS];
    float *d_out[SLOTS], *h_out[SLOTS];
    int slot_n[SLOTS];
    long submitted, collected;

    bucket *buckets;
    int bucket_count;
    int path_count[FR_CONV_PATHS];   /* convolutions of the planned batch, per path */
    int captured, capture_failures;
    fr_plan_cache *plans;            /* cuDNN plans across runs (plan_cache.h), or NULL */
    int plans_cached, plans_built;   /* graph-path convolutions rebuilt from it / planned anew */
    double plan_seconds;             /* planning of the planned batch's bucket */
    int oom;                         /* the last failure was the GPU's memory running out */
    char warning[256], detail[3072], capture_error[256];
    char fallback[640];  /* why the first node that missed its first path missed it */
    char cache_note[1400];
} cuda_state;

/* ---- memory ------------------------------------------------------------------------------- */

static int is_depthwise(const fr_node *node)
{
    return node->kind == FR_OP_CONV && node->groups > 1;
}

static fr_status device_alloc(cuda_state *s, void **ptr, size_t bytes, const char *what)
{
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 256);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        *ptr = NULL;
        s->oom = 1;
        return fr_fail(FR_E_NOMEM, "GPU out of memory allocating %.1f MiB for %s",
                       (double)bytes / (1 << 20), what);
    }
    FR_CUDA_CHECK(e);
    return FR_OK;
}

/* Pinned host memory: running out of it is an out-of-memory like the device's (the batch
 * halves), and the runtime's sticky error is cleared so the next launch is not blamed. */
static fr_status host_alloc(cuda_state *s, void **ptr, size_t bytes, const char *what)
{
    cudaError_t e = cudaMallocHost(ptr, bytes ? bytes : 256);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        *ptr = NULL;
        s->oom = 1;
        return fr_fail(FR_E_NOMEM, "out of pinned host memory allocating %.1f MiB for %s",
                       (double)bytes / (1 << 20), what);
    }
    FR_CUDA_CHECK(e);
    return FR_OK;
}

static void device_free(void **ptr)
{
    if (*ptr)
        cudaFree(*ptr);
    *ptr = NULL;
}

static fr_cu_view view_of(const cuda_state *s, int tensor, int n)
{
    const fr_tensor *t = &s->g->tensors[tensor];
    const fr_tensor *r = &s->g->tensors[t->root];
    fr_cu_view v;
    char *base;
    if (t->root == s->norm_root) {
        base = s->input;
        v.ld = s->input_channels;
    } else {
        base = s->arena + r->offset * (size_t)n * s->elem;
        v.ld = r->c;
    }
    v.data = base + (size_t)t->c_offset * s->elem;
    v.h = t->h;
    v.w = t->w;
    v.c = t->c;
    return v;
}

static fr_conv_spec conv_spec(const cuda_state *s, int i, int n)
{
    const fr_node *node = &s->g->nodes[i];
    fr_conv_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.n = n;
    spec.dtype = s->dtype;
    spec.precision = s->precision;
    spec.x = view_of(s, node->in, n);
    if (s->g->tensors[node->in].root == s->norm_root)
        spec.x.c = s->input_channels; /* zero-padded channels, zero weights */
    spec.y = view_of(s, node->out, n);
    spec.w = s->weights + s->w_off[i] * s->elem;
    spec.bias = s->weights + s->b_off[i] * s->elem;
    spec.alpha = node->alpha != FR_NO_PARAM ? s->weights + s->a_off[i] * s->elem : NULL;
    spec.kh = node->kh;
    spec.kw = node->kw;
    spec.sh = node->stride_h;
    spec.sw = node->stride_w;
    spec.pt = node->pad_top;
    spec.pl = node->pad_left;
    spec.pb = node->pad_bottom;
    spec.pr = node->pad_right;
    spec.act = node->act;
    spec.accumulate = node->accumulate;
    return spec;
}

/* Weights in the storage type, converted once: the first convolution's input channels
 * zero-padded to input_channels; depthwise weights (c, kh, kw, 1) transposed to (kh * kw, c). */
static fr_status upload_weights(cuda_state *s)
{
    const fr_graph *g = s->g;
    size_t total = 0;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *node = &g->nodes[i];
        if (node->kind != FR_OP_CONV)
            continue;
        int c_in = g->tensors[node->in].root == s->norm_root ? s->input_channels
                                                              : g->tensors[node->in].c;
        if (is_depthwise(node))
            c_in = 1;
        size_t c_out = (size_t)g->tensors[node->out].c;
        size_t sizes[3] = {c_out * node->kh * node->kw * (size_t)c_in, c_out,
                           node->alpha != FR_NO_PARAM ? c_out : 0};
        size_t *offs[3] = {&s->w_off[i], &s->b_off[i], &s->a_off[i]};
        for (int k = 0; k < 3; k++) {
            *offs[k] = total;
            total += (sizes[k] + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
        }
    }
    float *host = fr_calloc(total ? total : 1, sizeof(float), "weights for the GPU");
    if (!host)
        return FR_E_NOMEM;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *node = &g->nodes[i];
        if (node->kind != FR_OP_CONV)
            continue;
        int c_src = g->tensors[node->in].c;
        int c_in = g->tensors[node->in].root == s->norm_root ? s->input_channels : c_src;
        int c_out = g->tensors[node->out].c;
        size_t taps = (size_t)c_out * node->kh * node->kw;
        if (is_depthwise(node)) {
            size_t per_channel = (size_t)node->kh * node->kw;
            for (size_t k = 0; k < (size_t)c_out; k++)
                for (size_t t = 0; t < per_channel; t++)
                    host[s->w_off[i] + t * (size_t)c_out + k] =
                        g->params[node->weight + k * per_channel + t];
        } else {
            for (size_t t = 0; t < taps; t++)
                memcpy(host + s->w_off[i] + t * (size_t)c_in, g->params + node->weight + t * c_src,
                       (size_t)c_src * sizeof(float));
        }
        memcpy(host + s->b_off[i], g->params + node->bias, (size_t)c_out * sizeof(float));
        if (node->alpha != FR_NO_PARAM)
            memcpy(host + s->a_off[i], g->params + node->alpha, (size_t)c_out * sizeof(float));
    }
    void *staging = NULL;
    fr_status st = device_alloc(s, (void **)&s->weights, total * s->elem, "weights");
    if (!st && s->dtype == FR_CU_F16)
        st = device_alloc(s, &staging, total * sizeof(float), "weights (staging)");
    /* On the compute stream, so the fp16 conversion follows the copy: a plain cudaMemcpy from
     * pageable memory may return before its DMA lands, and runs on the legacy default stream,
     * which the non-blocking compute stream does not wait for. */
    if (!st) {
        cudaError_t e = cudaMemcpyAsync(s->dtype == FR_CU_F16 ? staging : s->weights, host,
                                        total * sizeof(float), cudaMemcpyHostToDevice, s->compute);
        if (e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "cudaMemcpyAsync(weights)", __FILE__, __LINE__);
    }
    if (!st && s->dtype == FR_CU_F16)
        st = fr_cu_convert(s->compute, s->dtype, staging, s->weights, total);
    {
        cudaError_t e = cudaStreamSynchronize(s->compute);
        if (!st && e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "cudaStreamSynchronize(weights)", __FILE__, __LINE__);
    }
    device_free(&staging);
    free(host);
    return st;
}

/* The packed scratch and the workspace grow while the largest bucket is planned. */
static fr_status ensure_scratch(cuda_state *s, void **ptr, size_t *have, size_t need,
                                const char *what, int *fits)
{
    *fits = need <= *have;
    if (*fits || s->memory_fixed)
        return FR_OK;
    FR_CUDA_CHECK(cudaStreamSynchronize(s->compute));
    device_free(ptr);
    *have = 0;
    TRY(device_alloc(s, ptr, need, what));
    *have = need;
    *fits = 1;
    return FR_OK;
}

/* ---- the forward pass ------------------------------------------------------------------------ */

static fr_status forward(cuda_state *s, bucket *b, int slot)
{
    const fr_graph *g = s->g;
    int n = b->n;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *node = &g->nodes[i];
        fr_cu_view out = view_of(s, node->out, n);
        switch (node->kind) {
        case FR_OP_NORMALIZE:
            out.c = s->input_channels;
            TRY(fr_cu_normalize(s->compute, s->dtype, node, s->d_in[slot], g->input_h,
                                g->input_w, n, s->stats, &out));
            break;
        case FR_OP_CONV:
            if (is_depthwise(node)) {
                fr_cu_view in = view_of(s, node->in, n);
                TRY(fr_cu_depthwise(s->compute, s->dtype, node, &in, &out,
                                    s->weights + s->w_off[i] * s->elem,
                                    s->weights + s->b_off[i] * s->elem,
                                    node->alpha != FR_NO_PARAM ? s->weights + s->a_off[i] * s->elem
                                                               : NULL,
                                    n));
            } else {
                TRY(fr_conv_plan_run(b->plans[i], s->dnn, s->compute, s->workspace, s->packed));
            }
            break;
        case FR_OP_MAX_POOL:
        case FR_OP_AVG_POOL: {
            fr_cu_view in = view_of(s, node->in, n);
            TRY(fr_cu_pool(s->compute, s->dtype, node, &in, &out, n));
            break;
        }
        case FR_OP_ADD: {
            fr_cu_view a = view_of(s, node->in, n), c = view_of(s, node->in2, n);
            TRY(fr_cu_add(s->compute, s->dtype, node->act, &a, &c, &out, n));
            break;
        }
        case FR_OP_GLOBAL_AVG: {
            fr_cu_view in = view_of(s, node->in, n);
            TRY(fr_cu_global_avg(s->compute, s->dtype, &in, &out, n));
            break;
        }
        }
    }
    fr_cu_view y = view_of(s, g->output, n);
    return fr_cu_to_float(s->compute, s->dtype, &y, s->d_out[slot], n);
}

/* ---- the plan cache -------------------------------------------------------------------------- */

/* Opens this device's plan cache (plan_cache.h); without one (FACEREC_PLAN_CACHE=off, no
 * home directory) every node is planned from the heuristics, as before. */
static void open_plans(cuda_state *s)
{
    struct cudaDeviceProp prop;
    int driver = 0, runtime = 0;
    char key[FR_PLAN_MAX_KEY], path[4096];
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess ||
        cudaDriverGetVersion(&driver) != cudaSuccess ||
        cudaRuntimeGetVersion(&runtime) != cudaSuccess) {
        cudaGetLastError();
        snprintf(s->cache_note, sizeof s->cache_note, "plan cache off: device properties");
        return;
    }
    fr_plan_device_key(prop.name, prop.major, prop.minor, prop.multiProcessorCount, driver,
                       runtime, cudnnGetVersion(), key, sizeof key);
    if (fr_plan_cache_default_path(key, path, sizeof path) != FR_OK ||
        fr_plan_cache_open(path, key, &s->plans) != FR_OK) {
        snprintf(s->cache_note, sizeof s->cache_note, "plan cache off: %s", fr_error_message());
        s->plans = NULL;
        return;
    }
    snprintf(s->cache_note, sizeof s->cache_note, "%s", fr_plan_cache_note(s->plans));
    if (fr_plan_cache_was_corrupt(s->plans))
        snprintf(s->warning, sizeof s->warning, "cuDNN plan cache %.200s", s->cache_note);
}

/* After a bucket is built: its new plans join the file. A cache that cannot be written costs
 * the next run its planning time, nothing else: the reason goes into describe(). */
static void save_plans(cuda_state *s)
{
    if (s->plans && fr_plan_cache_save(s->plans) != FR_OK)
        snprintf(s->cache_note, sizeof s->cache_note, "plan cache not saved: %s",
                 fr_error_message());
}

/* Plans every convolution of bucket b, each on the first allowed path that plans and runs. */
static fr_status build_bucket(cuda_state *s, bucket *b, int count_paths)
{
    const fr_graph *g = s->g;
    /* probing runs on slot 0's buffers: no batch may still be computing or downloading */
    FR_CUDA_CHECK(cudaStreamSynchronize(s->compute));
    FR_CUDA_CHECK(cudaStreamSynchronize(s->download));
    if (!b->plans) {
        b->plans = fr_calloc((size_t)g->node_count, sizeof *b->plans, "convolution plans");
        if (!b->plans)
            return FR_E_NOMEM;
    }
    for (int i = 0; i < g->node_count; i++) {
        if (g->nodes[i].kind != FR_OP_CONV || is_depthwise(&g->nodes[i]) || b->plans[i])
            continue;
        fr_conv_spec spec = conv_spec(s, i, b->n);
        char why[512] = "";
        for (int path = 0; path < FR_CONV_PATHS && !b->plans[i]; path++) {
            if (!(s->paths & (1u << path)))
                continue;
            size_t limit = s->memory_fixed ? s->workspace_bytes : WORKSPACE_LIMIT;
            fr_conv_plan *plan = NULL;
            fr_status st = fr_conv_plan_new(s->dnn, &spec, (fr_conv_path)path, limit, s->plans,
                                            &plan);
            int fits = 1;
            if (!st)
                st = ensure_scratch(s, &s->workspace, &s->workspace_bytes,
                                    fr_conv_plan_workspace(plan), "the cuDNN workspace", &fits);
            if (!st && fits && fr_conv_plan_needs_packed(plan)) {
                size_t packed = (size_t)b->n * spec.y.h * spec.y.w * spec.y.c * s->elem;
                st = ensure_scratch(s, &s->packed, &s->packed_bytes, packed,
                                    "unfused convolution outputs", &fits);
            }
            if (st == FR_E_NOMEM && s->oom) {
                fr_conv_plan_free(plan);
                return st;
            }
            if (!st && fits) {
                /* one run, synchronized: an engine that plans but cannot run is passed over */
                st = fr_conv_plan_run(plan, s->dnn, s->compute, s->workspace, s->packed);
                cudaError_t e = cudaStreamSynchronize(s->compute);
                if (e != cudaSuccess) {
                    fr_conv_plan_uncache(plan);
                    fr_conv_plan_free(plan);
                    return fr_fail(FR_E_DEVICE, "%s (%s, batch %d): the GPU failed: %s",
                                   g->nodes[i].name, fr_conv_path_name((fr_conv_path)path),
                                   b->n, cudaGetErrorString(e));
                }
            }
            if (!st && fits) {
                b->plans[i] = plan;
                if (fr_conv_plan_from_cache(plan))
                    s->plans_cached++;
                else if (path <= FR_CONV_GRAPH)
                    s->plans_built++;
                if (count_paths)
                    s->path_count[path]++;
                if (why[0] && !s->fallback[0])
                    snprintf(s->fallback, sizeof s->fallback, "%.80s: %.500s", g->nodes[i].name,
                             why);
            } else {
                if (plan)
                    fr_conv_plan_uncache(plan);
                int len = (int)strlen(why);
                snprintf(why + len, sizeof why - (size_t)len, "%s%s: %s", len ? "; " : "",
                         fr_conv_path_name((fr_conv_path)path),
                         st ? fr_error_message() : "needs more scratch memory than planned");
                fr_conv_plan_free(plan);
            }
        }
        if (!b->plans[i])
            return fr_fail(FR_E_UNSUPPORTED, "convolution %s (batch %d): no cuDNN path planned "
                           "it (%s)", g->nodes[i].name, b->n, why[0] ? why : "none allowed");
    }
    /* the whole pass once, plain, before any capture */
    TRY(forward(s, b, 0));
    FR_CUDA_CHECK(cudaStreamSynchronize(s->compute));
    b->built = 1;
    save_plans(s);
    return FR_OK;
}

static bucket *bucket_for(cuda_state *s, int n)
{
    for (int i = 0; i < s->bucket_count; i++)
        if (s->buckets[i].n >= n)
            return &s->buckets[i];
    return NULL;
}

/* The forward of bucket b on slot's buffers, on the compute stream: the captured CUDA graph
 * where there is one, else captured now, else plain launches. */
static fr_status launch(cuda_state *s, bucket *b, int slot)
{
    if (!b->built)
        TRY(build_bucket(s, b, 0));
    if (b->no_graph)
        return forward(s, b, slot);
    if (!b->exec[slot]) {
        FR_CUDA_CHECK(cudaStreamBeginCapture(s->compute, cudaStreamCaptureModeThreadLocal));
        fr_status st = forward(s, b, slot);
        cudaGraph_t graph = NULL;
        cudaError_t e = cudaStreamEndCapture(s->compute, &graph);
        if (!st && e == cudaSuccess)
            e = cudaGraphInstantiate(&b->exec[slot], graph, 0);
        if (graph)
            cudaGraphDestroy(graph);
        if (st || e != cudaSuccess) {
            snprintf(s->capture_error, sizeof s->capture_error, "%s",
                     st ? fr_error_message() : cudaGetErrorString(e));
            cudaGetLastError();
            b->exec[slot] = NULL;
            b->no_graph = 1;
            s->capture_failures++;
            return forward(s, b, slot);
        }
        s->captured++;
    }
    FR_CUDA_CHECK(cudaGraphLaunch(b->exec[slot], s->compute));
    return FR_OK;
}

/* ---- planning -------------------------------------------------------------------------------- */

static void release_batch(cuda_state *s)
{
    cudaStreamSynchronize(s->compute);
    cudaStreamSynchronize(s->upload);
    cudaStreamSynchronize(s->download);
    for (int i = 0; i < s->bucket_count; i++) {
        bucket *b = &s->buckets[i];
        for (int k = 0; k < SLOTS; k++)
            if (b->exec[k])
                cudaGraphExecDestroy(b->exec[k]);
        if (b->plans)
            for (int j = 0; j < s->g->node_count; j++)
                fr_conv_plan_free(b->plans[j]);
        free(b->plans);
    }
    free(s->buckets);
    s->buckets = NULL;
    s->bucket_count = 0;
    device_free((void **)&s->arena);
    device_free((void **)&s->input);
    device_free((void **)&s->stats);
    device_free(&s->packed);
    device_free(&s->workspace);
    s->packed_bytes = s->workspace_bytes = 0;
    for (int k = 0; k < SLOTS; k++) {
        device_free((void **)&s->d_in[k]);
        device_free((void **)&s->d_out[k]);
        if (s->h_in[k])
            cudaFreeHost(s->h_in[k]);
        if (s->h_out[k])
            cudaFreeHost(s->h_out[k]);
        s->h_in[k] = NULL;
        s->h_out[k] = NULL;
    }
    memset(s->path_count, 0, sizeof s->path_count);
    s->memory_fixed = 0;
}

static fr_status plan_batch(cuda_state *s, int batch)
{
    const fr_graph *g = s->g;
    s->max_batch = batch;
    s->oom = 0;
    int count = 1;
    while ((1 << (count - 1)) < batch)
        count++;
    s->buckets = fr_calloc((size_t)count, sizeof *s->buckets, "batch buckets");
    if (!s->buckets)
        return FR_E_NOMEM;
    for (int i = 0; i < count; i++)
        s->buckets[i].n = i == count - 1 ? batch : 1 << i;
    s->bucket_count = count;

    size_t pixels = (size_t)g->input_h * g->input_w;
    TRY(device_alloc(s, (void **)&s->arena, g->arena_size * (size_t)batch * s->elem,
                     "activations"));
    TRY(device_alloc(s, (void **)&s->input, pixels * s->input_channels * batch * s->elem,
                     "the normalized input"));
    TRY(device_alloc(s, (void **)&s->stats, 2 * sizeof(float) * (size_t)batch, "statistics"));
    for (int k = 0; k < SLOTS; k++) {
        TRY(device_alloc(s, (void **)&s->d_in[k], s->image_bytes * batch, "input images"));
        TRY(device_alloc(s, (void **)&s->d_out[k], s->dim * sizeof(float) * batch, "outputs"));
        /* the padding images of a bucket are defined values, not leftovers of another run */
        FR_CUDA_CHECK(cudaMemset(s->d_in[k], 0, s->image_bytes * batch));
        TRY(host_alloc(s, (void **)&s->h_in[k], s->image_bytes * batch, "input images (pinned)"));
        TRY(host_alloc(s, (void **)&s->h_out[k], s->dim * sizeof(float) * batch,
                       "outputs (pinned)"));
    }
    /* the memsets ran on the legacy default stream, which our non-blocking streams ignore */
    FR_CUDA_CHECK(cudaDeviceSynchronize());
    double t0 = fr_seconds();
    TRY(build_bucket(s, &s->buckets[count - 1], 1));
    s->plan_seconds = fr_seconds() - t0;
    s->memory_fixed = 1;
    return FR_OK;
}

static fr_status parse_paths(unsigned *mask)
{
    const char *v = getenv("FACEREC_CUDNN");
    unsigned all = (1u << FR_CONV_PATHS) - 1;
    if (!v || !*v || !strcmp(v, "auto"))
        *mask = all;
    else if (!strcmp(v, "graph"))
        *mask = (1u << FR_CONV_GRAPH_FUSED) | (1u << FR_CONV_GRAPH);
    else if (!strcmp(v, "unfused"))
        *mask = (1u << FR_CONV_GRAPH) | (1u << FR_CONV_LEGACY);
    else if (!strcmp(v, "legacy"))
        *mask = (1u << FR_CONV_LEGACY_FUSED) | (1u << FR_CONV_LEGACY);
    else
        return fr_fail(FR_E_INVALID, "FACEREC_CUDNN=%s: expected auto, graph, unfused or legacy",
                       v);
    return FR_OK;
}

static void cuda_release(void *state)
{
    cuda_state *s = state;
    if (!s)
        return;
    release_batch(s);
    device_free((void **)&s->weights);
    for (int k = 0; k < SLOTS; k++) {
        if (s->uploaded[k])
            cudaEventDestroy(s->uploaded[k]);
        if (s->computed[k])
            cudaEventDestroy(s->computed[k]);
        if (s->downloaded[k])
            cudaEventDestroy(s->downloaded[k]);
    }
    if (s->outside_ready)
        cudaEventDestroy(s->outside_ready);
    if (s->outside_done)
        cudaEventDestroy(s->outside_done);
    if (s->start)
        cudaEventDestroy(s->start);
    if (s->stop)
        cudaEventDestroy(s->stop);
    fr_plan_cache_free(s->plans);
    if (s->dnn)
        cudnnDestroy(s->dnn);
    if (s->upload)
        cudaStreamDestroy(s->upload);
    if (s->compute)
        cudaStreamDestroy(s->compute);
    if (s->download)
        cudaStreamDestroy(s->download);
    free(s->w_off);
    free(s->b_off);
    free(s->a_off);
    free(s);
}

static fr_status setup(cuda_state *s, const fr_graph *g, const fr_runner_options *options)
{
    s->g = g;
    s->precision = options->precision ? options->precision : FR_PRECISION_FP16;
    s->dtype = s->precision == FR_PRECISION_FP16 ? FR_CU_F16 : FR_CU_F32;
    s->elem = s->dtype == FR_CU_F16 ? 2 : 4;
    s->input_channels = s->dtype == FR_CU_F16 ? 8 : 4;
    s->image_bytes = (size_t)g->input_h * g->input_w * 3;
    const fr_tensor *output = &g->tensors[g->output];
    s->dim = (size_t)output->h * output->w * output->c;
    TRY(parse_paths(&s->paths));
    if (g->node_count < 1 || g->nodes[0].kind != FR_OP_NORMALIZE)
        return fr_fail(FR_E_UNSUPPORTED, "CUDA backend: the graph does not start by normalizing");
    s->norm_root = g->tensors[g->nodes[0].out].root;
    for (int i = 1; i < g->node_count; i++)
        if (g->nodes[i].kind == FR_OP_NORMALIZE)
            return fr_fail(FR_E_UNSUPPORTED, "CUDA backend: more than one normalize node");
    s->w_off = fr_calloc((size_t)g->node_count, sizeof *s->w_off, "weight offsets");
    s->b_off = fr_calloc((size_t)g->node_count, sizeof *s->b_off, "weight offsets");
    s->a_off = fr_calloc((size_t)g->node_count, sizeof *s->a_off, "weight offsets");
    if (!s->w_off || !s->b_off || !s->a_off)
        return FR_E_NOMEM;
    FR_CUDA_CHECK(cudaSetDevice(0));
    FR_CUDNN_CHECK(cudnnCreate(&s->dnn));
    FR_CUDA_CHECK(cudaStreamCreateWithFlags(&s->upload, cudaStreamNonBlocking));
    FR_CUDA_CHECK(cudaStreamCreateWithFlags(&s->compute, cudaStreamNonBlocking));
    FR_CUDA_CHECK(cudaStreamCreateWithFlags(&s->download, cudaStreamNonBlocking));
    FR_CUDNN_CHECK(cudnnSetStream(s->dnn, s->compute));
    open_plans(s);
    for (int k = 0; k < SLOTS; k++) {
        FR_CUDA_CHECK(cudaEventCreateWithFlags(&s->uploaded[k], cudaEventDisableTiming));
        FR_CUDA_CHECK(cudaEventCreateWithFlags(&s->computed[k], cudaEventDisableTiming));
        FR_CUDA_CHECK(cudaEventCreateWithFlags(&s->downloaded[k], cudaEventDisableTiming));
    }
    FR_CUDA_CHECK(cudaEventCreateWithFlags(&s->outside_ready, cudaEventDisableTiming));
    FR_CUDA_CHECK(cudaEventCreateWithFlags(&s->outside_done, cudaEventDisableTiming));
    FR_CUDA_CHECK(cudaEventCreate(&s->start));
    FR_CUDA_CHECK(cudaEventCreate(&s->stop));
    return upload_weights(s);
}

static fr_status cuda_plan(const fr_graph *g, const fr_runner_options *options, void **out)
{
    cuda_state *s = fr_calloc(1, sizeof *s, "the CUDA backend");
    if (!s)
        return FR_E_NOMEM;
    fr_status st = setup(s, g, options);
    int asked = options->max_batch > 0 ? options->max_batch : 64;
    int batch = asked;
    while (!st) {
        st = plan_batch(s, batch);
        if (!st || !s->oom || batch == 1)
            break;
        release_batch(s);
        batch /= 2;
        st = FR_OK;
    }
    if (st) {
        cuda_release(s);
        return st;
    }
    if (batch < asked)
        snprintf(s->warning, sizeof s->warning,
                 "GPU memory: batch %d did not fit, running batches of %d", asked, batch);
    *out = s;
    return FR_OK;
}

/* ---- batches ----------------------------------------------------------------------------------- */

static fr_status cuda_submit(void *state, const uint8_t *inputs, int n)
{
    cuda_state *s = state;
    if (n < 1 || n > s->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (planned for 1..%d)", n, s->max_batch);
    if (s->submitted - s->collected >= SLOTS)
        return fr_fail(FR_E_INTERNAL, "CUDA backend: more than %d batches in flight", SLOTS);
    int slot = (int)(s->submitted % SLOTS);
    bucket *b = bucket_for(s, n);
    size_t in_bytes = (size_t)n * s->image_bytes, out_bytes = (size_t)n * s->dim * sizeof(float);
    /* the pinned slot is free once its last upload is done */
    FR_CUDA_CHECK(cudaEventSynchronize(s->uploaded[slot]));
    memcpy(s->h_in[slot], inputs, in_bytes);
    /* the device slot is free once the forward that read it is done */
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->upload, s->computed[slot], 0));
    FR_CUDA_CHECK(cudaMemcpyAsync(s->d_in[slot], s->h_in[slot], in_bytes, cudaMemcpyHostToDevice,
                                  s->upload));
    FR_CUDA_CHECK(cudaEventRecord(s->uploaded[slot], s->upload));
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->compute, s->uploaded[slot], 0));
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->compute, s->downloaded[slot], 0));
    TRY(launch(s, b, slot));
    FR_CUDA_CHECK(cudaEventRecord(s->computed[slot], s->compute));
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->download, s->computed[slot], 0));
    FR_CUDA_CHECK(cudaMemcpyAsync(s->h_out[slot], s->d_out[slot], out_bytes,
                                  cudaMemcpyDeviceToHost, s->download));
    FR_CUDA_CHECK(cudaEventRecord(s->downloaded[slot], s->download));
    s->slot_n[slot] = n;
    s->submitted++;
    return FR_OK;
}

static fr_status cuda_collect(void *state, float *outputs)
{
    cuda_state *s = state;
    if (s->collected == s->submitted)
        return fr_fail(FR_E_INTERNAL, "CUDA backend: no batch in flight");
    int slot = (int)(s->collected % SLOTS);
    s->collected++;
    FR_CUDA_CHECK(cudaEventSynchronize(s->downloaded[slot]));
    memcpy(outputs, s->h_out[slot], (size_t)s->slot_n[slot] * s->dim * sizeof(float));
    return FR_OK;
}

static fr_status cuda_run(void *state, const uint8_t *inputs, int n, float *outputs)
{
    cuda_state *s = state;
    if (s->submitted != s->collected)
        return fr_fail(FR_E_INTERNAL, "CUDA backend: run() with batches in flight");
    TRY(cuda_submit(state, inputs, n));
    return cuda_collect(state, outputs);
}

/* A batch already on the device, between an execution context's operations: the compute
 * stream waits for the context's work so far, copies the inputs into slot 0 (the captured
 * graphs read their slot's buffers), runs, copies the outputs out, and the context's stream
 * waits for that. Nothing waits on the host. */
static fr_status cuda_run_on(void *state, void *exec_state, const uint8_t *inputs, int n,
                             float *outputs)
{
    cuda_state *s = state;
    if (n < 1 || n > s->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (planned for 1..%d)", n, s->max_batch);
    if (s->submitted != s->collected)
        return fr_fail(FR_E_INTERNAL, "CUDA backend: run_on() with batches in flight");
    cudaStream_t outside = fr_cuda_vision_stream(exec_state);
    bucket *b = bucket_for(s, n);
    FR_CUDA_CHECK(cudaEventRecord(s->outside_ready, outside));
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->compute, s->outside_ready, 0));
    FR_CUDA_CHECK(cudaStreamWaitEvent(s->compute, s->downloaded[0], 0));
    FR_CUDA_CHECK(cudaMemcpyAsync(s->d_in[0], inputs, (size_t)n * s->image_bytes,
                                  cudaMemcpyDeviceToDevice, s->compute));
    TRY(launch(s, b, 0));
    FR_CUDA_CHECK(cudaMemcpyAsync(outputs, s->d_out[0], (size_t)n * s->dim * sizeof(float),
                                  cudaMemcpyDeviceToDevice, s->compute));
    FR_CUDA_CHECK(cudaEventRecord(s->outside_done, s->compute));
    FR_CUDA_CHECK(cudaStreamWaitEvent(outside, s->outside_done, 0));
    return FR_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static fr_status cuda_benchmark(void *state, int n, int iterations, double *seconds)
{
    cuda_state *s = state;
    if (s->submitted != s->collected)
        return fr_fail(FR_E_INTERNAL, "CUDA backend: benchmark with batches in flight");
    bucket *b = bucket_for(s, n);
    int slot = s->submitted > 0 ? (int)((s->submitted - 1) % SLOTS) : 0;
    double *times = fr_calloc((size_t)iterations, sizeof *times, "timings");
    if (!times)
        return FR_E_NOMEM;
    fr_status st = FR_OK;
    for (int i = 0; i < 3 && !st; i++) /* warm-up: builds, captures, caches */
        st = launch(s, b, slot);
    for (int i = 0; i < iterations && !st; i++) {
        float ms = 0;
        cudaError_t e = cudaEventRecord(s->start, s->compute);
        if (e == cudaSuccess && !(st = launch(s, b, slot))) {
            e = cudaEventRecord(s->stop, s->compute);
            if (e == cudaSuccess)
                e = cudaEventSynchronize(s->stop);
            if (e == cudaSuccess)
                e = cudaEventElapsedTime(&ms, s->start, s->stop);
        }
        if (!st && e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "timing the forward pass", __FILE__, __LINE__);
        times[i] = ms * 1e-3;
    }
    if (!st) {
        qsort(times, (size_t)iterations, sizeof *times, compare_doubles);
        *seconds = times[iterations / 2];
    }
    free(times);
    return st;
}

static fr_precision cuda_precision(const void *state)
{
    return ((const cuda_state *)state)->precision;
}

static int cuda_max_batch(const void *state)
{
    return ((const cuda_state *)state)->max_batch;
}

static const char *cuda_warning(const void *state)
{
    const cuda_state *s = state;
    return s->warning[0] ? s->warning : NULL;
}

static const char *cuda_describe(void *state)
{
    cuda_state *s = state;
    int convs = 0, depthwise = 0;
    for (int p = 0; p < FR_CONV_PATHS; p++)
        convs += s->path_count[p];
    for (int i = 0; i < s->g->node_count; i++)
        depthwise += is_depthwise(&s->g->nodes[i]);
    snprintf(s->detail, sizeof s->detail,
             "cuda %s, batch %d, %d convolutions: %d %s, %d %s, %d %s, %d %s, %d depthwise "
             "(own kernel); CUDA graphs: %d captured, %d failed%s%s%s%s; planned in %.2f s, "
             "%d convolution plans from the cache, %d chosen by the heuristics (%s)",
             fr_precision_name(s->precision), s->max_batch, convs + depthwise,
             s->path_count[FR_CONV_GRAPH_FUSED], fr_conv_path_name(FR_CONV_GRAPH_FUSED),
             s->path_count[FR_CONV_GRAPH], fr_conv_path_name(FR_CONV_GRAPH),
             s->path_count[FR_CONV_LEGACY_FUSED], fr_conv_path_name(FR_CONV_LEGACY_FUSED),
             s->path_count[FR_CONV_LEGACY], fr_conv_path_name(FR_CONV_LEGACY), depthwise,
             s->captured,
             s->capture_failures, s->capture_error[0] ? ": " : "", s->capture_error,
             s->fallback[0] ? "; first fallback: " : "", s->fallback, s->plan_seconds,
             s->plans_cached, s->plans_built, s->cache_note);
    return s->detail;
}

const fr_backend fr_cuda_backend = {"cuda",        cuda_plan,     cuda_run,
                                    cuda_release,  cuda_precision, cuda_max_batch,
                                    cuda_submit,   cuda_collect,  cuda_warning,
                                    cuda_describe, cuda_benchmark, cuda_run_on};
