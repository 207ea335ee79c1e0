/*
 * convert_tfjs.c: a TensorFlow.js weights manifest to .frw: face-api's face_recognition_model
 * (architecture dlib), face_landmark_68_model (landmark68) or tiny_face_detector_model
 * (tinyface), told apart by their tensors.
 *
 * The manifest is a list of groups, each with shard files ("paths", concatenated in order)
 * and the tensors stored back to back in them. Quantized tensors are dequantized exactly as
 * tfjs-core's io.decodeWeights does: value = q * scale + min, computed in double and stored as
 * float32, so our weights are bit-identical to those face-api runs with.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"
#include "model/convert.h"
#include "model/model_internal.h"
#include "model/onnx.h"
#include "model/weights.h"

#define MAX_MANIFEST ((size_t)16 << 20)
#define MAX_SHARDS ((size_t)1 << 30)

static fr_status convert_tfjs_graph(const char *path, const cJSON *model, fr_sha256_list *digest,
                                    const char *output_path, const fr_convert_options *options);

typedef struct shard_buffer {
    unsigned char *data;
    size_t size;
} shard_buffer;

/* A file's line of the conversion's provenance digest. */
static fr_status digest_add(fr_sha256_list *digest, const void *data, size_t size,
                            const char *name)
{
    char hex[65];
    fr_sha256_hex(data, size, hex);
    return fr_sha256_list_add(digest, hex, name);
}

static fr_status load_shards(const char *manifest_path, const cJSON *paths, shard_buffer *out,
                             fr_sha256_list *digest)
{
    const char *slash = strrchr(manifest_path, '/');
    size_t dir_len = slash ? (size_t)(slash - manifest_path + 1) : 0;
    out->data = NULL;
    out->size = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
    {
        if (!cJSON_IsString(p) || strchr(p->valuestring, '/') || strstr(p->valuestring, ".."))
            return fr_fail(FR_E_FORMAT, "%s: bad shard path in manifest", manifest_path);
        size_t n = dir_len + strlen(p->valuestring) + 1;
        char *path = fr_malloc(n, "a path");
        if (!path)
            return FR_E_NOMEM;
        memcpy(path, manifest_path, dir_len);
        strcpy(path + dir_len, p->valuestring);
        void *data;
        size_t size;
        fr_status st = fr_file_read(path, MAX_SHARDS, &data, &size);
        free(path);
        if (st)
            return st;
        st = digest_add(digest, data, size, p->valuestring);
        if (st) {
            free(data);
            return st;
        }
        unsigned char *grown = realloc(out->data, out->size + size + 1);
        if (!grown) {
            free(data);
            return fr_fail(FR_E_NOMEM, "out of memory reading weight shards");
        }
        memcpy(grown + out->size, data, size);
        free(data);
        out->data = grown;
        out->size += size;
    }
    return FR_OK;
}

/* A decoded tensor. */
typedef struct tfjs_tensor {
    const char *name; /* the manifest's string */
    int ndim;
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    size_t count;
    float *values;
} tfjs_tensor;

/* IEEE half to float, exactly (tfjs-core's float16 dequantization). */
static float half_to_float(unsigned h)
{
    unsigned sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v = exp == 0 ? ldexp((double)mant, -24)
             : exp == 31 ? (mant ? NAN : INFINITY)
                         : ldexp((double)(mant | 1024), (int)exp - 25);
    return (float)(sign ? -v : v);
}

/* Decodes one tensor at *offset of the group's buffer into floats: float32, uint8/uint16
 * quantized (value = q * scale + min) or float16, and int32 (shapes and axes, exact in a
 * float at their sizes). */
static fr_status decode_values(const char *manifest_path, const cJSON *spec,
                               const shard_buffer *buffer, size_t *offset, tfjs_tensor *out)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(spec, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(spec, "dtype");
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(spec, "quantization");
    memset(out, 0, sizeof *out);
    if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype))
        return fr_fail(FR_E_FORMAT, "%s: a weight entry lacks name, shape or dtype", manifest_path);
    int is_int = strcmp(dtype->valuestring, "int32") == 0;
    if (strcmp(dtype->valuestring, "float32") != 0 && !is_int)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s has dtype %s (only float32 weights and "
                       "int32 axes are used by face models)", manifest_path, name->valuestring,
                       dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > FR_WEIGHTS_MAX_DIMS)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s has %d dimensions", manifest_path,
                       name->valuestring, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e9 ||
            d->valuedouble != (double)(int64_t)d->valuedouble ||
            !fr_mul_size(count, (size_t)d->valuedouble, &count))
            return fr_fail(FR_E_FORMAT, "%s: tensor %s has a bad shape", manifest_path,
                           name->valuestring);
        out->dims[i] = (int64_t)d->valuedouble;
    }
    const char *qtype = NULL;
    double scale = 1, min = 0;
    if (quant) {
        const cJSON *qt = cJSON_GetObjectItemCaseSensitive(quant, "dtype");
        const cJSON *qs = cJSON_GetObjectItemCaseSensitive(quant, "scale");
        const cJSON *qm = cJSON_GetObjectItemCaseSensitive(quant, "min");
        if (!cJSON_IsString(qt))
            return fr_fail(FR_E_FORMAT, "%s: tensor %s: quantization without dtype", manifest_path,
                           name->valuestring);
        qtype = qt->valuestring;
        if (is_int || (strcmp(qtype, "uint8") != 0 && strcmp(qtype, "uint16") != 0 &&
                       strcmp(qtype, "float16") != 0))
            return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s: %s quantization is not supported",
                           manifest_path, name->valuestring, qtype);
        if (strcmp(qtype, "float16") != 0) {
            if (!cJSON_IsNumber(qs) || !cJSON_IsNumber(qm))
                return fr_fail(FR_E_FORMAT, "%s: tensor %s: quantization without scale and min",
                               manifest_path, name->valuestring);
            scale = qs->valuedouble;
            min = qm->valuedouble;
        }
    }
    int half = qtype && strcmp(qtype, "float16") == 0;
    size_t element = !qtype ? 4 : strcmp(qtype, "uint8") == 0 ? 1 : 2;
    size_t bytes;
    if (!fr_mul_size(count, element, &bytes) || bytes > buffer->size - *offset)
        return fr_fail(FR_E_FORMAT, "%s: the weight shards end inside tensor %s (truncated .bin?)",
                       manifest_path, name->valuestring);
    float *values = fr_malloc(count ? count * sizeof(float) : 1, name->valuestring);
    if (!values)
        return FR_E_NOMEM;
    /* (an empty tensor of an empty shard: no data pointer to offset) */
    const unsigned char *src = count ? buffer->data + *offset : NULL;
    for (size_t i = 0; i < count; i++) {
        if (is_int) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            values[i] = (float)v;
        } else if (!qtype) {
            memcpy(&values[i], src + 4 * i, 4);
        } else {
            unsigned q = element == 1 ? src[i] : (unsigned)src[2 * i] | (unsigned)src[2 * i + 1] << 8;
            values[i] = half ? half_to_float(q) : (float)(q * scale + min);
        }
    }
    *offset += bytes;
    out->name = name->valuestring;
    out->ndim = ndim;
    out->count = count;
    out->values = values;
    return FR_OK;
}

static fr_status decode_tensor(const char *manifest_path, const cJSON *spec,
                               const shard_buffer *buffer, size_t *offset,
                               fr_weights_writer *writer)
{
    tfjs_tensor t;
    fr_status st = decode_values(manifest_path, spec, buffer, offset, &t);
    if (!st)
        st = fr_weights_writer_tensor(writer, t.name, t.ndim, t.dims, t.values);
    free(t.values);
    return st;
}

/* face-api's landmark networks are FaceFeatureExtractors: dense blocks "dense0/..."; its
 * TinyFaceDetector is a Tiny-YOLOv2 whose last layer is "conv8/..."; its recognition ResNet
 * has neither. */
static const char *manifest_arch(const cJSON *manifest)
{
    const cJSON *group;
    cJSON_ArrayForEach(group, manifest)
    {
        const cJSON *spec;
        cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(group, "weights"))
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
            if (cJSON_IsString(name) && strncmp(name->valuestring, "dense0/", 7) == 0)
                return "landmark68";
            if (cJSON_IsString(name) && strncmp(name->valuestring, "conv8/", 6) == 0)
                return "tinyface";
        }
    }
    return "dlib";
}

fr_status fr_convert_tfjs(const char *manifest_path, const char *output_path,
                          const fr_convert_options *options)
{
    void *text;
    size_t size;
    fr_status st = fr_file_read(manifest_path, MAX_MANIFEST, &text, &size);
    if (st)
        return st;
    fr_sha256_list digest = {NULL, 0};
    const char *slash = strrchr(manifest_path, '/');
    st = digest_add(&digest, text, size, slash ? slash + 1 : manifest_path);
    cJSON *manifest = st ? NULL : cJSON_ParseWithLength(text, size);
    free(text);
    if (st)
        return st;
    if (cJSON_IsObject(manifest) && cJSON_GetObjectItemCaseSensitive(manifest, "modelTopology")) {
        st = convert_tfjs_graph(manifest_path, manifest, &digest, output_path, options);
        cJSON_Delete(manifest);
        free(digest.text);
        return st;
    }
    if (!cJSON_IsArray(manifest)) {
        cJSON_Delete(manifest);
        free(digest.text);
        return fr_fail(FR_E_FORMAT, "%s: not a TensorFlow.js weights manifest (a JSON list of "
                       "weight groups)", manifest_path);
    }
    fr_weights_writer *writer = fr_weights_writer_new();
    if (!writer) {
        cJSON_Delete(manifest);
        free(digest.text);
        return FR_E_NOMEM;
    }
    const cJSON *group;
    cJSON_ArrayForEach(group, manifest)
    {
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(group, "paths");
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(group, "weights");
        if (!cJSON_IsArray(paths) || !cJSON_IsArray(weights)) {
            st = fr_fail(FR_E_FORMAT, "%s: a weight group lacks paths or weights", manifest_path);
            break;
        }
        shard_buffer buffer;
        st = load_shards(manifest_path, paths, &buffer, &digest);
        size_t offset = 0;
        const cJSON *spec;
        cJSON_ArrayForEach(spec, weights)
        {
            if (st)
                break;
            st = decode_tensor(manifest_path, spec, &buffer, &offset, writer);
        }
        if (!st && offset != buffer.size)
            st = fr_fail(FR_E_FORMAT, "%s: %zu bytes of the weight shards are not described by "
                         "the manifest", manifest_path, buffer.size - offset);
        free(buffer.data);
        if (st)
            break;
    }
    const char *arch = manifest_arch(manifest);
    cJSON_Delete(manifest);
    char sha[65];
    fr_sha256_list_finish(&digest, sha);
    if (!st)
        st = fr_convert_finish(writer, arch, manifest_path, sha, "facerec convert --from tfjs",
                               output_path, options);
    fr_weights_writer_free(writer);
    return st;
}

/* ---- TensorFlow.js graph models (model.json: "modelTopology" + "weightsManifest") ----------- */

/* A TF.js graph model is a TensorFlow GraphDef as JSON: nodes with an op, inputs by name
 * ("x", "x:1", "^control") and attributes, and its Const nodes' values in the weights
 * manifest. The converter lowers the nodes the embedding depends on to the program of
 * model/onnx.h (one builder for both importers), in dependency order, tracking each value's
 * (h, w, c) so that TensorFlow's SAME padding becomes explicit pads. Filters are written in
 * ONNX's layout: Conv2D (kh, kw, c_in, c_out) -> (c_out, c_in, kh, kw), depthwise (kh, kw, c,
 * 1) -> (c, 1, kh, kw). The models it knows (GRAPH_MODELS) say which output is the
 * embedding and which architecture runs it. */

typedef struct graph_model {
    const char *arch;      /* the architecture entry (model.c) */
    const char *marker;    /* a node only this model has */
    const char *output;    /* the embedding's node */
} graph_model;

/* @vladmandic/human's faceres (HSE FaceRes, a MobileNet on 224 x 224): its global pooling is
 * the descriptor human compares (faceres.ts); the age and gender heads are not needed. */
static const graph_model GRAPH_MODELS[] = {
    {"faceres", "age_pred/Softmax", "global_pooling/Mean"},
};

typedef struct gvalue {
    const char *name;
    int h, w, c;
    int is_const;
} gvalue;

typedef struct graph_converter {
    const char *path;
    const cJSON *nodes;
    int node_count;
    const cJSON **node_at;  /* node i */
    int *state;             /* 0 unvisited, 1 on the stack, 2 emitted */
    tfjs_tensor *tensors;
    size_t tensor_count;
    unsigned char *written; /* per tensor: 1 once in the .frw */
    gvalue *values;
    int value_count;
    fr_weights_writer *writer;
    const char *input;
    int size;
    size_t lines;
    char line[8192];
} graph_converter;

static const char *node_str(const cJSON *node, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *node_attr(const cJSON *node, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "attr"), key);
}

/* A string attribute ({"s": base64}) decoded into out. */
static int attr_string(const cJSON *node, const char *key, char *out, size_t size)
{
    const char *b64 = node_str(node_attr(node, key), "s");
    static const char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    if (!b64)
        return 0;
    for (const char *p = b64; *p && *p != '='; p++) {
        const char *at = strchr(table, *p);
        if (!at)
            return 0;
        acc = (acc << 6) | (unsigned)(at - table);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size)
                return 0;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = 0;
    return 1;
}

/* A list-of-ints attribute ({"list": {"i": ["1", ...]}}), exactly count entries. */
static int attr_int_list(const cJSON *node, const char *key, int count, int *out)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(node_attr(node, key), "list"), "i");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != count)
        return 0;
    for (int i = 0; i < count; i++) {
        const cJSON *v = cJSON_GetArrayItem(list, i);
        long x = cJSON_IsString(v) ? strtol(v->valuestring, NULL, 10)
                 : cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
        if (x < 0 || x > 4096)
            return 0;
        out[i] = (int)x;
    }
    return 1;
}

static int attr_bool(const cJSON *node, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node_attr(node, key), "b"));
}

static fr_status gnode_fail(const graph_converter *c, const cJSON *node, const char *what)
{
    const char *name = node_str(node, "name"), *op = node_str(node, "op");
    return fr_fail(FR_E_UNSUPPORTED, "%s: node '%s' (%s): %s", c->path, name ? name : "?",
                   op ? op : "?", what);
}

static int find_node(const graph_converter *c, const char *name)
{
    for (int i = 0; i < c->node_count; i++) {
        const char *n = node_str(c->node_at[i], "name");
        if (n && strcmp(n, name) == 0)
            return i;
    }
    return -1;
}

static tfjs_tensor *find_tensor(const graph_converter *c, const char *name)
{
    for (size_t i = 0; i < c->tensor_count; i++)
        if (strcmp(c->tensors[i].name, name) == 0)
            return &c->tensors[i];
    return NULL;
}

static gvalue *find_gvalue(const graph_converter *c, const char *name)
{
    for (int i = 0; i < c->value_count; i++)
        if (strcmp(c->values[i].name, name) == 0)
            return &c->values[i];
    return NULL;
}

static fr_status add_gvalue(graph_converter *c, const char *name, int h, int w, int ch,
                            int is_const)
{
    gvalue *grown = realloc(c->values, (size_t)(c->value_count + 1) * sizeof *grown);
    if (!grown)
        return fr_fail(FR_E_NOMEM, "out of memory converting %s", c->path);
    c->values = grown;
    c->values[c->value_count++] = (gvalue){name, h, w, ch, is_const};
    return FR_OK;
}

/* Input i of a node, without ":0" (other output indices are refused) or control inputs. */
static const char *node_input(const graph_converter *c, const cJSON *node, int i, char *buf,
                              size_t size)
{
    (void)c;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(node, "input");
    const cJSON *v = cJSON_GetArrayItem(inputs, i);
    if (!cJSON_IsString(v) || v->valuestring[0] == '^')
        return NULL;
    snprintf(buf, size, "%s", v->valuestring);
    char *colon = strrchr(buf, ':');
    if (colon && strcmp(colon, ":0") == 0)
        *colon = 0;
    else if (colon)
        return NULL;
    return buf;
}

static int data_inputs(const cJSON *node)
{
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(node, "input"))
        n += cJSON_IsString(v) && v->valuestring[0] != '^';
    return n;
}

/* Writes a constant into the .frw once, permuted to ONNX's filter layout when `filter` is 1
 * (Conv2D) or 2 (depthwise). */
static fr_status write_const(graph_converter *c, const cJSON *node, const char *name, int filter)
{
    tfjs_tensor *t = find_tensor(c, name);
    if (!t)
        return gnode_fail(c, node, "an operand is neither a computed value nor a weight in the "
                          "manifest");
    size_t index = (size_t)(t - c->tensors);
    if (c->written[index] && c->written[index] != filter + 1)
        return gnode_fail(c, node, "a weight used both as a filter and otherwise");
    if (c->written[index])
        return FR_OK;
    c->written[index] = (unsigned char)(filter + 1);
    if (!filter)
        return fr_weights_writer_tensor(c->writer, t->name, t->ndim, t->dims, t->values);
    if (t->ndim != 4)
        return gnode_fail(c, node, "a filter that is not 4-d");
    int64_t kh = t->dims[0], kw = t->dims[1], ci = t->dims[2], co = t->dims[3];
    if (filter == 2 && co != 1)
        return gnode_fail(c, node, "a depthwise multiplier other than 1");
    int64_t dims[4] = {filter == 2 ? ci : co, filter == 2 ? 1 : ci, kh, kw};
    float *p = fr_malloc(t->count * sizeof(float), "a filter");
    if (!p)
        return FR_E_NOMEM;
    for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++)
            for (int64_t a = 0; a < ci; a++)
                for (int64_t o = 0; o < co; o++) {
                    float v = t->values[((i * kw + j) * ci + a) * co + o];
                    if (filter == 2)
                        p[(a * kh + i) * kw + j] = v;
                    else
                        p[((o * ci + a) * kh + i) * kw + j] = v;
                }
    fr_status st = fr_weights_writer_tensor(c->writer, t->name, 4, dims, p);
    free(p);
    return st;
}

/* Appends " key=" and the escaped name. */
static int put_name(graph_converter *c, size_t *used, const char *prefix, const char *name)
{
    char esc[1024];
    if (!fr_onnx_escape(name, esc, sizeof esc))
        return 0;
    int n = snprintf(c->line + *used, sizeof c->line - *used, "%s%s", prefix, esc);
    if (n < 0 || (size_t)n >= sizeof c->line - *used)
        return 0;
    *used += (size_t)n;
    return 1;
}

static fr_status emit(graph_converter *c, const cJSON *node, const char *op, const char *out,
                      const char *const *in, int inputs, const char *extra)
{
    size_t used = 0;
    int ok = put_name(c, &used, op, "") && put_name(c, &used, " out=", out);
    for (int i = 0; ok && i < inputs; i++)
        ok = put_name(c, &used, i ? "," : " in=", in[i]);
    if (ok && extra) {
        int n = snprintf(c->line + used, sizeof c->line - used, " %s", extra);
        ok = n >= 0 && (size_t)n < sizeof c->line - used;
    }
    if (!ok)
        return gnode_fail(c, node, "names too long");
    char key[32];
    snprintf(key, sizeof key, "onnx.node.%zu", c->lines++);
    return fr_weights_writer_string(c->writer, key, c->line);
}

/* TensorFlow's SAME: total max((ceil(in / s) - 1) * s + k - in, 0), the smaller half first. */
static void same_pads(int in, int k, int s, int *before, int *after, int *out)
{
    *out = (in + s - 1) / s;
    int total = (*out - 1) * s + k - in;
    if (total < 0)
        total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

static fr_status lower_gnode(graph_converter *c, const cJSON *node);

/* Lowers node `index` after everything it reads (depth first from the output). */
static fr_status visit(graph_converter *c, int index)
{
    if (c->state[index] == 2)
        return FR_OK;
    const cJSON *node = c->node_at[index];
    if (c->state[index] == 1)
        return gnode_fail(c, node, "the graph has a cycle");
    c->state[index] = 1;
    int n = data_inputs(node);
    for (int i = 0; i < n; i++) {
        char buf[512];
        const char *name = node_input(c, node, i, buf, sizeof buf);
        if (!name)
            return gnode_fail(c, node, "an input of another output index than 0");
        int j = find_node(c, name);
        if (j < 0)
            return gnode_fail(c, node, "an input that no node computes");
        fr_status st = visit(c, j);
        if (st)
            return st;
    }
    c->state[index] = 2;
    return lower_gnode(c, node);
}

static fr_status lower_gnode(graph_converter *c, const cJSON *node)
{
    const char *op = node_str(node, "op"), *name = node_str(node, "name");
    if (!op || !name)
        return fr_fail(FR_E_FORMAT, "%s: a node without name or op", c->path);
    if (strcmp(op, "Const") == 0)
        return add_gvalue(c, name, 0, 0, 0, 1);
    if (strcmp(op, "Placeholder") == 0) {
        const cJSON *dims = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(node_attr(node, "shape"), "shape"), "dim");
        int shape[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4 && cJSON_GetArraySize(dims) == 4; i++) {
            const char *s = node_str(cJSON_GetArrayItem(dims, i), "size");
            shape[i] = s ? atoi(s) : 0;
        }
        if (c->input)
            return gnode_fail(c, node, "a second image input");
        if (shape[1] != c->size || shape[2] != c->size || shape[3] != 3)
            return fr_fail(FR_E_UNSUPPORTED, "%s: input '%s' is not (N, %d, %d, 3) (dynamic or "
                           "another size)", c->path, name, c->size, c->size);
        c->input = name;
        return add_gvalue(c, name, c->size, c->size, 3, 0);
    }
    char b0[512], b1[512], b2[512];
    const char *in0 = node_input(c, node, 0, b0, sizeof b0);
    const char *in1 = data_inputs(node) > 1 ? node_input(c, node, 1, b1, sizeof b1) : NULL;
    const char *in2 = data_inputs(node) > 2 ? node_input(c, node, 2, b2, sizeof b2) : NULL;
    gvalue *x = in0 ? find_gvalue(c, in0) : NULL;
    gvalue *y = in1 ? find_gvalue(c, in1) : NULL;
    if (!x)
        return gnode_fail(c, node, "no input");
    if (x->is_const && (!y || y->is_const))
        return gnode_fail(c, node, "an operation on constants only");
    gvalue xv = *x;
    fr_status st = FR_OK;
    if (strcmp(op, "Conv2D") == 0 || strcmp(op, "DepthwiseConv2dNative") == 0) {
        int depthwise = op[0] == 'D';
        tfjs_tensor *w = in1 ? find_tensor(c, in1) : NULL;
        int strides[4], dil[4] = {1, 1, 1, 1};
        char padding[16], format[16] = "NHWC";
        if (!w || w->ndim != 4 || xv.is_const)
            return gnode_fail(c, node, "no 4-d filter constant");
        if (!attr_int_list(node, "strides", 4, strides) || !attr_string(node, "padding", padding,
                                                                         sizeof padding))
            return gnode_fail(c, node, "strides or padding missing");
        if (node_attr(node, "data_format") && !attr_string(node, "data_format", format,
                                                           sizeof format))
            return gnode_fail(c, node, "bad data_format");
        if (node_attr(node, "dilations") && !attr_int_list(node, "dilations", 4, dil))
            return gnode_fail(c, node, "bad dilations");
        if (strcmp(format, "NHWC") != 0 || dil[1] != 1 || dil[2] != 1 || strides[1] < 1 ||
            strides[2] < 1)
            return gnode_fail(c, node, "only NHWC, undilated convolutions are supported");
        int kh = (int)w->dims[0], kw = (int)w->dims[1], ci = (int)w->dims[2];
        int co = depthwise ? ci : (int)w->dims[3];
        if (ci != xv.c)
            return gnode_fail(c, node, "a filter for another number of input channels");
        int pt = 0, pb = 0, pl = 0, pr = 0, ho, wo;
        if (strcmp(padding, "SAME") == 0) {
            same_pads(xv.h, kh, strides[1], &pt, &pb, &ho);
            same_pads(xv.w, kw, strides[2], &pl, &pr, &wo);
        } else if (strcmp(padding, "VALID") == 0) {
            if (xv.h < kh || xv.w < kw)
                return gnode_fail(c, node, "a kernel larger than its input");
            ho = (xv.h - kh) / strides[1] + 1;
            wo = (xv.w - kw) / strides[2] + 1;
        } else {
            return gnode_fail(c, node, "padding other than SAME or VALID");
        }
        if ((st = write_const(c, node, in1, depthwise ? 2 : 1)) != FR_OK)
            return st;
        char extra[160];
        snprintf(extra, sizeof extra, "k=%d,%d s=%d,%d p=%d,%d,%d,%d g=%d", kh, kw, strides[1],
                 strides[2], pt, pl, pb, pr, depthwise ? ci : 1);
        const char *ins[2] = {in0, in1};
        st = emit(c, node, "conv", name, ins, 2, extra);
        return st ? st : add_gvalue(c, name, ho, wo, co, 0);
    }
    if (strcmp(op, "Add") == 0 || strcmp(op, "AddV2") == 0 || strcmp(op, "BiasAdd") == 0 ||
        strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 || strcmp(op, "Minimum") == 0 ||
        strcmp(op, "Maximum") == 0) {
        if (!y)
            return gnode_fail(c, node, "expects two operands");
        const char *prog = op[0] == 'A' || op[0] == 'B' ? "add" : op[0] == 'S' ? "sub"
                           : strcmp(op, "Mul") == 0 ? "mul" : op[1] == 'i' ? "min" : "max";
        if ((prog[0] == 'm' && prog[1] == 'i') || (prog[1] == 'a' && prog[0] == 'm')) {
            if (xv.is_const)
                return gnode_fail(c, node, "the constant must be the second operand");
        }
        if (xv.is_const && (st = write_const(c, node, in0, 0)) != FR_OK)
            return st;
        if (y->is_const && (st = write_const(c, node, in1, 0)) != FR_OK)
            return st;
        gvalue shape = xv.is_const ? *y : xv;
        const char *ins[2] = {in0, in1};
        st = emit(c, node, prog, name, ins, 2, NULL);
        return st ? st : add_gvalue(c, name, shape.h, shape.w, shape.c, 0);
    }
    if (strcmp(op, "Relu") == 0 || strcmp(op, "Identity") == 0) {
        const char *ins[1] = {in0};
        st = emit(c, node, op[0] == 'R' ? "relu" : "identity", name, ins, 1, NULL);
        return st ? st : add_gvalue(c, name, xv.h, xv.w, xv.c, 0);
    }
    if (strcmp(op, "Mean") == 0) {
        tfjs_tensor *axes = in1 ? find_tensor(c, in1) : NULL;
        if (!axes || axes->count != 2 || axes->values[0] != 1 || axes->values[1] != 2)
            return gnode_fail(c, node, "only a mean over the spatial axes (1, 2)");
        const char *ins[1] = {in0};
        st = emit(c, node, "gap", name, ins, 1, NULL);
        return st ? st : add_gvalue(c, name, 1, 1, xv.c, 0);
    }
    if (strcmp(op, "MatMul") == 0 || strcmp(op, "_FusedMatMul") == 0) {
        tfjs_tensor *w = in1 ? find_tensor(c, in1) : NULL;
        if (!w || w->ndim != 2 || xv.h != 1 || xv.w != 1 || attr_bool(node, "transpose_a"))
            return gnode_fail(c, node, "only a vector times a constant matrix");
        int t = attr_bool(node, "transpose_b");
        int relu = 0, bias = 0;
        if (op[0] == '_') {
            const cJSON *ops = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(node_attr(node, "fused_ops"), "list"), "s");
            const cJSON *f;
            cJSON_ArrayForEach(f, ops)
            {
                /* "BiasAdd" and "Relu", base64 */
                if (cJSON_IsString(f) && strcmp(f->valuestring, "Qmlhc0FkZA==") == 0 && !bias)
                    bias = 1;
                else if (cJSON_IsString(f) && strcmp(f->valuestring, "UmVsdQ==") == 0 && bias)
                    relu = 1;
                else
                    return gnode_fail(c, node, "fused ops other than BiasAdd then Relu");
            }
            if (!bias || !in2)
                return gnode_fail(c, node, "a fused matmul without its bias");
        }
        if ((st = write_const(c, node, in1, 0)) != FR_OK ||
            (bias && (st = write_const(c, node, in2, 0)) != FR_OK))
            return st;
        char dense[600], extra[16];
        snprintf(dense, sizeof dense, "%s%s", name, relu ? "/BiasAdd" : "");
        snprintf(extra, sizeof extra, "t=%d", t);
        const char *ins[3] = {in0, in1, in2};
        st = emit(c, node, "dense", dense, ins, bias ? 3 : 2, extra);
        int m = (int)(t ? w->dims[0] : w->dims[1]);
        if (!st && relu) {
            const char *r[1] = {dense};
            st = emit(c, node, "relu", name, r, 1, NULL);
        }
        return st ? st : add_gvalue(c, name, 1, 1, m, 0);
    }
    return gnode_fail(c, node, "unsupported op (facerec imports Conv2D, DepthwiseConv2dNative, "
                      "Add, AddV2, BiasAdd, Sub, Mul, Minimum, Maximum, Relu, Identity, Mean over "
                      "(1, 2), MatMul, _FusedMatMul with BiasAdd[, Relu])");
}

static fr_status convert_graph(graph_converter *c, const cJSON *model, fr_sha256_list *digest,
                               const char *output_path, const fr_convert_options *options)
{
    const cJSON *topology = cJSON_GetObjectItemCaseSensitive(model, "modelTopology");
    const cJSON *manifest = cJSON_GetObjectItemCaseSensitive(model, "weightsManifest");
    c->nodes = cJSON_GetObjectItemCaseSensitive(topology, "node");
    if (!cJSON_IsArray(c->nodes) || !cJSON_IsArray(manifest))
        return fr_fail(FR_E_FORMAT, "%s: a graph model without modelTopology.node or "
                       "weightsManifest", c->path);
    c->node_count = cJSON_GetArraySize(c->nodes);
    if (c->node_count < 1 || c->node_count > FR_ONNX_MAX_NODES)
        return fr_fail(FR_E_UNSUPPORTED, "%s: %d nodes (1..%d)", c->path, c->node_count,
                       FR_ONNX_MAX_NODES);
    c->node_at = calloc((size_t)c->node_count, sizeof *c->node_at);
    c->state = calloc((size_t)c->node_count, sizeof *c->state);
    if (!c->node_at || !c->state)
        return fr_fail(FR_E_NOMEM, "out of memory converting %s", c->path);
    int i = 0;
    const cJSON *n;
    cJSON_ArrayForEach(n, c->nodes) c->node_at[i++] = n;
    const graph_model *known = NULL;
    for (size_t k = 0; k < sizeof GRAPH_MODELS / sizeof *GRAPH_MODELS; k++)
        if (find_node(c, GRAPH_MODELS[k].marker) >= 0 && find_node(c, GRAPH_MODELS[k].output) >= 0)
            known = &GRAPH_MODELS[k];
    if (!known)
        return fr_fail(FR_E_UNSUPPORTED, "%s: a TensorFlow.js graph model facerec does not know "
                       "(it imports @vladmandic/human's faceres)", c->path);
    const fr_arch *arch = fr_arch_find(known->arch);
    c->size = arch->input_size;
    /* the weights, every group's shards concatenated in order */
    const cJSON *group;
    fr_status st = FR_OK;
    cJSON_ArrayForEach(group, manifest)
    {
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(group, "paths");
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(group, "weights");
        if (!cJSON_IsArray(paths) || !cJSON_IsArray(weights))
            return fr_fail(FR_E_FORMAT, "%s: a weight group lacks paths or weights", c->path);
        shard_buffer buffer;
        if ((st = load_shards(c->path, paths, &buffer, digest)) != FR_OK)
            return st;
        size_t offset = 0;
        const cJSON *spec;
        cJSON_ArrayForEach(spec, weights)
        {
            tfjs_tensor *grown = realloc(c->tensors, (c->tensor_count + 1) * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory converting %s", c->path);
                break;
            }
            c->tensors = grown;
            if ((st = decode_values(c->path, spec, &buffer, &offset,
                                    &c->tensors[c->tensor_count])) != FR_OK)
                break;
            c->tensor_count++;
        }
        if (!st && offset != buffer.size)
            st = fr_fail(FR_E_FORMAT, "%s: %zu bytes of the weight shards are not described by "
                         "the manifest", c->path, buffer.size - offset);
        free(buffer.data);
        if (st)
            return st;
    }
    c->written = calloc(c->tensor_count + 1, 1);
    c->writer = fr_weights_writer_new();
    if (!c->written || !c->writer)
        return fr_fail(FR_E_NOMEM, "out of memory converting %s", c->path);
    st = visit(c, find_node(c, known->output));
    if (!st && !c->input)
        st = fr_fail(FR_E_FORMAT, "%s: the embedding does not depend on an image input", c->path);
    if (!st)
        st = fr_weights_writer_int(c->writer, "onnx.nodes", (int64_t)c->lines);
    if (!st)
        st = fr_weights_writer_string(c->writer, "onnx.input", c->input);
    if (!st)
        st = fr_weights_writer_string(c->writer, "onnx.output", known->output);
    if (st)
        return st;
    char sha[65];
    fr_sha256_list_finish(digest, sha);
    return fr_convert_finish(c->writer, known->arch, c->path, sha,
                             "facerec convert --from tfjs", output_path, options);
}

static fr_status convert_tfjs_graph(const char *path, const cJSON *model, fr_sha256_list *digest,
                                    const char *output_path, const fr_convert_options *options)
{
    graph_converter c;
    memset(&c, 0, sizeof c);
    c.path = path;
    fr_status st = convert_graph(&c, model, digest, output_path, options);
    for (size_t i = 0; i < c.tensor_count; i++)
        free(c.tensors[i].values);
    free(c.tensors);
    free(c.written);
    free(c.values);
    free(c.node_at);
    free(c.state);
    fr_weights_writer_free(c.writer);
    return st;
}
