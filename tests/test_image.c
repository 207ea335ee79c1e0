/*
 * test_image.c: fr_image_load on real photos (FACEREC_DATA) and on the generated fixtures of
 * tests/data/images, pixel for pixel against Pillow's Image.open(p).convert('RGB') (run at test
 * time by tests/ref/pil/decode_ref.py; libjpeg-turbo is the JPEG codec on both sides, so
 * baseline and progressive JPEGs must agree exactly); JPEG DCT scaling against Pillow's
 * draft(); and bad files: each must fail with the right status and a one-line message naming
 * the file and the cause, leaving the output untouched.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/file.h"
#include "core/npy.h"
#include "image/decode.h"
#include "testutil.h"

#define MAX_CASES 64

static char fixtures[512];
static char data_dir[512];

typedef struct good_case {
    char path[1024];
    int width, height; /* expected size; 0 = whatever Pillow says */
    int min_side;      /* DCT scaling under test (0 = full size) */
    int draft;         /* the matching Pillow draft size */
} good_case;

static good_case cases[MAX_CASES];
static int case_count;

static void add_case(const char *path, int width, int height, int min_side, int draft)
{
    if (case_count == MAX_CASES) {
        fprintf(stderr, "too many cases\n");
        exit(1);
    }
    good_case *c = &cases[case_count++];
    snprintf(c->path, sizeof c->path, "%s", path);
    c->width = width;
    c->height = height;
    c->min_side = min_side;
    c->draft = draft;
}

static void add_data(const char *relative, int width, int height)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data_dir, relative);
    add_case(path, width, height, 0, 0);
}

static void add_fixture(const char *name, int width, int height)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    add_case(path, width, height, 0, 0);
}

/* Runs Pillow over all cases; returns 0 when it ran, 77 when Pillow is missing. */
static int run_reference(void)
{
    const char *tmp = fr_test_tmpdir();
    char manifest[1200];
    snprintf(manifest, sizeof manifest, "%s/decode_manifest.tsv", tmp);
    FILE *f = fopen(manifest, "w");
    if (!f) {
        perror(manifest);
        exit(1);
    }
    for (int i = 0; i < case_count; i++)
        fprintf(f, "%s/ref_%d.npy\t%s\t%d\n", tmp, i, cases[i].path, cases[i].draft);
    fclose(f);
    char command[4096];
    snprintf(command, sizeof command, "'%s' '%s/tests/ref/pil/decode_ref.py' '%s'",
             fr_test_env("FACEREC_PYTHON"), fr_test_env("FACEREC_SOURCE_DIR"), manifest);
    int rc = fr_test_system(command);
    if (rc == 77)
        return 77;
    CHECK(rc == 0);
    return rc == 0 ? 0 : 1;
}

static void compare_with_reference(int i)
{
    const good_case *c = &cases[i];
    fr_decode_options options = {0, c->min_side};
    fr_image image = {0};
    fr_status status = fr_image_load(c->path, &options, &image);
    CHECK_OK(status);
    if (status != FR_OK)
        return;
    if (c->width) {
        CHECK(image.width == c->width && image.height == c->height);
        if (image.width != c->width || image.height != c->height)
            fprintf(stderr, "%s: decoded %d x %d, expected %d x %d\n", c->path, image.width,
                    image.height, c->width, c->height);
    }

    char ref_path[1200];
    snprintf(ref_path, sizeof ref_path, "%s/ref_%d.npy", fr_test_tmpdir(), i);
    fr_npy ref;
    CHECK_OK(fr_npy_load(ref_path, &ref));
    CHECK(ref.dtype == FR_NPY_U8 && ref.ndim == 3 && ref.shape[2] == 3);
    if (ref.ndim == 3 && ref.shape[0] == (size_t)image.height &&
        ref.shape[1] == (size_t)image.width) {
        size_t n = (size_t)image.width * image.height * 3, differ = 0;
        int worst = 0;
        const uint8_t *want = ref.data;
        for (size_t k = 0; k < n; k++) {
            int d = abs((int)image.pixels[k] - (int)want[k]);
            differ += d != 0;
            worst = d > worst ? d : worst;
        }
        CHECK(differ == 0);
        printf("%-60s %4d x %-4d min_side %3d: %zu of %zu values differ from Pillow (max %d)\n",
               c->path + (strstr(c->path, "/data/") ? strstr(c->path, "/data/") - c->path : 0),
               image.width, image.height, c->min_side, differ, n, worst);
    } else {
        CHECK(!"size differs from Pillow's");
        fprintf(stderr, "%s: %d x %d, Pillow %zu x %zu\n", c->path, image.width, image.height,
                ref.shape[1], ref.shape[0]);
    }
    fr_npy_free(&ref);
    fr_image_free(&image);
    CHECK(image.pixels == NULL && image.width == 0);
}

/* A failure must name the file, give the cause and leave *out as it was. */
static void expect_failure_decoding(const char *path, const void *data, size_t size,
                                    const fr_decode_options *options, fr_status want,
                                    const char *cause)
{
    static uint8_t sentinel[1];
    fr_image image = {-7, -9, sentinel};
    fr_status got = data ? fr_image_decode(data, size, path, options, &image)
                         : fr_image_load(path, options, &image);
    const char *message = fr_error_message();
    CHECK(got == want);
    CHECK(strstr(message, path) != NULL);
    CHECK(strstr(message, cause) != NULL);
    CHECK(strchr(message, '\n') == NULL);
    CHECK(image.width == -7 && image.height == -9 && image.pixels == sentinel);
    if (got != want || !strstr(message, cause) || !strstr(message, path))
        fprintf(stderr, "%s: got %s \"%s\", want %s with \"%s\"\n", path, fr_status_name(got),
                message, fr_status_name(want), cause);
    else
        printf("  %-18s %s\n", fr_status_name(got), message);
}

static void expect_failure(const char *path, const fr_decode_options *options, fr_status want,
                           const char *cause)
{
    expect_failure_decoding(path, NULL, 0, options, want, cause);
}

static void bad_fixture(const char *name, fr_status want, const char *cause)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    expect_failure(path, NULL, want, cause);
}

/* Writes the first size * fraction bytes of `source`, at most max_bytes, into the temporary
 * directory under `name`. */
static void write_cut(const char *source, const char *name, double fraction, size_t max_bytes,
                      char *out_path, size_t out_size)
{
    void *data;
    size_t size;
    CHECK_OK(fr_file_read(source, FR_MAX_FILE_BYTES, &data, &size));
    size_t keep = (size_t)((double)size * fraction);
    if (keep > max_bytes)
        keep = max_bytes;
    snprintf(out_path, out_size, "%s/%s", fr_test_tmpdir(), name);
    FILE *f = fopen(out_path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, keep, f) == keep);
        fclose(f);
    }
    free(data);
}

/* Rewrites the frame size of the first SOF0/1/2 segment of a JPEG in memory. */
static int patch_jpeg_size(uint8_t *jpeg, size_t size, int width, int height)
{
    size_t i = 2;
    while (i + 9 < size && jpeg[i] == 0xFF) {
        uint8_t marker = jpeg[i + 1];
        size_t length = ((size_t)jpeg[i + 2] << 8) | jpeg[i + 3];
        if (marker >= 0xC0 && marker <= 0xC2) {
            jpeg[i + 5] = (uint8_t)(height >> 8);
            jpeg[i + 6] = (uint8_t)height;
            jpeg[i + 7] = (uint8_t)(width >> 8);
            jpeg[i + 8] = (uint8_t)width;
            return 1;
        }
        i += 2 + length;
    }
    return 0;
}

static void test_bad_files(void)
{
    printf("bad files:\n");
    bad_fixture("empty.jpg", FR_E_FORMAT, "empty file");
    bad_fixture("truncated.jpg", FR_E_FORMAT, "truncated JPEG data");
    bad_fixture("truncated.png", FR_E_FORMAT, "truncated PNG data");
    bad_fixture("random.bin", FR_E_FORMAT, "not a JPEG or PNG file");
    bad_fixture("text.jpg", FR_E_FORMAT, "not a JPEG or PNG file");
    bad_fixture("tiny.gif", FR_E_UNSUPPORTED, "GIF images are not supported");
    bad_fixture("bomb.png", FR_E_TOO_LARGE, "60000 x 60000 image exceeds the 64 Mpx limit");

    /* The decompression bomb must be refused from its header: fast, and before any
     * allocation of its 10.8 GB (which would take seconds to fault in, or fail). */
    char bomb[1200];
    snprintf(bomb, sizeof bomb, "%s/bomb.jpg", fixtures);
    double t0 = fr_seconds();
    expect_failure(bomb, NULL, FR_E_TOO_LARGE, "60000 x 60000 image exceeds the 64 Mpx limit");
    double elapsed = fr_seconds() - t0;
    CHECK(elapsed < 0.05);
    printf("  bomb.jpg refused in %.2f ms\n", elapsed * 1e3);

    /* A lower cap is honoured and quoted. */
    char lfw[1200];
    snprintf(lfw, sizeof lfw, "%s/lfw_devtrain/images/AJ_Cook/AJ_Cook_0001.jpg", data_dir);
    fr_decode_options tight = {250 * 250 - 1, 0};
    expect_failure(lfw, &tight, FR_E_TOO_LARGE, "250 x 250 image exceeds the 62499-pixel limit");
    fr_decode_options negative = {-1, 0};
    expect_failure(lfw, &negative, FR_E_INVALID, "negative");

    /* Real files cut short. */
    char cut[1200];
    write_cut(lfw, "half_AJ_Cook_0001.jpg", 0.5, SIZE_MAX, cut, sizeof cut);
    expect_failure(cut, NULL, FR_E_FORMAT, "truncated JPEG data");
    write_cut(lfw, "header_only.jpg", 1.0, 300, cut, sizeof cut);
    expect_failure(cut, NULL, FR_E_FORMAT, "JPEG");
    char progressive[1200];
    snprintf(progressive, sizeof progressive, "%s/happyhouse/database/andrew.jpg", data_dir);
    write_cut(progressive, "half_andrew_progressive.jpg", 0.5, SIZE_MAX, cut, sizeof cut);
    expect_failure(cut, NULL, FR_E_FORMAT, "truncated JPEG data");
    char png[1200];
    snprintf(png, sizeof png, "%s/happyhouse/database/danielle.png", data_dir);
    write_cut(png, "half_danielle.png", 0.5, SIZE_MAX, cut, sizeof cut);
    expect_failure(cut, NULL, FR_E_FORMAT, "truncated PNG data");
    write_cut(png, "signature_only.png", 1.0, 8, cut, sizeof cut);
    expect_failure(cut, NULL, FR_E_FORMAT, "truncated PNG data");

    /* A header that claims 8000 x 8000 (under the cap) over 64 x 48 of data: allowed to
     * allocate, but it must stop at the end of the data rather than decode 64 Mpx of grey. */
    void *data;
    size_t size;
    char fixture[1200];
    snprintf(fixture, sizeof fixture, "%s/rgb422.jpg", fixtures);
    CHECK_OK(fr_file_read(fixture, FR_MAX_FILE_BYTES, &data, &size));
    CHECK(patch_jpeg_size(data, size, 8000, 8000));
    t0 = fr_seconds();
    expect_failure_decoding("claims_8000x8000.jpg", data, size, NULL, FR_E_FORMAT, "JPEG data");
    elapsed = fr_seconds() - t0;
    printf("  8000 x 8000 claim over 2 KB refused in %.1f ms\n", elapsed * 1e3);
    CHECK(elapsed < 0.5);
    free(data);

    /* Not files. */
    expect_failure(fixtures, NULL, FR_E_IO, "is a directory");
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/no_such_image.jpg", fixtures);
    expect_failure(missing, NULL, FR_E_IO, "No such file");

    /* In-memory decoding names what the caller calls it. */
    expect_failure_decoding("camera frame 7", "\xFF\xD8\xFF", 3, NULL, FR_E_FORMAT, "JPEG");
    fr_image untouched = {0};
    CHECK(fr_image_decode("", 0, NULL, NULL, &untouched) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "empty") != NULL);
    fr_image_free(NULL);
}

int main(void)
{
    snprintf(data_dir, sizeof data_dir, "%s", fr_test_env("FACEREC_DATA"));
    snprintf(fixtures, sizeof fixtures, "%s/tests/data/images", fr_test_env("FACEREC_SOURCE_DIR"));

    /* Real photos: every happyhouse face (baseline and progressive JPEGs, an RGBA PNG),
     * dlib chips, LFW. */
    static const char *happyhouse[] = {"andrew", "arnaud", "benoit", "bertrand", "dan",
                                       "felix", "kevin", "kian", "sebastiano", "tian",
                                       "younes"};
    for (size_t i = 0; i < sizeof happyhouse / sizeof *happyhouse; i++) {
        char relative[256];
        snprintf(relative, sizeof relative, "happyhouse/database/%s.jpg", happyhouse[i]);
        add_data(relative, 96, 96);
    }
    add_data("happyhouse/database/danielle.png", 96, 96);
    add_data("happyhouse/camera/camera_0.jpg", 96, 96);
    add_data("dlib_johns/John_Salley/000179_02159509.jpg", 150, 150);
    add_data("dlib_johns/John_Simm/000288_00470387.jpg", 150, 150);
    add_data("lfw_devtrain/images/AJ_Cook/AJ_Cook_0001.jpg", 250, 250);
    add_data("lfw_devtrain/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg", 250, 250);

    /* Generated fixtures, one decoding path each (see make_fixtures.py). */
    add_fixture("gray.jpg", 64, 48);
    add_fixture("cmyk.jpg", 64, 48);
    add_fixture("ycck.jpg", 56, 40);
    add_fixture("rgb_odd420.jpg", 61, 37);
    add_fixture("rgb422.jpg", 64, 48);
    add_fixture("trailing_garbage.jpg", 64, 48);
    add_fixture("rgba.png", 50, 40);
    add_fixture("rgb16.png", 41, 30);
    add_fixture("rgba16.png", 41, 30);
    add_fixture("gray.png", 45, 33);
    add_fixture("gray16.png", 45, 33);
    add_fixture("graya.png", 45, 33);
    add_fixture("gray1.png", 37, 21);
    add_fixture("gray2.png", 37, 21);
    add_fixture("palette_trns.png", 31, 29);
    add_fixture("palette4.png", 31, 29);
    add_fixture("interlaced.png", 35, 27);

    /* DCT scaling: the smallest of 1/2, 1/4, 1/8 (the fast ones; see choose_scale) whose
     * shorter side is still >= min_side, rounded up (250 / 4 = 62.5 -> 63). These are also
     * the scales of Pillow's draft(), which must then agree pixel for pixel. */
    char lfw[1200];
    snprintf(lfw, sizeof lfw, "%s/lfw_devtrain/images/AJ_Cook/AJ_Cook_0001.jpg", data_dir);
    char happy[1200];
    snprintf(happy, sizeof happy, "%s/happyhouse/database/arnaud.jpg", data_dir);
    char png[1200];
    snprintf(png, sizeof png, "%s/happyhouse/database/danielle.png", data_dir);
    add_case(lfw, 125, 125, 125, 125); /* 1/2 */
    add_case(lfw, 63, 63, 62, 62);     /* 1/4 */
    add_case(lfw, 32, 32, 31, 31);     /* 1/8 */
    add_case(lfw, 32, 32, 1, 31);      /* 1/8 is the smallest there is */
    add_case(happy, 48, 48, 48, 48);   /* 1/2 of a 96x96 */
    int first_sized_only = case_count;
    add_case(lfw, 125, 125, 80, 0);   /* 1/2 (not 3/8 = 94: slower) */
    add_case(lfw, 250, 250, 160, 0);  /* 1 (not 3/4 = 188: slower than 1) */
    add_case(lfw, 250, 250, 250, 0);  /* 1 */
    add_case(lfw, 250, 250, 1000, 0); /* never upscales */
    add_case(happy, 96, 96, 80, 0);   /* 1 (not 7/8 = 84) */
    add_case(png, 96, 96, 10, 0);     /* PNG: no DCT, full size */

    int reference = run_reference();
    if (reference == 0) {
        for (int i = 0; i < first_sized_only; i++)
            compare_with_reference(i);
    }
    for (int i = first_sized_only; i < case_count; i++) {
        fr_decode_options options = {0, cases[i].min_side};
        fr_image image = {0};
        CHECK_OK(fr_image_load(cases[i].path, &options, &image));
        CHECK(image.width == cases[i].width && image.height == cases[i].height);
        printf("min_side %4d: %d x %d -> %d x %d\n", cases[i].min_side, cases[i].width,
               cases[i].height, image.width, image.height);
        fr_image_free(&image);
    }

    test_bad_files();

    if (reference == 77 && fr_test_failures == 0)
        fr_test_skip("Pillow/numpy not available to FACEREC_PYTHON: pixel comparisons not run "
                     "(sizes and bad files passed)");
    return fr_test_finish("test_image");
}
