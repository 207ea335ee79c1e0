/*
 * align.h: from a detected face to the crop a recognition model was trained on.
 *
 *   dlib chips (the `dlib` model): dlib's get_face_chip_details + extract_image_chip. A
 *     similarity transform (least squares) takes landmarks onto dlib's mean face in a
 *     size x size chip with `padding` (0.25) of the face's size around it; each chip pixel is
 *     sampled bilinearly (truncated to 8 bits, black outside the image, as dlib does), from a
 *     2x-downsampled copy when the face is more than twice the chip's size. Two sets of
 *     landmarks:
 *       68 points (face-api's landmark net, detect/landmarks.h): what dlib itself does, the
 *         33 points it fits (nose 27-35, eyes 36-47, upper lip 48-54 and 60-64) onto the
 *         mean face
 *       MTCNN's 5: the mean face at MTCNN's points: the means of the eye contours (36-41,
 *         42-47), the nose tip (30), the mouth corners (48, 54).
 *   ArcFace chips (the `arcface` models): InsightFace's norm_crop: the least-squares
 *     similarity (Umeyama) from 5 landmarks (MTCNN's, or the same five taken from the 68) onto
 *     InsightFace's 112 x 112 template, sampled as OpenCV's warpAffine does (bilinear, black
 *     outside the image, rounded).
 *   FaceNet crops (the `irv1` model): facenet's align_dataset_mtcnn.py: the box grown by
 *     margin / 2 on each side, clipped to the image, truncated to integers, resized to
 *     size x size with Pillow's bilinear filter (scipy's imresize). Margin 32 at 160, the
 *     setting of facenet's LFW validation.
 */
#ifndef FR_DETECT_ALIGN_H
#define FR_DETECT_ALIGN_H

#include <stddef.h>
#include <stdint.h>

#include "core/alloc.h"
#include "detect/detect.h"
#include "detect/landmarks.h"
#include "facerec.h"
#include "runtime/vision.h"

#define FR_DLIB_CHIP_PADDING 0.25
#define FR_FACENET_MARGIN 32
#define FR_DLIB68_FITTED 33 /* landmarks get_face_chip_details fits of the 68 */


/* Where dlib's template puts the five landmarks in a size x size chip with padding. */
void fr_dlib_template(int size, double padding, double points[5][2]);

/* The points get_face_chip_details fits of 68 landmarks (their numbers into index) and
 * where its template puts them; returns FR_DLIB68_FITTED. */
int fr_dlib_template68(int size, double padding, int index[FR_DLIB68_FITTED],
                       double points[FR_DLIB68_FITTED][2]);

/* The chip-to-image mapping of a dlib chip: image x = m[0] c + m[1] r + m[2],
 * y = m[3] c + m[4] r + m[5] for chip column c, row r; from MTCNN's 5 landmarks or 68. */
void fr_dlib_chip_transform(const fr_face *face, int size, double padding, double m[6]);
void fr_dlib_chip_transform68(const fr_landmarks68 *landmarks, int size, double padding,
                              double m[6]);

/* size x size x 3 uint8 into out. */
fr_status fr_align_dlib(const fr_image *image, const fr_face *face, int size, double padding,
                        fr_scratch *scratch, uint8_t *out);
fr_status fr_align_dlib68(const fr_image *image, const fr_landmarks68 *landmarks, int size,
                          double padding, fr_scratch *scratch, uint8_t *out);
/* ArcFace: the chip-to-image mapping (as fr_dlib_chip_transform) and the chip. */
void fr_arcface_chip_transform(double points[5][2], int size, double m[6]);
fr_status fr_align_arcface(const fr_image *image, double points[5][2], int size,
                           uint8_t *out);
/* A face's five landmarks: MTCNN's, or the same five from 68 landmarks when given. */
void fr_face_points5(const fr_face *face, const fr_landmarks68 *landmarks, double points[5][2]);
/* Jitter (dlib's num_jitters): a randomly turned (+-3 degrees), scaled (1.01-1.03x), moved
 * (+-2 %) and half the time mirrored copy of a size x size chip, as dlib's jitter_image
 * makes it; deterministic: the same seed gives the same copy. */
#define FR_JITTER_SEED 0x66616365726563ull /* "facerec" */
uint64_t fr_jitter_seed(uint64_t input, int face, int copy);
void fr_jitter_chip(const uint8_t *chip, int size, uint64_t seed, uint8_t *out);
fr_status fr_align_facenet(const fr_image *image, const fr_face *face, int size, int margin,
                           fr_scratch *scratch, uint8_t *out);
/* The region of a (width, height) image FaceNet's crop resizes (FR_E_INVALID where empty). */
fr_status fr_facenet_region(int width, int height, const fr_face *face, int margin,
                            fr_crop_job *region);

#endif
