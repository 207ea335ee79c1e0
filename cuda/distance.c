/*
 * distance.c: the CUDA distance engine (match/distance.h's table): cuBLAS GEMM over tiles,
 * d^2 = |a|^2 + |b|^2 - 2 a.b with the norms added by a small kernel.
 *
 * Both sets are uploaded once per call; tiles of the product are computed one at a time on
 * one stream, so device memory is O(tile^2) whatever n and m are. all_pairs downloads each
 * finished tile (pinned) and hands it to the sink; nearest selects each probe row's k best
 * inside the tile on the GPU (distance_kernels.cu) and merges the per-tile lists on the host
 * with match/topk.h, so a million-row gallery never materializes n x m. Arithmetic is fp32
 * (cuBLAS's default math: no TF32), the same terms as the CPU engine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/error.h"
#include "distance_kernels.h"
#include "match/distance.h"
#include "match/topk.h"

#define DEFAULT_TILE 4096          /* all_pairs: 64 MiB tiles */
#define PROBE_ROWS 2048            /* nearest: probes per tile */
#define GALLERY_COLS 32768         /* nearest: gallery rows per tile (256 MiB of dots) */

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fr_status try_status_ = (expr);                                                        \
        if (try_status_ != FR_OK)                                                              \
            return try_status_;                                                                \
    } while (0)

typedef struct cuda_distance {
    cublasHandle_t blas;
    cudaStream_t stream;
    size_t tile;
} cuda_distance;

/* Device and pinned buffers of one call, freed together. */
typedef struct buffers {
    float *a, *b, *na, *nb, *tile;
    int32_t *labels;
    fr_cu_candidate *candidates;
    float *host_tile, *host_transposed;
    fr_cu_candidate *host_candidates;
} buffers;

static void buffers_free(buffers *m)
{
    void *device[] = {m->a, m->b, m->na, m->nb, m->tile, m->labels, m->candidates};
    for (size_t i = 0; i < sizeof device / sizeof device[0]; i++)
        if (device[i])
            cudaFree(device[i]);
    void *host[] = {m->host_tile, m->host_transposed, m->host_candidates};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        if (host[i])
            cudaFreeHost(host[i]);
    memset(m, 0, sizeof *m);
}

/* An allocation's failure: out of memory is FR_E_NOMEM, and the runtime's sticky error is
 * cleared so that the next kernel launched is not blamed for it. */
static fr_status alloc_failed(cudaError_t e, const char *what, int line)
{
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return fr_fail(FR_E_NOMEM, "GPU out of memory allocating %s", what);
    }
    return fr_cuda_fail_runtime(e, what, __FILE__, line);
}

static fr_status upload(cuda_distance *s, float **out, const float *rows, size_t count,
                        size_t dim)
{
    size_t bytes = count * dim * sizeof(float);
    cudaError_t e = cudaMalloc((void **)out, bytes ? bytes : 4);
    if (e != cudaSuccess) {
        *out = NULL;
        return alloc_failed(e, "embeddings", __LINE__);
    }
    FR_CUDA_CHECK(cudaMemcpyAsync(*out, rows, bytes, cudaMemcpyHostToDevice, s->stream));
    return FR_OK;
}

static fr_status cuda_open(const fr_distance_options *options, void **out)
{
    cuda_distance *s = fr_calloc(1, sizeof *s, "the CUDA distance engine");
    if (!s)
        return FR_E_NOMEM;
    s->tile = options && options->tile ? options->tile : DEFAULT_TILE;
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(s);
        return fr_cuda_fail_runtime(e, "opening the GPU", __FILE__, __LINE__);
    }
    cublasStatus_t b = cublasCreate(&s->blas);
    if (b == CUBLAS_STATUS_SUCCESS)
        b = cublasSetStream(s->blas, s->stream);
    if (b != CUBLAS_STATUS_SUCCESS) {
        if (s->blas)
            cublasDestroy(s->blas);
        cudaStreamDestroy(s->stream);
        free(s);
        return fr_cuda_fail_cublas(b, "cublasCreate", __FILE__, __LINE__);
    }
    *out = s;
    return FR_OK;
}

static void cuda_close(void *state)
{
    cuda_distance *s = state;
    if (!s)
        return;
    cublasDestroy(s->blas);
    cudaStreamDestroy(s->stream);
    free(s);
}

/* dots (rows x cols, row-major) = -2 a_rows . b_cols^T: in cuBLAS's column-major terms the
 * transpose, cols x rows = -2 B A^T. */
static fr_status gemm(cuda_distance *s, const float *a, size_t rows, const float *b, size_t cols,
                      size_t dim, float *dots)
{
    const float minus_two = -2.0f, zero = 0.0f;
    FR_CUBLAS_CHECK(cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)cols, (int)rows, (int)dim,
                                &minus_two, b, (int)dim, a, (int)dim, &zero, dots, (int)cols));
    return FR_OK;
}

/* The rows of a tile in the window [w0, w1), handed to the sink. */
static fr_status deliver(fr_distance_sink sink, void *ctx, size_t w0, size_t w1, size_t row0,
                         size_t col0, size_t rows, size_t cols, const float *tile)
{
    size_t lo = row0 > w0 ? row0 : w0, hi = row0 + rows < w1 ? row0 + rows : w1;
    if (lo >= hi)
        return FR_OK;
    return sink(ctx, lo, col0, hi - lo, cols, tile + (lo - row0) * cols, cols);
}

/* Which tiles a call computes: rows [w0, w1) of the matrix, or (upper) the symmetric
 * matrix's tiles on and above the diagonal numbered [first, end) row-major. */
typedef struct pairs_range {
    size_t w0, w1;
    int upper;
    size_t first, end;
} pairs_range;

/* Tiles are computed whole, as for all the rows, whatever the window (distance.h). */
static fr_status all_pairs_tiles(cuda_distance *s, buffers *m, size_t n, size_t mm, size_t dim,
                                 int symmetric, const pairs_range *range, fr_distance_sink sink,
                                 void *ctx)
{
    size_t t = s->tile, w0 = range->w0, w1 = range->w1, index = 0;
    for (size_t row0 = symmetric ? 0 : w0 / t * t; row0 < (symmetric ? n : w1); row0 += t) {
        size_t rows = n - row0 < t ? n - row0 : t;
        int direct = row0 < w1 && row0 + rows > w0;
        for (size_t col0 = symmetric ? row0 : 0; col0 < mm; col0 += t, index++) {
            size_t cols = mm - col0 < t ? mm - col0 : t;
            int flipped = symmetric && !range->upper && col0 != row0 && col0 < w1 &&
                          col0 + cols > w0;
            if (range->upper && (index < range->first || index >= range->end))
                continue;
            if (!direct && !flipped)
                continue;
            const float *b = (symmetric ? m->a : m->b) + col0 * dim;
            const float *nb = (symmetric ? m->na : m->nb) + col0;
            TRY(gemm(s, m->a + row0 * dim, rows, b, cols, dim, m->tile));
            TRY(fr_cu_finish_distances(s->stream, m->tile, rows, cols, m->na + row0, nb,
                                       symmetric && col0 == row0 ? 0 : -1));
            FR_CUDA_CHECK(cudaMemcpyAsync(m->host_tile, m->tile, rows * cols * sizeof(float),
                                          cudaMemcpyDeviceToHost, s->stream));
            FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
            /* A tile on the diagonal: its lower half mirrors the upper one, as on the CPU
             * (cuBLAS need not give a.b and b.a bit for bit), so the matrix is exactly
             * symmetric. */
            if (symmetric && col0 == row0)
                for (size_t r = 0; r < rows; r++)
                    for (size_t c = 0; c < r; c++)
                        m->host_tile[r * cols + c] = m->host_tile[c * cols + r];
            if (direct)
                TRY(deliver(sink, ctx, w0, w1, row0, col0, rows, cols, m->host_tile));
            if (flipped) {
                for (size_t r = 0; r < rows; r++)
                    for (size_t c = 0; c < cols; c++)
                        m->host_transposed[c * rows + r] = m->host_tile[r * cols + c];
                TRY(deliver(sink, ctx, w0, w1, col0, row0, cols, rows, m->host_transposed));
            }
        }
    }
    return FR_OK;
}

static fr_status run_pairs(cuda_distance *s, const float *a, size_t n, const float *b, size_t m,
                           size_t dim, const pairs_range *range, fr_distance_sink sink,
                           void *ctx)
{
    int symmetric = b == NULL;
    if (symmetric)
        m = n;
    if (n == 0 || m == 0)
        return FR_OK;
    if (dim > INT32_MAX || s->tile > 65536)
        return fr_fail(FR_E_TOO_LARGE, "distances: dimension %zu or tile %zu too large", dim,
                       s->tile);
    buffers mem;
    memset(&mem, 0, sizeof mem);
    size_t t = s->tile, tile_bytes = t * t * sizeof(float);
    fr_status st = upload(s, &mem.a, a, n, dim);
    if (!st && !symmetric)
        st = upload(s, &mem.b, b, m, dim);
    cudaError_t e = cudaSuccess;
    if (!st) {
        e = cudaMalloc((void **)&mem.na, n * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc((void **)&mem.nb, m * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc((void **)&mem.tile, tile_bytes);
        if (e == cudaSuccess)
            e = cudaMallocHost((void **)&mem.host_tile, tile_bytes);
        if (e == cudaSuccess && symmetric && !range->upper)
            e = cudaMallocHost((void **)&mem.host_transposed, tile_bytes);
        if (e != cudaSuccess)
            st = alloc_failed(e, "distance tiles", __LINE__);
    }
    if (!st)
        st = fr_cu_row_norms(s->stream, mem.a, n, dim, mem.na);
    if (!st && !symmetric)
        st = fr_cu_row_norms(s->stream, mem.b, m, dim, mem.nb);
    if (!st)
        st = all_pairs_tiles(s, &mem, n, m, dim, symmetric, range, sink, ctx);
    cudaStreamSynchronize(s->stream);
    buffers_free(&mem);
    return st;
}

static fr_status cuda_all_pairs(void *state, const float *a, size_t n, const float *b, size_t m,
                                size_t dim, size_t w0, size_t w1, fr_distance_sink sink,
                                void *ctx)
{
    pairs_range range = {w0, w1, 0, 0, 0};
    return run_pairs(state, a, n, b, m, dim, &range, sink, ctx);
}

static fr_status cuda_upper_tiles(void *state, const float *a, size_t n, size_t dim,
                                  size_t first, size_t end, fr_distance_sink sink, void *ctx)
{
    pairs_range range = {0, n, 1, first, end};
    return run_pairs(state, a, n, NULL, n, dim, &range, sink, ctx);
}

static size_t cuda_pairs_tile(void *state)
{
    return ((const cuda_distance *)state)->tile;
}

static fr_status nearest_tiles(cuda_distance *s, buffers *m, size_t n, size_t mm, size_t dim,
                               const int32_t *labels, size_t k, fr_neighbor *out)
{
    size_t gallery_cols = mm < GALLERY_COLS ? mm : GALLERY_COLS;
    for (size_t row0 = 0; row0 < n; row0 += PROBE_ROWS) {
        size_t rows = n - row0 < PROBE_ROWS ? n - row0 : PROBE_ROWS;
        for (size_t r = 0; r < rows; r++)
            fr_topk_clear(out + (row0 + r) * k, k);
        for (size_t col0 = 0; col0 < mm; col0 += gallery_cols) {
            size_t cols = mm - col0 < gallery_cols ? mm - col0 : gallery_cols;
            TRY(gemm(s, m->a + row0 * dim, rows, m->b + col0 * dim, cols, dim, m->tile));
            TRY(fr_cu_tile_topk(s->stream, m->tile, rows, cols, m->nb + col0, m->labels,
                                (int64_t)col0, (int)k, m->candidates));
            FR_CUDA_CHECK(cudaMemcpyAsync(m->host_candidates, m->candidates,
                                          rows * k * sizeof(fr_cu_candidate),
                                          cudaMemcpyDeviceToHost, s->stream));
            FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
            for (size_t r = 0; r < rows; r++) {
                fr_neighbor *list = out + (row0 + r) * k;
                const fr_cu_candidate *part = m->host_candidates + r * k;
                for (size_t q = 0; q < k && part[q].index >= 0; q++)
                    fr_topk_insert(list, k, labels, part[q].index, part[q].value);
            }
        }
    }
    return FR_OK;
}

static fr_status cuda_nearest(void *state, const float *a, size_t n, const float *b, size_t m,
                              size_t dim, const int32_t *labels, size_t k, fr_neighbor *out)
{
    cuda_distance *s = state;
    if (k > FR_CU_TOPK_MAX)
        return fr_fail(FR_E_UNSUPPORTED, "the GPU selects at most %d neighbours (asked for %zu)",
                       FR_CU_TOPK_MAX, k);
    for (size_t i = 0; i < n; i++)
        fr_topk_clear(out + i * k, k);
    if (n == 0 || m == 0)
        return FR_OK;
    if (dim > INT32_MAX)
        return fr_fail(FR_E_TOO_LARGE, "distances: dimension %zu too large", dim);
    buffers mem;
    memset(&mem, 0, sizeof mem);
    size_t cols = m < GALLERY_COLS ? m : GALLERY_COLS;
    fr_status st = upload(s, &mem.a, a, n, dim);
    if (!st)
        st = upload(s, &mem.b, b, m, dim);
    cudaError_t e = cudaSuccess;
    if (!st) {
        e = cudaMalloc((void **)&mem.nb, m * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc((void **)&mem.tile, (size_t)PROBE_ROWS * cols * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc((void **)&mem.candidates,
                           (size_t)PROBE_ROWS * k * sizeof(fr_cu_candidate));
        if (e == cudaSuccess)
            e = cudaMallocHost((void **)&mem.host_candidates,
                               (size_t)PROBE_ROWS * k * sizeof(fr_cu_candidate));
        if (e == cudaSuccess && labels) {
            e = cudaMalloc((void **)&mem.labels, m * sizeof(int32_t));
            if (e == cudaSuccess)
                e = cudaMemcpyAsync(mem.labels, labels, m * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, s->stream);
        }
        if (e != cudaSuccess)
            st = alloc_failed(e, "distance tiles", __LINE__);
    }
    if (!st)
        st = fr_cu_row_norms(s->stream, mem.b, m, dim, mem.nb);
    if (!st)
        st = nearest_tiles(s, &mem, n, m, dim, labels, k, out);
    cudaStreamSynchronize(s->stream);
    buffers_free(&mem);
    /* values were |b|^2 - 2 a.b: add |a|^2 and take the root, as the CPU engine does */
    for (size_t i = 0; i < n && !st; i++) {
        const float *ai = a + i * dim;
        float na = 0.0f;
        for (size_t d = 0; d < dim; d++)
            na += ai[d] * ai[d];
        for (size_t q = 0; q < k && out[i * k + q].index >= 0; q++) {
            float v = out[i * k + q].distance + na;
            out[i * k + q].distance = sqrtf(v < 0.0f ? 0.0f : v); /* NaN stays NaN */
        }
    }
    return st;
}

static size_t cuda_probe_block(void *state)
{
    (void)state;
    return PROBE_ROWS;
}

const fr_distance_backend fr_cuda_distance_backend = {
    "cuda", cuda_open, cuda_all_pairs, cuda_upper_tiles, cuda_pairs_tile, cuda_nearest,
    cuda_probe_block, cuda_close,
};
