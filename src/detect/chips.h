/*
 * chips.h: the one home of chip production, from a detected face to the crop a recognition
 * model takes. Every command that embeds (engine/embedder.c), `detect --chips` and the
 * benchmarks cut their chips here, so they cut identical ones.
 *
 * Three decisions live here and nowhere else:
 *   which crop   --align (none, auto, mtcnn, landmarks68) and the model: `auto` is the
 *                model's own way (its architecture entry); a chip spec says what is cut, how large
 *   landmarks    the 68-point step (face-api's landmark net, detect/landmarks.h) for the crops
 *                that need it, run once over all the faces of a call
 *   the cut      detect/align.h's dlib chip (from 68 or from MTCNN's 5 points), FaceNet crop or
 *                ArcFace chip (InsightFace's 5-point template)
 *
 * A chip's geometry is a chip-to-image mapping (fr_chip_transform: image x = m[0] c + m[1] r +
 * m[2], y = m[3] c + m[4] r + m[5]), computed before the pixels are sampled, so alignments
 * that only change the geometry (a template, a jitter) are a transform and the same sampler.
 */
#ifndef FR_DETECT_CHIPS_H
#define FR_DETECT_CHIPS_H

#include <stdint.h>

#include "core/alloc.h"
#include "detect/detect.h"
#include "detect/landmarks.h"
#include "facerec.h"
#include "model/model_internal.h"
#include "runtime/vision.h"

typedef enum fr_align_mode {
    FR_ALIGN_NONE = 0,  /* the whole image, resized by the model's preprocessing */
    FR_ALIGN_AUTO,      /* detect and align, except images of exactly the model's input size
                           (already face chips, e.g. dlib's 150x150 or FaceNet's 160x160), the
                           model's own way: dlib as landmarks68, irv1 and arcface as mtcnn */
    FR_ALIGN_MTCNN,     /* detect and align every image by MTCNN's box and 5 landmarks */
    FR_ALIGN_LANDMARKS68 /* detect every image; dlib chips from face-api's 68 landmarks */
} fr_align_mode;

/* The alignment a model runs under a requested mode: `auto` as its architecture entry says
 * (model_internal.h: dlib landmarks68, irv1 mtcnn, FaceNet's crop), and landmarks68 refused
 * for a model whose chip is not cut from landmarks. */
fr_status fr_align_resolve(const fr_model *model, fr_align_mode requested, fr_align_mode *out);

/* "none", "auto", "mtcnn", "landmarks68" */
const char *fr_align_name(fr_align_mode mode);
fr_status fr_align_parse(const char *name, fr_align_mode *out);

typedef struct fr_chip_spec {
    fr_chip_kind kind; /* the architecture's (model_internal.h): a dlib chip, a FaceNet crop or
                          an ArcFace chip */
    int landmarks68;   /* dlib and ArcFace chips: from face-api's 68 landmarks (else MTCNN's 5;
                          ArcFace takes the same five points from the 68) */
    int size;          /* chip side: the model's input */
    double padding;    /* dlib chips: the face's size around it (FR_DLIB_CHIP_PADDING) */
    int margin;        /* FaceNet crops: pixels added around the box at this size */
    int auto_tiny_size; /* the architecture's auto_tiny_size for 68-landmark chips, else 0 */
} fr_chip_spec;

/* The chip an architecture takes under `mode` (not FR_ALIGN_NONE), resolved as
 * fr_align_resolve does; FR_E_INVALID, with the reason, where the mode cannot serve it. */
fr_status fr_chip_spec_for(const fr_arch *arch, fr_align_mode mode, fr_chip_spec *out);
/* FR_E_INVALID, with the reason, where a detector cannot serve a spec: the tiny detector
 * finds boxes without landmarks (tiny+mtcnn: O-Net's on tiny's box, then fitted, not MTCNN's
 * own), so chips cut from MTCNN's 5 points need MTCNN. */
fr_status fr_chip_spec_check_detector(const fr_chip_spec *spec, fr_detector_kind detector);
/* The detector `requested` stands for where the chips of spec are cut (spec NULL: no chips,
 * e.g. `facerec detect` under --align none): auto is tiny+mtcnn at spec->auto_tiny_size where
 * the model's entry names one (dlib's 68-landmark chips: 192), else MTCNN; any other kind is
 * itself. *size: the tiny detector's input side, requested_size if given, else auto's, else
 * FR_TINY_SIZE_DEFAULT (0 for MTCNN alone). */
void fr_chip_spec_detector(const fr_chip_spec *spec, fr_detector_kind requested,
                           int requested_size, fr_detector_kind *kind, int *size);
/* FaceNet crops too: they are cut from MTCNN's box, the geometry FaceNet was trained on. */

/* What a spec cuts, for messages: "dlib chip from 68 landmarks" and the like. */
const char *fr_chip_spec_name(const fr_chip_spec *spec);

/* The landmark network a spec needs: loaded from `path` (NULL: landmark68.frw in the weights
 * directory), or *out = NULL where the spec needs none. */
fr_status fr_chip_load_landmarks(const fr_chip_spec *spec, const char *path, fr_model **out);

/* One face's chip-to-image mapping (dlib and ArcFace chips; see the top of this file), from
 * its 68 landmarks (spec->landmarks68) or its 5. */
void fr_chip_transform(const fr_chip_spec *spec, const fr_face *face,
                       const fr_landmarks68 *landmarks, double m[6]);

/* A jittered copy of a size x size chip (dlib's jitter_image, detect/align.h): copy `copy`
 * of face `face` of input `input`, the same whatever the batching or the thread. */
void fr_chip_jitter(int size, const uint8_t *chip, uint64_t input, int face, int copy,
                    uint8_t *out);

/* A chipper cuts chips of one spec on an execution context (runtime/vision.h): the chain
 * runs where the images are (on a GPU: the landmark crops, the landmark network, the fits and
 * the warps, nothing copied back). It owns the landmark runner where the spec needs one, and
 * its buffers, so one per thread; several share one landmark network, which must outlive them. */
typedef struct fr_chipper fr_chipper;

/* exec NULL: a CPU context of the chipper's own; else exec must outlive the chipper. runner:
 * the landmark network's options. */
fr_status fr_chipper_new(const fr_chip_spec *spec, const fr_model *landmark_net,
                         const fr_runner_options *runner, struct fr_exec *exec,
                         fr_chipper **out);
void fr_chipper_free(fr_chipper *chipper);
const fr_chip_spec *fr_chipper_spec(const fr_chipper *chipper);

/* A face to cut: which image of the call, and the face (in that image's pixels). */
typedef struct fr_chip_face {
    int image;
    fr_face face;
} fr_chip_face;

/* The chips of n faces into out (context memory, n x size x size x 3), from the nimages
 * images of the call (context memory), with one landmark network pass over all n where the
 * spec needs landmarks. */
fr_status fr_chipper_cut_on(fr_chipper *chipper, const fr_vision_image *images, int nimages,
                            const fr_chip_face *faces, int n, uint8_t *out);

/* The same from host images into host chips: faces[i] of images[i] into out[i]. */
fr_status fr_chipper_cut(fr_chipper *chipper, const fr_image *const *images,
                         const fr_face *const *faces, int n, uint8_t *const *out);

#endif
