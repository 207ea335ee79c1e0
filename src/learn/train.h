/*
 * train.h: learning the head (head.h) with the triplet loss over frozen features.
 *
 * People are split first: a seeded fraction of them (val_fraction) is held out whole for
 * validation, so no validation identity is ever trained on. Training people with two or more
 * faces make the mini-batches: each batch is P people (taken in a seeded order, reshuffled
 * every time the list is used up) and up to K of each one's faces drawn at random; triplets
 * are selected online in the batch (triplet.h), the loss is their mean, and the optimizer
 * updates the head (backend.h runs the arithmetic). An epoch is `batches` batches (default:
 * as many as it takes to draw every training face once, on average).
 *
 * After every epoch, batch norm's population statistics are recomputed over all training
 * faces (exactly, not as a moving average), and the held-out people are scored: the
 * verification accuracy (10-fold, match/eval.h) of pairs of their faces: up to
 * FR_TRAIN_VAL_PAIRS same-person pairs drawn from all of them, and as many pairs of different
 * people. The head of the best epoch (epoch 0 is the base model) is kept; training stops
 * after `patience` epochs without a better one. With no validation people, every epoch runs
 * and the last one is kept.
 *
 * The same seed, data, options and device give the same head, bit for bit.
 */
#ifndef FR_LEARN_TRAIN_H
#define FR_LEARN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"
#include "learn/head.h"
#include "learn/optimizer.h"
#include "learn/triplet.h"

#define FR_TRAIN_VAL_PAIRS 3000

typedef struct fr_train_options {
    int epochs;
    int batches;            /* per epoch; 0: about one draw of every training face */
    int people_per_batch;   /* P */
    int faces_per_person;   /* K */
    float alpha;            /* the triplet margin */
    fr_negatives negatives;
    fr_optimizer_options optimizer;
    double lr;
    fr_schedule schedule;
    int lr_step;            /* step schedule: epochs between decays */
    double lr_gamma;        /* step schedule: the factor */
    double val_fraction;    /* of the people, held out (0: none) */
    int patience;           /* epochs without a better validation accuracy (0: never stop) */
    uint64_t seed;
    fr_device device;
    int threads;
} fr_train_options;

/* epochs 30, batches 0, P 30 x K 8, alpha 0.2, semi-hard, adam at 1e-3, constant schedule
 * (step: every 10 epochs x 0.1), val 0.1, patience 5, seed 1. */
void fr_train_defaults(fr_train_options *options);

/* Labeled frozen features: count rows of inputs floats, labels in [0, people). */
typedef struct fr_train_data {
    const float *features;
    const int32_t *labels;
    size_t count, people;
} fr_train_data;

typedef struct fr_epoch_report {
    int epoch, epochs;        /* epoch 0: the base model, before any update */
    double lr;
    double loss;              /* mean over the epoch's selected triplets */
    double active;            /* fraction of the batches' valid triplets with an open hinge */
    double triplets;          /* selected triplets per batch */
    int has_validation;
    double accuracy, accuracy_std; /* validation, 10-fold */
    double threshold;         /* the best threshold on the validation pairs */
    int best_epoch;
    double seconds;
} fr_epoch_report;

/* Sees every epoch; a nonzero return stops training (FR_E_INVALID, "interrupted"). */
typedef int (*fr_train_progress)(void *ctx, const fr_epoch_report *report);

typedef struct fr_train_result {
    size_t train_people, train_faces; /* in batches (people with two or more faces) */
    size_t unused_people;             /* training people with one face */
    size_t val_people, val_faces, val_same, val_different;
    int epochs_run, best_epoch, stopped_early;
    double base_accuracy, best_accuracy; /* validation (0 without) */
    double threshold;                 /* on the validation pairs, or the training pairs */
    double seconds;
} fr_train_result;

/* Trains head (in: the base, out: the best) on data. progress (may be NULL) sees every epoch,
 * epoch 0 first. */
fr_status fr_train(const fr_train_data *data, const fr_train_options *options, fr_head *head,
                   fr_train_progress progress, void *ctx, fr_train_result *result);

#endif
