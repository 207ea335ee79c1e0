/*
 * model_internal.h: what a loaded model is, and the table of architectures.
 *
 * A model is its description (fr_model_info) and its graph, built by the architecture's
 * builder from a weights file. The builders (irv1.c, dlib.c, landmark68.c) look tensors up by
 * name, check every shape, and fold batch-norm and scales into the convolutions. The table
 * holds the recognition models and the alignment's landmark network (auxiliary: loaded by
 * detect/landmarks.c, refused by the commands that embed).
 */
#ifndef FR_MODEL_INTERNAL_H
#define FR_MODEL_INTERNAL_H

#include "facerec.h"
#include "model/graph.h"
#include "model/weights.h"

struct fr_model {
    fr_model_info info;
    char *arch, *source, *source_sha256; /* owned strings behind info */
    fr_graph *graph;                     /* NULL for the pixels baseline */
};

typedef struct fr_arch {
    const char *name;
    int input_size;
    int embedding_size;
    fr_preprocess preprocess;     /* default */
    unsigned preprocess_allowed;  /* bit mask of (1u << fr_preprocess) */
    float threshold;              /* default verification threshold on L2-normalized embeddings */
    /* Adds the network after the graph's normalize node (tensor `input`); returns the output
     * tensor or -1 with the error recorded. */
    int (*build)(const fr_weights *weights, fr_graph *graph, int input);
    int auxiliary;                /* 1: a helper network (face landmarks), not a recognition
                                     model: its outputs are not embeddings to compare */
} fr_arch;

const fr_arch *fr_arch_find(const char *name);

int fr_irv1_build(const fr_weights *weights, fr_graph *graph, int input);
int fr_dlib_build(const fr_weights *weights, fr_graph *graph, int input);
/* face-api's 68-point landmark network: 112x112 in, 136 out (x, y of each point). */
#define FR_LANDMARK68_SIZE 112
#define FR_LANDMARK68_OUTPUTS 136
int fr_landmark68_build(const fr_weights *weights, fr_graph *graph, int input);

/* The normalize node's parameters for a preprocessing mode. */
void fr_preprocess_normalization(fr_preprocess preprocess, fr_norm_kind *kind, float mean[3],
                                 float scale[3]);

#endif
