/*
 * irv1.c: FaceNet Inception-ResNet-v1 (davidsandberg/facenet 20170512-110547 as converted to
 * Keras by keras-facenet), following the Keras graph in shared/data/keras-facenet/model.json,
 * which is authoritative (426 layers, 22,808,144 parameters). Tensor names are Keras's:
 * "<layer>/kernel" (kh, kw, c_in, c_out), "<layer>/bias", "<layer>_BatchNorm/{beta,
 * moving_mean, moving_variance}" (BatchNormalization with scale=False, epsilon 0.001).
 *
 * 160x160 input:  stem 160 -> 79 -> 77 -> 77 -> 38 -> 38 -> 36 -> 17 (256)
 *   5 x Block35 (scale 0.17) at 17x17x256; Mixed_6a -> 8x8x896
 *  10 x Block17 (scale 0.10) at 8x8x896;   Mixed_7a -> 3x3x1792
 *   5 x Block8  (scale 0.20) + Block8_6 (scale 1.0, no ReLU) at 3x3x1792
 *   global average pool, (dropout: identity), Dense 1792 -> 128 without bias, BatchNorm.
 * A block's branches write their slices of the concatenation; its "Up" 1x1 convolution
 * (with bias, no BN) is the residual: x = relu(x + scale * (conv(concat) + bias)), done in
 * place with scale folded into the weights.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

#define BN_EPSILON 0.001

typedef struct builder {
    const fr_weights *w;
    fr_graph *g;
} builder;

static const float *require(builder *b, const char *name, int ndim, const int64_t *dims)
{
    const float *data = NULL;
    if (!b->g->status) {
        fr_status st = fr_weights_require(b->w, name, ndim, dims, &data);
        if (st)
            b->g->status = st;
    }
    return data;
}

/* Conv2D (no bias) + BatchNormalization(scale=False) + ReLU, folded:
 * w' = w / sqrt(var + eps), b' = beta - mean / sqrt(var + eps). */
static int conv_bn(builder *b, const char *layer, int in, int out, int c_out, int kh, int kw,
                   int stride, fr_padding padding)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    int c_in = g->tensors[in].c;
    char name[160];
    int64_t kdims[4] = {kh, kw, c_in, c_out}, vdims[1] = {c_out};
    snprintf(name, sizeof name, "%s/kernel", layer);
    const float *kernel = require(b, name, 4, kdims);
    snprintf(name, sizeof name, "%s_BatchNorm/beta", layer);
    const float *beta = require(b, name, 1, vdims);
    snprintf(name, sizeof name, "%s_BatchNorm/moving_mean", layer);
    const float *mean = require(b, name, 1, vdims);
    snprintf(name, sizeof name, "%s_BatchNorm/moving_variance", layer);
    const float *var = require(b, name, 1, vdims);
    size_t kk = (size_t)kh * (size_t)kw * (size_t)c_in;
    size_t woff = fr_graph_reserve(g, (size_t)c_out * kk);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    float *wf = g->params + woff, *bf = g->params + boff;
    for (int o = 0; o < c_out; o++) {
        double inv = 1.0 / sqrt((double)var[o] + BN_EPSILON);
        for (size_t p = 0; p < (size_t)kh * kw; p++)
            for (int i = 0; i < c_in; i++)
                wf[(size_t)o * kk + p * c_in + i] =
                    (float)(kernel[(p * c_in + i) * c_out + o] * inv);
        bf[o] = (float)(beta[o] - mean[o] * inv);
    }
    return fr_graph_conv(g, layer, in, out, c_out, kh, kw, stride, stride, padding, FR_ACT_RELU,
                         woff, boff);
}

/* The residual "Up" 1x1 convolution with bias: x = act(x + scale * (conv(mixed) + bias)). */
static int up_residual(builder *b, const char *block, int mixed, int x, double scale,
                       fr_activation act)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    int c_in = g->tensors[mixed].c, c_out = g->tensors[x].c;
    char layer[128], name[160];
    snprintf(layer, sizeof layer, "%s_Conv2d_1x1", block);
    int64_t kdims[4] = {1, 1, c_in, c_out}, vdims[1] = {c_out};
    snprintf(name, sizeof name, "%s/kernel", layer);
    const float *kernel = require(b, name, 4, kdims);
    snprintf(name, sizeof name, "%s/bias", layer);
    const float *bias = require(b, name, 1, vdims);
    size_t woff = fr_graph_reserve(g, (size_t)c_out * c_in);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    float *wf = g->params + woff, *bf = g->params + boff;
    for (int o = 0; o < c_out; o++) {
        for (int i = 0; i < c_in; i++)
            wf[(size_t)o * c_in + i] = (float)(kernel[(size_t)i * c_out + o] * scale);
        bf[o] = (float)(bias[o] * scale);
    }
    return fr_graph_conv_accumulate(g, layer, mixed, x, 1, 1, FR_PAD_SAME, act, woff, boff);
}

static void branch_name(char *out, size_t size, const char *block, const char *rest)
{
    snprintf(out, size, "%s_%s", block, rest);
}

static int block35(builder *b, const char *block, int x)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    char n[128];
    int h = g->tensors[x].h, w = g->tensors[x].w;
    int mixed = fr_graph_tensor(g, h, w, 96);
    branch_name(n, sizeof n, block, "Branch_0_Conv2d_1x1");
    conv_bn(b, n, x, fr_graph_view(g, mixed, 0, 32), 32, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0a_1x1");
    int t = conv_bn(b, n, x, -1, 32, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0b_3x3");
    conv_bn(b, n, t, fr_graph_view(g, mixed, 32, 32), 32, 3, 3, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_2_Conv2d_0a_1x1");
    t = conv_bn(b, n, x, -1, 32, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_2_Conv2d_0b_3x3");
    t = conv_bn(b, n, t, -1, 32, 3, 3, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_2_Conv2d_0c_3x3");
    conv_bn(b, n, t, fr_graph_view(g, mixed, 64, 32), 32, 3, 3, 1, FR_PAD_SAME);
    return up_residual(b, block, mixed, x, 0.17, FR_ACT_RELU);
}

static int block17(builder *b, const char *block, int x)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    char n[128];
    int mixed = fr_graph_tensor(g, g->tensors[x].h, g->tensors[x].w, 256);
    branch_name(n, sizeof n, block, "Branch_0_Conv2d_1x1");
    conv_bn(b, n, x, fr_graph_view(g, mixed, 0, 128), 128, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0a_1x1");
    int t = conv_bn(b, n, x, -1, 128, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0b_1x7");
    t = conv_bn(b, n, t, -1, 128, 1, 7, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0c_7x1");
    conv_bn(b, n, t, fr_graph_view(g, mixed, 128, 128), 128, 7, 1, 1, FR_PAD_SAME);
    return up_residual(b, block, mixed, x, 0.10, FR_ACT_RELU);
}

static int block8(builder *b, const char *block, int x, double scale, fr_activation act)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    char n[128];
    int mixed = fr_graph_tensor(g, g->tensors[x].h, g->tensors[x].w, 384);
    branch_name(n, sizeof n, block, "Branch_0_Conv2d_1x1");
    conv_bn(b, n, x, fr_graph_view(g, mixed, 0, 192), 192, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0a_1x1");
    int t = conv_bn(b, n, x, -1, 192, 1, 1, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0b_1x3");
    t = conv_bn(b, n, t, -1, 192, 1, 3, 1, FR_PAD_SAME);
    branch_name(n, sizeof n, block, "Branch_1_Conv2d_0c_3x1");
    conv_bn(b, n, t, fr_graph_view(g, mixed, 192, 192), 192, 3, 1, 1, FR_PAD_SAME);
    return up_residual(b, block, mixed, x, scale, act);
}

/* Mixed_6a: 17x17x256 -> 8x8x896 = [3x3/2 conv 384 | 1x1 192, 3x3 192, 3x3/2 256 | maxpool]. */
static int mixed_6a(builder *b, int x)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    int h = (g->tensors[x].h - 3) / 2 + 1, w = (g->tensors[x].w - 3) / 2 + 1;
    int out = fr_graph_tensor(g, h, w, 896);
    conv_bn(b, "Mixed_6a_Branch_0_Conv2d_1a_3x3", x, fr_graph_view(g, out, 0, 384), 384, 3, 3, 2,
            FR_PAD_VALID);
    int t = conv_bn(b, "Mixed_6a_Branch_1_Conv2d_0a_1x1", x, -1, 192, 1, 1, 1, FR_PAD_SAME);
    t = conv_bn(b, "Mixed_6a_Branch_1_Conv2d_0b_3x3", t, -1, 192, 3, 3, 1, FR_PAD_SAME);
    conv_bn(b, "Mixed_6a_Branch_1_Conv2d_1a_3x3", t, fr_graph_view(g, out, 384, 256), 256, 3, 3,
            2, FR_PAD_VALID);
    fr_graph_pool(g, "Mixed_6a_Branch_2_MaxPool_1a_3x3", FR_OP_MAX_POOL, x,
                  fr_graph_view(g, out, 640, 256), 3, 2, FR_PAD_VALID);
    return out;
}

/* Mixed_7a: 8x8x896 -> 3x3x1792 = [1x1 256, 3x3/2 384 | 1x1 256, 3x3/2 256 |
 * 1x1 256, 3x3 256, 3x3/2 256 | maxpool]. */
static int mixed_7a(builder *b, int x)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    int h = (g->tensors[x].h - 3) / 2 + 1, w = (g->tensors[x].w - 3) / 2 + 1;
    int out = fr_graph_tensor(g, h, w, 1792);
    int t = conv_bn(b, "Mixed_7a_Branch_0_Conv2d_0a_1x1", x, -1, 256, 1, 1, 1, FR_PAD_SAME);
    conv_bn(b, "Mixed_7a_Branch_0_Conv2d_1a_3x3", t, fr_graph_view(g, out, 0, 384), 384, 3, 3, 2,
            FR_PAD_VALID);
    t = conv_bn(b, "Mixed_7a_Branch_1_Conv2d_0a_1x1", x, -1, 256, 1, 1, 1, FR_PAD_SAME);
    conv_bn(b, "Mixed_7a_Branch_1_Conv2d_1a_3x3", t, fr_graph_view(g, out, 384, 256), 256, 3, 3,
            2, FR_PAD_VALID);
    t = conv_bn(b, "Mixed_7a_Branch_2_Conv2d_0a_1x1", x, -1, 256, 1, 1, 1, FR_PAD_SAME);
    t = conv_bn(b, "Mixed_7a_Branch_2_Conv2d_0b_3x3", t, -1, 256, 3, 3, 1, FR_PAD_SAME);
    conv_bn(b, "Mixed_7a_Branch_2_Conv2d_1a_3x3", t, fr_graph_view(g, out, 640, 256), 256, 3, 3,
            2, FR_PAD_VALID);
    fr_graph_pool(g, "Mixed_7a_Branch_3_MaxPool_1a_3x3", FR_OP_MAX_POOL, x,
                  fr_graph_view(g, out, 896, 896), 3, 2, FR_PAD_VALID);
    return out;
}

/* Dense(1792 -> 128, no bias) + BatchNormalization(axis 1, scale=False): what `facerec train`
 * learns. */
const fr_head_spec fr_irv1_head = {"Bottleneck", "Bottleneck/kernel",
                                   "Bottleneck_BatchNorm/beta", "Bottleneck_BatchNorm/moving_mean",
                                   "Bottleneck_BatchNorm/moving_variance", BN_EPSILON};

/* The head, folded into a 1x1 convolution over the pooled (1, 1, 1792) tensor. */
static int bottleneck(builder *b, int x)
{
    fr_graph *g = b->g;
    if (g->status)
        return -1;
    int c_in = g->tensors[x].c;
    int64_t kdims[2] = {c_in, 128}, vdims[1] = {128};
    const fr_head_spec *h = &fr_irv1_head;
    const float *kernel = require(b, h->kernel, 2, kdims);
    const float *beta = require(b, h->bn_beta, 1, vdims);
    const float *mean = require(b, h->bn_mean, 1, vdims);
    const float *var = require(b, h->bn_variance, 1, vdims);
    size_t woff = fr_graph_reserve(g, (size_t)128 * c_in);
    size_t boff = fr_graph_reserve(g, 128);
    if (g->status)
        return -1;
    float *wf = g->params + woff, *bf = g->params + boff;
    for (int o = 0; o < 128; o++) {
        double inv = 1.0 / sqrt((double)var[o] + BN_EPSILON);
        for (int i = 0; i < c_in; i++)
            wf[(size_t)o * c_in + i] = (float)(kernel[(size_t)i * 128 + o] * inv);
        bf[o] = (float)(beta[o] - mean[o] * inv);
    }
    return fr_graph_conv(g, h->node, x, -1, 128, 1, 1, 1, 1, FR_PAD_VALID, FR_ACT_NONE, woff,
                         boff);
}

int fr_irv1_build(const fr_weights *w, fr_graph *g, int input)
{
    builder b = {w, g};
    int x = conv_bn(&b, "Conv2d_1a_3x3", input, -1, 32, 3, 3, 2, FR_PAD_VALID);
    x = conv_bn(&b, "Conv2d_2a_3x3", x, -1, 32, 3, 3, 1, FR_PAD_VALID);
    x = conv_bn(&b, "Conv2d_2b_3x3", x, -1, 64, 3, 3, 1, FR_PAD_SAME);
    x = fr_graph_pool(g, "MaxPool_3a_3x3", FR_OP_MAX_POOL, x, -1, 3, 2, FR_PAD_VALID);
    x = conv_bn(&b, "Conv2d_3b_1x1", x, -1, 80, 1, 1, 1, FR_PAD_VALID);
    x = conv_bn(&b, "Conv2d_4a_3x3", x, -1, 192, 3, 3, 1, FR_PAD_VALID);
    x = conv_bn(&b, "Conv2d_4b_3x3", x, -1, 256, 3, 3, 2, FR_PAD_VALID);
    char block[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(block, sizeof block, "Block35_%d", i);
        x = block35(&b, block, x);
    }
    x = mixed_6a(&b, x);
    for (int i = 1; i <= 10; i++) {
        snprintf(block, sizeof block, "Block17_%d", i);
        x = block17(&b, block, x);
    }
    x = mixed_7a(&b, x);
    for (int i = 1; i <= 5; i++) {
        snprintf(block, sizeof block, "Block8_%d", i);
        x = block8(&b, block, x, 0.20, FR_ACT_RELU);
    }
    x = block8(&b, "Block8_6", x, 1.0, FR_ACT_NONE);
    x = fr_graph_global_avg(g, "AvgPool", x);
    return bottleneck(&b, x);
}
