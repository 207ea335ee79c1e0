/*
 * decode.h: internal parts of image decoding shared with the tests and the fuzzer.
 * The public entry points are fr_image_load / fr_image_decode in facerec.h.
 */
#ifndef FR_IMAGE_DECODE_H
#define FR_IMAGE_DECODE_H

#include "facerec.h"

/* fr_decode_options.max_pixels when left 0: 64 Mi-pixels (8192 x 8192), i.e. at most
 * 192 MiB of RGB output (256 MiB of intermediate CMYK), checked from the header. */
#define FR_DEFAULT_MAX_PIXELS ((int64_t)64 * 1024 * 1024)
/* The JPEG reduction fr_image_decode applies for min_side, as log2 of the divisor (0: full
 * size, 1..3: 1/2, 1/4, 1/8; output sides ceil(side / 2^k)), for decoders that must give the
 * same sizes (image/gpu_decode.h). */
int fr_jpeg_reduction(int width, int height, int min_side);

/* The pixels decoding will produce, from a file's first bytes (head; its whole size is
 * file_size), without decoding: the JPEG's (DCT-scaled as options->min_side asks, times 7/3
 * for a CMYK one, which passes through a 4-byte buffer) or the PNG's dimensions, capped at
 * options->max_pixels. A JPEG whose frame header lies beyond head, or one over the cap
 * before scaling, counts as the cap; a format no decoder reads as 0 (the decode refuses it). The decode memory budget's
 * measure (engine/embedder.c, core/budget.h). */
int64_t fr_image_decode_pixels(const uint8_t *head, size_t head_size,
                               const fr_decode_options *options);

/* fr_image_load refuses files larger than this before reading them. */
#define FR_MAX_FILE_BYTES ((size_t)256 * 1024 * 1024)

/* An image a caller decoded (the API takes them): FR_E_INVALID naming it unless it has
 * pixels and a positive size. */
fr_status fr_image_check(const fr_image *image, const char *name);

#endif
