/*
 * warp.h: a face chip sampled from an image through a chip-to-image mapping, as dlib's
 * extract_image_chip does (the geometry, which mapping, is detect/align.h's).
 */
#ifndef FR_IMAGE_WARP_H
#define FR_IMAGE_WARP_H

#include <stdint.h>

#include "core/alloc.h"
#include "facerec.h"

/* size x size x 3 uint8 into out, chip pixel (c, r) from image point (m[0] c + m[1] r + m[2],
 * m[3] c + m[4] r + m[5]): bilinear, black outside the image, truncated; from a 2x2-mean
 * pyramid level (as many halvings as keep the face's rectangle within twice the chip) where
 * the face is large. FR_E_INVALID for a degenerate mapping. */
fr_status fr_warp_dlib(const fr_image *image, const double m[6], int size, fr_scratch *scratch,
                       uint8_t *out);

/* dlib's interpolate_bilinear through m over a (w, h) image, black outside, truncated: the
 * sampler of fr_warp_dlib, without its pyramid (dlib's jitter_image on a chip). */
void fr_warp_bilinear(const uint8_t *src, int w, int h, const double m[6], int size,
                      uint8_t *out);

/* fr_warp_bilinear's code paths, the same bytes from each: the scalar one (the reference, and
 * the path for CPUs without AVX2) and vector ones. fr_warp_bilinear takes the widest that
 * fr_warp_path_available says this build and CPU can run; _on runs the one named (an
 * unavailable one falls back to scalar), for the test that holds each to the reference. */
typedef enum fr_warp_path { FR_WARP_SCALAR, FR_WARP_AVX2, FR_WARP_AVX512 } fr_warp_path;
int fr_warp_path_available(fr_warp_path path);
void fr_warp_bilinear_on(fr_warp_path path, const uint8_t *src, int w, int h, const double m[6],
                         int size, uint8_t *out);

/* OpenCV's warpAffine (INTER_LINEAR, BORDER_CONSTANT 0) through m: each of the four
 * neighbours outside the image counts as black, the value is rounded. */
void fr_warp_affine(const fr_image *image, const double m[6], int size, uint8_t *out);

#endif
