/*
 * fuzz_keras.c: the Keras HDF5 importer (model/convert_keras.c) over libhdf5: any file either
 * converts to weights that load, or is refused with one line. libhdf5 itself is not
 * instrumented (Debian's build), so the mutations steer by facerec's walk of the file (layer
 * names, weight names, datasets, string attributes). Seeds (make_seeds.py, h5py): small
 * files in the model.save and save_weights layouts, fixed- and variable-length strings. It
 * calls fr_convert_keras_h5_here: the CLI's child process would hide the coverage.
 */
#include "fuzz_util.h"
#include "model/convert.h"
#include "model/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, "in.h5", data, size);
    char output[600];
    snprintf(output, sizeof output, "%s/out.frw", fuzz_dir());
    unlink(output);
    fr_convert_options options = {NULL, 0};
    fr_status status = fr_convert_keras_h5_here(path, output, &options);
    if (status != FR_OK) {
        fuzz_check_error(status, NULL);
        return 0;
    }
    fr_weights *weights;
    if (fr_weights_open(output, &weights) != FR_OK)
        abort();
    fr_weights_close(weights);
    return 0;
}
