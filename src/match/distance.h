/*
 * distance.h: L2 distances between sets of embeddings, in bulk: every pair (a distance matrix
 * streamed tile by tile, never held whole) and the k nearest gallery rows of each probe
 * (identification against a gallery of millions without an N x M matrix).
 *
 * Both go through GEMM: d(a, b)^2 = |a|^2 + |b|^2 - 2 a.b, clamped at 0 before the square
 * root (rounding can take it slightly below 0 for near-identical rows); a NaN in a row gives
 * NaN distances (never the 0 a plain max(v, 0) made of them), which nearest never ranks.
 * Commands refuse non-finite embeddings before they get here. In float32 that costs
 * precision for tiny distances (an identical pair comes out as ~1e-3 rather than 0, from the
 * ~1e-7 relative error of the terms), which no threshold on face embeddings can notice; in
 * exchange the work is one large matrix product, the fastest thing a CPU or GPU does.
 *
 * A backend implements the two operations below on its own device, with its own tiling and
 * threads. The CPU backend (distance_cpu.c) is the reference; a CUDA backend (cuda/, cuBLAS
 * GEMM tiles and a top-k kernel) plugs in behind the same table. What a backend must do:
 *
 *   open(options, &state)    plan once: threads, scratch buffers, streams, a handle. Inputs
 *                            come with each call, so one state serves many calls.
 *   all_pairs(state, a, n, b, m, dim, w0, w1, sink, ctx)
 *                            a: n x dim, b: m x dim float32, row-major, host memory.
 *                            Computes rows [w0, w1) of D (n x m), D[i][j] = d(a_i, b_j), and
 *                            hands them to sink in tiles: sink(ctx, row0, col0, rows, cols,
 *                            tile, ld) with tile[r * ld + c] = D[row0 + r][col0 + c] in host
 *                            memory, valid only during the call. The values of a row must not
 *                            depend on the window: a backend computes the tiles of the whole
 *                            matrix that hold the window's rows as it would for [0, n), and
 *                            hands on only those rows (so row blocks of a matrix computed by
 *                            several machines are the single run's bits). Every element of
 *                            the window is delivered exactly once;
 *                            tiles come in any order, possibly from several threads at once
 *                            (sinks must allow that; they write disjoint regions). A tile is
 *                            at most options->tile rows and columns when that is nonzero.
 *                            b == NULL means b = a (m = n): the symmetric case. Each tile
 *                            off the diagonal is then computed once and delivered twice: as
 *                            computed (row block < column block) and transposed; diagonal
 *                            elements are exactly 0. A nonzero sink status stops the run
 *                            (tiles in flight may still arrive) and is returned.
 *   upper_tiles(state, a, n, dim, first, end, sink, ctx)
 *                            The symmetric matrix of a with itself (n x n) as the tiles on
 *                            and above its diagonal, each delivered once as computed (none
 *                            transposed): every unordered pair once, for a consumer that needs
 *                            no more (the threshold graph). Tiles are numbered row-major over
 *                            that triangle, (0,0), (0,1), ..., (0,B-1), (1,1), ..., B the
 *                            number of row blocks of pairs_tile(state) rows; [first, end) of
 *                            them are computed, each tile's values the bits all_pairs gives
 *                            (a diagonal tile whole, its lower half mirrored), in any order,
 *                            possibly from several threads at once.
 *   pairs_tile(state)        the side of all_pairs' and upper_tiles' tiles.
 *   nearest(state, a, n, b, m, dim, labels, k, out)
 *                            For each probe a_i, the k nearest gallery rows, ascending by
 *                            distance (ties: the lower gallery row first), written to
 *                            out[i * k .. i * k + k - 1]. labels == NULL: the k nearest rows.
 *                            labels != NULL (m int32 values): the k nearest distinct labels,
 *                            each represented by its nearest row (so with one label per
 *                            person this is "the k nearest people by their closest image").
 *                            Fewer than k candidates: the rest are {index -1, INFINITY}.
 *                            Must never hold an n x m matrix: select within tiles and merge
 *                            (topk.h does the merging on the host).
 *   probe_block(state)       nearest computes probes in blocks of this many rows from the
 *                            first, and a probe's results may depend on the rest of its block
 *                            (GEMM tiles): the probes of a call split at multiples of it give
 *                            the same bits in separate calls.
 *   close(state)             frees everything open() made.
 *
 * Inputs need not be L2-normalized (their norms are computed, not assumed to be 1). Counts of
 * zero are valid (nothing delivered; nearest fills every slot with {-1, INFINITY}).
 */
#ifndef FR_MATCH_DISTANCE_H
#define FR_MATCH_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

typedef struct fr_neighbor {
    int64_t index;  /* gallery row, -1 for an empty slot */
    float distance; /* L2 distance, INFINITY for an empty slot */
} fr_neighbor;

typedef struct fr_distance_options {
    fr_device device; /* auto: CUDA where a GPU is present, else the CPU */
    int threads;      /* CPU threads (0: one per core) */
    size_t tile;      /* largest tile side in rows (0: the backend's choice; tests use small
                         ones to exercise the edges) */
} fr_distance_options;

/* Receives one tile of distances; a nonzero status stops the run. */
typedef fr_status (*fr_distance_sink)(void *ctx, size_t row0, size_t col0, size_t rows,
                                      size_t cols, const float *tile, size_t ld);

typedef struct fr_distance_backend {
    const char *name;
    fr_status (*open)(const fr_distance_options *options, void **state);
    fr_status (*all_pairs)(void *state, const float *a, size_t n, const float *b, size_t m,
                           size_t dim, size_t w0, size_t w1, fr_distance_sink sink, void *ctx);
    fr_status (*upper_tiles)(void *state, const float *a, size_t n, size_t dim, size_t first,
                             size_t end, fr_distance_sink sink, void *ctx);
    size_t (*pairs_tile)(void *state);
    fr_status (*nearest)(void *state, const float *a, size_t n, const float *b, size_t m,
                         size_t dim, const int32_t *labels, size_t k, fr_neighbor *out);
    size_t (*probe_block)(void *state);
    void (*close)(void *state);
} fr_distance_backend;

extern const fr_distance_backend fr_cpu_distance_backend;
#ifdef FACEREC_HAVE_CUDA
extern const fr_distance_backend fr_cuda_distance_backend;
#endif

/* A backend chosen by options->device and opened. */
typedef struct fr_distance_engine fr_distance_engine;

fr_status fr_distance_new(const fr_distance_options *options, fr_distance_engine **out);
void fr_distance_free(fr_distance_engine *engine);
const char *fr_distance_backend_name(const fr_distance_engine *engine);

/* The operations of the chosen backend, with their arguments checked (sizes that overflow,
 * NULL inputs with nonzero counts, k == 0). */
fr_status fr_distance_all_pairs(fr_distance_engine *engine, const float *a, size_t n,
                                const float *b, size_t m, size_t dim, fr_distance_sink sink,
                                void *ctx);
/* Rows [row0, row1) of the same matrix, the same bits as in the whole one. */
fr_status fr_distance_all_pairs_rows(fr_distance_engine *engine, const float *a, size_t n,
                                     const float *b, size_t m, size_t dim, size_t row0,
                                     size_t row1, fr_distance_sink sink, void *ctx);
/* The tiles of a with itself on and above the diagonal, [first, end) of the
 * fr_distance_upper_tile_count (row-major: the backend's upper_tiles). */
fr_status fr_distance_upper_tiles(fr_distance_engine *engine, const float *a, size_t n,
                                  size_t dim, size_t first, size_t end, fr_distance_sink sink,
                                  void *ctx);
/* How many such tiles n rows make: B (B + 1) / 2 for B = ceil(n / tile). */
size_t fr_distance_upper_tile_count(const fr_distance_engine *engine, size_t n);
/* The backend's tile side for all pairs. */
size_t fr_distance_pairs_tile(const fr_distance_engine *engine);
/* The backend's probe_block: splitting the probes of nearest at its multiples keeps results. */
size_t fr_distance_probe_block(const fr_distance_engine *engine);
fr_status fr_distance_nearest(fr_distance_engine *engine, const float *a, size_t n,
                              const float *b, size_t m, size_t dim, const int32_t *labels,
                              size_t k, fr_neighbor *out);

#endif
