/*
 * draw.h: detections drawn onto an image for a person to check, and images written out
 * (JPEG through TurboJPEG's compressor for drawings, lossless PNG through libpng for chips,
 * so that a written chip embeds exactly as it was cut).
 */
#ifndef FR_DETECT_DRAW_H
#define FR_DETECT_DRAW_H

#include "detect/detect.h"
#include <stdint.h>

#include "facerec.h"

/* Boxes (green, the main face by `rule` yellow: fr_faces_main), each with its face index (the
 * CSV's face column) in the box's colour on black above its top-left corner (inside the box when
 * there is no room above), and landmarks (red dots), in place. */
void fr_draw_faces(fr_image *image, const fr_face *faces, int count, fr_face_rule rule);

/* A label: `number` in a 3x5 digit font, each font cell scale x scale pixels, on a black
 * rectangle with a one-cell margin, its top-left corner at (x, y); clipped to the image. */
#define FR_DRAW_LABEL_SCALE(thick) (2 * (thick))
#define FR_DRAW_LABEL_WIDTH(digits, scale) ((long)(scale) * (4 * (digits) + 1))
#define FR_DRAW_LABEL_HEIGHT(scale) ((long)(scale) * 7)
void fr_draw_label(fr_image *image, long x, long y, int scale, int number, const uint8_t rgb[3]);
/* Where fr_draw_faces puts a box's label (its y; x is the box's left edge). */
long fr_draw_label_y(const float *box, int thick, int scale);

/* Atomic writes (temporary name, then renamed). quality: 1..100. */
fr_status fr_image_save_jpeg(const fr_image *image, const char *path, int quality);
fr_status fr_image_save_png(const fr_image *image, const char *path);

#endif
