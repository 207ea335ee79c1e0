/*
 * kernels.h: the CUDA kernels around cuDNN's convolutions, behind a C interface so the host
 * code (plain C, gcc) never sees CUDA C++.
 *
 * Tensors are NHWC in the storage type of the plan (fp32, or fp16 with fp32 arithmetic
 * inside every kernel). A view is the CPU backend's fr_cpu_view on the device: base pointer
 * of element (0, 0, 0, 0) of the view (its root + c_offset) and the root's channel count as
 * the distance between neighbouring pixels, so Inception branches read and write channel
 * slices in place. Each launch returns the launch status (check.h).
 */
#ifndef FR_CUDA_KERNELS_H
#define FR_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "facerec.h"
#include "model/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_cu_dtype { FR_CU_F32 = 0, FR_CU_F16 = 1 } fr_cu_dtype;

typedef struct fr_cu_view {
    void *data;  /* element (0, 0, 0, 0) of the view */
    int h, w, c; /* view shape, per image */
    int ld;      /* channels of the root: the distance between neighbouring pixels */
} fr_cu_view;

/* uint8 (n, in_h, in_w, 3) -> out (n, h, w, out.c >= 3): channels past 3 are written as zeros
 * (fp16 tensor cores want 8). FR_NORM_STANDARDIZE reads per-image statistics computed first
 * into stats (2 floats per image). */
fr_status fr_cu_normalize(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                          const uint8_t *input, int in_h, int in_w, int n, float *stats,
                          const fr_cu_view *out);
fr_status fr_cu_pool(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                     const fr_cu_view *in, const fr_cu_view *out, int n);
/* out = act(a + b), each operand zero outside its own shape. */
fr_status fr_cu_add(cudaStream_t stream, fr_cu_dtype dtype, fr_activation act,
                    const fr_cu_view *a, const fr_cu_view *b, const fr_cu_view *out, int n);
fr_status fr_cu_global_avg(cudaStream_t stream, fr_cu_dtype dtype, const fr_cu_view *in,
                           const fr_cu_view *out, int n);
/* The convolution epilogue where cuDNN did not fuse it: out = act(conv + bias [+ out]), conv
 * packed (n, out.h, out.w, out.c). alpha: PReLU slopes or NULL. */
fr_status fr_cu_epilogue(cudaStream_t stream, fr_cu_dtype dtype, fr_activation act,
                         int accumulate, const void *conv, const void *bias, const void *alpha,
                         const fr_cu_view *out, int n);
/* A depthwise convolution (the node's groups == channels) with its epilogue: out = act(bias +
 * sum over taps of in * taps [+ out]) per channel, fp32 arithmetic. taps: the weights as
 * (kh * kw, c) in the storage type (tap-major, so a thread's channels load as one vector);
 * bias, alpha (PReLU slopes, or NULL): (c). */
fr_status fr_cu_depthwise(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                          const fr_cu_view *in, const fr_cu_view *out, const void *taps,
                          const void *bias, const void *alpha, int n);
/* The network output view (n, h, w, c) -> dense float32 (n, h * w * c). */
fr_status fr_cu_to_float(cudaStream_t stream, fr_cu_dtype dtype, const fr_cu_view *in,
                         float *out, int n);
/* float32 -> the storage type, count elements (weights, once at plan time). */
fr_status fr_cu_convert(cudaStream_t stream, fr_cu_dtype dtype, const float *in, void *out,
                        size_t count);

#ifdef __cplusplus
}
#endif

#endif
