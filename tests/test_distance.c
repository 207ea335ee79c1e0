/*
 * test_distance.c: the distance engine against a naive double-precision computation.
 *
 * Random embeddings (unit rows, as the models give, and unnormalized ones), sizes that are
 * not multiples of the tile, tiles much smaller than the matrix, symmetric and not, one and
 * two threads; rows duplicated on purpose so that zero distances (where float32 GEMM
 * cancellation is worst) are covered. Tolerance: the GEMM form loses absolute precision in
 * d^2 of about 1e-6 x (|a|^2 + |b|^2) for 128-d rows, so d is checked to within
 * sqrt(3e-6 x (|a|^2 + |b|^2)) (2.4e-3 for unit rows at distance 0) and, away from 0, to
 * err(d^2) / d_ref (4.3e-6 for unit rows at distance 1.4), as |d - d_ref| = err(d^2) / (d + d_ref).
 *
 * Nearest neighbours: the k nearest rows and the k nearest distinct labels against a full
 * sort of the double-precision distances, with gaps between candidates wide enough that
 * float rounding cannot reorder them (checked, not assumed: near-ties are skipped).
 *
 * Work split over machines (--shard, sharded galleries) must give the single run's bits, not
 * just close values: row windows of a matrix, probes cut at the engine's probe block, and a
 * gallery cut anywhere (into parts of one row too) are compared bit for bit with the whole.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "match/distance.h"
#include "match/distmat.h"
#include "testutil.h"

static float *random_rows(uint64_t *rng, size_t n, size_t dim, int normalize, size_t duplicates)
{
    float *rows = malloc(n * dim * sizeof *rows);
    for (size_t i = 0; i < n * dim; i++)
        rows[i] = fr_test_uniform(rng, -1.0f, 1.0f);
    if (normalize)
        fr_l2_normalize(rows, n, dim);
    /* a few rows copied from others: exact zeros in the matrix */
    for (size_t d = 0; d < duplicates && n > 1; d++) {
        size_t from = (size_t)(fr_test_rand(rng) % n), to = (size_t)(fr_test_rand(rng) % n);
        memcpy(rows + to * dim, rows + from * dim, dim * sizeof *rows);
    }
    return rows;
}

static double sq_norm(const float *a, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)a[i] * a[i];
    return s;
}

static double ref_distance(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* |d - d_ref| = |d^2 - d_ref^2| / (d + d_ref) <= E / d_ref, with E = 3e-6 (|a|^2 + |b|^2) the
 * GEMM form's error on d^2; near 0 the square root's sqrt(E). Plus float32 output rounding. */
static double tolerance(const float *a, const float *b, size_t dim, double d_ref)
{
    double e = 3e-6 * (sq_norm(a, dim) + sq_norm(b, dim));
    double t = sqrt(e);
    if (d_ref > 0 && e / d_ref < t)
        t = e / d_ref;
    return t + 1.2e-7 * d_ref;
}

/* Collects tiles into an n x m matrix and counts how often each element arrives. */
typedef struct collect {
    size_t m;
    float *d;
    unsigned char *seen;
    size_t max_tile;
    int too_big;
} collect;

static fr_status collect_tile(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                              const float *tile, size_t ld)
{
    collect *c = ctx;
    if (rows > c->max_tile || cols > c->max_tile)
        c->too_big = 1;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            c->d[(row0 + r) * c->m + col0 + j] = tile[r * ld + j];
            c->seen[(row0 + r) * c->m + col0 + j]++;
        }
    return FR_OK;
}

static void check_all_pairs(int threads, size_t tile, size_t n, size_t m, size_t dim,
                            int symmetric, int normalize, uint64_t seed)
{
    uint64_t rng = seed;
    float *a = random_rows(&rng, n, dim, normalize, n / 5);
    float *b = symmetric ? NULL : random_rows(&rng, m, dim, normalize, 0);
    if (symmetric)
        m = n;
    else /* some rows of b equal to rows of a: zeros off a diagonal */
        for (size_t i = 0; i < m && i < n; i += 3)
            memcpy(b + i * dim, a + ((i * 7) % n) * dim, dim * sizeof *b);
    const float *bb = symmetric ? a : b;
    fr_distance_options o = {FR_DEVICE_CPU, threads, tile};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    collect c = {m, calloc(n * m, sizeof(float)), calloc(n * m, 1), tile ? tile : SIZE_MAX, 0};
    CHECK_OK(fr_distance_all_pairs(e, a, n, b, m, dim, collect_tile, &c));
    size_t wrong = 0, counts = 0, negative = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double ref = ref_distance(a + i * dim, bb + j * dim, dim);
            double got = c.d[i * m + j];
            double err = fabs(got - ref);
            counts += c.seen[i * m + j] != 1;
            negative += !(got >= 0);
            if (err > tolerance(a + i * dim, bb + j * dim, dim, ref))
                wrong++;
            if (err > worst)
                worst = err;
        }
    if (wrong || counts || negative || c.too_big)
        fprintf(stderr, "all pairs %zu x %zu (tile %zu, %d threads, %s): %zu wrong (worst %.3g), "
                "%zu delivered other than once, %zu negative or NaN, tile too big %d\n",
                n, m, tile, threads, symmetric ? "symmetric" : "two sets", wrong, worst, counts,
                negative, c.too_big);
    CHECK(wrong == 0);
    CHECK(counts == 0);
    CHECK(negative == 0);
    CHECK(!c.too_big);
    if (symmetric) {
        /* exactly symmetric with an exact zero diagonal: the same numbers, transposed */
        size_t asym = 0, diag = 0;
        for (size_t i = 0; i < n; i++) {
            diag += c.d[i * m + i] != 0.0f;
            for (size_t j = 0; j < i; j++)
                asym += c.d[i * m + j] != c.d[j * m + i];
        }
        CHECK(asym == 0);
        CHECK(diag == 0);
    }
    free(c.d);
    free(c.seen);
    fr_distance_free(e);
    free(a);
    free(b);
}

typedef struct ranked {
    double d;
    int64_t index;
} ranked;

static int compare_ranked(const void *x, const void *y)
{
    const ranked *p = x, *q = y;
    if (p->d != q->d)
        return p->d < q->d ? -1 : 1;
    return p->index < q->index ? -1 : p->index > q->index;
}

/* The reference answer for one probe: all rows sorted, then the first k (distinct labels). */
static size_t reference_nearest(const float *probe, const float *b, size_t m, size_t dim,
                                const int32_t *labels, size_t k, ranked *all, ranked *best)
{
    for (size_t j = 0; j < m; j++) {
        all[j].d = ref_distance(probe, b + j * dim, dim);
        all[j].index = (int64_t)j;
    }
    qsort(all, m, sizeof *all, compare_ranked);
    size_t count = 0;
    for (size_t j = 0; j < m && count < k; j++) {
        int dup = 0;
        for (size_t q = 0; labels && q < count; q++)
            dup |= labels[best[q].index] == labels[all[j].index];
        if (!dup)
            best[count++] = all[j];
    }
    return count;
}

static void check_nearest(int threads, size_t tile, size_t n, size_t m, size_t dim, size_t k,
                          size_t label_count, uint64_t seed)
{
    uint64_t rng = seed;
    float *a = random_rows(&rng, n, dim, 1, 0);
    float *b = random_rows(&rng, m, dim, 1, 0);
    int32_t *labels = NULL;
    if (label_count) {
        labels = malloc(m * sizeof *labels);
        for (size_t j = 0; j < m; j++)
            labels[j] = (int32_t)(fr_test_rand(&rng) % label_count);
    }
    /* probe 0 is a gallery row: its nearest is at distance ~0 */
    if (n && m)
        memcpy(a, b + (m / 2) * dim, dim * sizeof *a);
    fr_distance_options o = {FR_DEVICE_CPU, threads, tile};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    fr_neighbor *got = malloc(n * k * sizeof *got);
    CHECK_OK(fr_distance_nearest(e, a, n, b, m, dim, labels, k, got));
    ranked *all = malloc(m * sizeof *all), *best = malloc(k * sizeof *best);
    size_t wrong_index = 0, wrong_distance = 0, wrong_padding = 0, compared = 0;
    for (size_t i = 0; i < n; i++) {
        size_t count = reference_nearest(a + i * dim, b, m, dim, labels, k, all, best);
        for (size_t q = 0; q < k; q++) {
            const fr_neighbor *g = &got[i * k + q];
            if (q >= count) {
                wrong_padding += g->index != -1 || !isinf(g->distance);
                continue;
            }
            if (fabs(g->distance - best[q].d) >
                tolerance(a + i * dim, b + best[q].index * dim, dim, best[q].d))
                wrong_distance++;
            /* the order is only defined where the reference's gaps beat float rounding */
            int near_tie = (q > 0 && best[q].d - best[q - 1].d < 1e-4) ||
                           (q + 1 < count && best[q + 1].d - best[q].d < 1e-4);
            if (!near_tie) {
                compared++;
                wrong_index += g->index != best[q].index;
            }
        }
    }
    if (wrong_index || wrong_distance || wrong_padding)
        fprintf(stderr, "nearest %zu x %zu k=%zu labels=%zu tile %zu threads %d: %zu wrong rows "
                "of %zu, %zu wrong distances, %zu bad empty slots\n", n, m, k, label_count, tile,
                threads, wrong_index, compared, wrong_distance, wrong_padding);
    CHECK(wrong_index == 0);
    CHECK(wrong_distance == 0);
    CHECK(wrong_padding == 0);
    CHECK(compared > n * (k < m ? k : m) / 2); /* the comparison did happen */
    if (n && m) {
        CHECK(got[0].index == (int64_t)(m / 2) || (labels && labels[got[0].index] == labels[m / 2]));
        CHECK(got[0].distance < 2e-3);
    }
    free(all);
    free(best);
    free(got);
    free(labels);
    fr_distance_free(e);
    free(a);
    free(b);
}

/* The .npy writer: the file numpy would read, equal to the tiles delivered in memory. */
static void check_distmat_file(void)
{
    uint64_t rng = 99;
    size_t n = 45, m = 31, dim = 128;
    float *a = random_rows(&rng, n, dim, 1, 3);
    float *b = random_rows(&rng, m, dim, 1, 0);
    fr_distance_options o = {FR_DEVICE_CPU, 2, 8};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    char path[512];
    for (int symmetric = 0; symmetric < 2; symmetric++) {
        snprintf(path, sizeof path, "%s/d%d.npy", fr_test_tmpdir(), symmetric);
        size_t cols = symmetric ? n : m;
        fr_output out;
        CHECK_OK(fr_output_open(&out, path, FR_OUTPUT_REGULAR));
        CHECK_OK(fr_distmat_write(e, a, n, symmetric ? NULL : b, m, dim, &out));
        CHECK_OK(fr_output_commit(&out));
        fr_npy arr = {0};
        CHECK_OK(fr_npy_load(path, &arr));
        CHECK(arr.ndim == 2 && arr.shape[0] == n && arr.shape[1] == cols);
        size_t wrong = 0;
        for (size_t i = 0; arr.data && i < n; i++)
            for (size_t j = 0; j < cols; j++) {
                const float *bj = (symmetric ? a : b) + j * dim;
                double ref = ref_distance(a + i * dim, bj, dim);
                wrong += fabs(((float *)arr.data)[i * cols + j] - ref) >
                         tolerance(a + i * dim, bj, dim, ref);
            }
        CHECK(wrong == 0);
        fr_npy_free(&arr);
    }
    /* standard output and devices cannot take tiles out of order: refused before any work */
    fr_output out;
    CHECK(fr_output_open(&out, "-", FR_OUTPUT_REGULAR) == FR_E_INVALID);
    CHECK(fr_output_open(&out, "/dev/zero", FR_OUTPUT_REGULAR) == FR_E_INVALID);
    CHECK(strstr(fr_error_message(), "/dev/zero: not a regular file (a character device)"));
    /* an unwritable place: an error naming it, no file left behind */
    snprintf(path, sizeof path, "%s/no/such/dir/d.npy", fr_test_tmpdir());
    CHECK(fr_output_open(&out, path, FR_OUTPUT_REGULAR) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "no/such/dir/d.npy") != NULL);
    fr_distance_free(e);
    free(a);
    free(b);
}

/* Rows [w0, w1) of D, as the window call delivers them, equal to those rows of all of D. */
static void check_row_windows(size_t tile, size_t n, size_t m, int symmetric, uint64_t seed)
{
    uint64_t rng = seed;
    size_t dim = 128;
    float *a = random_rows(&rng, n, dim, 1, 2);
    float *b = symmetric ? NULL : random_rows(&rng, m, dim, 1, 0);
    if (symmetric)
        m = n;
    fr_distance_options o = {FR_DEVICE_CPU, 2, tile};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    collect all = {m, calloc(n * m, sizeof(float)), calloc(n * m, 1), SIZE_MAX, 0};
    CHECK_OK(fr_distance_all_pairs(e, a, n, b, m, dim, collect_tile, &all));
    size_t cuts[][2] = {{0, n / 3}, {n / 3, n / 3 + 1}, {n / 3 + 1, n - 1}, {n - 1, n}, {0, n},
                        {n / 2, n / 2}};
    size_t wrong = 0, counts = 0;
    for (size_t w = 0; w < sizeof cuts / sizeof cuts[0]; w++) {
        collect part = {m, calloc(n * m, sizeof(float)), calloc(n * m, 1), SIZE_MAX, 0};
        CHECK_OK(fr_distance_all_pairs_rows(e, a, n, b, m, dim, cuts[w][0], cuts[w][1],
                                            collect_tile, &part));
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m; j++) {
                int inside = i >= cuts[w][0] && i < cuts[w][1];
                counts += part.seen[i * m + j] != (inside ? 1 : 0);
                if (inside && memcmp(&part.d[i * m + j], &all.d[i * m + j], sizeof(float)) != 0)
                    wrong++;
            }
        free(part.d);
        free(part.seen);
    }
    if (wrong || counts)
        fprintf(stderr, "row windows of %zu x %zu (tile %zu, %s): %zu values not the whole "
                "matrix's bits, %zu delivered other than once\n", n, m, tile,
                symmetric ? "symmetric" : "two sets", wrong, counts);
    CHECK(wrong == 0);
    CHECK(counts == 0);
    /* the .npy of a window: its data is those rows of the whole file, byte for byte */
    char whole[512], rows[512];
    snprintf(whole, sizeof whole, "%s/whole.npy", fr_test_tmpdir());
    snprintf(rows, sizeof rows, "%s/rows.npy", fr_test_tmpdir());
    fr_output wo, ro;
    CHECK_OK(fr_output_open(&wo, whole, FR_OUTPUT_REGULAR));
    CHECK_OK(fr_distmat_write(e, a, n, b, m, dim, &wo));
    CHECK_OK(fr_output_commit(&wo));
    CHECK_OK(fr_output_open(&ro, rows, FR_OUTPUT_REGULAR));
    CHECK_OK(fr_distmat_write_rows(e, a, n, b, m, dim, n / 3, n - 1, &ro));
    CHECK_OK(fr_output_commit(&ro));
    fr_npy x = {0}, y = {0};
    CHECK_OK(fr_npy_load(whole, &x));
    CHECK_OK(fr_npy_load(rows, &y));
    CHECK(y.ndim == 2 && y.shape[0] == n - 1 - n / 3 && y.shape[1] == m);
    CHECK(x.data && y.data &&
          memcmp((float *)x.data + n / 3 * m, y.data, y.count * sizeof(float)) == 0);
    fr_npy_free(&x);
    fr_npy_free(&y);
    CHECK(fr_distance_all_pairs_rows(e, a, n, b, m, dim, 3, n + 1, collect_tile, &all) ==
          FR_E_INVALID);
    free(all.d);
    free(all.seen);
    fr_distance_free(e);
    free(a);
    free(b);
}

/* The upper triangle's tiles: every tile on and above the diagonal once, as all_pairs
 * computes it (bit for bit), in ranges that split anywhere; nothing below the diagonal. */
static void check_upper_tiles(size_t tile, size_t n, uint64_t seed)
{
    uint64_t rng = seed;
    size_t dim = 128;
    float *a = random_rows(&rng, n, dim, 1, 3);
    fr_distance_options o = {FR_DEVICE_CPU, 2, tile};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    size_t t = fr_distance_pairs_tile(e), blocks = (n + t - 1) / t;
    CHECK(t == (tile ? tile : t));
    CHECK(fr_distance_upper_tile_count(e, n) == blocks * (blocks + 1) / 2);
    size_t tiles = fr_distance_upper_tile_count(e, n);
    collect all = {n, calloc(n * n, sizeof(float)), calloc(n * n, 1), SIZE_MAX, 0};
    CHECK_OK(fr_distance_all_pairs(e, a, n, NULL, 0, dim, collect_tile, &all));
    size_t cuts[] = {0, tiles / 3, tiles / 3 + 1, tiles - 1, tiles};
    collect up = {n, calloc(n * n, sizeof(float)), calloc(n * n, 1), t, 0};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
        CHECK_OK(fr_distance_upper_tiles(e, a, n, dim, cuts[c], cuts[c + 1], collect_tile, &up));
    size_t wrong = 0, counts = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int upper = j / t >= i / t; /* the tile (i / t, j / t) is on or above the diagonal */
            counts += up.seen[i * n + j] != (upper ? 1 : 0);
            if (upper && memcmp(&up.d[i * n + j], &all.d[i * n + j], sizeof(float)) != 0)
                wrong++;
        }
    if (wrong || counts || up.too_big)
        fprintf(stderr, "upper tiles of %zu (tile %zu): %zu values not all_pairs' bits, %zu "
                "delivered other than once, tile too big %d\n", n, t, wrong, counts, up.too_big);
    CHECK(wrong == 0 && counts == 0 && !up.too_big);
    CHECK(fr_distance_upper_tiles(e, a, n, dim, 0, tiles + 1, collect_tile, &up) ==
          FR_E_INVALID);
    CHECK_OK(fr_distance_upper_tiles(e, a, n, dim, tiles, tiles, collect_tile, &up));
    free(all.d);
    free(all.seen);
    free(up.d);
    free(up.seen);
    fr_distance_free(e);
    free(a);
}

static int same_neighbors(const fr_neighbor *x, const fr_neighbor *y, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (x[i].index != y[i].index || memcmp(&x[i].distance, &y[i].distance, sizeof(float)))
            return 0;
    return 1;
}

/* Nearest over probes cut at multiples of the probe block, and over a gallery cut into parts
 * (of one row among them) whose lists are merged by (distance, row): the whole call's bits. */
static void check_split_nearest(size_t tile, size_t n, size_t m, size_t k, uint64_t seed)
{
    uint64_t rng = seed;
    size_t dim = 128;
    float *a = random_rows(&rng, n, dim, 1, 0);
    float *b = random_rows(&rng, m, dim, 1, 0);
    fr_distance_options o = {FR_DEVICE_CPU, 2, tile};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    size_t block = fr_distance_probe_block(e);
    CHECK(block == (tile ? tile : 512));
    fr_neighbor *whole = malloc(n * k * sizeof *whole), *part = malloc(n * k * sizeof *part);
    CHECK_OK(fr_distance_nearest(e, a, n, b, m, dim, NULL, k, whole));
    /* probes: [0, block), [block, 3 block), the rest */
    size_t cuts[] = {0, block < n ? block : n, 3 * block < n ? 3 * block : n, n};
    for (size_t c = 0; c + 1 < 4; c++)
        CHECK_OK(fr_distance_nearest(e, a + cuts[c] * dim, cuts[c + 1] - cuts[c], b, m, dim,
                                     NULL, k, part + cuts[c] * k));
    CHECK(same_neighbors(whole, part, n * k));
    /* the gallery in three parts: [0, g1), [g1, g1 + 1), [g1 + 1, m) */
    size_t g[] = {0, m / 2, m / 2 + 1, m};
    fr_neighbor *lists = malloc(3 * n * k * sizeof *lists);
    for (size_t p = 0; p < 3; p++) {
        CHECK_OK(fr_distance_nearest(e, a, n, b + g[p] * dim, g[p + 1] - g[p], dim, NULL, k,
                                     lists + p * n * k));
        for (size_t i = 0; i < n * k; i++)
            if (lists[p * n * k + i].index >= 0)
                lists[p * n * k + i].index += (int64_t)g[p];
    }
    for (size_t i = 0; i < n; i++) {
        size_t at[3] = {0, 0, 0};
        for (size_t q = 0; q < k; q++) {
            const fr_neighbor *best = NULL;
            size_t from = 0;
            for (size_t p = 0; p < 3; p++) {
                const fr_neighbor *x = at[p] < k ? &lists[(p * n + i) * k + at[p]] : NULL;
                if (x && x->index >= 0 &&
                    (!best || x->distance < best->distance ||
                     (x->distance == best->distance && x->index < best->index)))
                    best = x, from = p;
            }
            if (best) {
                part[i * k + q] = *best;
                at[from]++;
            }
        }
    }
    int same = same_neighbors(whole, part, n * k);
    if (!same)
        fprintf(stderr, "nearest %zu x %zu (tile %zu): a gallery cut at %zu and %zu gives "
                "other bits than the whole\n", n, m, tile, g[1], g[2]);
    CHECK(same);
    free(lists);
    free(whole);
    free(part);
    fr_distance_free(e);
    free(a);
    free(b);
}

/* A sink error stops the run and comes back as the result. */
static fr_status failing_sink(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                              const float *tile, size_t ld)
{
    (void)row0, (void)col0, (void)rows, (void)cols, (void)tile, (void)ld;
    int *calls = ctx;
    __atomic_add_fetch(calls, 1, __ATOMIC_SEQ_CST);
    return fr_fail(FR_E_IO, "disk full (test)");
}

/* A NaN in a row makes its distances NaN (a clamp max(v, 0) once made them 0: "the same
 * face"); the other rows' distances are untouched. Rows of 40 (the AVX loop and its tail). */
static void check_nan_rows(void)
{
    uint64_t rng = 21;
    size_t n = 20, dim = 16;
    float *a = random_rows(&rng, n, dim, 1, 0);
    a[3 * dim + 5] = NAN;
    float *b = random_rows(&rng, 43, dim, 1, 0);
    b[42 * dim] = NAN;
    fr_distance_options o = {FR_DEVICE_CPU, 2, 0};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    collect c = {43, calloc(n * 43, sizeof(float)), calloc(n * 43, 1), SIZE_MAX, 0};
    CHECK_OK(fr_distance_all_pairs(e, a, n, b, 43, dim, collect_tile, &c));
    size_t nan_where_due = 0, nan_elsewhere = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 43; j++) {
            int due = i == 3 || j == 42;
            nan_where_due += due && isnan(c.d[i * 43 + j]);
            nan_elsewhere += !due && !(c.d[i * 43 + j] >= 0);
        }
    CHECK(nan_where_due == 43 + n - 1 && nan_elsewhere == 0);
    free(c.d);
    free(c.seen);
    fr_distance_free(e);
    free(a);
    free(b);
}

int main(void)
{
    /* sizes around and between tile multiples; one tile; many tiles; 1 and 2 threads */
    check_all_pairs(1, 16, 37, 0, 128, 1, 1, 1);
    check_all_pairs(2, 16, 37, 0, 128, 1, 1, 2);
    check_all_pairs(2, 7, 50, 0, 128, 1, 0, 3);     /* unnormalized rows */
    check_all_pairs(2, 16, 64, 0, 128, 1, 1, 4);    /* a multiple of the tile */
    check_all_pairs(2, 16, 37, 53, 128, 0, 1, 5);
    check_all_pairs(1, 5, 23, 11, 3, 0, 0, 6);      /* tiny rows, unnormalized */
    check_all_pairs(2, 0, 300, 1100, 128, 0, 1, 7); /* the default tile: one row block */
    check_all_pairs(2, 0, 1500, 0, 128, 1, 1, 8);   /* the default tile, 2 x 2 blocks */
    check_all_pairs(2, 16, 1, 1, 128, 0, 1, 9);

    check_nearest(1, 16, 40, 100, 128, 5, 0, 11);
    check_nearest(2, 16, 40, 100, 128, 5, 0, 12);
    check_nearest(2, 7, 3, 1000, 128, 10, 0, 13);    /* few probes: the gallery is split */
    check_nearest(2, 16, 40, 300, 128, 5, 12, 14);   /* distinct labels (people) */
    check_nearest(2, 7, 1, 500, 128, 8, 30, 15);     /* one probe, labels, split gallery */
    check_nearest(2, 16, 10, 3, 128, 5, 0, 16);      /* k > gallery: padded */
    check_nearest(2, 16, 10, 40, 128, 5, 3, 17);     /* k > distinct labels: padded */
    check_nearest(2, 0, 600, 5000, 128, 5, 0, 18);   /* default tiles, several chunks */
    check_nearest(2, 0, 1, 20000, 128, 5, 1000, 19); /* one probe against a split gallery */

    check_distmat_file();
    check_nan_rows();

    check_row_windows(16, 70, 0, 1, 21);   /* windows across tiles, symmetric */
    check_row_windows(16, 70, 45, 0, 22);
    check_row_windows(0, 1100, 0, 1, 23);  /* the default tile: a window inside the second */
    check_upper_tiles(16, 70, 26);   /* 5 row blocks, the last partial: 15 tiles */
    check_upper_tiles(16, 64, 27);   /* a multiple of the tile */
    check_upper_tiles(0, 1100, 28);  /* the default tile */
    check_split_nearest(16, 70, 100, 5, 24);
    check_split_nearest(0, 1300, 2049, 5, 25); /* default tiles; a last chunk of one row */

    /* sink failures and bad arguments */
    uint64_t rng = 5;
    float *a = random_rows(&rng, 40, 16, 1, 0);
    fr_distance_options o = {FR_DEVICE_CPU, 2, 8};
    fr_distance_engine *e = NULL;
    CHECK_OK(fr_distance_new(&o, &e));
    int calls = 0;
    CHECK(fr_distance_all_pairs(e, a, 40, NULL, 0, 16, failing_sink, &calls) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "disk full") != NULL);
    CHECK(calls >= 1 && calls < 15); /* 15 tiles: it stopped early */
    fr_neighbor out[5];
    CHECK(fr_distance_nearest(e, a, 1, a, 40, 16, NULL, 0, out) == FR_E_INVALID);
    CHECK_OK(fr_distance_nearest(e, a, 1, a, 0, 16, NULL, 5, out)); /* empty gallery */
    CHECK(out[0].index == -1 && isinf(out[4].distance));
    CHECK(fr_distance_all_pairs(e, NULL, 3, NULL, 0, 16, failing_sink, &calls) == FR_E_INVALID);
    CHECK(fr_distance_nearest(e, a, SIZE_MAX / 2, a, 40, 16, NULL, 5, out) == FR_E_TOO_LARGE);
    fr_distance_free(e);
    free(a);
    fr_distance_options cuda = {FR_DEVICE_CUDA, 0, 0};
    if (!fr_cuda_compiled() || fr_cuda_device_count() == 0) {
        CHECK(fr_distance_new(&cuda, &e) == FR_E_DEVICE);
        CHECK(strstr(fr_error_message(), "cuda") != NULL);
    }
    return fr_test_finish("test_distance");
}
