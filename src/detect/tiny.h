/*
 * tiny.h: face-api's TinyFaceDetector over batches of images (the `--detector tiny` of
 * detect.h's fr_detector), as vision operations and one network on an execution context:
 *
 *   tiny_inputs   every image padded on the right or at the bottom to a square, resized to the
 *                 network's side (TensorFlow's legacy bilinear, toBatchTensor(size, false))
 *   the network   model/tinyface.c, over the batch
 *   tiny_boxes    TinyYolov2Base.extractBoxes: sigmoid scores over the threshold, boxes from
 *                 the anchors, in fractions of the image
 *   nms           per image, IoU over 0.4 suppressed (face-api's nonMaxSuppression, continuous
 *                 boxes), best score first
 * The boxes come back in the image's pixels (FaceDetection: relativeBox times the image's
 * size). The detector gives no landmarks: fr_face.landmarks are NaN, and the chips that need
 * landmarks take face-api's 68 (chips.h).
 */
#ifndef FR_DETECT_TINY_H
#define FR_DETECT_TINY_H

#include "detect/detect.h"
#include "facerec.h"
#include "runtime/vision.h"

#define FR_TINY_IOU 0.4         /* TinyFaceDetector's IOU_THRESHOLD */
#define FR_TINY_THRESHOLD 0.5   /* TinyFaceDetectorOptions' default scoreThreshold */

typedef struct fr_tiny fr_tiny;

/* The network (fr_detector_load's, arch tinyface) on `exec` (which must outlive it);
 * threshold: score above which a box is kept; max_batch: images per run. */
fr_status fr_tiny_new(const fr_model *net, double threshold, const fr_runner_options *runner,
                      struct fr_exec *exec, fr_tiny **out);
void fr_tiny_free(fr_tiny *tiny);
/* Faces of n images in the context's memory; out[i] stays valid until the next call. */
fr_status fr_tiny_run_on(fr_tiny *tiny, const fr_vision_image *images, int n, fr_faces *out);

#endif
