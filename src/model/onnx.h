/*
 * onnx.h: ONNX face-recognition models (InsightFace's iresnet and MobileFaceNet families).
 *
 * `facerec convert --from onnx` (convert_onnx.c) parses the model with protobuf-c, checks its
 * one image input (N x 3 x S x S, float, S the architecture's input size; N may be symbolic),
 * copies every float initializer as a weights tensor under its ONNX name and shape, and
 * writes the graph's nodes as a program: metadata "onnx.nodes" (how many), "onnx.node.<i>"
 * (one line per node, in the file's topological order), "onnx.input", "onnx.output".
 *
 * A program line is space-separated: the op, then key=value fields. Names are escaped so that
 * they hold no space, '=', ',' or '%' (fr_onnx_escape: %XX for those bytes and any outside
 * printable ASCII); lists are comma-separated.
 *
 *   conv out=Y in=X,W[,B] k=KH,KW s=SH,SW p=TOP,LEFT,BOTTOM,RIGHT g=GROUPS     (Conv)
 *   bn out=Y in=X,SCALE,BIAS,MEAN,VAR eps=E                                     (BatchNormalization)
 *   prelu out=Y in=X,SLOPE          relu out=Y in=X                             (PRelu, Relu)
 *   add|sub|mul|div out=Y in=A,B    (Add/Sub/Mul/Div: two activations (add only), or an
 *                                    activation and a constant, scalar or per channel)
 *   flatten out=Y in=X size=K       (Flatten axis 1; Reshape to (N, K), K -1 when unknown)
 *   dense out=Y in=X,W[,B] t=T      (Gemm: T = transB, W (M, K) when 1, (K, M) when 0;
 *                                    MatMul by a constant: T = 0)
 *   min|max out=Y in=X,C            (an activation and a scalar constant: TensorFlow's
 *                                    Minimum/Maximum, ReLU6 as relu, min 6, max 0)
 *   gap out=Y in=X                  (GlobalAveragePool)
 *   identity out=Y in=X             (Dropout in inference, Identity)
 *
 * Shape, Gather, Unsqueeze and Concat over shapes (torch's x.view(x.size(0), -1) with a
 * symbolic batch) are evaluated by the converter, the batch kept symbolic, and only the
 * Reshape they feed becomes a line.
 *
 * TensorFlow.js graph models (`convert --from tfjs model.json`, convert_tfjs.c) are lowered to
 * the same program, their filters permuted to ONNX's layout and SAME padding made explicit.
 *
 * fr_onnx_build (onnx_build.c) maps the program onto the engine's graph when the file is
 * loaded: BN, constant scales and offsets fold into the convolution or dense layer before
 * them, ReLU/PReLU fuse into it, a dense layer after a flatten becomes a convolution over
 * the whole (h, w) input with its weights permuted from ONNX's CHW order to the engine's
 * HWC, and what cannot fold (a BN or activation after a residual add, a BN before a padded
 * convolution, as in iresnet's blocks) is a per-channel 1x1 depthwise convolution, which
 * every backend runs. Grouped convolutions other than depthwise become one convolution per
 * group on channel slices (views) of the input, writing slices of one output.
 */
#ifndef FR_MODEL_ONNX_H
#define FR_MODEL_ONNX_H

#include <stddef.h>

#include "model/graph.h"
#include "model/weights.h"

/* Most nodes a program may have: a bound on what a file makes the loader allocate. */
#define FR_ONNX_MAX_NODES 20000

/* Escapes name into out (size bytes, NUL-terminated); returns 0 if it did not fit. */
int fr_onnx_escape(const char *name, char *out, size_t size);

/* The architecture builder (fr_arch.build) of models imported from ONNX. */
int fr_onnx_build(const fr_weights *weights, fr_graph *graph, int input);

#endif
