/*
 * trained.h: a weights file split for training, and the trained weights file.
 *
 * fr_trained_open splits a model into its trunk (every node but the head: a model whose
 * "embedding" is the head's input, the pooled features, run by the usual engine with raw
 * outputs) and the head's parameters as the weights file stores them (learn/head.h).
 *
 * fr_trained_save writes a copy of the base file with the head's tensors replaced, so the
 * result is an ordinary .frw of the same architecture that every command loads with
 * --weights. Its metadata keeps the base's and adds the provenance:
 *   base_weights, base_weights_sha256   the base file's name and SHA-256
 *   base_source, base_source_sha256     what the base was converted from
 *   training_set, training_set_sha256   a description, and the digest of the images and
 *                                       their labels (`sha256sum`-style lines
 *                                       "<image sha256>  <person>/<file>", sorted)
 *   training                            the hyperparameters and results, as JSON
 *   trainer                             "facerec <version> train"
 *   threshold                           the best threshold on the validation pairs
 *   source_sha256                       SHA-256 of base_weights_sha256, training_set_sha256
 *                                       and the trained tensors' bytes: a new model key, so
 *                                       an identity database enrolled with the base model
 *                                       refuses this one (store.h), and the reverse
 * The file is written under a temporary name, loaded once to prove it builds, then renamed
 * into place (model/convert.h), so a failure leaves the output as it was.
 */
#ifndef FR_LEARN_TRAINED_H
#define FR_LEARN_TRAINED_H

#include "facerec.h"
#include "learn/head.h"

typedef struct fr_trained_base {
    fr_model *trunk;        /* the network without its head */
    fr_head head;           /* the head's parameters and statistics */
    char path[4096];
    char sha256[65];        /* of the base file */
    const char *arch;
    const char *head_name;  /* the graph node trained ("fc", "Bottleneck") */
} fr_trained_base;

/* Loads PATH and splits it. A model without a head the trainer knows (the landmark network,
 * MTCNN's) is FR_E_UNSUPPORTED with a message saying which can be trained. */
fr_status fr_trained_open(const char *path, fr_trained_base *out);
void fr_trained_close(fr_trained_base *base);

typedef struct fr_trained_provenance {
    const char *training_set;        /* e.g. "people/ (812 faces of 97 people)" */
    const char *training_set_sha256;
    const char *training;            /* JSON: hyperparameters and results */
    double threshold;                /* <= 0 or NaN: keep the base's */
} fr_trained_provenance;

fr_status fr_trained_save(const fr_trained_base *base, const fr_head *head,
                          const fr_trained_provenance *provenance, const char *output);

#endif
