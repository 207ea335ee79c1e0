/*
 * facerec.h: the public C API of facerec, a batch face-recognition engine.
 *
 * Images in, 128-d embeddings out (FaceNet-style: two faces belong to the same person when
 * their embeddings are close), and the verification / identification questions asked of
 * them in bulk. Nothing here names a CUDA type: the GPU backend is a run-time choice.
 *
 * Conventions
 *   - Every function that can fail returns an fr_status; on failure its outputs are left
 *     unchanged and fr_error_message() says why (one line, naming the file where there is one).
 *   - Every fr_*_new / *_load has a matching *_free that accepts NULL.
 *   - Images are RGB, 8 bits per channel, rows top to bottom, (height, width, 3) row-major.
 */
#ifndef FACEREC_H
#define FACEREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FR_VERSION_STRING "0.1.0"

typedef enum fr_status {
    FR_OK = 0,
    FR_E_INVALID,        /* a bad argument or option */
    FR_E_IO,             /* a file or directory could not be read or written */
    FR_E_FORMAT,         /* malformed content: image, weights file, .npy, database */
    FR_E_UNSUPPORTED,    /* well-formed but not supported (a JPEG variant, an architecture) */
    FR_E_TOO_LARGE,      /* over a size cap (decompression bomb) or an arithmetic overflow */
    FR_E_NOMEM,          /* an allocation failed */
    FR_E_MODEL_MISMATCH, /* embeddings or weights of another model */
    FR_E_NOT_FOUND,      /* a name, tensor or file that should exist does not */
    FR_E_DEVICE,         /* a CUDA, cuDNN or cuBLAS failure, or no usable GPU */
    FR_E_NO_FACE,        /* no face found in an image that needed one */
    FR_E_INTERNAL        /* a broken invariant: a bug */
} fr_status;

/* A short lower-case name for a status ("io error", "bad format", ...). */
const char *fr_status_name(fr_status status);

/* The detail of this thread's last failure: one line, e.g. "a.jpg: not a JPEG or PNG file".
 * Valid until the next failing call in the same thread. Never NULL. */
const char *fr_error_message(void);

/* ---- images ------------------------------------------------------------------------------ */

typedef struct fr_image {
    int width, height;
    uint8_t *pixels; /* (height, width, 3) RGB, owned */
} fr_image;

/* Limits applied while decoding. Zero fields take the defaults. */
typedef struct fr_decode_options {
    int64_t max_pixels; /* refuse images with more pixels than this (default 64 Mpx) */
    int min_side;       /* JPEG DCT scaling: decode at the smallest of 1/2, 1/4, 1/8 scale
                           whose shorter side is still >= this (the other TurboJPEG factors
                           measured slower than full size); 0 = always full size */
} fr_decode_options;

/* Decodes a JPEG or PNG file into 8-bit RGB (grayscale and CMYK converted, alpha dropped,
 * 16-bit scaled down). */
fr_status fr_image_load(const char *path, const fr_decode_options *options, fr_image *out);
fr_status fr_image_decode(const void *data, size_t size, const char *name,
                          const fr_decode_options *options, fr_image *out);
void fr_image_free(fr_image *image);

/* ---- models -------------------------------------------------------------------------------- */

typedef struct fr_model fr_model;

typedef enum fr_preprocess {
    FR_PREPROCESS_DEFAULT = 0, /* the model's own (from its weights file) */
    FR_PREPROCESS_SEED,        /* irv1: Keras load_img (PIL nearest) to 160, x/255 */
    FR_PREPROCESS_FACENET,     /* irv1: PIL bilinear to 160, per-image standardization */
    FR_PREPROCESS_FACEAPI,     /* dlib: pad to square, bilinear (TF) to 150, minus mean, /255 */
    FR_PREPROCESS_PIXELS,      /* pixels baseline: bilinear to the input size, x/255 */
    FR_PREPROCESS_ARCFACE,     /* arcface (ONNX): bilinear to 112, (x - 127.5) / 128, RGB */
    FR_PREPROCESS_RAW          /* arcface whose graph normalizes itself: RGB 0..255 as floats */
} fr_preprocess;

typedef struct fr_model_info {
    const char *arch;        /* "dlib", "irv1", "arcface", "pixels" */
    int input_size;          /* square input side in pixels */
    int embedding_size;      /* 128 for dlib and irv1; an imported model's own (512 for ArcFace) */
    fr_preprocess preprocess;
    float threshold;         /* default verification distance threshold (L2, normalized) */
    const char *source;      /* provenance: the file it was converted from */
    const char *source_sha256;
} fr_model_info;

/* Loads a weights file (.frw, written by `facerec convert`). */
fr_status fr_model_load(const char *path, fr_model **out);
/* The default weights file of a model: <dir>/<arch>.frw, where <dir> is $FACEREC_WEIGHTS_DIR,
 * else the first of the source tree's weights/ and the installed share/facerec/weights that
 * holds the file (buffer gets the last candidate when none does, for the error message). */
fr_status fr_model_default_path(const char *arch, char *buffer, size_t size);
/* The parameter-free baseline model "pixels": the image itself as the embedding. */
fr_status fr_model_new_pixels(int input_size, fr_model **out);
void fr_model_free(fr_model *model);
const fr_model_info *fr_model_get_info(const fr_model *model);
fr_status fr_model_set_preprocess(fr_model *model, fr_preprocess preprocess);
const char *fr_preprocess_name(fr_preprocess preprocess);
fr_status fr_preprocess_parse(const char *name, fr_preprocess *out);

/* Geometry of preprocessing: an image of any size to the model's input (input_size^2 * 3
 * bytes, uint8 RGB). Normalization (mean, scale, standardization) is the network's first op. */
fr_status fr_model_prepare_image(const fr_model *model, const fr_image *image, uint8_t *out);

/* ---- running a model --------------------------------------------------------------------- */

typedef enum fr_device { FR_DEVICE_AUTO = 0, FR_DEVICE_CPU, FR_DEVICE_CUDA } fr_device;
typedef enum fr_precision { FR_PRECISION_DEFAULT = 0, FR_PRECISION_FP32, FR_PRECISION_TF32,
                            FR_PRECISION_FP16 } fr_precision;

typedef struct fr_runner_options {
    fr_device device;
    fr_precision precision; /* CUDA only; the CPU computes in fp32 */
    int max_batch;          /* largest batch run() will be given (default 64) */
    int threads;            /* CPU threads (default: all cores) */
} fr_runner_options;

/* A model planned on a backend for batches up to max_batch. */
typedef struct fr_runner fr_runner;

fr_status fr_runner_new(const fr_model *model, const fr_runner_options *options, fr_runner **out);
void fr_runner_free(fr_runner *runner);
/* Which backend it runs on ("cpu" or "cuda") and, for CUDA, the precision in use. */
const char *fr_runner_backend(const fr_runner *runner);
fr_precision fr_runner_precision(const fr_runner *runner);
int fr_runner_max_batch(const fr_runner *runner);
/* A warning the caller should show (e.g. "GPU memory: batch 1024 did not fit, using 512"),
 * or NULL. */
const char *fr_runner_warning(const fr_runner *runner);
/* One line on how the backend runs the model (for CUDA: precision, batch, how many
 * convolutions took each cuDNN path, CUDA graphs), or "" where there is nothing to say. */
const char *fr_runner_describe(fr_runner *runner);
/* Runs n prepared images (n * input_size^2 * 3 bytes) and writes n raw network outputs
 * (n * embedding_size floats). Not L2-normalized: see fr_l2_normalize. */
fr_status fr_runner_run(fr_runner *runner, const uint8_t *inputs, int n, float *outputs);

/* Scales each of the n rows of length dim to unit L2 norm (a zero row stays zero). */
void fr_l2_normalize(float *rows, size_t n, size_t dim);

/* ---- devices ------------------------------------------------------------------------------- */

/* Whether this build has the CUDA backend, and how many GPUs it can use now. */
int fr_cuda_compiled(void);
int fr_cuda_device_count(void);
/* One line describing GPU `index` (name, memory, compute capability), or a reason. */
fr_status fr_cuda_describe(int index, char *buffer, size_t size);

const char *fr_device_name(fr_device device);
const char *fr_precision_name(fr_precision precision);

#ifdef __cplusplus
}
#endif

#endif /* FACEREC_H */
