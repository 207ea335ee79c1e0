/* convert_common.c: what every converter does last: metadata, save, prove it loads. */
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sha256.h"
#include "model/convert.h"
#include "model/model_internal.h"
#include "model/weights.h"

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

fr_status fr_convert_finish(fr_weights_writer *w, const char *arch_name, const char *source_path,
                            const char *converter, const char *output_path,
                            const fr_convert_options *options)
{
    const fr_arch *arch = fr_arch_find(arch_name);
    if (!arch)
        return fr_fail(FR_E_INTERNAL, "converter produced unknown architecture %s", arch_name);
    char sha[65];
    fr_status st = fr_sha256_file(source_path, sha);
    if (!st)
        st = fr_weights_writer_string(w, "arch", arch->name);
    if (!st)
        st = fr_weights_writer_int(w, "input_size", arch->input_size);
    if (!st)
        st = fr_weights_writer_int(w, "embedding_size", arch->embedding_size);
    if (!st) {
        const char *pre = options && options->preprocess ? options->preprocess
                                                         : fr_preprocess_name(arch->preprocess);
        st = fr_weights_writer_string(w, "preprocess", pre);
    }
    if (!st && options && options->threshold > 0)
        st = fr_weights_writer_float(w, "threshold", options->threshold);
    if (!st)
        st = fr_weights_writer_string(w, "source", base_name(source_path));
    if (!st)
        st = fr_weights_writer_string(w, "source_sha256", sha);
    if (!st)
        st = fr_weights_writer_string(w, "converter", converter);
    if (!st)
        st = fr_weights_writer_save(w, output_path);
    if (st)
        return st;
    /* Prove the file builds the network (every tensor present with its shape). */
    fr_model *m;
    st = fr_model_load(output_path, &m);
    if (st) {
        char why[1024];
        fr_error_save(why, sizeof why);
        unlink(output_path);
        return fr_fail(st, "%s: converted, but the result does not build a %s network: %s",
                       source_path, arch->name, why);
    }
    fr_model_free(m);
    return FR_OK;
}
