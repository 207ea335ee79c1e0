/*
 * graph.c: the threshold graph from the distance engine's tiles. The engine delivers every
 * tile of the symmetric matrix (those below the diagonal as transposed copies), possibly from
 * several threads at once; each call keeps its tile's pairs i < j under the threshold in a
 * buffer of its own and appends them under a lock, so only the edges outlive a tile.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/error.h"

typedef struct edge {
    int32_t a, b;
    float distance;
} edge;

typedef struct collector {
    pthread_mutex_t lock;
    float threshold;
    edge *edges;
    size_t count, capacity;
} collector;

static fr_status append(collector *c, const edge *found, size_t count)
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
        edge *grown = realloc(c->edges, cap * sizeof *grown);
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

static fr_status scan_tile(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                           const float *tile, size_t ld)
{
    collector *c = ctx;
    if (row0 >= col0 + cols)
        return FR_OK; /* wholly below the diagonal: the transposed copy of a tile seen above */
    enum { BUFFER = 4096 };
    edge found[BUFFER];
    size_t n = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t i = row0 + r;
        size_t first = i + 1 > col0 ? i + 1 - col0 : 0; /* columns j > i */
        const float *row = tile + r * ld;
        for (size_t k = first; k < cols; k++) {
            if (!(row[k] < c->threshold))
                continue;
            found[n].a = (int32_t)i;
            found[n].b = (int32_t)(col0 + k);
            found[n].distance = row[k];
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

static int compare_edges(const void *x, const void *y)
{
    const edge *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

fr_status fr_cluster_graph_build(fr_distance_engine *engine, const float *rows, size_t n,
                                 size_t dim, float threshold, fr_cluster_graph *out)
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
    fr_status st = n ? fr_distance_all_pairs(engine, rows, n, NULL, 0, dim, scan_tile, &c)
                     : FR_OK;
    pthread_mutex_destroy(&c.lock);
    /* tiles arrive in any order: sort, so the graph (and everything after it) is the same on
     * every run */
    if (!st)
        qsort(c.edges, c.count, sizeof *c.edges, compare_edges);
    out->nodes = n;
    out->edges = c.count;
    out->offsets = st ? NULL : fr_calloc(n + 1, sizeof *out->offsets, "the graph");
    out->neighbors = st ? NULL : fr_malloc((2 * c.count + 1) * sizeof *out->neighbors,
                                           "the graph");
    out->distances = st ? NULL : fr_malloc((2 * c.count + 1) * sizeof *out->distances,
                                           "the graph");
    if (!st && (!out->offsets || !out->neighbors || !out->distances))
        st = FR_E_NOMEM;
    if (st) {
        free(c.edges);
        fr_cluster_graph_free(out);
        return st;
    }
    for (size_t e = 0; e < c.count; e++) {
        out->offsets[c.edges[e].a + 1]++;
        out->offsets[c.edges[e].b + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        out->offsets[i + 1] += out->offsets[i];
    size_t *fill = fr_malloc((n ? n : 1) * sizeof *fill, "the graph");
    if (!fill) {
        free(c.edges);
        fr_cluster_graph_free(out);
        return FR_E_NOMEM;
    }
    memcpy(fill, out->offsets, n * sizeof *fill);
    /* in edge order, so each node's neighbours come out ascending */
    for (size_t e = 0; e < c.count; e++) {
        const edge *x = &c.edges[e];
        size_t p = fill[x->b]++;
        out->neighbors[p] = x->a;
        out->distances[p] = x->distance;
    }
    for (size_t e = 0; e < c.count; e++) {
        const edge *x = &c.edges[e];
        size_t p = fill[x->a]++;
        out->neighbors[p] = x->b;
        out->distances[p] = x->distance;
    }
    free(fill);
    free(c.edges);
    return FR_OK;
}

void fr_cluster_graph_free(fr_cluster_graph *g)
{
    free(g->offsets);
    free(g->neighbors);
    free(g->distances);
    memset(g, 0, sizeof *g);
}
