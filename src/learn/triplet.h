/*
 * triplet.h: FaceNet's triplet loss (Schroff et al. 2015, eq. 1-3) and its online selection.
 *
 * For embeddings a (anchor), p (positive: the same person) and n (negative: someone else),
 *
 *     L = sum over triplets of max(|a - p|^2 - |a - n|^2 + alpha, 0)
 *
 * with alpha = 0.2 in the seed. A triplet whose hinge is open ("active") contributes
 *     dL/da = 2 (n - p),   dL/dp = 2 (p - a),   dL/dn = 2 (a - n),
 * and nothing otherwise (the gradient of max(x, 0) at x = 0 is taken as 0, as PyTorch does).
 *
 * Triplets index rows of one matrix of embeddings (a mini-batch), so a row can be an anchor
 * in one triplet and a negative in another and its gradient sums over both. The seed's form,
 * separate (anchor, positive, negative) arrays of m rows, is the matrix [A; P; N] with
 * triplets (i, m + i, 2m + i).
 *
 * Selection (mini-batches of P people x K faces, FaceNet section 3.2): for every pair of
 * faces of one person in the batch (anchor before positive), a negative from another person:
 *   semi-hard   uniformly among those farther than the positive but inside the margin,
 *               |a - p|^2 < |a - n|^2 < |a - p|^2 + alpha (the pair is skipped when none is);
 *   hardest     the nearest face of another person (|a - n|^2 smallest, any distance).
 * Distances are those of the batch's current embeddings: selection and loss see the same
 * forward pass (FaceNet selected on embeddings computed before the step; online selection is
 * what its section 3.2 recommends).
 */
#ifndef FR_LEARN_TRIPLET_H
#define FR_LEARN_TRIPLET_H

#include <stddef.h>
#include <stdint.h>

#include "core/random.h"
#include "facerec.h"

#define FR_TRIPLET_ALPHA 0.2f /* the seed's margin */

typedef struct fr_triplet {
    int32_t anchor, positive, negative; /* rows */
} fr_triplet;

/* The loss (a sum, in double) of count triplets over rows (row-major, dim floats each);
 * *active (may be NULL) receives how many have an open hinge. With grad != NULL (same shape
 * as rows), scale * dL/drows is added to it. */
double fr_triplet_loss(const float *rows, size_t dim, const fr_triplet *triplets, size_t count,
                       float alpha, float *grad, float scale, size_t *active);

typedef enum fr_negatives {
    FR_NEGATIVES_SEMIHARD = 0,
    FR_NEGATIVES_HARDEST
} fr_negatives;

const char *fr_negatives_name(fr_negatives mode);
fr_status fr_negatives_parse(const char *name, fr_negatives *out);

/* What selection saw in one batch. */
typedef struct fr_selection_stats {
    size_t pairs;    /* anchor-positive pairs (anchor before positive) */
    size_t valid;    /* all (anchor, positive, negative) triplets of the batch */
    size_t active;   /* those of them with an open hinge: the fraction FaceNet watches fall */
    size_t selected; /* triplets chosen (at most one per pair) */
} fr_selection_stats;

/* Selects triplets among count rows with labels (person ids) from their squared distances
 * (count x count, row-major). out must hold count * (count - 1) / 2 triplets (one per pair at
 * most); *selected receives how many were written. Random choices come from rng. */
fr_status fr_triplets_select(const float *squared, const int32_t *labels, size_t count,
                             float alpha, fr_negatives mode, fr_random *rng, fr_triplet *out,
                             size_t *selected, fr_selection_stats *stats);

#endif
