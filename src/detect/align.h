/*
 * align.h: from a detected face to the crop a recognition model was trained on.
 *
 *   dlib chips (the `dlib` model): dlib's get_face_chip_details + extract_image_chip. A
 *     similarity transform (least squares) takes the five landmarks onto a template in a
 *     size x size chip with `padding` (0.25) of the face's size around it; each chip pixel is
 *     sampled bilinearly (truncated to 8 bits, black outside the image, as dlib does), from a
 *     2x-downsampled copy when the face is more than twice the chip's size.
 *     The template: dlib's 68-point mean face (the one get_face_chip_details uses) at
 *     MTCNN's points: the means of the eye contours (36-41, 42-47), the nose tip (30), the
 *     mouth corners (48, 54).
 *   FaceNet crops (the `irv1` model): facenet's align_dataset_mtcnn.py: the box grown by
 *     margin / 2 on each side, clipped to the image, truncated to integers, resized to
 *     size x size with Pillow's bilinear filter (scipy's imresize). Margin 32 at 160, the
 *     setting of facenet's LFW validation.
 */
#ifndef FR_DETECT_ALIGN_H
#define FR_DETECT_ALIGN_H

#include <stddef.h>
#include <stdint.h>

#include "detect/detect.h"
#include "facerec.h"

#define FR_DLIB_CHIP_PADDING 0.25
#define FR_FACENET_MARGIN 32

/* Scratch of the aligners (crops, pyramid levels). Grows, never shrinks. */
typedef struct fr_align_scratch {
    uint8_t *data;
    size_t size;
} fr_align_scratch;

void fr_align_scratch_free(fr_align_scratch *scratch);

/* Where dlib's template puts the five landmarks in a size x size chip with padding. */
void fr_dlib_template(int size, double padding, double points[5][2]);

/* The chip-to-image mapping of a dlib chip: image x = m[0] c + m[1] r + m[2],
 * y = m[3] c + m[4] r + m[5] for chip column c, row r. */
void fr_dlib_chip_transform(const fr_face *face, int size, double padding, double m[6]);

/* size x size x 3 uint8 into out. */
fr_status fr_align_dlib(const fr_image *image, const fr_face *face, int size, double padding,
                        fr_align_scratch *scratch, uint8_t *out);
fr_status fr_align_facenet(const fr_image *image, const fr_face *face, int size, int margin,
                           fr_align_scratch *scratch, uint8_t *out);

#endif
