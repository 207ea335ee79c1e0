/*
 * resize_area.h: OpenCV's cv2.resize(..., interpolation=INTER_AREA), the resampler of
 * facenet's detect_face.py (imresample), reproduced so that MTCNN sees the inputs it was
 * run on in the reference:
 *   - shrinking (both factors >= 1): each output pixel is the area-weighted mean of the
 *     source pixels its footprint covers (resizeArea; integer factors take resizeAreaFast);
 *   - any factor < 1 (enlarging): bilinear with INTER_AREA's own coefficients.
 * Images are (height, width, 3) row-major. The uint8 variant rounds like OpenCV's
 * saturate_cast (to nearest, ties to even); the float variant keeps the exact value, as
 * OpenCV does for the float64 crops of MTCNN's second and third stages.
 */
#ifndef FR_IMAGE_RESIZE_AREA_H
#define FR_IMAGE_RESIZE_AREA_H

#include <stddef.h>
#include <stdint.h>

#include "core/alloc.h"
#include "facerec.h"

/* The scratch of a resize (core/alloc.h) holds its coefficient tables and one row of sums. */

fr_status fr_resize_area_u8(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int dst_w,
                            int dst_h, fr_scratch *scratch);
/* src rows src_stride bytes apart (a window of a larger image). */
fr_status fr_resize_area_f32(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                             float *dst, int dst_w, int dst_h, fr_scratch *scratch);

#endif
