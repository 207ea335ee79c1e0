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

typedef struct fr_arch fr_arch;

struct fr_model {
    fr_model_info info;
    const fr_arch *entry;                /* its architecture's entry in the table */
    char *arch, *source, *source_sha256; /* owned strings behind info */
    fr_graph *graph;                     /* NULL for the pixels baseline */
};

/* The layer `facerec train` learns (learn/head.h): the network's last node, a dense layer from
 * the pooled features to the embedding, stored as a (features, embedding) kernel, with or
 * without a BatchNormalization(scale=False) after it. */
typedef struct fr_head_spec {
    const char *node;       /* the graph node (the last one) */
    const char *kernel;     /* tensor (features, embedding) */
    const char *bn_beta, *bn_mean, *bn_variance; /* tensors (embedding), NULL: no batch norm */
    double bn_epsilon;
} fr_head_spec;

/* How a detected face becomes the model's input (detect/align.h). */
typedef enum fr_chip_kind {
    FR_CHIP_DLIB,    /* dlib's chip: a similarity transform of landmarks onto dlib's mean face */
    FR_CHIP_FACENET, /* FaceNet's crop: the MTCNN box with a margin, resized */
    FR_CHIP_ARCFACE  /* InsightFace's: a similarity transform of 5 landmarks onto its template */
} fr_chip_kind;

/* Everything that differs between models lives in their entry: nothing outside this table
 * asks which architecture a model is. */
struct fr_arch {
    const char *name;
    int input_size;
    int embedding_size;           /* 0: the network's output decides (imported graphs) */
    fr_preprocess preprocess;     /* default: geometry of the resize and the normalization */
    unsigned preprocess_allowed;  /* bit mask of (1u << fr_preprocess) */
    float threshold;              /* default verification threshold on L2-normalized embeddings */
    fr_chip_kind chip;            /* the crop the network was trained on */
    int landmarks68;              /* 1: --align auto cuts the chip from face-api's 68 landmarks
                                     (dlib's own way); 0: from MTCNN's box and 5 points */
    int auto_tiny_size;           /* > 0: --detector auto for those 68-landmark chips is
                                     tiny+mtcnn at this input side, the detector the model's
                                     accuracy was gated with against MTCNN (docs/alignment.md,
                                     "The accuracy gate"); 0: MTCNN */
    /* Adds the network after the graph's normalize node (tensor `input`); returns the output
     * tensor or -1 with the error recorded. NULL: no network (the pixels baseline). */
    int (*build)(const fr_weights *weights, fr_graph *graph, int input);
    const char *obtain;           /* how a user gets the weights file, for "no weights" errors */
    int auxiliary;                /* 1: a helper network (face landmarks), not a recognition
                                     model: its outputs are not embeddings to compare */
    const fr_head_spec *head;     /* what `facerec train` can learn, or NULL */
};

/* The model the commands use when none is named. */
#define FR_ARCH_DEFAULT "dlib"

const fr_arch *fr_arch_find(const char *name);
/* Entry `index` of the table, or NULL past its end. */
const fr_arch *fr_arch_at(size_t index);
typedef enum fr_arch_set {
    FR_ARCHS_RECOGNITION, /* the models a user may name (--model): irv1, dlib, pixels */
    FR_ARCHS_IN_FILES     /* what a weights file may hold: those with a network */
} fr_arch_set;
/* The names of a set, in table order, joined by separator into buffer (returned). */
const char *fr_arch_names(char *buffer, size_t size, const char *separator, fr_arch_set set);

/* face-api's shared layers (faceapi_layers.c), for landmark68.c and tinyface.c: the tensor
 * PREFIX/WHAT of the given shape (NULL and g->status set when missing or of another shape),
 * and a depthwise-separable convolution: depthwise 3x3 (depthwise_filter (3, 3, c_in, 1), no
 * bias, stride `stride`) then pointwise 1x1 (pointwise_filter (1, 1, c_in, c_out)) + bias,
 * SAME, activation act; with residual >= 0 the pointwise output is added onto that tensor in
 * place (c_out must be its channels). */
const float *fr_faceapi_tensor(const fr_weights *w, fr_graph *g, const char *prefix,
                               const char *what, int ndim, const int64_t *dims);
int fr_faceapi_separable(const fr_weights *w, fr_graph *g, const char *prefix, int in,
                         int c_out, int stride, fr_activation act, int residual);

int fr_irv1_build(const fr_weights *weights, fr_graph *graph, int input);
int fr_dlib_build(const fr_weights *weights, fr_graph *graph, int input);
int fr_onnx_build(const fr_weights *weights, fr_graph *graph, int input); /* model/onnx.h */
extern const fr_head_spec fr_irv1_head, fr_dlib_head;
/* face-api's 68-point landmark network: 112x112 in, 136 out (x, y of each point). */
#define FR_LANDMARK68_SIZE 112
#define FR_LANDMARK68_OUTPUTS 136
int fr_landmark68_build(const fr_weights *weights, fr_graph *graph, int input);
/* face-api's TinyFaceDetector (tinyface.c): a square input of FR_TINYFACE_SIZE by default (any
 * multiple of 32 builds), out (side / 32, side / 32, 25): 5 anchors x (x, y, w, h, score). */
#define FR_TINYFACE_SIZE 416
#define FR_TINYFACE_ANCHORS 5
#define FR_TINYFACE_OUTPUTS 25
int fr_tinyface_build(const fr_weights *weights, fr_graph *graph, int input);

/* fr_model_load with the graph built for a size x size input (0: the architecture's). */
fr_status fr_model_load_sized(const char *path, int size, fr_model **out);

/* The normalize node's parameters for a preprocessing mode. */
void fr_preprocess_normalization(fr_preprocess preprocess, fr_norm_kind *kind, float mean[3],
                                 float scale[3]);

#endif
