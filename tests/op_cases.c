/* op_cases.c: the graph-operation test cases every backend runs (op_cases.h). */
#include "op_cases.h"

#include <math.h>
#include <stddef.h>

#include "testutil.h"

const float fr_op_case_mean[3] = {128, 120, 110};
const float fr_op_case_scale[3] = {1 / 64.f, 1 / 60.f, 1 / 70.f};

size_t fr_op_params(fr_graph *g, uint64_t *rng, size_t count, float scale)
{
    size_t off = fr_graph_reserve(g, count);
    for (size_t i = 0; off != FR_NO_PARAM && i < count; i++)
        g->params[off + i] = fr_test_uniform(rng, -scale, scale);
    return off;
}

int fr_op_conv(fr_graph *g, uint64_t *rng, const char *name, int in, int out, int c_out,
               int kh, int kw, int stride, fr_padding pad, fr_activation a)
{
    int c_in = g->tensors[in].c;
    float ws = 1.0f / sqrtf((float)(kh * kw * c_in));
    size_t w = fr_op_params(g, rng, (size_t)c_out * kh * kw * c_in, 2 * ws);
    size_t b = fr_op_params(g, rng, (size_t)c_out, 0.5f);
    int r = fr_graph_conv(g, name, in, out, c_out, kh, kw, stride, stride, pad, a, w, b);
    if (a == FR_ACT_PRELU && r >= 0)
        g->nodes[g->node_count - 1].alpha = fr_op_params(g, rng, (size_t)c_out, 0.5f);
    return r;
}

int fr_op_depthwise(fr_graph *g, uint64_t *rng, const char *name, int in, int out, int k,
                    int stride, fr_padding pad, fr_activation a)
{
    int c = g->tensors[in].c;
    size_t w = fr_op_params(g, rng, (size_t)c * k * k, 2.0f / (float)k);
    size_t b = fr_op_params(g, rng, (size_t)c, 0.5f);
    int r = fr_graph_conv_grouped(g, name, in, out, c, c, k, k, stride, stride, pad, a, w, b);
    if (a == FR_ACT_PRELU && r >= 0)
        g->nodes[g->node_count - 1].alpha = fr_op_params(g, rng, (size_t)c, 0.5f);
    return r;
}

/* a residual: kh x kw convolution of `in` added onto `out` in place, then activation a */
static int conv_acc(fr_graph *g, uint64_t *rng, const char *name, int in, int out, int kh,
                    int kw, fr_activation a)
{
    int c_in = g->tensors[in].c, c_out = g->tensors[out].c;
    size_t w = fr_op_params(g, rng, (size_t)c_out * kh * kw * c_in,
                            1.0f / sqrtf((float)(kh * kw * c_in)));
    size_t b = fr_op_params(g, rng, (size_t)c_out, 0.5f);
    return fr_graph_conv_accumulate(g, name, in, out, kh, kw, FR_PAD_SAME, a, w, b);
}

static int conv_shapes(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "1x1", x, -1, 16, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = fr_op_conv(g, rng, "3x3 same", x, -1, 24, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = fr_op_conv(g, rng, "3x3/2 same (asymmetric)", x, -1, 16, 3, 3, 2, FR_PAD_SAME,
                   FR_ACT_NONE);
    x = fr_op_conv(g, rng, "1x7", x, -1, 16, 1, 7, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = fr_op_conv(g, rng, "7x1", x, -1, 24, 7, 1, 1, FR_PAD_SAME, FR_ACT_PRELU);
    x = fr_op_conv(g, rng, "2x2/2 same", x, -1, 8, 2, 2, 2, FR_PAD_SAME, FR_ACT_RELU);
    return fr_op_conv(g, rng, "3x3/2 valid", x, -1, 16, 3, 3, 2, FR_PAD_VALID, FR_ACT_NONE);
}

/* the same shapes with channel counts no vector width divides */
static int odd_channels(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "1x1 to 13", x, -1, 13, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = fr_op_conv(g, rng, "3x3 13 to 20", x, -1, 20, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    x = fr_op_conv(g, rng, "7x1 20 to 20 + PReLU", x, -1, 20, 7, 1, 1, FR_PAD_SAME,
                   FR_ACT_PRELU);
    x = fr_op_depthwise(g, rng, "depthwise 3x3 on 20", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    return fr_op_conv(g, rng, "3x3/2 valid 20 to 12", x, -1, 12, 3, 3, 2, FR_PAD_VALID,
                      FR_ACT_NONE);
}

static int first_conv(fr_graph *g, int x, uint64_t *rng)
{
    return fr_op_conv(g, rng, "7x7/2 valid on 3 channels", x, -1, 32, 7, 7, 2, FR_PAD_VALID,
                      FR_ACT_RELU);
}

int fr_op_views_residual(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "stem", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int h = g->tensors[x].h, w = g->tensors[x].w;
    int mixed = fr_graph_tensor(g, h, w, 40);
    fr_op_conv(g, rng, "branch 0 into [0,8)", x, fr_graph_view(g, mixed, 0, 8), 8, 1, 1, 1,
               FR_PAD_SAME, FR_ACT_RELU);
    int t = fr_op_conv(g, rng, "branch 1a", x, -1, 8, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
    fr_op_conv(g, rng, "branch 1b into [8,24)", t, fr_graph_view(g, mixed, 8, 16), 16, 3, 3, 1,
               FR_PAD_SAME, FR_ACT_RELU);
    fr_graph_pool(g, "pool into [24,40)", FR_OP_MAX_POOL, x, fr_graph_view(g, mixed, 24, 16), 3,
                  1, FR_PAD_SAME);
    conv_acc(g, rng, "residual 1x1 from the concatenation", mixed, x, 1, 1, FR_ACT_RELU);
    /* a view as input: convolve the middle slice of the concatenation of the next block */
    int mixed2 = fr_graph_tensor(g, h, w, 32);
    fr_op_conv(g, rng, "into [0,16)", x, fr_graph_view(g, mixed2, 0, 16), 16, 1, 1, 1,
               FR_PAD_SAME, FR_ACT_RELU);
    fr_op_conv(g, rng, "into [16,32)", x, fr_graph_view(g, mixed2, 16, 16), 16, 3, 3, 1,
               FR_PAD_SAME, FR_ACT_RELU);
    int y = fr_op_conv(g, rng, "3x3 from view [8,24)", fr_graph_view(g, mixed2, 8, 16), -1, 16,
                       3, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    conv_acc(g, rng, "residual 3x3", y, x, 3, 3, FR_ACT_RELU);
    conv_acc(g, rng, "residual without activation (Block8_6)", y, x, 1, 1, FR_ACT_NONE);
    return x;
}

static int pools_add(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "stem", x, -1, 8, 3, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    int m = fr_graph_pool(g, "max 3/2 same", FR_OP_MAX_POOL, x, -1, 3, 2, FR_PAD_SAME);
    int a = fr_graph_pool(g, "avg 3/2 same (edge windows)", FR_OP_AVG_POOL, x, -1, 3, 2,
                          FR_PAD_SAME);
    int v = fr_graph_pool(g, "avg 2/2 valid", FR_OP_AVG_POOL, x, -1, 2, 2, FR_PAD_VALID);
    int s = fr_graph_add(g, "add", m, a, g->tensors[m].h, g->tensors[m].w, 8, FR_ACT_NONE);
    s = fr_graph_add(g, "add + relu", s, a, g->tensors[m].h, g->tensors[m].w, 8, FR_ACT_RELU);
    int c = fr_op_conv(g, rng, "3x3/2 valid, smaller", s, -1, 16, 3, 3, 2, FR_PAD_VALID,
                       FR_ACT_NONE);
    /* dlib's down block: channels and one row/column zero-extended */
    int big = fr_graph_add(g, "zero-extended add", v, c,
                           g->tensors[v].h > g->tensors[c].h ? g->tensors[v].h : g->tensors[c].h,
                           g->tensors[v].w > g->tensors[c].w ? g->tensors[v].w : g->tensors[c].w,
                           16, FR_ACT_RELU);
    return fr_graph_global_avg(g, "global average", big);
}

static int dense(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "stem 3x3/2", x, -1, 8, 3, 3, 2, FR_PAD_VALID, FR_ACT_RELU);
    /* a dense layer is a convolution whose kernel covers its whole input */
    return fr_op_conv(g, rng, "dense", x, -1, 16, g->tensors[x].h, g->tensors[x].w, 1,
                      FR_PAD_VALID, FR_ACT_PRELU);
}

/* face-api's separable blocks and every variant of the depthwise kernels: vector accesses
 * (channels, strides and addresses multiples of 8 halves / 4 floats) and scalar ones (a view
 * starting 2 channels into its root) */
static int separable(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_conv(g, rng, "stem", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    int d = fr_op_depthwise(g, rng, "depthwise 3x3 same", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
    d = fr_op_depthwise(g, rng, "depthwise 3x3/2 same (asymmetric)", d, -1, 3, 2, FR_PAD_SAME,
                        FR_ACT_NONE);
    d = fr_op_conv(g, rng, "pointwise after it (separable)", d, -1, 24, 1, 1, 1, FR_PAD_SAME,
                   FR_ACT_RELU);
    d = fr_op_depthwise(g, rng, "depthwise 5x5 valid + PReLU", d, -1, 5, 1, FR_PAD_VALID,
                        FR_ACT_PRELU);
    /* in place onto an earlier map, and between channel slices of concatenations */
    int h = g->tensors[d].h, w = g->tensors[d].w;
    int acc = fr_op_conv(g, rng, "residual base", d, -1, 24, 1, 1, 1, FR_PAD_SAME, FR_ACT_NONE);
    if (fr_op_depthwise(g, rng, "depthwise accumulate", d, acc, 3, 1, FR_PAD_SAME,
                        FR_ACT_RELU) >= 0)
        g->nodes[g->node_count - 1].accumulate = 1;
    int mixed = fr_graph_tensor(g, h, w, 40);
    fr_op_conv(g, rng, "into [0,16)", acc, fr_graph_view(g, mixed, 0, 16), 16, 1, 1, 1,
               FR_PAD_SAME, FR_ACT_NONE);
    fr_op_conv(g, rng, "into [16,40)", acc, fr_graph_view(g, mixed, 16, 24), 24, 1, 1, 1,
               FR_PAD_SAME, FR_ACT_NONE);
    int mixed2 = fr_graph_tensor(g, h, w, 32);
    fr_op_depthwise(g, rng, "depthwise from view [8,24) into view [16,32)",
                    fr_graph_view(g, mixed, 8, 16), fr_graph_view(g, mixed2, 16, 16), 3, 1,
                    FR_PAD_SAME, FR_ACT_RELU);
    fr_op_depthwise(g, rng, "depthwise from view [2,18) (scalar path)",
                    fr_graph_view(g, mixed, 2, 16), fr_graph_view(g, mixed2, 0, 16), 3, 1,
                    FR_PAD_SAME, FR_ACT_NONE);
    return fr_op_conv(g, rng, "pointwise over the concatenation", mixed2, -1, 16, 1, 1, 1,
                      FR_PAD_SAME, FR_ACT_NONE);
}

static int depthwise_on_input(fr_graph *g, int x, uint64_t *rng)
{
    x = fr_op_depthwise(g, rng, "depthwise 3x3 on the 3-channel input", x, -1, 3, 1,
                        FR_PAD_SAME, FR_ACT_NONE);
    return fr_op_conv(g, rng, "3x3 after it", x, -1, 16, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
}

#define NOT_8 "channel counts that are not multiples of 8 (no shipped network has them)"

const fr_op_case fr_op_cases[] = {
    {"conv shapes (affine input)", conv_shapes, 23, 19, FR_NORM_AFFINE, 0, NULL},
    {"conv shapes, odd channel counts", odd_channels, 15, 14, FR_NORM_AFFINE, 0, NOT_8},
    {"first conv 7x7/2 (standardized input)", first_conv, 31, 30, FR_NORM_STANDARDIZE, 0, NULL},
    {"views and residuals", fr_op_views_residual, 11, 13, FR_NORM_AFFINE, 0, NULL},
    {"pools, adds, global average", pools_add, 17, 18, FR_NORM_STANDARDIZE, 0, NULL},
    {"dense + PReLU (transposed input)", dense, 12, 9, FR_NORM_AFFINE, 1, NULL},
    {"depthwise and separable", separable, 21, 17, FR_NORM_AFFINE, 0, NULL},
    {"depthwise on the 3-channel input", depthwise_on_input, 13, 11, FR_NORM_AFFINE, 0,
     "a depthwise convolution of the 3 input channels (the CUDA backend pads them to 8 for "
     "full convolutions only; no shipped network starts with one)"},
};
const int fr_op_case_count = (int)(sizeof fr_op_cases / sizeof fr_op_cases[0]);

fr_graph *fr_op_case_graph(const fr_op_case *c, uint64_t *rng, int *output)
{
    fr_graph *g = fr_graph_new(c->h, c->w);
    if (!g)
        return NULL;
    int x = fr_graph_normalize(g, c->norm, fr_op_case_mean, fr_op_case_scale, c->transpose);
    *output = c->build(g, x, rng);
    CHECK_OK(fr_graph_finalize(g, *output));
    if (g->status) {
        fr_graph_free(g);
        return NULL;
    }
    return g;
}
