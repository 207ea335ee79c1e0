/*
 * onnx_build.c: an imported ONNX program (onnx.h) onto the engine's graph.
 *
 * Values are named as in the ONNX file. A value is either a tensor of the graph or a pending
 * convolution: one whose weights are still being edited, so that what follows it folds in
 * while it is the value's only consumer (batch-norm and constant scales and offsets into
 * weights and bias, ReLU/PReLU as its activation). A pending convolution is emitted into the
 * graph when something else needs its output, in program order, so the graph's order stays
 * topological. Shapes are per image (h, w, c), NHWC; a flattened value keeps the (h, w, c)
 * its elements came from, which a dense layer after it needs to read ONNX's CHW order.
 */
#include "model/onnx.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

int fr_onnx_escape(const char *name, char *out, size_t size)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        int plain = *p > ' ' && *p < 127 && *p != '=' && *p != ',' && *p != '%';
        if (n + (plain ? 1 : 3) >= size)
            return 0;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = HEX[*p >> 4];
            out[n++] = HEX[*p & 15];
        }
    }
    out[n] = 0;
    return 1;
}

/* In place: %XX back to the byte. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        unsigned hi, lo;
        if (*r == '%' && r[1] && r[2] && sscanf(r + 1, "%1x%1x", &hi, &lo) == 2) {
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

/* ---- one program line ------------------------------------------------------------------------ */

#define MAX_INPUTS 5

typedef struct line {
    char op[16];
    char *out;
    char *in[MAX_INPUTS];
    int inputs;
    int k[2], s[2], p[4], g, t;
    long size;
    double eps;
    char *text; /* owned copy the names point into */
} line;

static int parse_ints(const char *v, int *out, int count)
{
    for (int i = 0; i < count; i++) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || x < -1 || x > 1000000 || (i + 1 < count ? *end != ',' : *end != 0))
            return 0;
        out[i] = (int)x;
        v = end + 1;
    }
    return 1;
}

static fr_status parse_line(const char *path, size_t index, const char *text, line *l)
{
    memset(l, 0, sizeof *l);
    l->g = 1;
    l->s[0] = l->s[1] = 1;
    l->eps = 1e-5;
    l->size = -1;
    l->text = fr_strdup(text);
    if (!l->text)
        return FR_E_NOMEM;
    char *save = NULL, *tok = strtok_r(l->text, " ", &save);
    if (!tok || strlen(tok) >= sizeof l->op)
        goto bad;
    snprintf(l->op, sizeof l->op, "%s", tok);
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        if (!eq)
            goto bad;
        *eq = 0;
        char *v = eq + 1;
        if (strcmp(tok, "out") == 0) {
            l->out = v;
            unescape(v);
        } else if (strcmp(tok, "in") == 0) {
            for (char *s2 = NULL, *name = strtok_r(v, ",", &s2); name;
                 name = strtok_r(NULL, ",", &s2)) {
                if (l->inputs == MAX_INPUTS)
                    goto bad;
                unescape(name);
                l->in[l->inputs++] = name;
            }
        } else if (strcmp(tok, "k") == 0 ? !parse_ints(v, l->k, 2)
                   : strcmp(tok, "s") == 0 ? !parse_ints(v, l->s, 2)
                   : strcmp(tok, "p") == 0 ? !parse_ints(v, l->p, 4)
                   : strcmp(tok, "g") == 0 ? !parse_ints(v, &l->g, 1)
                   : strcmp(tok, "t") == 0 ? !parse_ints(v, &l->t, 1)
                                           : 0) {
            goto bad;
        } else if (strcmp(tok, "size") == 0) {
            char *end;
            l->size = strtol(v, &end, 10);
            if (*end)
                goto bad;
        } else if (strcmp(tok, "eps") == 0) {
            char *end;
            l->eps = strtod(v, &end);
            if (*end || !(l->eps >= 0))
                goto bad;
        }
    }
    if (!l->out || l->inputs == 0)
        goto bad;
    return FR_OK;
bad:
    free(l->text);
    l->text = NULL;
    return fr_fail(FR_E_FORMAT, "%s: onnx.node.%zu is malformed ('%.80s'); convert the model "
                   "again with `facerec convert --from onnx`", path, index, text);
}

/* ---- values -------------------------------------------------------------------------------- */

typedef struct pending {
    int in;               /* graph tensor */
    int c_out, kh, kw, sh, sw, pads[4], groups;
    float *weight;        /* (c_out, kh, kw, c_in / groups) */
    float *bias;          /* (c_out) */
    float *alpha;         /* PReLU slopes or NULL */
    fr_activation act;
    char name[96];
} pending;

typedef struct value {
    const char *name;
    int tensor;           /* graph tensor, or -1 while pending */
    pending *conv;
    int h, w, c;          /* per image; a flattened value: 1, 1, h*w*c of its source */
    int flat;             /* 1: flattened from a tensor of shape (th, tw, tc) */
    int th, tw, tc;
    int uses;             /* consumers not yet built */
} value;

typedef struct builder {
    const fr_weights *weights;
    fr_graph *g;
    const char *path;
    value *values;
    int count, capacity;
    line *lines;
    size_t line_count;
    const char *node; /* the line's output, for messages */
    char **kept;      /* names the builder made (build_clamp), freed with it */
    int kept_count;
} builder;

static fr_status keep(builder *b, char *name)
{
    char **grown = realloc(b->kept, (size_t)(b->kept_count + 1) * sizeof *grown);
    if (!grown) {
        free(name);
        return FR_E_NOMEM;
    }
    b->kept = grown;
    b->kept[b->kept_count++] = name;
    return FR_OK;
}

static fr_status fail(const builder *b, const char *format, const char *detail)
{
    char message[512];
    snprintf(message, sizeof message, format, detail);
    return fr_fail(FR_E_FORMAT, "%s: ONNX node '%s': %s", b->path, b->node, message);
}

static value *find(builder *b, const char *name)
{
    for (int i = b->count - 1; i >= 0; i--)
        if (strcmp(b->values[i].name, name) == 0)
            return &b->values[i];
    return NULL;
}

static int name_uses(const builder *b, const char *name)
{
    int uses = 0;
    for (size_t i = 0; i < b->line_count; i++)
        for (int k = 0; k < b->lines[i].inputs; k++)
            uses += strcmp(b->lines[i].in[k], name) == 0;
    return uses;
}

static value *new_value(builder *b, const char *name, int h, int w, int c)
{
    if (b->count == b->capacity) {
        int cap = b->capacity ? 2 * b->capacity : 256;
        value *grown = realloc(b->values, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        b->values = grown;
        b->capacity = cap;
    }
    value *v = &b->values[b->count++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->tensor = -1;
    v->h = h;
    v->w = w;
    v->c = c;
    v->uses = name_uses(b, name);
    return v;
}

static void free_pending(pending *p)
{
    if (!p)
        return;
    free(p->weight);
    free(p->bias);
    free(p->alpha);
    free(p);
}

/* Emits a pending convolution into the graph; a grouped one (neither 1 group nor depthwise)
 * as one convolution per group on channel slices of its input and output. */
static fr_status materialize(builder *b, value *v)
{
    pending *p = v->conv;
    if (!p)
        return FR_OK;
    fr_graph *g = b->g;
    const fr_tensor *x = &g->tensors[p->in];
    int c_in = x->c, groups = p->groups;
    int depthwise = groups > 1 && groups == c_in && p->c_out == c_in;
    int parts = groups == 1 || depthwise ? 1 : groups;
    int per_in = c_in / groups, per_out = p->c_out / groups;
    size_t per_weight = (size_t)(parts == 1 ? p->c_out : per_out) * p->kh * p->kw * per_in;
    int out = -1;
    if (parts > 1) {
        int ho = (x->h + p->pads[0] + p->pads[2] - p->kh) / p->sh + 1;
        int wo = (x->w + p->pads[1] + p->pads[3] - p->kw) / p->sw + 1;
        out = fr_graph_tensor(g, ho, wo, p->c_out);
    }
    for (int part = 0; part < parts; part++) {
        int c_here = parts == 1 ? p->c_out : per_out;
        size_t weight = fr_graph_reserve(g, per_weight);
        size_t bias = fr_graph_reserve(g, (size_t)c_here);
        size_t alpha = p->alpha ? fr_graph_reserve(g, (size_t)c_here) : FR_NO_PARAM;
        if (g->status)
            return g->status;
        memcpy(g->params + weight, p->weight + (size_t)part * per_weight,
               per_weight * sizeof(float));
        memcpy(g->params + bias, p->bias + (size_t)part * c_here, (size_t)c_here * sizeof(float));
        if (p->alpha)
            memcpy(g->params + alpha, p->alpha + (size_t)part * c_here,
                   (size_t)c_here * sizeof(float));
        int in = parts == 1 ? p->in : fr_graph_view(g, p->in, part * per_in, per_in);
        int dst = parts == 1 ? -1 : fr_graph_view(g, out, part * per_out, per_out);
        char name[96];
        if (parts > 1)
            snprintf(name, sizeof name, "%.80s/g%d", p->name, part);
        else
            snprintf(name, sizeof name, "%s", p->name);
        int r = fr_graph_conv_explicit(g, name, in, dst, c_here, depthwise ? groups : 1, p->kh,
                                       p->kw, p->sh, p->sw, p->pads, p->act, weight, bias);
        if (r < 0)
            return g->status;
        if (p->alpha)
            g->nodes[g->node_count - 1].alpha = alpha;
        if (parts == 1)
            out = r;
    }
    v->tensor = out;
    v->conv = NULL;
    free_pending(p);
    return FR_OK;
}

/* An input of the current line that must be an activation, materialized. */
static fr_status operand(builder *b, const char *name, value **out)
{
    value *v = find(b, name);
    if (!v)
        return fail(b, "input '%s' is neither an earlier output nor the image", name);
    fr_status st = materialize(b, v);
    if (st)
        return st;
    v->uses--;
    *out = v;
    return FR_OK;
}

static const fr_weights_tensor *constant(const builder *b, const char *name)
{
    return fr_weights_find(b->weights, name);
}

/* Values of a per-channel constant for c channels: a scalar, (c), (c, 1, 1) or (1, c, 1, 1)
 * (any shape of c or 1 elements, the other axes 1). */
static fr_status per_channel(const builder *b, const char *name, int c, const float **data,
                             int *broadcast)
{
    const fr_weights_tensor *t = constant(b, name);
    if (!t)
        return fail(b, "'%s' is not a constant", name);
    if (t->count != (size_t)c && t->count != 1)
        return fail(b, "constant '%s' is neither a scalar nor one value per channel", name);
    int channel_axes = 0;
    for (int d = 0; d < t->ndim; d++)
        channel_axes += t->dims[d] != 1;
    if (channel_axes > 1)
        return fail(b, "constant '%s' varies along more than the channel axis", name);
    *data = t->data;
    *broadcast = t->count == 1 && c != 1;
    return FR_OK;
}

static pending *new_pending(int in, int c_out, int kh, int kw, int c_in_per_group)
{
    pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    size_t nw = (size_t)c_out * kh * kw * c_in_per_group;
    p->weight = calloc(nw ? nw : 1, sizeof(float));
    p->bias = calloc((size_t)c_out, sizeof(float));
    if (!p->weight || !p->bias) {
        free_pending(p);
        return NULL;
    }
    p->in = in;
    p->c_out = c_out;
    p->kh = kh;
    p->kw = kw;
    p->sh = p->sw = 1;
    p->groups = 1;
    return p;
}

/* The value of `out` as a pending per-channel 1x1 (depthwise) convolution of x: identity
 * weights, zero bias, for an affine or activation that has no convolution to fold into. */
static fr_status pending_identity(builder *b, value *x, const char *out, value **result)
{
    if (x->flat && (x->th > 1 || x->tw > 1))
        return fail(b, "%s: per-channel operation on a flattened map", out);
    pending *p = new_pending(x->tensor, x->c, 1, 1, 1);
    if (!p)
        return FR_E_NOMEM;
    for (int k = 0; k < x->c; k++)
        p->weight[k] = 1.0f;
    p->groups = x->c;
    snprintf(p->name, sizeof p->name, "%s", out);
    value *v = new_value(b, out, x->h, x->w, x->c);
    if (!v) {
        free_pending(p);
        return FR_E_NOMEM;
    }
    v->conv = p;
    *result = v;
    return FR_OK;
}

/* The value x feeds into a per-channel step: itself when it is a pending convolution without
 * an activation that nothing else reads (the step folds into it, renamed to `out`), else a
 * new pending identity over it. */
static fr_status foldable(builder *b, const char *in, const char *out, value **result)
{
    value *x = find(b, in);
    if (!x)
        return fail(b, "input '%s' is neither an earlier output nor the image", in);
    if (x->conv && x->uses == 1 && x->conv->act == FR_ACT_NONE) {
        x->uses = name_uses(b, out);
        x->name = out;
        snprintf(x->conv->name, sizeof x->conv->name, "%s", out);
        *result = x;
        return FR_OK;
    }
    fr_status st = operand(b, in, &x);
    return st ? st : pending_identity(b, x, out, result);
}

/* The bias of y = conv(x) * m + a, per output channel (the weights: scale_weights). */
static void fold_affine(pending *p, const float *m, int m_broadcast, const float *a,
                        int a_broadcast)
{
    for (int k = 0; k < p->c_out; k++) {
        double mk = m ? (double)m[m_broadcast ? 0 : k] : 1.0;
        double ak = a ? (double)a[a_broadcast ? 0 : k] : 0.0;
        p->bias[k] = (float)(p->bias[k] * mk + ak);
    }
}

static size_t weights_per_output(const builder *b, const pending *p)
{
    int c_in = b->g->tensors[p->in].c;
    return (size_t)p->kh * p->kw * (size_t)(c_in / p->groups);
}

static void scale_weights(const builder *b, pending *p, const float *m, int broadcast)
{
    size_t per = weights_per_output(b, p);
    for (int k = 0; k < p->c_out; k++) {
        float mk = m[broadcast ? 0 : k];
        for (size_t i = 0; i < per; i++)
            p->weight[(size_t)k * per + i] *= mk;
    }
}

/* ---- ops ----------------------------------------------------------------------------------- */

static fr_status build_conv(builder *b, const line *l)
{
    if (l->inputs < 2)
        return fail(b, "%s", "conv without weights");
    const fr_weights_tensor *w = constant(b, l->in[1]);
    if (!w || w->ndim != 4)
        return fail(b, "weights '%s' are not a 4-d constant", l->in[1]);
    value *x = NULL;
    fr_status st = operand(b, l->in[0], &x);
    if (st)
        return st;
    if (x->flat)
        return fail(b, "%s", "convolution of a flattened tensor");
    int c_out = (int)w->dims[0], per_in = (int)w->dims[1], kh = (int)w->dims[2],
        kw = (int)w->dims[3], groups = l->g;
    if (groups < 1 || x->c % groups || c_out % groups || per_in != x->c / groups)
        return fail(b, "weights '%s' do not fit the input's channels and groups", l->in[1]);
    if (kh != l->k[0] || kw != l->k[1] || l->s[0] < 1 || l->s[1] < 1)
        return fail(b, "%s", "kernel or strides out of range");
    for (int i = 0; i < 4; i++)
        if (l->p[i] < 0 || l->p[i] >= (i % 2 ? kw : kh))
            return fail(b, "%s", "padding of a kernel's size or more");
    int ho = (x->h + l->p[0] + l->p[2] - kh) / l->s[0] + 1;
    int wo = (x->w + l->p[1] + l->p[3] - kw) / l->s[1] + 1;
    if (x->h + l->p[0] + l->p[2] < kh || x->w + l->p[1] + l->p[3] < kw)
        return fail(b, "%s", "kernel larger than its padded input");
    const float *bias = NULL;
    if (l->inputs > 2) {
        const fr_weights_tensor *bt = constant(b, l->in[2]);
        if (!bt || bt->count != (size_t)c_out)
            return fail(b, "bias '%s' is not one value per output channel", l->in[2]);
        bias = bt->data;
    }
    pending *p = new_pending(x->tensor, c_out, kh, kw, per_in);
    if (!p)
        return FR_E_NOMEM;
    /* ONNX (c_out, c_in / groups, kh, kw) -> (c_out, kh, kw, c_in / groups) */
    for (int m = 0; m < c_out; m++)
        for (int c = 0; c < per_in; c++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    p->weight[(((size_t)m * kh + i) * kw + j) * per_in + c] =
                        w->data[(((size_t)m * per_in + c) * kh + i) * kw + j];
    if (bias)
        memcpy(p->bias, bias, (size_t)c_out * sizeof(float));
    p->sh = l->s[0];
    p->sw = l->s[1];
    memcpy(p->pads, l->p, sizeof p->pads);
    p->groups = groups;
    snprintf(p->name, sizeof p->name, "%s", l->out);
    value *v = new_value(b, l->out, ho, wo, c_out);
    if (!v) {
        free_pending(p);
        return FR_E_NOMEM;
    }
    v->conv = p;
    return FR_OK;
}

static fr_status build_dense(builder *b, const line *l)
{
    if (l->inputs < 2)
        return fail(b, "%s", "dense layer without weights");
    const fr_weights_tensor *w = constant(b, l->in[1]);
    if (!w || w->ndim != 2)
        return fail(b, "weights '%s' are not a constant matrix", l->in[1]);
    value *x = NULL;
    fr_status st = operand(b, l->in[0], &x);
    if (st)
        return st;
    int th = x->flat ? x->th : x->h, tw = x->flat ? x->tw : x->w, tc = x->flat ? x->tc : x->c;
    if (!x->flat && (x->h != 1 || x->w != 1))
        return fail(b, "%s", "a dense layer needs a flattened input");
    size_t k_size = (size_t)th * tw * tc;
    size_t m_out = (size_t)(l->t ? w->dims[0] : w->dims[1]);
    size_t k_w = (size_t)(l->t ? w->dims[1] : w->dims[0]);
    if (k_w != k_size || m_out < 1 || m_out > 1000000)
        return fail(b, "weights '%s' do not fit the input's size", l->in[1]);
    const float *bias = NULL;
    if (l->inputs > 2) {
        const fr_weights_tensor *bt = constant(b, l->in[2]);
        if (!bt || bt->count != m_out)
            return fail(b, "bias '%s' is not one value per output", l->in[2]);
        bias = bt->data;
    }
    pending *p = new_pending(x->tensor, (int)m_out, th, tw, tc);
    if (!p)
        return FR_E_NOMEM;
    /* ONNX's flat index f = (c * th + y) * tw + x; the engine's kernel is (m, y, x, c) */
    for (size_t m = 0; m < m_out; m++)
        for (int c = 0; c < tc; c++)
            for (int y = 0; y < th; y++)
                for (int xx = 0; xx < tw; xx++) {
                    size_t f = ((size_t)c * th + y) * tw + xx;
                    p->weight[((m * th + y) * tw + xx) * tc + c] =
                        l->t ? w->data[m * k_size + f] : w->data[f * m_out + m];
                }
    if (bias)
        memcpy(p->bias, bias, m_out * sizeof(float));
    snprintf(p->name, sizeof p->name, "%s", l->out);
    value *v = new_value(b, l->out, 1, 1, (int)m_out);
    if (!v) {
        free_pending(p);
        return FR_E_NOMEM;
    }
    v->conv = p;
    return FR_OK;
}

static fr_status build_bn(builder *b, const line *l)
{
    if (l->inputs != 5)
        return fail(b, "%s", "batch-norm needs scale, bias, mean and variance");
    value *x = find(b, l->in[0]);
    if (!x)
        return fail(b, "input '%s' is neither an earlier output nor the image", l->in[0]);
    int c = x->c;
    const float *gamma, *beta, *mean, *var;
    int bg, bb, bm, bv;
    fr_status st = per_channel(b, l->in[1], c, &gamma, &bg);
    if (!st)
        st = per_channel(b, l->in[2], c, &beta, &bb);
    if (!st)
        st = per_channel(b, l->in[3], c, &mean, &bm);
    if (!st)
        st = per_channel(b, l->in[4], c, &var, &bv);
    if (st)
        return st;
    value *v;
    st = foldable(b, l->in[0], l->out, &v);
    if (st)
        return st;
    float *m = malloc((size_t)c * sizeof *m), *a = malloc((size_t)c * sizeof *a);
    if (!m || !a) {
        free(m);
        free(a);
        return FR_E_NOMEM;
    }
    /* y = (x - mean) * gamma / sqrt(var + eps) + beta, in double */
    for (int k = 0; k < c; k++) {
        double s = gamma[bg ? 0 : k] / sqrt((double)var[bv ? 0 : k] + l->eps);
        m[k] = (float)s;
        a[k] = (float)(beta[bb ? 0 : k] - mean[bm ? 0 : k] * s);
    }
    scale_weights(b, v->conv, m, 0);
    fold_affine(v->conv, m, 0, a, 0);
    free(m);
    free(a);
    return FR_OK;
}

/* add, sub, mul, div: with a constant operand a per-channel affine that folds; add of two
 * activations (a residual) a graph add. */
static fr_status build_binary(builder *b, const line *l)
{
    if (l->inputs != 2)
        return fail(b, "%s", "expects two operands");
    int const0 = find(b, l->in[0]) == NULL && constant(b, l->in[0]) != NULL;
    int const1 = find(b, l->in[1]) == NULL && constant(b, l->in[1]) != NULL;
    if (!const0 && !const1) {
        if (strcmp(l->op, "add") != 0)
            return fail(b, "%s of two activations is not supported", l->op);
        value *x = NULL, *y = NULL;
        fr_status st = operand(b, l->in[0], &x);
        if (!st)
            st = operand(b, l->in[1], &y);
        if (st)
            return st;
        if (x->flat || y->flat || x->h != y->h || x->w != y->w || x->c != y->c)
            return fail(b, "%s", "operands of different shapes (broadcasting is not supported)");
        int t = fr_graph_add(b->g, l->out, x->tensor, y->tensor, x->h, x->w, x->c, FR_ACT_NONE);
        if (t < 0)
            return b->g->status;
        value *v = new_value(b, l->out, x->h, x->w, x->c);
        if (!v)
            return FR_E_NOMEM;
        v->tensor = t;
        return FR_OK;
    }
    if (const0 && const1)
        return fail(b, "%s", "both operands are constants");
    if (const0 && (strcmp(l->op, "sub") == 0 || strcmp(l->op, "div") == 0))
        return fail(b, "%s", "constant minus or over an activation is not supported");
    const char *xname = const0 ? l->in[1] : l->in[0], *cname = const0 ? l->in[0] : l->in[1];
    value *x = find(b, xname);
    if (!x)
        return fail(b, "input '%s' is neither an earlier output nor the image", xname);
    const float *k;
    int broadcast;
    fr_status st = per_channel(b, cname, x->c, &k, &broadcast);
    if (st)
        return st;
    int n = broadcast ? 1 : x->c;
    float *m = NULL, *a = NULL;
    if (l->op[0] == 'm' || l->op[0] == 'd') {
        m = malloc((size_t)n * sizeof *m);
        for (int i = 0; m && i < n; i++)
            m[i] = l->op[0] == 'm' ? k[i] : (float)(1.0 / (double)k[i]);
    } else {
        a = malloc((size_t)n * sizeof *a);
        for (int i = 0; a && i < n; i++)
            a[i] = l->op[0] == 'a' ? k[i] : -k[i];
    }
    if (!m && !a)
        return FR_E_NOMEM;
    value *v;
    st = foldable(b, xname, l->out, &v);
    if (!st) {
        if (m)
            scale_weights(b, v->conv, m, broadcast);
        fold_affine(v->conv, m, broadcast, a, broadcast);
    }
    free(m);
    free(a);
    return st;
}

static fr_status build_activation(builder *b, const line *l)
{
    int prelu = strcmp(l->op, "prelu") == 0;
    if (l->inputs != (prelu ? 2 : 1))
        return fail(b, "%s", "unexpected operands");
    value *x = find(b, l->in[0]);
    if (!x)
        return fail(b, "input '%s' is neither an earlier output nor the image", l->in[0]);
    const float *slope = NULL;
    int broadcast = 0;
    if (prelu) {
        fr_status st = per_channel(b, l->in[1], x->c, &slope, &broadcast);
        if (st)
            return st;
    }
    value *v;
    fr_status st = foldable(b, l->in[0], l->out, &v);
    if (st)
        return st;
    pending *p = v->conv;
    p->act = prelu ? FR_ACT_PRELU : FR_ACT_RELU;
    if (prelu) {
        p->alpha = malloc((size_t)p->c_out * sizeof(float));
        if (!p->alpha)
            return FR_E_NOMEM;
        for (int k = 0; k < p->c_out; k++)
            p->alpha[k] = slope[broadcast ? 0 : k];
    }
    return FR_OK;
}

/* min and max with a scalar constant c (TensorFlow's ReLU6 is Relu, Minimum 6, Maximum 0):
 * min(x, c) = c - relu(c - x) and max(x, c) = c + relu(x - c), per-channel affines around a
 * ReLU, so they fold where they can and are 1x1 depthwise convolutions where they cannot
 * (every backend runs those); max(x, 0) is a ReLU. */
static fr_status build_clamp(builder *b, const line *l)
{
    if (l->inputs != 2)
        return fail(b, "%s", "expects an activation and a scalar constant");
    value *x = find(b, l->in[0]);
    const fr_weights_tensor *k = constant(b, l->in[1]);
    if (!x)
        return fail(b, "input '%s' is neither an earlier output nor the image", l->in[0]);
    if (!k || k->count != 1)
        return fail(b, "'%s' is not a scalar constant", l->in[1]);
    float c = k->data[0];
    int is_min = strcmp(l->op, "min") == 0;
    float m = is_min ? -1.0f : 1.0f, a = is_min ? c : -c;
    value *v;
    fr_status st = foldable(b, l->in[0], l->out, &v);
    if (st)
        return st;
    scale_weights(b, v->conv, &m, 1);
    fold_affine(v->conv, &m, 1, &a, 1);
    v->conv->act = FR_ACT_RELU;
    if (!is_min && c == 0.0f)
        return FR_OK;
    /* the ReLU's output, then (c - it) or (c + it) as a pending affine named l->out */
    char inner[160];
    snprintf(inner, sizeof inner, "%.150s/relu", l->out);
    snprintf(v->conv->name, sizeof v->conv->name, "%.95s", inner);
    char *owned = fr_strdup(inner);
    if (!owned || (st = keep(b, owned)) != FR_OK)
        return owned ? st : FR_E_NOMEM;
    v->name = owned;
    v->uses = 1;
    if ((st = operand(b, owned, &x)) != FR_OK)
        return st;
    if ((st = pending_identity(b, x, l->out, &v)) != FR_OK)
        return st;
    m = is_min ? -1.0f : 1.0f;
    a = c;
    scale_weights(b, v->conv, &m, 1);
    fold_affine(v->conv, &m, 1, &a, 1);
    return FR_OK;
}

static fr_status build_line(builder *b, const line *l)
{
    b->node = l->out;
    if (find(b, l->out))
        return fail(b, "%s", "an output name written twice");
    if (strcmp(l->op, "conv") == 0)
        return build_conv(b, l);
    if (strcmp(l->op, "dense") == 0)
        return build_dense(b, l);
    if (strcmp(l->op, "bn") == 0)
        return build_bn(b, l);
    if (strcmp(l->op, "prelu") == 0 || strcmp(l->op, "relu") == 0)
        return build_activation(b, l);
    if (strcmp(l->op, "min") == 0 || strcmp(l->op, "max") == 0)
        return build_clamp(b, l);
    if (strcmp(l->op, "add") == 0 || strcmp(l->op, "sub") == 0 || strcmp(l->op, "mul") == 0 ||
        strcmp(l->op, "div") == 0)
        return build_binary(b, l);
    value *x = NULL;
    fr_status st;
    if (strcmp(l->op, "gap") == 0) {
        if ((st = operand(b, l->in[0], &x)) != FR_OK)
            return st;
        if (x->flat)
            return fail(b, "%s", "pooling a flattened tensor");
        int t = fr_graph_global_avg(b->g, l->out, x->tensor);
        if (t < 0)
            return b->g->status;
        value *v = new_value(b, l->out, 1, 1, x->c);
        if (!v)
            return FR_E_NOMEM;
        v->tensor = t;
        return FR_OK;
    }
    if (strcmp(l->op, "flatten") == 0 || strcmp(l->op, "identity") == 0) {
        if ((st = operand(b, l->in[0], &x)) != FR_OK)
            return st;
        value copy = *x;
        int flatten = l->op[0] == 'f';
        long size = (long)x->h * x->w * x->c;
        if (flatten && l->size >= 0 && l->size != size)
            return fail(b, "%s", "reshape to a size other than the input's");
        value *v = new_value(b, l->out, flatten ? 1 : copy.h, flatten ? 1 : copy.w,
                             flatten ? (int)size : copy.c);
        if (!v)
            return FR_E_NOMEM;
        v->tensor = copy.tensor;
        v->flat = copy.flat || (flatten && (copy.h > 1 || copy.w > 1));
        v->th = copy.flat ? copy.th : copy.h;
        v->tw = copy.flat ? copy.tw : copy.w;
        v->tc = copy.flat ? copy.tc : copy.c;
        return FR_OK;
    }
    return fail(b, "unknown program op '%s'", l->op);
}

int fr_onnx_build(const fr_weights *weights, fr_graph *g, int input)
{
    builder b;
    memset(&b, 0, sizeof b);
    b.weights = weights;
    b.g = g;
    b.path = fr_weights_path(weights);
    b.node = "(input)";
    const char *in_name = fr_weights_meta_string(weights, "onnx.input");
    const char *out_name = fr_weights_meta_string(weights, "onnx.output");
    int64_t nodes = 0;
    fr_status st = FR_OK;
    if (!in_name || !out_name || !fr_weights_meta_int(weights, "onnx.nodes", &nodes) ||
        nodes < 1 || nodes > FR_ONNX_MAX_NODES)
        st = fr_fail(FR_E_FORMAT, "%s: no ONNX program (onnx.input, onnx.output, onnx.nodes); "
                     "convert the model with `facerec convert --from onnx`", b.path);
    if (!st && !(b.lines = calloc((size_t)nodes, sizeof *b.lines)))
        st = FR_E_NOMEM;
    for (int64_t i = 0; !st && i < nodes; i++) {
        char key[32];
        snprintf(key, sizeof key, "onnx.node.%" PRId64, i);
        const char *text = fr_weights_meta_string(weights, key);
        st = text ? parse_line(b.path, (size_t)i, text, &b.lines[i])
                  : fr_fail(FR_E_FORMAT, "%s: %s is missing", b.path, key);
        if (!st)
            b.line_count++;
    }
    value *x = NULL;
    if (!st && !(x = new_value(&b, in_name, g->tensors[input].h, g->tensors[input].w, 3)))
        st = FR_E_NOMEM;
    if (!st)
        x->tensor = input;
    for (size_t i = 0; !st && i < b.line_count; i++)
        st = build_line(&b, &b.lines[i]);
    int output = -1;
    if (!st) {
        b.node = out_name;
        value *y = find(&b, out_name);
        if (!y)
            st = fr_fail(FR_E_FORMAT, "%s: the graph output '%s' is not computed", b.path,
                         out_name);
        else if (!(st = materialize(&b, y)) && (y->flat ? y->th * y->tw > 1 : y->h * y->w > 1))
            st = fail(&b, "the output is a %s map, not an embedding vector", "spatial");
        else if (!st)
            output = y->tensor;
    }
    for (int i = 0; i < b.count; i++)
        free_pending(b.values[i].conv);
    for (size_t i = 0; i < b.line_count; i++)
        free(b.lines[i].text);
    for (int i = 0; i < b.kept_count; i++)
        free(b.kept[i]);
    free(b.kept);
    free(b.lines);
    free(b.values);
    if (st) {
        if (!g->status)
            g->status = st;
        return -1;
    }
    return output;
}
