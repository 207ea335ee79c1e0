/* score.c: pairwise and BCubed precision, recall and F1 of a clustering against the truth,
 * from the contingency table of (predicted cluster, true person) counts. */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/error.h"

typedef struct cell {
    int64_t predicted, truth;
} cell;

static int compare_cells(const void *x, const void *y)
{
    const cell *a = x, *b = y;
    if (a->predicted != b->predicted)
        return a->predicted < b->predicted ? -1 : 1;
    return a->truth < b->truth ? -1 : a->truth > b->truth;
}

static int compare_ids(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The count of each id's value, looked up by binary search in the sorted ids. */
static size_t count_of(const int64_t *sorted, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo;
    hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - first;
}

static double f1(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

fr_status fr_cluster_score(const int32_t *predicted, const int32_t *truth, size_t n,
                           fr_cluster_scores *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return fr_fail(FR_E_INVALID, "no faces to score");
    cell *cells = fr_malloc(n * sizeof *cells, "clustering scores");
    int64_t *p = fr_malloc(n * sizeof *p, "clustering scores");
    int64_t *t = fr_malloc(n * sizeof *t, "clustering scores");
    if (!cells || !p || !t) {
        free(cells);
        free(p);
        free(t);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* -1: a cluster of its own for each such face, ids past every real one */
        p[i] = predicted[i] >= 0 ? predicted[i] : (int64_t)INT32_MAX + 1 + (int64_t)i;
        t[i] = truth[i];
        cells[i] = (cell){p[i], t[i]};
    }
    qsort(cells, n, sizeof *cells, compare_cells);
    qsort(p, n, sizeof *p, compare_ids);
    qsort(t, n, sizeof *t, compare_ids);
    double together = 0, same = 0, both = 0, bp = 0, br = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cells[j].predicted == cells[i].predicted && cells[j].truth == cells[i].truth)
            j++;
        double c = (double)(j - i);
        double sp = (double)count_of(p, n, cells[i].predicted);
        double st = (double)count_of(t, n, cells[i].truth);
        both += c * (c - 1) / 2;
        bp += c * c / sp;
        br += c * c / st;
        i = j;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && p[j] == p[i])
            j++;
        together += (double)(j - i) * (double)(j - i - 1) / 2;
        i = j;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && t[j] == t[i])
            j++;
        same += (double)(j - i) * (double)(j - i - 1) / 2;
        i = j;
    }
    /* no pair put together: precision is vacuous (1); no same-person pair: recall is (1) */
    out->pair_precision = together > 0 ? both / together : 1;
    out->pair_recall = same > 0 ? both / same : 1;
    out->pair_f1 = f1(out->pair_precision, out->pair_recall);
    out->bcubed_precision = bp / (double)n;
    out->bcubed_recall = br / (double)n;
    out->bcubed_f1 = f1(out->bcubed_precision, out->bcubed_recall);
    free(cells);
    free(p);
    free(t);
    return FR_OK;
}
