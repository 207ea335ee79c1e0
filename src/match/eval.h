/*
 * eval.h: how well distances separate same-person pairs from different-person pairs.
 *
 * The LFW protocol (Huang et al. 2007, "View 2"): the pairs are split into 10 folds; for each
 * fold a threshold is chosen on the other 9 (the one with the most pairs right) and the fold
 * is scored with it; the accuracy is the mean over folds +- their standard deviation
 * (population, as davidsandberg/facenet's validate_on_lfw reports it). A pair is accepted
 * as "same" when its distance is strictly under the threshold (the seed's `dist < 0.7`).
 *
 * Candidate thresholds are the midpoints between consecutive distinct distances, so the best
 * one is found exactly rather than on a grid; among equally good ones the lowest is taken.
 *
 * Folds: where the input names them (the fold of each pair in LFW's pairs.txt) they are used;
 * otherwise pairs are assigned stratified and in order: the i-th of S same pairs goes to fold
 * floor(i * F / S), likewise the different ones. On pairs.txt (fold by fold, 300 same then
 * 300 different each) that is exactly LFW's folds; on pairsDevTrain.txt (all same pairs, then
 * all different ones) it gives 10 balanced folds where contiguous ones would not.
 */
#ifndef FR_MATCH_EVAL_H
#define FR_MATCH_EVAL_H

#include <stddef.h>

#include "facerec.h"

#define FR_EVAL_MAX_FOLDS 100

typedef struct fr_scored_pair {
    double distance;
    int same; /* 1: the same person */
    int fold; /* 0-based; -1: not given */
} fr_scored_pair;

typedef struct fr_eval {
    size_t pairs, same, different;
    int folds;
    double fold_accuracy[FR_EVAL_MAX_FOLDS];
    double fold_threshold[FR_EVAL_MAX_FOLDS]; /* chosen on the other folds */
    double accuracy_mean, accuracy_std;      /* over folds */
    double threshold;                        /* best on all pairs */
    double accuracy;                         /* at that threshold, on all pairs */
    double tar_at_threshold, far_at_threshold;
    double far_target;                       /* e.g. 1e-3 */
    double tar_at_far;                       /* true accept rate with FAR <= far_target */
    double far_achieved, far_threshold;      /* the FAR and threshold that gave it */
    double auc;                              /* area under the ROC curve */
} fr_eval;

/* Assigns stratified folds (see above) to pairs whose fold is -1; a mix of given and missing
 * folds is an error. */
fr_status fr_eval_assign_folds(fr_scored_pair *pairs, size_t count, int folds);

/* Evaluates count pairs (at least one of each kind and at least `folds` pairs). */
fr_status fr_eval_run(const fr_scored_pair *pairs, size_t count, int folds, double far_target,
                      fr_eval *out);

/* The ROC curve: points (FAR, TAR) for every threshold between distinct distances, from
 * (0, 0) to (1, 1). Arrays malloc'ed. */
fr_status fr_eval_roc(const fr_scored_pair *pairs, size_t count, double **far, double **tar,
                      size_t *points);

#endif
