/*
 * learn.c: the CUDA training backend (learn/backend.h's table), the twin of
 * learn/learn_cpu.c. The training features are uploaded once; a step gathers its batch on the
 * device, runs the head forward (cuBLAS GEMM, batch norm, L2), computes the batch's squared
 * distances for the host's triplet selection, and, given the triplets, the loss, the gradient
 * (dL/de = C e with C the triplets' integer coefficients: one more GEMM), the backward pass
 * and the optimizer update, without the parameters leaving the GPU. Arithmetic is fp32
 * (cuBLAS's default math, no TF32) with double reductions, like the CPU's.
 *
 * Row-major matrices in cuBLAS's column-major terms: a row-major (r x c) array is the
 * column-major (c x r) transpose, so Z = F W is computed as Z^T = W^T F^T, and so on.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/error.h"
#include "learn/backend.h"
#include "learn_kernels.h"

#define CHUNK_ROWS 4096 /* rows per GEMM when embedding or taking statistics of many faces */

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fr_status try_status_ = (expr);                                                        \
        if (try_status_ != FR_OK)                                                              \
            return try_status_;                                                                \
    } while (0)

typedef struct cuda_learn {
    cublasHandle_t blas;
    cudaStream_t stream;
    int inputs, outputs, batch_norm;
    double epsilon;
    size_t count, max_batch, param_count, n;
    fr_optimizer_options optimizer;
    long step;
    float *features;            /* count x inputs */
    float *params, *grad, *m, *v; /* param_count each; W then beta */
    float *mean, *variance;     /* outputs each */
    int32_t *rows;              /* max(max_batch, CHUNK_ROWS) */
    float *batch;               /* max(max_batch, CHUNK_ROWS) x inputs */
    float *z, *zhat, *y, *e, *de; /* max(max_batch, CHUNK_ROWS) x outputs */
    float *inv_std, *norm;
    float *squared, *coeff;     /* max_batch^2 */
    int32_t *triplets;          /* max_batch^2 / 2 x 3 */
    double *loss;               /* max_batch^2 / 2 */
    double *moments;            /* 3 x outputs: shift, sum, squares */
    double *host_loss;          /* pinned */
} cuda_learn;

static void cuda_close(void *state)
{
    cuda_learn *s = state;
    if (!s)
        return;
    void *device[] = {s->features, s->params, s->grad, s->m, s->v, s->mean, s->variance,
                      s->rows, s->batch, s->z, s->zhat, s->y, s->e, s->de, s->inv_std, s->norm,
                      s->squared, s->coeff, s->triplets, s->loss, s->moments};
    for (size_t i = 0; i < sizeof device / sizeof device[0]; i++)
        if (device[i])
            cudaFree(device[i]);
    if (s->host_loss)
        cudaFreeHost(s->host_loss);
    if (s->blas)
        cublasDestroy(s->blas);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
}

static fr_status device_alloc(void **p, size_t bytes, const char *what)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 4);
    if (e == cudaSuccess)
        return FR_OK;
    *p = NULL;
    cudaGetLastError();
    if (e == cudaErrorMemoryAllocation)
        return fr_fail(FR_E_NOMEM, "GPU out of memory allocating %s (%zu bytes)", what, bytes);
    return fr_cuda_fail_runtime(e, what, __FILE__, __LINE__);
}

static fr_status upload_head(cuda_learn *s, const fr_head *h)
{
    FR_CUDA_CHECK(cudaMemcpyAsync(s->params, h->params, s->param_count * sizeof(float),
                                  cudaMemcpyHostToDevice, s->stream));
    if (s->batch_norm) {
        FR_CUDA_CHECK(cudaMemcpyAsync(s->mean, h->mean, (size_t)s->outputs * sizeof(float),
                                      cudaMemcpyHostToDevice, s->stream));
        FR_CUDA_CHECK(cudaMemcpyAsync(s->variance, h->variance,
                                      (size_t)s->outputs * sizeof(float),
                                      cudaMemcpyHostToDevice, s->stream));
    }
    FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    return FR_OK;
}

static fr_status open_buffers(cuda_learn *s, const float *features)
{
    size_t rows = s->max_batch > CHUNK_ROWS ? s->max_batch : CHUNK_ROWS;
    size_t pairs = s->max_batch * s->max_batch, o = (size_t)s->outputs;
    struct {
        void **p;
        size_t bytes;
    } want[] = {
        {(void **)&s->features, s->count * (size_t)s->inputs * sizeof(float)},
        {(void **)&s->params, s->param_count * sizeof(float)},
        {(void **)&s->grad, s->param_count * sizeof(float)},
        {(void **)&s->m, s->param_count * sizeof(float)},
        {(void **)&s->v, s->param_count * sizeof(float)},
        {(void **)&s->mean, o * sizeof(float)},
        {(void **)&s->variance, o * sizeof(float)},
        {(void **)&s->rows, rows * sizeof(int32_t)},
        {(void **)&s->batch, rows * (size_t)s->inputs * sizeof(float)},
        {(void **)&s->z, rows * o * sizeof(float)},
        {(void **)&s->zhat, rows * o * sizeof(float)},
        {(void **)&s->y, rows * o * sizeof(float)},
        {(void **)&s->e, rows * o * sizeof(float)},
        {(void **)&s->de, rows * o * sizeof(float)},
        {(void **)&s->inv_std, o * sizeof(float)},
        {(void **)&s->norm, rows * sizeof(float)},
        {(void **)&s->squared, pairs * sizeof(float)},
        {(void **)&s->coeff, pairs * sizeof(float)},
        {(void **)&s->triplets, pairs / 2 * 3 * sizeof(int32_t)},
        {(void **)&s->loss, pairs / 2 * sizeof(double)},
        {(void **)&s->moments, 3 * o * sizeof(double)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        TRY(device_alloc(want[i].p, want[i].bytes, "training buffers"));
    cudaError_t e = cudaMallocHost((void **)&s->host_loss, (pairs / 2 + 1) * sizeof(double));
    if (e != cudaSuccess) {
        s->host_loss = NULL;
        cudaGetLastError();
        return fr_fail(FR_E_NOMEM, "out of pinned memory for the training backend");
    }
    FR_CUDA_CHECK(cudaMemcpyAsync(s->features, features,
                                  s->count * (size_t)s->inputs * sizeof(float),
                                  cudaMemcpyHostToDevice, s->stream));
    FR_CUDA_CHECK(cudaMemsetAsync(s->m, 0, s->param_count * sizeof(float), s->stream));
    FR_CUDA_CHECK(cudaMemsetAsync(s->v, 0, s->param_count * sizeof(float), s->stream));
    return FR_OK;
}

static fr_status cuda_open(const fr_head *head, const float *features, size_t count,
                           size_t max_batch, const fr_optimizer_options *optimizer, int threads,
                           void **out)
{
    (void)threads;
    cuda_learn *s = fr_calloc(1, sizeof *s, "the CUDA training backend");
    if (!s)
        return FR_E_NOMEM;
    s->inputs = head->inputs;
    s->outputs = head->outputs;
    s->batch_norm = head->batch_norm;
    s->epsilon = head->epsilon;
    s->count = count;
    s->max_batch = max_batch;
    s->param_count = head->param_count;
    s->optimizer = *optimizer;
    fr_status st = FR_OK;
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        st = fr_cuda_fail_runtime(e, "opening the GPU", __FILE__, __LINE__);
    cublasStatus_t b = CUBLAS_STATUS_SUCCESS;
    if (!st) {
        b = cublasCreate(&s->blas);
        if (b == CUBLAS_STATUS_SUCCESS)
            b = cublasSetStream(s->blas, s->stream);
        if (b != CUBLAS_STATUS_SUCCESS)
            st = fr_cuda_fail_cublas(b, "cublasCreate", __FILE__, __LINE__);
    }
    if (!st)
        st = open_buffers(s, features);
    if (!st)
        st = upload_head(s, head);
    if (st) {
        cuda_close(s);
        return st;
    }
    *out = s;
    return FR_OK;
}

/* z (n x outputs) = batch (n x inputs) . W (inputs x outputs) */
static fr_status dense(cuda_learn *s, const float *batch, size_t n, float *z)
{
    const float one = 1.0f, zero = 0.0f;
    FR_CUBLAS_CHECK(cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, s->outputs, (int)n, s->inputs,
                                &one, s->params, s->outputs, batch, s->inputs, &zero, z,
                                s->outputs));
    return FR_OK;
}

static fr_status upload_rows(cuda_learn *s, const int32_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= s->count)
            return fr_fail(FR_E_INTERNAL, "training row %d of %zu", rows[i], s->count);
    FR_CUDA_CHECK(cudaMemcpyAsync(s->rows, rows, n * sizeof(int32_t), cudaMemcpyHostToDevice,
                                  s->stream));
    return fr_cu_gather_rows(s->stream, s->features, s->rows, n, (size_t)s->inputs, s->batch);
}

static fr_status cuda_forward(void *state, const int32_t *rows, size_t n, float *squared)
{
    cuda_learn *s = state;
    if (n > s->max_batch)
        return fr_fail(FR_E_INTERNAL, "batch of %zu over the planned %zu", n, s->max_batch);
    if (s->batch_norm && n < 2)
        return fr_fail(FR_E_INVALID, "batch norm needs batches of two or more");
    TRY(upload_rows(s, rows, n));
    TRY(dense(s, s->batch, n, s->z));
    const float *y = s->z;
    if (s->batch_norm) {
        TRY(fr_cu_batch_norm_train(s->stream, s->z, n, s->outputs,
                                   s->params + (size_t)s->inputs * s->outputs, s->epsilon,
                                   s->zhat, s->inv_std, s->y));
        y = s->y;
    }
    TRY(fr_cu_l2_rows(s->stream, y, n, s->outputs, s->e, s->norm));
    TRY(fr_cu_squared_distances(s->stream, s->e, n, s->outputs, s->squared));
    FR_CUDA_CHECK(cudaMemcpyAsync(squared, s->squared, n * n * sizeof(float),
                                  cudaMemcpyDeviceToHost, s->stream));
    FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    s->n = n;
    return FR_OK;
}

static fr_status cuda_step(void *state, const fr_triplet *triplets, size_t count, float alpha,
                           double lr, double *loss, size_t *active)
{
    cuda_learn *s = state;
    size_t n = s->n;
    int d = s->outputs;
    if (count > s->max_batch * s->max_batch / 2)
        return fr_fail(FR_E_INTERNAL, "%zu triplets for a batch of %zu", count, n);
    /* fr_triplet is three int32 in a row: the device reads them as (count, 3) */
    FR_CUDA_CHECK(cudaMemcpyAsync(s->triplets, triplets, count * 3 * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, s->stream));
    FR_CUDA_CHECK(cudaMemsetAsync(s->coeff, 0, n * n * sizeof(float), s->stream));
    TRY(fr_cu_triplet_loss(s->stream, s->e, n, d, s->triplets, count, alpha, s->loss,
                           s->coeff));
    /* de (n x d) = scale * C (n x n) . e (n x d): the mean's gradient */
    const float scale = count ? 1.0f / (float)count : 0.0f, zero = 0.0f, one = 1.0f;
    FR_CUBLAS_CHECK(cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, d, (int)n, (int)n, &scale,
                                s->e, d, s->coeff, (int)n, &zero, s->de, d));
    /* through the L2 normalization (into y's buffer: y is not needed again) */
    TRY(fr_cu_l2_backward(s->stream, s->e, s->norm, s->de, n, d, s->y));
    if (s->batch_norm)
        TRY(fr_cu_batch_norm_backward(s->stream, s->y, s->zhat, s->inv_std, n, d,
                                      s->grad + (size_t)s->inputs * d));
    /* dW (inputs x d) = batch^T (inputs x n) . dz (n x d) */
    FR_CUBLAS_CHECK(cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, d, s->inputs, (int)n, &one,
                                s->y, d, s->batch, s->inputs, &zero, s->grad, d));
    s->step++;
    const fr_optimizer_options *o = &s->optimizer;
    TRY(fr_cu_optimizer_step(s->stream, o->kind == FR_OPTIMIZER_SGD ? 1 : 0, s->params, s->grad,
                             s->m, s->v, s->param_count, s->step, lr, o->momentum, o->beta1,
                             o->beta2, o->epsilon, o->weight_decay));
    FR_CUDA_CHECK(cudaMemcpyAsync(s->host_loss, s->loss, count * sizeof(double),
                                  cudaMemcpyDeviceToHost, s->stream));
    FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    double sum = 0;
    size_t open = 0;
    for (size_t i = 0; i < count; i++) { /* in order, as the CPU sums */
        sum += s->host_loss[i];
        open += s->host_loss[i] > 0;
    }
    *loss = sum;
    *active = open;
    return FR_OK;
}

static fr_status cuda_embed(void *state, const int32_t *rows, size_t n, float *out)
{
    cuda_learn *s = state;
    for (size_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        size_t count = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        TRY(upload_rows(s, rows + r0, count));
        TRY(dense(s, s->batch, count, s->z));
        if (s->batch_norm)
            TRY(fr_cu_batch_norm_apply(s->stream, s->z, count, s->outputs, s->mean, s->variance,
                                       s->params + (size_t)s->inputs * s->outputs,
                                       s->epsilon));
        TRY(fr_cu_l2_rows(s->stream, s->z, count, s->outputs, s->z, NULL));
        FR_CUDA_CHECK(cudaMemcpyAsync(out + r0 * (size_t)s->outputs, s->z,
                                      count * (size_t)s->outputs * sizeof(float),
                                      cudaMemcpyDeviceToHost, s->stream));
        FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    }
    return FR_OK;
}

static fr_status cuda_statistics(void *state, const int32_t *rows, size_t n)
{
    cuda_learn *s = state;
    if (!s->batch_norm)
        return FR_OK;
    if (n == 0)
        return fr_fail(FR_E_INVALID, "batch norm statistics of no rows");
    size_t d = (size_t)s->outputs;
    double *host = fr_calloc(3 * d, sizeof(double), "batch norm statistics");
    float *stats = fr_malloc(2 * d * sizeof(float), "batch norm statistics");
    fr_status st = host && stats ? FR_OK : FR_E_NOMEM;
    /* as head.c: sums about the first chunk's mean */
    for (size_t r0 = 0; !st && r0 < n; r0 += CHUNK_ROWS) {
        size_t count = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        st = upload_rows(s, rows + r0, count);
        if (!st)
            st = dense(s, s->batch, count, s->z);
        if (!st && r0 == 0) {
            cudaError_t e = cudaMemsetAsync(s->moments, 0, 3 * d * sizeof(double), s->stream);
            if (e != cudaSuccess)
                st = fr_cuda_fail_runtime(e, "cudaMemsetAsync", __FILE__, __LINE__);
            /* the first chunk's sums about 0 give the shift */
            if (!st)
                st = fr_cu_column_moments(s->stream, s->z, count, (int)d, s->moments,
                                          s->moments + d, s->moments + 2 * d);
            if (!st) {
                e = cudaMemcpyAsync(host, s->moments + d, d * sizeof(double),
                                    cudaMemcpyDeviceToHost, s->stream);
                if (e == cudaSuccess)
                    e = cudaStreamSynchronize(s->stream);
                for (size_t j = 0; j < d; j++)
                    host[j] /= (double)count;
                if (e == cudaSuccess)
                    e = cudaMemcpyAsync(s->moments, host, d * sizeof(double),
                                        cudaMemcpyHostToDevice, s->stream);
                if (e == cudaSuccess)
                    e = cudaMemsetAsync(s->moments + d, 0, 2 * d * sizeof(double), s->stream);
                if (e != cudaSuccess)
                    st = fr_cuda_fail_runtime(e, "batch norm statistics", __FILE__, __LINE__);
            }
        }
        if (!st)
            st = fr_cu_column_moments(s->stream, s->z, count, (int)d, s->moments,
                                      s->moments + d, s->moments + 2 * d);
    }
    if (!st) {
        cudaError_t e = cudaMemcpyAsync(host, s->moments, 3 * d * sizeof(double),
                                        cudaMemcpyDeviceToHost, s->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s->stream);
        if (e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "batch norm statistics", __FILE__, __LINE__);
    }
    if (!st) {
        for (size_t j = 0; j < d; j++) {
            double m = host[d + j] / (double)n, v = host[2 * d + j] / (double)n - m * m;
            stats[j] = (float)(host[j] + m);
            stats[d + j] = (float)(v > 0 ? v : 0);
        }
        cudaError_t e = cudaMemcpyAsync(s->mean, stats, d * sizeof(float),
                                        cudaMemcpyHostToDevice, s->stream);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(s->variance, stats + d, d * sizeof(float),
                                cudaMemcpyHostToDevice, s->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s->stream);
        if (e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "batch norm statistics", __FILE__, __LINE__);
    }
    free(host);
    free(stats);
    return st;
}

static fr_status cuda_read(void *state, fr_head *h)
{
    cuda_learn *s = state;
    FR_CUDA_CHECK(cudaMemcpyAsync(h->params, s->params, s->param_count * sizeof(float),
                                  cudaMemcpyDeviceToHost, s->stream));
    if (s->batch_norm) {
        FR_CUDA_CHECK(cudaMemcpyAsync(h->mean, s->mean, (size_t)s->outputs * sizeof(float),
                                      cudaMemcpyDeviceToHost, s->stream));
        FR_CUDA_CHECK(cudaMemcpyAsync(h->variance, s->variance,
                                      (size_t)s->outputs * sizeof(float),
                                      cudaMemcpyDeviceToHost, s->stream));
    }
    FR_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    return FR_OK;
}

static fr_status cuda_write(void *state, const fr_head *h)
{
    return upload_head(state, h);
}

const fr_learn_backend fr_cuda_learn_backend = {
    "cuda", cuda_open, cuda_forward, cuda_step, cuda_embed, cuda_statistics, cuda_read,
    cuda_write, cuda_close,
};
