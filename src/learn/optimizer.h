/*
 * optimizer.h: the parameter updates of `facerec train`, with PyTorch's semantics (torch.optim,
 * which tests/test_learn.c checks them against) so that hyperparameters carry over:
 *
 *   sgd    g += wd p;  b = g (first step) or momentum b + g;  p -= lr b
 *   adam   g += wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)      (Kingma & Ba)
 *
 * and the learning-rate schedules, by epoch e of E (0-based):
 *   constant   lr
 *   step       lr * gamma^floor(e / step)
 *   cosine     lr * (1 + cos(pi e / E)) / 2          (SGDR without restarts)
 */
#ifndef FR_LEARN_OPTIMIZER_H
#define FR_LEARN_OPTIMIZER_H

#include <stddef.h>

#include "facerec.h"

typedef enum fr_optimizer_kind { FR_OPTIMIZER_ADAM = 0, FR_OPTIMIZER_SGD } fr_optimizer_kind;

typedef struct fr_optimizer_options {
    fr_optimizer_kind kind;
    double momentum;     /* sgd (0: plain SGD) */
    double beta1, beta2; /* adam */
    double epsilon;      /* adam */
    double weight_decay; /* L2 penalty added to the gradient, both */
} fr_optimizer_options;

/* adam: 0.9, 0.999, 1e-8; sgd: momentum 0.9; no weight decay. */
void fr_optimizer_defaults(fr_optimizer_kind kind, fr_optimizer_options *options);
const char *fr_optimizer_name(fr_optimizer_kind kind);
fr_status fr_optimizer_parse(const char *name, fr_optimizer_kind *out);

/* The state of one optimizer over count parameters (momentum buffers, moments, step). */
typedef struct fr_optimizer {
    fr_optimizer_options options;
    size_t count;
    float *m, *v; /* sgd: m is the momentum buffer; adam: first and second moments */
    long step;    /* updates done */
} fr_optimizer;

fr_status fr_optimizer_init(fr_optimizer *opt, const fr_optimizer_options *options,
                            size_t count);
void fr_optimizer_free(fr_optimizer *opt);
/* One update of params by grad (grad is left as it was). */
void fr_optimizer_step(fr_optimizer *opt, float *params, const float *grad, double lr);

typedef enum fr_schedule { FR_SCHEDULE_CONSTANT = 0, FR_SCHEDULE_STEP, FR_SCHEDULE_COSINE }
    fr_schedule;

const char *fr_schedule_name(fr_schedule schedule);
fr_status fr_schedule_parse(const char *name, fr_schedule *out);
/* The learning rate of epoch (0-based) of epochs. */
double fr_schedule_rate(fr_schedule schedule, double lr, int epoch, int epochs, int step,
                        double gamma);

#endif
