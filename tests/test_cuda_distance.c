/*
 * test_cuda_distance.c: the CUDA distance engine against the CPU engine (itself checked
 * against float64 by test_distance): all pairs of two sets and of one set with itself, in
 * tiles small enough (37) that edges and the symmetric case's transposed tiles are crossed;
 * the tiles on and above the diagonal alone (the threshold graph's), in two ranges;
 * the k nearest rows and the k nearest distinct labels, k = 1, 5, 9 and 64, on a gallery spanning
 * several GPU tiles of 32768 rows.
 *
 * Tolerance: 2e-4 absolute on distances between unit-scale 128-d rows (both engines compute
 * |a|^2 + |b|^2 - 2 a.b in fp32 with different summation orders: ~1e-6 relative on the terms,
 * amplified by the square root near 0). Neighbour lists must name the same rows, except where
 * two candidates lie within the tolerance of each other (then either order is right). Every
 * element of every tile must arrive exactly once. Skipped without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "match/distance.h"
#include "testutil.h"

#define DIM 128
#define TOLERANCE 2e-4

typedef struct matrix {
    float *d;
    unsigned char *seen;
    size_t n, m;
} matrix;

static fr_status collect(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                         const float *tile, size_t ld)
{
    matrix *x = ctx;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            x->d[(row0 + r) * x->m + col0 + c] = tile[r * ld + c];
            x->seen[(row0 + r) * x->m + col0 + c]++;
        }
    return FR_OK;
}

static double all_pairs(fr_device device, const float *a, size_t n, const float *b, size_t m,
                        matrix *out)
{
    fr_distance_options o = {device, 0, 37};
    fr_distance_engine *e;
    out->n = n;
    out->m = b ? m : n;
    out->d = calloc(out->n * out->m, sizeof(float));
    out->seen = calloc(out->n * out->m, 1);
    CHECK_OK(fr_distance_new(&o, &e));
    if (fr_test_failures)
        return 0;
    CHECK_OK(fr_distance_all_pairs(e, a, n, b, m, DIM, collect, out));
    fr_distance_free(e);
    size_t once = 0;
    for (size_t i = 0; i < out->n * out->m; i++)
        once += out->seen[i] == 1;
    CHECK(once == out->n * out->m);
    return 0;
}

static float *random_rows(size_t count, uint64_t *rng)
{
    float *x = malloc(count * DIM * sizeof(float));
    for (size_t i = 0; i < count * DIM; i++)
        x[i] = fr_test_uniform(rng, -0.15f, 0.15f);
    return x;
}

static void check_nearest(const float *a, size_t n, const float *b, size_t m,
                          const int32_t *labels, size_t k)
{
    fr_neighbor *want = malloc(n * k * sizeof *want), *got = malloc(n * k * sizeof *got);
    fr_distance_options cpu = {FR_DEVICE_CPU, 0, 0}, gpu = {FR_DEVICE_CUDA, 0, 0};
    fr_distance_engine *e;
    CHECK_OK(fr_distance_new(&cpu, &e));
    CHECK_OK(fr_distance_nearest(e, a, n, b, m, DIM, labels, k, want));
    fr_distance_free(e);
    CHECK_OK(fr_distance_new(&gpu, &e));
    CHECK_OK(fr_distance_nearest(e, a, n, b, m, DIM, labels, k, got));
    fr_distance_free(e);
    double worst = 0;
    size_t mismatched = 0;
    for (size_t i = 0; i < n * k; i++) {
        double d = fabs((double)got[i].distance - want[i].distance);
        if (!(d <= worst))
            worst = d;
        if (got[i].index != want[i].index) {
            /* a near tie may come out in either order */
            size_t q = i % k;
            int tie = (q > 0 && fabs(want[i].distance - want[i - 1].distance) <= TOLERANCE) ||
                      (q + 1 < k && fabs(want[i].distance - want[i + 1].distance) <= TOLERANCE);
            mismatched += !tie;
        }
    }
    printf("nearest: %zu probes, gallery %zu, k %zu, %s: max |distance difference| %.2e, "
           "%zu rows differing beyond ties\n", n, m, k, labels ? "distinct labels" : "rows",
           worst, mismatched);
    CHECK(worst <= TOLERANCE);
    CHECK(mismatched == 0);
    free(want);
    free(got);
}

int main(void)
{
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
    uint64_t rng = 77;
    size_t n = 150, m = 211;
    float *a = random_rows(n, &rng), *b = random_rows(m, &rng);
    matrix cpu, gpu;
    all_pairs(FR_DEVICE_CPU, a, n, b, m, &cpu);
    all_pairs(FR_DEVICE_CUDA, a, n, b, m, &gpu);
    double worst = 0;
    for (size_t i = 0; i < n * m; i++) {
        double d = fabs((double)gpu.d[i] - cpu.d[i]);
        if (!(d <= worst))
            worst = d;
    }
    printf("all pairs %zu x %zu: max |difference| %.2e\n", n, m, worst);
    CHECK(worst <= TOLERANCE);
    free(cpu.d), free(cpu.seen), free(gpu.d), free(gpu.seen);

    all_pairs(FR_DEVICE_CPU, a, n, NULL, 0, &cpu);
    all_pairs(FR_DEVICE_CUDA, a, n, NULL, 0, &gpu);
    worst = 0;
    int symmetric = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double d = fabs((double)gpu.d[i * n + j] - cpu.d[i * n + j]);
            if (!(d <= worst))
                worst = d;
            symmetric &= gpu.d[i * n + j] == gpu.d[j * n + i];
        }
    printf("all pairs of %zu with itself: max |difference| %.2e, symmetric %d, diagonal %g\n", n,
           worst, symmetric, (double)gpu.d[5 * n + 5]);
    CHECK(worst <= TOLERANCE);
    CHECK(symmetric);
    for (size_t i = 0; i < n; i++)
        CHECK(gpu.d[i * n + i] == 0.0f);
    free(cpu.d), free(cpu.seen), free(gpu.d), free(gpu.seen);

    /* the upper triangle's tiles (the threshold graph's), in two ranges: each tile on or
     * above the diagonal once, within the tolerance of the CPU's */
    {
        fr_distance_options o = {FR_DEVICE_CUDA, 0, 37};
        fr_distance_engine *e;
        CHECK_OK(fr_distance_new(&o, &e));
        matrix up = {calloc(n * n, sizeof(float)), calloc(n * n, 1), n, n};
        size_t tiles = fr_distance_upper_tile_count(e, n);
        CHECK(tiles == 5 * 6 / 2); /* 150 rows in blocks of 37: 5 */
        CHECK_OK(fr_distance_upper_tiles(e, a, n, DIM, 0, tiles / 2, collect, &up));
        CHECK_OK(fr_distance_upper_tiles(e, a, n, DIM, tiles / 2, tiles, collect, &up));
        all_pairs(FR_DEVICE_CPU, a, n, NULL, 0, &cpu);
        size_t counts = 0;
        worst = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                int upper = j / 37 >= i / 37;
                counts += up.seen[i * n + j] != (upper ? 1 : 0);
                double d = upper ? fabs((double)up.d[i * n + j] - cpu.d[i * n + j]) : 0;
                if (!(d <= worst))
                    worst = d;
            }
        printf("upper tiles of %zu: max |difference| %.2e, %zu delivered other than once\n", n,
               worst, counts);
        CHECK(worst <= TOLERANCE);
        CHECK(counts == 0);
        free(up.d), free(up.seen), free(cpu.d), free(cpu.seen);
        fr_distance_free(e);
    }

    /* a gallery over two GPU tiles, with 1000 labels of ~70 rows each */
    size_t big = 70000;
    float *gallery = random_rows(big, &rng);
    int32_t *labels = malloc(big * sizeof *labels);
    for (size_t i = 0; i < big; i++)
        labels[i] = (int32_t)(fr_test_rand(&rng) % 1000);
    check_nearest(a, n, gallery, big, NULL, 1);
    check_nearest(a, n, gallery, big, NULL, 5);
    check_nearest(a, n, gallery, big, labels, 5);
    /* probes over two probe-row tiles (2048 rows each, the last one partial), and k past the
     * block merge's first round (8) and at its largest (FR_CU_TOPK_MAX, 64) */
    size_t many = 2100;
    float *probes = random_rows(many, &rng);
    check_nearest(probes, many, gallery, big, NULL, 9);
    check_nearest(probes, many, gallery, big, labels, 9);
    check_nearest(a, n, gallery, big, NULL, 64);
    check_nearest(a, n, gallery, big, labels, 64);
    free(probes);
    free(a);
    free(b);
    free(gallery);
    free(labels);
    return fr_test_finish("test_cuda_distance");
}
