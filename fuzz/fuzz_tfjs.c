/*
 * fuzz_tfjs.c: the TensorFlow.js converter (model/convert_tfjs.c): the input up to its first
 * NUL byte is the manifest (weights_manifest.json), the rest the one shard file it may name
 * ("shard1"). Conversion either writes a weights file that loads, or is refused with one line
 * naming the manifest. Seeds (make_seeds): small manifests of float32, quantized uint8/uint16
 * and float16 tensors.
 */
#include "fuzz_util.h"
#include "model/convert.h"
#include "model/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t manifest_size = nul ? (size_t)(nul - data) : size;
    const char *manifest = fuzz_file(0, "weights_manifest.json", data, manifest_size);
    if (nul)
        fuzz_file(1, "shard1", nul + 1, size - manifest_size - 1);
    else
        unlink(fuzz_file(1, "shard1", NULL, 0));
    char output[600];
    snprintf(output, sizeof output, "%s/out.frw", fuzz_dir());
    unlink(output);
    fr_convert_options options = {NULL, 0};
    fr_status status = fr_convert_tfjs(manifest, output, &options);
    if (status != FR_OK) {
        fuzz_check_error(status, NULL);
        return 0;
    }
    fr_weights *weights;
    if (fr_weights_open(output, &weights) != FR_OK)
        abort(); /* a conversion reported done wrote a file that does not load */
    fr_weights_close(weights);
    return 0;
}
