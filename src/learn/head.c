/*
 * head.c: the trainable head's parameters and its CPU reference passes.
 *
 * GEMMs are oneDNN's sgemm, single-threaded (the pools of core/pool.h leave OpenMP at one
 * thread), so a training step's arithmetic does not depend on the thread count: the same
 * seed gives the same weights with any --threads. Reductions over the batch (batch norm's
 * statistics, the gradient of beta) are in double.
 */
#include "learn/head.h"

#include <dnnl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#define CHUNK_ROWS 4096 /* feature rows gathered and multiplied at a time */

fr_status fr_head_init(fr_head *h, int inputs, int outputs, int batch_norm, double epsilon)
{
    memset(h, 0, sizeof *h);
    if (inputs <= 0 || outputs <= 0)
        return fr_fail(FR_E_INVALID, "a head of %d -> %d", inputs, outputs);
    h->inputs = inputs;
    h->outputs = outputs;
    h->batch_norm = batch_norm;
    h->epsilon = epsilon;
    h->param_count = (size_t)inputs * outputs + (batch_norm ? (size_t)outputs : 0);
    h->params = fr_calloc(h->param_count, sizeof(float), "the head's parameters");
    if (batch_norm) {
        h->mean = fr_calloc((size_t)outputs, sizeof(float), "batch norm statistics");
        h->variance = fr_calloc((size_t)outputs, sizeof(float), "batch norm statistics");
    }
    if (!h->params || (batch_norm && (!h->mean || !h->variance))) {
        fr_head_free(h);
        return FR_E_NOMEM;
    }
    return FR_OK;
}

fr_status fr_head_copy(fr_head *to, const fr_head *from)
{
    fr_status st = fr_head_init(to, from->inputs, from->outputs, from->batch_norm,
                                from->epsilon);
    if (st)
        return st;
    memcpy(to->params, from->params, from->param_count * sizeof(float));
    if (from->batch_norm) {
        memcpy(to->mean, from->mean, (size_t)from->outputs * sizeof(float));
        memcpy(to->variance, from->variance, (size_t)from->outputs * sizeof(float));
    }
    return FR_OK;
}

void fr_head_free(fr_head *h)
{
    if (!h)
        return;
    free(h->params);
    free(h->mean);
    free(h->variance);
    memset(h, 0, sizeof *h);
}

fr_status fr_head_cache_init(fr_head_cache *c, const fr_head *h, size_t max_batch)
{
    memset(c, 0, sizeof *c);
    size_t n;
    if (!fr_mul_size(max_batch, (size_t)h->outputs, &n) || !fr_mul_size(n, sizeof(float), &n))
        return fr_fail(FR_E_TOO_LARGE, "a batch of %zu", max_batch);
    c->max_batch = max_batch;
    c->z = fr_malloc(n, "training activations");
    c->zhat = fr_malloc(n, "training activations");
    c->y = fr_malloc(n, "training activations");
    c->e = fr_malloc(n, "training activations");
    c->scratch = fr_malloc(n, "training activations");
    c->inv_std = fr_malloc((size_t)h->outputs * sizeof(float), "training activations");
    c->norm = fr_malloc(max_batch * sizeof(float), "training activations");
    if (!c->z || !c->zhat || !c->y || !c->e || !c->scratch || !c->inv_std || !c->norm) {
        fr_head_cache_free(c);
        return FR_E_NOMEM;
    }
    return FR_OK;
}

void fr_head_cache_free(fr_head_cache *c)
{
    free(c->z);
    free(c->zhat);
    free(c->y);
    free(c->e);
    free(c->scratch);
    free(c->inv_std);
    free(c->norm);
    memset(c, 0, sizeof *c);
}

void fr_head_dense(const fr_head *h, const float *f, size_t n, float *out)
{
    /* out (n x outputs) = F (n x inputs) . W (inputs x outputs) */
    dnnl_sgemm('N', 'N', (dnnl_dim_t)n, h->outputs, h->inputs, 1.0f, f, h->inputs,
               fr_head_kernel(h), h->outputs, 0.0f, out, h->outputs);
}

/* e = y / max(|y|, sqrt(eps)) row by row; norm[i] receives the divisor. */
static void l2_rows(const float *y, size_t n, int dim, float *e, float *norm)
{
    for (size_t i = 0; i < n; i++) {
        const float *r = y + i * dim;
        double sum = 0;
        for (int j = 0; j < dim; j++)
            sum += (double)r[j] * r[j];
        double s = sqrt(sum > FR_HEAD_NORM_EPSILON ? sum : FR_HEAD_NORM_EPSILON);
        if (norm)
            norm[i] = (float)s;
        float inv = (float)(1.0 / s);
        for (int j = 0; j < dim; j++)
            e[i * dim + j] = r[j] * inv;
    }
}

fr_status fr_head_forward_train(const fr_head *h, const float *f, size_t batch,
                                fr_head_cache *c)
{
    if (batch > c->max_batch)
        return fr_fail(FR_E_INTERNAL, "batch of %zu over the planned %zu", batch, c->max_batch);
    if (h->batch_norm && batch < 2)
        return fr_fail(FR_E_INVALID, "batch norm needs batches of two or more");
    int d = h->outputs;
    fr_head_dense(h, f, batch, c->z);
    if (!h->batch_norm) {
        memcpy(c->y, c->z, batch * (size_t)d * sizeof(float));
    } else {
        const float *beta = fr_head_beta(h);
        for (int j = 0; j < d; j++) {
            double sum = 0, sq = 0;
            for (size_t i = 0; i < batch; i++)
                sum += c->z[i * d + j];
            double mu = sum / (double)batch;
            for (size_t i = 0; i < batch; i++) {
                double x = c->z[i * d + j] - mu;
                sq += x * x;
            }
            double inv = 1.0 / sqrt(sq / (double)batch + h->epsilon);
            c->inv_std[j] = (float)inv;
            for (size_t i = 0; i < batch; i++) {
                float zh = (float)((c->z[i * d + j] - mu) * inv);
                c->zhat[i * d + j] = zh;
                c->y[i * d + j] = zh + beta[j];
            }
        }
    }
    l2_rows(c->y, batch, d, c->e, c->norm);
    return FR_OK;
}

void fr_head_backward(const fr_head *h, const float *f, size_t batch, fr_head_cache *c,
                      const float *grad_e, float *grad)
{
    int d = h->outputs;
    float *dy = c->scratch;
    /* through e = y / |y|: dy = (de - e (e . de)) / |y| */
    for (size_t i = 0; i < batch; i++) {
        const float *e = c->e + i * d, *de = grad_e + i * d;
        double dot = 0;
        for (int j = 0; j < d; j++)
            dot += (double)e[j] * de[j];
        float inv = 1.0f / c->norm[i], ed = (float)dot;
        for (int j = 0; j < d; j++)
            dy[i * d + j] = (de[j] - e[j] * ed) * inv;
    }
    if (h->batch_norm) {
        /* y = zhat + beta: dbeta = sum dy; dz = inv_std (dy - mean(dy) - zhat mean(dy zhat)) */
        float *dbeta = grad + (size_t)h->inputs * d;
        for (int j = 0; j < d; j++) {
            double sum = 0, dot = 0;
            for (size_t i = 0; i < batch; i++) {
                sum += dy[i * d + j];
                dot += (double)dy[i * d + j] * c->zhat[i * d + j];
            }
            dbeta[j] = (float)sum;
            float mean = (float)(sum / (double)batch), mean_dot = (float)(dot / (double)batch);
            for (size_t i = 0; i < batch; i++)
                dy[i * d + j] =
                    c->inv_std[j] * (dy[i * d + j] - mean - c->zhat[i * d + j] * mean_dot);
        }
    }
    /* dW (inputs x outputs) = F^T (inputs x batch) . dz (batch x outputs) */
    dnnl_sgemm('T', 'N', h->inputs, d, (dnnl_dim_t)batch, 1.0f, f, h->inputs, dy, d, 0.0f, grad,
               d);
}

/* y = BN_inference(z) in place. */
static void normalize_population(const fr_head *h, float *z, size_t n)
{
    int d = h->outputs;
    const float *beta = fr_head_beta(h);
    for (int j = 0; j < d; j++) {
        float inv = (float)(1.0 / sqrt((double)h->variance[j] + h->epsilon));
        for (size_t i = 0; i < n; i++)
            z[i * d + j] = (z[i * d + j] - h->mean[j]) * inv + beta[j];
    }
}

/* Gathers rows [r0, r0 + count) of the selection into chunk (count x inputs); with rows
 * NULL the features are contiguous and used in place. */
static const float *gather(const fr_head *h, const float *f, const int32_t *rows, size_t r0,
                           size_t count, float *chunk)
{
    size_t width = (size_t)h->inputs;
    if (!rows)
        return f + r0 * width;
    for (size_t i = 0; i < count; i++)
        memcpy(chunk + i * width, f + (size_t)rows[r0 + i] * width, width * sizeof(float));
    return chunk;
}

fr_status fr_head_embed(const fr_head *h, const float *f, const int32_t *rows, size_t n,
                        float *out)
{
    float *chunk = rows ? fr_malloc((size_t)CHUNK_ROWS * h->inputs * sizeof(float),
                                    "a feature chunk")
                        : NULL;
    if (rows && !chunk)
        return FR_E_NOMEM;
    for (size_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        size_t count = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        float *y = out + r0 * (size_t)h->outputs;
        fr_head_dense(h, gather(h, f, rows, r0, count, chunk), count, y);
        if (h->batch_norm)
            normalize_population(h, y, count);
        l2_rows(y, count, h->outputs, y, NULL);
    }
    free(chunk);
    return FR_OK;
}

fr_status fr_head_statistics(fr_head *h, const float *f, const int32_t *rows, size_t n)
{
    if (!h->batch_norm)
        return FR_OK;
    if (n == 0)
        return fr_fail(FR_E_INVALID, "batch norm statistics of no rows");
    int d = h->outputs;
    float *z = fr_malloc((size_t)CHUNK_ROWS * d * sizeof(float), "batch norm statistics");
    float *chunk = rows ? fr_malloc((size_t)CHUNK_ROWS * h->inputs * sizeof(float),
                                    "a feature chunk")
                        : NULL;
    double *sum = fr_calloc((size_t)d * 3, sizeof(double), "batch norm statistics");
    if (!z || !sum || (rows && !chunk)) {
        free(z);
        free(chunk);
        free(sum);
        return FR_E_NOMEM;
    }
    /* sums about a shift (the first chunk's mean), which keeps the variance accurate where
     * the mean is large against the spread */
    double *sq = sum + d, *shift = sum + 2 * d;
    for (size_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        size_t count = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        fr_head_dense(h, gather(h, f, rows, r0, count, chunk), count, z);
        if (r0 == 0)
            for (size_t i = 0; i < count; i++)
                for (int j = 0; j < d; j++)
                    shift[j] += z[i * d + j] / (double)count;
        for (size_t i = 0; i < count; i++)
            for (int j = 0; j < d; j++) {
                double x = z[i * d + j] - shift[j];
                sum[j] += x;
                sq[j] += x * x;
            }
    }
    for (int j = 0; j < d; j++) {
        double m = sum[j] / (double)n;
        double v = sq[j] / (double)n - m * m;
        h->mean[j] = (float)(shift[j] + m);
        h->variance[j] = (float)(v > 0 ? v : 0);
    }
    free(z);
    free(chunk);
    free(sum);
    return FR_OK;
}
