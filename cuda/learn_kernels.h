/*
 * learn_kernels.h: the GPU kernels of the CUDA training backend (learn.c), behind C. Matrices
 * are row-major float32 on the device (the GEMMs between them are cuBLAS calls in learn.c);
 * each mirrors a step of the CPU reference (learn/head.c, learn/triplet.c,
 * learn/optimizer.c), with its reductions in double and in a fixed order, so a run repeats
 * bit for bit.
 */
#ifndef FR_CUDA_LEARN_KERNELS_H
#define FR_CUDA_LEARN_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out (n x width) = features[rows[i]] */
fr_status fr_cu_gather_rows(cudaStream_t stream, const float *features, const int32_t *rows,
                            size_t n, size_t width, float *out);
/* Training-mode batch norm (scale=False) over columns of z (n x d): zhat = (z - mean) *
 * inv_std, y = zhat + beta, inv_std = 1 / sqrt(biased variance + eps). */
fr_status fr_cu_batch_norm_train(cudaStream_t stream, const float *z, size_t n, int d,
                                 const float *beta, double eps, float *zhat, float *inv_std,
                                 float *y);
/* Inference batch norm in place: y = (y - mean) / sqrt(variance + eps) + beta. */
fr_status fr_cu_batch_norm_apply(cudaStream_t stream, float *y, size_t n, int d,
                                 const float *mean, const float *variance, const float *beta,
                                 double eps);
/* e = y / max(|y|, sqrt(1e-10)) per row; norm (may be NULL) receives the divisor. e may be y. */
fr_status fr_cu_l2_rows(cudaStream_t stream, const float *y, size_t n, int d, float *e,
                        float *norm);
/* dy = (de - e (e . de)) / norm per row. */
fr_status fr_cu_l2_backward(cudaStream_t stream, const float *e, const float *norm,
                            const float *de, size_t n, int d, float *dy);
/* Batch norm backward in place: dy -> dz = inv_std (dy - mean(dy) - zhat mean(dy zhat));
 * dbeta = sum of dy over the batch. */
fr_status fr_cu_batch_norm_backward(cudaStream_t stream, float *dy, const float *zhat,
                                    const float *inv_std, size_t n, int d, float *dbeta);
/* squared (n x n) = |e_i - e_j|^2, summed in double. */
fr_status fr_cu_squared_distances(cudaStream_t stream, const float *e, size_t n, int d,
                                  float *squared);
/* Per triplet (anchor, positive, negative as 3 int32): loss[t] = max(|a-p|^2 - |a-n|^2 +
 * alpha, 0) (double), and for open hinges the gradient's coefficients added to coeff
 * (n x n, zeroed by the caller): dL/de = coeff . e. Coefficients are +-2 integers, so their
 * atomic sums are exact in any order. */
fr_status fr_cu_triplet_loss(cudaStream_t stream, const float *e, size_t n, int d,
                             const int32_t *triplets, size_t count, float alpha, double *loss,
                             float *coeff);
/* Column sums of z (n x d) about shift, added to sum and squares (double, d each). */
fr_status fr_cu_column_moments(cudaStream_t stream, const float *z, size_t n, int d,
                               const double *shift, double *sum, double *squares);
/* One optimizer update (optimizer.h's formulas): kind 0 adam, 1 sgd. */
fr_status fr_cu_optimizer_step(cudaStream_t stream, int kind, float *params, const float *grad,
                               float *m, float *v, size_t count, long step, double lr,
                               double momentum, double beta1, double beta2, double epsilon,
                               double weight_decay);

#ifdef __cplusplus
}
#endif

#endif
