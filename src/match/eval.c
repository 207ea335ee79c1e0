/* eval.c: k-fold verification accuracy, TAR at a FAR, ROC and its area, from scored pairs. */
#include "match/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

static int by_distance(const void *x, const void *y)
{
    const fr_scored_pair *a = x, *b = y;
    return (a->distance > b->distance) - (a->distance < b->distance);
}

static fr_status sorted_copy(const fr_scored_pair *pairs, size_t count, fr_scored_pair **out)
{
    fr_scored_pair *s = fr_malloc(count * sizeof *s, "scored pairs");
    if (!s)
        return FR_E_NOMEM;
    memcpy(s, pairs, count * sizeof *s);
    qsort(s, count, sizeof *s, by_distance);
    *out = s;
    return FR_OK;
}

fr_status fr_eval_assign_folds(fr_scored_pair *pairs, size_t count, int folds)
{
    size_t given = 0, same = 0;
    for (size_t i = 0; i < count; i++) {
        given += pairs[i].fold >= 0;
        same += pairs[i].same != 0;
    }
    if (given == count)
        return FR_OK;
    if (given)
        return fr_fail(FR_E_FORMAT, "%zu of %zu pairs name their fold and the others do not",
                       given, count);
    size_t seen[2] = {0, 0}, total[2] = {count - same, same};
    for (size_t i = 0; i < count; i++) {
        int kind = pairs[i].same != 0;
        pairs[i].fold = (int)(seen[kind]++ * (size_t)folds / total[kind]);
    }
    return FR_OK;
}

/* The best threshold over the pairs not in fold `skip` (-1: all), and its accuracy there. */
static double best_threshold(const fr_scored_pair *s, size_t n, int skip, double *accuracy)
{
    size_t same_total = 0, diff_total = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].fold != skip) {
            same_total += s[i].same != 0;
            diff_total += s[i].same == 0;
        }
    /* accepting nothing: every different pair is right */
    size_t best = diff_total, same_below = 0, diff_below = 0;
    double threshold = 0, previous = 0;
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].fold == skip)
            continue;
        if (!started) {
            threshold = s[i].distance;
            started = 1;
        } else if (s[i].distance > previous) {
            size_t correct = same_below + diff_total - diff_below;
            if (correct > best) {
                best = correct;
                threshold = 0.5 * (previous + s[i].distance);
            }
        }
        same_below += s[i].same != 0;
        diff_below += s[i].same == 0;
        previous = s[i].distance;
    }
    if (started && same_total > best) { /* accepting everything */
        best = same_total;
        threshold = nextafter(previous, INFINITY);
    }
    *accuracy = (double)best / (double)(same_total + diff_total);
    return threshold;
}

static double auc_of(const fr_scored_pair *s, size_t n, size_t same, size_t different)
{
    /* Mann-Whitney: P(a same pair is closer than a different one), ties counting half. With
     * ranks ascending by distance, the different pairs' rank sum less its minimum counts the
     * (same, different) pairs in the right order. */
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].distance == s[i].distance)
            j++;
        double rank = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
        for (size_t q = i; q < j; q++)
            if (!s[q].same)
                rank_sum += rank;
        i = j;
    }
    double d = (double)different;
    return (rank_sum - d * (d + 1) / 2) / ((double)same * d);
}

fr_status fr_eval_run(const fr_scored_pair *pairs, size_t count, int folds, double far_target,
                      fr_eval *out)
{
    if (folds < 2 || folds > FR_EVAL_MAX_FOLDS)
        return fr_fail(FR_E_INVALID, "%d folds: give 2 to %d", folds, FR_EVAL_MAX_FOLDS);
    fr_eval r;
    memset(&r, 0, sizeof r);
    r.pairs = count;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(pairs[i].distance) || pairs[i].distance < 0)
            return fr_fail(FR_E_FORMAT, "pair %zu has distance %g", i + 1, pairs[i].distance);
        if (pairs[i].fold >= folds)
            return fr_fail(FR_E_FORMAT, "pair %zu is in fold %d of %d", i + 1, pairs[i].fold,
                           folds);
        r.same += pairs[i].same != 0;
    }
    r.different = count - r.same;
    if (r.same == 0 || r.different == 0 || count < (size_t)folds)
        return fr_fail(FR_E_INVALID, "%zu same and %zu different pairs: evaluation needs both "
                       "kinds and at least %d pairs", r.same, r.different, folds);
    /* folds are assigned in input order ("the i-th same pair"), then the pairs sorted */
    fr_scored_pair *s = fr_malloc(count * sizeof *s, "scored pairs");
    if (!s)
        return FR_E_NOMEM;
    memcpy(s, pairs, count * sizeof *s);
    fr_status st = fr_eval_assign_folds(s, count, folds);
    if (st) {
        free(s);
        return st;
    }
    qsort(s, count, sizeof *s, by_distance);
    r.folds = folds;
    double sum = 0, sum_sq = 0;
    for (int f = 0; f < folds; f++) {
        double train;
        double t = best_threshold(s, count, f, &train);
        size_t right = 0, total = 0;
        for (size_t i = 0; i < count; i++)
            if (s[i].fold == f) {
                total++;
                right += (s[i].distance < t) == (s[i].same != 0);
            }
        if (total == 0) {
            free(s);
            return fr_fail(FR_E_FORMAT, "fold %d of %d has no pairs", f, folds);
        }
        r.fold_threshold[f] = t;
        r.fold_accuracy[f] = (double)right / (double)total;
        sum += r.fold_accuracy[f];
        sum_sq += r.fold_accuracy[f] * r.fold_accuracy[f];
    }
    r.accuracy_mean = sum / folds;
    double var = sum_sq / folds - r.accuracy_mean * r.accuracy_mean;
    r.accuracy_std = var > 0 ? sqrt(var) : 0;
    r.threshold = best_threshold(s, count, -1, &r.accuracy);
    size_t tp = 0, fp = 0;
    for (size_t i = 0; i < count; i++)
        if (s[i].distance < r.threshold) {
            tp += s[i].same != 0;
            fp += s[i].same == 0;
        }
    r.tar_at_threshold = (double)tp / (double)r.same;
    r.far_at_threshold = (double)fp / (double)r.different;

    /* TAR at FAR: the threshold is the (a+1)-th smallest different-pair distance, where a is
     * the number of false accepts the target allows, so at most a fall under it. */
    r.far_target = far_target;
    size_t allowed = (size_t)floor(far_target * (double)r.different + 1e-9), seen = 0;
    r.far_threshold = INFINITY;
    for (size_t i = 0; i < count; i++)
        if (!s[i].same && seen++ == allowed) {
            r.far_threshold = s[i].distance;
            break;
        }
    tp = fp = 0;
    for (size_t i = 0; i < count; i++)
        if (s[i].distance < r.far_threshold) {
            tp += s[i].same != 0;
            fp += s[i].same == 0;
        }
    r.tar_at_far = (double)tp / (double)r.same;
    r.far_achieved = (double)fp / (double)r.different;
    r.auc = auc_of(s, count, r.same, r.different);
    free(s);
    *out = r;
    return FR_OK;
}

fr_status fr_eval_roc(const fr_scored_pair *pairs, size_t count, double **far, double **tar,
                      size_t *points)
{
    size_t same = 0;
    for (size_t i = 0; i < count; i++)
        same += pairs[i].same != 0;
    size_t different = count - same;
    if (!same || !different)
        return fr_fail(FR_E_INVALID, "a ROC curve needs same and different pairs");
    fr_scored_pair *s;
    fr_status st = sorted_copy(pairs, count, &s);
    if (st)
        return st;
    double *x = fr_malloc((count + 2) * sizeof *x, "a ROC curve");
    double *y = fr_malloc((count + 2) * sizeof *y, "a ROC curve");
    if (!x || !y) {
        free(x);
        free(y);
        free(s);
        return FR_E_NOMEM;
    }
    size_t n = 0, tp = 0, fp = 0;
    x[n] = 0;
    y[n++] = 0;
    for (size_t i = 0; i < count; i++) {
        tp += s[i].same != 0;
        fp += s[i].same == 0;
        if (i + 1 == count || s[i + 1].distance > s[i].distance) {
            x[n] = (double)fp / (double)different;
            y[n++] = (double)tp / (double)same;
        }
    }
    free(s);
    *far = x;
    *tar = y;
    *points = n;
    return FR_OK;
}
