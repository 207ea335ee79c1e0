/*
 * cpu_backend.c: the CPU backend. Its main path is oneDNN's primitives (cpu_primitives.c);
 * this file holds the backend table, the choice between the paths, and the reference path:
 * NHWC float32, convolutions as GEMM over im2col tiles (a 1x1 stride-1 convolution is a GEMM
 * straight on its input, whose pixel stride may be a wider concatenation: GEMM's leading
 * dimensions absorb the views), with bias, residual and activation applied to each output
 * tile while it is still in cache. The reference path runs a graph the primitives cannot
 * plan (an operation no primitive takes), and FACEREC_CPU_CONV=im2col picks it for tests and
 * benchmarks (auto, the default: the primitives where they plan; primitives: those or fail).
 *
 * GEMM: oneDNN's sgemm, whose JIT kernels follow the CPU's instruction set (AVX2, AVX-512)
 * from CPUID features; OpenBLAS 0.3.21 picks kernels from a table of CPU models and falls
 * back to SSE3 ones on CPUs newer than it (5x slower measured on a Xeon of model 207).
 *
 * Depthwise convolutions (groups > 1) are direct loops over output rows (cpu_ops.c), their
 * weights transposed once at plan time to (kh * kw, c) so the channel loop is contiguous.
 *
 * Threads: facerec's own pool splits each convolution into (rows x output channels) tiles
 * and the GEMM runs single-threaded inside each tile (the pool's threads run OpenMP with one
 * thread), so one core's im2col, GEMM and epilogue touch the same cache. Tiles are sized so
 * a tile of im2col columns is ~1 MiB.
 */
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_primitives.h"
#include "runtime/backend.h"

#define TILE_FLOATS (256 * 1024)
#define MIN_TILE_ROWS 64
#define MAX_TILE_ROWS 2048

typedef struct cpu_state {
    const fr_graph *graph;
    fr_pool *pool;
    int max_batch;
    float *arena;     /* graph->arena_size * max_batch floats */
    float **scratch;  /* one im2col tile per worker */
    float *taps;      /* depthwise weights, (kh * kw, c) per node, at tap_offset[node] */
    size_t *tap_offset;
    int n;            /* batch size of the run in progress */
    fr_cpu_primitives *primitives; /* the main path; NULL: the reference path above */
    char description[512];
} cpu_state;

static int is_depthwise(const fr_node *node)
{
    return node->kind == FR_OP_CONV && node->groups > 1;
}

static int is_direct(const fr_node *node)
{
    return node->kh == 1 && node->kw == 1 && node->stride_h == 1 && node->stride_w == 1 &&
           node->pad_top == 0 && node->pad_left == 0 && node->pad_bottom == 0 &&
           node->pad_right == 0;
}

static long tile_rows(size_t k_size)
{
    long rows = (long)(TILE_FLOATS / (k_size ? k_size : 1));
    if (rows < MIN_TILE_ROWS)
        rows = MIN_TILE_ROWS;
    if (rows > MAX_TILE_ROWS)
        rows = MAX_TILE_ROWS;
    return rows;
}

static fr_cpu_view view_of(const cpu_state *s, int tensor)
{
    const fr_tensor *t = &s->graph->tensors[tensor];
    const fr_tensor *r = &s->graph->tensors[t->root];
    fr_cpu_view v = {s->arena + r->offset * (size_t)s->n + (size_t)t->c_offset, t->h, t->w, t->c,
                     r->c};
    return v;
}

/* ---- convolution ------------------------------------------------------------------------- */

typedef struct conv_job {
    const cpu_state *s;
    const fr_node *node;
    fr_cpu_view in, out;
    size_t k_size;
    long pixels, rows_per_tile;
    int row_tiles, col_tiles, cols_per_tile;
    int direct;
} conv_job;

static void conv_task(void *ctx, int task, int worker)
{
    const conv_job *j = ctx;
    const fr_node *node = j->node;
    const float *params = j->s->graph->params;
    int rt = task / j->col_tiles, ct = task % j->col_tiles;
    long p0 = (long)rt * j->rows_per_tile;
    long rows = j->pixels - p0 < j->rows_per_tile ? j->pixels - p0 : j->rows_per_tile;
    int col0 = ct * j->cols_per_tile;
    int cols = j->out.c - col0 < j->cols_per_tile ? j->out.c - col0 : j->cols_per_tile;
    if (rows <= 0 || cols <= 0)
        return;
    const float *a;
    int lda;
    if (j->direct) {
        a = j->in.data + (size_t)p0 * j->in.ld;
        lda = j->in.ld;
    } else {
        float *columns = j->s->scratch[worker];
        fr_cpu_im2col(node, &j->in, j->out.h, j->out.w, p0, p0 + rows, columns);
        a = columns;
        lda = (int)j->k_size;
    }
    float *c = j->out.data + (size_t)p0 * j->out.ld + col0;
    const float *w = params + node->weight + (size_t)col0 * j->k_size;
    /* C (rows x cols) = A (rows x K) . W^T, W stored (c_out, K): a residual adds onto C. */
    dnnl_sgemm('N', 'T', rows, cols, (dnnl_dim_t)j->k_size, 1.0f, a, lda, w,
               (dnnl_dim_t)j->k_size, node->accumulate ? 1.0f : 0.0f, c, j->out.ld);
    fr_cpu_epilogue(node, params, c, j->out.ld, rows, col0, cols);
}

static void run_conv(cpu_state *s, const fr_node *node)
{
    conv_job j;
    j.s = s;
    j.node = node;
    j.in = view_of(s, node->in);
    j.out = view_of(s, node->out);
    j.k_size = (size_t)node->kh * node->kw * j.in.c;
    j.pixels = (long)s->n * j.out.h * j.out.w;
    j.direct = is_direct(node);
    j.rows_per_tile = tile_rows(j.k_size);
    j.row_tiles = (int)((j.pixels + j.rows_per_tile - 1) / j.rows_per_tile);
    /* Enough tiles for every thread twice over: split output channels when rows run out
     * (batch 1, the 3x3 and 1x1 maps at the end of a network). */
    int threads = fr_pool_threads(s->pool);
    j.col_tiles = 1;
    if (j.row_tiles < 2 * threads) {
        int want = (2 * threads + j.row_tiles - 1) / j.row_tiles;
        int most = j.out.c / 32 > 0 ? j.out.c / 32 : 1;
        j.col_tiles = want < most ? want : most;
    }
    j.cols_per_tile = (j.out.c + j.col_tiles - 1) / j.col_tiles;
    j.cols_per_tile = (j.cols_per_tile + 15) & ~15;
    j.col_tiles = (j.out.c + j.cols_per_tile - 1) / j.cols_per_tile;
    fr_pool_run(s->pool, j.row_tiles * j.col_tiles, conv_task, &j);
}

/* ---- the other operations ---------------------------------------------------------------- */

typedef struct rows_job {
    const cpu_state *s;
    const fr_node *node;
    fr_cpu_view a, b, out;
    const uint8_t *input;
    int rows, rows_per_task;
} rows_job;

static void rows_task(void *ctx, int task, int worker)
{
    (void)worker;
    const rows_job *j = ctx;
    int begin = task * j->rows_per_task;
    int end = begin + j->rows_per_task < j->rows ? begin + j->rows_per_task : j->rows;
    switch (j->node->kind) {
    case FR_OP_MAX_POOL:
    case FR_OP_AVG_POOL:
        fr_cpu_pool_rows(j->node, &j->a, &j->out, begin, end);
        break;
    case FR_OP_ADD:
        fr_cpu_add_rows(j->node, &j->a, &j->b, &j->out, begin, end);
        break;
    case FR_OP_NORMALIZE:
        for (int i = begin; i < end; i++)
            fr_cpu_normalize(j->node, j->input, j->s->graph->input_h, j->s->graph->input_w,
                             &j->out, i);
        break;
    case FR_OP_GLOBAL_AVG:
        for (int i = begin; i < end; i++)
            fr_cpu_global_avg(&j->a, &j->out, i);
        break;
    case FR_OP_CONV: /* depthwise only: the others are GEMMs (run_conv) */
        fr_cpu_depthwise_rows(j->node, j->s->taps + j->s->tap_offset[j->node - j->s->graph->nodes],
                              j->s->graph->params, &j->a, &j->out, begin, end);
        break;
    }
}

static void run_rows(cpu_state *s, const fr_node *node, const uint8_t *input)
{
    rows_job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.node = node;
    j.input = input;
    j.out = view_of(s, node->out);
    if (node->in >= 0)
        j.a = view_of(s, node->in);
    if (node->in2 >= 0)
        j.b = view_of(s, node->in2);
    /* per-image operations split by image, the others by output row */
    int per_image = node->kind == FR_OP_NORMALIZE || node->kind == FR_OP_GLOBAL_AVG;
    j.rows = per_image ? s->n : s->n * j.out.h;
    int tasks = 4 * fr_pool_threads(s->pool);
    j.rows_per_task = (j.rows + tasks - 1) / tasks;
    if (j.rows_per_task < 1)
        j.rows_per_task = 1;
    fr_pool_run(s->pool, (j.rows + j.rows_per_task - 1) / j.rows_per_task, rows_task, &j);
}

/* ---- the backend table --------------------------------------------------------------------- */

static void cpu_release(void *state)
{
    cpu_state *s = state;
    if (!s)
        return;
    if (s->scratch && s->pool)
        for (int i = 0; i < fr_pool_threads(s->pool); i++)
            free(s->scratch[i]);
    free(s->scratch);
    free(s->taps);
    free(s->tap_offset);
    free(s->arena);
    fr_pool_free(s->pool);
    fr_cpu_primitives_free(s->primitives);
    free(s);
}

typedef enum cpu_path { PATH_AUTO, PATH_PRIMITIVES, PATH_IM2COL } cpu_path;

static fr_status parse_path(cpu_path *out)
{
    const char *v = getenv("FACEREC_CPU_CONV");
    if (!v || !*v || !strcmp(v, "auto"))
        *out = PATH_AUTO;
    else if (!strcmp(v, "primitives"))
        *out = PATH_PRIMITIVES;
    else if (!strcmp(v, "im2col"))
        *out = PATH_IM2COL;
    else
        return fr_fail(FR_E_INVALID, "FACEREC_CPU_CONV=%s: expected auto, primitives or im2col", v);
    return FR_OK;
}

static fr_status cpu_plan(const fr_graph *graph, const fr_runner_options *options, void **out)
{
    cpu_path path;
    fr_status st = parse_path(&path);
    if (st)
        return st;
    int bf16 = options->precision == FR_PRECISION_BF16;
    if (bf16 && path == PATH_IM2COL)
        return fr_fail(FR_E_INVALID, "--precision bf16 runs on oneDNN's primitives, not with "
                       "FACEREC_CPU_CONV=im2col");
    cpu_state *s = fr_calloc(1, sizeof *s, "the CPU backend");
    if (!s)
        return FR_E_NOMEM;
    s->graph = graph;
    s->max_batch = options->max_batch > 0 ? options->max_batch : 64;
    int threads = options->threads > 0 ? options->threads : fr_cpu_count();
    if (path != PATH_IM2COL) {
        st = fr_cpu_primitives_plan(graph, s->max_batch, threads, options->precision,
                                    &s->primitives);
        if (!st) {
            *out = s;
            return FR_OK;
        }
        if (st != FR_E_UNSUPPORTED || path == PATH_PRIMITIVES || bf16) {
            free(s);
            return st;
        }
        /* a graph the primitives cannot plan: the reference path runs it, and says why */
        snprintf(s->description, sizeof s->description, "im2col + sgemm (%s)",
                 fr_error_message());
    } else {
        snprintf(s->description, sizeof s->description, "im2col + sgemm (FACEREC_CPU_CONV=im2col)");
    }
    st = fr_pool_new(threads, &s->pool);
    if (st) {
        free(s);
        return st;
    }
    size_t arena;
    if (!fr_mul_size(graph->arena_size, (size_t)s->max_batch, &arena) ||
        !fr_mul_size(arena, sizeof(float), &arena)) {
        int batch = s->max_batch;
        cpu_release(s);
        return fr_fail(FR_E_TOO_LARGE, "batch %d is too large for this network", batch);
    }
    s->arena = fr_aligned_alloc(arena, "activations");
    size_t scratch = 0;
    for (int i = 0; i < graph->node_count; i++) {
        const fr_node *node = &graph->nodes[i];
        if (node->kind != FR_OP_CONV || is_direct(node) || is_depthwise(node))
            continue;
        size_t k_size = (size_t)node->kh * node->kw * graph->tensors[node->in].c;
        size_t need = (size_t)tile_rows(k_size) * k_size;
        if (need > scratch)
            scratch = need;
    }
    size_t taps = 0;
    s->tap_offset = fr_calloc((size_t)graph->node_count, sizeof *s->tap_offset, "the CPU backend");
    for (int i = 0; s->tap_offset && i < graph->node_count; i++) {
        const fr_node *node = &graph->nodes[i];
        if (is_depthwise(node)) {
            s->tap_offset[i] = taps;
            taps += (size_t)node->kh * node->kw * (size_t)graph->tensors[node->out].c;
        }
    }
    s->taps = fr_malloc((taps ? taps : 1) * sizeof(float), "depthwise weights");
    for (int i = 0; s->taps && s->tap_offset && i < graph->node_count; i++) {
        const fr_node *node = &graph->nodes[i];
        if (!is_depthwise(node))
            continue;
        /* (c, kh, kw, 1) -> (kh * kw, c) */
        size_t k_taps = (size_t)node->kh * node->kw, c = (size_t)graph->tensors[node->out].c;
        for (size_t k = 0; k < c; k++)
            for (size_t t = 0; t < k_taps; t++)
                s->taps[s->tap_offset[i] + t * c + k] =
                    graph->params[node->weight + k * k_taps + t];
    }
    threads = fr_pool_threads(s->pool);
    s->scratch = fr_calloc((size_t)threads, sizeof *s->scratch, "im2col buffers");
    if (!s->arena || !s->scratch || !s->taps || !s->tap_offset) {
        cpu_release(s);
        return FR_E_NOMEM;
    }
    for (int i = 0; i < threads; i++)
        if (!(s->scratch[i] = fr_aligned_alloc((scratch ? scratch : 1) * sizeof(float),
                                               "im2col buffers"))) {
            cpu_release(s);
            return FR_E_NOMEM;
        }
    *out = s;
    return FR_OK;
}

static fr_status cpu_run(void *state, const uint8_t *inputs, int n, float *outputs)
{
    cpu_state *s = state;
    if (s->primitives)
        return fr_cpu_primitives_run(s->primitives, inputs, n, outputs);
    if (n < 1 || n > s->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (planned for 1..%d)", n, s->max_batch);
    s->n = n;
    const fr_graph *g = s->graph;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *node = &g->nodes[i];
        if (node->kind == FR_OP_CONV && !is_depthwise(node))
            run_conv(s, node);
        else
            run_rows(s, node, inputs);
    }
    fr_cpu_view out = view_of(s, g->output);
    size_t dim = (size_t)out.h * out.w * out.c;
    memcpy(outputs, out.data, (size_t)n * dim * sizeof(float));
    return FR_OK;
}

static fr_precision cpu_precision(const void *state)
{
    const cpu_state *s = state;
    return s->primitives ? fr_cpu_primitives_precision(s->primitives) : FR_PRECISION_FP32;
}

static const char *cpu_describe(void *state)
{
    cpu_state *s = state;
    return s->primitives ? fr_cpu_primitives_describe(s->primitives) : s->description;
}

static int cpu_max_batch(const void *state)
{
    return ((const cpu_state *)state)->max_batch;
}

const fr_backend fr_cpu_backend = {.name = "cpu", .plan = cpu_plan, .run = cpu_run,
                                   .release = cpu_release, .precision = cpu_precision,
                                   .max_batch = cpu_max_batch, .describe = cpu_describe};
