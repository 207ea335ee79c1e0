/* optimizer.c: SGD with momentum and Adam as torch.optim computes them, and the schedules. */
#include "learn/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

void fr_optimizer_defaults(fr_optimizer_kind kind, fr_optimizer_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->epsilon = 1e-8;
}

const char *fr_optimizer_name(fr_optimizer_kind kind)
{
    return kind == FR_OPTIMIZER_SGD ? "sgd" : "adam";
}

fr_status fr_optimizer_parse(const char *name, fr_optimizer_kind *out)
{
    if (strcmp(name, "adam") == 0)
        *out = FR_OPTIMIZER_ADAM;
    else if (strcmp(name, "sgd") == 0)
        *out = FR_OPTIMIZER_SGD;
    else
        return fr_fail(FR_E_INVALID, "--optimizer %s: choose adam or sgd", name);
    return FR_OK;
}

fr_status fr_optimizer_init(fr_optimizer *opt, const fr_optimizer_options *o, size_t count)
{
    memset(opt, 0, sizeof *opt);
    opt->options = *o;
    opt->count = count;
    opt->m = fr_calloc(count ? count : 1, sizeof(float), "optimizer state");
    opt->v = fr_calloc(count ? count : 1, sizeof(float), "optimizer state");
    if (!opt->m || !opt->v) {
        fr_optimizer_free(opt);
        return FR_E_NOMEM;
    }
    return FR_OK;
}

void fr_optimizer_free(fr_optimizer *opt)
{
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}

void fr_optimizer_step(fr_optimizer *opt, float *p, const float *grad, double lr)
{
    const fr_optimizer_options *o = &opt->options;
    float wd = (float)o->weight_decay;
    opt->step++;
    if (o->kind == FR_OPTIMIZER_SGD) {
        float mu = (float)o->momentum, rate = (float)lr;
        for (size_t i = 0; i < opt->count; i++) {
            float g = grad[i] + wd * p[i];
            if (mu != 0.0f) {
                g = opt->step == 1 ? g : mu * opt->m[i] + g;
                opt->m[i] = g;
            }
            p[i] -= rate * g;
        }
        return;
    }
    float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->epsilon;
    double c1 = 1.0 - pow(o->beta1, (double)opt->step);
    double c2 = 1.0 - pow(o->beta2, (double)opt->step);
    float step_size = (float)(lr / c1), root_c2 = (float)sqrt(c2);
    for (size_t i = 0; i < opt->count; i++) {
        float g = grad[i] + wd * p[i];
        opt->m[i] = b1 * opt->m[i] + (1.0f - b1) * g;
        opt->v[i] = b2 * opt->v[i] + (1.0f - b2) * g * g;
        p[i] -= step_size * opt->m[i] / (sqrtf(opt->v[i]) / root_c2 + eps);
    }
}

const char *fr_schedule_name(fr_schedule s)
{
    return s == FR_SCHEDULE_STEP ? "step" : s == FR_SCHEDULE_COSINE ? "cosine" : "constant";
}

fr_status fr_schedule_parse(const char *name, fr_schedule *out)
{
    if (strcmp(name, "constant") == 0)
        *out = FR_SCHEDULE_CONSTANT;
    else if (strcmp(name, "step") == 0)
        *out = FR_SCHEDULE_STEP;
    else if (strcmp(name, "cosine") == 0)
        *out = FR_SCHEDULE_COSINE;
    else
        return fr_fail(FR_E_INVALID, "--schedule %s: choose constant, step or cosine", name);
    return FR_OK;
}

double fr_schedule_rate(fr_schedule s, double lr, int epoch, int epochs, int step, double gamma)
{
    switch (s) {
    case FR_SCHEDULE_STEP:
        return lr * pow(gamma, (double)(epoch / (step > 0 ? step : 1)));
    case FR_SCHEDULE_COSINE:
        return epochs > 0 ? lr * 0.5 * (1.0 + cos(M_PI * epoch / epochs)) : lr;
    case FR_SCHEDULE_CONSTANT:
        break;
    }
    return lr;
}
