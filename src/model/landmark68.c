/*
 * landmark68.c: face-api's 68-point face landmark network (FaceLandmark68Net: its
 * FaceFeatureExtractor and a fully connected head; src/faceLandmarkNet and
 * src/faceFeatureExtractor in @vladmandic/face-api), as shipped in its
 * face_landmark_68_model.
 *
 * 112x112 RGB, minus face-api's mean RGB, /255 (the normalize node), then four dense blocks
 *   dense0 (32: 112 -> 56), dense1 (64: -> 28), dense2 (128: -> 14), dense3 (256: -> 7)
 * each: out1 = relu(conv0(x), stride 2); out2 = conv1(out1); out3 = conv2(relu(out1 + out2));
 *       out4 = conv3(relu(out1 + out2 + out3)); block = relu(out1 + out2 + out3 + out4)
 * dense0's conv0 is a plain 3x3 convolution + bias; every other conv is separable (tfjs
 * separableConv2d, SAME): a 3x3 depthwise convolution without bias, then a 1x1 convolution
 * + bias. Then a 7x7/2 VALID average pool (7 -> 1) and fc 256 -> 136: x0, y0, x1, y1, ... of
 * the 68 points as fractions of the (padded, square) input.
 *
 * The sums of a block are add nodes: out1 + out2 is needed both as it is and through a
 * ReLU, so two adds compute them; out4 goes straight onto out1 + out2 + out3 (a residual
 * convolution with the block's final ReLU).
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* The plain 3x3 stride-2 convolution of dense0: filters (3, 3, c_in, c_out) -> OHWI. */
static int first_conv(const fr_weights *w, fr_graph *g, const char *prefix, int in, int c_out)
{
    if (g->status || in < 0)
        return -1; /* an earlier node failed (out of memory): the graph reports it */
    int c_in = g->tensors[in].c;
    int64_t fdims[4] = {3, 3, c_in, c_out}, vdims[1] = {c_out};
    const float *filters = fr_faceapi_tensor(w, g, prefix, "filters", 4, fdims);
    const float *bias = fr_faceapi_tensor(w, g, prefix, "bias", 1, vdims);
    size_t k = 9 * (size_t)c_in;
    size_t woff = fr_graph_reserve(g, (size_t)c_out * k);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    for (int o = 0; o < c_out; o++) {
        for (size_t i = 0; i < k; i++)
            g->params[woff + (size_t)o * k + i] = filters[i * (size_t)c_out + (size_t)o];
        g->params[boff + (size_t)o] = bias[o];
    }
    return fr_graph_conv(g, prefix, in, -1, c_out, 3, 3, 2, 2, FR_PAD_SAME, FR_ACT_RELU, woff,
                         boff);
}


static int add(fr_graph *g, const char *prefix, const char *what, int a, int b,
               fr_activation act)
{
    if (g->status)
        return -1;
    char name[128];
    snprintf(name, sizeof name, "%s/%s", prefix, what);
    const fr_tensor *t = &g->tensors[a];
    return fr_graph_add(g, name, a, b, t->h, t->w, t->c, act);
}

/* face-api's denseBlock4 (isScaleDown: conv0 has stride 2). */
static int dense_block(const fr_weights *w, fr_graph *g, const char *prefix, int x, int c_out,
                       int first)
{
    char name[128];
    snprintf(name, sizeof name, "%s/conv0", prefix);
    int out1 = first ? first_conv(w, g, name, x, c_out)
                     : fr_faceapi_separable(w, g, name, x, c_out, 2, FR_ACT_RELU, -1);
    snprintf(name, sizeof name, "%s/conv1", prefix);
    int out2 = fr_faceapi_separable(w, g, name, out1, c_out, 1, FR_ACT_NONE, -1);
    int sum2 = add(g, prefix, "out1+out2", out1, out2, FR_ACT_NONE);
    int in3 = add(g, prefix, "relu(out1+out2)", out1, out2, FR_ACT_RELU);
    snprintf(name, sizeof name, "%s/conv2", prefix);
    int out3 = fr_faceapi_separable(w, g, name, in3, c_out, 1, FR_ACT_NONE, -1);
    int sum3 = add(g, prefix, "out1+out2+out3", sum2, out3, FR_ACT_NONE);
    int in4 = add(g, prefix, "relu(out1+out2+out3)", sum2, out3, FR_ACT_RELU);
    snprintf(name, sizeof name, "%s/conv3", prefix);
    return fr_faceapi_separable(w, g, name, in4, c_out, 1, FR_ACT_RELU, sum3);
}

int fr_landmark68_build(const fr_weights *w, fr_graph *g, int input)
{
    int x = dense_block(w, g, "dense0", input, 32, 1);
    x = dense_block(w, g, "dense1", x, 64, 0);
    x = dense_block(w, g, "dense2", x, 128, 0);
    x = dense_block(w, g, "dense3", x, 256, 0);
    x = fr_graph_pool(g, "avgpool", FR_OP_AVG_POOL, x, -1, 7, 2, FR_PAD_VALID);
    if (g->status)
        return -1;
    if (g->tensors[x].h != 1 || g->tensors[x].w != 1) {
        g->status = fr_fail(FR_E_INTERNAL, "landmark68: features of %dx%d, not 1x1",
                            g->tensors[x].h, g->tensors[x].w);
        return -1;
    }

    /* fc: weights (256, 136) as (in, out), bias (136): a 1x1 convolution */
    int64_t wdims[2] = {256, FR_LANDMARK68_OUTPUTS}, bdims[1] = {FR_LANDMARK68_OUTPUTS};
    const float *fw = fr_faceapi_tensor(w, g, "fc", "weights", 2, wdims);
    const float *fb = fr_faceapi_tensor(w, g, "fc", "bias", 1, bdims);
    size_t woff = fr_graph_reserve(g, (size_t)FR_LANDMARK68_OUTPUTS * 256);
    size_t boff = fr_graph_reserve(g, FR_LANDMARK68_OUTPUTS);
    if (g->status)
        return -1;
    for (int o = 0; o < FR_LANDMARK68_OUTPUTS; o++) {
        for (int i = 0; i < 256; i++)
            g->params[woff + (size_t)o * 256 + (size_t)i] =
                fw[(size_t)i * FR_LANDMARK68_OUTPUTS + (size_t)o];
        g->params[boff + (size_t)o] = fb[o];
    }
    return fr_graph_conv(g, "fc", x, -1, FR_LANDMARK68_OUTPUTS, 1, 1, 1, 1, FR_PAD_VALID,
                         FR_ACT_NONE, woff, boff);
}
