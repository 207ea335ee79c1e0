/* distance.c: choosing a distance backend and checking the arguments of its operations. */
#include "match/distance.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "match/topk.h"
#include "runtime/device.h"

struct fr_distance_engine {
    const fr_distance_backend *backend;
    void *state;
};

static fr_status choose(fr_device requested, const fr_distance_backend **out)
{
    fr_device device;
    fr_status st = fr_device_resolve(requested, &device);
    if (st)
        return st;
#ifdef FACEREC_HAVE_CUDA
    *out = device == FR_DEVICE_CUDA ? &fr_cuda_distance_backend : &fr_cpu_distance_backend;
#else
    *out = &fr_cpu_distance_backend;
#endif
    return FR_OK;
}

fr_status fr_distance_new(const fr_distance_options *options, fr_distance_engine **out)
{
    fr_distance_options o = {FR_DEVICE_AUTO, 0, 0};
    if (options)
        o = *options;
    const fr_distance_backend *backend = NULL; /* gcc cannot see that choose() sets it */
    fr_status st = choose(o.device, &backend);
    if (st)
        return st;
    fr_distance_engine *e = fr_calloc(1, sizeof *e, "a distance engine");
    if (!e)
        return FR_E_NOMEM;
    e->backend = backend;
    st = backend->open(&o, &e->state);
    if (st) {
        free(e);
        return st;
    }
    *out = e;
    return FR_OK;
}

void fr_distance_free(fr_distance_engine *e)
{
    if (!e)
        return;
    e->backend->close(e->state);
    free(e);
}

const char *fr_distance_backend_name(const fr_distance_engine *e)
{
    return e->backend->name;
}

static fr_status check_set(const char *what, const float *rows, size_t count, size_t dim)
{
    size_t bytes;
    if (count && !rows)
        return fr_fail(FR_E_INVALID, "distances: %s has %zu rows but no data", what, count);
    if (!fr_mul_size(count, dim, &bytes) || !fr_mul_size(bytes, sizeof(float), &bytes))
        return fr_fail(FR_E_TOO_LARGE, "distances: %s of %zu x %zu is too large", what, count,
                       dim);
    return FR_OK;
}

fr_status fr_distance_all_pairs_rows(fr_distance_engine *e, const float *a, size_t n,
                                     const float *b, size_t m, size_t dim, size_t row0,
                                     size_t row1, fr_distance_sink sink, void *ctx)
{
    if (!sink || dim == 0)
        return fr_fail(FR_E_INVALID, "distances: no sink or zero-length embeddings");
    if (row0 > row1 || row1 > n)
        return fr_fail(FR_E_INVALID, "distances: rows [%zu, %zu) of %zu", row0, row1, n);
    if (!b)
        m = n;
    fr_status st = check_set("the first set", a, n, dim);
    if (!st && b)
        st = check_set("the second set", b, m, dim);
    if (st)
        return st;
    if (row0 == row1 || m == 0)
        return FR_OK;
    return e->backend->all_pairs(e->state, a, n, b, m, dim, row0, row1, sink, ctx);
}

fr_status fr_distance_all_pairs(fr_distance_engine *e, const float *a, size_t n, const float *b,
                                size_t m, size_t dim, fr_distance_sink sink, void *ctx)
{
    return fr_distance_all_pairs_rows(e, a, n, b, m, dim, 0, n, sink, ctx);
}

size_t fr_distance_pairs_tile(const fr_distance_engine *e)
{
    return e->backend->pairs_tile(e->state);
}

size_t fr_distance_upper_tile_count(const fr_distance_engine *e, size_t n)
{
    size_t t = fr_distance_pairs_tile(e), blocks = n / t + (n % t != 0);
    return blocks * (blocks + 1) / 2;
}

fr_status fr_distance_upper_tiles(fr_distance_engine *e, const float *a, size_t n, size_t dim,
                                  size_t first, size_t end, fr_distance_sink sink, void *ctx)
{
    if (!sink || dim == 0)
        return fr_fail(FR_E_INVALID, "distances: no sink or zero-length embeddings");
    size_t tiles = fr_distance_upper_tile_count(e, n);
    if (first > end || end > tiles)
        return fr_fail(FR_E_INVALID, "distances: tiles [%zu, %zu) of %zu", first, end, tiles);
    fr_status st = check_set("the set", a, n, dim);
    if (st || first == end)
        return st;
    return e->backend->upper_tiles(e->state, a, n, dim, first, end, sink, ctx);
}

size_t fr_distance_probe_block(const fr_distance_engine *e)
{
    return e->backend->probe_block(e->state);
}

fr_status fr_distance_nearest(fr_distance_engine *e, const float *a, size_t n, const float *b,
                              size_t m, size_t dim, const int32_t *labels, size_t k,
                              fr_neighbor *out)
{
    size_t slots;
    if (k == 0 || dim == 0 || !out)
        return fr_fail(FR_E_INVALID, "nearest: k and the embedding size must be positive");
    if (!fr_mul_size(n, k, &slots) || !fr_mul_size(slots, sizeof *out, &slots))
        return fr_fail(FR_E_TOO_LARGE, "nearest: %zu probes x k = %zu is too large", n, k);
    fr_status st = check_set("the probes", a, n, dim);
    if (!st)
        st = check_set("the gallery", b, m, dim);
    if (st)
        return st;
    if (n == 0)
        return FR_OK;
    if (m == 0) {
        for (size_t i = 0; i < n; i++)
            fr_topk_clear(out + i * k, k);
        return FR_OK;
    }
    return e->backend->nearest(e->state, a, n, b, m, dim, labels, k, out);
}
