/*
 * distance_cpu.c: the CPU distance backend (the reference for any other).
 *
 * GEMM: oneDNN's sgemm, single-threaded inside each tile (as in cpu_backend.c: the pool's
 * threads keep every core busy, and OpenBLAS 0.3.21 would run SSE3 kernels on this project's
 * CPUs). Each tile is C = -2 A.B^T; the norms are added while the tile is still in cache.
 *
 * All pairs: square tiles of TILE rows, one pool task per tile; in the symmetric case only
 * tiles on and above the diagonal are tasks, and each one above is also delivered transposed
 * (upper_tiles: not, and only the tasks asked for).
 *
 * Nearest: a task is a block of PROBE_ROWS probes against one contiguous split of the gallery,
 * walked in chunks of GALLERY_COLS rows; each chunk's GEMM tile is scanned row by row against
 * the probe's current k-th best (one vector test per 16 columns skips almost everything once
 * the list has filled), so the cost is the GEMM plus one quick pass over each tile. The gallery
 * is split only when there are too few probe blocks to keep every thread busy (one image
 * against a million); the splits' lists are merged at the end (topk.h).
 *
 * Tile sizes (bench/bench_match.c on a 2-core Xeon, 2 MiB L2 per core): nearest tiles of
 * 512 probes x 1024 gallery rows (2 MiB of C) ran 10k x 1M in 12.9 s against 14.6 s for
 * 256 x 2048; all-pairs tiles of 1024 x 1024 (4 MiB, and 4 KiB per pwrite of a tile row),
 * where the time goes to writing the file anyway.
 */
#include <dnnl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "match/distance.h"
#include "match/topk.h"

#define PAIRS_TILE 1024
#define PROBE_ROWS 512
#define GALLERY_COLS 1024

typedef struct cpu_distance {
    fr_pool *pool;
    size_t tile;            /* all pairs: square tiles of this side */
    size_t probe_rows;      /* nearest: probes per task */
    size_t gallery_cols;    /* nearest: gallery rows per GEMM */
    float **scratch;        /* per worker: max(2 * tile^2, probe_rows * gallery_cols) floats */
} cpu_distance;

static fr_status cpu_open(const fr_distance_options *o, void **out)
{
    cpu_distance *s = fr_calloc(1, sizeof *s, "the CPU distance backend");
    if (!s)
        return FR_E_NOMEM;
    s->tile = o->tile ? o->tile : PAIRS_TILE;
    s->probe_rows = o->tile ? o->tile : PROBE_ROWS;
    s->gallery_cols = o->tile ? o->tile : GALLERY_COLS;
    fr_status st = fr_pool_new(o->threads, &s->pool);
    if (st) {
        free(s);
        return st;
    }
    int threads = fr_pool_threads(s->pool);
    size_t floats = 0, nearest = 0, bytes = 0;
    if (!fr_mul_size(s->tile, s->tile, &floats) || !fr_mul_size(floats, 2, &floats) ||
        !fr_mul_size(s->probe_rows, s->gallery_cols, &nearest) ||
        !fr_mul_size(floats > nearest ? floats : nearest, sizeof(float), &bytes)) {
        size_t tile = s->tile;
        fr_pool_free(s->pool);
        free(s);
        return fr_fail(FR_E_TOO_LARGE, "distance tile of %zu is too large", tile);
    }
    s->scratch = fr_calloc((size_t)threads, sizeof *s->scratch, "distance scratch");
    st = s->scratch ? FR_OK : FR_E_NOMEM;
    for (int t = 0; t < threads && !st; t++) {
        s->scratch[t] = fr_aligned_alloc(bytes, "a distance tile");
        if (!s->scratch[t])
            st = FR_E_NOMEM;
    }
    if (st) {
        for (int t = 0; s->scratch && t < threads; t++)
            free(s->scratch[t]);
        free(s->scratch);
        fr_pool_free(s->pool);
        free(s);
        return st;
    }
    *out = s;
    return FR_OK;
}

static void cpu_close(void *state)
{
    cpu_distance *s = state;
    if (!s)
        return;
    for (int t = 0; t < fr_pool_threads(s->pool); t++)
        free(s->scratch[t]);
    free(s->scratch);
    fr_pool_free(s->pool);
    free(s);
}

static fr_status squared_norms(const float *rows, size_t count, size_t dim, float **out)
{
    float *norms = fr_malloc(count * sizeof *norms, "embedding norms");
    if (!norms)
        return FR_E_NOMEM;
    for (size_t i = 0; i < count; i++) {
        const float *r = rows + i * dim;
        float sum = 0.0f;
        for (size_t d = 0; d < dim; d++)
            sum += r[d] * r[d];
        norms[i] = sum;
    }
    *out = norms;
    return FR_OK;
}

/* C (rows x cols, ld cols) = -2 A B_[col0, col0 + cols)^T, B the whole m x dim set.
 *
 * A single column is computed as two: sgemm takes another path for one column (a GEMV) whose
 * sums come out in other bits than the same column's in a wider tile (oneDNN 3.0 here: every
 * value differed), while columns of tiles two or more wide agree bit for bit wherever the tile
 * starts. So that a distance is the same bits however a gallery is cut into chunks or shards,
 * the column is paired with a neighbour (with itself, from pair, when B has one row) and the
 * neighbour's values dropped. pair: NULL, or B's only row twice. */
static fr_status gemm_tile(const float *a, size_t rows, const float *b, size_t m, size_t col0,
                           size_t cols, size_t dim, const float *pair, float *c)
{
    const float *bt = b + col0 * dim;
    size_t n = cols, which = 0;
    if (cols == 1) {
        n = 2;
        if (m == 1)
            bt = pair;
        else if (col0 + 1 == m)
            bt -= dim, which = 1;
    }
    dnnl_status_t st = dnnl_sgemm('N', 'T', (dnnl_dim_t)rows, (dnnl_dim_t)n, (dnnl_dim_t)dim,
                                  -2.0f, a, (dnnl_dim_t)dim, bt, (dnnl_dim_t)dim, 0.0f, c,
                                  (dnnl_dim_t)n);
    if (st != dnnl_success)
        return fr_fail(FR_E_INTERNAL, "oneDNN sgemm failed (status %d)", (int)st);
    if (cols == 1)
        for (size_t r = 0; r < rows; r++)
            c[r] = c[2 * r + which];
    return FR_OK;
}

/* B's only row twice (gemm_tile's pair), when B has one row: *out stays NULL otherwise. */
static fr_status pair_row(const float *b, size_t m, size_t dim, float **out)
{
    *out = NULL;
    if (m != 1)
        return FR_OK;
    float *pair = fr_malloc(2 * dim * sizeof *pair, "a distance tile");
    if (!pair)
        return FR_E_NOMEM;
    memcpy(pair, b, dim * sizeof *pair);
    memcpy(pair + dim, b, dim * sizeof *pair);
    *out = pair;
    return FR_OK;
}

/* row[j] = sqrt(max(0, row[j] + na + nb[j])), a NaN kept NaN (from a NaN in a row: a
 * distance of 0 would say "the same face"). GCC keeps sqrtf scalar (it may set errno), so the
 * vector form is spelled out where AVX is available; a 1024-wide row costs ~10x less. */
static void finish_row(float *row, float na, const float *nb, size_t cols)
{
    size_t j = 0;
#if defined(__AVX__)
    const __m256 zero = _mm256_setzero_ps(), base = _mm256_set1_ps(na);
    for (; j + 8 <= cols; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(row + j), base),
                                 _mm256_loadu_ps(nb + j));
        /* maxps returns its second operand when either is NaN */
        _mm256_storeu_ps(row + j, _mm256_sqrt_ps(_mm256_max_ps(zero, v)));
    }
#endif
    for (; j < cols; j++) {
        float v = row[j] + na + nb[j];
        row[j] = sqrtf(v < 0.0f ? 0.0f : v);
    }
}

/* ---- all pairs ---------------------------------------------------------------------------- */

typedef struct pairs_job {
    const cpu_distance *s;
    const float *a, *b;
    size_t n, m, dim;
    const float *na, *nb;
    const float *pair;      /* gemm_tile's, when B has one row */
    int symmetric;
    int upper;              /* upper_tiles: tiles on and above the diagonal, none transposed */
    size_t task0;           /* upper_tiles: the first tile's number */
    size_t col_blocks;
    size_t w0, w1;          /* the rows of D delivered */
    size_t first_block;     /* not symmetric: the row block of w0 */
    fr_distance_sink sink;
    void *ctx;
    atomic_int status;
} pairs_job;

/* Task t -> tile (i, j): row-major over the tiles of the window's row blocks, or over all
 * those with j >= i (symmetric: a tile far above the window may hold its rows transposed). */
static void tile_of(const pairs_job *j, size_t t, size_t *bi, size_t *bj)
{
    if (!j->symmetric) {
        *bi = j->first_block + t / j->col_blocks;
        *bj = t % j->col_blocks;
        return;
    }
    size_t i = 0;
    while (t >= j->col_blocks - i) {
        t -= j->col_blocks - i;
        i++;
    }
    *bi = i;
    *bj = i + t;
}

static void transpose(const float *in, size_t rows, size_t cols, float *out)
{
    /* 16 x 16 blocks keep both sides' cache lines in use */
    for (size_t r0 = 0; r0 < rows; r0 += 16)
        for (size_t c0 = 0; c0 < cols; c0 += 16) {
            size_t r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++)
                    out[c * rows + r] = in[r * cols + c];
        }
}

/* The rows of a tile that fall in the window: the part handed to the sink. */
static fr_status deliver(const pairs_job *j, size_t row0, size_t col0, size_t rows, size_t cols,
                         const float *tile)
{
    size_t lo = row0 > j->w0 ? row0 : j->w0, hi = row0 + rows < j->w1 ? row0 + rows : j->w1;
    if (lo >= hi)
        return FR_OK;
    return j->sink(j->ctx, lo, col0, hi - lo, cols, tile + (lo - row0) * cols, cols);
}

static void pairs_task(void *ctx, int task, int worker)
{
    pairs_job *j = ctx;
    if (atomic_load(&j->status) != FR_OK)
        return;
    size_t bi, bj;
    tile_of(j, (size_t)task + j->task0, &bi, &bj);
    size_t t = j->s->tile;
    size_t row0 = bi * t, col0 = bj * t;
    size_t rows = j->n - row0 < t ? j->n - row0 : t;
    size_t cols = j->m - col0 < t ? j->m - col0 : t;
    /* a tile is computed whole, as in a run over all rows, so that its values are the same
     * bits however the rows are windowed */
    int direct = row0 < j->w1 && row0 + rows > j->w0;
    int flipped = j->symmetric && !j->upper && bi != bj && col0 < j->w1 && col0 + cols > j->w0;
    if (!direct && !flipped)
        return;
    float *tile = j->s->scratch[worker];
    fr_status st = gemm_tile(j->a + row0 * j->dim, rows, j->b, j->m, col0, cols, j->dim, j->pair,
                             tile);
    if (!st) {
        for (size_t r = 0; r < rows; r++)
            finish_row(tile + r * cols, j->na[row0 + r], j->nb + col0, cols);
        /* A tile on the diagonal: its lower half mirrors the upper one (GEMM need not give
         * a.b and b.a bit for bit), so the matrix is exactly symmetric with a zero diagonal. */
        if (j->symmetric && bi == bj)
            for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < r; c++)
                    tile[r * cols + c] = tile[c * cols + r];
                tile[r * cols + r] = 0.0f;
            }
        if (direct)
            st = deliver(j, row0, col0, rows, cols, tile);
    }
    if (!st && flipped) {
        float *transposed = tile + t * t;
        transpose(tile, rows, cols, transposed);
        st = deliver(j, col0, row0, cols, rows, transposed);
    }
    if (st) {
        int expected = FR_OK;
        atomic_compare_exchange_strong(&j->status, &expected, (int)st);
    }
}

/* All pairs, or with upper the symmetric matrix's tiles [first, end) (task numbers). */
static fr_status run_pairs(cpu_distance *s, const float *a, size_t n, const float *b, size_t m,
                           size_t dim, size_t w0, size_t w1, int upper, size_t first,
                           size_t end, fr_distance_sink sink, void *ctx)
{
    pairs_job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.symmetric = b == NULL;
    j.upper = upper;
    j.a = a;
    j.b = b ? b : a;
    j.n = n;
    j.m = m;
    j.dim = dim;
    j.sink = sink;
    j.ctx = ctx;
    j.w0 = w0;
    j.w1 = w1;
    atomic_init(&j.status, FR_OK);
    float *na = NULL, *nb = NULL, *pair = NULL;
    fr_status st = squared_norms(a, n, dim, &na);
    if (!st && b)
        st = squared_norms(b, m, dim, &nb);
    if (!st)
        st = pair_row(j.b, m, dim, &pair);
    if (st) {
        free(na);
        free(nb);
        return st;
    }
    j.na = na;
    j.nb = b ? nb : na;
    j.pair = pair;
    size_t row_blocks = (n + s->tile - 1) / s->tile;
    j.col_blocks = (m + s->tile - 1) / s->tile;
    j.first_block = w0 / s->tile;
    size_t window_blocks = (w1 + s->tile - 1) / s->tile - j.first_block;
    size_t tasks = j.symmetric ? row_blocks * (row_blocks + 1) / 2 : window_blocks * j.col_blocks;
    if (upper) {
        j.task0 = first;
        tasks = end - first;
    }
    if (tasks > (size_t)INT32_MAX)
        st = fr_fail(FR_E_TOO_LARGE, "%zu x %zu distances in %zu-wide tiles: too many tiles", n, m,
                     s->tile);
    else
        fr_pool_run(s->pool, (int)tasks, pairs_task, &j);
    free(na);
    free(nb);
    free(pair);
    if (!st)
        st = (fr_status)atomic_load(&j.status);
    return st;
}

static fr_status cpu_all_pairs(void *state, const float *a, size_t n, const float *b, size_t m,
                               size_t dim, size_t w0, size_t w1, fr_distance_sink sink,
                               void *ctx)
{
    return run_pairs(state, a, n, b, m, dim, w0, w1, 0, 0, 0, sink, ctx);
}

static fr_status cpu_upper_tiles(void *state, const float *a, size_t n, size_t dim,
                                 size_t first, size_t end, fr_distance_sink sink, void *ctx)
{
    return run_pairs(state, a, n, NULL, n, dim, 0, n, 1, first, end, sink, ctx);
}

static size_t cpu_pairs_tile(void *state)
{
    return ((const cpu_distance *)state)->tile;
}

/* ---- nearest ------------------------------------------------------------------------------ */

typedef struct nearest_job {
    const cpu_distance *s;
    const float *a, *b;
    size_t n, m, dim, k;
    const float *nb;
    const float *pair;      /* gemm_tile's, when the gallery has one row */
    const int32_t *labels;
    size_t probe_blocks, splits, split_cols;
    fr_neighbor *lists; /* per task: probe_rows x k, values |b|^2 - 2 a.b */
    atomic_int status;
} nearest_job;

/* Offers one probe's row of a tile (dots[j] = -2 a.b_{col0+j}) to its list. */
static void scan_row(const float *dots, const float *nb, size_t col0, size_t cols,
                     const int32_t *labels, size_t k, fr_neighbor *list)
{
    float worst = list[k - 1].distance;
    size_t j = 0;
#if defined(__AVX__)
    /* 16 columns per vector test against the k-th best, which skips almost all of them once
     * the list has filled. Spelled out: GCC leaves the scalar loop below (and an OR of
     * comparisons, once inlined here) as one compare and branch per column, 50% on top of the
     * GEMM at 10k x 100k. */
    for (; j + 16 <= cols; j += 16) {
        __m256 w = _mm256_set1_ps(worst);
        __m256 lo = _mm256_add_ps(_mm256_loadu_ps(dots + j), _mm256_loadu_ps(nb + j));
        __m256 hi = _mm256_add_ps(_mm256_loadu_ps(dots + j + 8), _mm256_loadu_ps(nb + j + 8));
        if (!_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(lo, w, _CMP_LE_OQ),
                                             _mm256_cmp_ps(hi, w, _CMP_LE_OQ))))
            continue;
        for (size_t q = j; q < j + 16; q++) {
            float v = dots[q] + nb[q];
            if (v <= worst) {
                fr_topk_insert(list, k, labels, (int64_t)(col0 + q), v);
                worst = list[k - 1].distance;
            }
        }
    }
#endif
    for (; j < cols; j++) {
        float v = dots[j] + nb[j];
        if (v <= worst) {
            fr_topk_insert(list, k, labels, (int64_t)(col0 + j), v);
            worst = list[k - 1].distance;
        }
    }
}

static void nearest_task(void *ctx, int task, int worker)
{
    nearest_job *j = ctx;
    if (atomic_load(&j->status) != FR_OK)
        return;
    const cpu_distance *s = j->s;
    size_t p = (size_t)task / j->splits, split = (size_t)task % j->splits;
    size_t row0 = p * s->probe_rows;
    size_t rows = j->n - row0 < s->probe_rows ? j->n - row0 : s->probe_rows;
    size_t start = split * j->split_cols;
    size_t end = start + j->split_cols < j->m ? start + j->split_cols : j->m;
    fr_neighbor *lists = j->lists + (size_t)task * s->probe_rows * j->k;
    for (size_t r = 0; r < rows; r++)
        fr_topk_clear(lists + r * j->k, j->k);
    float *tile = s->scratch[worker];
    for (size_t col0 = start; col0 < end; col0 += s->gallery_cols) {
        size_t cols = end - col0 < s->gallery_cols ? end - col0 : s->gallery_cols;
        fr_status st = gemm_tile(j->a + row0 * j->dim, rows, j->b, j->m, col0, cols, j->dim,
                                 j->pair, tile);
        if (st) {
            int expected = FR_OK;
            atomic_compare_exchange_strong(&j->status, &expected, (int)st);
            return;
        }
        for (size_t r = 0; r < rows; r++)
            scan_row(tile + r * cols, j->nb + col0, col0, cols, j->labels, j->k,
                     lists + r * j->k);
    }
}

static fr_status cpu_nearest(void *state, const float *a, size_t n, const float *b, size_t m,
                             size_t dim, const int32_t *labels, size_t k, fr_neighbor *out)
{
    cpu_distance *s = state;
    nearest_job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.a = a;
    j.b = b;
    j.n = n;
    j.m = m;
    j.dim = dim;
    j.k = k;
    j.labels = labels;
    atomic_init(&j.status, FR_OK);
    j.probe_blocks = (n + s->probe_rows - 1) / s->probe_rows;
    /* Split the gallery when probe blocks alone leave threads idle, but never below one
     * GEMM chunk per split. */
    size_t want = 2 * (size_t)fr_pool_threads(s->pool);
    size_t chunks = (m + s->gallery_cols - 1) / s->gallery_cols;
    j.splits = j.probe_blocks >= want ? 1 : (want + j.probe_blocks - 1) / j.probe_blocks;
    if (j.splits > chunks)
        j.splits = chunks;
    j.split_cols = (chunks + j.splits - 1) / j.splits * s->gallery_cols;
    j.splits = (m + j.split_cols - 1) / j.split_cols;
    size_t tasks = j.probe_blocks * j.splits, slots;
    if (tasks > (size_t)INT32_MAX || !fr_mul_size(tasks, s->probe_rows * k, &slots))
        return fr_fail(FR_E_TOO_LARGE, "nearest: %zu probes x %zu neighbours is too many", n, k);
    float *nb = NULL, *pair = NULL;
    fr_status st = squared_norms(b, m, dim, &nb);
    if (!st)
        st = pair_row(b, m, dim, &pair);
    if (st) {
        free(nb);
        return st;
    }
    j.nb = nb;
    j.pair = pair;
    j.lists = fr_malloc(slots * sizeof *j.lists, "nearest-neighbour lists");
    if (!j.lists) {
        free(nb);
        free(pair);
        return FR_E_NOMEM;
    }
    fr_pool_run(s->pool, (int)tasks, nearest_task, &j);
    st = (fr_status)atomic_load(&j.status);
    for (size_t i = 0; i < n && !st; i++) {
        size_t p = i / s->probe_rows, r = i % s->probe_rows;
        fr_neighbor *list = out + i * k;
        fr_topk_clear(list, k);
        for (size_t split = 0; split < j.splits; split++) {
            const fr_neighbor *part = j.lists + ((p * j.splits + split) * s->probe_rows + r) * k;
            for (size_t q = 0; q < k && part[q].index >= 0; q++)
                fr_topk_insert(list, k, labels, part[q].index, part[q].distance);
        }
        const float *ai = a + i * dim;
        float na = 0.0f;
        for (size_t d = 0; d < dim; d++)
            na += ai[d] * ai[d];
        for (size_t q = 0; q < k && list[q].index >= 0; q++) {
            float v = list[q].distance + na;
            list[q].distance = sqrtf(v < 0.0f ? 0.0f : v);
        }
    }
    free(j.lists);
    free(nb);
    free(pair);
    return st;
}

static size_t cpu_probe_block(void *state)
{
    return ((const cpu_distance *)state)->probe_rows;
}

const fr_distance_backend fr_cpu_distance_backend = {
    "cpu", cpu_open, cpu_all_pairs, cpu_upper_tiles, cpu_pairs_tile, cpu_nearest,
    cpu_probe_block, cpu_close,
};
