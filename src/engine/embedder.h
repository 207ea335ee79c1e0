/*
 * embedder.h: the batch engine: image files in, embeddings out, in input order.
 *
 *   decode threads (libjpeg-turbo / libpng) -> preprocessing to the model's input (uint8)
 *   -> a ring of batch buffers -> the runner (CPU or CUDA) -> L2 normalization -> the sink
 *
 * Decoding runs ahead of the network by up to FR_EMBED_BUFFERS batches, so the network
 * never waits for a batch the CPUs could have had ready. An image that cannot be decoded is
 * reported to the sink with its error and the batch goes on without it.
 *
 * With alignment (detect/), the decode threads also find the faces (MTCNN, a few images
 * at a time) and cut each into the crop the model was trained on (detect/chips.h): dlib chips
 * from face-api's 68 landmarks (run over the faces of those images together) or from MTCNN's
 * 5, FaceNet crops from MTCNN's box; an image yields its main face
 * (fr_faces_main by the face rule), or one result per face (all_faces), or, without a face,
 * an FR_E_NO_FACE result: never an embedding of something that is not a face.
 * That is the threads pipeline; the batched one (fr_pipeline below) detects and cuts a whole
 * batch at a time on the network's device, with the same results.
 *
 * With flip, every chip also goes through the network mirrored left-right, and its
 * embedding is the two outputs each L2-normalized, summed and normalized again (raw: the
 * mean of the two raw outputs): FaceNet's `--use_flipped_images`, one more network pass per
 * face (docs/alignment.md: what it gains on LFW, and what it costs). With jitter N, the
 * embedding is the mean of N jittered copies' raw outputs (dlib's num_jitters: turned,
 * scaled, moved, mirrored at random, deterministically seeded), N passes per face.
 */
#ifndef FR_ENGINE_EMBEDDER_H
#define FR_ENGINE_EMBEDDER_H

#include <stddef.h>

#include "detect/chips.h"
#include "detect/detect.h"
#include "facerec.h"

#define FR_EMBED_BUFFERS 3
#define FR_MAX_JITTER 1000

/* Where faces are found and cut (with alignment):
 *   threads  on the decode threads: each decodes a few inputs, detects their faces and cuts
 *            their chips on the CPU, while the main thread runs the network over whole
 *            batches (the fastest arrangement on CPU cores: every core runs every stage)
 *   batched  in stages: the decode threads only decode (up to FR_EMBED_BUFFERS batches ahead);
 *            then each batch as a whole, on one execution context of the network's device
 *            (runtime/vision.h): the detector over all its images (groups of up to
 *            FR_DETECT_PIXELS pixels), the chips of all its faces in one chipper call, the
 *            network over all its chips in runs of B, reading them where they were cut (on a
 *            GPU nothing but faces, counts and embeddings comes back to the host)
 *   auto     batched where the network runs on a GPU, threads on the CPU
 * Both give the same results (tests/test_pipeline.c). */
typedef enum fr_pipeline {
    FR_PIPELINE_AUTO = 0,
    FR_PIPELINE_THREADS,
    FR_PIPELINE_BATCHED
} fr_pipeline;

/* Decoded pixels the batched pipeline detects in one detector run (bounds its pyramid). */
#define FR_DETECT_PIXELS (64L << 20)

/* "auto", "threads", "batched" */
const char *fr_pipeline_name(fr_pipeline pipeline);
fr_status fr_pipeline_parse(const char *name, fr_pipeline *out);

typedef struct fr_embed_result {
    size_t index;           /* position in the input list */
    const char *path;
    fr_status status;       /* FR_OK, or why this input has no embedding */
    const char *error;      /* one line when status != FR_OK */
    const float *embedding; /* embedding_size floats when status == FR_OK */
    int face;               /* which face of the image (in the detector's order, best score
                               first); -1: the whole image was the input (no detection) */
    int face_count;         /* faces detected in the image (0 without detection) */
    const fr_face *box;     /* the face (box, score, landmarks; file pixels) when face >= 0 */
} fr_embed_result;

/* Called in input order for every input; a nonzero return stops the run (FR_E_INVALID). */
typedef int (*fr_embed_sink)(void *ctx, const fr_embed_result *result);

typedef struct fr_embedder_options {
    fr_runner_options runner;
    int decode_threads; /* 0: one per core */
    int raw;            /* 1: the network's output as is; 0: L2-normalized */
    int full_decode;    /* 1: never use JPEG DCT scaling */
    int progress;       /* 1: images/s and ETA on stderr */
    fr_align_mode align;
    int all_faces;      /* with alignment: one result per face instead of the main one */
    fr_face_rule face;  /* with alignment: which face is the main one */
    int face_index;     /* N > 0: face N - 1 in the detector's order instead (an image with
                           fewer faces has none: FR_E_NO_FACE) */
    const char *detector; /* the detector's weights (NULL: mtcnn.frw, or tinyface.frw for the
                             tiny detector, in the weights directory; tiny+mtcnn: tiny's, and
                             MTCNN's from the weights directory) */
    fr_detector_kind detector_kind; /* auto (default: the model's, fr_chip_spec_detector),
                                       MTCNN, face-api's TinyFaceDetector, or tiny refined by
                                       O-Net, MTCNN where no face is left */
    int detector_size;  /* the tiny detector's input side (0: auto's, else
                           FR_TINY_SIZE_DEFAULT) */
    double detector_threshold; /* the tiny detector's score threshold (0: FR_TINY_THRESHOLD) */
    const char *landmarks; /* landmark68 weights (NULL: landmark68.frw in the weights
                              directory), for 68-point alignment */
    int flip;           /* 1: average each chip's embedding with its mirror image's; a
                           runner batch of B then holds B / 2 chips and their mirrors (B is
                           planned as at least 2) */
    int jitter;         /* N > 0: each chip's embedding is the mean of N jittered copies'
                           (dlib's num_jitters; a batch holds B / N chips, B planned as at
                           least N); not with flip */
    fr_pipeline pipeline; /* with alignment: where faces are found and cut (above) */
    int gpu_decode;     /* 1: JPEGs decoded by nvJPEG (image/gpu_decode.h), one decoder shared
                           by the decode threads, a group of inputs per call; fr_embedder_new
                           fails where there is none. 0: libjpeg-turbo on each decode thread */
    struct fr_budget *decode_budget; /* the memory the decode threads' images may hold at once
                           (core/budget.h), shared with other embedders; NULL: one of its own,
                           of fr_budget_default_capacity (FACEREC_DECODE_MEMORY) */
} fr_embedder_options;

typedef struct fr_embedder fr_embedder;

fr_status fr_embedder_new(const fr_model *model, const fr_embedder_options *options,
                          fr_embedder **out);
void fr_embedder_free(fr_embedder *embedder);
const fr_runner *fr_embedder_runner(const fr_embedder *embedder);

/* Embeds the files in order. Returns FR_OK when the run completed (some inputs may have
 * failed: the sink saw each), or the fatal error that stopped it. */
fr_status fr_embed_files(fr_embedder *embedder, const char *const *paths, size_t count,
                         fr_embed_sink sink, void *ctx);
/* The same for images already decoded (RGB, borrowed: read, never changed or freed), which
 * names[i] labels in results and errors; their boxes are in the images' own pixels. */
fr_status fr_embed_images(fr_embedder *embedder, const fr_image *images,
                          const char *const *names, size_t count, fr_embed_sink sink, void *ctx);

#endif
