/*
 * head.h: the layer `facerec train` learns, on top of features the rest of the network
 * computes once and keeps frozen (FaceNet-style fine-tuning of the last layer).
 *
 * The head is the network's last node: a dense layer from the pooled features f (inputs) to
 * the embedding, as its architecture's entry in the model table names it (fr_head_spec):
 *     dlib   e = f W                                  W: fc (256, 128), no bias
 *     irv1   e = BN(f W) = (f W - mean) / sqrt(var + eps) + beta
 *                                                     W: Bottleneck/kernel (1792, 128),
 *                                                     BatchNormalization(scale=False)
 * and the embedding the commands compare is e / |e| (L2-normalized, |e|^2 floored at 1e-10
 * as FaceNet's tf.nn.l2_normalize does).
 *
 * Training mode normalizes by the batch's own statistics (biased variance, as Keras and
 * PyTorch do); inference uses the population statistics (mean, variance), which the trainer
 * recomputes exactly over the training features (learn/train.h). The trainable parameters are
 * one vector: W (inputs x outputs, row-major: the weights file's layout) then, with batch
 * norm, beta (outputs).
 *
 * This file also holds the CPU reference of the head's forward and backward passes; the CUDA
 * backend (cuda/learn.c) is tested against it.
 */
#ifndef FR_LEARN_HEAD_H
#define FR_LEARN_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#define FR_HEAD_NORM_EPSILON 1e-10 /* the floor of |e|^2 in the L2 normalization */

typedef struct fr_head {
    int inputs, outputs;  /* feature and embedding sizes */
    int batch_norm;       /* 1: BatchNormalization(scale=False) after the dense layer */
    double epsilon;       /* batch norm's */
    float *params;        /* W (inputs x outputs), then beta (outputs) with batch norm */
    size_t param_count;
    float *mean, *variance; /* batch norm's population statistics (outputs), or NULL */
} fr_head;

fr_status fr_head_init(fr_head *head, int inputs, int outputs, int batch_norm, double epsilon);
fr_status fr_head_copy(fr_head *to, const fr_head *from);
void fr_head_free(fr_head *head);

static inline float *fr_head_kernel(const fr_head *h)
{
    return h->params;
}
static inline float *fr_head_beta(const fr_head *h)
{
    return h->batch_norm ? h->params + (size_t)h->inputs * h->outputs : NULL;
}

/* What a forward pass keeps for its backward pass, for batches up to max_batch. */
typedef struct fr_head_cache {
    size_t max_batch;
    float *z;        /* (batch, outputs): f W */
    float *zhat;     /* (batch, outputs): normalized by the batch (batch norm) */
    float *inv_std;  /* (outputs): 1 / sqrt(batch variance + eps) */
    float *y;        /* (batch, outputs): before the L2 normalization */
    float *norm;     /* (batch): |y| (floored) */
    float *e;        /* (batch, outputs): the embeddings */
    float *scratch;  /* (batch, outputs) */
} fr_head_cache;

fr_status fr_head_cache_init(fr_head_cache *cache, const fr_head *head, size_t max_batch);
void fr_head_cache_free(fr_head_cache *cache);

/* Training-mode forward of batch rows of features (batch x inputs): the embeddings land in
 * cache->e. A batch norm needs batch >= 2. */
fr_status fr_head_forward_train(const fr_head *head, const float *features, size_t batch,
                                fr_head_cache *cache);
/* Backward of the last training forward: grad_e (batch x outputs) = dL/de in, dL/dparams
 * written to grad (param_count floats; overwritten, not added). */
void fr_head_backward(const fr_head *head, const float *features, size_t batch,
                      fr_head_cache *cache, const float *grad_e, float *grad);
/* Inference: embeddings (n x outputs, L2-normalized) with the population statistics, of the
 * feature rows features[rows[i]] (rows NULL: the first n). */
fr_status fr_head_embed(const fr_head *head, const float *features, const int32_t *rows,
                        size_t n, float *out);
/* The population statistics of f W over those feature rows (biased variance), into the
 * head's mean and variance. */
fr_status fr_head_statistics(fr_head *head, const float *features, const int32_t *rows,
                             size_t n);

/* The raw dense output f W of n rows (n x outputs), single-threaded: the one GEMM the others
 * use, exposed for the tests. */
void fr_head_dense(const fr_head *head, const float *features, size_t n, float *out);

#endif
