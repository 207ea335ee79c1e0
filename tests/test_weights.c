/*
 * test_weights.c: the .frw format's own checks. A version 2 file carries the SHA-256 of its
 * bytes and loading verifies it: a byte changed anywhere (metadata, tensor table, padding,
 * data, the last byte) is refused, naming the file. NaN or infinite values are refused in
 * files of either version and by the writer. A version 1 file (no checksum field) still
 * loads, and `convert --from frw` (fr_convert_frw) rewrites it as version 2. And weights that
 * are finite but overflow (every tensor x 1e6) never produce an embedding: the engine reports
 * the image instead, on the CPU primitives as planned by default (dlib's 3x3 convolutions on
 * Winograd, whose transforms turn the overflow into NaN) and with every convolution direct
 * (FACEREC_CPU_WINOGRAD=0).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"
#include "engine/embedder.h"
#include "model/convert.h"
#include "model/weights.h"
#include "testutil.h"

static unsigned char *slurp(const char *path, size_t *size)
{
    void *data = NULL;
    CHECK_OK(fr_file_read(path, (size_t)1 << 30, &data, size));
    return data;
}

static void spill(const char *path, const unsigned char *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, size, f) == size);
    if (f)
        fclose(f);
}

static uint64_t u64_at(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The checksum field recomputed after an edit (what a careful forger would do). */
static void reseal(unsigned char *data, size_t size)
{
    memset(data + FR_WEIGHTS_CHECKSUM_OFFSET, 0, 32);
    fr_sha256 *sha;
    CHECK_OK(fr_sha256_new(&sha));
    fr_sha256_update(sha, data, size);
    fr_sha256_finish_bytes(sha, data + FR_WEIGHTS_CHECKSUM_OFFSET);
}

/* The same file in format 1: no checksum field, the header 32 bytes shorter, its padding 32
 * bytes longer (data_offset and the data stay where they are). */
static unsigned char *as_version1(const unsigned char *v2, size_t size)
{
    uint64_t data_offset = u64_at(v2 + 16);
    unsigned char *v1 = calloc(1, size);
    memcpy(v1, v2, FR_WEIGHTS_CHECKSUM_OFFSET);
    v1[8] = 1;
    memcpy(v1 + FR_WEIGHTS_CHECKSUM_OFFSET, v2 + FR_WEIGHTS_CHECKSUM_OFFSET + 32,
           (size_t)data_offset - FR_WEIGHTS_CHECKSUM_OFFSET - 32);
    memcpy(v1 + data_offset, v2 + data_offset, size - (size_t)data_offset);
    return v1;
}

static fr_status open_and_close(const char *path)
{
    fr_weights *w = NULL;
    fr_status st = fr_weights_open(path, &w);
    fr_weights_close(w);
    return st;
}

static void refused(const char *path, const char *want, const char *what)
{
    fr_status st = open_and_close(path);
    if (st != FR_E_FORMAT || !strstr(fr_error_message(), want) ||
        !strstr(fr_error_message(), path)) {
        fprintf(stderr, "%s: %s: %s (want '%s')\n", what, fr_status_name(st), fr_error_message(),
                want);
        CHECK(0);
    }
}

typedef struct outcome {
    size_t ok, failed;
    char error[1024];
} outcome;

static int collect(void *ctx, const fr_embed_result *r)
{
    outcome *o = ctx;
    if (r->status == FR_OK && r->embedding) {
        o->ok++;
    } else {
        o->failed++;
        snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
    }
    return 0;
}

static void overflow_case(const fr_model *model, const char *image, const char *mode);

/* Every tensor of the dlib weights x 1e6: finite, loadable, and overflowing in the network. */
static void overflowing_weights(const char *dir, const char *images)
{
    char source[1024], scaled[1024], image[1024];
    snprintf(source, sizeof source, "%s/dlib.frw", dir);
    snprintf(scaled, sizeof scaled, "%s/huge.frw", fr_test_tmpdir());
    snprintf(image, sizeof image, "%s/dlib_johns/John_Simm/000288_00470387.jpg", images);
    fr_weights *w = NULL;
    if (fr_weights_open(source, &w) != FR_OK) {
        fprintf(stderr, "no dlib weights (%s): the overflow check is skipped\n", source);
        return;
    }
    /* the metadata as it is (every tensor skipped), then each tensor scaled */
    size_t n = fr_weights_tensor_count(w);
    const char **all = calloc(n + 1, sizeof *all);
    for (size_t i = 0; i < n; i++)
        all[i] = fr_weights_tensor_at(w, i)->name;
    fr_weights_writer *wr = fr_weights_writer_new();
    CHECK_OK(fr_weights_writer_copy(wr, w, all));
    free(all);
    for (size_t i = 0; i < n; i++) {
        const fr_weights_tensor *t = fr_weights_tensor_at(w, i);
        float *x = malloc(t->count * sizeof *x);
        for (size_t k = 0; k < t->count; k++)
            x[k] = t->data[k] * 1e6f;
        CHECK_OK(fr_weights_writer_tensor(wr, t->name, t->ndim, t->dims, x));
        free(x);
    }
    fr_weights_close(w);
    CHECK_OK(fr_weights_writer_save(wr, scaled));
    fr_weights_writer_free(wr);

    fr_model *model = NULL;
    CHECK_OK(fr_model_load(scaled, &model));
    static const char *winograd[] = {NULL, "0"};
    for (size_t k = 0; model && k < sizeof winograd / sizeof winograd[0]; k++) {
        if (winograd[k])
            setenv("FACEREC_CPU_WINOGRAD", winograd[k], 1);
        else
            unsetenv("FACEREC_CPU_WINOGRAD");
        overflow_case(model, image, winograd[k] ? winograd[k] : "unset");
    }
    unsetenv("FACEREC_CPU_WINOGRAD");
    fr_model_free(model);
}

/* The overflowing model on the CPU (FACEREC_CPU_WINOGRAD as `mode` says): one failure that
 * names the image and says the output is not finite. */
static void overflow_case(const fr_model *model, const char *image, const char *mode)
{
    fr_embedder_options options;
    memset(&options, 0, sizeof options);
    options.runner.device = FR_DEVICE_CPU;
    options.align = FR_ALIGN_NONE;
    fr_embedder *e = NULL;
    if (model)
        CHECK_OK(fr_embedder_new(model, &options, &e));
    outcome o;
    memset(&o, 0, sizeof o);
    const char *paths[] = {image};
    if (e)
        CHECK_OK(fr_embed_files(e, paths, 1, collect, &o));
    CHECK(o.ok == 0 && o.failed == 1);
    if (!strstr(o.error, image) || !strstr(o.error, "output is not finite"))
        fprintf(stderr, "overflow, FACEREC_CPU_WINOGRAD %s: %s\n", mode, o.error);
    CHECK(strstr(o.error, image) && strstr(o.error, "output is not finite"));
    fr_embedder_free(e);
}

int main(void)
{
    char path[512], v1_path[512], v2_path[512], bad[512];
    const char *tmp = fr_test_tmpdir();
    snprintf(path, sizeof path, "%s/small.frw", tmp);
    snprintf(v1_path, sizeof v1_path, "%s/v1.frw", tmp);
    snprintf(v2_path, sizeof v2_path, "%s/v2.frw", tmp);
    snprintf(bad, sizeof bad, "%s/bad.frw", tmp);

    /* a small file: two tensors, metadata of each type */
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, -1e30f}, b[3] = {0.25f, 0.5f, 0.75f};
    int64_t da[2] = {2, 3}, db[1] = {3};
    fr_weights_writer *wr = fr_weights_writer_new();
    CHECK_OK(fr_weights_writer_string(wr, "arch", "test"));
    CHECK_OK(fr_weights_writer_int(wr, "input_size", 7));
    CHECK_OK(fr_weights_writer_float(wr, "threshold", 0.5));
    CHECK_OK(fr_weights_writer_tensor(wr, "a", 2, da, a));
    CHECK_OK(fr_weights_writer_tensor(wr, "b", 1, db, b));
    /* the writer refuses non-finite values */
    float nan_row[3] = {0, NAN, 0}, inf_row[3] = {0, 0, -INFINITY};
    CHECK(fr_weights_writer_tensor(wr, "n", 1, db, nan_row) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "tensor n: element 1 is NaN"));
    CHECK(fr_weights_writer_tensor(wr, "i", 1, db, inf_row) == FR_E_FORMAT);
    CHECK_OK(fr_weights_writer_save(wr, path));
    fr_weights_writer_free(wr);

    fr_weights *w = NULL;
    CHECK_OK(fr_weights_open(path, &w));
    if (w) {
        CHECK(fr_weights_version(w) == 2 && fr_weights_checksum(w) != NULL);
        const fr_weights_tensor *t = fr_weights_find(w, "a");
        CHECK(t && t->count == 6 && memcmp(t->data, a, sizeof a) == 0);
        fr_weights_close(w);
    }

    /* the checksum is SHA-256 of the file with its field zeroed */
    size_t size = 0;
    unsigned char *good = slurp(path, &size);
    if (!good)
        return fr_test_finish("test_weights");
    unsigned char *copy = malloc(size);
    memcpy(copy, good, size);
    reseal(copy, size);
    CHECK(memcmp(copy, good, size) == 0);

    /* one bit flipped anywhere is refused: metadata, the tensor table, the padding before
     * the data, the data, the very last byte (and the checksum field itself) */
    uint64_t data_offset = u64_at(good + 16);
    size_t places[] = {FR_WEIGHTS_CHECKSUM_OFFSET + 3, FR_WEIGHTS_CHECKSUM_OFFSET + 40, 110,
                       (size_t)data_offset - 1, (size_t)data_offset + 5, size - 1,
                       FR_WEIGHTS_CHECKSUM_OFFSET};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        memcpy(copy, good, size);
        copy[places[i]] ^= 0x10;
        spill(bad, copy, size);
        refused(bad, "checksum mismatch", "a flipped bit");
    }
    /* values: a NaN or infinity in the data, checksum made to match, is still refused */
    float nan = NAN, inf = INFINITY;
    memcpy(copy, good, size);
    memcpy(copy + data_offset + 4, &nan, 4);
    reseal(copy, size);
    spill(bad, copy, size);
    refused(bad, "tensor a holds a non-finite value (NaN at element 1)", "a resealed NaN");

    /* format 1: loads without a checksum, its values still checked */
    unsigned char *v1 = as_version1(good, size);
    spill(v1_path, v1, size);
    CHECK_OK(fr_weights_open(v1_path, &w));
    if (w) {
        CHECK(fr_weights_version(w) == 1 && fr_weights_checksum(w) == NULL);
        const fr_weights_tensor *t = fr_weights_find(w, "b");
        CHECK(t && t->count == 3 && memcmp(t->data, b, sizeof b) == 0);
        fr_weights_close(w);
    }
    memcpy(v1 + data_offset + 4 * 2, &inf, 4);
    spill(bad, v1, size);
    refused(bad, "tensor a holds a non-finite value (infinity at element 2)", "a v1 infinity");
    /* rewritten as format 2: the same bytes as a fresh save of the same content */
    CHECK_OK(fr_convert_frw(v1_path, v2_path, NULL));
    size_t size2 = 0;
    unsigned char *again = slurp(v2_path, &size2);
    CHECK(again && size2 == size && memcmp(again, good, size) == 0);
    free(again);
    /* a version from the future */
    memcpy(copy, good, size);
    copy[8] = 3;
    spill(bad, copy, size);
    CHECK(open_and_close(bad) == FR_E_UNSUPPORTED);
    CHECK(strstr(fr_error_message(), "version 3, this build reads versions 1 to 2"));
    free(v1);
    free(copy);
    free(good);

    overflowing_weights(fr_test_env("FACEREC_WEIGHTS"), fr_test_env("FACEREC_DATA"));
    return fr_test_finish("test_weights");
}
