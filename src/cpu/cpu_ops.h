/*
 * cpu_ops.h: the CPU kernels of the graph's operations, NHWC float32, over row ranges so a
 * caller can spread them across threads. A "row" is one output pixel row of one image
 * (n * h + y); views carry their root's channel stride.
 */
#ifndef FR_CPU_OPS_H
#define FR_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model/graph.h"

/* Where a tensor lives for a batch of n: base pointer of element (0,0,0,0) and row stride. */
typedef struct fr_cpu_view {
    float *data;   /* root storage + c_offset */
    int h, w, c;   /* view shape */
    int ld;        /* channels of the root: the distance between neighbouring pixels */
} fr_cpu_view;

void fr_cpu_normalize(const fr_node *node, const uint8_t *input, int in_h, int in_w,
                      const fr_cpu_view *out, int image);
void fr_cpu_pool_rows(const fr_node *node, const fr_cpu_view *in, const fr_cpu_view *out,
                      int row_begin, int row_end);
void fr_cpu_add_rows(const fr_node *node, const fr_cpu_view *a, const fr_cpu_view *b,
                     const fr_cpu_view *out, int row_begin, int row_end);
void fr_cpu_global_avg(const fr_cpu_view *in, const fr_cpu_view *out, int image);

/* Gathers output pixels [p_begin, p_end) (pixel p = (n * ho + y) * wo + x) of a convolution
 * into rows of kh * kw * c_in values, zeros where the window leaves the input. */
void fr_cpu_im2col(const fr_node *node, const fr_cpu_view *in, int ho, int wo, long p_begin,
                   long p_end, float *columns);
/* A depthwise convolution (groups == c) over output rows [row_begin, row_end): each output
 * pixel is its bias (plus itself when accumulating) plus the taps' products, channel by
 * channel, then the activation. taps: the node's weights as (kh * kw, c), tap-major, so the
 * channel loop reads input, weights and output contiguously. */
void fr_cpu_depthwise_rows(const fr_node *node, const float *taps, const float *params,
                           const fr_cpu_view *in, const fr_cpu_view *out, int row_begin,
                           int row_end);
/* Bias and activation over a (rows x cols) tile at c (stride ldc), channels from col0. */
void fr_cpu_epilogue(const fr_node *node, const float *params, float *c, int ldc, long rows,
                     int col0, int cols);

#endif
