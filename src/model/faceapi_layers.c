/*
 * faceapi_layers.c: the pieces face-api's tfjs networks share (the 68-point landmark net,
 * landmark68.c, and the TinyFaceDetector, tinyface.c): a tensor looked up by its layer prefix,
 * and face-api's depthwise-separable convolution with its tfjs layouts repacked.
 */
#include <stdio.h>

#include "core/error.h"
#include "model/model_internal.h"

const float *fr_faceapi_tensor(const fr_weights *w, fr_graph *g, const char *prefix,
                               const char *what, int ndim, const int64_t *dims)
{
    if (g->status)
        return NULL;
    char name[160];
    const float *data = NULL;
    fr_status st = snprintf(name, sizeof name, "%s/%s", prefix, what) < (int)sizeof name
                       ? fr_weights_require(w, name, ndim, dims, &data)
                       : fr_fail(FR_E_INTERNAL, "face-api weights: name %s/%s too long", prefix,
                                 what);
    if (st)
        g->status = st;
    return data;
}

int fr_faceapi_separable(const fr_weights *w, fr_graph *g, const char *prefix, int in,
                         int c_out, int stride, fr_activation act, int residual)
{
    if (g->status || in < 0)
        return -1;
    int c = g->tensors[in].c;
    int64_t ddims[4] = {3, 3, c, 1}, pdims[4] = {1, 1, c, c_out}, vdims[1] = {c_out};
    const float *dw = fr_faceapi_tensor(w, g, prefix, "depthwise_filter", 4, ddims);
    const float *pw = fr_faceapi_tensor(w, g, prefix, "pointwise_filter", 4, pdims);
    const float *bias = fr_faceapi_tensor(w, g, prefix, "bias", 1, vdims);
    size_t dwoff = fr_graph_reserve(g, (size_t)c * 9);
    size_t dboff = fr_graph_reserve(g, (size_t)c); /* zeros: the depthwise step has no bias */
    size_t pwoff = fr_graph_reserve(g, (size_t)c_out * (size_t)c);
    size_t pboff = fr_graph_reserve(g, (size_t)c_out);
    if (g->status)
        return -1;
    for (int k = 0; k < c; k++)
        for (int t = 0; t < 9; t++)
            g->params[dwoff + (size_t)k * 9 + (size_t)t] = dw[(size_t)t * (size_t)c + (size_t)k];
    for (int o = 0; o < c_out; o++) {
        for (int i = 0; i < c; i++)
            g->params[pwoff + (size_t)o * (size_t)c + (size_t)i] =
                pw[(size_t)i * (size_t)c_out + (size_t)o];
        g->params[pboff + (size_t)o] = bias[o];
    }
    char name[128];
    snprintf(name, sizeof name, "%s/depthwise", prefix);
    int d = fr_graph_conv_grouped(g, name, in, -1, c, c, 3, 3, stride, stride, FR_PAD_SAME,
                                  FR_ACT_NONE, dwoff, dboff);
    snprintf(name, sizeof name, "%s/pointwise", prefix);
    if (residual >= 0)
        return fr_graph_conv_accumulate(g, name, d, residual, 1, 1, FR_PAD_SAME, act, pwoff,
                                        pboff);
    return fr_graph_conv(g, name, d, -1, c_out, 1, 1, 1, 1, FR_PAD_SAME, act, pwoff, pboff);
}
