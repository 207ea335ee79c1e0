/*
 * source.h: loading an image for face detection. A large JPEG may be decoded at a reduced
 * DCT scale (fast, and detection needs no more), but boxes and landmarks are reported in the
 * file's own pixels: this gives the factor between the two.
 */
#ifndef FR_DETECT_SOURCE_H
#define FR_DETECT_SOURCE_H

#include "detect/detect.h"
#include "facerec.h"

typedef struct fr_source_scale {
    double x, y; /* file pixels per decoded pixel (1 when decoded at full size) */
} fr_source_scale;

/* fr_image_load with options, plus the scale from decoded to file pixels. */
fr_status fr_source_load(const char *path, const fr_decode_options *options, fr_image *out,
                         fr_source_scale *scale);

/* A face found in the decoded image, in file pixels: box corners scale, landmarks (pixel
 * centres) keep their centre: (x + 0.5) * s - 0.5. */
void fr_source_face(fr_face *face, const fr_source_scale *scale);

#endif
