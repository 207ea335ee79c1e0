/*
 * detect.h: face detection over batches of images: MTCNN (the default), or face-api's
 * TinyFaceDetector (detect/tiny.h) where the options give its network (options->tiny).
 *
 * The algorithm is facenet's detect_face() (src/align/detect_face.py): an image pyramid
 * (factor 0.709 from 12 / min_face), P-Net over every level, NMS, box regression, squaring;
 * R-Net on 24x24 crops of the candidates; O-Net on 48x48 crops, which adds five landmarks;
 * thresholds 0.6 / 0.7 / 0.7. A detector runs the stages of a batch of images together, as
 * vision operations and network runs on one execution context (runtime/vision.h; the CPU or
 * a GPU, the same code): every pyramid level in one resize, P-Net once per pyramid size
 * shared by the images (a graph per size, cached), R-Net and O-Net once over the candidates
 * of all of them, in batches, the NMS of every level and image in one call each.
 *
 * One detector per thread; several may share one fr_mtcnn (read-only weights).
 */
#ifndef FR_DETECT_DETECT_H
#define FR_DETECT_DETECT_H

#include "detect/mtcnn.h"
#include "facerec.h"

typedef struct fr_face {
    /* x1, y1, x2, y2 in pixels of the image given, as detect_face returns them (facenet's
     * align_dataset_mtcnn crops img[y1:y2, x1:x2] with them) */
    float box[4];
    float score; /* O-Net's face probability */
    /* (x, y), 0-based pixel centres: the eye on the image's left, the other eye, the nose
     * tip, the mouth corner on the image's left, the other mouth corner */
    float landmarks[5][2];
} fr_face;

enum { FR_EYE_LEFT, FR_EYE_RIGHT, FR_NOSE, FR_MOUTH_LEFT, FR_MOUTH_RIGHT };

typedef struct fr_detect_options {
    int min_face;          /* smallest face side searched, pixels (default 20, at least 12) */
    double thresholds[3];  /* face probability per stage (default 0.6, 0.7, 0.7) */
    double factor;         /* pyramid step (default 0.709) */
    /* Pyramid levels over this many pixels are skipped: faces smaller than
     * min_face * sqrt(width * height / max_level_pixels) are not searched in very large
     * images, which bounds P-Net's memory (about 56 bytes per level pixel). Default 2^21. */
    long max_level_pixels;
    /* device and precision; threads for the CPU (default 1: one detector per thread);
     * max_batch: images per P-Net run (default 4) */
    fr_runner_options runner;
    /* face-api's TinyFaceDetector (fr_tiny_load): when set, the detector is that network.
     * With `mtcnn` NULL it is all (FR_DETECTOR_TINY; min_face, thresholds, factor and
     * max_level_pixels are MTCNN's and unused: its faces have NaN landmarks); with `mtcnn`
     * given (FR_DETECTOR_TINY_MTCNN), tiny's boxes go to MTCNN's last stage as R-Net's do:
     * squared, O-Net's score over thresholds[2], its box regression and five landmarks, NMS;
     * the box then mapped onto MTCNN's median shape (fitted on LFW DevTrain images outside
     * its pairs); the images left without a face, those whose longer side is over twice
     * tiny's input side (its faces too shrunk for tiny) and those where a box of tiny's is
     * under a third of its input side (faces near tiny's smallest: it misses some of them)
     * or over three quarters (close-ups, outside the range the fit was measured on) get
     * MTCNN's whole run (the last three without O-Net on tiny's boxes). Every face has
     * five landmarks. tiny_threshold: the score a face must pass (default 0.5, face-api's). */
    const struct fr_model *tiny;
    double tiny_threshold;
} fr_detect_options;

typedef enum fr_detector_kind {
    FR_DETECTOR_AUTO = 0, /* the model's: see fr_chip_spec_detector (detect/chips.h); resolved
                             before a detector is made */
    FR_DETECTOR_MTCNN,
    FR_DETECTOR_TINY,
    FR_DETECTOR_TINY_MTCNN /* tiny's boxes refined by O-Net; MTCNN where no face is left */
} fr_detector_kind;

/* "auto", "mtcnn", "tiny", "tiny+mtcnn" */
const char *fr_detector_kind_name(fr_detector_kind kind);
fr_status fr_detector_kind_parse(const char *name, fr_detector_kind *out);

/* The tiny detector's network from `path` (NULL: tinyface.frw in the weights directory), its
 * graph built for a size x size input (a multiple of 32 from 128 to 608; 0: 416, face-api's
 * default). */
#define FR_TINY_SIZE_DEFAULT 416
fr_status fr_tiny_load(const char *path, int size, fr_model **out);

typedef struct fr_faces {
    const fr_face *faces; /* best score first */
    int count;
} fr_faces;

typedef struct fr_detector fr_detector;

/* A detector on its own execution context (options->runner: device and threads). */
fr_status fr_detector_new(const fr_mtcnn *mtcnn, const fr_detect_options *options,
                          fr_detector **out);
/* A detector on a shared context (the aligner's and the embedding network's, so faces and
 * chips stay in its memory), which must outlive it; options->runner's device is ignored for
 * the context's. Whatever runs on fr_detector_exec() of a detector with its own context must
 * be freed before the detector. */
struct fr_exec;
fr_status fr_detector_new_on(const fr_mtcnn *mtcnn, const fr_detect_options *options,
                             struct fr_exec *exec, fr_detector **out);
struct fr_exec *fr_detector_exec(const fr_detector *detector);
void fr_detector_free(fr_detector *detector);

/* Detects the faces of n images. out[i] describes images[i]; the faces stay valid until the
 * next call. An image too small for the smallest face has none. */
fr_status fr_detector_run(fr_detector *detector, const fr_image *images, int n, fr_faces *out);
/* The same for images already in the context's memory (runtime/vision.h). */
struct fr_vision_image;
fr_status fr_detector_run_on(fr_detector *detector, const struct fr_vision_image *images, int n,
                             fr_faces *out);

/* Which face is an image's main one:
 *   FR_FACE_LARGEST  the largest box (area), the first of equals (the default)
 *   FR_FACE_CENTRAL  the one FaceNet's aligner keeps (align_dataset_mtcnn.py): the largest
 *                    box area less twice the squared distance of its centre from the
 *                    image's centre, i.e. the largest face unless another is much nearer the
 *                    middle (FaceNet's LFW protocol: LFW's subject is centred by construction,
 *                    and a bigger face behind the subject is common) */
typedef enum fr_face_rule { FR_FACE_LARGEST = 0, FR_FACE_CENTRAL } fr_face_rule;

/* "largest", "central" */
const char *fr_face_rule_name(fr_face_rule rule);
fr_status fr_face_rule_parse(const char *name, fr_face_rule *out);

/* The index of the image's main face by `rule`, -1 when there is none. width, height: the
 * image's. */
int fr_faces_main(const fr_faces *faces, int width, int height, fr_face_rule rule);

#endif
