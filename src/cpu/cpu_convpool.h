/*
 * cpu_convpool.h: a small-input convolution and the max pool after it in one pass (the CPU
 * primitives' STEP_CONVPOOL), so the convolution's map never leaves the cache.
 *
 * Why: MTCNN's P-, R- and O-Net start with a 3x3 convolution of the image with a PReLU of
 * per-channel slopes and a max pool. oneDNN 2.6's fast convolutions take no such PReLU, so
 * the primitives ran them as three passes over the full map (convolution, PReLU, pool:
 * cpu_primitives.c, build_conv); here each pooled row is made from the convolution rows under
 * it, computed and activated in a few kilobytes of scratch and pooled at once. Measured in
 * bench_detect (bench/RESULTS.md, issue 10): MTCNN 2-3 % less CPU an image. The same pass on
 * TinyFaceDetector's first layer (one slope: oneDNN's AVX-512 convolution applies it as a
 * post-op) was 3 % slower, so cpu_primitives.c fuses only the per-channel PReLU case.
 */
#ifndef FR_CPU_CONVPOOL_H
#define FR_CPU_CONVPOOL_H

#include <stddef.h>

#include "model/graph.h"

/* Whether node i, a convolution, and node i + 1, a max pool, run fused: a VALID stride-1
 * convolution (groups 1, no accumulation) of at most FR_CONVPOOL_MAX_TAPS taps
 * (kh * kw * c_in) and FR_CONVPOOL_MAX_CHANNELS outputs, on a root tensor,
 * pooled by a window of at most FR_CONVPOOL_MAX_POOL rows, whose output only
 * the pool reads (not the network's output), pooled into a root tensor. */
#define FR_CONVPOOL_MAX_TAPS 64
#define FR_CONVPOOL_MAX_CHANNELS 64
#define FR_CONVPOOL_MAX_POOL 8 /* pool window rows */
int fr_cpu_convpool_fusable(const fr_graph *g, int i);

/* Floats of scratch one fr_cpu_convpool call needs (64-byte aligned). */
size_t fr_cpu_convpool_scratch(const fr_graph *g, const fr_node *conv, const fr_node *pool);

/* conv then pool over n images: in is the convolution's input, dense nhwc float32; out the
 * pool's output, float32, dense in channel blocks of `block` (1: nhwc; c_out % block == 0
 * otherwise: oneDNN's nChw{block}c). The convolution's bias and activation, then the max
 * pool with its padding (which never wins the max); the same numbers as the two operations
 * apart up to the order of the convolution's sums (tests/test_convpool.c). */
void fr_cpu_convpool(const fr_graph *g, const fr_node *conv, const fr_node *pool,
                     const float *in, int n, float *out, int block, float *scratch);

#endif
