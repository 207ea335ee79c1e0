/*
 * decode.h: internal parts of image decoding shared with the tests and the fuzzer.
 * The public entry points are fr_image_load / fr_image_decode in facerec.h.
 */
#ifndef FR_IMAGE_DECODE_H
#define FR_IMAGE_DECODE_H

#include "facerec.h"

#define FR_DEFAULT_MAX_PIXELS ((int64_t)64 * 1024 * 1024)
#define FR_MAX_FILE_BYTES ((size_t)256 * 1024 * 1024)

#endif
