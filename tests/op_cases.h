/*
 * op_cases.h: the one list of graph-operation test cases (model/graph.h) that every backend
 * runs: tests/test_ops.c (the CPU paths against a float64 interpreter) and
 * tests/test_cuda_ops.c (the CUDA backend against the CPU). Random weights and biases come
 * from the caller's generator, so each test draws its own values over the same structures.
 *
 * Most cases keep channel counts multiples of 8, as in every shipped network (cuDNN's fp16
 * tensor-core engines want them; the CUDA backend pads only the 3 input channels of the
 * first convolution). The cases that leave that shape say so in `cpu_only`, the reason a GPU
 * test prints when it passes them by.
 */
#ifndef FR_TEST_OP_CASES_H
#define FR_TEST_OP_CASES_H

#include <stdint.h>

#include "model/graph.h"

typedef struct fr_op_case {
    const char *what;
    /* builds the case onto the normalized input tensor x; returns the output tensor */
    int (*build)(fr_graph *g, int x, uint64_t *rng);
    int h, w;
    fr_norm_kind norm;
    int transpose;
    const char *cpu_only; /* NULL: every backend runs it; else why only the CPU does */
} fr_op_case;

extern const fr_op_case fr_op_cases[];
extern const int fr_op_case_count;
/* the normalization constants every case uses */
extern const float fr_op_case_mean[3], fr_op_case_scale[3];

/* A new graph of case c, finalized; *output its output tensor. NULL when it could not be
 * built (the graph's status says why). */
fr_graph *fr_op_case_graph(const fr_op_case *c, uint64_t *rng, int *output);

/* Builders, for tests that use one structure on its own (the planner's overlap check). */
int fr_op_views_residual(fr_graph *g, int x, uint64_t *rng);
/* c_out x kh x kw convolution of `in` (into `out` when out >= 0) with random weights */
int fr_op_conv(fr_graph *g, uint64_t *rng, const char *name, int in, int out, int c_out,
               int kh, int kw, int stride, fr_padding pad, fr_activation a);
/* depthwise k x k convolution (groups == channels) */
int fr_op_depthwise(fr_graph *g, uint64_t *rng, const char *name, int in, int out, int k,
                    int stride, fr_padding pad, fr_activation a);
/* random parameters in [-scale, scale] */
size_t fr_op_params(fr_graph *g, uint64_t *rng, size_t count, float scale);

#endif
