/* convert_common.c: what every converter does last: metadata, save, prove it loads. */
#include <errno.h>
#include <stdio.h>
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

fr_status fr_convert_save_checked(fr_weights_writer *w, const char *output,
                                  fr_status (*check)(const char *path), const char *what,
                                  const char *source)
{
    if (strcmp(output, "-") == 0)
        return fr_fail(FR_E_INVALID, "new weights are checked by loading them: give -o FILE, "
                       "not standard output");
    char staged[4096];
    if (snprintf(staged, sizeof staged, "%s.checking-%ld", output, (long)getpid()) >=
        (int)sizeof staged)
        return fr_fail(FR_E_INVALID, "%s: path too long", output);
    fr_status st = fr_weights_writer_save(w, staged);
    if (st)
        return st;
    st = check(staged);
    if (st) {
        char why[1024];
        fr_error_save(why, sizeof why);
        unlink(staged);
        return fr_fail(st, "%s: the weights made from it do not build %s (%s left as it "
                       "was): %s", source, what, output, why);
    }
    if (rename(staged, output) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", strerror(errno));
        unlink(staged);
        return fr_fail(FR_E_IO, "%s: %s", output, why);
    }
    return FR_OK;
}

static fr_status check_model(const char *path)
{
    fr_model *m;
    fr_status st = fr_model_load(path, &m);
    if (!st)
        fr_model_free(m);
    return st;
}

/* The file verifies and, when it is a network of the architecture table, builds it (the
 * detector's file, which the table does not hold, is checked by its values alone). */
static fr_status check_weights(const char *path)
{
    fr_weights *w;
    fr_status st = fr_weights_open(path, &w);
    if (st)
        return st;
    const char *arch = fr_weights_meta_string(w, "arch");
    int network = arch && fr_arch_find(arch);
    fr_weights_close(w);
    return network ? check_model(path) : FR_OK;
}

fr_status fr_convert_frw(const char *frw_path, const char *output_path,
                         const fr_convert_options *options)
{
    fr_weights *w;
    fr_status st = fr_weights_open(frw_path, &w);
    if (st)
        return st;
    fr_weights_writer *wr = fr_weights_writer_new();
    st = wr ? fr_weights_writer_copy(wr, w, NULL) : FR_E_NOMEM;
    if (!st && options && options->preprocess)
        st = fr_weights_writer_string(wr, "preprocess", options->preprocess);
    if (!st && options && options->threshold > 0)
        st = fr_weights_writer_float(wr, "threshold", options->threshold);
    fr_weights_close(w);
    if (!st)
        st = fr_convert_save_checked(wr, output_path, check_weights, "a weights file", frw_path);
    fr_weights_writer_free(wr);
    return st;
}

fr_status fr_convert_finish(fr_weights_writer *w, const char *arch_name, const char *source_path,
                            const char *source_sha256, const char *converter,
                            const char *output_path, const fr_convert_options *options)
{
    const fr_arch *arch = fr_arch_find(arch_name);
    if (!arch)
        return fr_fail(FR_E_INTERNAL, "converter produced unknown architecture %s", arch_name);
    char sha[65];
    fr_status st = FR_OK;
    if (source_sha256)
        snprintf(sha, sizeof sha, "%s", source_sha256);
    else
        st = fr_sha256_file(source_path, sha);
    if (!st)
        st = fr_weights_writer_string(w, "arch", arch->name);
    if (!st)
        st = fr_weights_writer_int(w, "input_size", arch->input_size);
    if (!st && arch->embedding_size > 0) /* else the network's output says */
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
    if (st)
        return st;
    /* Prove the file builds the network (every tensor present with its shape) before it
     * replaces anything. */
    char what[96];
    snprintf(what, sizeof what, "a %s network", arch->name);
    return fr_convert_save_checked(w, output_path, check_model, what, source_path);
}
