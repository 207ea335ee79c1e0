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
#include "model/weights.h"

#define MAX_MANIFEST ((size_t)16 << 20)
#define MAX_SHARDS ((size_t)1 << 30)

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

/* Decodes one tensor at *offset of the group's buffer into floats. */
static fr_status decode_tensor(const char *manifest_path, const cJSON *spec,
                               const shard_buffer *buffer, size_t *offset,
                               fr_weights_writer *writer)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(spec, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(spec, "dtype");
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(spec, "quantization");
    if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype))
        return fr_fail(FR_E_FORMAT, "%s: a weight entry lacks name, shape or dtype", manifest_path);
    if (strcmp(dtype->valuestring, "float32") != 0)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s has dtype %s (only float32 weights are "
                       "used by face models)", manifest_path, name->valuestring, dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > FR_WEIGHTS_MAX_DIMS)
        return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s has %d dimensions", manifest_path,
                       name->valuestring, ndim);
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e9 ||
            d->valuedouble != (double)(int64_t)d->valuedouble ||
            !fr_mul_size(count, (size_t)d->valuedouble, &count))
            return fr_fail(FR_E_FORMAT, "%s: tensor %s has a bad shape", manifest_path,
                           name->valuestring);
        dims[i] = (int64_t)d->valuedouble;
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
        if (strcmp(qtype, "uint8") != 0 && strcmp(qtype, "uint16") != 0)
            return fr_fail(FR_E_UNSUPPORTED, "%s: tensor %s: %s quantization is not supported",
                           manifest_path, name->valuestring, qtype);
        if (!cJSON_IsNumber(qs) || !cJSON_IsNumber(qm))
            return fr_fail(FR_E_FORMAT, "%s: tensor %s: quantization without scale and min",
                           manifest_path, name->valuestring);
        scale = qs->valuedouble;
        min = qm->valuedouble;
    }
    size_t element = !qtype ? 4 : strcmp(qtype, "uint8") == 0 ? 1 : 2;
    size_t bytes;
    if (!fr_mul_size(count, element, &bytes) || bytes > buffer->size - *offset)
        return fr_fail(FR_E_FORMAT, "%s: the weight shards end inside tensor %s (truncated .bin?)",
                       manifest_path, name->valuestring);
    float *values = fr_malloc(count * sizeof(float), name->valuestring);
    if (!values)
        return FR_E_NOMEM;
    /* (an empty tensor of an empty shard: no data pointer to offset) */
    const unsigned char *src = count ? buffer->data + *offset : NULL;
    for (size_t i = 0; i < count; i++) {
        if (!qtype) {
            memcpy(&values[i], src + 4 * i, 4);
        } else {
            unsigned q = element == 1 ? src[i] : (unsigned)src[2 * i] | (unsigned)src[2 * i + 1] << 8;
            values[i] = (float)(q * scale + min);
        }
    }
    *offset += bytes;
    fr_status st = fr_weights_writer_tensor(writer, name->valuestring, ndim, dims, values);
    free(values);
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
