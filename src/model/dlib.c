/*
 * dlib.c: the dlib-style ResNet face descriptor (dlib_face_recognition_resnet_model_v1), as
 * shipped and computed by face-api (src/faceRecognitionNet in @vladmandic/face-api).
 *
 * 150x150 RGB, minus the mean RGB, /255 (the normalize node), then
 *   conv 7x7/2 valid (32) + relu, maxpool 3/2 valid                        72 -> 35
 *   residual x3 at 32; down to 64 (17), x3; down to 128 (8), x2; down to 256 (3, padded to 4),
 *   x2; down to 256 (1, padded to 2); mean over space; fc 256 -> 128 (no bias).
 * Every conv is conv + bias, then a per-channel scale layer (weights, biases): folded here as
 * w' = w * s, b' = b * s + t. A residual block is relu(x + conv2(relu(conv1(x)))); a "down"
 * block has conv1 stride 2 'valid' and adds the 2x2/2 average pool of x, zero-padded in
 * channels, and where the convolution comes out one smaller than the pool (8 -> 3 vs 4,
 * 4 -> 1 vs 2) face-api zero-pads it at the bottom and right: the add node's zero extension.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* conv (filters (kh, kw, c_in, c_out), bias) + scale (weights, biases), folded to OHWI. */
static int conv_scale(const fr_weights *w, fr_graph *g, const char *prefix, int in, int out,
                      int c_out, int k, int stride, fr_padding padding, fr_activation act,
                      int accumulate)
{
    if (g->status)
        return -1;
    int c_in = g->tensors[in].c;
    char name[160];
    const float *filters, *bias, *scale, *shift;
    snprintf(name, sizeof name, "%s/conv/filters", prefix);
    int64_t fdims[4] = {k, k, c_in, c_out}, vdims[1] = {c_out};
    fr_status st = fr_weights_require(w, name, 4, fdims, &filters);
    snprintf(name, sizeof name, "%s/conv/bias", prefix);
    if (!st)
        st = fr_weights_require(w, name, 1, vdims, &bias);
    snprintf(name, sizeof name, "%s/scale/weights", prefix);
    if (!st)
        st = fr_weights_require(w, name, 1, vdims, &scale);
    snprintf(name, sizeof name, "%s/scale/biases", prefix);
    if (!st)
        st = fr_weights_require(w, name, 1, vdims, &shift);
    if (st) {
        g->status = st;
        return -1;
    }
    size_t kk = (size_t)k * (size_t)k * (size_t)c_in;
    size_t woff = fr_graph_reserve(g, (size_t)c_out * kk);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    float *wf = g->params + woff, *bf = g->params + boff;
    for (int o = 0; o < c_out; o++) {
        for (int y = 0; y < k; y++)
            for (int x = 0; x < k; x++)
                for (int i = 0; i < c_in; i++)
                    wf[(size_t)o * kk + ((size_t)y * k + x) * c_in + i] =
                        filters[(((size_t)y * k + x) * c_in + i) * c_out + o] * scale[o];
        bf[o] = (float)((double)bias[o] * scale[o] + shift[o]);
    }
    snprintf(name, sizeof name, "%s", prefix);
    if (accumulate)
        return fr_graph_conv_accumulate(g, name, in, out, k, k, padding, act, woff, boff);
    return fr_graph_conv(g, name, in, out, c_out, k, k, stride, stride, padding, act, woff, boff);
}

static int residual(const fr_weights *w, fr_graph *g, const char *prefix, int x)
{
    if (g->status)
        return -1;
    int c = g->tensors[x].c;
    char name[128];
    snprintf(name, sizeof name, "%s/conv1", prefix);
    int h = conv_scale(w, g, name, x, -1, c, 3, 1, FR_PAD_SAME, FR_ACT_RELU, 0);
    snprintf(name, sizeof name, "%s/conv2", prefix);
    return conv_scale(w, g, name, h, x, c, 3, 1, FR_PAD_SAME, FR_ACT_RELU, 1);
}

static int residual_down(const fr_weights *w, fr_graph *g, const char *prefix, int x, int c_out)
{
    char name[128];
    snprintf(name, sizeof name, "%s/conv1", prefix);
    int h = conv_scale(w, g, name, x, -1, c_out, 3, 2, FR_PAD_VALID, FR_ACT_RELU, 0);
    snprintf(name, sizeof name, "%s/conv2", prefix);
    int t = conv_scale(w, g, name, h, -1, c_out, 3, 1, FR_PAD_SAME, FR_ACT_NONE, 0);
    snprintf(name, sizeof name, "%s/avgpool", prefix);
    int p = fr_graph_pool(g, name, FR_OP_AVG_POOL, x, -1, 2, 2, FR_PAD_VALID);
    if (g->status)
        return -1;
    const fr_tensor *tp = &g->tensors[p], *tt = &g->tensors[t];
    int hh = tp->h > tt->h ? tp->h : tt->h, ww = tp->w > tt->w ? tp->w : tt->w;
    snprintf(name, sizeof name, "%s/add", prefix);
    return fr_graph_add(g, name, p, t, hh, ww, tt->c, FR_ACT_RELU);
}

/* The final fully connected layer, what `facerec train` learns. */
const fr_head_spec fr_dlib_head = {"fc", "fc", NULL, NULL, NULL, 0.0};

int fr_dlib_build(const fr_weights *w, fr_graph *g, int input)
{
    int x = conv_scale(w, g, "conv32_down", input, -1, 32, 7, 2, FR_PAD_VALID, FR_ACT_RELU, 0);
    x = fr_graph_pool(g, "maxpool", FR_OP_MAX_POOL, x, -1, 3, 2, FR_PAD_VALID);
    x = residual(w, g, "conv32_1", x);
    x = residual(w, g, "conv32_2", x);
    x = residual(w, g, "conv32_3", x);
    x = residual_down(w, g, "conv64_down", x, 64);
    x = residual(w, g, "conv64_1", x);
    x = residual(w, g, "conv64_2", x);
    x = residual(w, g, "conv64_3", x);
    x = residual_down(w, g, "conv128_down", x, 128);
    x = residual(w, g, "conv128_1", x);
    x = residual(w, g, "conv128_2", x);
    x = residual_down(w, g, "conv256_down", x, 256);
    x = residual(w, g, "conv256_1", x);
    x = residual(w, g, "conv256_2", x);
    x = residual_down(w, g, "conv256_down_out", x, 256);
    x = fr_graph_global_avg(g, "mean", x);
    if (g->status)
        return -1;

    /* fc: (256, 128) as (in, out); a 1x1 convolution over the pooled vector, zero bias. */
    const float *fc;
    int64_t dims[2] = {256, 128};
    fr_status st = fr_weights_require(w, fr_dlib_head.kernel, 2, dims, &fc);
    if (st) {
        g->status = st;
        return -1;
    }
    size_t woff = fr_graph_reserve(g, 128 * 256);
    size_t boff = fr_graph_reserve(g, 128);
    if (g->status)
        return -1;
    float *wf = g->params + woff;
    for (int o = 0; o < 128; o++)
        for (int i = 0; i < 256; i++)
            wf[(size_t)o * 256 + i] = fc[(size_t)i * 128 + o];
    return fr_graph_conv(g, fr_dlib_head.node, x, -1, 128, 1, 1, 1, 1, FR_PAD_VALID, FR_ACT_NONE,
                         woff, boff);
}
