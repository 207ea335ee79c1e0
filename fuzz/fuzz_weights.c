/*
 * fuzz_weights.c: the .frw loader (model/weights.c) and the architecture builders over what it
 * returns (fr_model_load): any file either loads, with every tensor's data inside the file and
 * every value finite, or is refused with one line naming it.
 *
 * A mutated file almost never keeps a valid SHA-256, which would stop every input at the
 * checksum; so for inputs of even length the harness first writes the right checksum into a
 * format-2 header (the structure and value checks behind it are then what runs), and odd ones
 * go in as they are (the checksum's own refusal). Seeds: fuzz/corpus/weights (make_seeds).
 */
#include <math.h>

#include "core/sha256.h"
#include "fuzz_util.h"
#include "model/weights.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes)
        return 0;
    memcpy(bytes, data, size);
    if (size % 2 == 0 && size >= FR_WEIGHTS_CHECKSUM_OFFSET + 32 && bytes[8] == 2 &&
        !bytes[9] && !bytes[10] && !bytes[11]) {
        memset(bytes + FR_WEIGHTS_CHECKSUM_OFFSET, 0, 32);
        fr_sha256 *sha;
        if (fr_sha256_new(&sha) == FR_OK) {
            fr_sha256_update(sha, bytes, size);
            fr_sha256_finish_bytes(sha, bytes + FR_WEIGHTS_CHECKSUM_OFFSET);
        }
    }
    const char *path = fuzz_file(0, "in.frw", bytes, size);
    free(bytes);

    fr_weights *weights;
    fr_status status = fr_weights_open(path, &weights);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return 0;
    }
    float sum = 0;
    for (size_t i = 0; i < fr_weights_tensor_count(weights); i++) {
        const fr_weights_tensor *t = fr_weights_tensor_at(weights, i);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++)
            count *= (size_t)t->dims[d];
        if (!t->name || count != t->count || fr_weights_find(weights, t->name) == NULL)
            abort();
        for (size_t k = 0; k < t->count; k++) {
            if (!isfinite(t->data[k]))
                abort(); /* the loader promised finite values */
            sum += t->data[k];
        }
    }
    sink = sum;
    (void)fr_weights_meta_string(weights, "arch");
    fr_weights_close(weights);

    fr_model *model;
    status = fr_model_load(path, &model);
    if (status == FR_OK)
        fr_model_free(model);
    else
        fuzz_check_error(status, path);
    return 0;
}
