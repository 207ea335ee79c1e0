/*
 * convert_onnx.c: `facerec convert --from onnx`: an ONNX recognition model to a .frw file.
 *
 * The file is parsed by protobuf-c with ONNX's own schema (third_party/onnx/onnx.proto,
 * compiled at build time), so every field is read as ONNX defines it. What this converter
 * adds is the checking a user needs when the model is not one facerec can run: the image
 * input (one float tensor N x 3 x S x S: a symbolic N is fine, a symbolic or different S is
 * not), the initializers (float32, at most 4 dimensions, data the size its shape says), and
 * the op set of InsightFace's recognition models; anything else is refused naming the node,
 * the input or the tensor, and nothing is written. The node list becomes the program that
 * onnx.h describes, and the saved file is test-loaded before it replaces anything.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "model/convert.h"
#include "model/model_internal.h"
#include "model/onnx.h"
#include "model/weights.h"
#include "onnx.pb-c.h"

#define ONNX_ARCH "arcface"
/* protobuf's own limit on a message */
#define MAX_ONNX_BYTES ((size_t)2 << 30)
#define LINE_MAX_BYTES 8192

enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

/* A shape computed inside the graph (torch's x.view(x.size(0), -1) with a symbolic batch:
 * Shape, Gather, Unsqueeze, Concat): int64 vectors whose entries may be the batch or
 * unknown. Only a Reshape reads them; they become no program line. */
#define SHAPE_BATCH INT64_MIN
#define SHAPE_UNKNOWN (INT64_MIN + 1)
#define MAX_SHAPES 64

typedef struct shape_value {
    const char *name;
    int64_t v[8];
    size_t n;
} shape_value;

typedef struct converter {
    const char *path;
    shape_value shapes[MAX_SHAPES];
    size_t shape_count;
    const Onnx__GraphProto *graph;
    fr_weights_writer *writer;
    char line[LINE_MAX_BYTES];
    size_t used;
    int overflow;
} converter;

/* ---- attributes ---------------------------------------------------------------------------- */

static const Onnx__AttributeProto *attribute(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t fallback)
{
    const Onnx__AttributeProto *a = attribute(n, name);
    return a && a->has_i ? a->i : fallback;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float fallback)
{
    const Onnx__AttributeProto *a = attribute(n, name);
    return a && a->has_f ? a->f : fallback;
}

/* A list attribute of exactly `count` ints into out, or the fallback when absent. */
static int attr_ints(const Onnx__NodeProto *n, const char *name, size_t count, const int *fallback,
                     int *out)
{
    const Onnx__AttributeProto *a = attribute(n, name);
    if (!a) {
        memcpy(out, fallback, count * sizeof *out);
        return 1;
    }
    if (a->n_ints != count)
        return 0;
    for (size_t i = 0; i < count; i++) {
        if (a->ints[i] < 0 || a->ints[i] > 4096)
            return 0;
        out[i] = (int)a->ints[i];
    }
    return 1;
}

static const char *node_name(const Onnx__NodeProto *n)
{
    return n->name && *n->name ? n->name : n->n_output ? n->output[0] : "(unnamed)";
}

static fr_status node_fail(const converter *c, const Onnx__NodeProto *n, const char *what)
{
    return fr_fail(FR_E_UNSUPPORTED, "%s: node '%s' (%s): %s", c->path, node_name(n), n->op_type,
                   what);
}

/* ---- initializers -------------------------------------------------------------------------- */

static const Onnx__TensorProto *initializer(const converter *c, const char *name)
{
    for (size_t i = 0; i < c->graph->n_initializer; i++)
        if (c->graph->initializer[i]->name && strcmp(c->graph->initializer[i]->name, name) == 0)
            return c->graph->initializer[i];
    return NULL;
}

/* Elements a tensor declares, or an error naming it when its shape is not one to believe. */
static fr_status tensor_count(const converter *c, const char *what, const Onnx__TensorProto *t,
                              size_t *count)
{
    size_t n = 1;
    if (t->n_dims > FR_WEIGHTS_MAX_DIMS)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d)", c->path,
                       what, t->n_dims, FR_WEIGHTS_MAX_DIMS);
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0)
            return fr_fail(FR_E_FORMAT, "%s: tensor '%s': dimension %zu is %" PRId64, c->path,
                           what, d, t->dims[d]);
        if (t->dims[d] > 0 && n > FR_WEIGHTS_MAX_ELEMENTS / (size_t)t->dims[d])
            return fr_fail(FR_E_TOO_LARGE, "%s: tensor '%s' declares more than %zu elements",
                           c->path, what, FR_WEIGHTS_MAX_ELEMENTS);
        n *= (size_t)t->dims[d];
    }
    if (t->n_external_data || (t->has_data_location && t->data_location ==
                                                          ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external file; "
                       "save the model with its weights inside (onnx.save(..., "
                       "save_as_external_data=False))", c->path, what);
    if (t->segment)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor '%s' is segmented", c->path, what);
    *count = n;
    return FR_OK;
}

/* A float32 tensor's data: raw_data (little-endian, the size its shape says) or float_data. */
static fr_status float_data(const converter *c, const char *what, const Onnx__TensorProto *t,
                            size_t count, const float **data)
{
    if (!t->has_data_type || t->data_type != ONNX_FLOAT)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor '%s' has ONNX data type %d (facerec imports "
                       "float32 weights; export in fp32)", c->path, what, (int)t->data_type);
    if (t->has_raw_data) {
        if (t->raw_data.len != count * sizeof(float))
            return fr_fail(FR_E_FORMAT, "%s: tensor '%s': %zu bytes of data for %zu float32 "
                           "values", c->path, what, t->raw_data.len, count);
        *data = (const float *)(const void *)t->raw_data.data;
    } else {
        if (t->n_float_data != count)
            return fr_fail(FR_E_FORMAT, "%s: tensor '%s': %zu values for a shape of %zu",
                           c->path, what, t->n_float_data, count);
        *data = t->float_data;
    }
    return FR_OK;
}

static fr_status copy_tensor(converter *c, const char *name, const Onnx__TensorProto *t)
{
    size_t count = 0;
    const float *data = NULL;
    fr_status st = tensor_count(c, name, t, &count);
    if (!st)
        st = float_data(c, name, t, count, &data);
    if (st)
        return st;
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    for (size_t d = 0; d < t->n_dims; d++)
        dims[d] = t->dims[d];
    /* raw_data need not be 4-byte aligned inside the parsed message */
    float *aligned = fr_malloc((count ? count : 1) * sizeof(float), "a tensor");
    if (!aligned)
        return FR_E_NOMEM;
    memcpy(aligned, data, count * sizeof(float));
    st = fr_weights_writer_tensor(c->writer, name, (int)t->n_dims, dims, aligned);
    free(aligned);
    return st;
}

/* The int64 values of a constant (Reshape's shape): a shape computed in the graph, an
 * initializer or a Constant node. */
static fr_status int64_values(const converter *c, const Onnx__NodeProto *n, const char *name,
                              int64_t values[8], size_t *count)
{
    for (size_t i = 0; i < c->shape_count; i++)
        if (strcmp(c->shapes[i].name, name) == 0) {
            memcpy(values, c->shapes[i].v, c->shapes[i].n * sizeof *values);
            *count = c->shapes[i].n;
            return FR_OK;
        }
    const Onnx__TensorProto *t = initializer(c, name);
    for (size_t i = 0; !t && i < c->graph->n_node; i++) {
        const Onnx__NodeProto *k = c->graph->node[i];
        if (strcmp(k->op_type, "Constant") == 0 && k->n_output == 1 &&
            strcmp(k->output[0], name) == 0 && attribute(k, "value"))
            t = attribute(k, "value")->t;
    }
    if (!t || !t->has_data_type || t->data_type != ONNX_INT64)
        return node_fail(c, n, "the shape is not a constant int64 tensor (export with "
                         "do_constant_folding=True and a fixed batch, or flatten with "
                         "torch.flatten)");
    size_t expect;
    fr_status st = tensor_count(c, name, t, &expect);
    if (st)
        return st;
    if (expect > 8 || (t->has_raw_data ? t->raw_data.len != expect * sizeof(int64_t)
                                         : t->n_int64_data != expect))
        return node_fail(c, n, "malformed shape tensor");
    if (t->has_raw_data)
        memcpy(values, t->raw_data.data, t->raw_data.len);
    else
        memcpy(values, t->int64_data, expect * sizeof(int64_t));
    *count = expect;
    return FR_OK;
}

/* ---- the program ----------------------------------------------------------------------------- */

static void emit(converter *c, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void emit(converter *c, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(c->line + c->used, sizeof c->line - c->used, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof c->line - c->used)
        c->overflow = 1;
    else
        c->used += (size_t)n;
}

static void emit_name(converter *c, const char *prefix, const char *name)
{
    char escaped[LINE_MAX_BYTES / 2];
    if (!fr_onnx_escape(name, escaped, sizeof escaped))
        c->overflow = 1;
    else
        emit(c, "%s%s", prefix, escaped);
}

/* "op out=Y in=A,B" for a node's first output and its first `inputs` inputs. */
static void emit_head(converter *c, const char *op, const Onnx__NodeProto *n, size_t inputs)
{
    c->used = 0;
    c->overflow = 0;
    emit(c, "%s", op);
    emit_name(c, " out=", n->output[0]);
    for (size_t i = 0; i < inputs; i++)
        emit_name(c, i ? "," : " in=", n->input[i]);
}

static fr_status lower_conv(converter *c, const Onnx__NodeProto *n)
{
    if (n->n_input < 2 || n->n_input > 3)
        return node_fail(c, n, "expects X, W and an optional bias");
    const Onnx__TensorProto *w = initializer(c, n->input[1]);
    if (!w || w->n_dims != 4)
        return node_fail(c, n, "the weights are not a constant 4-d tensor (a 2-d convolution)");
    if (n->n_input == 3 && !initializer(c, n->input[2]))
        return node_fail(c, n, "the bias is not a constant");
    const Onnx__AttributeProto *pad = attribute(n, "auto_pad");
    if (pad && pad->has_s && !(pad->s.len == 6 && memcmp(pad->s.data, "NOTSET", 6) == 0) &&
        !(pad->s.len == 5 && memcmp(pad->s.data, "VALID", 5) == 0))
        return node_fail(c, n, "auto_pad SAME_UPPER/SAME_LOWER: export with explicit pads");
    int k[2] = {(int)w->dims[2], (int)w->dims[3]}, one[2] = {1, 1}, zero[4] = {0, 0, 0, 0};
    int kernel[2], stride[2], dilation[2], pads[4];
    if (!attr_ints(n, "kernel_shape", 2, k, kernel) || kernel[0] != k[0] || kernel[1] != k[1])
        return node_fail(c, n, "kernel_shape does not match the weights");
    if (!attr_ints(n, "strides", 2, one, stride) || stride[0] < 1 || stride[1] < 1)
        return node_fail(c, n, "strides are not two positive numbers");
    if (!attr_ints(n, "dilations", 2, one, dilation) || dilation[0] != 1 || dilation[1] != 1)
        return node_fail(c, n, "dilated convolutions are not supported");
    if (!attr_ints(n, "pads", 4, zero, pads))
        return node_fail(c, n, "pads are not four non-negative numbers");
    int64_t group = attr_int(n, "group", 1);
    if (group < 1 || group > 65536)
        return node_fail(c, n, "group out of range");
    emit_head(c, "conv", n, n->n_input);
    /* ONNX pads are (x1_begin, x2_begin, x1_end, x2_end): top, left, bottom, right */
    emit(c, " k=%d,%d s=%d,%d p=%d,%d,%d,%d g=%d", kernel[0], kernel[1], stride[0], stride[1],
         pads[0], pads[1], pads[2], pads[3], (int)group);
    return FR_OK;
}

static int is_shape_op(const char *op)
{
    return strcmp(op, "Shape") == 0 || strcmp(op, "Gather") == 0 ||
           strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Concat") == 0;
}

/* Shape, Gather, Unsqueeze, Concat on shapes: evaluated here, the batch kept symbolic. */
static fr_status eval_shape_op(converter *c, const Onnx__NodeProto *n)
{
    const char *op = n->op_type;
    shape_value r = {n->output[0], {0}, 0};
    int64_t a[8], b[8];
    size_t na = 0, nb = 0;
    fr_status st = FR_OK;
    if (c->shape_count == MAX_SHAPES || n->n_input < 1 || n->n_output != 1)
        return node_fail(c, n, "more shape computations than facerec follows");
    if (strcmp(op, "Shape") == 0) {
        /* every activation's first axis is the batch; the rest no Reshape facerec takes needs */
        r.n = 4;
        r.v[0] = SHAPE_BATCH;
        r.v[1] = r.v[2] = r.v[3] = SHAPE_UNKNOWN;
    } else if (strcmp(op, "Gather") == 0) {
        if (n->n_input != 2 || attr_int(n, "axis", 0) != 0)
            return node_fail(c, n, "only Gather of shape entries");
        if (!(st = int64_values(c, n, n->input[0], a, &na)))
            st = int64_values(c, n, n->input[1], b, &nb);
        if (st)
            return st;
        for (size_t i = 0; i < nb; i++) {
            int64_t k = b[i] < 0 ? b[i] + (int64_t)na : b[i];
            if (k < 0 || k >= (int64_t)na)
                return node_fail(c, n, "index outside the shape");
            r.v[r.n++] = a[k];
        }
    } else if (strcmp(op, "Unsqueeze") == 0) {
        if ((st = int64_values(c, n, n->input[0], a, &na)) != FR_OK)
            return st;
        memcpy(r.v, a, na * sizeof *a);
        r.n = na ? na : 1;
    } else { /* Concat */
        if (attr_int(n, "axis", 0) != 0)
            return node_fail(c, n, "only Concat of shape vectors");
        for (size_t i = 0; i < n->n_input; i++) {
            if ((st = int64_values(c, n, n->input[i], a, &na)) != FR_OK)
                return st;
            if (r.n + na > 8)
                return node_fail(c, n, "a shape of more than 8 dimensions");
            memcpy(r.v + r.n, a, na * sizeof *a);
            r.n += na;
        }
    }
    c->shapes[c->shape_count++] = r;
    return FR_OK;
}

static fr_status lower_node(converter *c, const Onnx__NodeProto *n)
{
    const char *op = n->op_type;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return node_fail(c, n, "an operator of another domain than ONNX's own");
    if (n->n_output < 1)
        return node_fail(c, n, "has no output");
    for (size_t i = 0; i < n->n_input; i++)
        if (!n->input[i][0] && strcmp(op, "Dropout") != 0)
            return node_fail(c, n, "an omitted optional input");
    if (strcmp(op, "Conv") == 0)
        return lower_conv(c, n);
    if (strcmp(op, "BatchNormalization") == 0) {
        if (n->n_input != 5 || n->n_output != 1 || attr_int(n, "training_mode", 0) != 0)
            return node_fail(c, n, "only inference batch-norm (5 inputs, one output)");
        for (size_t i = 1; i < 5; i++)
            if (!initializer(c, n->input[i]))
                return node_fail(c, n, "its parameters are not constants");
        emit_head(c, "bn", n, 5);
        emit(c, " eps=%.9g", (double)attr_float(n, "epsilon", 1e-5f));
        return FR_OK;
    }
    if (strcmp(op, "PRelu") == 0 || strcmp(op, "Relu") == 0) {
        size_t inputs = op[0] == 'P' ? 2 : 1;
        if (n->n_input != inputs)
            return node_fail(c, n, "unexpected inputs");
        if (inputs == 2 && !initializer(c, n->input[1]))
            return node_fail(c, n, "the slopes are not a constant");
        emit_head(c, inputs == 2 ? "prelu" : "relu", n, inputs);
        return FR_OK;
    }
    if (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 ||
        strcmp(op, "Div") == 0) {
        if (n->n_input != 2)
            return node_fail(c, n, "expects two inputs");
        char lower[4] = {(char)(op[0] - 'A' + 'a'), op[1], op[2], 0};
        emit_head(c, lower, n, 2);
        return FR_OK;
    }
    if (strcmp(op, "Flatten") == 0) {
        if (n->n_input != 1 || attr_int(n, "axis", 1) != 1)
            return node_fail(c, n, "only a flatten to (N, C*H*W) (axis 1)");
        emit_head(c, "flatten", n, 1);
        emit(c, " size=-1");
        return FR_OK;
    }
    if (strcmp(op, "Reshape") == 0) {
        int64_t shape[8];
        size_t dims = 0;
        if (n->n_input != 2)
            return node_fail(c, n, "expects data and shape");
        fr_status st = int64_values(c, n, n->input[1], shape, &dims);
        if (st)
            return st;
        /* (N, K): N as 0 (copy), -1, the exported batch or the graph's own (symbolic); K
         * given or -1 */
        if (dims == 2 && shape[0] == SHAPE_BATCH)
            shape[0] = 0;
        if (dims != 2 || shape[0] < -1 || shape[1] < -1 || shape[1] == 0)
            return node_fail(c, n, "only a reshape to (N, C*H*W) (a flatten)");
        emit_head(c, "flatten", n, 1);
        emit(c, " size=%" PRId64, shape[1]);
        return FR_OK;
    }
    if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) {
        int gemm = op[0] == 'G';
        if (n->n_input < 2 || n->n_input > (gemm ? 3u : 2u))
            return node_fail(c, n, "unexpected inputs");
        const Onnx__TensorProto *w = initializer(c, n->input[1]);
        if (!w || w->n_dims != 2)
            return node_fail(c, n, "the weights are not a constant matrix");
        if (n->n_input == 3 && !initializer(c, n->input[2]))
            return node_fail(c, n, "the bias is not a constant");
        if (gemm && (attr_int(n, "transA", 0) != 0 || attr_float(n, "alpha", 1.0f) != 1.0f ||
                     attr_float(n, "beta", 1.0f) != 1.0f))
            return node_fail(c, n, "only transA = 0, alpha = beta = 1");
        emit_head(c, "dense", n, n->n_input);
        emit(c, " t=%d", gemm ? (int)(attr_int(n, "transB", 0) != 0) : 0);
        return FR_OK;
    }
    if (strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "Dropout") == 0 ||
        strcmp(op, "Identity") == 0) {
        if (n->n_input < 1 || !n->input[0][0])
            return node_fail(c, n, "has no input");
        emit_head(c, op[0] == 'G' ? "gap" : "identity", n, 1);
        return FR_OK;
    }
    return node_fail(c, n, "unsupported op (facerec imports Conv, BatchNormalization, PRelu, "
                     "Relu, Add, Sub, Mul, Div, Flatten, Reshape, Gemm, MatMul, "
                     "GlobalAveragePool, Dropout, Identity, and Shape, Gather, Unsqueeze, "
                     "Concat computing a flatten's shape)");
}

/* ---- the image input ------------------------------------------------------------------------- */

/* The one graph input that is not an initializer: float (N, 3, S, S), S the arch's size. */
static fr_status check_input(const converter *c, int size, const char **name)
{
    const Onnx__ValueInfoProto *found = NULL;
    for (size_t i = 0; i < c->graph->n_input; i++) {
        const Onnx__ValueInfoProto *v = c->graph->input[i];
        if (initializer(c, v->name))
            continue;
        if (found)
            return fr_fail(FR_E_UNSUPPORTED, "%s: inputs '%s' and '%s': facerec runs models of "
                           "one image input", c->path, found->name, v->name);
        found = v;
    }
    if (!found)
        return fr_fail(FR_E_FORMAT, "%s: the graph has no input", c->path);
    const Onnx__TypeProto *type = found->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !type->tensor_type->has_elem_type || type->tensor_type->elem_type != ONNX_FLOAT)
        return fr_fail(FR_E_UNSUPPORTED, "%s: input '%s' is not a float tensor", c->path,
                       found->name);
    const Onnx__TensorShapeProto *shape = type->tensor_type->shape;
    if (!shape || shape->n_dim != 4)
        return fr_fail(FR_E_UNSUPPORTED, "%s: input '%s' is not a 4-d image batch (N, 3, H, W)",
                       c->path, found->name);
    static const char *axes[4] = {"batch", "channels", "height", "width"};
    for (size_t d = 1; d < 4; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return fr_fail(FR_E_UNSUPPORTED, "%s: input '%s': dynamic shape, the %s axis is "
                           "'%s' (export with a fixed 3 x %d x %d input; only the batch may "
                           "vary)", c->path, found->name, axes[d],
                           dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                               ? dim->dim_param : "unknown", size, size);
    }
    int64_t ch = shape->dim[1]->dim_value, h = shape->dim[2]->dim_value,
            w = shape->dim[3]->dim_value;
    if (ch != 3 || h != size || w != size)
        return fr_fail(FR_E_UNSUPPORTED, "%s: input '%s' is %" PRId64 " x %" PRId64 " x %" PRId64
                       "; the %s architecture takes 3 x %d x %d (RGB, ArcFace's aligned chip)",
                       c->path, found->name, ch, h, w, ONNX_ARCH, size, size);
    *name = found->name;
    return FR_OK;
}

/* InsightFace's own test (model_zoo/arcface_onnx.py): a graph that begins by subtracting and
 * multiplying constants normalizes its input itself (the MXNet-exported models), so it takes
 * pixels 0..255; the others take (x - 127.5) / 128 from the caller. */
static int normalizes_itself(const converter *c, const char *input)
{
    for (size_t i = 0; i < c->graph->n_node && i < 8; i++) {
        const Onnx__NodeProto *n = c->graph->node[i];
        if ((strcmp(n->op_type, "Sub") == 0 || strcmp(n->op_type, "Mul") == 0) &&
            n->n_input == 2 && (strcmp(n->input[0], input) == 0 || strcmp(n->input[1], input) == 0))
            return 1;
    }
    return 0;
}

/* ---- the whole file ---------------------------------------------------------------------------- */

static fr_status convert(converter *c, const Onnx__ModelProto *model, const char *output_path,
                         const fr_convert_options *options)
{
    const fr_arch *arch = fr_arch_find(ONNX_ARCH);
    if (!model->graph)
        return fr_fail(FR_E_FORMAT, "%s: an ONNX model without a graph", c->path);
    c->graph = model->graph;
    if (c->graph->n_node == 0 || c->graph->n_node > FR_ONNX_MAX_NODES)
        return fr_fail(FR_E_UNSUPPORTED, "%s: %zu nodes (1..%d)", c->path, c->graph->n_node,
                       FR_ONNX_MAX_NODES);
    const char *input = NULL;
    fr_status st = check_input(c, arch->input_size, &input);
    if (st)
        return st;
    if (c->graph->n_output != 1)
        return fr_fail(FR_E_UNSUPPORTED, "%s: %zu graph outputs; facerec takes models with one "
                       "(the embedding)", c->path, c->graph->n_output);
    c->writer = fr_weights_writer_new();
    if (!c->writer)
        return FR_E_NOMEM;
    for (size_t i = 0; i < c->graph->n_initializer && !st; i++) {
        const Onnx__TensorProto *t = c->graph->initializer[i];
        if (!t->name || !*t->name)
            st = fr_fail(FR_E_FORMAT, "%s: initializer %zu has no name", c->path, i);
        else if (!(t->has_data_type && t->data_type == ONNX_INT64)) /* shapes stay here */
            st = copy_tensor(c, t->name, t);
    }
    size_t count = 0;
    char key[32];
    for (size_t i = 0; i < c->graph->n_node && !st; i++) {
        const Onnx__NodeProto *n = c->graph->node[i];
        if (!n->op_type)
            st = fr_fail(FR_E_FORMAT, "%s: node %zu has no op_type", c->path, i);
        else if (strcmp(n->op_type, "Constant") == 0) {
            /* float constants become tensors; int64 ones are shapes, read by their Reshape */
            const Onnx__AttributeProto *v = attribute(n, "value");
            if (!v || !v->t || n->n_output != 1)
                st = node_fail(c, n, "only a Constant with a tensor value");
            else if (!(v->t->has_data_type && v->t->data_type == ONNX_INT64))
                st = copy_tensor(c, n->output[0], v->t);
        } else if (is_shape_op(n->op_type)) {
            st = eval_shape_op(c, n);
        } else {
            st = lower_node(c, n);
            if (!st && c->overflow)
                st = node_fail(c, n, "names too long");
            if (!st) {
                snprintf(key, sizeof key, "onnx.node.%zu", count++);
                st = fr_weights_writer_string(c->writer, key, c->line);
            }
        }
    }
    if (!st)
        st = fr_weights_writer_int(c->writer, "onnx.nodes", (int64_t)count);
    if (!st)
        st = fr_weights_writer_string(c->writer, "onnx.input", input);
    if (!st)
        st = fr_weights_writer_string(c->writer, "onnx.output", c->graph->output[0]->name);
    if (st)
        return st;
    fr_convert_options own = options ? *options : (fr_convert_options){NULL, 0};
    if (!own.preprocess && normalizes_itself(c, input))
        own.preprocess = fr_preprocess_name(FR_PREPROCESS_RAW);
    return fr_convert_finish(c->writer, ONNX_ARCH, c->path, NULL, "facerec convert --from onnx",
                             output_path, &own);
}

fr_status fr_convert_onnx(const char *onnx_path, const char *output_path,
                          const fr_convert_options *options)
{
    void *data;
    size_t size;
    fr_status st = fr_file_read(onnx_path, MAX_ONNX_BYTES, &data, &size);
    if (st)
        return st;
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, data);
    if (!model) {
        free(data);
        return fr_fail(FR_E_FORMAT, "%s: not an ONNX model (the protobuf does not parse: "
                       "truncated or corrupt)", onnx_path);
    }
    converter c;
    memset(&c, 0, sizeof c);
    c.path = onnx_path;
    st = convert(&c, model, output_path, options);
    fr_weights_writer_free(c.writer);
    onnx__model_proto__free_unpacked(model, NULL);
    free(data);
    return st;
}
