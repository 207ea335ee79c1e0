/*
 * resize.h: the exact resampling rules of the libraries the models were trained and
 * published with, so that the same file gives the same model input as the reference:
 *   - Pillow's Image.resize(NEAREST)  (Keras load_img: the seed's irv1 preprocessing)
 *   - Pillow's Image.resize(BILINEAR) (FaceNet's standard preprocessing, scipy imresize)
 *   - TensorFlow's legacy resize_bilinear (align_corners=False, half_pixel_centers=False)
 *     after face-api's centred zero padding to a square (the dlib model's preprocessing)
 * All images are 8-bit RGB, (height, width, 3) row-major.
 */
#ifndef FR_IMAGE_RESIZE_H
#define FR_IMAGE_RESIZE_H

#include <stdint.h>

#include "facerec.h"

/* Pillow NEAREST, bit-exact with Pillow >= 7 (ImagingScaleAffine's double arithmetic). */
void fr_resize_nearest_pil(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int dst_w,
                           int dst_h);

/* Pillow BILINEAR (a triangle filter widened by the downscale factor, 8-bit fixed point),
 * bit-exact with Pillow's ImagingResample. Allocates its coefficient tables and, when both
 * sides change, an intermediate dst_w x (source rows used) image; fails only on bad sizes
 * (FR_E_INVALID) or memory. */
fr_status fr_resize_bilinear_pil(const uint8_t *src, int src_w, int src_h, uint8_t *dst,
                                 int dst_w, int dst_h);

/* face-api's input: pad to a square with zeros (centred; for an odd difference the extra
 * row or column goes after the image), then TensorFlow's legacy bilinear resize to
 * size x size as tfjs-backend-cpu computes it (double arithmetic, stored as float32), rounded
 * to the nearest integer (halves up): within 0.5 of face-api's float input, equal to its
 * rounding. An image already size x size is copied. */
fr_status fr_resize_faceapi(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int size);
/* The same with the padding centred (centre 1: fr_resize_faceapi) or all of it after the
 * image, on the right or at the bottom (centre 0: toBatchTensor(size, false), the input of
 * face-api's TinyFaceDetector). */
fr_status fr_resize_faceapi_padded(const uint8_t *src, int src_w, int src_h, uint8_t *dst,
                                   int size, int centre);

#endif
