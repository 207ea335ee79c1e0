/* graph.c: building, checking and memory-planning the network description. */
#include "model/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

fr_graph *fr_graph_new(int input_h, int input_w)
{
    fr_graph *g = fr_calloc(1, sizeof *g, "a network graph");
    if (g) {
        g->input_h = input_h;
        g->input_w = input_w;
        g->output = -1;
    }
    return g;
}

void fr_graph_free(fr_graph *g)
{
    if (!g)
        return;
    free(g->tensors);
    free(g->nodes);
    free(g->params);
    free(g);
}

static int failed(fr_graph *g)
{
    return g->status != FR_OK;
}

static int fail(fr_graph *g, fr_status status)
{
    if (!g->status)
        g->status = status;
    return -1;
}

int fr_graph_tensor(fr_graph *g, int h, int w, int c)
{
    if (failed(g))
        return -1;
    if (h <= 0 || w <= 0 || c <= 0)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: tensor of shape (%d, %d, %d)", h, w, c));
    if (g->tensor_count == g->tensor_capacity) {
        int cap = g->tensor_capacity ? 2 * g->tensor_capacity : 256;
        fr_tensor *grown = realloc(g->tensors, (size_t)cap * sizeof *grown);
        if (!grown)
            return fail(g, fr_fail(FR_E_NOMEM, "out of memory building a graph"));
        g->tensors = grown;
        g->tensor_capacity = cap;
    }
    int id = g->tensor_count++;
    fr_tensor *t = &g->tensors[id];
    memset(t, 0, sizeof *t);
    t->h = h;
    t->w = w;
    t->c = c;
    t->root = id;
    t->first = t->last = -1;
    return id;
}

int fr_graph_view(fr_graph *g, int root, int c_offset, int c)
{
    if (failed(g))
        return -1;
    if (root < 0 || root >= g->tensor_count || g->tensors[root].root != root || c_offset < 0 ||
        c <= 0 || c_offset + c > g->tensors[root].c)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: bad view of tensor %d", root));
    int id = fr_graph_tensor(g, g->tensors[root].h, g->tensors[root].w, c);
    if (id >= 0) {
        g->tensors[id].root = root;
        g->tensors[id].c_offset = c_offset;
    }
    return id;
}

size_t fr_graph_reserve(fr_graph *g, size_t n)
{
    if (failed(g))
        return FR_NO_PARAM;
    size_t start = (g->param_count + 15) & ~(size_t)15; /* 64-byte aligned blocks */
    size_t end = start + n;
    if (end > g->param_capacity) {
        size_t cap = g->param_capacity ? g->param_capacity : ((size_t)1 << 20);
        while (cap < end)
            cap *= 2;
        float *grown = fr_aligned_alloc(cap * sizeof(float), "network parameters");
        if (!grown) {
            fail(g, FR_E_NOMEM);
            return FR_NO_PARAM;
        }
        if (g->params)
            memcpy(grown, g->params, g->param_count * sizeof(float));
        free(g->params);
        g->params = grown;
        g->param_capacity = cap;
    }
    memset(g->params + g->param_count, 0, (end - g->param_count) * sizeof(float));
    g->param_count = end;
    return start;
}

static fr_node *add_node(fr_graph *g, fr_op_kind kind, const char *name)
{
    if (failed(g))
        return NULL;
    if (g->node_count == g->node_capacity) {
        int cap = g->node_capacity ? 2 * g->node_capacity : 256;
        fr_node *grown = realloc(g->nodes, (size_t)cap * sizeof *grown);
        if (!grown) {
            fail(g, fr_fail(FR_E_NOMEM, "out of memory building a graph"));
            return NULL;
        }
        g->nodes = grown;
        g->node_capacity = cap;
    }
    fr_node *n = &g->nodes[g->node_count++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->in = n->in2 = n->out = -1;
    n->kh = n->kw = n->stride_h = n->stride_w = 1;
    n->groups = 1;
    n->weight = n->bias = n->alpha = FR_NO_PARAM;
    return n;
}

static int valid_tensor(const fr_graph *g, int t)
{
    return t >= 0 && t < g->tensor_count;
}

/* Output size and the (before, after) padding of one spatial axis, TensorFlow's rules. */
static int axis_geometry(int in, int k, int s, fr_padding padding, int *before, int *after)
{
    if (padding == FR_PAD_VALID) {
        *before = *after = 0;
        return in >= k ? (in - k) / s + 1 : 0;
    }
    int out = (in + s - 1) / s;
    int total = (out - 1) * s + k - in;
    if (total < 0)
        total = 0;
    *before = total / 2;
    *after = total - *before;
    return out;
}

int fr_graph_normalize(fr_graph *g, fr_norm_kind norm, const float mean[3], const float scale[3],
                       int transpose)
{
    int h = transpose ? g->input_w : g->input_h;
    int w = transpose ? g->input_h : g->input_w;
    int out = fr_graph_tensor(g, h, w, 3);
    fr_node *n = add_node(g, FR_OP_NORMALIZE, "normalize");
    if (!n)
        return -1;
    n->in = FR_INPUT;
    n->out = out;
    n->norm = norm;
    n->transpose = transpose;
    for (int c = 0; c < 3; c++) {
        n->mean[c] = mean ? mean[c] : 0.0f;
        n->scale[c] = scale ? scale[c] : 1.0f;
    }
    return out;
}

int fr_graph_conv(fr_graph *g, const char *name, int in, int out, int c_out, int kh, int kw,
                  int stride_h, int stride_w, fr_padding padding, fr_activation act,
                  size_t weight, size_t bias)
{
    return fr_graph_conv_grouped(g, name, in, out, c_out, 1, kh, kw, stride_h, stride_w, padding,
                                 act, weight, bias);
}

int fr_graph_conv_grouped(fr_graph *g, const char *name, int in, int out, int c_out, int groups,
                          int kh, int kw, int stride_h, int stride_w, fr_padding padding,
                          fr_activation act, size_t weight, size_t bias)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, in))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no input", name));
    const fr_tensor *x = &g->tensors[in];
    int pads[4];
    axis_geometry(x->h, kh, stride_h, padding, &pads[0], &pads[2]);
    axis_geometry(x->w, kw, stride_w, padding, &pads[1], &pads[3]);
    if (padding == FR_PAD_VALID && (x->h < kh || x->w < kw))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: kernel larger than its input", name));
    return fr_graph_conv_explicit(g, name, in, out, c_out, groups, kh, kw, stride_h, stride_w,
                                  pads, act, weight, bias);
}

int fr_graph_conv_explicit(fr_graph *g, const char *name, int in, int out, int c_out, int groups,
                           int kh, int kw, int stride_h, int stride_w, const int pads[4],
                           fr_activation act, size_t weight, size_t bias)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, in))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no input", name));
    const fr_tensor *x = &g->tensors[in];
    if (groups != 1 && !(groups == x->c && c_out == x->c))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: %d groups of %d input and %d output "
                               "channels (1 or depthwise only)", name, groups, x->c, c_out));
    if (stride_h < 1 || stride_w < 1 || pads[0] < 0 || pads[1] < 0 || pads[2] < 0 || pads[3] < 0)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: bad stride or padding", name));
    int hp = x->h + pads[0] + pads[2], wp = x->w + pads[1] + pads[3];
    int ho = hp >= kh ? (hp - kh) / stride_h + 1 : 0;
    int wo = wp >= kw ? (wp - kw) / stride_w + 1 : 0;
    if (ho <= 0 || wo <= 0)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: kernel larger than its input", name));
    if (out < 0)
        out = fr_graph_tensor(g, ho, wo, c_out);
    else if (!valid_tensor(g, out) || g->tensors[out].h != ho || g->tensors[out].w != wo ||
             g->tensors[out].c != c_out)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: output tensor of the wrong shape", name));
    fr_node *n = add_node(g, FR_OP_CONV, name);
    if (!n)
        return -1;
    n->in = in;
    n->out = out;
    n->kh = kh;
    n->kw = kw;
    n->stride_h = stride_h;
    n->stride_w = stride_w;
    n->pad_top = pads[0];
    n->pad_left = pads[1];
    n->pad_bottom = pads[2];
    n->pad_right = pads[3];
    n->act = act;
    n->groups = groups;
    n->weight = weight;
    n->bias = bias;
    return out;
}

int fr_graph_conv_accumulate(fr_graph *g, const char *name, int in, int out, int kh, int kw,
                             fr_padding padding, fr_activation act, size_t weight, size_t bias)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, out))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no residual tensor", name));
    int r = fr_graph_conv(g, name, in, out, g->tensors[out].c, kh, kw, 1, 1, padding, act, weight,
                          bias);
    if (r >= 0)
        g->nodes[g->node_count - 1].accumulate = 1;
    return r;
}

int fr_graph_pool(fr_graph *g, const char *name, fr_op_kind kind, int in, int out, int k,
                  int stride, fr_padding padding)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, in))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no input", name));
    const fr_tensor *x = &g->tensors[in];
    int pt, pb, pl, pr;
    int ho = axis_geometry(x->h, k, stride, padding, &pt, &pb);
    int wo = axis_geometry(x->w, k, stride, padding, &pl, &pr);
    if (ho <= 0 || wo <= 0)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: window larger than its input", name));
    int c = x->c;
    if (out < 0)
        out = fr_graph_tensor(g, ho, wo, c);
    else if (!valid_tensor(g, out) || g->tensors[out].h != ho || g->tensors[out].w != wo ||
             g->tensors[out].c != c)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: output tensor of the wrong shape", name));
    fr_node *n = add_node(g, kind, name);
    if (!n)
        return -1;
    n->in = in;
    n->out = out;
    n->kh = n->kw = k;
    n->stride_h = n->stride_w = stride;
    n->pad_top = pt;
    n->pad_bottom = pb;
    n->pad_left = pl;
    n->pad_right = pr;
    return out;
}

int fr_graph_add(fr_graph *g, const char *name, int a, int b, int h, int w, int c,
                 fr_activation act)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, a) || !valid_tensor(g, b))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no operands", name));
    const fr_tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
    if (ta->h > h || ta->w > w || ta->c > c || tb->h > h || tb->w > w || tb->c > c)
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s: operand larger than the sum", name));
    int out = fr_graph_tensor(g, h, w, c);
    fr_node *n = add_node(g, FR_OP_ADD, name);
    if (!n)
        return -1;
    n->in = a;
    n->in2 = b;
    n->out = out;
    n->act = act;
    return out;
}

int fr_graph_global_avg(fr_graph *g, const char *name, int in)
{
    if (failed(g))
        return -1;
    if (!valid_tensor(g, in))
        return fail(g, fr_fail(FR_E_INTERNAL, "graph: %s has no input", name));
    int out = fr_graph_tensor(g, 1, 1, g->tensors[in].c);
    fr_node *n = add_node(g, FR_OP_GLOBAL_AVG, name);
    if (!n)
        return -1;
    n->in = in;
    n->out = out;
    return out;
}

/* ---- planning ------------------------------------------------------------------------------ */

static void touch(fr_graph *g, int tensor, int node)
{
    if (tensor < 0)
        return;
    fr_tensor *r = &g->tensors[g->tensors[tensor].root];
    if (r->first < 0)
        r->first = node;
    r->last = node;
}

static size_t root_size(const fr_tensor *t)
{
    return (size_t)t->h * (size_t)t->w * (size_t)t->c;
}

fr_status fr_graph_finalize(fr_graph *g, int output)
{
    if (g->status)
        return g->status;
    if (!valid_tensor(g, output) || g->tensors[output].root != output || g->node_count == 0)
        return fr_fail(FR_E_INTERNAL, "graph: no output");
    g->output = output;
    for (int i = 0; i < g->tensor_count; i++)
        g->tensors[i].first = g->tensors[i].last = -1;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *n = &g->nodes[i];
        if (n->kind == FR_OP_CONV) {
            const fr_tensor *x = &g->tensors[n->in], *y = &g->tensors[n->out];
            if (n->weight == FR_NO_PARAM || n->bias == FR_NO_PARAM ||
                (n->act == FR_ACT_PRELU && n->alpha == FR_NO_PARAM))
                return fr_fail(FR_E_INTERNAL, "graph: %s has no weights", n->name);
            size_t need = n->weight + (size_t)y->c * (size_t)n->kh * (size_t)n->kw *
                                          (size_t)(x->c / n->groups);
            if (need > g->param_count || n->bias + (size_t)y->c > g->param_count)
                return fr_fail(FR_E_INTERNAL, "graph: %s: weights outside the parameters", n->name);
        }
        if (n->in != FR_INPUT && g->tensors[n->in].root == g->tensors[n->out].root &&
            !n->accumulate)
            return fr_fail(FR_E_INTERNAL, "graph: %s reads the tensor it writes", n->name);
        touch(g, n->in, i);
        touch(g, n->in2, i);
        touch(g, n->out, i);
    }
    g->tensors[output].last = g->node_count; /* the output outlives the last node */

    /* Roots placed first-fit in order of first use (graph.h: fr_graph_place), each rounded up
     * to 16 elements so that every root starts 64-byte aligned. */
    int *first = fr_malloc((size_t)g->tensor_count * sizeof *first, "the memory planner");
    int *last = fr_malloc((size_t)g->tensor_count * sizeof *last, "the memory planner");
    size_t *size = fr_malloc((size_t)g->tensor_count * sizeof *size, "the memory planner");
    size_t *offset = fr_malloc((size_t)g->tensor_count * sizeof *offset, "the memory planner");
    fr_status st = first && last && size && offset ? FR_OK : FR_E_NOMEM;
    for (int t = 0; !st && t < g->tensor_count; t++) {
        const fr_tensor *r = &g->tensors[t];
        int used = r->root == t && r->first >= 0;
        first[t] = used ? r->first : -1; /* views and unused tensors take no storage */
        last[t] = used ? r->last : -1;
        size[t] = used ? (root_size(r) + 15) & ~(size_t)15 : 0;
    }
    if (!st) {
        g->arena_size = fr_graph_place(g->tensor_count, size, first, last, offset);
        for (int t = 0; t < g->tensor_count; t++)
            if (g->tensors[t].root == t)
                g->tensors[t].offset = offset[t];
    }
    free(first);
    free(last);
    free(size);
    free(offset);
    return st;
}

size_t fr_graph_place(int count, const size_t *size, const int *first, const int *last,
                      size_t *offset)
{
    /* In order of first use, ties by index: a buffer may share bytes with any buffer whose
     * lifetime it does not overlap. Lifetimes touching at one node do overlap, so an
     * operation never reads and writes the same storage. Quadratic, and graphs have hundreds
     * of tensors: nothing to gain from an interval tree. */
    int begin = 0, end = -1;
    for (int i = 0; i < count; i++)
        if (first[i] >= 0) {
            begin = first[i] < begin || end < 0 ? first[i] : begin;
            end = first[i] > end ? first[i] : end;
        }
    size_t total = 0;
    for (int i = 0; i < count; i++)
        offset[i] = 0;
    for (int node = begin; node <= end; node++)
        for (int i = 0; i < count; i++) {
            if (first[i] != node)
                continue;
            size_t at = 0;
            for (int moved = 1; moved;) {
                moved = 0;
                for (int k = 0; k < count; k++) {
                    /* placed already: first used earlier, or at this node with a lower index */
                    if (k == i || first[k] < 0 || first[k] > node || (first[k] == node && k > i))
                        continue;
                    int live = !(last[k] < first[i] || last[i] < first[k]);
                    if (live && at < offset[k] + size[k] && offset[k] < at + size[i]) {
                        at = offset[k] + size[k];
                        moved = 1;
                    }
                }
            }
            offset[i] = at;
            if (at + size[i] > total)
                total = at + size[i];
        }
    return total;
}

double fr_graph_flops(const fr_graph *g)
{
    double flops = 0;
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *n = &g->nodes[i];
        if (n->kind != FR_OP_CONV)
            continue;
        const fr_tensor *x = &g->tensors[n->in], *y = &g->tensors[n->out];
        flops += 2.0 * y->h * y->w * y->c * (double)n->kh * n->kw * (x->c / n->groups);
    }
    return flops;
}

static const char *kind_name(fr_op_kind kind)
{
    switch (kind) {
    case FR_OP_NORMALIZE: return "normalize";
    case FR_OP_CONV: return "conv";
    case FR_OP_MAX_POOL: return "maxpool";
    case FR_OP_AVG_POOL: return "avgpool";
    case FR_OP_ADD: return "add";
    case FR_OP_GLOBAL_AVG: return "global_avg";
    }
    return "?";
}

void fr_graph_dump(const fr_graph *g, FILE *out)
{
    static const char *acts[] = {"none", "relu", "prelu"};
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *n = &g->nodes[i];
        const fr_tensor *y = &g->tensors[n->out];
        fprintf(out, "%-10s %-48s", kind_name(n->kind), n->name);
        if (n->in >= 0) {
            const fr_tensor *x = &g->tensors[n->in];
            fprintf(out, " in=%dx%dx%d", x->h, x->w, x->c);
        } else {
            fprintf(out, " in=%dx%dx3u8", g->input_h, g->input_w);
        }
        fprintf(out, " out=%dx%dx%d", y->h, y->w, y->c);
        if (y->root != n->out)
            fprintf(out, "@%d", y->c_offset);
        if (n->kind == FR_OP_CONV || n->kind == FR_OP_MAX_POOL || n->kind == FR_OP_AVG_POOL)
            fprintf(out, " k=%dx%d s=%dx%d pad=%d,%d,%d,%d", n->kh, n->kw, n->stride_h,
                    n->stride_w, n->pad_top, n->pad_left, n->pad_bottom, n->pad_right);
        if (n->kind == FR_OP_CONV || n->kind == FR_OP_ADD)
            fprintf(out, " act=%s%s", acts[n->act], n->accumulate ? " accumulate" : "");
        if (n->kind == FR_OP_CONV && n->groups > 1)
            fprintf(out, " groups=%d", n->groups);
        fputc('\n', out);
    }
}
