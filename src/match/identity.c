/* identity.c: verification and identification against a gallery, through the distance engine. */
#include "match/identity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

struct fr_matcher {
    const fr_gallery *gallery;
    fr_aggregate aggregate;
    float threshold;
    fr_distance_engine *engine;
    size_t *first;       /* people + 1: person p owns gallery rows [first[p], first[p + 1]) */
    float *means;        /* FR_AGGREGATE_MEAN: people x dim, row p the mean of person p */
};

const char *fr_aggregate_name(fr_aggregate aggregate)
{
    return aggregate == FR_AGGREGATE_MEAN ? "mean" : "min";
}

fr_status fr_aggregate_parse(const char *name, fr_aggregate *out)
{
    if (strcmp(name, "min") == 0)
        *out = FR_AGGREGATE_MIN;
    else if (strcmp(name, "mean") == 0)
        *out = FR_AGGREGATE_MEAN;
    else
        return fr_fail(FR_E_INVALID, "unknown aggregate '%s' (choose min or mean)", name);
    return FR_OK;
}

/* Each person's rows, checking that they are grouped (the engine takes one person's rows as
 * one contiguous operand) and that nobody is without one (a mean of nothing is no face). */
static fr_status person_ranges(const fr_gallery *g, size_t *first)
{
    size_t row = 0;
    for (size_t p = 0; p < g->people; p++) {
        first[p] = row;
        while (row < g->count && g->person[row] == (int32_t)p)
            row++;
        if (row == first[p])
            return fr_fail(FR_E_INVALID, "gallery: '%s' has no embeddings at row %zu (rows must "
                           "be grouped by person, in order)", g->names[p], row);
    }
    first[g->people] = row;
    if (row != g->count)
        return fr_fail(FR_E_INVALID, "gallery: row %zu (person %d) is out of order (rows must "
                       "be grouped by person, in order)", row, (int)g->person[row]);
    return FR_OK;
}

fr_status fr_matcher_new(const fr_gallery *gallery, fr_aggregate aggregate, float threshold,
                         fr_distance_engine *engine, fr_matcher **out)
{
    if (!gallery || !engine || gallery->dim == 0 || (gallery->count && !gallery->vectors))
        return fr_fail(FR_E_INVALID, "matching: no gallery or no distance engine");
    if (!(threshold > 0))
        return fr_fail(FR_E_INVALID, "matching: the threshold must be positive (got %g)",
                       (double)threshold);
    if (aggregate != FR_AGGREGATE_MIN && aggregate != FR_AGGREGATE_MEAN)
        return fr_fail(FR_E_INVALID, "matching: unknown aggregate %d", (int)aggregate);
    fr_matcher *m = fr_calloc(1, sizeof *m, "a matcher");
    if (!m)
        return FR_E_NOMEM;
    *m = (fr_matcher){gallery, aggregate, threshold, engine, NULL, NULL};
    fr_status st = FR_OK;
    m->first = fr_malloc((gallery->people + 1) * sizeof *m->first, "the people's rows");
    if (!m->first)
        st = FR_E_NOMEM;
    if (!st)
        st = person_ranges(gallery, m->first);
    if (!st && aggregate == FR_AGGREGATE_MEAN)
        st = fr_gallery_means(gallery, &m->means);
    if (st) {
        fr_matcher_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

void fr_matcher_free(fr_matcher *m)
{
    if (!m)
        return;
    free(m->first);
    free(m->means);
    free(m);
}

float fr_matcher_threshold(const fr_matcher *m)
{
    return m->threshold;
}

static fr_match answer(const fr_matcher *m, int32_t person, int64_t image, float distance)
{
    fr_match r = {person, image, distance, distance < m->threshold};
    return r;
}

static fr_status check_probes(const fr_matcher *m, const float *probes, size_t n)
{
    size_t bytes;
    if (n && !probes)
        return fr_fail(FR_E_INVALID, "matching: %zu probes but no data", n);
    if (!fr_mul_size(n, m->gallery->dim * sizeof(float), &bytes))
        return fr_fail(FR_E_TOO_LARGE, "matching: %zu probes are too many", n);
    return FR_OK;
}

fr_status fr_matcher_verify(fr_matcher *m, const float *probes, size_t n, const int32_t *persons,
                            fr_match *out)
{
    const fr_gallery *g = m->gallery;
    fr_status st = check_probes(m, probes, n);
    if (st)
        return st;
    if (n && (!persons || !out))
        return fr_fail(FR_E_INVALID, "verify: no claimed people or no room for the answers");
    for (size_t i = 0; i < n; i++)
        if (persons[i] < 0 || (size_t)persons[i] >= g->people)
            return fr_fail(FR_E_INVALID, "verify: claim %zu names person %d of %zu", i,
                           (int)persons[i], g->people);
    if (n == 0)
        return FR_OK;
    /* claims grouped by person (a counting sort): order[start[p] ..] are the claims of p */
    size_t *start = fr_calloc(g->people + 1, sizeof *start, "claims by person");
    size_t *fill = fr_malloc((g->people ? g->people : 1) * sizeof *fill, "claims by person");
    size_t *order = fr_malloc(n * sizeof *order, "claims by person");
    float *batch = fr_malloc(n * g->dim * sizeof *batch, "the claims' probes");
    fr_neighbor *nearest = fr_malloc(n * sizeof *nearest, "the claims' answers");
    if (!start || !fill || !order || !batch || !nearest)
        st = FR_E_NOMEM;
    if (!st) {
        for (size_t i = 0; i < n; i++)
            start[persons[i] + 1]++;
        for (size_t p = 0; p < g->people; p++)
            start[p + 1] += start[p];
        memcpy(fill, start, g->people * sizeof *fill);
        for (size_t i = 0; i < n; i++)
            order[fill[persons[i]]++] = i;
    }
    for (size_t p = 0; !st && p < g->people; p++) {
        size_t claims = start[p + 1] - start[p];
        if (claims == 0)
            continue;
        const float *rows;
        size_t count;
        if (m->aggregate == FR_AGGREGATE_MEAN) {
            rows = m->means + p * g->dim;
            count = 1;
        } else {
            rows = g->vectors + m->first[p] * g->dim;
            count = m->first[p + 1] - m->first[p];
        }
        for (size_t c = 0; c < claims; c++)
            memcpy(batch + c * g->dim, probes + order[start[p] + c] * g->dim,
                   g->dim * sizeof *batch);
        st = fr_distance_nearest(m->engine, batch, claims, rows, count, g->dim, NULL, 1, nearest);
        for (size_t c = 0; !st && c < claims; c++) {
            const fr_neighbor *nb = &nearest[c];
            int64_t image = m->aggregate == FR_AGGREGATE_MIN && nb->index >= 0
                                ? (int64_t)m->first[p] + nb->index
                                : -1;
            out[order[start[p] + c]] = answer(m, (int32_t)p, image, nb->distance);
        }
    }
    free(start);
    free(fill);
    free(order);
    free(batch);
    free(nearest);
    return st;
}

fr_status fr_matcher_identify(fr_matcher *m, const float *probes, size_t n, size_t k,
                              fr_match *out)
{
    const fr_gallery *g = m->gallery;
    fr_status st = check_probes(m, probes, n);
    size_t slots;
    if (!st && (k == 0 || !fr_mul_size(n, k, &slots) ||
                !fr_mul_size(slots, sizeof(fr_neighbor), &slots)))
        st = fr_fail(FR_E_INVALID, "identify: k = %zu for %zu probes", k, n);
    if (!st && n && !out)
        st = fr_fail(FR_E_INVALID, "identify: no room for the answers");
    if (st || n == 0)
        return st;
    fr_neighbor *nearest = fr_malloc(n * k * sizeof *nearest, "the nearest people");
    if (!nearest)
        return FR_E_NOMEM;
    int mean = m->aggregate == FR_AGGREGATE_MEAN;
    if (mean)
        st = fr_distance_nearest(m->engine, probes, n, m->means, g->people, g->dim, NULL, k,
                                 nearest);
    else
        st = fr_distance_nearest(m->engine, probes, n, g->vectors, g->count, g->dim, g->person,
                                 k, nearest);
    for (size_t s = 0; !st && s < n * k; s++) {
        const fr_neighbor *nb = &nearest[s];
        if (nb->index < 0)
            out[s] = (fr_match){-1, -1, INFINITY, 0};
        else if (mean)
            out[s] = answer(m, (int32_t)nb->index, -1, nb->distance);
        else
            out[s] = answer(m, g->person[nb->index], nb->index, nb->distance);
    }
    free(nearest);
    return st;
}
