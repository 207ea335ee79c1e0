/*
 * test_cuda_ops.c: every operation of the graph on the CUDA backend against the CPU backend
 * (the reference, itself checked against a float64 interpreter by test_ops), on random
 * inputs and weights, through the public runner (so the pinned upload, the pipeline and the
 * CUDA graphs run too): convolutions of many shapes (1x1, 3x3, 1x7, 7x1, stride 2, VALID and
 * SAME with asymmetric padding, PReLU, residual accumulation in place, channel views on
 * input and output), depthwise convolutions (own kernel: 3x3, 5x5, stride 2, PReLU,
 * accumulation, views, vector and scalar accesses, separable pairs), max/avg pooling
 * with padding, zero-extended adds, global average, both normalizations with and without
 * transposition; every precision; batch 1, 5 and 8 (8 and 5
 * share a bucket: 5 runs padded).
 *
 * Error: ||gpu - cpu||_2 / ||cpu||_2 over the whole output. Tolerances, and why:
 *   fp32  1e-5  the same fp32 arithmetic in another order (FFT/Winograd engines excluded);
 *               measured CPU-vs-float64 errors of this kind are ~1e-7
 *   tf32  5e-3  TF32 rounds each multiplicand to 10 mantissa bits (2^-11 ~ 4.9e-4 relative)
 *               and the chains here have up to 9 layers
 *   fp16  1e-2  fp16 storage of every activation and weight (the same 2^-11 per rounding),
 *               fp32 accumulation; again up to 9 layers deep
 * The depthwise kernel does fp32 arithmetic in every precision (9 or 25 products per
 * output), so its own error is the fp32 one; in fp16 its inputs and weights are stored in
 * fp16 like every other operation's, and the tolerance above covers it.
 * NaN never passes; outputs are poisoned before every run. Channel counts are multiples of 8,
 * as in both networks (fp16 tensor cores need them; the CUDA backend pads the 3 input
 * channels itself). Skipped (exit 77) where there is no GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "model/model_internal.h"
#include "testutil.h"

static uint64_t rng = 4242;

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

static int conv_acc(fr_graph *g, const char *name, int in, int out, int kh, int kw,
                    fr_activation a)
{
    int c_in = g->tensors[in].c, c_out = g->tensors[out].c;
    size_t w = random_params(g, (size_t)c_out * kh * kw * c_in,
                             1.0f / sqrtf((float)(kh * kw * c_in)));
    size_t b = random_params(g, (size_t)c_out, 0.5f);
    return fr_graph_conv_accumulate(g, name, in, out, kh, kw, FR_PAD_SAME, a, w, b);
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

typedef int (*graph_fn)(fr_graph *g, int x);

/* face-api's separable blocks and every variant of the kernel: 16-byte vectors (channels,
 * strides and addresses multiples of 8 halves / 4 floats) and scalar accesses (a view
 * starting 2 channels into its root). Channel counts stay multiples of 8 for cuDNN's sake. */
static int g_depthwise(fr_graph *g, int x)
{
    x = conv(g, "stem", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int d = depthwise(g, "depthwise 3x3 same", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    d = depthwise(g, "depthwise 3x3/2 same (asymmetric)", d, -1, 3, 2, FR_PAD_SAME, FR_ACT_NONE);
    d = conv(g, "pointwise after it (separable)", d, -1, 24, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    d = depthwise(g, "depthwise 5x5 valid + PReLU", d, -1, 5, 1, FR_PAD_VALID, FR_ACT_PRELU);
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
    depthwise(g, "depthwise from view [2,18) (scalar path)", fr_graph_view(g, mixed, 2, 16),
              fr_graph_view(g, mixed2, 0, 16), 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    return conv(g, "pointwise over the concatenation", mixed2, -1, 16, 1, 1, 1, FR_PAD_SAME,
                FR_ACT_NONE);
}

static int g_conv_shapes(fr_graph *g, int x)
{
    x = conv(g, "1x1", x, -1, 16, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "3x3 same", x, -1, 24, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "3x3/2 same (asymmetric)", x, -1, 16, 3, 3, 2, FR_PAD_SAME, FR_ACT_NONE);
    x = conv(g, "1x7", x, -1, 16, 1, 7, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = conv(g, "7x1", x, -1, 24, 7, 1, 1, FR_PAD_SAME, FR_ACT_PRELU);
    x = conv(g, "2x2/2 same", x, -1, 8, 2, 2, 2, FR_PAD_SAME, FR_ACT_RELU);
    return conv(g, "3x3/2 valid", x, -1, 16, 3, 3, 2, FR_PAD_VALID, FR_ACT_NONE);
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
    conv_acc(g, "residual 1x1 from the concatenation", mixed, x, 1, 1, FR_ACT_RELU);
    int mixed2 = fr_graph_tensor(g, h, w, 32);
    conv(g, "into [0,16)", x, fr_graph_view(g, mixed2, 0, 16), 16, 1, 1, 1, FR_PAD_SAME,
         FR_ACT_RELU);
    conv(g, "into [16,32)", x, fr_graph_view(g, mixed2, 16, 16), 16, 3, 3, 1, FR_PAD_SAME,
         FR_ACT_RELU);
    int y = conv(g, "3x3 from view [8,24)", fr_graph_view(g, mixed2, 8, 16), -1, 16, 3, 3, 1,
                 FR_PAD_SAME, FR_ACT_NONE);
    conv_acc(g, "residual 3x3", y, x, 3, 3, FR_ACT_RELU);
    conv_acc(g, "residual without activation (Block8_6)", y, x, 1, 1, FR_ACT_NONE);
    return x;
}

static int g_pools_add(fr_graph *g, int x)
{
    x = conv(g, "stem", x, -1, 8, 3, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    int m = fr_graph_pool(g, "max 3/2 same", FR_OP_MAX_POOL, x, -1, 3, 2, FR_PAD_SAME);
    int a = fr_graph_pool(g, "avg 3/2 same (edge windows)", FR_OP_AVG_POOL, x, -1, 3, 2,
                          FR_PAD_SAME);
    int v = fr_graph_pool(g, "avg 2/2 valid", FR_OP_AVG_POOL, x, -1, 2, 2, FR_PAD_VALID);
    int s = fr_graph_add(g, "add", m, a, g->tensors[m].h, g->tensors[m].w, 8, FR_ACT_NONE);
    int c = conv(g, "3x3/2 valid, smaller", s, -1, 16, 3, 3, 2, FR_PAD_VALID, FR_ACT_NONE);
    int big = fr_graph_add(g, "zero-extended add", v, c,
                           g->tensors[v].h > g->tensors[c].h ? g->tensors[v].h : g->tensors[c].h,
                           g->tensors[v].w > g->tensors[c].w ? g->tensors[v].w : g->tensors[c].w,
                           16, FR_ACT_RELU);
    return fr_graph_global_avg(g, "global average", big);
}

static int g_dense(fr_graph *g, int x)
{
    x = conv(g, "stem 3x3/2", x, -1, 8, 3, 3, 2, FR_PAD_VALID, FR_ACT_RELU);
    return conv(g, "dense", x, -1, 16, g->tensors[x].h, g->tensors[x].w, 1, FR_PAD_VALID,
                FR_ACT_PRELU);
}

/* Runs the graph through a runner on `device`; outputs poisoned first. */
static fr_status run_graph(fr_graph *g, int output, fr_device device, fr_precision precision,
                           const uint8_t *input, int batch, float *got, char *describe,
                           size_t describe_size)
{
    const fr_tensor *o = &g->tensors[output];
    fr_model model;
    memset(&model, 0, sizeof model);
    model.info.arch = "test";
    model.info.input_size = g->input_h;
    model.info.embedding_size = o->h * o->w * o->c;
    model.graph = g;
    size_t count = (size_t)batch * (size_t)model.info.embedding_size;
    for (size_t i = 0; i < count; i++)
        got[i] = NAN;
    fr_runner_options opt = {device, precision, 8, 0};
    fr_runner *r;
    fr_status st = fr_runner_new(&model, &opt, &r);
    if (st)
        return st;
    st = fr_runner_run(r, input, batch, got);
    if (describe)
        snprintf(describe, describe_size, "%s", fr_runner_describe(r));
    fr_runner_free(r);
    return st;
}

static double relative_l2(const float *got, const float *want, size_t count)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        if (isnan(got[i]) || isinf(got[i]))
            return INFINITY;
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}

int main(void)
{
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
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
        {"pools, adds, global average", g_pools_add, 17, 18, FR_NORM_STANDARDIZE, 0},
        {"dense + PReLU (transposed input)", g_dense, 12, 9, FR_NORM_AFFINE, 1},
        {"depthwise and separable", g_depthwise, 21, 17, FR_NORM_AFFINE, 0},
    };
    const struct {
        fr_precision precision;
        double tolerance;
    } precisions[] = {{FR_PRECISION_FP32, 1e-5}, {FR_PRECISION_TF32, 5e-3},
                      {FR_PRECISION_FP16, 1e-2}};
    const int batches[] = {1, 5, 8};
    const float mean[3] = {128, 120, 110}, scale[3] = {1 / 64.f, 1 / 60.f, 1 / 70.f};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr_graph *g = fr_graph_new(cases[i].h, cases[i].w);
        int x = fr_graph_normalize(g, cases[i].norm, mean, scale, cases[i].transpose);
        int out = cases[i].build(g, x);
        CHECK_OK(fr_graph_finalize(g, out));
        if (g->status) {
            fr_graph_free(g);
            continue;
        }
        const fr_tensor *o = &g->tensors[out];
        size_t dim = (size_t)o->h * o->w * o->c;
        size_t in_size = (size_t)8 * g->input_h * g->input_w * 3;
        uint8_t *input = malloc(in_size);
        for (size_t k = 0; k < in_size; k++)
            input[k] = (uint8_t)(fr_test_rand(&rng) >> 56);
        float *want = malloc(8 * dim * sizeof *want), *got = malloc(8 * dim * sizeof *got);
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            int batch = batches[b];
            CHECK_OK(run_graph(g, out, FR_DEVICE_CPU, FR_PRECISION_DEFAULT, input, batch, want,
                               NULL, 0));
            for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++) {
                char describe[600] = "";
                fr_status st = run_graph(g, out, FR_DEVICE_CUDA, precisions[p].precision, input,
                                         batch, got, describe, sizeof describe);
                CHECK_OK(st);
                double e = st ? INFINITY : relative_l2(got, want, (size_t)batch * dim);
                printf("%-40s %s batch %d: relative L2 error %.2e (tolerance %.0e)\n",
                       cases[i].what, fr_precision_name(precisions[p].precision), batch, e,
                       precisions[p].tolerance);
                if (b == 0)
                    printf("    %s\n", describe);
                CHECK(e <= precisions[p].tolerance);
            }
        }
        free(input);
        free(want);
        free(got);
        fr_graph_free(g);
    }
    return fr_test_finish("test_cuda_ops");
}
