/*
 * fuzz_npy.c: the .npy reader (core/npy.c): the header parser on the bytes in memory, then the
 * file readers distmat, cluster, merge and the rest use (fr_npy_load, fr_npy_load_embeddings).
 * A result must match its header (shape product = count, data allocated for it, embeddings
 * 2-D float32 and finite); a refusal is one line naming the file.
 */
#include <math.h>

#include "core/npy.h"
#include "fuzz_util.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_npy header;
    size_t offset;
    fr_status status = fr_npy_parse_header("in.npy", data, size, &header, &offset);
    if (status == FR_OK) {
        if (offset > size)
            abort();
    } else {
        fuzz_check_error(status, "in.npy");
    }

    const char *path = fuzz_file(0, "in.npy", data, size);
    fr_npy array;
    status = fr_npy_load(path, &array);
    if (status == FR_OK) {
        size_t count = 1;
        for (int d = 0; d < array.ndim; d++)
            count *= array.shape[d];
        if (count != array.count || (count && !array.data))
            abort();
        size_t bytes = count * (array.dtype == FR_NPY_F32 ? 4 : 1);
        unsigned char acc = 0;
        for (size_t i = 0; i < bytes; i++)
            acc ^= ((const unsigned char *)array.data)[i];
        sink = acc;
        fr_npy_free(&array);
    } else {
        fuzz_check_error(status, path);
    }

    status = fr_npy_load_embeddings(path, &array);
    if (status == FR_OK) {
        if (array.ndim != 2 || array.dtype != FR_NPY_F32 || array.shape[1] == 0 ||
            array.count != array.shape[0] * array.shape[1])
            abort();
        const float *v = array.data;
        for (size_t i = 0; i < array.count; i++)
            if (!isfinite(v[i]))
                abort();
        fr_npy_free(&array);
    } else {
        fuzz_check_error(status, path);
    }
    return 0;
}
