/* distances.c: the public distance functions (facerec.h, fr_distances_*), a facade over the
 * distance engine (match/distance.h). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "facerec.h"
#include "match/distance.h"

struct fr_distances {
    fr_distance_engine *engine;
};

fr_status fr_distances_new(const fr_distances_options *options, fr_distances **out)
{
    fr_distance_options o = {FR_DEVICE_AUTO, 0, 0};
    if (options) {
        if (options->threads < 0)
            return fr_fail(FR_E_INVALID, "distances: negative threads (%d)", options->threads);
        o.device = options->device;
        o.threads = options->threads;
    }
    fr_distances *d = fr_calloc(1, sizeof *d, "distances");
    if (!d)
        return FR_E_NOMEM;
    fr_status st = fr_distance_new(&o, &d->engine);
    if (st) {
        free(d);
        return st;
    }
    *out = d;
    return FR_OK;
}

void fr_distances_free(fr_distances *d)
{
    if (!d)
        return;
    fr_distance_free(d->engine);
    free(d);
}

const char *fr_distances_backend(const fr_distances *d)
{
    return fr_distance_backend_name(d->engine);
}

typedef struct matrix_sink {
    float *out;
    size_t m;
} matrix_sink;

/* Tiles arrive from several threads at once; each writes its own block of the matrix. */
static fr_status write_tile(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                            const float *tile, size_t ld)
{
    const matrix_sink *s = ctx;
    for (size_t r = 0; r < rows; r++)
        memcpy(s->out + (row0 + r) * s->m + col0, tile + r * ld, cols * sizeof *tile);
    return FR_OK;
}

fr_status fr_distances_matrix(fr_distances *d, const float *a, size_t n, const float *b,
                              size_t m, size_t dim, float *out)
{
    size_t cells;
    if (!b)
        m = n;
    if (!fr_mul_size(n, m, &cells) || !fr_mul_size(cells, sizeof *out, &cells))
        return fr_fail(FR_E_TOO_LARGE, "distances: a %zu x %zu matrix is too large", n, m);
    if (cells && !out)
        return fr_fail(FR_E_INVALID, "distances: no room for the %zu x %zu matrix", n, m);
    matrix_sink s = {out, m};
    return fr_distance_all_pairs(d->engine, a, n, b, m, dim, write_tile, &s);
}

fr_status fr_distances_nearest(fr_distances *d, const float *probes, size_t n,
                               const float *gallery, size_t m, size_t dim, const int32_t *labels,
                               size_t k, int64_t *indices, float *nearest)
{
    size_t slots;
    if (k == 0 || !fr_mul_size(n, k, &slots) || !fr_mul_size(slots, sizeof(fr_neighbor), &slots))
        return fr_fail(FR_E_INVALID, "nearest: k = %zu for %zu probes", k, n);
    if (n && (!indices || !nearest))
        return fr_fail(FR_E_INVALID, "nearest: no room for the answers");
    fr_neighbor *found = fr_malloc(slots ? slots : 1, "the nearest rows");
    if (!found)
        return FR_E_NOMEM;
    fr_status st = fr_distance_nearest(d->engine, probes, n, gallery, m, dim, labels, k, found);
    for (size_t i = 0; !st && i < n * k; i++) {
        indices[i] = found[i].index;
        nearest[i] = found[i].distance;
    }
    free(found);
    return st;
}
