/*
 * learn_kernels.cu: the kernels of the CUDA training backend. Reductions over a batch or a
 * column run in one block, in double, through a fixed tree in shared memory: the same inputs
 * give the same bits on every run (no atomics except the triplet coefficients, which are
 * small integers and sum exactly in any order).
 */
#include <math.h>

#include "check.h"
#include "learn_kernels.h"

#define THREADS 256
#define NORM_FLOOR 1e-10 /* learn/head.h's FR_HEAD_NORM_EPSILON */

namespace {

unsigned blocks_for(long long items)
{
    long long b = (items + THREADS - 1) / THREADS;
    if (b > 1048576)
        b = 1048576;
    return b > 0 ? (unsigned)b : 1u;
}

/* Sums one value per thread of a THREADS-wide block; every thread gets the total. */
__device__ double block_sum(double v, double *shared)
{
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    double total = shared[0];
    __syncthreads();
    return total;
}

__global__ void gather_rows(const float *features, const int32_t *rows, long long n,
                            long long width, float *out)
{
    long long total = n * width;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long r = i / width, c = i % width;
        out[i] = features[(long long)rows[r] * width + c];
    }
}

/* one block per column */
__global__ void batch_norm_train(const float *z, long long n, int d, const float *beta,
                                 double eps, float *zhat, float *inv_std, float *y)
{
    __shared__ double shared[THREADS];
    int j = blockIdx.x;
    double sum = 0;
    for (long long i = threadIdx.x; i < n; i += THREADS)
        sum += z[i * d + j];
    double mu = block_sum(sum, shared) / (double)n;
    double sq = 0;
    for (long long i = threadIdx.x; i < n; i += THREADS) {
        double x = z[i * d + j] - mu;
        sq += x * x;
    }
    double inv = 1.0 / sqrt(block_sum(sq, shared) / (double)n + eps);
    if (threadIdx.x == 0)
        inv_std[j] = (float)inv;
    for (long long i = threadIdx.x; i < n; i += THREADS) {
        float h = (float)((z[i * d + j] - mu) * inv);
        zhat[i * d + j] = h;
        y[i * d + j] = h + beta[j];
    }
}

__global__ void batch_norm_apply(float *y, long long n, int d, const float *mean,
                                 const float *variance, const float *beta, double eps)
{
    long long total = n * d;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int j = (int)(i % d);
        float inv = (float)(1.0 / sqrt((double)variance[j] + eps));
        y[i] = (y[i] - mean[j]) * inv + beta[j];
    }
}

/* one block per row */
__global__ void l2_rows(const float *y, int d, float *e, float *norm)
{
    __shared__ double shared[THREADS];
    const float *r = y + (long long)blockIdx.x * d;
    double sum = 0;
    for (int j = threadIdx.x; j < d; j += THREADS)
        sum += (double)r[j] * r[j];
    sum = block_sum(sum, shared);
    double s = sqrt(sum > NORM_FLOOR ? sum : NORM_FLOOR);
    float inv = (float)(1.0 / s);
    if (norm && threadIdx.x == 0)
        norm[blockIdx.x] = (float)s;
    float *out = e + (long long)blockIdx.x * d;
    for (int j = threadIdx.x; j < d; j += THREADS)
        out[j] = r[j] * inv;
}

/* one block per row */
__global__ void l2_backward(const float *e, const float *norm, const float *de, int d,
                            float *dy)
{
    __shared__ double shared[THREADS];
    long long base = (long long)blockIdx.x * d;
    double dot = 0;
    for (int j = threadIdx.x; j < d; j += THREADS)
        dot += (double)e[base + j] * de[base + j];
    float ed = (float)block_sum(dot, shared), inv = 1.0f / norm[blockIdx.x];
    for (int j = threadIdx.x; j < d; j += THREADS)
        dy[base + j] = (de[base + j] - e[base + j] * ed) * inv;
}

/* one block per column */
__global__ void batch_norm_backward(float *dy, const float *zhat, const float *inv_std,
                                    long long n, int d, float *dbeta)
{
    __shared__ double shared[THREADS];
    int j = blockIdx.x;
    double sum = 0, dot = 0;
    for (long long i = threadIdx.x; i < n; i += THREADS) {
        sum += dy[i * d + j];
        dot += (double)dy[i * d + j] * zhat[i * d + j];
    }
    sum = block_sum(sum, shared);
    dot = block_sum(dot, shared);
    if (threadIdx.x == 0)
        dbeta[j] = (float)sum;
    float mean = (float)(sum / (double)n), mean_dot = (float)(dot / (double)n);
    for (long long i = threadIdx.x; i < n; i += THREADS)
        dy[i * d + j] = inv_std[j] * (dy[i * d + j] - mean - zhat[i * d + j] * mean_dot);
}

__global__ void squared_distances(const float *e, long long n, int d, float *out)
{
    long long total = n * n;
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)gridDim.x * blockDim.x) {
        long long i = k / n, j = k % n;
        double sum = 0;
        if (i != j)
            for (int c = 0; c < d; c++) {
                double diff = (double)e[i * d + c] - e[j * d + c];
                sum += diff * diff;
            }
        out[k] = (float)sum;
    }
}

__global__ void triplet_loss(const float *e, long long n, int d, const int32_t *t,
                             long long count, float alpha, double *loss, float *coeff)
{
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < count;
         k += (long long)gridDim.x * blockDim.x) {
        long long a = t[3 * k], p = t[3 * k + 1], q = t[3 * k + 2];
        double ap = 0, an = 0;
        for (int c = 0; c < d; c++) {
            double x = (double)e[a * d + c] - e[p * d + c];
            double y = (double)e[a * d + c] - e[q * d + c];
            ap += x * x;
            an += y * y;
        }
        double hinge = ap - an + alpha;
        loss[k] = hinge > 0 ? hinge : 0;
        if (hinge > 0) {
            /* dL/da = 2(n - p), dL/dp = 2(p - a), dL/dn = 2(a - n) */
            atomicAdd(&coeff[a * n + q], 2.0f);
            atomicAdd(&coeff[a * n + p], -2.0f);
            atomicAdd(&coeff[p * n + p], 2.0f);
            atomicAdd(&coeff[p * n + a], -2.0f);
            atomicAdd(&coeff[q * n + a], 2.0f);
            atomicAdd(&coeff[q * n + q], -2.0f);
        }
    }
}

/* one block per column */
__global__ void column_moments(const float *z, long long n, int d, const double *shift,
                               double *sum, double *squares)
{
    __shared__ double shared[THREADS];
    int j = blockIdx.x;
    double s = 0, q = 0, c = shift[j];
    for (long long i = threadIdx.x; i < n; i += THREADS) {
        double x = z[i * d + j] - c;
        s += x;
        q += x * x;
    }
    s = block_sum(s, shared);
    q = block_sum(q, shared);
    if (threadIdx.x == 0) {
        sum[j] += s;
        squares[j] += q;
    }
}

__global__ void sgd_step(float *p, const float *grad, float *m, long long count, int first,
                         float rate, float mu, float wd)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x) {
        float g = grad[i] + wd * p[i];
        if (mu != 0.0f) {
            g = first ? g : mu * m[i] + g;
            m[i] = g;
        }
        p[i] -= rate * g;
    }
}

__global__ void adam_step(float *p, const float *grad, float *m, float *v, long long count,
                          float step_size, float root_c2, float b1, float b2, float eps,
                          float wd)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x) {
        float g = grad[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / root_c2 + eps);
    }
}

} // namespace

extern "C" fr_status fr_cu_gather_rows(cudaStream_t stream, const float *features,
                                       const int32_t *rows, size_t n, size_t width, float *out)
{
    gather_rows<<<blocks_for((long long)(n * width)), THREADS, 0, stream>>>(
        features, rows, (long long)n, (long long)width, out);
    FR_CUDA_LAUNCHED("gather_rows");
    return FR_OK;
}

extern "C" fr_status fr_cu_batch_norm_train(cudaStream_t stream, const float *z, size_t n, int d,
                                            const float *beta, double eps, float *zhat,
                                            float *inv_std, float *y)
{
    batch_norm_train<<<(unsigned)d, THREADS, 0, stream>>>(z, (long long)n, d, beta, eps, zhat,
                                                           inv_std, y);
    FR_CUDA_LAUNCHED("batch_norm_train");
    return FR_OK;
}

extern "C" fr_status fr_cu_batch_norm_apply(cudaStream_t stream, float *y, size_t n, int d,
                                            const float *mean, const float *variance,
                                            const float *beta, double eps)
{
    batch_norm_apply<<<blocks_for((long long)n * d), THREADS, 0, stream>>>(
        y, (long long)n, d, mean, variance, beta, eps);
    FR_CUDA_LAUNCHED("batch_norm_apply");
    return FR_OK;
}

extern "C" fr_status fr_cu_l2_rows(cudaStream_t stream, const float *y, size_t n, int d,
                                   float *e, float *norm)
{
    if (n == 0)
        return FR_OK;
    l2_rows<<<(unsigned)n, THREADS, 0, stream>>>(y, d, e, norm);
    FR_CUDA_LAUNCHED("l2_rows");
    return FR_OK;
}

extern "C" fr_status fr_cu_l2_backward(cudaStream_t stream, const float *e, const float *norm,
                                       const float *de, size_t n, int d, float *dy)
{
    if (n == 0)
        return FR_OK;
    l2_backward<<<(unsigned)n, THREADS, 0, stream>>>(e, norm, de, d, dy);
    FR_CUDA_LAUNCHED("l2_backward");
    return FR_OK;
}

extern "C" fr_status fr_cu_batch_norm_backward(cudaStream_t stream, float *dy, const float *zhat,
                                               const float *inv_std, size_t n, int d,
                                               float *dbeta)
{
    batch_norm_backward<<<(unsigned)d, THREADS, 0, stream>>>(dy, zhat, inv_std, (long long)n, d,
                                                              dbeta);
    FR_CUDA_LAUNCHED("batch_norm_backward");
    return FR_OK;
}

extern "C" fr_status fr_cu_squared_distances(cudaStream_t stream, const float *e, size_t n,
                                             int d, float *squared)
{
    squared_distances<<<blocks_for((long long)(n * n)), THREADS, 0, stream>>>(e, (long long)n, d,
                                                                             squared);
    FR_CUDA_LAUNCHED("squared_distances");
    return FR_OK;
}

extern "C" fr_status fr_cu_triplet_loss(cudaStream_t stream, const float *e, size_t n, int d,
                                        const int32_t *triplets, size_t count, float alpha,
                                        double *loss, float *coeff)
{
    if (count == 0)
        return FR_OK;
    triplet_loss<<<blocks_for((long long)count), THREADS, 0, stream>>>(
        e, (long long)n, d, triplets, (long long)count, alpha, loss, coeff);
    FR_CUDA_LAUNCHED("triplet_loss");
    return FR_OK;
}

extern "C" fr_status fr_cu_column_moments(cudaStream_t stream, const float *z, size_t n, int d,
                                          const double *shift, double *sum, double *squares)
{
    column_moments<<<(unsigned)d, THREADS, 0, stream>>>(z, (long long)n, d, shift, sum, squares);
    FR_CUDA_LAUNCHED("column_moments");
    return FR_OK;
}

extern "C" fr_status fr_cu_optimizer_step(cudaStream_t stream, int kind, float *params,
                                          const float *grad, float *m, float *v, size_t count,
                                          long step, double lr, double momentum, double beta1,
                                          double beta2, double epsilon, double weight_decay)
{
    unsigned blocks = blocks_for((long long)count);
    if (kind == 1) {
        sgd_step<<<blocks, THREADS, 0, stream>>>(params, grad, m, (long long)count, step == 1,
                                                 (float)lr, (float)momentum,
                                                 (float)weight_decay);
    } else {
        double c1 = 1.0 - pow(beta1, (double)step), c2 = 1.0 - pow(beta2, (double)step);
        adam_step<<<blocks, THREADS, 0, stream>>>(params, grad, m, v, (long long)count,
                                                  (float)(lr / c1), (float)sqrt(c2),
                                                  (float)beta1, (float)beta2, (float)epsilon,
                                                  (float)weight_decay);
    }
    FR_CUDA_LAUNCHED("optimizer_step");
    return FR_OK;
}
