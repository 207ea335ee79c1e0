/*
 * test_ops.c: every operation of the graph description on the CPU backend against a naive
 * double-precision interpreter written here (direct loops: no im2col, no GEMM, no tiling),
 * on random inputs and weights: convolutions of many shapes (1x1 direct GEMM, 3x3, 1x7, 7x1,
 * stride 2, VALID and SAME with asymmetric padding, PReLU, residual accumulation, channel
 * views on input and output; depthwise convolutions: groups == channels, 3x3, 5x5, stride 2,
 * PReLU, accumulation, views, on the 3-channel input, separable pairs), max/avg pooling with
 * padding, zero-extended adds, global average, and both normalizations with and without
 * transposition; batch 1, 3 and 11, one and two threads; on both CPU paths (oneDNN's primitives,
 * the default, and the im2col + sgemm reference: FACEREC_CPU_CONV) and, where the CPU has
 * AVX512-BF16 or AMX, the primitives in bf16. Tolerance: 1e-4 relative to the output's largest
 * magnitude in fp32 (sums of up to a few thousand products against double); 3e-2 in bf16
 * (8-bit mantissas for activations and weights, rounded again at every layer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_primitives.h"
#include "runtime/backend.h"
#include "model/graph.h"
#include "testutil.h"

static uint64_t rng = 42;

/* ---- the naive interpreter ---------------------------------------------------------------- */

typedef struct ref_state {
    const fr_graph *g;
    int n;
    double **roots; /* per root tensor: (n, h, w, c_root) */
} ref_state;

static double *ref_at(ref_state *s, int tensor, int n, int y, int x)
{
    const fr_tensor *t = &s->g->tensors[tensor];
    const fr_tensor *r = &s->g->tensors[t->root];
    return s->roots[t->root] + (((size_t)n * r->h + y) * r->w + x) * r->c + t->c_offset;
}

static double act(double v, fr_activation a, double alpha)
{
    if (a == FR_ACT_RELU)
        return v > 0 ? v : 0;
    if (a == FR_ACT_PRELU)
        return v > 0 ? v : v * alpha;
    return v;
}

static void ref_node(ref_state *s, const fr_node *node, const uint8_t *input)
{
    const fr_graph *g = s->g;
    const fr_tensor *out = &g->tensors[node->out];
    const float *p = g->params;
    for (int n = 0; n < s->n; n++) {
        if (node->kind == FR_OP_NORMALIZE) {
            int h = g->input_h, w = g->input_w;
            const uint8_t *img = input + (size_t)n * h * w * 3;
            double mean[3], scale[3];
            if (node->norm == FR_NORM_STANDARDIZE) {
                double sum = 0, sq = 0, cnt = (double)h * w * 3;
                for (int i = 0; i < h * w * 3; i++)
                    sum += img[i];
                for (int i = 0; i < h * w * 3; i++)
                    sq += (img[i] - sum / cnt) * (img[i] - sum / cnt);
                double sd = fmax(sqrt(sq / cnt), 1.0 / sqrt(cnt));
                for (int c = 0; c < 3; c++) {
                    mean[c] = sum / cnt;
                    scale[c] = 1.0 / sd;
                }
            } else {
                for (int c = 0; c < 3; c++) {
                    mean[c] = node->mean[c];
                    scale[c] = node->scale[c];
                }
            }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++) {
                        int oy = node->transpose ? x : y, ox = node->transpose ? y : x;
                        ref_at(s, node->out, n, oy, ox)[c] =
                            (img[((size_t)y * w + x) * 3 + c] - mean[c]) * scale[c];
                    }
            continue;
        }
        const fr_tensor *in = &g->tensors[node->in];
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++) {
                double *o = ref_at(s, node->out, n, y, x);
                for (int c = 0; c < out->c; c++) {
                    double v = 0;
                    if (node->kind == FR_OP_CONV) {
                        /* output channel c sees the c_in / groups inputs of its group */
                        int group_in = in->c / node->groups, group_out = out->c / node->groups;
                        int k0 = c / group_out * group_in;
                        v = p[node->bias + c];
                        for (int ky = 0; ky < node->kh; ky++)
                            for (int kx = 0; kx < node->kw; kx++) {
                                int iy = y * node->stride_h - node->pad_top + ky;
                                int ix = x * node->stride_w - node->pad_left + kx;
                                if (iy < 0 || ix < 0 || iy >= in->h || ix >= in->w)
                                    continue;
                                const double *i = ref_at(s, node->in, n, iy, ix) + k0;
                                const float *w =
                                    p + node->weight +
                                    (((size_t)c * node->kh + ky) * node->kw + kx) * group_in;
                                for (int k = 0; k < group_in; k++)
                                    v += i[k] * w[k];
                            }
                        if (node->accumulate)
                            v += o[c];
                        v = act(v, node->act, node->alpha != FR_NO_PARAM ? p[node->alpha + c] : 0);
                    } else if (node->kind == FR_OP_MAX_POOL || node->kind == FR_OP_AVG_POOL) {
                        double best = -INFINITY, sum = 0;
                        int count = 0;
                        for (int ky = 0; ky < node->kh; ky++)
                            for (int kx = 0; kx < node->kw; kx++) {
                                int iy = y * node->stride_h - node->pad_top + ky;
                                int ix = x * node->stride_w - node->pad_left + kx;
                                if (iy < 0 || ix < 0 || iy >= in->h || ix >= in->w)
                                    continue;
                                double e = ref_at(s, node->in, n, iy, ix)[c];
                                best = fmax(best, e);
                                sum += e;
                                count++;
                            }
                        v = node->kind == FR_OP_MAX_POOL ? best : sum / count;
                    } else if (node->kind == FR_OP_ADD) {
                        const fr_tensor *b = &g->tensors[node->in2];
                        if (y < in->h && x < in->w && c < in->c)
                            v += ref_at(s, node->in, n, y, x)[c];
                        if (y < b->h && x < b->w && c < b->c)
                            v += ref_at(s, node->in2, n, y, x)[c];
                        v = act(v, node->act, 0);
                    } else if (node->kind == FR_OP_GLOBAL_AVG) {
                        for (int iy = 0; iy < in->h; iy++)
                            for (int ix = 0; ix < in->w; ix++)
                                v += ref_at(s, node->in, n, iy, ix)[c];
                        v /= (double)in->h * in->w;
                    }
                    o[c] = v;
                }
            }
    }
}

/* ---- building random graphs --------------------------------------------------------------- */

static size_t random_params(fr_graph *g, size_t count, float scale)
{
    size_t off = fr_graph_reserve(g, count);
    for (size_t i = 0; off != FR_NO_PARAM && i < count; i++)
        g->params[off + i] = fr_test_uniform(&rng, -scale, scale);
    return off;
}

static int conv(fr_graph *g, const char *name, int in, int out, int c_out, int kh, int kw,
                int stride, fr_padding pad, fr_activation a)
{
    int c_in = g->tensors[in].c;
    float ws = 1.0f / sqrtf((float)(kh * kw * c_in));
    size_t w = random_params(g, (size_t)c_out * kh * kw * c_in, 2 * ws);
    size_t b = random_params(g, (size_t)c_out, 0.5f);
    int r = fr_graph_conv(g, name, in, out, c_out, kh, kw, stride, stride, pad, a, w, b);
    if (a == FR_ACT_PRELU && r >= 0)
        g->nodes[g->node_count - 1].alpha = random_params(g, (size_t)c_out, 0.5f);
    return r;
}

/* A depthwise convolution (groups == channels), into `out` when out >= 0. */
static int depthwise(fr_graph *g, const char *name, int in, int out, int k, int stride,
                     fr_padding pad, fr_activation a)
{
    int c = g->tensors[in].c;
    size_t w = random_params(g, (size_t)c * k * k, 2.0f / (float)k);
    size_t b = random_params(g, (size_t)c, 0.5f);
    int r = fr_graph_conv_grouped(g, name, in, out, c, c, k, k, stride, stride, pad, a, w, b);
    if (a == FR_ACT_PRELU && r >= 0)
        g->nodes[g->node_count - 1].alpha = random_params(g, (size_t)c, 0.5f);
    return r;
}

static int conv_acc(fr_graph *g, const char *name, int in, int out, int kh, int kw)
{
    int c_in = g->tensors[in].c, c_out = g->tensors[out].c;
    size_t w = random_params(g, (size_t)c_out * kh * kw * c_in, 1.0f / sqrtf((float)(kh * kw * c_in)));
    size_t b = random_params(g, (size_t)c_out, 0.5f);
    return fr_graph_conv_accumulate(g, name, in, out, kh, kw, FR_PAD_SAME, FR_ACT_RELU, w, b);
}

/* Runs graph g (input h x w) on the CPU backend and the interpreter; returns the max error
 * relative to the output's largest magnitude. */
static double check_graph(fr_graph *g, int output, int batch, int threads, fr_precision precision,
                          const char *what)
{
    CHECK_OK(fr_graph_finalize(g, output));
    if (g->status)
        return INFINITY;
    size_t in_size = (size_t)batch * g->input_h * g->input_w * 3;
    uint8_t *input = malloc(in_size);
    for (size_t i = 0; i < in_size; i++)
        input[i] = (uint8_t)(fr_test_rand(&rng) >> 56);
    const fr_tensor *o = &g->tensors[output];
    size_t dim = (size_t)o->h * o->w * o->c;
    float *got = malloc((size_t)batch * dim * sizeof *got);
    for (size_t i = 0; i < (size_t)batch * dim; i++)
        got[i] = NAN; /* poison: every output must be written */
    fr_runner_options opt = {FR_DEVICE_CPU, precision, batch, threads};
    void *state = NULL;
    fr_status st = fr_cpu_backend.plan(g, &opt, &state);
    CHECK_OK(st);
    if (!st) {
        /* oneDNN's reference implementations are 100x slower than its JIT ones (MTCNN's
         * convolutions with a PReLU post-op ran on ref:any: 5.7 s an image) */
        const char *path = fr_cpu_backend.describe(state);
        if (strstr(path, "primitives") && strstr(path, " ref:")) {
            printf("%s: a reference implementation: %s\n", what, path);
            CHECK(!strstr(path, " ref:"));
        }
        CHECK_OK(fr_cpu_backend.run(state, input, batch, got));
        fr_cpu_backend.release(state);
    }

    ref_state s = {g, batch, calloc((size_t)g->tensor_count, sizeof(double *))};
    for (int t = 0; t < g->tensor_count; t++)
        if (g->tensors[t].root == t)
            s.roots[t] = calloc((size_t)batch * g->tensors[t].h * g->tensors[t].w * g->tensors[t].c,
                                sizeof(double));
    for (int i = 0; i < g->node_count; i++)
        ref_node(&s, &g->nodes[i], input);
    double worst = 0, big = 1e-6;
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < o->h; y++)
            for (int x = 0; x < o->w; x++)
                for (int c = 0; c < o->c; c++) {
                    double want = ref_at(&s, output, n, y, x)[c];
                    double have = got[(size_t)n * dim + ((size_t)y * o->w + x) * o->c + c];
                    big = fmax(big, fabs(want));
                    double e = fabs(want - have);
                    worst = isnan(have) ? INFINITY : fmax(worst, e);
                }
    worst /= big;
    printf("%-44s %-10s %s batch %d threads %d: max error %.2e (of %.3g)\n", what,
           getenv("FACEREC_CPU_CONV"), fr_precision_name(precision), batch, threads, worst, big);
    for (int t = 0; t < g->tensor_count; t++)
        free(s.roots[t]);
    free(s.roots);
    free(input);
    free(got);
    return worst;
}

typedef int (*graph_fn)(fr_graph *g, int x);

static int g_depthwise(fr_graph *g, int x)
{
    x = depthwise(g, "depthwise 3x3 on the 3-channel input", x, -1, 3, 1, FR_PAD_SAME,
                  FR_ACT_NONE);
    x = conv(g, "stem", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int d = depthwise(g, "depthwise 3x3 same", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    d = depthwise(g, "depthwise 3x3/2 same (asymmetric)", d, -1, 3, 2, FR_PAD_SAME, FR_ACT_NONE);
    d = conv(g, "pointwise after it (separable)", d, -1, 24, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    d = depthwise(g, "depthwise 5x5 valid + PReLU", d, -1, 5, 1, FR_PAD_VALID, FR_ACT_PRELU);
    /* in place onto an earlier map, and between channel slices of concatenations */
    int h = g->tensors[d].h, w = g->tensors[d].w;
    int acc = conv(g, "residual base", d, -1, 24, 1, 1, 1, FR_PAD_SAME, FR_ACT_NONE);
    if (depthwise(g, "depthwise accumulate", d, acc, 3, 1, FR_PAD_SAME, FR_ACT_RELU) >= 0)
        g->nodes[g->node_count - 1].accumulate = 1;
    int mixed = fr_graph_tensor(g, h, w, 40);
    conv(g, "into [0,16)", acc, fr_graph_view(g, mixed, 0, 16), 16, 1, 1, 1, FR_PAD_SAME,
         FR_ACT_NONE);
    conv(g, "into [16,40)", acc, fr_graph_view(g, mixed, 16, 24), 24, 1, 1, 1, FR_PAD_SAME,
         FR_ACT_NONE);
    int mixed2 = fr_graph_tensor(g, h, w, 32);
    depthwise(g, "depthwise from view [8,24) into view [16,32)", fr_graph_view(g, mixed, 8, 16),
              fr_graph_view(g, mixed2, 16, 16), 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    conv(g, "into [0,16)", acc, fr_graph_view(g, mixed2, 0, 16), 16, 1, 1, 1, FR_PAD_SAME,
         FR_ACT_NONE);
    return conv(g, "pointwise over the concatenation", mixed2, -1, 16, 1, 1, 1, FR_PAD_SAME,
                FR_ACT_NONE);
}

static int g_conv_shapes(fr_graph *g, int x)
{
    x = conv(g, "1x1", x, -1, 16, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "3x3 same", x, -1, 24, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "3x3/2 same (asymmetric)", x, -1, 16, 3, 3, 2, FR_PAD_SAME, FR_ACT_NONE);
    x = conv(g, "1x7", x, -1, 16, 1, 7, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "7x1", x, -1, 20, 7, 1, 1, FR_PAD_SAME, FR_ACT_PRELU);
    x = conv(g, "2x2/2 same", x, -1, 8, 2, 2, 2, FR_PAD_SAME, FR_ACT_RELU);
    return conv(g, "3x3/2 valid", x, -1, 12, 3, 3, 2, FR_PAD_VALID, FR_ACT_NONE);
}

static int g_first_conv(fr_graph *g, int x)
{
    return conv(g, "7x7/2 valid on 3 channels", x, -1, 32, 7, 7, 2, FR_PAD_VALID, FR_ACT_RELU);
}

static int g_views_residual(fr_graph *g, int x)
{
    x = conv(g, "stem", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int h = g->tensors[x].h, w = g->tensors[x].w;
    int mixed = fr_graph_tensor(g, h, w, 40);
    conv(g, "branch 0 into [0,8)", x, fr_graph_view(g, mixed, 0, 8), 8, 1, 1, 1, FR_PAD_SAME,
         FR_ACT_RELU);
    int t = conv(g, "branch 1a", x, -1, 8, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    conv(g, "branch 1b into [8,24)", t, fr_graph_view(g, mixed, 8, 16), 16, 3, 3, 1, FR_PAD_SAME,
         FR_ACT_RELU);
    fr_graph_pool(g, "pool into [24,40)", FR_OP_MAX_POOL, x, fr_graph_view(g, mixed, 24, 16), 3, 1,
                  FR_PAD_SAME);
    conv_acc(g, "residual 1x1 from the concatenation", mixed, x, 1, 1);
    /* a view as input: convolve the middle slice of the concatenation of the next block */
    int mixed2 = fr_graph_tensor(g, h, w, 32);
    conv(g, "into [0,16)", x, fr_graph_view(g, mixed2, 0, 16), 16, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    conv(g, "into [16,32)", x, fr_graph_view(g, mixed2, 16, 16), 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int y = conv(g, "3x3 from view [8,24)", fr_graph_view(g, mixed2, 8, 16), -1, 16, 3, 3, 1,
                 FR_PAD_SAME, FR_ACT_NONE);
    conv_acc(g, "residual 3x3", y, x, 3, 3);
    return x;
}

static int g_pools_add(fr_graph *g, int x)
{
    x = conv(g, "stem", x, -1, 8, 3, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    int m = fr_graph_pool(g, "max 3/2 same", FR_OP_MAX_POOL, x, -1, 3, 2, FR_PAD_SAME);
    int a = fr_graph_pool(g, "avg 3/2 same (edge windows)", FR_OP_AVG_POOL, x, -1, 3, 2, FR_PAD_SAME);
    int v = fr_graph_pool(g, "avg 2/2 valid", FR_OP_AVG_POOL, x, -1, 2, 2, FR_PAD_VALID);
    int s = fr_graph_add(g, "add", m, a, g->tensors[m].h, g->tensors[m].w, 8, FR_ACT_NONE);
    s = fr_graph_add(g, "add + relu", s, a, g->tensors[m].h, g->tensors[m].w, 8, FR_ACT_RELU);
    int c = conv(g, "3x3/2 valid, smaller", s, -1, 16, 3, 3, 2, FR_PAD_VALID, FR_ACT_NONE);
    /* dlib's down block: channels and one row/column zero-extended */
    int big = fr_graph_add(g, "zero-extended add", v, c,
                           g->tensors[v].h > g->tensors[c].h ? g->tensors[v].h : g->tensors[c].h,
                           g->tensors[v].w > g->tensors[c].w ? g->tensors[v].w : g->tensors[c].w,
                           16, FR_ACT_RELU);
    return fr_graph_global_avg(g, "global average", big);
}

static int g_dense(fr_graph *g, int x)
{
    x = conv(g, "stem 3x3/2", x, -1, 8, 3, 3, 2, FR_PAD_VALID, FR_ACT_RELU);
    /* a dense layer is a convolution whose kernel covers its whole input */
    return conv(g, "dense", x, -1, 10, g->tensors[x].h, g->tensors[x].w, 1, FR_PAD_VALID,
                FR_ACT_PRELU);
}

int main(void)
{
    struct {
        const char *what;
        graph_fn build;
        int h, w;
        fr_norm_kind norm;
        int transpose;
    } cases[] = {
        {"conv shapes (affine input)", g_conv_shapes, 23, 19, FR_NORM_AFFINE, 0},
        {"first conv 7x7/2 (standardized input)", g_first_conv, 31, 30, FR_NORM_STANDARDIZE, 0},
        {"views and residuals", g_views_residual, 11, 13, FR_NORM_AFFINE, 0},
        {"pools, adds, global average", g_pools_add, 17, 18, FR_NORM_AFFINE, 0},
        {"dense + PReLU (transposed input)", g_dense, 12, 9, FR_NORM_AFFINE, 1},
        {"depthwise and separable", g_depthwise, 21, 17, FR_NORM_AFFINE, 0},
    };
    const float mean[3] = {128, 120, 110}, scale[3] = {1 / 64.f, 1 / 60.f, 1 / 70.f};
    /* "primitives" fails rather than falling back: every case must plan on them */
    struct {
        const char *path;
        fr_precision precision;
        double tolerance;
    } paths[] = {{"primitives", FR_PRECISION_FP32, 1e-4},
                 {"im2col", FR_PRECISION_FP32, 1e-4},
                 {"primitives", FR_PRECISION_BF16, 3e-2}};
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        if (paths[k].precision == FR_PRECISION_BF16 && !fr_cpu_has_bf16()) {
            printf("bf16: SKIPPED (this CPU has no AVX512-BF16 or AMX)\n");
            continue;
        }
        setenv("FACEREC_CPU_CONV", paths[k].path, 1);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int b = 0; b < 3; b++)
                for (int threads = 1; threads <= 2; threads++) {
                    /* 11 images: the primitives' chunks of 4 and 2, and a short last chunk */
                    int batch = b == 0 ? 1 : b == 1 ? 3 : 11;
                    fr_graph *g = fr_graph_new(cases[i].h, cases[i].w);
                    int x = fr_graph_normalize(g, cases[i].norm, mean, scale, cases[i].transpose);
                    int out = cases[i].build(g, x);
                    double e = check_graph(g, out, batch, threads, paths[k].precision,
                                           cases[i].what);
                    CHECK(e <= paths[k].tolerance);
                    fr_graph_free(g);
                }
    }
    unsetenv("FACEREC_CPU_CONV");

    /* the planner: tensors alive at the same time never share bytes */
    fr_graph *g = fr_graph_new(16, 16);
    int x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    int out = g_views_residual(g, x);
    CHECK_OK(fr_graph_finalize(g, out));
    for (int a = 0; a < g->tensor_count; a++)
        for (int b = a + 1; b < g->tensor_count; b++) {
            const fr_tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
            if (ta->root != a || tb->root != b || ta->last < tb->first || tb->last < ta->first)
                continue;
            size_t ea = ta->offset + (size_t)ta->h * ta->w * ta->c;
            size_t eb = tb->offset + (size_t)tb->h * tb->w * tb->c;
            CHECK(ea <= tb->offset || eb <= ta->offset);
        }
    fr_graph_free(g);

    /* groupings other than 1 and depthwise are refused when built, not at run time */
    g = fr_graph_new(8, 8);
    x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    x = conv(g, "stem", x, -1, 8, 1, 1, 1, FR_PAD_SAME, FR_ACT_NONE);
    size_t w = random_params(g, 16 * 9 * 4, 0.1f), b = random_params(g, 16, 0.1f);
    CHECK(fr_graph_conv_grouped(g, "2 groups", x, -1, 16, 2, 3, 3, 1, 1, FR_PAD_SAME,
                                FR_ACT_NONE, w, b) < 0);
    CHECK(g->status == FR_E_INTERNAL);
    fr_graph_free(g);

    /* FLOPs count a depthwise tap once per channel */
    g = fr_graph_new(8, 8);
    x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    x = depthwise(g, "dw", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    CHECK_OK(fr_graph_finalize(g, x));
    CHECK_NEAR(fr_graph_flops(g), 2.0 * 8 * 8 * 3 * 9, 0.5);
    fr_graph_free(g);
    return fr_test_finish("test_ops");
}
