/*
 * learn_cpu.c: the CPU training backend, the reference for any other (backend.h): a batch's
 * features are gathered into one buffer, the head runs forward and backward in head.c, the
 * loss is triplet.c's and the update optimizer.c's. Squared distances between the batch's
 * embeddings are direct sums of squared differences in double, so that selection and loss
 * see the same numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "learn/backend.h"

typedef struct cpu_learn {
    fr_head head;
    const float *features;
    size_t count, max_batch;
    fr_head_cache cache;
    fr_optimizer optimizer;
    float *batch;     /* (max_batch, inputs): the gathered features of the last forward */
    float *grad_e;    /* (max_batch, outputs) */
    float *grad;      /* (param_count) */
    size_t n;         /* rows in the last forward */
} cpu_learn;

static void cpu_close(void *state)
{
    cpu_learn *s = state;
    if (!s)
        return;
    fr_head_free(&s->head);
    fr_head_cache_free(&s->cache);
    fr_optimizer_free(&s->optimizer);
    free(s->batch);
    free(s->grad_e);
    free(s->grad);
    free(s);
}

static fr_status cpu_open(const fr_head *head, const float *features, size_t count,
                          size_t max_batch, const fr_optimizer_options *optimizer, int threads,
                          void **out)
{
    (void)threads; /* one thread: see head.c */
    cpu_learn *s = fr_calloc(1, sizeof *s, "the CPU training backend");
    if (!s)
        return FR_E_NOMEM;
    s->features = features;
    s->count = count;
    s->max_batch = max_batch;
    fr_status st = fr_head_copy(&s->head, head);
    if (!st)
        st = fr_head_cache_init(&s->cache, head, max_batch);
    if (!st)
        st = fr_optimizer_init(&s->optimizer, optimizer, head->param_count);
    if (!st) {
        s->batch = fr_malloc(max_batch * (size_t)head->inputs * sizeof(float), "a batch");
        s->grad_e = fr_malloc(max_batch * (size_t)head->outputs * sizeof(float), "gradients");
        s->grad = fr_malloc(head->param_count * sizeof(float), "gradients");
        if (!s->batch || !s->grad_e || !s->grad)
            st = FR_E_NOMEM;
    }
    if (st) {
        cpu_close(s);
        return st;
    }
    *out = s;
    return FR_OK;
}

static fr_status check_rows(const cpu_learn *s, const int32_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= s->count)
            return fr_fail(FR_E_INTERNAL, "training row %d of %zu", rows[i], s->count);
    return FR_OK;
}

static fr_status cpu_forward(void *state, const int32_t *rows, size_t n, float *squared)
{
    cpu_learn *s = state;
    if (n > s->max_batch)
        return fr_fail(FR_E_INTERNAL, "batch of %zu over the planned %zu", n, s->max_batch);
    fr_status st = check_rows(s, rows, n);
    if (st)
        return st;
    size_t width = (size_t)s->head.inputs;
    for (size_t i = 0; i < n; i++)
        memcpy(s->batch + i * width, s->features + (size_t)rows[i] * width,
               width * sizeof(float));
    st = fr_head_forward_train(&s->head, s->batch, n, &s->cache);
    if (st)
        return st;
    s->n = n;
    int d = s->head.outputs;
    for (size_t i = 0; i < n; i++) {
        squared[i * n + i] = 0.0f;
        for (size_t j = i + 1; j < n; j++) {
            const float *a = s->cache.e + i * d, *b = s->cache.e + j * d;
            double sum = 0;
            for (int k = 0; k < d; k++) {
                double diff = (double)a[k] - b[k];
                sum += diff * diff;
            }
            squared[i * n + j] = squared[j * n + i] = (float)sum;
        }
    }
    return FR_OK;
}

static fr_status cpu_step(void *state, const fr_triplet *triplets, size_t count, float alpha,
                          double lr, double *loss, size_t *active)
{
    cpu_learn *s = state;
    size_t n = s->n;
    memset(s->grad_e, 0, n * (size_t)s->head.outputs * sizeof(float));
    *loss = fr_triplet_loss(s->cache.e, (size_t)s->head.outputs, triplets, count, alpha,
                            s->grad_e, count ? 1.0f / (float)count : 0.0f, active);
    fr_head_backward(&s->head, s->batch, n, &s->cache, s->grad_e, s->grad);
    fr_optimizer_step(&s->optimizer, s->head.params, s->grad, lr);
    return FR_OK;
}

static fr_status cpu_embed(void *state, const int32_t *rows, size_t n, float *out)
{
    cpu_learn *s = state;
    fr_status st = check_rows(s, rows, n);
    return st ? st : fr_head_embed(&s->head, s->features, rows, n, out);
}

static fr_status cpu_statistics(void *state, const int32_t *rows, size_t n)
{
    cpu_learn *s = state;
    fr_status st = check_rows(s, rows, n);
    return st ? st : fr_head_statistics(&s->head, s->features, rows, n);
}

static fr_status cpu_read(void *state, fr_head *head)
{
    cpu_learn *s = state;
    memcpy(head->params, s->head.params, s->head.param_count * sizeof(float));
    if (s->head.batch_norm) {
        memcpy(head->mean, s->head.mean, (size_t)s->head.outputs * sizeof(float));
        memcpy(head->variance, s->head.variance, (size_t)s->head.outputs * sizeof(float));
    }
    return FR_OK;
}

static fr_status cpu_write(void *state, const fr_head *head)
{
    cpu_learn *s = state;
    memcpy(s->head.params, head->params, s->head.param_count * sizeof(float));
    if (s->head.batch_norm) {
        memcpy(s->head.mean, head->mean, (size_t)s->head.outputs * sizeof(float));
        memcpy(s->head.variance, head->variance, (size_t)s->head.outputs * sizeof(float));
    }
    return FR_OK;
}

const fr_learn_backend fr_cpu_learn_backend = {
    "cpu", cpu_open, cpu_forward, cpu_step, cpu_embed, cpu_statistics, cpu_read, cpu_write,
    cpu_close,
};
