/*
 * vision.h: the operations of face detection and alignment that are not network layers, as
 * a table per backend beside the network's (backend.h), and the execution context they and
 * the networks share.
 *
 * An execution context (fr_exec) is a backend's memory and its order of work: host memory
 * and the calling thread (plus a pool) on the CPU, device memory and one stream on a GPU.
 * Bulk data (pixels, network inputs and outputs, candidates, chip mappings) live in the
 * context's memory and never leave it between operations; what the host passes in are small
 * tables (which image, which size, where), and what comes back are counts. A runner's
 * run_on (backend.h) runs a network on the same context, so the detector's whole chain
 *
 *   pyramid levels of every image (resize_area) -> P-Net per level size over the batch ->
 *   cells over the threshold (pnet_cells) -> NMS per level, then per image (nms) ->
 *   crops of every candidate (crop_resize) -> R-Net -> scores (read_net) -> NMS -> crops ->
 *   O-Net -> scores and landmarks -> NMS
 *
 * and alignment's (landmark_crops -> the 68-point net -> landmark_transforms -> warp_chips,
 * or facenet_crops) run where the data is. The CPU implementation (src/cpu/cpu_vision.c) is
 * the reference: it is what the CPU backend runs, it is checked against facenet's and
 * face-api's own implementations by the detection and alignment tests, and every CUDA twin
 * (cuda/vision.c) is tested against it on random inputs (tests/test_cuda_vision.c). The
 * per-element arithmetic both share is runtime/vision_math.h.
 *
 * Operations that read images take the call's image table (nimages entries) and refer to its
 * images by index. Operations are ordered on the context: each may return before it is done
 * (on a GPU), and a download waits for everything before it. Host tables may be reused once
 * a call returns.
 */
#ifndef FR_RUNTIME_VISION_H
#define FR_RUNTIME_VISION_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

/* An image in context memory: (height, width, 3) RGB rows of width * 3 bytes. */
typedef struct fr_vision_image {
    const uint8_t *pixels;
    int width, height;
} fr_vision_image;

/* One MTCNN candidate (context memory), in detect_face's conventions: corners in 1-based
 * inclusive pixels during the stages, double as its float64 reference computes them. */
typedef struct fr_cand {
    double box[4];     /* x1, y1, x2, y2 */
    double score;      /* face probability of the last stage that saw it */
    double reg[4];     /* that stage's box regression */
    double points[10]; /* O-Net: landmarks x0..x4, y0..y4 (fractions, then image pixels) */
    int image, level;
} fr_cand;

/* A level of an image pyramid: image `image` resized to width x height (INTER_AREA) at byte
 * `offset` of the output. */
typedef struct fr_resize_job {
    int image;
    int width, height;
    size_t offset;
} fr_resize_job;

/* The P-Net output of one level: (xcells, ycells, 6) floats at `outputs` (the transposed
 * layout of mtcnn.h), its candidates from slot `first` of the candidate array (room for
 * xcells * ycells). */
typedef struct fr_pnet_job {
    int image, level;
    double scale;
    int xcells, ycells;
    size_t outputs, first;
} fr_pnet_job;

/* A run of candidates: [first, first + count). */
typedef struct fr_segment {
    size_t first;
    int count;
} fr_segment;

/* count candidates from index `from` of one array to index `to` of another. */
typedef struct fr_copy {
    size_t from, to;
    int count;
} fr_copy;

/* What happens to a candidate's box around an NMS (vision_math.h: fr_vm_box_step). */
typedef enum fr_box_step {
    FR_BOX_KEEP = 0,
    FR_BOX_PNET, /* P-Net's regression (sides without +1), squaring, truncation */
    FR_BOX_RNET, /* bbreg, squaring, truncation */
    FR_BOX_ONET  /* landmarks mapped from the box, then bbreg */
} fr_box_step;

typedef struct fr_nms_spec {
    double threshold;   /* suppress an overlap above this */
    int use_min;        /* overlap over the smaller area (else over the union) */
    int filter;         /* 1: first drop candidates whose score is not above min_score */
    double min_score;
    fr_box_step before; /* to every candidate kept by the filter, before the NMS */
    fr_box_step after;  /* to every pick */
    int continuous;     /* 1: boxes are continuous, x2 - x1 wide (face-api's iou); 0: 1-based
                           inclusive pixels, x2 - x1 + 1 (detect_face's) */
} fr_nms_spec;

/* The TinyFaceDetector output of one image: (cells, cells, 25) floats at `outputs`,
 * face-api's correction factors fx, fy (input side / the image's side scaled to it), its
 * candidates from slot `first` (room for cells * cells * 5). */
typedef struct fr_tiny_job {
    int image;
    int cells;
    double fx, fy;
    size_t outputs, first;
} fr_tiny_job;

/* A region of an image: the crop of the 68-point landmark net, or of FaceNet's aligner. */
typedef struct fr_crop_job {
    int image;
    int x, y, width, height;
} fr_crop_job;

/* Where a face's landmark input came from, to map the network's outputs back (face-api:
 * shifted by the unclipped box corner, scaled by the clipped, floored crop). */
typedef struct fr_landmark_frame {
    double box_x, box_y;
    int crop_w, crop_h;
} fr_landmark_frame;

#define FR_FIT_MAX 68

/* How a chip's similarity is fitted to the 68 landmarks. */
typedef enum fr_chip_fit {
    FR_FIT_DLIB = 0, /* dlib's: `count` landmarks (their indices into the 68) onto template
                        points, the mapping's rectangle as dlib's chip_details */
    FR_FIT_ARCFACE   /* InsightFace's norm_crop from the five points taken from the 68 */
} fr_chip_fit;

typedef struct fr_chip_template {
    fr_chip_fit fit;
    int count, size;
    int index[FR_FIT_MAX];
    double points[FR_FIT_MAX][2];
} fr_chip_template;

/* How a chip samples its image (image/warp.h). */
typedef enum fr_chip_sampler {
    FR_SAMPLE_DLIB = 0, /* dlib's extract_image_chip: truncated, a 2x2-mean pyramid for large faces */
    FR_SAMPLE_AFFINE    /* OpenCV's warpAffine: rounded, each neighbour outside counts black */
} fr_chip_sampler;

/* ---- the table a backend implements ------------------------------------------------------- */

typedef struct fr_vision_ops {
    const char *name;
    fr_status (*open)(int threads, void **state);
    void (*close)(void *state);
    fr_status (*alloc)(void *state, size_t bytes, void **ptr);
    void (*release)(void *state, void *ptr);
    fr_status (*upload)(void *state, void *dst, const void *src, size_t bytes);
    /* waits for the work before it */
    fr_status (*download)(void *state, void *dst, const void *src, size_t bytes);
    fr_status (*sync)(void *state);

    /* n pyramid levels into dst (OpenCV's INTER_AREA, uint8, as detect_face's imresample) */
    fr_status (*resize_area)(void *state, const fr_vision_image *images, int nimages,
                             const fr_resize_job *jobs, int n, uint8_t *dst);
    /* generateBoundingBox of n levels: the cells whose face probability is >= threshold, in
     * x-major order, from each job's slot on; counts[job] (host) */
    fr_status (*pnet_cells)(void *state, const float *outputs, const fr_pnet_job *jobs, int n,
                            double threshold, fr_cand *cands, int *counts);
    /* Greedy NMS of each segment: filter, step before, best score first (then position), the
     * picks in that order compacted at the segment's start, step after; kept[seg] (host) */
    fr_status (*nms)(void *state, fr_cand *cands, const fr_segment *segments, int n,
                     const fr_nms_spec *spec, int *kept);
    fr_status (*gather)(void *state, const fr_cand *src, const fr_copy *copies, int n,
                        fr_cand *dst);
    /* detect_face's pad() and crop of candidates [0, n) (zeros outside the image), resized to
     * size x size with INTER_AREA in float and rounded to 8 bits: n x size x size x 3 */
    fr_status (*crop_resize)(void *state, const fr_vision_image *images, int nimages,
                             const fr_cand *cands, int n, int size, uint8_t *out);
    /* scores, regressions (and with points, landmarks) of candidates [0, n) from a network's
     * outputs, `stride` floats per candidate (mtcnn.h's layout) */
    fr_status (*read_net)(void *state, fr_cand *cands, int n, const float *outputs, int stride,
                          int points);
    /* face-api's landmark input of n crops: zero-padded to a centred square, TensorFlow's
     * legacy bilinear to size x size, rounded (image/resize.h: fr_resize_faceapi) */
    fr_status (*landmark_crops)(void *state, const fr_vision_image *images, int nimages,
                                const fr_crop_job *jobs, int n, int size, uint8_t *out);
    /* n faces' landmark outputs (n x 136, fractions of a `input_size` square) mapped back by
     * their frames and fitted to the template: chip-to-image mappings m (n x 6 doubles) */
    fr_status (*landmark_transforms)(void *state, const float *outputs, int input_size,
                                     const fr_landmark_frame *frames, int n,
                                     const fr_chip_template *chip, double *m);
    /* n chips, chip k from image image_of[k] through m[6k..6k+6), by `sampler`; FR_E_INVALID
     * when a mapping is degenerate (not finite, no scale) */
    fr_status (*warp_chips)(void *state, const fr_vision_image *images, int nimages,
                            const int *image_of, const double *m, int n, int size,
                            fr_chip_sampler sampler, uint8_t *out);
    /* face-api's TinyFaceDetector input of n whole images (images[0..n)): zero-padded on the
     * right or at the bottom to a square, TensorFlow's legacy bilinear to size x size,
     * rounded (image/resize.h: fr_resize_faceapi_padded, centre 0): n x size x size x 3 */
    fr_status (*tiny_inputs)(void *state, const fr_vision_image *images, int n, int size,
                             uint8_t *out);
    /* TinyYolov2Base.extractBoxes of n images: every anchor of every cell (row, column,
     * anchor order) whose score is above threshold, box in fractions of the image
     * (vision_math.h: fr_vm_tiny_box), from each job's slot on; counts[job] (host) */
    fr_status (*tiny_boxes)(void *state, const float *outputs, const fr_tiny_job *jobs, int n,
                            double threshold, fr_cand *cands, int *counts);
    /* n FaceNet crops: each region resized to size x size with Pillow's bilinear filter */
    fr_status (*facenet_crops)(void *state, const fr_vision_image *images, int nimages,
                               const fr_crop_job *jobs, int n, int size, uint8_t *out);
} fr_vision_ops;

extern const fr_vision_ops fr_cpu_vision;
#ifdef FACEREC_HAVE_CUDA
extern const fr_vision_ops fr_cuda_vision;
#endif

/* ---- the execution context ---------------------------------------------------------------- */

typedef struct fr_exec fr_exec;

/* A context on `device` (auto: the GPU where there is one); threads: the CPU's pool (0: one
 * per core). */
fr_status fr_exec_new(fr_device device, int threads, fr_exec **out);
void fr_exec_free(fr_exec *exec);
const fr_vision_ops *fr_exec_ops(const fr_exec *exec);
void *fr_exec_state(const fr_exec *exec);
/* "cpu" or "cuda", as fr_runner_backend names a runner's */
const char *fr_exec_backend(const fr_exec *exec);

/* A growable buffer in context memory. */
typedef struct fr_exec_buffer {
    void *data;
    size_t capacity;
} fr_exec_buffer;

/* At least `bytes` in buf (contents not kept when it grows). */
fr_status fr_exec_reserve(fr_exec *exec, fr_exec_buffer *buf, size_t bytes, const char *what);
void fr_exec_buffer_free(fr_exec *exec, fr_exec_buffer *buf);
fr_status fr_exec_upload(fr_exec *exec, void *dst, const void *src, size_t bytes);
fr_status fr_exec_download(fr_exec *exec, void *dst, const void *src, size_t bytes);
fr_status fr_exec_sync(fr_exec *exec);

#endif
