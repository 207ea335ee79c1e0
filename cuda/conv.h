/*
 * conv.h: one convolution node of one batch size, planned on cuDNN by one of four paths.
 *
 *   graph-fused   cuDNN graph (backend) API: conv -> + bias [-> + residual] [-> relu] as one
 *                 operation graph, written straight into the output view (a channel slice of
 *                 an Inception concatenation, or the residual tensor itself, in place)
 *   graph         cuDNN graph API: the convolution alone into a packed scratch tensor, then
 *                 our epilogue kernel (bias, residual, activation) writes the view
 *   legacy-fused  cudnnConvolutionBiasActivationForward (deprecated in cuDNN 9, still there)
 *   legacy        cudnnConvolutionForward into the packed scratch, then our epilogue
 *
 * The backend tries them in that order per node (FACEREC_CUDNN=graph|unfused|legacy narrows
 * the list for testing) and keeps the first that plans and runs. Engines that reduce in
 * reduced precision or use FFT / Winograd transforms are never chosen, so the error bounds of
 * docs/cuda.md hold; engines that compile kernels at run time (NVRTC) only where no
 * precompiled engine takes a node, and not at all with FACEREC_CUDNN_NVRTC=0.
 */
#ifndef FR_CUDA_CONV_H
#define FR_CUDA_CONV_H

#include <cudnn.h>
#include <stddef.h>

#include "kernels.h"

typedef enum fr_conv_path {
    FR_CONV_GRAPH_FUSED = 0,
    FR_CONV_GRAPH,
    FR_CONV_LEGACY_FUSED,
    FR_CONV_LEGACY,
    FR_CONV_PATHS
} fr_conv_path;

typedef struct fr_conv_spec {
    int n;                        /* batch */
    fr_cu_dtype dtype;            /* storage of x, y, w, bias, alpha */
    fr_precision precision;       /* FP32: no tensor cores at all; TF32; FP16 */
    fr_cu_view x;                 /* input, channels as the convolution sees them */
    fr_cu_view y;                 /* output */
    const void *w;                /* (y.c, kh, kw, x.c): cuDNN's NHWC "KRSC" filter layout */
    const void *bias, *alpha;     /* (y.c); alpha: PReLU slopes or NULL */
    int kh, kw, sh, sw, pt, pl, pb, pr;
    fr_activation act;
    int accumulate;               /* y = act(y + conv(x) + bias), y read and written in place */
} fr_conv_spec;

typedef struct fr_conv_plan fr_conv_plan;
typedef struct fr_plan_cache fr_plan_cache;

/* Plans `spec` on `path`. FR_E_UNSUPPORTED: the path does not apply to this node or no
 * engine takes it (the message says which); other statuses are failures. An engine needs at
 * most workspace_limit bytes of workspace. With a cache (plan_cache.h, or NULL), a graph path
 * first tries the node's record (its serialized plan, else its engine and knobs) and falls
 * back to the heuristics when that does not finalize; what the heuristics choose is recorded. */
fr_status fr_conv_plan_new(cudnnHandle_t handle, const fr_conv_spec *spec, fr_conv_path path,
                           size_t workspace_limit, fr_plan_cache *cache, fr_conv_plan **out);
/* The plan cache's key of a node: every field of the spec except its data pointers (whose
 * alignments count instead), the path, the workspace limit and whether engines compiled at
 * run time are admitted. No GPU needed. */
void fr_conv_plan_key(const fr_conv_spec *spec, fr_conv_path path, size_t workspace_limit,
                      int runtime_compilation, char *key, size_t size);
/* Whether the plan was rebuilt from a cache record rather than chosen by the heuristics. */
int fr_conv_plan_from_cache(const fr_conv_plan *plan);
/* Drops the plan's cache record (it failed its first run). */
void fr_conv_plan_uncache(fr_conv_plan *plan);
void fr_conv_plan_free(fr_conv_plan *plan);
size_t fr_conv_plan_workspace(const fr_conv_plan *plan);
/* Whether the plan writes the packed scratch (n, y.h, y.w, y.c) before its epilogue. */
int fr_conv_plan_needs_packed(const fr_conv_plan *plan);
fr_conv_path fr_conv_plan_path(const fr_conv_plan *plan);
/* Enqueues the convolution on the handle's stream (the epilogue on `stream`, the same one). */
fr_status fr_conv_plan_run(fr_conv_plan *plan, cudnnHandle_t handle, cudaStream_t stream,
                           void *workspace, void *packed);
const char *fr_conv_path_name(fr_conv_path path);

#endif
