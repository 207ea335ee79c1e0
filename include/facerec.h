/*
 * facerec.h: the public C API of facerec, a batch face-recognition engine (libfacerec).
 *
 * Images in, 128-d embeddings out (FaceNet-style: two faces belong to the same person when
 * their embeddings are close), and the verification / identification questions asked of
 * them in bulk. Nothing here names a CUDA type: the GPU backend is a run-time choice.
 *
 * What a service needs, top to bottom:
 *   fr_model_open                  a recognition model, by name or weights file
 *   fr_engine_*                    images (files or decoded pixels) -> faces found, aligned,
 *                                  embedded; or faces detected only
 *   fr_distances_*                 distance matrices and the k nearest rows over embeddings
 *   fr_database_*                  the identity database: enrol, verify (1:1), identify (1:K)
 * and below them the pieces (images, models, runners) for callers with their own pipeline.
 *
 * Conventions
 *   - Every function that can fail returns an fr_status; on failure its outputs are left
 *     unchanged and fr_error_message() says why (one line, naming the file where there is one).
 *   - Every fr_*_new / *_load / *_open has a matching *_free / *_close that accepts NULL.
 *   - Images are RGB, 8 bits per channel, rows top to bottom, (height, width, 3) row-major.
 *   - Options structs: zero-initialize, then set what you need (zero fields take the
 *     defaults); a NULL options pointer means all defaults.
 *   - A handle is used by one thread at a time; different handles may run in different
 *     threads at once, and a model may be shared by engines (it is read-only once loaded).
 *
 * Stability (docs/library.md): everything declared here is the library's API; nothing else
 * is exported from libfacerec.so. Before 1.0 a minor release may change it, and the soname
 * says so (libfacerec.so.0.1 for 0.1.x); patch releases keep the ABI.
 */
#ifndef FACEREC_H
#define FACEREC_H

#include <stddef.h>
#include <stdint.h>

#include "facerec_version.h" /* FR_VERSION_MAJOR, _MINOR, _PATCH, FR_VERSION_STRING */

#if defined(__GNUC__)
#define FR_API __attribute__((visibility("default")))
#else
#define FR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library linked at run time ("0.1.0"), which may be newer than the
 * header's FR_VERSION_STRING. */
FR_API const char *fr_version(void);

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
FR_API const char *fr_status_name(fr_status status);

/* The detail of this thread's last failure: one line, e.g. "a.jpg: not a JPEG or PNG file".
 * Valid until the next failing call in the same thread. Never NULL. */
FR_API const char *fr_error_message(void);

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
FR_API fr_status fr_image_load(const char *path, const fr_decode_options *options,
                               fr_image *out);
FR_API fr_status fr_image_decode(const void *data, size_t size, const char *name,
                                 const fr_decode_options *options, fr_image *out);
FR_API void fr_image_free(fr_image *image);

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

/* A recognition model by name or file, as `facerec --model NAME --weights FILE` takes it:
 * name is an architecture ("dlib", "irv1", "pixels") or NULL, weights a .frw file or NULL.
 * A name alone loads that model's default weights file (fr_model_default_path), a file
 * alone whatever recognition model it holds, both the file after checking that it holds
 * that model; neither is the default model, dlib. A helper network's file (MTCNN, the
 * 68-point landmarks) is refused (FR_E_MODEL_MISMATCH). */
FR_API fr_status fr_model_open(const char *name, const char *weights, fr_model **out);
/* Loads a weights file (.frw, written by `facerec convert`), whatever network it holds. */
FR_API fr_status fr_model_load(const char *path, fr_model **out);
/* The default weights file of a model: <dir>/<arch>.frw, where <dir> is $FACEREC_WEIGHTS_DIR,
 * else the first of the source tree's weights/ and the installed share/facerec/weights that
 * holds the file (buffer gets the last candidate when none does, for the error message). */
FR_API fr_status fr_model_default_path(const char *arch, char *buffer, size_t size);
/* The parameter-free baseline model "pixels": the image itself as the embedding. */
FR_API fr_status fr_model_new_pixels(int input_size, fr_model **out);
FR_API void fr_model_free(fr_model *model);
FR_API const fr_model_info *fr_model_get_info(const fr_model *model);
FR_API fr_status fr_model_set_preprocess(fr_model *model, fr_preprocess preprocess);
FR_API const char *fr_preprocess_name(fr_preprocess preprocess);
FR_API fr_status fr_preprocess_parse(const char *name, fr_preprocess *out);

/* Geometry of preprocessing: an image of any size to the model's input (input_size^2 * 3
 * bytes, uint8 RGB). Normalization (mean, scale, standardization) is the network's first op. */
FR_API fr_status fr_model_prepare_image(const fr_model *model, const fr_image *image,
                                        uint8_t *out);

/* ---- running a model --------------------------------------------------------------------- */

typedef enum fr_device { FR_DEVICE_AUTO = 0, FR_DEVICE_CPU, FR_DEVICE_CUDA } fr_device;
/* CUDA: fp32, tf32 or fp16 (the default). CPU: fp32 (the default) or bf16 (where the CPU has
 * AVX512-BF16 or AMX; refused elsewhere, and on CUDA). */
typedef enum fr_precision { FR_PRECISION_DEFAULT = 0, FR_PRECISION_FP32, FR_PRECISION_TF32,
                            FR_PRECISION_FP16, FR_PRECISION_BF16 } fr_precision;

typedef struct fr_runner_options {
    fr_device device;
    fr_precision precision; /* CUDA: fp32, tf32, fp16; CPU: fp32, bf16 (tf32, fp16: fp32) */
    int max_batch;          /* largest batch run() will be given (default 64) */
    int threads;            /* CPU threads (default: all cores) */
} fr_runner_options;

/* A model planned on a backend for batches up to max_batch. */
typedef struct fr_runner fr_runner;

FR_API fr_status fr_runner_new(const fr_model *model, const fr_runner_options *options,
                               fr_runner **out);
FR_API void fr_runner_free(fr_runner *runner);
/* Which backend it runs on ("cpu" or "cuda") and, for CUDA, the precision in use. */
FR_API const char *fr_runner_backend(const fr_runner *runner);
FR_API fr_precision fr_runner_precision(const fr_runner *runner);
FR_API int fr_runner_max_batch(const fr_runner *runner);
/* A warning the caller should show (e.g. "GPU memory: batch 1024 did not fit, using 512"),
 * or NULL. */
FR_API const char *fr_runner_warning(const fr_runner *runner);
/* One line on how the backend runs the model (for CUDA: precision, batch, how many
 * convolutions took each cuDNN path, CUDA graphs), or "" where there is nothing to say. */
FR_API const char *fr_runner_describe(fr_runner *runner);
/* Runs n prepared images (n * input_size^2 * 3 bytes) and writes n raw network outputs
 * (n * embedding_size floats). Not L2-normalized: see fr_l2_normalize. */
FR_API fr_status fr_runner_run(fr_runner *runner, const uint8_t *inputs, int n, float *outputs);

/* Scales each of the n rows of length dim to unit L2 norm (a zero row stays zero). */
FR_API void fr_l2_normalize(float *rows, size_t n, size_t dim);

/* ---- devices ------------------------------------------------------------------------------- */

/* Whether this build has the CUDA backend, and how many GPUs it can use now. */
FR_API int fr_cuda_compiled(void);
FR_API int fr_cuda_device_count(void);
/* One line describing GPU `index` (name, memory, compute capability), or a reason. */
FR_API fr_status fr_cuda_describe(int index, char *buffer, size_t size);

FR_API const char *fr_device_name(fr_device device);
FR_API const char *fr_precision_name(fr_precision precision);

/* ---- the embedding engine: images in, faces found and aligned, embeddings out ------------ */

typedef enum fr_alignment {
    FR_ALIGNMENT_AUTO = 0,   /* the model's own way (dlib: its chip from 68 landmarks; irv1:
                                FaceNet's crop of MTCNN's box); an image of exactly the
                                model's input size is taken as a chip already */
    FR_ALIGNMENT_NONE,       /* no detection: the whole image, resized */
    FR_ALIGNMENT_MTCNN,      /* detect every image; chips from MTCNN's box and 5 landmarks */
    FR_ALIGNMENT_LANDMARKS68 /* detect every image; dlib chips from face-api's 68 landmarks */
} fr_alignment;

typedef enum fr_face_selection {
    FR_FACES_LARGEST = 0, /* each image's largest face */
    FR_FACES_CENTRAL,     /* FaceNet's rule: the largest, unless another is much nearer the
                             image's centre (LFW's subject is centred) */
    FR_FACES_ALL          /* every face: one result per face */
} fr_face_selection;

typedef enum fr_face_detector {
    FR_FACE_DETECTOR_AUTO = 0,  /* the model's (the default): tiny+MTCNN at 192 for dlib's chips
                                   from the 68 landmarks (the detector its accuracy was gated
                                   with, docs/alignment.md), MTCNN for the other models and for
                                   FR_ALIGNMENT_MTCNN; an engine without a model takes dlib's */
    FR_FACE_DETECTOR_MTCNN,     /* MTCNN: boxes and 5 landmarks */
    FR_FACE_DETECTOR_TINY,      /* face-api's TinyFaceDetector: boxes only, faster on the CPU;
                                   its chips need the 68 landmarks (FR_ALIGNMENT_LANDMARKS68,
                                   or AUTO for dlib) and its faces' landmarks are NaN */
    FR_FACE_DETECTOR_TINY_MTCNN /* tiny's boxes refined by MTCNN's O-Net (5 landmarks), and
                                   MTCNN for the images left without a face */
} fr_face_detector;

typedef struct fr_engine_options {
    fr_device device;          /* the recognition network's (detection runs on the CPU cores) */
    fr_precision precision;    /* CUDA only */
    int max_batch;             /* images per network batch (0: the backend's default) */
    int threads;               /* CPU threads: decoding, detection, the CPU backend (0: all) */
    fr_alignment alignment;
    fr_face_selection faces;
    int flip;                  /* 1: each face's embedding averaged with its mirror image's */
    int raw;                   /* 1: the network's output as is (0: L2-normalized) */
    const char *detector;      /* the face detector's weights (NULL: mtcnn.frw, or tinyface.frw
                                  for the tiny detector, in the weights directory; tiny+MTCNN:
                                  tiny's, MTCNN's from the weights directory) */
    const char *landmarks;     /* 68-point weights (NULL: landmark68.frw there) */
    fr_face_detector face_detector; /* for embedding and detecting (docs/alignment.md) */
    int detector_size;         /* the tiny detector's input side, a multiple of 32 from 128 to
                                  608 (0: auto's 192, else 416, face-api's; 192-256 suit
                                  LFW-size images) */
    double detector_threshold; /* the tiny detector's score a face must pass (0: 0.5) */
} fr_engine_options;

/* A face: box and landmarks in pixels of the image given (of the file, for a path). */
typedef struct fr_face_box {
    float x1, y1, x2, y2;   /* the box corners */
    float score;            /* MTCNN's face probability */
    float landmarks[5][2];  /* (x, y) pixel centres: the eye on the image's left, the other
                               eye, the nose tip, the mouth corner on the left, the other */
} fr_face_box;

/* One row of results. */
typedef struct fr_result {
    size_t input;         /* the input it belongs to (index into the paths or images given) */
    fr_status status;     /* FR_OK, or why this input has no face or embedding */
    const char *error;    /* one line naming the input when status != FR_OK, else "" */
    int face;             /* which face of the image (the detector's order, best score
                             first); -1: the whole image (no detection), or no face */
    int face_count;       /* faces found in the image (0 without detection) */
    fr_face_box box;      /* the face, when face >= 0 */
} fr_result;

typedef struct fr_results {
    size_t count;         /* rows, in input order */
    size_t dim;           /* floats per embedding; 0 for detection */
    fr_result *rows;
    float *embeddings;    /* count x dim, row i for rows[i] (zeros where status != FR_OK) */
} fr_results;

FR_API void fr_results_free(fr_results *results);

/* A model planned on its device with its alignment, for many calls. The model must outlive
 * it. model == NULL: an engine that only detects. */
typedef struct fr_engine fr_engine;

FR_API fr_status fr_engine_new(const fr_model *model, const fr_engine_options *options,
                               fr_engine **out);
FR_API void fr_engine_free(fr_engine *engine);
/* "cpu" or "cuda": where the recognition network runs ("cpu" for a detecting engine). */
FR_API const char *fr_engine_backend(const fr_engine *engine);

/* Embeds JPEG/PNG files, or images already decoded (borrowed, not changed). One row per
 * input in input order, or with FR_FACES_ALL one per face (an image without one is a single
 * FR_E_NO_FACE row). An input that cannot be read or has no face is a row with its status
 * and message, not a failed call: the call fails (nothing written to *out) only when the
 * run cannot go on (out of memory, a device failure). Free *out with fr_results_free. */
FR_API fr_status fr_engine_embed_files(fr_engine *engine, const char *const *paths,
                                       size_t count, fr_results **out);
FR_API fr_status fr_engine_embed_images(fr_engine *engine, const fr_image *images,
                                        size_t count, fr_results **out);

/* Finds the faces (MTCNN; files decoded at full size). One row per face, best score first;
 * an image without a face is one row with face = -1, face_count = 0 and FR_OK; an input that
 * cannot be read is one row with its status. dim is 0. */
FR_API fr_status fr_engine_detect_files(fr_engine *engine, const char *const *paths,
                                        size_t count, fr_results **out);
FR_API fr_status fr_engine_detect_images(fr_engine *engine, const fr_image *images,
                                         size_t count, fr_results **out);

/* ---- distances over embeddings ------------------------------------------------------------ */

/* L2 distances in bulk through GEMM: d^2 = |a|^2 + |b|^2 - 2 a.b (float32: ~1e-3 absolute
 * at distance 0, ~1e-6 at the distances faces are told apart by). */
typedef struct fr_distances_options {
    fr_device device;  /* auto: CUDA where a GPU is present */
    int threads;       /* CPU threads (0: all cores) */
} fr_distances_options;

typedef struct fr_distances fr_distances;

FR_API fr_status fr_distances_new(const fr_distances_options *options, fr_distances **out);
FR_API void fr_distances_free(fr_distances *distances);
FR_API const char *fr_distances_backend(const fr_distances *distances);

/* out (n x m, row-major) = the distances between the rows of a (n x dim) and b (m x dim);
 * b == NULL: a against itself (exactly symmetric, zero diagonal). */
FR_API fr_status fr_distances_matrix(fr_distances *distances, const float *a, size_t n,
                                     const float *b, size_t m, size_t dim, float *out);

/* For each probe, the k nearest gallery rows, nearest first (ties: the lower row), in
 * indices / distances [i * k .. i * k + k - 1]; labels (m values, or NULL): the k nearest
 * distinct labels instead, each at its nearest row. Fewer than k: index -1, INFINITY. Never
 * holds an n x m matrix. */
FR_API fr_status fr_distances_nearest(fr_distances *distances, const float *probes, size_t n,
                                      const float *gallery, size_t m, size_t dim,
                                      const int32_t *labels, size_t k, int64_t *indices,
                                      float *nearest);

/* ---- the identity database: enrol, verify (1:1), identify (1:K) ----------------------- */

/* An SQLite file of people and their embeddings, of one model (another model's embeddings
 * are refused: FR_E_MODEL_MISMATCH). Every change is one transaction. */
typedef struct fr_database fr_database;

typedef enum fr_database_mode {
    FR_DATABASE_READ = 0, /* match only; the file may be read-only */
    FR_DATABASE_WRITE,    /* an existing database, to change */
    FR_DATABASE_CREATE    /* an existing database, or a new one where the path is free */
} fr_database_mode;

FR_API fr_status fr_database_open(const char *path, fr_database_mode mode, fr_database **out);
FR_API void fr_database_close(fr_database *database);

/* Adds count embeddings (count x the model's embedding size) of the people names[i] (new
 * ones are created), each from the image sources[i] (NULL: no sources), in one transaction:
 * all or nothing. Names: non-empty, at most 256 bytes, no control characters. */
FR_API fr_status fr_database_enroll(fr_database *database, const fr_model *model, size_t count,
                                    const char *const *names, const float *embeddings,
                                    const char *const *sources);

typedef struct fr_person_entry {
    const char *name;
    size_t embeddings;
    const char *created; /* ISO 8601, UTC */
} fr_person_entry;

/* Everyone, by name; the list stays valid until the next call on the database. */
FR_API fr_status fr_database_people(fr_database *database, const fr_person_entry **people,
                                    size_t *count);
/* Removes people and their embeddings: all of them, or (an unknown name) none. */
FR_API fr_status fr_database_remove(fr_database *database, const char *const *names,
                                    size_t count);
FR_API fr_status fr_database_rename(fr_database *database, const char *from, const char *to);

typedef enum fr_aggregation {
    FR_AGGREGATION_MIN = 0, /* a person's distance: to the nearest of their embeddings */
    FR_AGGREGATION_MEAN     /* to the L2-normalized mean of their embeddings */
} fr_aggregation;

typedef struct fr_match_options {
    float threshold;            /* a match: distance < threshold (0: the model's default) */
    fr_aggregation aggregation;
    fr_device device;           /* for the distances */
    int threads;
} fr_match_options;

/* One person, as an answer. The strings stay valid until the database changes or closes. */
typedef struct fr_candidate {
    const char *name;  /* NULL: an empty slot (fewer people than k) */
    const char *image; /* the source of their nearest embedding (FR_AGGREGATION_MIN), or NULL */
    float distance;    /* the person's distance (INFINITY for an empty slot) */
    int accepted;      /* distance < threshold: verified, or identified as this person */
} fr_candidate;

/* Verification: is probe i (count x the model's embedding size) the person names[i]?
 * out[i] answers. An unknown name fails the call (FR_E_NOT_FOUND, naming it). */
FR_API fr_status fr_database_verify(fr_database *database, const fr_model *model,
                                    const fr_match_options *options, const float *probes,
                                    size_t count, const char *const *names, fr_candidate *out);

/* Identification: the k nearest people of each probe, each once, nearest first, in
 * out[i * k .. i * k + k - 1]; probe i is out[i * k].name when that slot is accepted, and
 * nobody in the database otherwise. An empty database is FR_E_NOT_FOUND. */
FR_API fr_status fr_database_identify(fr_database *database, const fr_model *model,
                                      const fr_match_options *options, const float *probes,
                                      size_t count, size_t k, fr_candidate *out);

#ifdef __cplusplus
}
#endif

#endif /* FACEREC_H */
