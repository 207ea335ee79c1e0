/*
 * tinyface.c: face-api's TinyFaceDetector (src/tinyFaceDetector, src/tinyYolov2 of
 * @vladmandic/face-api: TinyYolov2Base.runMobilenet with withSeparableConvs,
 * isFirstLayerConv2d and filter sizes 3, 16, 32, 64, 128, 256, 512), as shipped in its
 * tiny_face_detector_model: a Tiny-YOLOv2 with depthwise-separable convolutions.
 *
 * Input: a square of side s (a multiple of 32, 128..608; face-api's default 416), minus
 * the detector's mean RGB (117.001, 114.697, 97.404), /255. Then
 *   conv0   3x3 VALID convolution 3 -> 16 + bias, leaky ReLU (0.1)      s - 2
 *   maxpool 2x2 stride 2 SAME                                             ceil((s - 2) / 2)
 *   conv1..conv5: separable (pad 1, i.e. SAME: 3x3 depthwise, no bias; 1x1 pointwise + bias),
 *           leaky ReLU, 16 -> 32 -> 64 -> 128 -> 256 -> 512, each but conv5 followed by
 *           maxpool 2x2 stride 2 SAME; conv5 by maxpool 2x2 stride 1 SAME
 *   conv8   1x1 convolution 512 -> 25 + bias: per cell, 5 anchors x (x, y, w, h, score)
 * The output is (cells, cells, 25), cells = s / 32 (13 at 416). face-api's leaky ReLU is
 * relu(x - 0.1x) + 0.1x, here a PReLU of slope 0.1 (equal to within a float rounding).
 * The decode of the cells (sigmoid, anchors, exp) is a vision op (runtime/vision.h:
 * tiny_boxes), not part of the network.
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

#define LEAK 0.1f

/* c_out slopes of LEAK for the node just added (face-api's leaky). */
static int leaky(fr_graph *g, int out, int c_out)
{
    size_t aoff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status || out < 0)
        return -1;
    for (int o = 0; o < c_out; o++)
        g->params[aoff + (size_t)o] = LEAK;
    g->nodes[g->node_count - 1].alpha = aoff;
    return out;
}

/* A plain k x k VALID convolution: filters (k, k, c_in, c_out) -> OHWI, bias (c_out). */
static int plain_conv(const fr_weights *w, fr_graph *g, const char *prefix, int in, int k,
                      int c_out, fr_activation act)
{
    if (g->status || in < 0)
        return -1;
    int c_in = g->tensors[in].c;
    int64_t fdims[4] = {k, k, c_in, c_out}, vdims[1] = {c_out};
    const float *filters = fr_faceapi_tensor(w, g, prefix, "filters", 4, fdims);
    const float *bias = fr_faceapi_tensor(w, g, prefix, "bias", 1, vdims);
    size_t taps = (size_t)k * (size_t)k * (size_t)c_in;
    size_t woff = fr_graph_reserve(g, (size_t)c_out * taps);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    for (int o = 0; o < c_out; o++) {
        for (size_t i = 0; i < taps; i++)
            g->params[woff + (size_t)o * taps + i] = filters[i * (size_t)c_out + (size_t)o];
        g->params[boff + (size_t)o] = bias[o];
    }
    int out = fr_graph_conv(g, prefix, in, -1, c_out, k, k, 1, 1, FR_PAD_VALID, act, woff, boff);
    return act == FR_ACT_PRELU ? leaky(g, out, c_out) : out;
}

/* depthwiseSeparableConv: pad 1, 3x3 depthwise (no bias), 1x1 pointwise + bias, leaky. */
static int separable(const fr_weights *w, fr_graph *g, const char *prefix, int in, int c_out)
{
    return leaky(g, fr_faceapi_separable(w, g, prefix, in, c_out, 1, FR_ACT_PRELU, -1), c_out);
}

int fr_tinyface_build(const fr_weights *w, fr_graph *g, int input)
{
    if (g->status)
        return -1;
    /* the detector's own mean (TinyFaceDetector's MEAN_RGB), not the recognition net's */
    static const float MEAN[3] = {117.001f, 114.697f, 97.404f};
    for (int i = 0; i < g->node_count; i++)
        if (g->nodes[i].kind == FR_OP_NORMALIZE && g->nodes[i].out == input)
            for (int c = 0; c < 3; c++) {
                g->nodes[i].mean[c] = MEAN[c];
                g->nodes[i].scale[c] = 1.0f / 255.0f;
            }
    static const int FILTERS[] = {32, 64, 128, 256, 512};
    int x = plain_conv(w, g, "conv0", input, 3, 16, FR_ACT_PRELU);
    x = fr_graph_pool(g, "conv0/maxpool", FR_OP_MAX_POOL, x, -1, 2, 2, FR_PAD_SAME);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "conv%d", i + 1);
        x = separable(w, g, name, x, FILTERS[i]);
        snprintf(name, sizeof name, "conv%d/maxpool", i + 1);
        x = fr_graph_pool(g, name, FR_OP_MAX_POOL, x, -1, 2, i < 4 ? 2 : 1, FR_PAD_SAME);
    }
    return plain_conv(w, g, "conv8", x, 1, FR_TINYFACE_OUTPUTS, FR_ACT_NONE);
}
