/* triplet.c: the triplet loss and its gradient (the CPU reference), and triplet selection. */
#include "learn/triplet.h"

#include <string.h>

#include "core/error.h"

static double squared_distance(const float *x, const float *y, size_t dim)
{
    double sum = 0;
    for (size_t d = 0; d < dim; d++) {
        double diff = (double)x[d] - y[d];
        sum += diff * diff;
    }
    return sum;
}

double fr_triplet_loss(const float *rows, size_t dim, const fr_triplet *triplets, size_t count,
                       float alpha, float *grad, float scale, size_t *active)
{
    double loss = 0;
    size_t open = 0;
    for (size_t t = 0; t < count; t++) {
        const float *a = rows + (size_t)triplets[t].anchor * dim;
        const float *p = rows + (size_t)triplets[t].positive * dim;
        const float *n = rows + (size_t)triplets[t].negative * dim;
        double hinge = squared_distance(a, p, dim) - squared_distance(a, n, dim) + alpha;
        if (!(hinge > 0))
            continue;
        loss += hinge;
        open++;
        if (!grad)
            continue;
        float *ga = grad + (size_t)triplets[t].anchor * dim;
        float *gp = grad + (size_t)triplets[t].positive * dim;
        float *gn = grad + (size_t)triplets[t].negative * dim;
        float two = 2.0f * scale;
        for (size_t d = 0; d < dim; d++) {
            ga[d] += two * (n[d] - p[d]);
            gp[d] += two * (p[d] - a[d]);
            gn[d] += two * (a[d] - n[d]);
        }
    }
    if (active)
        *active = open;
    return loss;
}

const char *fr_negatives_name(fr_negatives mode)
{
    return mode == FR_NEGATIVES_HARDEST ? "hardest" : "semi-hard";
}

fr_status fr_negatives_parse(const char *name, fr_negatives *out)
{
    if (strcmp(name, "semi-hard") == 0 || strcmp(name, "semihard") == 0)
        *out = FR_NEGATIVES_SEMIHARD;
    else if (strcmp(name, "hardest") == 0)
        *out = FR_NEGATIVES_HARDEST;
    else
        return fr_fail(FR_E_INVALID, "--negatives %s: choose semi-hard or hardest", name);
    return FR_OK;
}

fr_status fr_triplets_select(const float *squared, const int32_t *labels, size_t count,
                             float alpha, fr_negatives mode, fr_random *rng, fr_triplet *out,
                             size_t *selected, fr_selection_stats *stats)
{
    fr_selection_stats s = {0, 0, 0, 0};
    if (count > INT32_MAX)
        return fr_fail(FR_E_TOO_LARGE, "a batch of %zu rows", count);
    for (size_t a = 0; a < count; a++) {
        const float *row = squared + a * count;
        for (size_t p = a + 1; p < count; p++) {
            if (labels[p] != labels[a])
                continue;
            s.pairs++;
            float ap = row[p];
            /* one pass over the negatives: statistics, the hardest, and the semi-hard ones
             * counted, then the chosen one found by a second pass (no list to allocate) */
            size_t semihard = 0, hardest = count;
            for (size_t n = 0; n < count; n++) {
                if (labels[n] == labels[a])
                    continue;
                float an = row[n];
                s.valid++;
                s.active += ap - an + alpha > 0;
                semihard += an > ap && an < ap + alpha;
                if (hardest == count || an < row[hardest])
                    hardest = n;
            }
            size_t negative = count;
            if (mode == FR_NEGATIVES_HARDEST) {
                negative = hardest;
            } else if (semihard) {
                uint64_t pick = fr_random_below(rng, semihard);
                for (size_t n = 0; n < count && negative == count; n++) {
                    if (labels[n] == labels[a])
                        continue;
                    float an = row[n];
                    if (an > ap && an < ap + alpha && pick-- == 0)
                        negative = n;
                }
            }
            if (negative == count)
                continue;
            fr_triplet *t = &out[s.selected++];
            t->anchor = (int32_t)a;
            t->positive = (int32_t)p;
            t->negative = (int32_t)negative;
        }
    }
    *selected = s.selected;
    if (stats)
        *stats = s;
    return FR_OK;
}
