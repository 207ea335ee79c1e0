/*
 * landmarks.h: 68 face landmarks (the iBUG 300-W points dlib's chips are made from) by
 * face-api's FaceLandmark68Net, on the faces the detector found, computed as face-api
 * computes them for a detection on a tensor image (DetectAllFaceLandmarksTask,
 * FaceLandmark68NetBase.postProcess, extendWithFaceLandmarks):
 *
 *   crop   the box (x1, y1, x2 - x1, y2 - y1) clipped to the image, then floored
 *          (Box.clipAtImageBorders): that region of the image
 *   input  padded to a square with zeros, centred, resized to 112x112 with TensorFlow's
 *          legacy bilinear rule (NetInput.toBatchTensor(112, true); image/resize.h's
 *          fr_resize_faceapi, rounded to 8 bits: the engine's networks take uint8)
 *   map    output k is (x, y) as a fraction of the padded square:
 *          x = (out_x * 112 - pad_x) / (w * s) * w + box x1, pad_x = |w - h| * s / 2 where
 *          w < h (else 0), s = 112 / max(w, h) (w, h: the crop's); y alike
 *
 * Coordinates are those of the image given (as fr_face's). One landmarker per thread (it
 * owns a runner and its buffers); several may share one loaded network.
 */
#ifndef FR_DETECT_LANDMARKS_H
#define FR_DETECT_LANDMARKS_H

#include <stdint.h>

#include "detect/detect.h"
#include "facerec.h"
#include "runtime/vision.h"

#define FR_LANDMARK68_COUNT 68

typedef struct fr_landmarks68 {
    float points[FR_LANDMARK68_COUNT][2]; /* (x, y) in image pixels */
} fr_landmarks68;

/* Loads a landmark68 weights file (weights/landmark68.frw, from weights/fetch.sh). */
fr_status fr_landmark68_load(const char *path, fr_model **out);

/* The region of a (width, height) image face-api cuts for a face (Box.clipAtImageBorders,
 * floored), and the frame that maps the outputs back. FR_E_NO_FACE when the box leaves no
 * pixel of the image. */
fr_status fr_landmark68_region(int width, int height, const fr_face *face, fr_crop_job *region,
                               fr_landmark_frame *frame);
/* The network input of one face: 112 x 112 x 3 uint8 into out, and its frame. */
fr_status fr_landmark68_input(const fr_image *image, const fr_face *face, uint8_t *out,
                              fr_landmark_frame *frame);
/* The 136 network outputs of a face -> its landmarks. */
void fr_landmark68_map(const fr_landmark_frame *frame, const float *outputs, fr_landmarks68 *out);

typedef struct fr_landmarker fr_landmarker;

/* A runner for `net` (which must outlive it) on an execution context (NULL: a CPU context of
 * its own), taking up to options->max_batch faces a run (0: 16) on a GPU, one on the CPU (so
 * results never depend on the batch). */
fr_status fr_landmarker_new(const fr_model *net, const fr_runner_options *options,
                            struct fr_exec *exec, fr_landmarker **out);
void fr_landmarker_free(fr_landmarker *landmarker);

/* Landmarks of n faces: faces[i] of images[i] into out[i] (host images and results). */
fr_status fr_landmarker_run(fr_landmarker *landmarker, const fr_image *const *images,
                            const fr_face *const *faces, int n, fr_landmarks68 *out);

/* The network over n prepared inputs in the context's memory (n x 112 x 112 x 3) into
 * outputs (n x 136 floats, context memory), in runs of the planned batch. */
fr_status fr_landmarker_forward(fr_landmarker *landmarker, const uint8_t *inputs, int n,
                                float *outputs);

#endif
