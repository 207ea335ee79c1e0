/*
 * test_resize_faceapi.c: fr_resize_faceapi against face-api itself. For each input shape,
 * random images go through tests/ref/faceapi/descriptors.mjs --resize-only, i.e. face-api's
 * NetInput.toBatchTensor(150, true): padToSquare (centred zeros) + tfjs resizeBilinear on the
 * tfjs-backend-cpu kernel, giving float32 (N, 150, 150, 3). Ours is that rounded to uint8, so:
 *   - |ours - ref| <= 0.5 (+1e-3) everywhere;
 *   - ours == round(ref) wherever ref is not a tie (x.5); ties are counted and reported.
 * Needs Node.js and `npm ci` in tests/ref/faceapi; without them the test reports SKIPPED.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/npy.h"
#include "image/resize.h"
#include "testutil.h"

#define SIZE 150
#define PER_SHAPE 3

static void fill(uint8_t *p, size_t n, int w, int kind, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t r = fr_test_rand(rng);
        if (kind == 0)
            p[i] = (uint8_t)(r >> 32);
        else if (kind == 1)
            p[i] = (r >> 40) & 1 ? 255 : 0;
        else
            p[i] = (uint8_t)(((i / 3) % (size_t)w * 7 + (i / 3) / (size_t)w * 3 + i % 3 * 50 +
                              (r >> 62)) & 255);
    }
}

int main(void)
{
    const char *source = fr_test_env("FACEREC_SOURCE_DIR");
    char harness[1024], modules[1024];
    snprintf(harness, sizeof harness, "%s/tests/ref/faceapi/descriptors.mjs", source);
    snprintf(modules, sizeof modules,
             "%s/tests/ref/faceapi/node_modules/@vladmandic/face-api/package.json", source);
    struct stat st;
    if (fr_test_system("node --version > /dev/null 2>&1") != 0)
        fr_test_skip("node (Node.js >= 18) is not on PATH: face-api reference not run");
    if (stat(modules, &st) != 0)
        fr_test_skip("tests/ref/faceapi/node_modules is missing: run `npm ci` there");

    /* (height, width): square, portrait, landscape, odd differences (extra row/column after
     * the image), tiny, a single row/column, already 150 x 150 (passed through). */
    static const int shapes[][2] = {
        {96, 96},   {250, 250}, {150, 150}, {120, 160}, {160, 120}, {150, 151}, {151, 150},
        {103, 100}, {100, 103}, {1, 1},     {2, 5},     {5, 2},     {200, 300}, {37, 61},
        {375, 500}, {149, 149}, {300, 300}, {75, 75},   {1, 150},   {150, 1},   {188, 94},
    };
    const char *tmp = fr_test_tmpdir();
    uint64_t rng = 0xfaceaf1ULL;
    size_t values = 0, ties = 0, tie_mismatch = 0, mismatch = 0, over = 0;
    double worst = 0.0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int h = shapes[s][0], w = shapes[s][1];
        size_t per = (size_t)h * w * 3;
        uint8_t *images = malloc(per * PER_SHAPE);
        if (!images)
            abort();
        for (int k = 0; k < PER_SHAPE; k++)
            fill(images + per * k, per, w, k, &rng);
        char in_path[512], out_path[512], command[4096];
        snprintf(in_path, sizeof in_path, "%s/faceapi_in_%zu.npy", tmp, s);
        snprintf(out_path, sizeof out_path, "%s/faceapi_out_%zu.npy", tmp, s);
        size_t shape[4] = {PER_SHAPE, (size_t)h, (size_t)w, 3};
        CHECK_OK(fr_npy_save(in_path, FR_NPY_U8, 4, shape, images));
        snprintf(command, sizeof command,
                 "node '%s' --resize-only --quiet --input '%s' --output '%s' 2> '%s/node.log'"
                 " || { cat '%s/node.log' >&2; false; }",
                 harness, in_path, out_path, tmp, tmp);
        int rc = fr_test_system(command);
        CHECK(rc == 0);
        fr_npy ref;
        if (rc != 0 || fr_npy_load(out_path, &ref) != FR_OK) {
            fprintf(stderr, "face-api reference failed for %d x %d\n", h, w);
            free(images);
            continue;
        }
        CHECK(ref.dtype == FR_NPY_F32 && ref.count == (size_t)PER_SHAPE * SIZE * SIZE * 3);
        if (ref.dtype != FR_NPY_F32 || ref.count != (size_t)PER_SHAPE * SIZE * SIZE * 3)
            abort();
        const float *want = ref.data;
        uint8_t ours[SIZE * SIZE * 3];
        size_t shape_mismatch = 0;
        for (int k = 0; k < PER_SHAPE; k++) {
            CHECK_OK(fr_resize_faceapi(images + per * k, w, h, ours, SIZE));
            for (size_t i = 0; i < (size_t)SIZE * SIZE * 3; i++) {
                float r = want[(size_t)k * SIZE * SIZE * 3 + i];
                double d = fabs((double)ours[i] - (double)r);
                worst = d > worst ? d : worst;
                over += d > 0.5 + 1e-3;
                int tie = fabsf(r - floorf(r) - 0.5f) < 1e-4f;
                int match = ours[i] == (int)floorf(r + 0.5f);
                ties += tie;
                tie_mismatch += tie && !match;
                mismatch += !tie && !match;
                shape_mismatch += !tie && !match;
            }
            values += (size_t)SIZE * SIZE * 3;
        }
        if (shape_mismatch)
            fprintf(stderr, "%d x %d: %zu values differ from round(face-api)\n", h, w,
                    shape_mismatch);
        fr_npy_free(&ref);
        free(images);
    }
    CHECK(values > 0);
    CHECK(over == 0);
    CHECK(mismatch == 0);
    printf("%zu values over %zu shapes: max |ours - face-api| = %.6f, %zu beyond 0.5, %zu differ "
           "from round(face-api) off ties; %zu ties (x.5), %zu of them rounded the other way\n",
           values, sizeof shapes / sizeof *shapes, worst, over, mismatch, ties, tie_mismatch);
    return fr_test_finish("test_resize_faceapi");
}
