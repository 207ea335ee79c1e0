/*
 * test_resize.c: fr_resize_nearest_pil and fr_resize_bilinear_pil against Pillow itself
 * (tests/ref/pil/resize_ref.py, Debian's Pillow 9.4), bit for bit, on random images and
 * size pairs: the model sizes (96/150/192/250 -> 160, 250 -> 150, 160 -> 160), odd and
 * extreme shapes (1 x 1, 1000 x 3), one-axis resizes, and ~250 random pairs up and down.
 * Noise images make every filter weight count; 0/255-only images exercise the clipping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "image/resize.h"
#include "testutil.h"

#define MAX_CASES 320

typedef struct resize_case {
    int src_w, src_h, dst_w, dst_h;
    int kind; /* 0 noise, 1 saturated (0/255 only), 2 smooth gradient */
} resize_case;

static resize_case cases[MAX_CASES];
static int case_count;

static void add(int src_w, int src_h, int dst_w, int dst_h, int kind)
{
    if (case_count < MAX_CASES)
        cases[case_count++] = (resize_case){src_w, src_h, dst_w, dst_h, kind};
}

static uint8_t *make_image(const resize_case *c, uint64_t *rng)
{
    size_t n = (size_t)c->src_w * c->src_h * 3;
    uint8_t *p = malloc(n);
    if (!p)
        abort();
    for (size_t i = 0; i < n; i++) {
        uint64_t r = fr_test_rand(rng);
        if (c->kind == 0)
            p[i] = (uint8_t)(r >> 32);
        else if (c->kind == 1)
            p[i] = (r >> 40) & 1 ? 255 : 0;
        else {
            size_t x = (i / 3) % (size_t)c->src_w, y = (i / 3) / (size_t)c->src_w;
            p[i] = (uint8_t)((x * 255 / (size_t)c->src_w + y * 97 / (size_t)c->src_h + i % 3 * 40 +
                              (r >> 62)) & 255);
        }
    }
    return p;
}

/* Pillow's nearest pretabulates positions by accumulation; counts output columns where that
 * differs from the textbook floor((x + 0.5) * in / out), to show the test reaches them. */
static int accumulation_matters(int in, int out)
{
    double a = (double)in / out, xo = a * 0.5;
    int differ = 0;
    for (int x = 0; x < out; x++, xo += a)
        differ += (int)xo != (int)((x + 0.5) * a);
    return differ;
}

static size_t count_differences(const uint8_t *ours, const uint8_t *theirs, size_t n, int *worst)
{
    size_t differ = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)ours[i] - (int)theirs[i]);
        differ += d != 0;
        if (d > *worst)
            *worst = d;
    }
    return differ;
}

int main(void)
{
    /* The sizes the models meet. */
    static const int fixed[][4] = {
        {96, 96, 160, 160},   {250, 250, 160, 160}, {192, 192, 160, 160}, {160, 160, 160, 160},
        {150, 150, 160, 160}, {250, 250, 150, 150}, {188, 188, 160, 160}, {94, 94, 160, 160},
        {125, 125, 160, 160}, {640, 480, 160, 160}, {480, 640, 160, 160}, {97, 61, 160, 160},
        {61, 97, 160, 160},   {1, 1, 160, 160},     {160, 160, 1, 1},     {1, 7, 5, 3},
        {3, 1, 1, 9},         {2, 2, 3, 3},         {1000, 3, 7, 2},      {7, 1000, 2, 7},
        {160, 200, 160, 160}, {200, 160, 160, 160}, {33, 33, 33, 34},     {250, 250, 96, 96},
        {299, 300, 301, 150}, {5, 5, 1000, 2},
    };
    uint64_t rng = 0x5eed1234abcdULL;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        for (int kind = 0; kind < 3; kind++)
            add(fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3], kind);
    /* Random pairs: half small (1..40, where edges dominate), half up to 400. */
    while (case_count < MAX_CASES) {
        int limit = case_count % 2 ? 40 : 400;
        int sw = 1 + (int)(fr_test_rand(&rng) % (uint64_t)limit);
        int sh = 1 + (int)(fr_test_rand(&rng) % (uint64_t)limit);
        int dw = 1 + (int)(fr_test_rand(&rng) % (uint64_t)limit);
        int dh = 1 + (int)(fr_test_rand(&rng) % (uint64_t)limit);
        add(sw, sh, dw, dh, (int)(fr_test_rand(&rng) % 3));
    }

    /* Inputs and the manifest for Pillow. */
    const char *tmp = fr_test_tmpdir();
    char manifest[512];
    snprintf(manifest, sizeof manifest, "%s/resize_manifest.tsv", tmp);
    FILE *f = fopen(manifest, "w");
    if (!f) {
        perror(manifest);
        return 1;
    }
    for (int i = 0; i < case_count; i++) {
        resize_case *c = &cases[i];
        uint8_t *image = make_image(c, &rng);
        char path[512];
        snprintf(path, sizeof path, "%s/in_%d.npy", tmp, i);
        size_t shape[3] = {(size_t)c->src_h, (size_t)c->src_w, 3};
        CHECK_OK(fr_npy_save(path, FR_NPY_U8, 3, shape, image));
        free(image);
        fprintf(f, "%s\t%s/nearest_%d.npy\t%s/bilinear_%d.npy\t%d\t%d\n", path, tmp, i, tmp, i,
                c->dst_w, c->dst_h);
    }
    fclose(f);
    char command[2048];
    snprintf(command, sizeof command, "'%s' '%s/tests/ref/pil/resize_ref.py' '%s'",
             fr_test_env("FACEREC_PYTHON"), fr_test_env("FACEREC_SOURCE_DIR"), manifest);
    int rc = fr_test_system(command);
    if (rc == 77)
        fr_test_skip("Pillow/numpy not available to FACEREC_PYTHON");
    CHECK(rc == 0);
    if (rc != 0)
        return fr_test_finish("test_resize");

    size_t values = 0, nearest_differ = 0, bilinear_differ = 0;
    int nearest_bad_cases = 0, bilinear_bad_cases = 0, subtle = 0;
    for (int i = 0; i < case_count; i++) {
        resize_case *c = &cases[i];
        char path[512];
        snprintf(path, sizeof path, "%s/in_%d.npy", tmp, i);
        fr_npy in, near_ref, bil_ref;
        CHECK_OK(fr_npy_load(path, &in));
        snprintf(path, sizeof path, "%s/nearest_%d.npy", tmp, i);
        CHECK_OK(fr_npy_load(path, &near_ref));
        snprintf(path, sizeof path, "%s/bilinear_%d.npy", tmp, i);
        CHECK_OK(fr_npy_load(path, &bil_ref));
        size_t n = (size_t)c->dst_w * c->dst_h * 3;
        CHECK(near_ref.count == n && bil_ref.count == n);
        uint8_t *ours = malloc(n);
        if (!ours || near_ref.count != n || bil_ref.count != n)
            abort();

        int worst;
        fr_resize_nearest_pil(in.data, c->src_w, c->src_h, ours, c->dst_w, c->dst_h);
        size_t d = count_differences(ours, near_ref.data, n, &worst);
        if (d) {
            nearest_bad_cases++;
            fprintf(stderr, "nearest %dx%d -> %dx%d (kind %d): %zu values differ (max %d)\n",
                    c->src_w, c->src_h, c->dst_w, c->dst_h, c->kind, d, worst);
        }
        nearest_differ += d;

        CHECK_OK(fr_resize_bilinear_pil(in.data, c->src_w, c->src_h, ours, c->dst_w, c->dst_h));
        d = count_differences(ours, bil_ref.data, n, &worst);
        if (d) {
            bilinear_bad_cases++;
            fprintf(stderr, "bilinear %dx%d -> %dx%d (kind %d): %zu values differ (max %d)\n",
                    c->src_w, c->src_h, c->dst_w, c->dst_h, c->kind, d, worst);
        }
        bilinear_differ += d;
        values += n;
        subtle += accumulation_matters(c->src_w, c->dst_w) + accumulation_matters(c->src_h, c->dst_h) > 0;

        free(ours);
        fr_npy_free(&in);
        fr_npy_free(&near_ref);
        fr_npy_free(&bil_ref);
    }
    CHECK(nearest_differ == 0);
    CHECK(bilinear_differ == 0);
    /* 192 -> 160 is one: the accumulated positions pick 14 where floor(12.5 * 1.2) = 15. */
    CHECK(accumulation_matters(192, 160) > 0);
    CHECK(subtle > 10);
    printf("%d cases, %zu output values per filter: nearest %zu differ (%d cases), bilinear %zu differ "
           "(%d cases); %d cases where accumulated positions differ from multiplied ones\n",
           case_count, values, nearest_differ, nearest_bad_cases, bilinear_differ,
           bilinear_bad_cases, subtle);

    /* Invalid sizes are refused, not crashed on. */
    uint8_t pixel[3] = {1, 2, 3}, out[3] = {9, 9, 9};
    CHECK(fr_resize_bilinear_pil(pixel, 0, 1, out, 1, 1) == FR_E_INVALID);
    CHECK(fr_resize_bilinear_pil(pixel, 1, 1, out, 1, -1) == FR_E_INVALID);
    fr_resize_nearest_pil(pixel, 1, 1, out, 0, 1);
    CHECK(out[0] == 9);
    return fr_test_finish("test_resize");
}
