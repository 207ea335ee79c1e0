/*
 * graph.h: a network described once, as data, and executed by every backend.
 *
 * A graph is a list of nodes in execution order over tensors of per-image shape (h, w, c),
 * stored NHWC. A tensor is either a root, with storage of its own, or a channel slice of a
 * root ("view"): the branches of an Inception block write their slices of the concatenation
 * directly, so concatenation costs nothing. Architecture builders (irv1.c, dlib.c) fold
 * batch-norm and per-channel scales into the convolution weights while they build, so a
 * backend sees only convolutions with a bias, pools, adds and one input normalization.
 *
 * Memory is planned once (fr_graph_finalize): every root tensor gets an offset in one arena,
 * reused between tensors whose lifetimes do not overlap. Offsets are in elements per image;
 * a batch of n lays root r out as (n, h, w, c_root) at arena + n * offset.
 */
#ifndef FR_MODEL_GRAPH_H
#define FR_MODEL_GRAPH_H

#include <stddef.h>
#include <stdio.h>

#include "facerec.h"

#define FR_NO_PARAM ((size_t)-1)
#define FR_INPUT (-1) /* the uint8 network input, as a node operand */

typedef enum fr_op_kind {
    FR_OP_NORMALIZE,  /* uint8 input -> float32: affine per channel, or per-image standardization */
    FR_OP_CONV,       /* convolution with bias; dense layers are convolutions over the whole input;
                         groups == c_in == c_out: depthwise (channel k from input channel k) */
    FR_OP_MAX_POOL,   /* padding never wins the max */
    FR_OP_AVG_POOL,   /* averages the in-bounds part of each window (TensorFlow semantics) */
    FR_OP_ADD,        /* out = act(in + in2), each operand zero-extended to out's shape */
    FR_OP_GLOBAL_AVG  /* (h, w, c) -> (1, 1, c) */
} fr_op_kind;

typedef enum fr_activation { FR_ACT_NONE = 0, FR_ACT_RELU, FR_ACT_PRELU } fr_activation;

typedef enum fr_norm_kind {
    FR_NORM_AFFINE,      /* y = (x - mean[c]) * scale[c] */
    FR_NORM_STANDARDIZE  /* y = (x - mean) / max(std, 1/sqrt(h*w*3)), per image (FaceNet) */
} fr_norm_kind;

typedef enum fr_padding { FR_PAD_VALID, FR_PAD_SAME } fr_padding;

typedef struct fr_tensor {
    int h, w, c;     /* per-image shape */
    int root;        /* tensor owning the storage (itself for a root) */
    int c_offset;    /* first channel of this view inside its root (0 for a root) */
    size_t offset;   /* roots: storage offset in the arena, elements per image (planner) */
    int first, last; /* roots: nodes that first and last touch it (planner) */
} fr_tensor;

typedef struct fr_node {
    fr_op_kind kind;
    char name[96];   /* the source layer's name, for dumps and errors */
    int in, in2, out;
    int kh, kw, stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    fr_activation act;
    int accumulate;  /* CONV: out = act(out + conv(in) + bias), in place (residual adds) */
    int groups;      /* CONV: 1, or c_in == c_out (depthwise: a separable convolution is a
                        depthwise CONV then a 1x1 CONV) */
    size_t weight;   /* CONV: (c_out, kh, kw, c_in / groups) floats at params + weight */
    size_t bias;     /* CONV: (c_out) */
    size_t alpha;    /* PRELU slopes: (c_out) */
    fr_norm_kind norm;
    float mean[3], scale[3];
    int transpose;   /* NORMALIZE: output (w, h) with x and y swapped (Caffe-converted nets) */
} fr_node;

typedef struct fr_graph {
    fr_tensor *tensors;
    int tensor_count, tensor_capacity;
    fr_node *nodes;
    int node_count, node_capacity;
    float *params;   /* all folded parameters, one 64-byte aligned allocation */
    size_t param_count, param_capacity;
    int input_h, input_w; /* uint8 (h, w, 3) input */
    int output;      /* the network's output tensor, (1, 1, dim) */
    size_t arena_size; /* elements per image (planner) */
    fr_status status;  /* sticky: the first failure while building */
} fr_graph;

fr_graph *fr_graph_new(int input_h, int input_w);
void fr_graph_free(fr_graph *graph);

/* Building. Each returns a tensor id (or FR_NO_PARAM / -1 after a failure, which is kept
 * in graph->status and reported by fr_graph_finalize). */
int fr_graph_tensor(fr_graph *g, int h, int w, int c);
int fr_graph_view(fr_graph *g, int root, int c_offset, int c);
/* Reserves n parameters (64-byte aligned) and returns their offset; pointers into params
 * are valid until the next reservation. */
size_t fr_graph_reserve(fr_graph *g, size_t n);

int fr_graph_normalize(fr_graph *g, fr_norm_kind norm, const float mean[3], const float scale[3],
                       int transpose);
/* A convolution writing into `out` (a tensor or view of the right shape), or into a new
 * tensor when out < 0. Padding follows TensorFlow: SAME pads (total) max((ceil(in/s)-1)*s +
 * k - in, 0), the smaller half first. */
int fr_graph_conv(fr_graph *g, const char *name, int in, int out, int c_out, int kh, int kw,
                  int stride_h, int stride_w, fr_padding padding, fr_activation act,
                  size_t weight, size_t bias);
/* The same with `groups` input and output channel groups, each convolved on its own. Every
 * backend runs groups == 1 and depthwise convolutions (groups == c_in == c_out, weights
 * (c, kh, kw, 1)); other groupings are refused here, so a graph that builds runs anywhere. */
int fr_graph_conv_grouped(fr_graph *g, const char *name, int in, int out, int c_out, int groups,
                          int kh, int kw, int stride_h, int stride_w, fr_padding padding,
                          fr_activation act, size_t weight, size_t bias);
/* The same with explicit padding (top, left, bottom, right), as ONNX gives it: the output is
 * (in + before + after - k) / stride + 1 on each axis. */
int fr_graph_conv_explicit(fr_graph *g, const char *name, int in, int out, int c_out, int groups,
                           int kh, int kw, int stride_h, int stride_w, const int pads[4],
                           fr_activation act, size_t weight, size_t bias);
/* A residual convolution: out = act(out + conv(in) + bias), out keeping its shape. */
int fr_graph_conv_accumulate(fr_graph *g, const char *name, int in, int out, int kh, int kw,
                             fr_padding padding, fr_activation act, size_t weight, size_t bias);
int fr_graph_pool(fr_graph *g, const char *name, fr_op_kind kind, int in, int out, int k,
                  int stride, fr_padding padding);
int fr_graph_add(fr_graph *g, const char *name, int a, int b, int h, int w, int c,
                 fr_activation act);
int fr_graph_global_avg(fr_graph *g, const char *name, int in);

/* Plans memory, checks shapes and operands; the graph is read-only afterwards. */
fr_status fr_graph_finalize(fr_graph *g, int output);

/* First-fit placement of `count` buffers in one arena: buffer i (size[i] bytes or elements,
 * any unit) is alive from node first[i] to node last[i] inclusive (first[i] < 0: no storage).
 * Returns the arena's size and each buffer's offset; buffers alive at the same node never
 * overlap. fr_graph_finalize places roots with it, the CPU primitives their buffers. */
size_t fr_graph_place(int count, const size_t *size, const int *first, const int *last,
                      size_t *offset);

/* Per-image multiply-adds x 2 of the convolutions (the FLOP count benchmarks report). */
double fr_graph_flops(const fr_graph *g);
/* One line per node: kind, name, shapes, kernel, stride, padding, activation. */
void fr_graph_dump(const fr_graph *g, FILE *out);

static inline const fr_tensor *fr_graph_root(const fr_graph *g, int tensor)
{
    return &g->tensors[g->tensors[tensor].root];
}

#endif
