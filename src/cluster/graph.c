/*
 * graph.c: the threshold graph from the distance engine's tiles. The engine computes the
 * tiles on and above the diagonal of the faces' distance matrix, each once
 * (fr_distance_upper_tiles), possibly from several threads at once; each call keeps its
 * tile's pairs i < j under the threshold in a buffer of its own and appends them under a
 * lock, so only the edges outlive a tile. The edges are then put in tile order (row-major
 * over the triangle) and by (a, b) within a tile: an order that depends neither on the
 * threads nor on how the tiles were shared out, so that the tiles of a job split over
 * machines (cluster --shard) concatenate into the whole job's list.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/error.h"

typedef struct keyed_edge {
    uint32_t bi, bj; /* the tile: row and column block */
    fr_cluster_edge edge;
} keyed_edge;

typedef struct collector {
    pthread_mutex_t lock;
    float threshold;
    size_t tile;
    keyed_edge *edges;
    size_t count, capacity;
} collector;

static fr_status append(collector *c, const keyed_edge *found, size_t count)
{
    pthread_mutex_lock(&c->lock);
    fr_status st = FR_OK;
    if (c->count + count > FR_CLUSTER_MAX_EDGES) {
        st = fr_fail(FR_E_TOO_LARGE, "the threshold graph has more than %zu edges: the threshold "
                     "%.3f joins nearly every face to every other; give a smaller --threshold",
                     FR_CLUSTER_MAX_EDGES, (double)c->threshold);
    } else if (c->count + count > c->capacity) {
        size_t cap = c->capacity ? c->capacity : 65536;
        while (cap < c->count + count)
            cap *= 2;
        keyed_edge *grown = realloc(c->edges, cap * sizeof *grown);
        if (!grown)
            st = fr_fail(FR_E_NOMEM, "out of memory holding %zu graph edges", c->count + count);
        else {
            c->edges = grown;
            c->capacity = cap;
        }
    }
    if (!st) {
        memcpy(c->edges + c->count, found, count * sizeof *found);
        c->count += count;
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* The first column at or after k whose value is under the threshold, or cols: eight at a
 * time where AVX is there (almost every pair of faces is far apart, so the scan is what
 * costs). */
static size_t next_close(const float *row, size_t k, size_t cols, float threshold)
{
#if defined(__AVX__)
    const __m256 t = _mm256_set1_ps(threshold);
    for (; k + 8 <= cols; k += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + k), t, _CMP_LT_OQ));
        if (mask)
            return k + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    for (; k < cols; k++)
        if (row[k] < threshold)
            return k;
    return cols;
}

static fr_status scan_tile(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                           const float *tile, size_t ld)
{
    collector *c = ctx;
    enum { BUFFER = 4096 };
    keyed_edge found[BUFFER];
    size_t n = 0;
    uint32_t bi = (uint32_t)(row0 / c->tile), bj = (uint32_t)(col0 / c->tile);
    for (size_t r = 0; r < rows; r++) {
        size_t i = row0 + r;
        size_t first = i + 1 > col0 ? i + 1 - col0 : 0; /* columns j > i */
        const float *row = tile + r * ld;
        for (size_t k = next_close(row, first, cols, c->threshold); k < cols;
             k = next_close(row, k + 1, cols, c->threshold)) {
            found[n].bi = bi;
            found[n].bj = bj;
            found[n].edge.a = (int32_t)i;
            found[n].edge.b = (int32_t)(col0 + k);
            found[n].edge.distance = row[k];
            if (++n == BUFFER) {
                fr_status st = append(c, found, n);
                if (st)
                    return st;
                n = 0;
            }
        }
    }
    return n ? append(c, found, n) : FR_OK;
}

static int compare_keyed(const void *x, const void *y)
{
    const keyed_edge *a = x, *b = y;
    if (a->bi != b->bi)
        return a->bi < b->bi ? -1 : 1;
    if (a->bj != b->bj)
        return a->bj < b->bj ? -1 : 1;
    if (a->edge.a != b->edge.a)
        return a->edge.a < b->edge.a ? -1 : 1;
    return a->edge.b < b->edge.b ? -1 : a->edge.b > b->edge.b;
}

fr_status fr_cluster_edges_find(fr_distance_engine *engine, const float *rows, size_t n,
                                size_t dim, float threshold, size_t first, size_t end,
                                fr_cluster_edges *out)
{
    memset(out, 0, sizeof *out);
    if (n > INT32_MAX)
        return fr_fail(FR_E_TOO_LARGE, "%zu faces to cluster (at most %d)", n, INT32_MAX);
    if (!(threshold > 0))
        return fr_fail(FR_E_INVALID, "a clustering threshold must be positive");
    collector c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    c.threshold = threshold;
    c.tile = fr_distance_pairs_tile(engine);
    fr_status st = n ? fr_distance_upper_tiles(engine, rows, n, dim, first, end, scan_tile, &c)
                     : FR_OK;
    pthread_mutex_destroy(&c.lock);
    if (!st && c.count)
        qsort(c.edges, c.count, sizeof *c.edges, compare_keyed);
    out->items = st ? NULL : fr_malloc((c.count ? c.count : 1) * sizeof *out->items, "the graph");
    if (!st && !out->items)
        st = FR_E_NOMEM;
    for (size_t e = 0; !st && e < c.count; e++)
        out->items[e] = c.edges[e].edge;
    free(c.edges);
    if (st) {
        fr_cluster_edges_free(out);
        return st;
    }
    out->count = c.count;
    return FR_OK;
}

void fr_cluster_edges_free(fr_cluster_edges *e)
{
    free(e->items);
    memset(e, 0, sizeof *e);
}

static int compare_edges(const void *x, const void *y)
{
    const fr_cluster_edge *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

fr_status fr_cluster_graph_from_edges(fr_cluster_edges *edges, size_t n, fr_cluster_graph *out)
{
    memset(out, 0, sizeof *out);
    for (size_t e = 0; e < edges->count; e++) {
        const fr_cluster_edge *x = &edges->items[e];
        if (x->a < 0 || x->b <= x->a || (size_t)x->b >= n)
            return fr_fail(FR_E_FORMAT, "edge %zu joins faces %d and %d of %zu", e, (int)x->a,
                           (int)x->b, n);
    }
    /* by (a, b), so each node's neighbours come out ascending whatever order the edges had */
    if (edges->count)
        qsort(edges->items, edges->count, sizeof *edges->items, compare_edges);
    for (size_t e = 1; e < edges->count; e++)
        if (edges->items[e].a == edges->items[e - 1].a &&
            edges->items[e].b == edges->items[e - 1].b)
            return fr_fail(FR_E_FORMAT, "the edge between faces %d and %d is listed twice",
                           (int)edges->items[e].a, (int)edges->items[e].b);
    size_t count = edges->count;
    out->nodes = n;
    out->edges = count;
    out->offsets = fr_calloc(n + 1, sizeof *out->offsets, "the graph");
    out->neighbors = fr_malloc((2 * count + 1) * sizeof *out->neighbors, "the graph");
    out->distances = fr_malloc((2 * count + 1) * sizeof *out->distances, "the graph");
    size_t *fill = fr_malloc((n ? n : 1) * sizeof *fill, "the graph");
    if (!out->offsets || !out->neighbors || !out->distances || !fill) {
        free(fill);
        fr_cluster_graph_free(out);
        return FR_E_NOMEM;
    }
    for (size_t e = 0; e < count; e++) {
        out->offsets[edges->items[e].a + 1]++;
        out->offsets[edges->items[e].b + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        out->offsets[i + 1] += out->offsets[i];
    memcpy(fill, out->offsets, n * sizeof *fill);
    /* node x's neighbours below it come from edges (a, x) in a's order, those above from
     * (x, b) in b's: both passes in edge order keep the lists ascending */
    for (size_t e = 0; e < count; e++) {
        const fr_cluster_edge *x = &edges->items[e];
        size_t p = fill[x->b]++;
        out->neighbors[p] = x->a;
        out->distances[p] = x->distance;
    }
    for (size_t e = 0; e < count; e++) {
        const fr_cluster_edge *x = &edges->items[e];
        size_t p = fill[x->a]++;
        out->neighbors[p] = x->b;
        out->distances[p] = x->distance;
    }
    free(fill);
    return FR_OK;
}

fr_status fr_cluster_graph_build(fr_distance_engine *engine, const float *rows, size_t n,
                                 size_t dim, float threshold, fr_cluster_graph *out)
{
    memset(out, 0, sizeof *out);
    fr_cluster_edges edges;
    fr_status st = fr_cluster_edges_find(engine, rows, n, dim, threshold, 0,
                                         fr_distance_upper_tile_count(engine, n), &edges);
    if (!st)
        st = fr_cluster_graph_from_edges(&edges, n, out);
    fr_cluster_edges_free(&edges);
    return st;
}

void fr_cluster_graph_free(fr_cluster_graph *g)
{
    free(g->offsets);
    free(g->neighbors);
    free(g->distances);
    memset(g, 0, sizeof *g);
}
