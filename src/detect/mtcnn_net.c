/*
 * mtcnn_net.c: P-Net, R-Net and O-Net built from their weights, and the converter from the
 * per-tensor .npy files. One table per network drives both, so the converter copies exactly
 * the tensors the builder will require.
 *
 *   P-Net (any h x w): conv 3x3 10, PReLU, maxpool 2/2 SAME, conv 3x3 16, PReLU,
 *                      conv 3x3 32, PReLU, 1x1 heads 2 + 4             (12x12 -> one cell)
 *   R-Net (24 x 24):   conv 3x3 28, PReLU, maxpool 3/2 SAME, conv 3x3 48, PReLU,
 *                      maxpool 3/2 VALID, conv 2x2 64, PReLU, dense 128, PReLU, heads 2 + 4
 *   O-Net (48 x 48):   conv 3x3 32, PReLU, maxpool 3/2 SAME, conv 3x3 64, PReLU,
 *                      maxpool 3/2 VALID, conv 3x3 64, PReLU, maxpool 2/2 SAME,
 *                      conv 2x2 128, PReLU, dense 256, PReLU, heads 2 + 4 + 10
 * Convolutions are VALID, stride 1 (facenet's layer definitions). A dense layer is a VALID
 * convolution whose kernel covers its whole input; the heads of a network share one
 * convolution (their weights side by side), so each network has a single output.
 */
#include "detect/mtcnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/sha256.h"
#include "model/convert.h"
#include "model/weights.h"

typedef enum layer_kind { CONV, POOL, DENSE } layer_kind;

typedef struct layer {
    layer_kind kind;
    const char *name;  /* conv/dense: weights and biases */
    const char *prelu; /* its PReLU layer (alpha) */
    int k, stride;     /* conv kernel; pool window and stride */
    fr_padding padding;
    int c_out;
} layer;

typedef struct head {
    const char *name;
    int c_out;
} head;

typedef struct net_spec {
    const char *net; /* "det1" */
    const layer *layers;
    int layer_count;
    const head *heads;
    int head_count;
} net_spec;

static const layer PNET[] = {
    {CONV, "conv1", "PReLU1", 3, 1, FR_PAD_VALID, 10},
    {POOL, "pool1", NULL, 2, 2, FR_PAD_SAME, 0},
    {CONV, "conv2", "PReLU2", 3, 1, FR_PAD_VALID, 16},
    {CONV, "conv3", "PReLU3", 3, 1, FR_PAD_VALID, 32},
};
static const head PNET_HEADS[] = {{"conv4-1", 2}, {"conv4-2", 4}};

static const layer RNET[] = {
    {CONV, "conv1", "prelu1", 3, 1, FR_PAD_VALID, 28},
    {POOL, "pool1", NULL, 3, 2, FR_PAD_SAME, 0},
    {CONV, "conv2", "prelu2", 3, 1, FR_PAD_VALID, 48},
    {POOL, "pool2", NULL, 3, 2, FR_PAD_VALID, 0},
    {CONV, "conv3", "prelu3", 2, 1, FR_PAD_VALID, 64},
    {DENSE, "conv4", "prelu4", 0, 1, FR_PAD_VALID, 128},
};
static const head RNET_HEADS[] = {{"conv5-1", 2}, {"conv5-2", 4}};

static const layer ONET[] = {
    {CONV, "conv1", "prelu1", 3, 1, FR_PAD_VALID, 32},
    {POOL, "pool1", NULL, 3, 2, FR_PAD_SAME, 0},
    {CONV, "conv2", "prelu2", 3, 1, FR_PAD_VALID, 64},
    {POOL, "pool2", NULL, 3, 2, FR_PAD_VALID, 0},
    {CONV, "conv3", "prelu3", 3, 1, FR_PAD_VALID, 64},
    {POOL, "pool3", NULL, 2, 2, FR_PAD_SAME, 0},
    {CONV, "conv4", "prelu4", 2, 1, FR_PAD_VALID, 128},
    {DENSE, "conv5", "prelu5", 0, 1, FR_PAD_VALID, 256},
};
static const head ONET_HEADS[] = {{"conv6-1", 2}, {"conv6-2", 4}, {"conv6-3", 10}};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
static const net_spec NETS[3] = {
    {"det1", PNET, COUNT(PNET), PNET_HEADS, COUNT(PNET_HEADS)},
    {"det2", RNET, COUNT(RNET), RNET_HEADS, COUNT(RNET_HEADS)},
    {"det3", ONET, COUNT(ONET), ONET_HEADS, COUNT(ONET_HEADS)},
};

struct fr_mtcnn {
    fr_weights *weights;
};

/* ---- building ------------------------------------------------------------------------------ */

static const float *require(const fr_weights *w, fr_graph *g, const char *net, const char *layer_name,
                            const char *what, int ndim, const int64_t *dims)
{
    const float *data = NULL;
    if (g->status)
        return NULL;
    char name[128];
    snprintf(name, sizeof name, "%s/%s/%s", net, layer_name, what);
    fr_status st = fr_weights_require(w, name, ndim, dims, &data);
    if (st)
        g->status = st;
    return data;
}

/* A VALID convolution with a k_h x k_w kernel given as (k_h * k_w * c_in, c_out) rows in
 * (y, x, c) order (both the (kh, kw, c_in, c_out) kernels and the dense matrices over an
 * NHWC-flattened input are that), copied to the graph's (c_out, kh, kw, c_in), then PReLU. */
static int conv_prelu(const fr_weights *w, fr_graph *g, const char *net, const layer *l, int in)
{
    if (g->status)
        return -1;
    const fr_tensor *x = &g->tensors[in];
    int kh = l->kind == DENSE ? x->h : l->k, kw = l->kind == DENSE ? x->w : l->k, c_in = x->c;
    size_t k_size = (size_t)kh * kw * c_in;
    int64_t conv_dims[4] = {kh, kw, c_in, l->c_out}, dense_dims[2] = {(int64_t)k_size, l->c_out};
    int64_t vec[1] = {l->c_out};
    const float *kernel = l->kind == DENSE ? require(w, g, net, l->name, "weights", 2, dense_dims)
                                           : require(w, g, net, l->name, "weights", 4, conv_dims);
    const float *bias = require(w, g, net, l->name, "biases", 1, vec);
    const float *alpha = require(w, g, net, l->prelu, "alpha", 1, vec);
    size_t woff = fr_graph_reserve(g, (size_t)l->c_out * k_size);
    size_t boff = fr_graph_reserve(g, (size_t)l->c_out);
    size_t aoff = fr_graph_reserve(g, (size_t)l->c_out);
    if (g->status)
        return -1;
    float *wf = g->params + woff;
    for (int o = 0; o < l->c_out; o++) {
        for (size_t i = 0; i < k_size; i++)
            wf[(size_t)o * k_size + i] = kernel[i * (size_t)l->c_out + (size_t)o];
        g->params[boff + (size_t)o] = bias[o];
        g->params[aoff + (size_t)o] = alpha[o];
    }
    char name[64];
    snprintf(name, sizeof name, "%s/%s", net, l->name);
    int out = fr_graph_conv(g, name, in, -1, l->c_out, kh, kw, 1, 1, FR_PAD_VALID, FR_ACT_PRELU,
                            woff, boff);
    if (out >= 0)
        g->nodes[g->node_count - 1].alpha = aoff;
    return out;
}

/* The heads side by side as one 1x1 convolution over a (h, w, c_in) map. */
static int heads(const fr_weights *w, fr_graph *g, const net_spec *spec, int in)
{
    if (g->status)
        return -1;
    int c_in = g->tensors[in].c, c_out = 0;
    for (int i = 0; i < spec->head_count; i++)
        c_out += spec->heads[i].c_out;
    size_t woff = fr_graph_reserve(g, (size_t)c_out * c_in);
    size_t boff = fr_graph_reserve(g, (size_t)c_out);
    for (int i = 0, o0 = 0; i < spec->head_count && !g->status; i++) {
        const head *h = &spec->heads[i];
        int64_t conv_dims[4] = {1, 1, c_in, h->c_out}, dense_dims[2] = {c_in, h->c_out};
        int64_t vec[1] = {h->c_out};
        /* P-Net's heads are 1x1 convolutions, the others dense layers: the same numbers */
        const float *kernel = spec == &NETS[0]
                                  ? require(w, g, spec->net, h->name, "weights", 4, conv_dims)
                                  : require(w, g, spec->net, h->name, "weights", 2, dense_dims);
        const float *bias = require(w, g, spec->net, h->name, "biases", 1, vec);
        if (g->status)
            break;
        for (int o = 0; o < h->c_out; o++) {
            for (int c = 0; c < c_in; c++)
                g->params[woff + (size_t)(o0 + o) * c_in + c] = kernel[(size_t)c * h->c_out + o];
            g->params[boff + (size_t)(o0 + o)] = bias[o];
        }
        o0 += h->c_out;
    }
    char name[64];
    snprintf(name, sizeof name, "%s/heads", spec->net);
    return fr_graph_conv(g, name, in, -1, c_out, 1, 1, 1, 1, FR_PAD_VALID, FR_ACT_NONE, woff, boff);
}

static fr_status build(const fr_weights *w, const net_spec *spec, int h, int wd, fr_graph **out)
{
    fr_graph *g = fr_graph_new(h, wd);
    if (!g)
        return FR_E_NOMEM;
    static const float mean[3] = {127.5f, 127.5f, 127.5f};
    static const float scale[3] = {0.0078125f, 0.0078125f, 0.0078125f};
    int x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 1);
    for (int i = 0; i < spec->layer_count && x >= 0; i++) {
        const layer *l = &spec->layers[i];
        if (l->kind == POOL) {
            char name[64];
            snprintf(name, sizeof name, "%s/%s", spec->net, l->name);
            x = fr_graph_pool(g, name, FR_OP_MAX_POOL, x, -1, l->k, l->stride, l->padding);
        } else {
            x = conv_prelu(w, g, spec->net, l, x);
        }
    }
    x = heads(w, g, spec, x);
    fr_status st = x >= 0 ? fr_graph_finalize(g, x) : g->status;
    if (st) {
        fr_graph_free(g);
        return st ? st : fr_fail(FR_E_INTERNAL, "%s: graph build failed", spec->net);
    }
    *out = g;
    return FR_OK;
}

fr_status fr_mtcnn_pnet(const fr_mtcnn *m, int h, int w, fr_graph **out)
{
    if (h < FR_MTCNN_PNET_MIN || w < FR_MTCNN_PNET_MIN || h > FR_MTCNN_PNET_MAX ||
        w > FR_MTCNN_PNET_MAX)
        return fr_fail(FR_E_INVALID, "P-Net input %dx%d outside %d..%d", w, h,
                       FR_MTCNN_PNET_MIN, FR_MTCNN_PNET_MAX);
    return build(m->weights, &NETS[0], h, w, out);
}

void fr_mtcnn_pnet_cells(int h, int w, int *xcells, int *ycells)
{
    /* conv 3x3 VALID, pool 2/2 SAME (ceil), conv 3x3, conv 3x3; x and y swapped (the
     * transposing normalization) */
    *xcells = (w - 2 + 1) / 2 - 4;
    *ycells = (h - 2 + 1) / 2 - 4;
}

fr_status fr_mtcnn_rnet(const fr_mtcnn *m, fr_graph **out)
{
    return build(m->weights, &NETS[1], FR_MTCNN_RNET_SIZE, FR_MTCNN_RNET_SIZE, out);
}

fr_status fr_mtcnn_onet(const fr_mtcnn *m, fr_graph **out)
{
    return build(m->weights, &NETS[2], FR_MTCNN_ONET_SIZE, FR_MTCNN_ONET_SIZE, out);
}

void fr_mtcnn_free(fr_mtcnn *m)
{
    if (!m)
        return;
    fr_weights_close(m->weights);
    free(m);
}

const char *fr_mtcnn_path(const fr_mtcnn *m)
{
    return fr_weights_path(m->weights);
}

fr_status fr_mtcnn_load(const char *path, fr_mtcnn **out)
{
    fr_weights *w;
    fr_status st = fr_weights_open(path, &w);
    if (st)
        return st;
    const char *arch = fr_weights_meta_string(w, "arch");
    if (!arch || strcmp(arch, "mtcnn") != 0) {
        st = fr_fail(FR_E_MODEL_MISMATCH, "%s: holds a %s model, not the MTCNN face detector", path,
                     arch ? arch : "(unnamed)");
        fr_weights_close(w);
        return st;
    }
    fr_mtcnn *m = fr_calloc(1, sizeof *m, "a face detector");
    if (!m) {
        fr_weights_close(w);
        return FR_E_NOMEM;
    }
    m->weights = w;
    /* prove every tensor is there with its shape: build each network once */
    fr_graph *g = NULL;
    st = fr_mtcnn_pnet(m, FR_MTCNN_PNET_MIN, FR_MTCNN_PNET_MIN, &g);
    fr_graph_free(g);
    g = NULL;
    if (!st)
        st = fr_mtcnn_rnet(m, &g);
    fr_graph_free(g);
    g = NULL;
    if (!st)
        st = fr_mtcnn_onet(m, &g);
    fr_graph_free(g);
    if (st) {
        if (!strstr(fr_error_message(), path))
            fr_error_prefix(path);
        fr_mtcnn_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

/* ---- converting -------------------------------------------------------------------------- */

typedef struct tensor_file {
    char name[96]; /* det1/conv1/weights */
} tensor_file;

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const tensor_file *)a)->name, ((const tensor_file *)b)->name);
}

static int add_name(tensor_file *files, int n, const char *net, const char *layer_name,
                    const char *what)
{
    snprintf(files[n].name, sizeof files[n].name, "%s/%s/%s", net, layer_name, what);
    return n + 1;
}

/* Every tensor the builders require, sorted by name. */
static int tensor_names(tensor_file *files)
{
    int n = 0;
    for (int i = 0; i < 3; i++) {
        const net_spec *s = &NETS[i];
        for (int j = 0; j < s->layer_count; j++) {
            if (s->layers[j].kind == POOL)
                continue;
            n = add_name(files, n, s->net, s->layers[j].name, "weights");
            n = add_name(files, n, s->net, s->layers[j].name, "biases");
            n = add_name(files, n, s->net, s->layers[j].prelu, "alpha");
        }
        for (int j = 0; j < s->head_count; j++) {
            n = add_name(files, n, s->net, s->heads[j].name, "weights");
            n = add_name(files, n, s->net, s->heads[j].name, "biases");
        }
    }
    qsort(files, (size_t)n, sizeof *files, compare_names);
    return n;
}

static fr_status check_mtcnn(const char *path)
{
    fr_mtcnn *m = NULL; /* set on success (gcc cannot see it through the inlined free) */
    fr_status st = fr_mtcnn_load(path, &m);
    if (!st)
        fr_mtcnn_free(m);
    return st;
}

fr_status fr_mtcnn_convert(const char *dir, const char *output)
{
    tensor_file files[64];
    int n = tensor_names(files);
    fr_weights_writer *wr = fr_weights_writer_new();
    if (!wr)
        return FR_E_NOMEM;
    /* provenance: the SHA-256 of `sha256sum` lines over the files in name order, i.e.
     * (cd DIR && sha256sum $(find det? -name '*.npy' | LC_ALL=C sort) | sha256sum) */
    fr_sha256_list listing = {NULL, 0};
    fr_status st = FR_OK;
    for (int i = 0; i < n && !st; i++) {
        char path[4096];
        fr_npy npy = {0};
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, files[i].name) >= (int)sizeof path)
            st = fr_fail(FR_E_INVALID, "%s: path too long", dir);
        if (!st)
            st = fr_npy_load(path, &npy);
        if (!st && (npy.dtype != FR_NPY_F32 || npy.ndim < 1 || npy.ndim > FR_WEIGHTS_MAX_DIMS))
            st = fr_fail(FR_E_FORMAT, "%s: expected a float32 array of 1 to %d dimensions", path,
                         FR_WEIGHTS_MAX_DIMS);
        if (!st) {
            int64_t dims[FR_WEIGHTS_MAX_DIMS];
            for (int d = 0; d < npy.ndim; d++)
                dims[d] = (int64_t)npy.shape[d];
            st = fr_weights_writer_tensor(wr, files[i].name, npy.ndim, dims, npy.data);
        }
        fr_npy_free(&npy);
        char hash[65];
        if (!st)
            st = fr_sha256_file(path, hash);
        if (!st) /* named as sha256sum names it from DIR: "det1/conv1/weights.npy" */
            st = fr_sha256_list_add(&listing, hash, path + strlen(dir) + 1);
    }
    char sha[65];
    fr_sha256_list_finish(&listing, sha);
    if (!st)
        st = fr_weights_writer_string(wr, "arch", "mtcnn");
    if (!st)
        st = fr_weights_writer_string(wr, "source", "det1.npy det2.npy det3.npy of "
                                      "davidsandberg/facenet src/align (MIT), as per-tensor .npy");
    if (!st)
        st = fr_weights_writer_string(wr, "source_sha256", sha);
    if (!st)
        st = fr_weights_writer_string(wr, "converter", "mtcnn-npy");
    if (!st)
        st = fr_convert_save_checked(wr, output, check_mtcnn, "MTCNN", dir);
    fr_weights_writer_free(wr);
    return st;
}
