/*
 * cpu_primitives.c: the network on oneDNN's primitives, the CPU backend's main path.
 *
 * Each graph node becomes one primitive: a convolution with its bias, ReLU or PReLU and, for
 * a residual (node->accumulate), the sum post-op that adds onto what the output already
 * holds; pooling; binary add with its ReLU; the global average as pooling over the whole
 * map. One exception (fusable): a small convolution of the image with a per-channel PReLU
 * and the max pool after it (MTCNN's first layers) are one facerec step (cpu_convpool.c).
 * oneDNN chooses the layouts: every convolution is first created with "any" source, weights
 * and destination, and its choice of activation layout for the largest share of the
 * network's convolution FLOPs is the layout of every activation tensor (nhwc for brgconv on
 * AVX-512, nChw16c for Winograd and the older JIT kernels, or nChw8c). fp32 3x3 stride-1
 * convolutions are asked of oneDNN's Winograd algorithm first (winograd_wanted; the default,
 * FACEREC_CPU_WINOGRAD=0 turns it off). A
 * primitive whose own choice differs from the tensors' gets reorders around it; a
 * convolution reading or writing a channel slice of a concatenation (graph.h: views) uses
 * the slice in place when the same implementation takes the strided descriptor, and a copy
 * otherwise. Weights are reordered into the layout each convolution chose once, when it is
 * created, and shared by every batch size and thread.
 *
 * Threads: across images, not inside layers. Primitives are made for one thread, and a batch
 * is cut into chunks of a few images that facerec's pool hands out one at a time, each worker
 * running the whole network on its chunk with its own activations, scratchpad and oneDNN
 * stream. Why not oneDNN's own OpenMP threads: they split every layer evenly and wait for
 * each other at its end, so on a loaded machine one thread the OS holds back stalls every
 * layer (3-5x slower than the pool on the shared 2-core development VM, in this path's first
 * trials; docs/cpu.md). A batch smaller than the thread count leaves threads idle.
 *
 * Primitives are made for fixed batch sizes, so a plan holds "buckets" as the CUDA backend
 * does: powers of two up to the chunk size, built the first time a chunk of that size runs
 * (the planned batch's at plan time). A chunk of c images runs as the largest bucket <= c,
 * then the rest the same way: no padded images are computed.
 *
 * bf16 (--precision bf16): activations and weights in bf16, accumulation in fp32 inside
 * oneDNN's kernels; the normalized input and the network's output stay fp32. Only where the
 * CPU has native bf16 instructions (AVX512-BF16, AMX): oneDNN's emulation elsewhere is slower
 * than fp32.
 */
#include "cpu/cpu_primitives.h"

#include <dnnl.h>
#include <dnnl_debug.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "cpu/cpu_convpool.h"
#include "cpu/cpu_ops.h"

#define MAX_ARGS 8
#define MAX_IMPLS 16
#define MAX_CHUNK 8 /* images per chunk at most: activations of a chunk stay small */

typedef enum step_kind {
    STEP_PRIMITIVE,
    STEP_NORMALIZE,
    STEP_ZERO,
    STEP_WINOGRAD_OUT,
    STEP_CONVPOOL /* a convolution and its max pool in one pass (cpu_convpool.h) */
} step_kind;

/* An argument of a step: which of the bucket's memory descriptions it is. */
typedef struct step_arg {
    int arg;     /* DNNL_ARG_* */
    int binding;
} step_arg;

typedef struct step {
    step_kind kind;
    dnnl_primitive_t primitive;
    int nargs;
    step_arg args[MAX_ARGS];
    /* STEP_PRIMITIVE made for one image (a Winograd convolution, see per_image_step): run once
     * per image of the bucket, arg k's data image_bytes[k] further on each time (0: the same) */
    int per_image;
    size_t image_bytes[MAX_ARGS];
    const fr_node *node; /* STEP_NORMALIZE */
    int buffer;          /* STEP_NORMALIZE, STEP_ZERO: the arena buffer written */
    size_t bytes;        /* STEP_ZERO */
    /* STEP_WINOGRAD_OUT: the convolution's output (binding), its activation, and its layout:
     * c channels in blocks of `block` (1: nhwc), hw pixels, image_stride floats an image */
    int binding;
    fr_activation act;
    float slope;
    int c, hw, block;
    size_t image_stride;
    /* STEP_CONVPOOL: node is the convolution, pool its pool; in_buffer the convolution's
     * input, buffer the pool's output (in `block`), scratch_buffer fr_cpu_convpool's */
    const fr_node *pool;
    int in_buffer, scratch_buffer;
} step;

/* Where a memory's data is: an arena buffer, the scratchpad, the caller's outputs, or a
 * fixed pointer (weights, biases, slopes). Each worker makes its own memory objects. */
typedef enum place { AT_ARENA, AT_SCRATCH, AT_OUTPUT, AT_FIXED } place;

typedef struct binding {
    dnnl_memory_desc_t md;
    place at;
    int buffer;  /* AT_ARENA */
    void *fixed; /* AT_FIXED */
} binding;

typedef struct bucket {
    int n, built;
    step *steps;
    int step_count, step_capacity;
    binding *bindings;
    int binding_count, binding_capacity;
    size_t *buffer_offset; /* bytes into a worker's arena */
    int buffer_count;
    size_t arena_bytes, scratch_bytes;
    dnnl_memory_t *memory;   /* [worker][binding] */
    const void **bound;      /* [worker][2]: the arena and scratchpad its memories point into */
} bucket;

/* One thread's own: stream, activations, scratchpad. */
typedef struct worker {
    dnnl_stream_t stream;
    void *arena, *scratch;
    size_t arena_bytes, scratch_bytes;
} worker;

/* Weights of one convolution in the layout its primitive chose. */
typedef struct packed {
    int node;
    dnnl_memory_desc_t md;
    void *data;
} packed;

typedef struct impl_count {
    char name[64];
    int count;
} impl_count;

struct fr_cpu_primitives {
    const fr_graph *g;
    int max_batch;
    fr_precision precision;
    dnnl_data_type_t dt;    /* activations and weights */
    dnnl_format_tag_t tag;  /* activation layout */
    unsigned char *plain;   /* per root: kept nhwc (a view at an offset no block divides) */
    dnnl_engine_t engine;
    fr_pool *pool;
    worker *workers;
    int worker_count;
    bucket *buckets;        /* sizes 1, 2, 4, ... MAX_CHUNK */
    int bucket_count;
    packed *packs;
    int pack_count, pack_capacity;
    impl_count impls[MAX_IMPLS]; /* implementations of the first bucket built */
    int direct_only;        /* no Winograd (see fr_cpu_primitives_plan) */
    int impl_count, reorders;
    int fused;              /* convolution + max pool pairs run as STEP_CONVPOOL */
    char description[768];
};

static fr_status dnnl_failed(dnnl_status_t st, const char *what, const char *node)
{
    return fr_fail(st == dnnl_unimplemented ? FR_E_UNSUPPORTED : FR_E_INTERNAL,
                   "oneDNN: %s%s%s: %s", what, node ? " for " : "", node ? node : "",
                   dnnl_status2str(st));
}

int fr_cpu_has_bf16(void)
{
    return dnnl_get_effective_cpu_isa() >= dnnl_cpu_isa_avx512_core_bf16;
}

int fr_cpu_has_winograd(void)
{
    return dnnl_get_effective_cpu_isa() >= dnnl_cpu_isa_avx512_core;
}

/* ---- building one bucket ------------------------------------------------------------------ */

typedef struct builder {
    fr_cpu_primitives *p;
    bucket *b;
    int node;                /* index of the node being built */
    const char *name;        /* its name, for errors */
    dnnl_memory_desc_t *md;  /* per tensor: a root's own, a view's submemory of its root */
    int *tensor_binding;     /* per tensor: its binding, or -1 before its first use */
    int *buffer_of;          /* per root tensor: its arena buffer */
    size_t *size;            /* per buffer: bytes, and lifetime in nodes */
    int *first, *last;
    int buffer_count, buffer_capacity;
    int counting;            /* implementations are counted (the first bucket built) */
    unsigned char *fuse;     /* per node: it and the next run as one STEP_CONVPOOL */
} builder;

static int new_buffer(builder *bd, size_t bytes, int first, int last)
{
    if (bd->buffer_count == bd->buffer_capacity) {
        int cap = bd->buffer_capacity ? 2 * bd->buffer_capacity : 256;
        size_t *size = realloc(bd->size, (size_t)cap * sizeof *size);
        if (size)
            bd->size = size;
        int *f = realloc(bd->first, (size_t)cap * sizeof *f);
        if (f)
            bd->first = f;
        int *l = realloc(bd->last, (size_t)cap * sizeof *l);
        if (l)
            bd->last = l;
        if (!size || !f || !l)
            return -1;
        bd->buffer_capacity = cap;
    }
    int i = bd->buffer_count++;
    bd->size[i] = (bytes + 63) & ~(size_t)63;
    bd->first[i] = first;
    bd->last[i] = last;
    return i;
}

/* A memory description of the bucket; returns its index (or -1 when out of memory). */
static int bind(builder *bd, const dnnl_memory_desc_t *md, place at, int buffer, void *fixed)
{
    bucket *b = bd->b;
    if (b->binding_count == b->binding_capacity) {
        int cap = b->binding_capacity ? 2 * b->binding_capacity : 256;
        binding *grown = realloc(b->bindings, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        b->bindings = grown;
        b->binding_capacity = cap;
    }
    b->bindings[b->binding_count] = (binding){*md, at, buffer, fixed};
    return b->binding_count++;
}

static fr_status add_step(builder *bd, step s)
{
    bucket *b = bd->b;
    if (b->step_count == b->step_capacity) {
        int cap = b->step_capacity ? 2 * b->step_capacity : 128;
        step *grown = realloc(b->steps, (size_t)cap * sizeof *grown);
        if (!grown) {
            if (s.primitive)
                dnnl_primitive_destroy(s.primitive);
            return fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
        }
        b->steps = grown;
        b->step_capacity = cap;
    }
    b->steps[b->step_count++] = s;
    return FR_OK;
}

static void count_impl(builder *bd, const_dnnl_primitive_desc_t pd)
{
    fr_cpu_primitives *p = bd->p;
    const char *info = NULL;
    dnnl_primitive_kind_t kind;
    if (!bd->counting || dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) !=
                             dnnl_success || !info ||
        dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind) != dnnl_success)
        return;
    char impl[sizeof p->impls[0].name];
    snprintf(impl, sizeof impl, "%s %s", dnnl_prim_kind2str(kind), info);
    for (int i = 0; i < p->impl_count; i++)
        if (!strcmp(p->impls[i].name, impl)) {
            p->impls[i].count++;
            return;
        }
    if (p->impl_count < MAX_IMPLS) {
        snprintf(p->impls[p->impl_count].name, sizeof p->impls[0].name, "%s", impl);
        p->impls[p->impl_count++].count = 1;
    }
}

/* The primitive of pd as a step with args (plus its scratchpad); pd is destroyed. */
static fr_status primitive_step(builder *bd, dnnl_primitive_desc_t pd, int nargs,
                                const step_arg *args)
{
    step s = {.kind = STEP_PRIMITIVE, .nargs = nargs, .buffer = -1};
    memcpy(s.args, args, (size_t)nargs * sizeof *args);
    fr_status fs = FR_OK;
    const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    if (scratch_bytes > 0) {
        int m = bind(bd, scratch, AT_SCRATCH, -1, NULL);
        if (m < 0)
            fs = fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
        else
            s.args[s.nargs++] = (step_arg){DNNL_ARG_SCRATCHPAD, m};
        if (scratch_bytes > bd->b->scratch_bytes)
            bd->b->scratch_bytes = scratch_bytes;
    }
    count_impl(bd, pd);
    if (!fs) {
        dnnl_status_t st = dnnl_primitive_create(&s.primitive, pd);
        if (st != dnnl_success)
            fs = dnnl_failed(st, "a primitive", bd->name);
    }
    dnnl_primitive_desc_destroy(pd);
    return fs ? fs : add_step(bd, s);
}

static dnnl_primitive_attr_t new_attr(const_dnnl_post_ops_t post_ops)
{
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success ||
        (post_ops && dnnl_primitive_attr_set_post_ops(attr, post_ops) != dnnl_success)) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

/* A reorder of binding src into binding dst (adding onto dst's values when accumulate). */
static fr_status reorder_step(builder *bd, int src, int dst, int accumulate)
{
    dnnl_post_ops_t po = NULL;
    if (accumulate && (dnnl_post_ops_create(&po) != dnnl_success ||
                       dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success)) {
        dnnl_post_ops_destroy(po);
        return fr_fail(FR_E_NOMEM, "oneDNN: post-ops");
    }
    dnnl_primitive_attr_t attr = new_attr(po);
    dnnl_post_ops_destroy(po);
    if (!attr)
        return fr_fail(FR_E_NOMEM, "oneDNN: attributes");
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(
        &pd, &bd->b->bindings[src].md, bd->p->engine, &bd->b->bindings[dst].md, bd->p->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_failed(st, "a reorder", bd->name);
    if (bd->counting)
        bd->p->reorders++;
    step_arg args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    /* reorders are counted on their own, not with the nodes' implementations */
    int counting = bd->counting;
    bd->counting = 0;
    fr_status fs = primitive_step(bd, pd, 2, args);
    bd->counting = counting;
    return fs;
}

static fr_status tensor_binding(builder *bd, int t, int *out)
{
    if (bd->tensor_binding[t] < 0) {
        int root = bd->p->g->tensors[t].root;
        bd->tensor_binding[t] = bind(bd, &bd->md[t], AT_ARENA, bd->buffer_of[root], NULL);
        if (bd->tensor_binding[t] < 0)
            return fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
    }
    *out = bd->tensor_binding[t];
    return FR_OK;
}

/* A buffer of layout md alive during the current node only. */
static fr_status temp_binding(builder *bd, const dnnl_memory_desc_t *md, int *out)
{
    int buffer = new_buffer(bd, dnnl_memory_desc_get_size(md), bd->node, bd->node);
    *out = buffer < 0 ? -1 : bind(bd, md, AT_ARENA, buffer, NULL);
    return *out < 0 ? fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives") : FR_OK;
}

/* Tensor t as an operand in layout want: itself, or a copy made before the node runs. */
static fr_status input_as(builder *bd, int t, const dnnl_memory_desc_t *want, int *out)
{
    int m = -1;
    fr_status fs = tensor_binding(bd, t, &m);
    if (fs)
        return fs;
    if (dnnl_memory_desc_equal(want, &bd->md[t])) {
        *out = m;
        return FR_OK;
    }
    if ((fs = temp_binding(bd, want, out)))
        return fs;
    return reorder_step(bd, m, *out, 0);
}

/* Tensor t as a destination in layout want: itself, or a buffer copied into t afterwards
 * (*copy_back: call output_done after the node's step); holding t's values first when the
 * node accumulates. */
static fr_status output_as(builder *bd, int t, const dnnl_memory_desc_t *want, int accumulate,
                           int *out, int *copy_back)
{
    int m = -1;
    fr_status fs = tensor_binding(bd, t, &m);
    *copy_back = 0;
    if (fs)
        return fs;
    if (dnnl_memory_desc_equal(want, &bd->md[t])) {
        *out = m;
        return FR_OK;
    }
    *copy_back = 1;
    if ((fs = temp_binding(bd, want, out)))
        return fs;
    return accumulate ? reorder_step(bd, m, *out, 0) : FR_OK;
}

static fr_status output_done(builder *bd, int t, int have)
{
    int dst = -1;
    fr_status fs = tensor_binding(bd, t, &dst);
    return fs ? fs : reorder_step(bd, have, dst, 0);
}

/* The same shape as tensor t, with its root's layout, but dense (a view's own copy) and in
 * the activations' data type (a bf16 plan's f32 input or output, as a bf16 copy). */
static fr_status dense_md(builder *bd, int t, dnnl_memory_desc_t *out)
{
    const dnnl_memory_desc_t *md = &bd->md[t];
    dnnl_format_tag_t tag = bd->p->plain[bd->p->g->tensors[t].root] ? dnnl_acdb : bd->p->tag;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(out, md->ndims, md->dims, bd->p->dt, tag);
    return st == dnnl_success ? FR_OK : dnnl_failed(st, "a memory descriptor", bd->name);
}

static int is_ref(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return !impl || !strncmp(impl, "ref", 3);
}

static int same_impl(const_dnnl_primitive_desc_t a, const_dnnl_primitive_desc_t b)
{
    const char *ia = NULL, *ib = NULL;
    dnnl_primitive_desc_query(a, dnnl_query_impl_info_str, 0, &ia);
    dnnl_primitive_desc_query(b, dnnl_query_impl_info_str, 0, &ib);
    return ia && ib && !strcmp(ia, ib);
}

/* ---- convolutions -------------------------------------------------------------------------- */

static fr_status packed_weights(builder *bd, const fr_node *node, const dnnl_memory_desc_t *want,
                                void **out)
{
    fr_cpu_primitives *p = bd->p;
    int index = (int)(node - p->g->nodes);
    for (int i = 0; i < p->pack_count; i++)
        if (p->packs[i].node == index && dnnl_memory_desc_equal(&p->packs[i].md, want)) {
            *out = p->packs[i].data;
            return FR_OK;
        }
    if (p->pack_count == p->pack_capacity) {
        int cap = p->pack_capacity ? 2 * p->pack_capacity : 64;
        packed *grown = realloc(p->packs, (size_t)cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory packing weights");
        p->packs = grown;
        p->pack_capacity = cap;
    }
    /* the graph's weights: (c_out, kh, kw, c_in / groups), as oneDNN's (o, i, h, w) or, for
     * depthwise, (g, 1, 1, h, w) */
    const fr_tensor *x = &p->g->tensors[node->in], *y = &p->g->tensors[node->out];
    dnnl_memory_desc_t user;
    dnnl_status_t st;
    if (node->groups > 1) {
        dnnl_dims_t dims = {node->groups, 1, 1, node->kh, node->kw};
        dnnl_dims_t strides = {(dnnl_dim_t)node->kh * node->kw, 1, 1, node->kw, 1};
        st = dnnl_memory_desc_init_by_strides(&user, 5, dims, dnnl_f32, strides);
    } else {
        dnnl_dims_t dims = {y->c, x->c, node->kh, node->kw};
        dnnl_dims_t strides = {(dnnl_dim_t)node->kh * node->kw * x->c, 1,
                               (dnnl_dim_t)node->kw * x->c, x->c};
        st = dnnl_memory_desc_init_by_strides(&user, 4, dims, dnnl_f32, strides);
    }
    if (st != dnnl_success)
        return dnnl_failed(st, "the weights' descriptor", node->name);
    void *data = fr_aligned_alloc(dnnl_memory_desc_get_size(want), "packed weights");
    if (!data)
        return FR_E_NOMEM;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_stream_t stream = p->workers[0].stream;
    st = dnnl_memory_create(&from, &user, p->engine, p->g->params + node->weight);
    if (st == dnnl_success)
        st = dnnl_memory_create(&to, want, p->engine, data);
    /* oneDNN's Winograd weights reorder only from a plain oihw source: a step through one */
    dnnl_memory_desc_t mid;
    void *mid_data = NULL;
    dnnl_memory_t mid_mem = NULL;
    if (st == dnnl_success &&
        dnnl_reorder_primitive_desc_create(&pd, &user, p->engine, want, p->engine, NULL) !=
            dnnl_success) {
        pd = NULL;
        st = dnnl_memory_desc_init_by_tag(&mid, user.ndims, user.dims, dnnl_f32,
                                          user.ndims == 5 ? dnnl_goihw : dnnl_oihw);
        if (st == dnnl_success && !(mid_data = fr_aligned_alloc(dnnl_memory_desc_get_size(&mid),
                                                                "packed weights")))
            st = dnnl_out_of_memory;
        if (st == dnnl_success)
            st = dnnl_memory_create(&mid_mem, &mid, p->engine, mid_data);
        if (st == dnnl_success)
            st = dnnl_reorder_primitive_desc_create(&pd, &user, p->engine, &mid, p->engine, NULL);
        if (st == dnnl_success)
            st = dnnl_primitive_create(&reorder, pd);
        if (st == dnnl_success) {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, mid_mem}};
            st = dnnl_primitive_execute(reorder, stream, 2, args);
        }
        dnnl_primitive_destroy(reorder);
        reorder = NULL;
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        if (st == dnnl_success)
            st = dnnl_reorder_primitive_desc_create(&pd, &mid, p->engine, want, p->engine, NULL);
        dnnl_memory_destroy(from);
        from = mid_mem;
        mid_mem = NULL;
    }
    if (st == dnnl_success)
        st = dnnl_primitive_create(&reorder, pd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
        st = dnnl_primitive_execute(reorder, stream, 2, args);
    }
    if (st == dnnl_success)
        st = dnnl_stream_wait(stream);
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(mid_mem);
    dnnl_memory_destroy(from);
    dnnl_memory_destroy(to);
    free(mid_data);
    if (st != dnnl_success) {
        free(data);
        return dnnl_failed(st, "packing weights", node->name);
    }
    p->packs[p->pack_count++] = (packed){index, *want, data};
    *out = data;
    return FR_OK;
}

/* A PReLU whose slopes are all one value (face-api's leaky ReLU): oneDNN's eltwise ReLU with
 * that negative slope, exactly the same function; its PReLU post-op has only the reference
 * implementation for most convolutions (measured: 5.4 s of 5.5 for the tiny detector's
 * network at 416, against 0.1 s with the eltwise). */
static int uniform_slope(const fr_graph *g, const fr_node *node, float *slope)
{
    const float *a = g->params + node->alpha;
    int c = g->tensors[node->out].c;
    for (int k = 1; k < c; k++)
        if (a[k] != a[0])
            return 0;
    *slope = a[0];
    return 1;
}

/* Whether a convolution is worth oneDNN's Winograd kernel: fp32, 3x3, stride 1, not grouped,
 * an output map of 4x4 or more (Winograd computes whole output tiles: on the 3x3 and 1x1 maps
 * of dlib's last blocks it ran 1.3x and 20x slower than direct, ONEDNN_VERBOSE at batch 8 on
 * one thread; on 35x35 maps 3x faster). A fixed rule, not timed at plan time: a timed choice
 * could differ between two processes, and with it an image's embedding (sharded embeds must
 * equal one run byte for byte). dlib (85 % of its FLOPs in such convolutions) ran 1.06-1.09x
 * faster with it on one thread, irv1 1.11-1.21x, in alternating rounds (bench/RESULTS.md,
 * issue 15; 1.12-1.13x and 1.04-1.05x on a quiet machine, 2026-12-03 16:25). The default
 * since the full suite passed with it (2026-12-03); FACEREC_CPU_WINOGRAD=0 turns it off,
 * every convolution direct (the A/B switch of the benchmark and the tests). Where oneDNN
 * has no Winograd kernel for the shape, or only a reference implementation, build_conv takes
 * the direct one. Its activation (none, ReLU or one slope) is facerec's own step after it
 * (winograd_out); a PReLU of per-channel slopes stays direct. A convolution of fewer than
 * 16 input channels (the image's 3) stays direct: TinyFaceDetector's conv0 (3 -> 16 on
 * 192x192) on Winograd made `bench_detect --detector tiny --size 192` 4x slower (detection
 * 8.2 ms an image against 1.9 direct; bench/RESULTS.md, issue 10); dlib and irv1 have no
 * such 3x3 stride-1 convolution. */
static int winograd_wanted(const fr_cpu_primitives *p, const fr_node *node)
{
    const char *env = getenv("FACEREC_CPU_WINOGRAD");
    float slope;
    return p->dt == dnnl_f32 && !p->direct_only && !(env && strcmp(env, "0") == 0) &&
           node->groups <= 1 && node->kh == 3 && node->kw == 3 && node->stride_h == 1 &&
           node->stride_w == 1 && p->g->tensors[node->in].c >= 16 &&
           p->g->tensors[node->out].h >= 4 &&
           p->g->tensors[node->out].w >= 4 &&
           (node->act != FR_ACT_PRELU || uniform_slope(p->g, node, &slope));
}

/* A convolution's primitive descriptor for src and dst layouts (NULL: oneDNN's choice) at
 * batch n; dst_type: the output's data type; prelu: a PReLU of per-channel slopes as the
 * last post-op (0: left to a primitive of its own, see build_conv); alg: direct or
 * Winograd. */
static dnnl_status_t conv_pd(fr_cpu_primitives *p, const fr_node *node, int n,
                             const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                             dnnl_data_type_t dst_type, int prelu, dnnl_alg_kind_t alg,
                             dnnl_primitive_desc_t *out)
{
    const fr_tensor *x = &p->g->tensors[node->in], *y = &p->g->tensors[node->out];
    dnnl_memory_desc_t any_src, any_dst, weights, bias;
    dnnl_dims_t src_dims = {n, x->c, x->h, x->w}, dst_dims = {n, y->c, y->h, y->w};
    dnnl_dims_t bias_dims = {y->c};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, p->dt,
                                                    dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dst_type, dnnl_format_tag_any);
    if (st == dnnl_success && node->groups > 1) {
        dnnl_dims_t dims = {node->groups, 1, 1, node->kh, node->kw};
        st = dnnl_memory_desc_init_by_tag(&weights, 5, dims, p->dt, dnnl_format_tag_any);
    } else if (st == dnnl_success) {
        dnnl_dims_t dims = {y->c, x->c, node->kh, node->kw};
        st = dnnl_memory_desc_init_by_tag(&weights, 4, dims, p->dt, dnnl_format_tag_any);
    }
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_a);
    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {node->stride_h, node->stride_w};
    dnnl_dims_t pad_l = {node->pad_top, node->pad_left}, pad_r = {node->pad_bottom, node->pad_right};
    if (st == dnnl_success)
        st = dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                alg, src ? src : &any_src,
                                                &weights, &bias, dst ? dst : &any_dst, strides,
                                                pad_l, pad_r);
    if (st != dnnl_success)
        return st;
    /* bias is the convolution's; then the residual (sum onto dst), then the activation
     * (Winograd's: a step of its own, winograd_out) */
    int act = alg != dnnl_convolution_winograd;
    dnnl_post_ops_t po = NULL;
    st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && node->accumulate)
        st = dnnl_post_ops_append_sum(po, 1.0f);
    if (st == dnnl_success && act && node->act == FR_ACT_RELU)
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    float slope;
    int leaky = act && node->act == FR_ACT_PRELU && uniform_slope(p->g, node, &slope);
    if (st == dnnl_success && leaky)
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, slope, 0.0f);
    else if (st == dnnl_success && act && node->act == FR_ACT_PRELU && prelu)
        st = dnnl_post_ops_append_prelu(po, 1 << 1);
    dnnl_primitive_attr_t attr = st == dnnl_success ? new_attr(po) : NULL;
    dnnl_post_ops_destroy(po);
    if (!attr)
        return st == dnnl_success ? dnnl_out_of_memory : st;
    st = dnnl_primitive_desc_create(out, &desc, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* A convolution's primitive descriptor as build_conv first asks for it (oneDNN's layouts):
 * Winograd where winograd_wanted and oneDNN has a kernel for it, else direct. */
static dnnl_status_t preferred_conv_pd(fr_cpu_primitives *p, const fr_node *node, int n,
                                       dnnl_data_type_t dst_type, int prelu,
                                       dnnl_alg_kind_t *alg, dnnl_primitive_desc_t *out)
{
    *alg = dnnl_convolution_direct;
    if (winograd_wanted(p, node) &&
        conv_pd(p, node, n, NULL, NULL, dst_type, prelu, dnnl_convolution_winograd, out) ==
            dnnl_success) {
        if (!is_ref(*out)) {
            *alg = dnnl_convolution_winograd;
            return dnnl_success;
        }
        dnnl_primitive_desc_destroy(*out);
    }
    *out = NULL;
    return conv_pd(p, node, n, NULL, NULL, dst_type, prelu, dnnl_convolution_direct, out);
}

/* PReLU with per-channel slopes (binding slopes, of layout slopes_md) in place on binding
 * data: after a convolution whose kernel takes no PReLU post-op. */
static fr_status prelu_step(builder *bd, int data, const dnnl_memory_desc_t *slopes_md,
                            int slopes)
{
    dnnl_prelu_desc_t desc;
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_prelu_forward_desc_init(&desc, dnnl_forward_inference,
                                                    &bd->b->bindings[data].md, slopes_md);
    dnnl_primitive_attr_t attr = st == dnnl_success ? new_attr(NULL) : NULL;
    if (!attr)
        return dnnl_failed(st == dnnl_success ? dnnl_out_of_memory : st, "a PReLU", bd->name);
    st = dnnl_primitive_desc_create(&pd, &desc, attr, bd->p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_failed(st, "a PReLU", bd->name);
    step_arg args[3] = {{DNNL_ARG_SRC, data}, {DNNL_ARG_WEIGHTS, slopes}, {DNNL_ARG_DST, data}};
    return primitive_step(bd, pd, 3, args);
}

/* The step after a Winograd convolution writing binding out (winograd_out): its layout must
 * be dense nhwc or nChw{16,8,4}c, as oneDNN's Winograd kernels write it. */
static fr_status winograd_out_step(builder *bd, const fr_node *node, int out)
{
    static const dnnl_format_tag_t tags[] = {dnnl_acdb, dnnl_aBcd16b, dnnl_aBcd8b, dnnl_aBcd4b};
    static const int blocks[] = {1, 16, 8, 4};
    const dnnl_memory_desc_t *md = &bd->b->bindings[out].md;
    for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
        dnnl_memory_desc_t dense;
        if (md->ndims != 4 || md->data_type != dnnl_f32 ||
            dnnl_memory_desc_init_by_tag(&dense, 4, md->dims, dnnl_f32, tags[k]) !=
                dnnl_success ||
            !dnnl_memory_desc_equal(&dense, md))
            continue;
        step s = {.kind = STEP_WINOGRAD_OUT, .node = node, .buffer = -1, .binding = out,
                  .act = node->act, .c = (int)md->dims[1],
                  .hw = (int)(md->dims[2] * md->dims[3]), .block = blocks[k]};
        int padded = (s.c + s.block - 1) / s.block * s.block;
        s.image_stride = (size_t)padded * (size_t)s.hw;
        if (s.act == FR_ACT_PRELU && !uniform_slope(bd->p->g, node, &s.slope))
            break;
        return add_step(bd, s);
    }
    /* not reached with oneDNN 2.6; fr_cpu_primitives_plan then plans every convolution direct */
    return fr_fail(FR_E_UNSUPPORTED, "oneDNN: %s: a Winograd output facerec cannot check",
                   node->name);
}

/* One image of memory md (the same layout, image 0), and the bytes from one image to the
 * next. */
static dnnl_status_t image_md(const dnnl_memory_desc_t *md, dnnl_memory_desc_t *out,
                              size_t *bytes)
{
    dnnl_dims_t dims = {1, md->dims[1], md->dims[2], md->dims[3]}, offsets = {0, 0, 0, 0};
    if (md->ndims != 4 || md->format_kind != dnnl_blocked)
        return dnnl_unimplemented;
    *bytes = (size_t)md->format_desc.blocking.strides[0] * dnnl_data_type_size(md->data_type);
    return dnnl_memory_desc_init_submemory(out, md, dims, offsets);
}

/* The one-image form of a Winograd convolution whose primitive descriptor for the bucket's
 * batch chose the layouts src_md and dst_md: a primitive made for one image (src and dst:
 * one image of those layouts; src_bytes, dst_bytes: from one image to the next), run once
 * per image of the chunk (per_image_step). Why: oneDNN 2.6's Winograd kernel blocks its work
 * by the batch size (jit_wino_4x3 at 8 images, jit_fp32_wino_2x3 at 1), so an image's result
 * depended on the bucket it ran in, by rounding: one image detected alone differed from the
 * same image in a batch (test_detect_tiny), and a sharded embed from one run (test_slurm).
 * Made for one image, it computes every image the same way. It is made before the weights
 * are packed, so that they are packed once, in its layout (the batch-sized descriptor only
 * chooses the activations' layouts). */
static dnnl_status_t one_image_pd(fr_cpu_primitives *p, const fr_node *node,
                                  const dnnl_memory_desc_t *src_md,
                                  const dnnl_memory_desc_t *dst_md, int fused,
                                  dnnl_memory_desc_t *src, size_t *src_bytes,
                                  dnnl_memory_desc_t *dst, size_t *dst_bytes,
                                  dnnl_primitive_desc_t *one)
{
    *one = NULL;
    dnnl_status_t st = image_md(src_md, src, src_bytes);
    if (st == dnnl_success)
        st = image_md(dst_md, dst, dst_bytes);
    if (st == dnnl_success)
        st = conv_pd(p, node, 1, src, dst, dst_md->data_type, fused,
                     dnnl_convolution_winograd, one);
    if (st == dnnl_success && is_ref(*one)) {
        dnnl_primitive_desc_destroy(*one);
        *one = NULL;
        st = dnnl_unimplemented;
    }
    return st;
}

/* The step of a one-image Winograd convolution (one, from one_image_pd; destroyed) reading
 * binding in and writing binding out, once per image of the chunk. */
static fr_status per_image_step(builder *bd, dnnl_primitive_desc_t one,
                                const dnnl_memory_desc_t *src, size_t src_bytes,
                                const dnnl_memory_desc_t *dst, size_t dst_bytes, int in,
                                int out, int wm, int bm)
{
    int m_src = bind(bd, src, AT_ARENA, bd->b->bindings[in].buffer, NULL);
    int m_dst = bind(bd, dst, AT_ARENA, bd->b->bindings[out].buffer, NULL);
    if (m_src < 0 || m_dst < 0 || bd->b->bindings[in].at != AT_ARENA ||
        bd->b->bindings[out].at != AT_ARENA) {
        dnnl_primitive_desc_destroy(one);
        return fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
    }
    step_arg args[4] = {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm},
                        {DNNL_ARG_DST, m_dst}};
    fr_status fs = primitive_step(bd, one, 4, args);
    if (!fs) {
        step *s = &bd->b->steps[bd->b->step_count - 1];
        s->per_image = 1;
        s->image_bytes[0] = src_bytes;
        s->image_bytes[3] = dst_bytes;
    }
    return fs;
}

static fr_status build_conv(builder *bd, const fr_node *node)
{
    fr_cpu_primitives *p = bd->p;
    int n = bd->b->n;
    dnnl_data_type_t dst_type = bd->md[node->out].data_type;
    /* oneDNN's own choice first; the tensors' layouts as they are when that is the same
     * implementation (a slice of a concatenation read or written in place) */
    dnnl_primitive_desc_t pd = NULL, exact = NULL;
    int fused = 1; /* the PReLU (if any) a post-op of the convolution */
    dnnl_alg_kind_t alg;
    dnnl_status_t st = preferred_conv_pd(p, node, n, dst_type, fused, &alg, &pd);
    if (st != dnnl_success)
        return dnnl_failed(st, "a convolution", node->name);
    /* oneDNN 2.6's brgconv takes no PReLU post-op at most shapes: the convolution then falls
     * to ref:any, 100x slower (MTCNN: 5.7 s an image). Then the convolution runs alone on
     * its JIT kernel and the PReLU (of per-channel slopes; one slope is an eltwise post-op,
     * uniform_slope) is a primitive of its own, in place on its output. */
    dnnl_primitive_desc_t alone = NULL;
    float slope;
    if (node->act == FR_ACT_PRELU && !uniform_slope(p->g, node, &slope) && is_ref(pd) &&
        conv_pd(p, node, n, NULL, NULL, dst_type, 0, alg, &alone) == dnnl_success) {
        if (is_ref(alone)) {
            dnnl_primitive_desc_destroy(alone);
        } else {
            dnnl_primitive_desc_destroy(pd);
            pd = alone;
            fused = 0;
        }
    }
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if ((!dnnl_memory_desc_equal(src, &bd->md[node->in]) ||
         !dnnl_memory_desc_equal(dst, &bd->md[node->out])) &&
        conv_pd(p, node, n, &bd->md[node->in], &bd->md[node->out], dst_type, fused, alg,
                &exact) == dnnl_success) {
        if (same_impl(pd, exact) || (p->tag != dnnl_acdb && !is_ref(exact))) {
            dnnl_primitive_desc_destroy(pd);
            pd = exact;
        } else {
            dnnl_primitive_desc_destroy(exact);
        }
    }
    dnnl_memory_desc_t src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    /* Winograd: the one-image primitive in these layouts replaces pd (one_image_pd) */
    dnnl_memory_desc_t src_one, dst_one;
    size_t src_bytes = 0, dst_bytes = 0;
    if (alg == dnnl_convolution_winograd) {
        dnnl_primitive_desc_t one = NULL;
        st = one_image_pd(p, node, &src_md, &dst_md, fused, &src_one, &src_bytes, &dst_one,
                          &dst_bytes, &one);
        dnnl_primitive_desc_destroy(pd);
        if (st != dnnl_success)
            return dnnl_failed(st, "a one-image Winograd convolution", node->name);
        pd = one;
    }
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    void *weights = NULL;
    int in = -1, out = -1, wm = -1, bm = -1, am = -1, copy_back = 0;
    dnnl_memory_desc_t alpha_md;
    memset(&alpha_md, 0, sizeof alpha_md);
    fr_status fs = packed_weights(bd, node, wei_md, &weights);
    if (!fs) {
        dnnl_memory_desc_t bias, alpha;
        dnnl_dims_t dims = {p->g->tensors[node->out].c}, alpha_dims = {1, dims[0], 1, 1};
        dnnl_memory_desc_init_by_tag(&bias, 1, dims, dnnl_f32, dnnl_a);
        /* PReLU's slopes: plain f32, as the post-op takes them */
        dnnl_memory_desc_init_by_tag(&alpha, 4, alpha_dims, dnnl_f32, dnnl_abcd);
        wm = bind(bd, wei_md, AT_FIXED, -1, weights);
        bm = bind(bd, &bias, AT_FIXED, -1, p->g->params + node->bias);
        int prelu = node->act == FR_ACT_PRELU && !uniform_slope(p->g, node, &slope);
        if (prelu)
            am = bind(bd, &alpha, AT_FIXED, -1, p->g->params + node->alpha);
        alpha_md = alpha;
        if (wm < 0 || bm < 0 || (prelu && am < 0))
            fs = fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
    }
    if (!fs)
        fs = input_as(bd, node->in, &src_md, &in);
    if (!fs)
        fs = output_as(bd, node->out, &dst_md, node->accumulate, &out, &copy_back);
    if (fs) {
        dnnl_primitive_desc_destroy(pd);
        return fs;
    }
    step_arg args[5] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm},
                        {DNNL_ARG_DST, out}};
    int nargs = 4;
    if (am >= 0 && fused) {
        int index = node->accumulate ? 1 : 0; /* the PReLU's place among the post-ops */
        args[nargs++] = (step_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_WEIGHTS, am};
    }
    if (alg == dnnl_convolution_winograd) /* no PReLU of per-channel slopes: winograd_wanted */
        fs = per_image_step(bd, pd, &src_one, src_bytes, &dst_one, dst_bytes, in, out, wm, bm);
    else
        fs = primitive_step(bd, pd, nargs, args);
    if (!fs && am >= 0 && !fused)
        fs = prelu_step(bd, out, &alpha_md, am);
    if (!fs && alg == dnnl_convolution_winograd)
        fs = winograd_out_step(bd, node, out);
    if (!fs && copy_back)
        fs = output_done(bd, node->out, out);
    return fs;
}

/* ---- pooling, adds --------------------------------------------------------------------------- */

/* A primitive over explicit operand layouts (b: a second input, or NULL). */
typedef dnnl_status_t (*make_pd_fn)(fr_cpu_primitives *p, const fr_node *node,
                                    const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                    const dnnl_memory_desc_t *dst, dnnl_primitive_desc_t *out);

static dnnl_status_t pool_pd(fr_cpu_primitives *p, const fr_node *node,
                             const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *unused,
                             const dnnl_memory_desc_t *dst, dnnl_primitive_desc_t *out)
{
    (void)unused;
    const fr_tensor *x = &p->g->tensors[node->in];
    dnnl_pooling_desc_t desc;
    dnnl_dims_t strides = {node->stride_h, node->stride_w}, kernel = {node->kh, node->kw};
    dnnl_dims_t pad_l = {node->pad_top, node->pad_left}, pad_r = {node->pad_bottom, node->pad_right};
    /* TensorFlow's average pooling divides by the in-bounds part of each window */
    dnnl_alg_kind_t alg = node->kind == FR_OP_MAX_POOL ? dnnl_pooling_max
                                                       : dnnl_pooling_avg_exclude_padding;
    if (node->kind == FR_OP_GLOBAL_AVG) {
        strides[0] = strides[1] = 1;
        kernel[0] = x->h;
        kernel[1] = x->w;
        pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = 0;
    }
    dnnl_status_t st = dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, alg, src, dst,
                                                      strides, kernel, pad_l, pad_r);
    dnnl_primitive_attr_t attr = st == dnnl_success ? new_attr(NULL) : NULL;
    if (!attr)
        return st == dnnl_success ? dnnl_out_of_memory : st;
    st = dnnl_primitive_desc_create(out, &desc, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static dnnl_status_t add_pd(fr_cpu_primitives *p, const fr_node *node,
                            const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                            const dnnl_memory_desc_t *dst, dnnl_primitive_desc_t *out)
{
    dnnl_binary_desc_t desc;
    dnnl_status_t st = dnnl_binary_desc_init(&desc, dnnl_binary_add, a, b, dst);
    dnnl_post_ops_t po = NULL;
    if (st == dnnl_success)
        st = dnnl_post_ops_create(&po);
    /* an add's PReLU has no slopes: it clamps as ReLU does (cpu_ops.c, fr_cpu_add_rows) */
    if (st == dnnl_success && node->act != FR_ACT_NONE)
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    dnnl_primitive_attr_t attr = st == dnnl_success ? new_attr(po) : NULL;
    dnnl_post_ops_destroy(po);
    if (!attr)
        return st == dnnl_success ? dnnl_out_of_memory : st;
    st = dnnl_primitive_desc_create(out, &desc, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* A node of one or two inputs and one output through make: on the tensors as they are, or
 * on dense copies in one data type where the tensors as they are (slices, or a bf16 plan's
 * f32 output beside bf16 activations) are refused or only the reference implementation
 * takes them. */
static fr_status build_simple(builder *bd, const fr_node *node, make_pd_fn make)
{
    fr_cpu_primitives *p = bd->p;
    int in2 = node->kind == FR_OP_ADD ? node->in2 : -1;
    const dnnl_memory_desc_t *b_md = in2 >= 0 ? &bd->md[in2] : NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = make(p, node, &bd->md[node->in], b_md, &bd->md[node->out], &pd);
    int views = p->g->tensors[node->in].root != node->in ||
                p->g->tensors[node->out].root != node->out ||
                (in2 >= 0 && p->g->tensors[in2].root != in2);
    int mixed = bd->md[node->in].data_type != bd->md[node->out].data_type ||
                (in2 >= 0 && bd->md[in2].data_type != bd->md[node->out].data_type);
    dnnl_memory_desc_t da, db, dd;
    memset(&db, 0, sizeof db);
    int dense = 0;
    if ((st != dnnl_success || is_ref(pd)) && (views || mixed)) {
        fr_status fs = dense_md(bd, node->in, &da);
        if (!fs && in2 >= 0)
            fs = dense_md(bd, in2, &db);
        if (!fs)
            fs = dense_md(bd, node->out, &dd);
        dnnl_primitive_desc_t alt = NULL;
        if (!fs && make(p, node, &da, in2 >= 0 ? &db : NULL, &dd, &alt) == dnnl_success) {
            if (st == dnnl_success && is_ref(alt)) {
                dnnl_primitive_desc_destroy(alt);
            } else {
                if (st == dnnl_success)
                    dnnl_primitive_desc_destroy(pd);
                pd = alt;
                st = dnnl_success;
                dense = 1;
            }
        }
    }
    if (st != dnnl_success)
        return dnnl_failed(st, "a primitive", node->name);
    int a = -1, b = -1, out = -1, copy_back = 0;
    fr_status fs = input_as(bd, node->in, dense ? &da : &bd->md[node->in], &a);
    if (!fs && in2 >= 0)
        fs = input_as(bd, in2, dense ? &db : &bd->md[in2], &b);
    if (!fs)
        fs = output_as(bd, node->out, dense ? &dd : &bd->md[node->out], 0, &out, &copy_back);
    if (fs) {
        dnnl_primitive_desc_destroy(pd);
        return fs;
    }
    step_arg args[3];
    int nargs = 0;
    if (in2 >= 0) {
        args[nargs++] = (step_arg){DNNL_ARG_SRC_0, a};
        args[nargs++] = (step_arg){DNNL_ARG_SRC_1, b};
    } else {
        args[nargs++] = (step_arg){DNNL_ARG_SRC, a};
    }
    args[nargs++] = (step_arg){DNNL_ARG_DST, out};
    fs = primitive_step(bd, pd, nargs, args);
    if (!fs && copy_back)
        fs = output_done(bd, node->out, out);
    return fs;
}

/* An add whose operands are smaller than the sum (dlib's down blocks: fewer channels, one
 * row and column less): the sum zeroed, each operand added onto its corner of it by a
 * reorder, then ReLU in place. */
static fr_status build_extended_add(builder *bd, const fr_node *node)
{
    fr_cpu_primitives *p = bd->p;
    const fr_graph *g = p->g;
    if (g->tensors[node->out].root != node->out)
        return fr_fail(FR_E_UNSUPPORTED, "oneDNN: %s: a zero-extended add into a slice",
                       node->name);
    int out = -1;
    fr_status fs = tensor_binding(bd, node->out, &out);
    if (fs)
        return fs;
    int buffer = bd->buffer_of[node->out];
    fs = add_step(bd, (step){.kind = STEP_ZERO, .buffer = buffer,
                             .bytes = dnnl_memory_desc_get_size(&bd->md[node->out])});
    for (int k = 0; !fs && k < 2; k++) {
        int t = k ? node->in2 : node->in;
        const fr_tensor *x = &g->tensors[t];
        dnnl_dims_t dims = {bd->b->n, x->c, x->h, x->w}, offsets = {0, 0, 0, 0};
        dnnl_memory_desc_t corner;
        dnnl_status_t st = dnnl_memory_desc_init_submemory(&corner, &bd->md[node->out], dims,
                                                            offsets);
        if (st != dnnl_success)
            return dnnl_failed(st, "a zero-extended add", node->name);
        int src = -1, dst = bind(bd, &corner, AT_ARENA, buffer, NULL);
        fs = dst < 0 ? fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives")
                     : tensor_binding(bd, t, &src);
        if (!fs)
            fs = reorder_step(bd, src, dst, k == 1);
    }
    if (fs || node->act == FR_ACT_NONE)
        return fs;
    dnnl_eltwise_desc_t desc;
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                                      dnnl_eltwise_relu, &bd->md[node->out], 0.0f,
                                                      0.0f);
    dnnl_primitive_attr_t attr = st == dnnl_success ? new_attr(NULL) : NULL;
    if (!attr)
        return dnnl_failed(st == dnnl_success ? dnnl_out_of_memory : st, "a ReLU", node->name);
    st = dnnl_primitive_desc_create(&pd, &desc, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_failed(st, "a ReLU", node->name);
    step_arg args[2] = {{DNNL_ARG_SRC, out}, {DNNL_ARG_DST, out}};
    return primitive_step(bd, pd, 2, args);
}

/* Whether md is dense float32 nhwc (*block 1) or nChw{16,8,4}c with no padded channels. */
static int dense_block(const dnnl_memory_desc_t *md, int *block)
{
    static const dnnl_format_tag_t tags[] = {dnnl_acdb, dnnl_aBcd16b, dnnl_aBcd8b, dnnl_aBcd4b};
    static const int blocks[] = {1, 16, 8, 4};
    for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
        dnnl_memory_desc_t dense;
        if (md->ndims == 4 && md->data_type == dnnl_f32 && md->dims[1] % blocks[k] == 0 &&
            dnnl_memory_desc_init_by_tag(&dense, 4, md->dims, dnnl_f32, tags[k]) ==
                dnnl_success &&
            dnnl_memory_desc_equal(&dense, md)) {
            *block = blocks[k];
            return 1;
        }
    }
    return 0;
}

/* Node i and i + 1 as one STEP_CONVPOOL where cpu_convpool.h takes them, the tensors'
 * layouts are ones it reads and writes (nhwc float32 in, dense float32 out), and the
 * convolution has a PReLU of per-channel slopes, which oneDNN 2.6's convolutions run as a
 * primitive of its own (build_conv): MTCNN's P-, R- and O-Net first layers. Measured
 * (bench_detect, bench/RESULTS.md issue 10): MTCNN 2-3 % less CPU an image; tiny's first
 * layer (one slope, an eltwise post-op inside oneDNN's AVX-512 convolution) ran 3 % slower
 * fused, so it is not. */
static int fusable(const builder *bd, int i)
{
    const fr_graph *g = bd->p->g;
    const fr_node *conv = &g->nodes[i];
    int block = 0;
    float slope;
    return fr_cpu_convpool_fusable(g, i) && conv->act == FR_ACT_PRELU &&
           !uniform_slope(g, conv, &slope) && dense_block(&bd->md[conv->in], &block) &&
           block == 1 && dense_block(&bd->md[g->nodes[i + 1].out], &block);
}

static fr_status build_convpool(builder *bd, const fr_node *conv, const fr_node *pool)
{
    const fr_graph *g = bd->p->g;
    step s = {.kind = STEP_CONVPOOL, .node = conv, .pool = pool,
              .in_buffer = bd->buffer_of[conv->in], .buffer = bd->buffer_of[pool->out]};
    dense_block(&bd->md[pool->out], &s.block);
    size_t bytes = fr_cpu_convpool_scratch(g, conv, pool) * sizeof(float);
    s.scratch_buffer = new_buffer(bd, bytes, bd->node, bd->node);
    if (s.scratch_buffer < 0)
        return fr_fail(FR_E_NOMEM, "out of memory planning the CPU primitives");
    if (bd->counting)
        bd->p->fused++;
    return add_step(bd, s);
}

static fr_status build_node(builder *bd, const fr_node *node)
{
    const fr_graph *g = bd->p->g;
    switch (node->kind) {
    case FR_OP_NORMALIZE:
        if (g->tensors[node->out].root != node->out)
            return fr_fail(FR_E_UNSUPPORTED, "oneDNN: %s into a slice", node->name);
        return add_step(bd, (step){.kind = STEP_NORMALIZE, .node = node,
                                   .buffer = bd->buffer_of[node->out]});
    case FR_OP_CONV:
        return build_conv(bd, node);
    case FR_OP_MAX_POOL:
    case FR_OP_AVG_POOL:
    case FR_OP_GLOBAL_AVG:
        return build_simple(bd, node, pool_pd);
    case FR_OP_ADD: {
        const fr_tensor *a = &g->tensors[node->in], *b = &g->tensors[node->in2];
        const fr_tensor *y = &g->tensors[node->out];
        int whole = a->h == y->h && a->w == y->w && a->c == y->c && b->h == y->h &&
                    b->w == y->w && b->c == y->c;
        return whole ? build_simple(bd, node, add_pd) : build_extended_add(bd, node);
    }
    }
    return fr_fail(FR_E_UNSUPPORTED, "oneDNN: %s: an operation of kind %d", node->name,
                   (int)node->kind);
}

/* Whether root t is read or written by facerec's own code (the normalized input, the
 * network's output): nhwc f32 whatever the activations are. */
static int is_io(const fr_graph *g, int t)
{
    if (t == g->output)
        return 1;
    for (int i = 0; i < g->node_count; i++)
        if (g->nodes[i].kind == FR_OP_NORMALIZE && g->nodes[i].out == t)
            return 1;
    return 0;
}

/* Each tensor's descriptor for batch n: roots in the plan's layout, views as submemories of
 * their roots. */
static fr_status tensor_mds(builder *bd, int n)
{
    fr_cpu_primitives *p = bd->p;
    const fr_graph *g = p->g;
    for (int pass = 0; pass < 2; pass++)
        for (int t = 0; t < g->tensor_count; t++) {
            const fr_tensor *x = &g->tensors[t];
            int root = x->root == t;
            if (root != (pass == 0))
                continue;
            dnnl_dims_t dims = {n, x->c, x->h, x->w};
            dnnl_status_t st;
            if (root) {
                int io = is_io(g, t);
                dnnl_format_tag_t tag = io || p->plain[t] ? dnnl_acdb : p->tag;
                st = dnnl_memory_desc_init_by_tag(&bd->md[t], 4, dims, io ? dnnl_f32 : p->dt, tag);
            } else {
                dnnl_dims_t offsets = {0, x->c_offset, 0, 0};
                st = dnnl_memory_desc_init_submemory(&bd->md[t], &bd->md[x->root], dims, offsets);
            }
            if (st != dnnl_success)
                return dnnl_failed(st, "a tensor's descriptor", NULL);
        }
    return FR_OK;
}

static void free_bucket(fr_cpu_primitives *p, bucket *b)
{
    for (int i = 0; i < b->step_count; i++)
        if (b->steps[i].primitive)
            dnnl_primitive_destroy(b->steps[i].primitive);
    if (b->memory)
        for (int i = 0; i < p->worker_count * b->binding_count; i++)
            if (b->memory[i])
                dnnl_memory_destroy(b->memory[i]);
    free(b->memory);
    free(b->bound);
    free(b->steps);
    free(b->bindings);
    free(b->buffer_offset);
    int n = b->n;
    memset(b, 0, sizeof *b);
    b->n = n;
}

/* Each worker's memory objects for bucket b, and room for it in each worker's arena. */
static fr_status bucket_memory(fr_cpu_primitives *p, bucket *b)
{
    size_t count = (size_t)p->worker_count * (size_t)b->binding_count;
    b->memory = fr_calloc(count ? count : 1, sizeof *b->memory, "the CPU primitives");
    b->bound = fr_calloc(2 * (size_t)p->worker_count, sizeof *b->bound, "the CPU primitives");
    if (!b->memory || !b->bound)
        return FR_E_NOMEM;
    for (int w = 0; w < p->worker_count; w++) {
        worker *wk = &p->workers[w];
        for (int i = 0; i < b->binding_count; i++) {
            const binding *m = &b->bindings[i];
            dnnl_status_t st = dnnl_memory_create(&b->memory[(size_t)w * b->binding_count + i],
                                                  &m->md, p->engine,
                                                  m->at == AT_FIXED ? m->fixed : DNNL_MEMORY_NONE);
            if (st != dnnl_success)
                return dnnl_failed(st, "a memory object", NULL);
        }
        /* the contents need not survive a growth: a bucket runs from its normalize on */
        if (b->arena_bytes > wk->arena_bytes) {
            free(wk->arena);
            wk->arena_bytes = 0;
            if (!(wk->arena = fr_aligned_alloc(b->arena_bytes, "activations")))
                return FR_E_NOMEM;
            wk->arena_bytes = b->arena_bytes;
        }
        if (b->scratch_bytes > wk->scratch_bytes) {
            free(wk->scratch);
            wk->scratch_bytes = 0;
            if (!(wk->scratch = fr_aligned_alloc(b->scratch_bytes, "oneDNN scratchpad")))
                return FR_E_NOMEM;
            wk->scratch_bytes = b->scratch_bytes;
        }
    }
    return FR_OK;
}

static fr_status build_bucket(fr_cpu_primitives *p, bucket *b)
{
    const fr_graph *g = p->g;
    builder bd;
    memset(&bd, 0, sizeof bd);
    bd.p = p;
    bd.b = b;
    bd.counting = p->impl_count == 0 && p->reorders == 0;
    bd.md = fr_calloc((size_t)g->tensor_count, sizeof *bd.md, "the CPU primitives");
    bd.tensor_binding = fr_malloc((size_t)g->tensor_count * sizeof *bd.tensor_binding,
                                  "the CPU primitives");
    bd.buffer_of = fr_calloc((size_t)g->tensor_count, sizeof *bd.buffer_of, "the CPU primitives");
    fr_status fs = bd.md && bd.tensor_binding && bd.buffer_of ? FR_OK : FR_E_NOMEM;
    if (!fs)
        fs = tensor_mds(&bd, b->n);
    bd.fuse = fs ? NULL : fr_calloc((size_t)g->node_count, 1, "the CPU primitives");
    if (!fs && !bd.fuse)
        fs = FR_E_NOMEM;
    for (int i = 0; !fs && i < g->node_count; i++)
        bd.fuse[i] = (unsigned char)fusable(&bd, i);
    for (int t = 0; !fs && t < g->tensor_count; t++) {
        const fr_tensor *x = &g->tensors[t];
        bd.tensor_binding[t] = -1;
        bd.buffer_of[t] = -1;
        if (x->root != t)
            continue;
        int first = x->first, last = x->last;
        for (int i = 0; i < g->node_count; i++) {
            if (!bd.fuse[i])
                continue;
            if (g->nodes[i].out == t) /* the fused convolution's map is never stored */
                first = last = -1;
            if (g->nodes[i].in == t && last < i + 1) /* read while the pool's output is written */
                last = i + 1;
        }
        bd.buffer_of[t] = new_buffer(&bd, dnnl_memory_desc_get_size(&bd.md[t]), first, last);
        if (bd.buffer_of[t] < 0)
            fs = FR_E_NOMEM;
    }
    for (int i = 0; !fs && i < g->node_count; i++) {
        bd.node = i;
        bd.name = g->nodes[i].name;
        if (bd.fuse[i]) {
            bd.node = ++i;
            fs = build_convpool(&bd, &g->nodes[i - 1], &g->nodes[i]);
        } else {
            fs = build_node(&bd, &g->nodes[i]);
        }
    }
    if (!fs) {
        /* the output, f32 nhwc already, copied into the caller's buffer */
        bd.node = g->node_count;
        bd.name = "the output";
        int from = -1, to = bind(&bd, &bd.md[g->output], AT_OUTPUT, -1, NULL);
        fs = to < 0 ? FR_E_NOMEM : tensor_binding(&bd, g->output, &from);
        if (!fs)
            fs = reorder_step(&bd, from, to, 0);
    }
    if (!fs) {
        b->buffer_offset = fr_malloc((size_t)bd.buffer_count * sizeof *b->buffer_offset,
                                     "the CPU primitives");
        if (!b->buffer_offset)
            fs = FR_E_NOMEM;
    }
    if (!fs) {
        b->buffer_count = bd.buffer_count;
        b->arena_bytes = fr_graph_place(bd.buffer_count, bd.size, bd.first, bd.last,
                                        b->buffer_offset);
        fs = bucket_memory(p, b);
    }
    free(bd.md);
    free(bd.fuse);
    free(bd.tensor_binding);
    free(bd.buffer_of);
    free(bd.size);
    free(bd.first);
    free(bd.last);
    if (fs)
        free_bucket(p, b);
    else
        b->built = 1;
    return fs;
}

/* ---- the plan --------------------------------------------------------------------------------- */

/* The activation layout at batch n: the one oneDNN wants for the largest share of the
 * network's convolution FLOPs (each convolution as build_conv will ask for it). dlib's
 * costliest single convolution (7x7 on the input) runs on brgconv in NHWC, but its 3x3 ones
 * (85 % of the FLOPs) on Winograd in nChw16c. */
static fr_status choose_layout(fr_cpu_primitives *p, int n)
{
    static const dnnl_format_tag_t known[] = {dnnl_acdb, dnnl_aBcd16b, dnnl_aBcd8b,
                                              dnnl_aBcd4b, dnnl_abcd};
    enum { KNOWN = sizeof known / sizeof known[0] };
    double votes[KNOWN] = {0};
    const fr_graph *g = p->g;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *node = &g->nodes[i];
        if (node->kind != FR_OP_CONV || node->groups > 1)
            continue;
        const fr_tensor *x = &g->tensors[node->in], *y = &g->tensors[node->out];
        double flops = (double)y->h * y->w * y->c * node->kh * node->kw * x->c;
        dnnl_primitive_desc_t pd;
        dnnl_alg_kind_t alg;
        dnnl_status_t st = preferred_conv_pd(p, node, n, p->dt, 0, &alg, &pd);
        if (st != dnnl_success)
            return dnnl_failed(st, "a convolution", node->name);
        const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        for (size_t k = 0; k < KNOWN; k++) {
            dnnl_memory_desc_t md;
            if (dnnl_memory_desc_init_by_tag(&md, 4, src->dims, src->data_type, known[k]) ==
                    dnnl_success &&
                dnnl_memory_desc_equal(&md, src)) {
                votes[k] += flops;
                break;
            }
        }
        dnnl_primitive_desc_destroy(pd);
    }
    p->tag = dnnl_acdb;
    double most = 0;
    for (size_t k = 0; k < KNOWN; k++)
        if (votes[k] > most) {
            most = votes[k];
            p->tag = known[k];
        }
    /* a blocked layout keeps a root whose slices start inside a block nhwc */
    int block = p->tag == dnnl_aBcd16b ? 16 : p->tag == dnnl_aBcd8b ? 8 : p->tag == dnnl_aBcd4b ? 4 : 1;
    for (int t = 0; t < g->tensor_count; t++) {
        const fr_tensor *x = &g->tensors[t];
        if (x->root != t && (x->c_offset % block || (x->c % block && x->c_offset + x->c !=
                                                                         g->tensors[x->root].c)))
            p->plain[x->root] = 1;
    }
    return FR_OK;
}

void fr_cpu_primitives_free(fr_cpu_primitives *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->bucket_count; i++)
        free_bucket(p, &p->buckets[i]);
    free(p->buckets);
    for (int i = 0; i < p->pack_count; i++)
        free(p->packs[i].data);
    free(p->packs);
    free(p->plain);
    for (int i = 0; p->workers && i < p->worker_count; i++) {
        if (p->workers[i].stream)
            dnnl_stream_destroy(p->workers[i].stream);
        free(p->workers[i].arena);
        free(p->workers[i].scratch);
    }
    free(p->workers);
    fr_pool_free(p->pool);
    if (p->engine)
        dnnl_engine_destroy(p->engine);
    free(p);
}

/* Images per chunk for a batch of n: two chunks per thread or more, so that a thread the OS
 * holds back leaves its share to the others, and at most MAX_CHUNK. A power of two. */
static int chunk_size(const fr_cpu_primitives *p, int n)
{
    int per = n / (2 * p->worker_count), c = 1;
    while (2 * c <= per && 2 * c <= MAX_CHUNK)
        c *= 2;
    return c;
}

static bucket *bucket_for(fr_cpu_primitives *p, int n)
{
    int i = p->bucket_count - 1;
    while (p->buckets[i].n > n)
        i--;
    return &p->buckets[i];
}

/* Primitives are created single-threaded: oneDNN sizes their blocking for the OpenMP threads
 * of the thread that creates them, and each runs on one worker. */
static fr_status ensure_bucket(fr_cpu_primitives *p, bucket *b)
{
    if (b->built)
        return FR_OK;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    fr_status fs = build_bucket(p, b);
    omp_set_num_threads(saved);
    return fs;
}

static fr_status plan_once(const fr_graph *g, int max_batch, int threads,
                           fr_precision precision, int direct_only, fr_cpu_primitives **out)
{
    if (precision == FR_PRECISION_BF16 && !fr_cpu_has_bf16())
        return fr_fail(FR_E_UNSUPPORTED, "--precision bf16: this CPU has no AVX512-BF16 or AMX "
                       "instructions (oneDNN's best here: %s); use fp32",
                       dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
    fr_cpu_primitives *p = fr_calloc(1, sizeof *p, "the CPU primitives");
    if (!p)
        return FR_E_NOMEM;
    p->g = g;
    p->max_batch = max_batch;
    p->precision = precision == FR_PRECISION_BF16 ? FR_PRECISION_BF16 : FR_PRECISION_FP32;
    p->dt = p->precision == FR_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    p->direct_only = direct_only;
    fr_status fs = fr_pool_new(threads, &p->pool);
    if (fs) {
        free(p);
        return fs;
    }
    p->worker_count = fr_pool_threads(p->pool);
    int count = 1;
    while ((1 << count) <= MAX_CHUNK)
        count++;
    p->bucket_count = count; /* 1, 2, 4, ... MAX_CHUNK */
    p->buckets = fr_calloc((size_t)count, sizeof *p->buckets, "the CPU primitives");
    p->workers = fr_calloc((size_t)p->worker_count, sizeof *p->workers, "the CPU primitives");
    p->plain = fr_calloc((size_t)g->tensor_count, 1, "the CPU primitives");
    if (!p->buckets || !p->workers || !p->plain) {
        fr_cpu_primitives_free(p);
        return FR_E_NOMEM;
    }
    for (int i = 0; i < count; i++)
        p->buckets[i].n = 1 << i;
    dnnl_status_t st = dnnl_engine_create(&p->engine, dnnl_cpu, 0);
    for (int i = 0; st == dnnl_success && i < p->worker_count; i++)
        st = dnnl_stream_create(&p->workers[i].stream, p->engine, dnnl_stream_default_flags);
    if (st != dnnl_success)
        fs = dnnl_failed(st, "the CPU engine", NULL);
    /* the bucket the planned batch's full chunks run in */
    bucket *b = bucket_for(p, chunk_size(p, max_batch));
    if (!fs) {
        int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        fs = choose_layout(p, b->n);
        omp_set_num_threads(saved);
    }
    if (!fs)
        fs = ensure_bucket(p, b);
    if (fs) {
        fr_cpu_primitives_free(p);
        return fs;
    }
    *out = p;
    return FR_OK;
}

static int uses(const fr_cpu_primitives *p, const char *impl)
{
    for (int i = 0; i < p->impl_count; i++)
        if (strstr(p->impls[i].name, impl))
            return 1;
    return 0;
}

/* Winograd's nChw16c layout can leave another primitive of the graph without a JIT kernel
 * (oneDNN 2.6: a PReLU or a pooling on blocked tensors at some shapes, ref:any, ~100x
 * slower): such a plan, or an fp32 one that fails, is made again with every convolution
 * direct. */
fr_status fr_cpu_primitives_plan(const fr_graph *g, int max_batch, int threads,
                                 fr_precision precision, fr_cpu_primitives **out)
{
    fr_cpu_primitives *p = NULL;
    fr_status fs = plan_once(g, max_batch, threads, precision, 0, &p);
    if (!fs && !(uses(p, "wino") && uses(p, " ref:"))) {
        *out = p;
        return FR_OK;
    }
    fr_cpu_primitives_free(p);
    if (fs && precision == FR_PRECISION_BF16)
        return fs; /* Winograd is fp32's only: the same plan again would fail the same way */
    return plan_once(g, max_batch, threads, precision, 1, out);
}

/* ---- running --------------------------------------------------------------------------------- */

typedef struct run_job {
    fr_cpu_primitives *p;
    const uint8_t *inputs;
    float *outputs;
    int n, chunk;
    fr_status *status; /* per worker: the first failure */
} run_job;

/* The activation of count values in place (ReLU: x < 0 ? 0 : x, which keeps a NaN); returns
 * whether any of them was NaN or infinite. */
static int activate(float *v, size_t count, fr_activation act, float slope)
{
    unsigned bad = 0;
    for (size_t k = 0; k < count; k++) {
        uint32_t u;
        memcpy(&u, v + k, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    if (act == FR_ACT_RELU)
        for (size_t k = 0; k < count; k++)
            v[k] = v[k] < 0.0f ? 0.0f : v[k];
    else if (act == FR_ACT_PRELU)
        for (size_t k = 0; k < count; k++)
            v[k] = v[k] < 0.0f ? v[k] * slope : v[k];
    return bad != 0;
}

/* After a Winograd convolution (s: its output y for n images): the activation it was made
 * without, and bad[i] set for an image i with a NaN or an infinity in it. Why: weights that
 * overflow make infinities, F(4x4, 3x3)'s transforms turn them into NaN (inf - inf), and
 * oneDNN's ReLU (max(x, 0)) maps NaN to 0: fused, the rest of the network would see finite
 * numbers and the caller get finite garbage instead of a non-finite output
 * (fr_cpu_primitives_run: a bad image's output is all NaN). A direct convolution turns an
 * infinity into an infinity or a NaN that its own ReLU keeps or zeroes as exact arithmetic
 * would, the overflow surviving to the output as test_weights checks. */
static void winograd_out(float *y, const step *s, int n, unsigned char *bad)
{
    for (int i = 0; i < n; i++) {
        float *v = y + (size_t)i * s->image_stride;
        int any = 0;
        if (s->c % s->block == 0) {
            any = activate(v, s->image_stride, s->act, s->slope);
        } else { /* the last block's padding lanes are left alone */
            for (int cb = 0; cb * s->block < s->c; cb++) {
                int lanes = s->c - cb * s->block < s->block ? s->c - cb * s->block : s->block;
                for (int px = 0; px < s->hw; px++)
                    any |= activate(v + ((size_t)cb * s->hw + px) * s->block, (size_t)lanes,
                                    s->act, s->slope);
            }
        }
        bad[i] |= any;
    }
}

static fr_status run_bucket(fr_cpu_primitives *p, bucket *b, int w, const uint8_t *inputs,
                            float *outputs)
{
    unsigned char bad[MAX_CHUNK] = {0};
    worker *wk = &p->workers[w];
    dnnl_memory_t *memory = b->memory + (size_t)w * b->binding_count;
    const void **bound = b->bound + 2 * w;
    int rebind = bound[0] != wk->arena || bound[1] != wk->scratch;
    for (int i = 0; i < b->binding_count; i++) {
        const binding *m = &b->bindings[i];
        if (m->at == AT_OUTPUT)
            dnnl_memory_set_data_handle(memory[i], outputs);
        else if (rebind && m->at == AT_ARENA)
            dnnl_memory_set_data_handle(memory[i], (char *)wk->arena + b->buffer_offset[m->buffer]);
        else if (rebind && m->at == AT_SCRATCH)
            dnnl_memory_set_data_handle(memory[i], wk->scratch);
    }
    bound[0] = wk->arena;
    bound[1] = wk->scratch;
    const fr_graph *g = p->g;
    for (int i = 0; i < b->step_count; i++) {
        const step *s = &b->steps[i];
        if (s->kind == STEP_ZERO) {
            memset((char *)wk->arena + b->buffer_offset[s->buffer], 0, s->bytes);
        } else if (s->kind == STEP_NORMALIZE) {
            const fr_tensor *x = &g->tensors[s->node->out];
            fr_cpu_view v = {(float *)((char *)wk->arena + b->buffer_offset[s->buffer]), x->h,
                             x->w, x->c, x->c};
            for (int image = 0; image < b->n; image++)
                fr_cpu_normalize(s->node, inputs, g->input_h, g->input_w, &v, image);
        } else if (s->kind == STEP_CONVPOOL) {
            dnnl_status_t st = dnnl_stream_wait(wk->stream); /* the input's writer is done */
            if (st != dnnl_success)
                return dnnl_failed(st, "a convolution and its pool", s->node->name);
            char *arena = wk->arena;
            fr_cpu_convpool(g, s->node, s->pool,
                            (const float *)(arena + b->buffer_offset[s->in_buffer]), b->n,
                            (float *)(arena + b->buffer_offset[s->buffer]), s->block,
                            (float *)(arena + b->buffer_offset[s->scratch_buffer]));
        } else if (s->kind == STEP_WINOGRAD_OUT) {
            void *y = NULL;
            dnnl_status_t st = dnnl_stream_wait(wk->stream);
            if (st == dnnl_success)
                st = dnnl_memory_get_data_handle(memory[s->binding], &y);
            if (st != dnnl_success)
                return dnnl_failed(st, "a Winograd convolution's output", s->node->name);
            winograd_out(y, s, b->n, bad);
        } else {
            dnnl_exec_arg_t args[MAX_ARGS];
            for (int k = 0; k < s->nargs; k++)
                args[k] = (dnnl_exec_arg_t){s->args[k].arg, memory[s->args[k].binding]};
            for (int image = 0; image < (s->per_image ? b->n : 1); image++) {
                dnnl_status_t st = dnnl_success;
                for (int k = 0; s->per_image && k < s->nargs; k++) {
                    const binding *m = &b->bindings[s->args[k].binding];
                    if (s->image_bytes[k])
                        st = dnnl_memory_set_data_handle(
                            args[k].memory, (char *)wk->arena + b->buffer_offset[m->buffer] +
                                                (size_t)image * s->image_bytes[k]);
                }
                if (st == dnnl_success)
                    st = dnnl_primitive_execute(s->primitive, wk->stream, s->nargs, args);
                if (st != dnnl_success)
                    return dnnl_failed(st, "running a primitive", NULL);
            }
        }
    }
    dnnl_status_t st = dnnl_stream_wait(wk->stream);
    if (st != dnnl_success)
        return dnnl_failed(st, "waiting for the CPU stream", NULL);
    const fr_tensor *o = &g->tensors[g->output];
    size_t out_size = (size_t)o->h * o->w * o->c;
    for (int i = 0; i < b->n; i++)
        for (size_t k = 0; bad[i] && k < out_size; k++)
            outputs[(size_t)i * out_size + k] = NAN;
    return FR_OK;
}

static void run_task(void *ctx, int task, int w)
{
    run_job *j = ctx;
    fr_cpu_primitives *p = j->p;
    const fr_graph *g = p->g;
    const fr_tensor *o = &g->tensors[g->output];
    size_t in_size = (size_t)g->input_h * g->input_w * 3, out_size = (size_t)o->h * o->w * o->c;
    int begin = task * j->chunk, end = begin + j->chunk < j->n ? begin + j->chunk : j->n;
    if (omp_get_max_threads() != 1)
        omp_set_num_threads(1); /* the calling thread is worker 0 */
    /* a short last chunk: the largest buckets that fit, in turn */
    for (int done = begin; !j->status[w] && done < end;) {
        bucket *b = bucket_for(p, end - done);
        j->status[w] = run_bucket(p, b, w, j->inputs + (size_t)done * in_size,
                                  j->outputs + (size_t)done * out_size);
        done += b->n;
    }
}

fr_status fr_cpu_primitives_run(fr_cpu_primitives *p, const uint8_t *inputs, int n,
                                float *outputs)
{
    if (n < 1 || n > p->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (planned for 1..%d)", n, p->max_batch);
    int chunk = chunk_size(p, n);
    /* every bucket the chunks will use, built here: workers only run */
    fr_status fs = ensure_bucket(p, bucket_for(p, chunk));
    for (int rest = n % chunk; !fs && rest > 0;) {
        bucket *b = bucket_for(p, rest);
        fs = ensure_bucket(p, b);
        rest -= b->n;
    }
    if (fs)
        return fs;
    fr_status status[64] = {FR_OK};
    fr_status *per_worker = p->worker_count <= 64
                                ? status
                                : fr_calloc((size_t)p->worker_count, sizeof *per_worker,
                                            "the CPU primitives");
    if (!per_worker)
        return FR_E_NOMEM;
    run_job j = {p, inputs, outputs, n, chunk, per_worker};
    fr_pool_run(p->pool, (n + chunk - 1) / chunk, run_task, &j);
    for (int w = 0; !fs && w < p->worker_count; w++)
        fs = per_worker[w];
    if (per_worker != status)
        free(per_worker);
    return fs;
}

fr_precision fr_cpu_primitives_precision(const fr_cpu_primitives *p)
{
    return p->precision;
}

const char *fr_cpu_primitives_describe(fr_cpu_primitives *p)
{
    char *d = p->description;
    size_t size = sizeof p->description;
    int len = snprintf(d, size, "oneDNN %d.%d.%d primitives, %s, %s, activations %s, %d threads "
                       "over chunks of up to %d images:",
                       dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch,
                       fr_precision_name(p->precision),
                       dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()),
                       dnnl_fmt_tag2str(p->tag), p->worker_count,
                       chunk_size(p, p->max_batch));
    for (int i = 0; i < p->impl_count && len > 0 && (size_t)len < size; i++)
        len += snprintf(d + len, size - (size_t)len, "%s %s x%d", i ? "," : "",
                        p->impls[i].name, p->impls[i].count);
    if (len > 0 && (size_t)len < size)
        len += snprintf(d + len, size - (size_t)len, "; %d reorders", p->reorders);
    if (p->fused && len > 0 && (size_t)len < size)
        snprintf(d + len, size - (size_t)len, "; %d convolution + max pool pairs fused "
                 "(facerec's own pass)", p->fused);
    return d;
}
