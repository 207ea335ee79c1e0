/*
 * test_eval.c: the evaluation against small cases worked out by hand (the arithmetic is in
 * the comments), so every number eval prints has a known right answer somewhere.
 */
#include <math.h>
#include <stdlib.h>

#include "match/eval.h"
#include "testutil.h"

int main(void)
{
    /* Case A, input order: same 0.1 0.6 0.2 0.3, different 0.4 0.8 0.5 0.7, no folds given.
     * Sorted: .1S .2S .3S .4D .5D .6S .7D .8D. Over all pairs the best threshold is 0.35
     * (between .3 and .4): 3 same + 4 different right = 7/8; there TAR 3/4, FAR 0.
     * Stratified 2 folds: same #0,#1 (.1 .6) and different #0,#1 (.4 .8) in fold 0; the rest
     * (.2 .3 | .5 .7) in fold 1. Fold 0 tested with fold 1's threshold 0.4 (4/4 there):
     * .1 yes, .6 missed, .4 rejected (not < 0.4), .8 rejected: 3/4. Fold 1 tested with fold
     * 0's best, 0.25 (3/4 there, the lowest of two ties: 0.25 and 0.7): .2 yes, .3 missed,
     * .5 .7 rejected: 3/4. Mean 0.75, std 0.
     * AUC: same-different pairs in order: .1, .2, .3 beat all 4; .6 beats .7 .8: 14/16.
     * TAR at FAR 0.25: one false accept allowed, threshold = 2nd smallest different = 0.5:
     * accepts .1 .2 .3 (TAR .75) and .4 (FAR .25). At FAR 0.2: none allowed, threshold 0.4,
     * TAR .75, FAR 0. At FAR 0.5: threshold 0.7: TAR 1, FAR .5. */
    fr_scored_pair a[] = {{0.1, 1, -1}, {0.6, 1, -1}, {0.2, 1, -1}, {0.3, 1, -1},
                          {0.4, 0, -1}, {0.8, 0, -1}, {0.5, 0, -1}, {0.7, 0, -1}};
    fr_eval r;
    CHECK_OK(fr_eval_run(a, 8, 2, 0.25, &r));
    CHECK(r.pairs == 8 && r.same == 4 && r.different == 4 && r.folds == 2);
    CHECK_NEAR(r.threshold, 0.35, 1e-12);
    CHECK_NEAR(r.accuracy, 0.875, 1e-12);
    CHECK_NEAR(r.tar_at_threshold, 0.75, 1e-12);
    CHECK_NEAR(r.far_at_threshold, 0.0, 1e-12);
    CHECK_NEAR(r.fold_threshold[0], 0.4, 1e-12);
    CHECK_NEAR(r.fold_threshold[1], 0.25, 1e-12);
    CHECK_NEAR(r.fold_accuracy[0], 0.75, 1e-12);
    CHECK_NEAR(r.fold_accuracy[1], 0.75, 1e-12);
    CHECK_NEAR(r.accuracy_mean, 0.75, 1e-12);
    CHECK_NEAR(r.accuracy_std, 0.0, 1e-12);
    CHECK_NEAR(r.auc, 14.0 / 16.0, 1e-12);
    CHECK_NEAR(r.far_threshold, 0.5, 1e-12);
    CHECK_NEAR(r.tar_at_far, 0.75, 1e-12);
    CHECK_NEAR(r.far_achieved, 0.25, 1e-12);
    CHECK_OK(fr_eval_run(a, 8, 2, 0.2, &r));
    CHECK_NEAR(r.far_threshold, 0.4, 1e-12);
    CHECK_NEAR(r.tar_at_far, 0.75, 1e-12);
    CHECK_NEAR(r.far_achieved, 0.0, 1e-12);
    CHECK_OK(fr_eval_run(a, 8, 2, 0.5, &r));
    CHECK_NEAR(r.far_threshold, 0.7, 1e-12);
    CHECK_NEAR(r.tar_at_far, 1.0, 1e-12);
    CHECK_NEAR(r.far_achieved, 0.5, 1e-12);

    /* The ROC curve of case A: a point per distinct distance. */
    double *far = NULL, *tar = NULL;
    size_t points = 0;
    CHECK_OK(fr_eval_roc(a, 8, &far, &tar, &points));
    const double want_far[] = {0, 0, 0, 0, .25, .5, .5, .75, 1};
    const double want_tar[] = {0, .25, .5, .75, .75, .75, 1, 1, 1};
    CHECK(points == 9);
    for (size_t i = 0; i < points && i < 9; i++) {
        CHECK_NEAR(far[i], want_far[i], 1e-12);
        CHECK_NEAR(tar[i], want_tar[i], 1e-12);
    }
    free(far);
    free(tar);

    /* Case B, folds given: fold 0 = .1S .2S .4D .5D, fold 1 = .31S .35D .6S .8D.
     * Fold 0 with fold 1's best: .33 (3/4; ties with .7, the lowest taken): .1 .2 accepted,
     * .4 .5 rejected: 4/4. Fold 1 with fold 0's best, .3 (4/4): .31 missed, .35 rejected,
     * .6 missed, .8 rejected: 2/4. Mean .75, population std .25. */
    fr_scored_pair b[] = {{0.1, 1, 0}, {0.2, 1, 0}, {0.4, 0, 0}, {0.5, 0, 0},
                          {0.31, 1, 1}, {0.35, 0, 1}, {0.6, 1, 1}, {0.8, 0, 1}};
    CHECK_OK(fr_eval_run(b, 8, 2, 1e-3, &r));
    CHECK_NEAR(r.fold_threshold[0], 0.33, 1e-12);
    CHECK_NEAR(r.fold_threshold[1], 0.3, 1e-12);
    CHECK_NEAR(r.fold_accuracy[0], 1.0, 1e-12);
    CHECK_NEAR(r.fold_accuracy[1], 0.5, 1e-12);
    CHECK_NEAR(r.accuracy_mean, 0.75, 1e-12);
    CHECK_NEAR(r.accuracy_std, 0.25, 1e-12);
    /* FAR 1e-3 of 4 different pairs allows none: threshold .35, accepting .1 .2 .31 */
    CHECK_NEAR(r.far_threshold, 0.35, 1e-12);
    CHECK_NEAR(r.tar_at_far, 0.75, 1e-12);

    /* Ties: a same and a different pair at one distance count half for the AUC, and no
     * threshold can split them (accepting neither, accuracy 1/2 at best). */
    fr_scored_pair t[] = {{0.5, 1, 0}, {0.5, 0, 1}};
    CHECK_OK(fr_eval_run(t, 2, 2, 1e-3, &r));
    CHECK_NEAR(r.auc, 0.5, 1e-12);
    CHECK_NEAR(r.accuracy, 0.5, 1e-12);

    /* Perfect separation: threshold midway, AUC 1, TAR 1 at FAR 0. */
    fr_scored_pair p[] = {{0.2, 1, -1}, {0.3, 1, -1}, {0.9, 0, -1}, {1.1, 0, -1}};
    CHECK_OK(fr_eval_run(p, 4, 2, 1e-3, &r));
    CHECK_NEAR(r.threshold, 0.6, 1e-12);
    CHECK_NEAR(r.auc, 1.0, 1e-12);
    CHECK_NEAR(r.tar_at_far, 1.0, 1e-12);
    CHECK_NEAR(r.accuracy_mean, 1.0, 1e-12);

    /* Stratified folds on a pairsDevTrain-like order (all same, then all different). */
    fr_scored_pair f[40];
    for (int i = 0; i < 40; i++) {
        f[i].distance = i;
        f[i].same = i < 20;
        f[i].fold = -1;
    }
    CHECK_OK(fr_eval_assign_folds(f, 40, 10));
    int per_fold[10][2] = {{0}};
    for (int i = 0; i < 40; i++)
        per_fold[f[i].fold][f[i].same]++;
    for (int k = 0; k < 10; k++)
        CHECK(per_fold[k][0] == 2 && per_fold[k][1] == 2);
    CHECK(f[0].fold == 0 && f[19].fold == 9 && f[20].fold == 0 && f[39].fold == 9);

    /* what cannot be evaluated */
    fr_scored_pair one_kind[] = {{0.1, 1, -1}, {0.2, 1, -1}};
    CHECK(fr_eval_run(one_kind, 2, 2, 1e-3, &r) == FR_E_INVALID);
    fr_scored_pair mixed[] = {{0.1, 1, 0}, {0.2, 0, -1}};
    CHECK(fr_eval_run(mixed, 2, 2, 1e-3, &r) == FR_E_FORMAT);
    fr_scored_pair nan_pair[] = {{NAN, 1, -1}, {0.2, 0, -1}};
    CHECK(fr_eval_run(nan_pair, 2, 2, 1e-3, &r) == FR_E_FORMAT);
    CHECK(fr_eval_run(a, 8, 1, 1e-3, &r) == FR_E_INVALID);
    return fr_test_finish("test_eval");
}
