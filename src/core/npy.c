/* npy.c: a strict reader and a writer for NumPy's .npy format. */
#include "core/npy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

#define NPY_MAX_FILE ((size_t)1 << 40)

static size_t dtype_size(fr_npy_dtype dtype)
{
    return dtype == FR_NPY_F32 ? 4 : 1;
}

/* Finds 'key': in the header dict and returns a pointer just past the colon. */
static const char *find_key(const char *header, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static fr_status parse_header(const char *path, const char *header, fr_npy *out, int *fortran)
{
    const char *descr = find_key(header, "descr");
    const char *order = find_key(header, "fortran_order");
    const char *shape = find_key(header, "shape");
    if (!descr || !order || !shape)
        return fr_fail(FR_E_FORMAT, "%s: .npy header lacks descr, fortran_order or shape", path);
    if (strncmp(descr, "'<f4'", 5) == 0)
        out->dtype = FR_NPY_F32;
    else if (strncmp(descr, "'|u1'", 5) == 0 || strncmp(descr, "'<u1'", 5) == 0)
        out->dtype = FR_NPY_U8;
    else
        return fr_fail(FR_E_UNSUPPORTED, "%s: .npy dtype %.8s is not float32 or uint8", path, descr);
    if (strncmp(order, "False", 5) != 0 && strncmp(order, "True", 4) != 0)
        return fr_fail(FR_E_FORMAT, "%s: malformed .npy fortran_order", path);
    *fortran = *order == 'T';
    if (*shape != '(')
        return fr_fail(FR_E_FORMAT, "%s: malformed .npy shape", path);
    shape++;
    out->ndim = 0;
    out->count = 1;
    for (;;) {
        while (*shape == ' ' || *shape == ',')
            shape++;
        if (*shape == ')')
            break;
        if (!isdigit((unsigned char)*shape))
            return fr_fail(FR_E_FORMAT, "%s: malformed .npy shape", path);
        if (out->ndim == FR_NPY_MAX_DIMS)
            return fr_fail(FR_E_UNSUPPORTED, "%s: .npy array has too many dimensions", path);
        char *end;
        unsigned long long d = strtoull(shape, &end, 10);
        shape = end;
        out->shape[out->ndim++] = (size_t)d;
        if (!fr_mul_size(out->count, (size_t)d, &out->count))
            return fr_fail(FR_E_TOO_LARGE, "%s: .npy shape overflows", path);
    }
    return FR_OK;
}

/* Fortran order (first index fastest, as some converters save weights) into C order. */
static void from_fortran(const unsigned char *src, fr_npy *arr)
{
    size_t elem = dtype_size(arr->dtype), index[FR_NPY_MAX_DIMS] = {0};
    unsigned char *dst = arr->data;
    for (size_t c = 0; c < arr->count; c++) {
        size_t f = 0, stride = 1;
        for (int k = 0; k < arr->ndim; k++) {
            f += index[k] * stride;
            stride *= arr->shape[k];
        }
        memcpy(dst + c * elem, src + f * elem, elem);
        for (int k = arr->ndim - 1; k >= 0 && ++index[k] == arr->shape[k]; k--)
            index[k] = 0;
    }
}

/* The header at b: its dictionary parsed into out (no data), *start the data's offset. */
static fr_status read_header(const char *path, const unsigned char *b, size_t size, fr_npy *out,
                             int *fortran, size_t *data_at)
{
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return fr_fail(FR_E_FORMAT, "%s: not a .npy file", path);
    size_t header_len, start;
    if (b[6] == 1) {
        header_len = (size_t)b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if ((b[6] == 2 || b[6] == 3) && size >= 12) {
        header_len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return fr_fail(FR_E_UNSUPPORTED, "%s: .npy format version %d is not supported", path,
                       b[6]);
    }
    if (header_len > size - start)
        return fr_fail(FR_E_FORMAT, "%s: truncated .npy header", path);
    char *header = fr_malloc(header_len + 1, "a .npy header");
    if (!header)
        return FR_E_NOMEM;
    memcpy(header, b + start, header_len);
    header[header_len] = 0;
    memset(out, 0, sizeof *out);
    fr_status st = parse_header(path, header, out, fortran);
    free(header);
    *data_at = start + header_len;
    return st;
}

fr_status fr_npy_parse_header(const char *path, const void *bytes, size_t size, fr_npy *out,
                              size_t *data_offset)
{
    int fortran = 0;
    fr_status st = read_header(path, bytes, size, out, &fortran, data_offset);
    if (!st && fortran)
        st = fr_fail(FR_E_UNSUPPORTED, "%s: a Fortran-order .npy cannot be streamed", path);
    return st;
}

fr_status fr_npy_load(const char *path, fr_npy *out)
{
    void *raw;
    size_t size;
    fr_status st = fr_file_read(path, NPY_MAX_FILE, &raw, &size);
    if (st)
        return st;
    const unsigned char *b = raw;
    fr_npy arr = {0};
    int fortran = 0;
    size_t data_at = 0;
    st = read_header(path, b, size, &arr, &fortran, &data_at);
    size_t bytes = 0;
    if (!st && !fr_mul_size(arr.count, dtype_size(arr.dtype), &bytes))
        st = fr_fail(FR_E_TOO_LARGE, "%s: .npy array too large", path);
    if (!st && size - data_at != bytes)
        st = fr_fail(FR_E_FORMAT, "%s: .npy data is %zu bytes, the header says %zu", path,
                     size - data_at, bytes);
    if (!st) {
        arr.data = fr_malloc(bytes, path);
        if (!arr.data)
            st = FR_E_NOMEM;
        else if (fortran)
            from_fortran(b + data_at, &arr);
        else
            memcpy(arr.data, b + data_at, bytes);
    }
    free(raw);
    if (!st)
        *out = arr;
    return st;
}

fr_status fr_npy_load_embeddings(const char *path, fr_npy *out)
{
    fr_npy a;
    fr_status st = fr_npy_load(path, &a);
    if (st)
        return st;
    if (a.dtype != FR_NPY_F32 || a.ndim != 2 || a.shape[1] == 0)
        st = fr_fail(FR_E_FORMAT, "%s: expected float32 embeddings of shape (N, D)", path);
    const float *v = a.data;
    for (size_t i = 0; !st && i < a.count; i++)
        if (!isfinite(v[i]))
            st = fr_fail(FR_E_FORMAT, "%s: row %zu holds a non-finite value (%s): not an "
                         "embedding", path, i / a.shape[1], isnan(v[i]) ? "NaN" : "infinity");
    if (st) {
        fr_npy_free(&a);
        return st;
    }
    *out = a;
    return FR_OK;
}

void fr_npy_free(fr_npy *array)
{
    if (array) {
        free(array->data);
        array->data = NULL;
    }
}

fr_status fr_npy_write_header(FILE *file, fr_npy_dtype dtype, int ndim, const size_t *shape)
{
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == FR_NPY_F32 ? "<f4" : "|u1");
    for (int i = 0; i < ndim && n < (int)sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    if (n < (int)sizeof dict)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n >= (int)sizeof dict - 1)
        return fr_fail(FR_E_INVALID, ".npy header for %d dimensions too long", ndim);
    /* Pad with spaces so that the data starts on a 64-byte boundary, newline last. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                (unsigned char)(header_len & 0xff), (unsigned char)(header_len >> 8)};
    if (fwrite(prefix, 1, 10, file) != 10 || fwrite(dict, 1, (size_t)n, file) != (size_t)n)
        return fr_fail(FR_E_IO, "cannot write a .npy header");
    for (size_t i = 10 + (size_t)n; i < padded - 1; i++)
        fputc(' ', file);
    fputc('\n', file);
    return ferror(file) ? fr_fail(FR_E_IO, "cannot write a .npy header") : FR_OK;
}

fr_status fr_npy_write(FILE *file, const char *path, fr_npy_dtype dtype, int ndim,
                       const size_t *shape, const void *data)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!fr_mul_size(count, shape[i], &count))
            return fr_fail(FR_E_TOO_LARGE, "%s: array too large", path);
    fr_status st = fr_npy_write_header(file, dtype, ndim, shape);
    if (!st && count && fwrite(data, dtype_size(dtype), count, file) != count)
        st = fr_fail(FR_E_IO, "%s: write failed: %s", path, strerror(errno));
    return st;
}

fr_status fr_npy_save(const char *path, fr_npy_dtype dtype, int ndim, const size_t *shape,
                      const void *data)
{
    fr_output out;
    fr_status st = fr_output_open(&out, path, 0);
    if (!st)
        st = fr_npy_write(out.file, path, dtype, ndim, shape, data);
    if (st) {
        fr_output_abort(&out);
        return st;
    }
    return fr_output_commit(&out);
}
