/*
 * draw.h: detections drawn onto an image for a person to check, and images written out
 * (JPEG through TurboJPEG's compressor for drawings, lossless PNG through libpng for chips,
 * so that a written chip embeds exactly as it was cut).
 */
#ifndef FR_DETECT_DRAW_H
#define FR_DETECT_DRAW_H

#include "detect/detect.h"
#include "facerec.h"

/* Boxes (green, the main face by `rule` yellow: fr_faces_main) and landmarks (red dots), in
 * place. */
void fr_draw_faces(fr_image *image, const fr_face *faces, int count, fr_face_rule rule);

/* Atomic writes (temporary name, then renamed). quality: 1..100. */
fr_status fr_image_save_jpeg(const fr_image *image, const char *path, int quality);
fr_status fr_image_save_png(const fr_image *image, const char *path);

#endif
