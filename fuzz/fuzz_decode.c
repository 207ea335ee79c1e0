/*
 * fuzz_decode.c: libFuzzer entry point for fr_image_decode (JPEG via TurboJPEG, PNG via libpng,
 * format sniffing, the pixel cap, DCT scaling, the CMYK and PNG conversions).
 *
 * The contract under test is the API's: any byte string either decodes to sane dimensions
 * with a fully written buffer, or fails with a one-line message naming the input and leaves
 * the output untouched; no crash, no leak, no out-of-bounds access (built with ASan/UBSan).
 *
 * The cap is 4 Mpx rather than the default 64 so that a mutated header cannot make one input
 * take seconds; DCT scaling is switched on for inputs of even length, so both paths run.
 *
 *   scripts/fuzz.sh 60 decode      (or by hand, as fuzz/CMakeLists.txt says:)
 *   ASAN_OPTIONS=quarantine_size_mb=64 build-fuzz/fuzz/fuzz_decode -max_len=65536 \
 *       -rss_limit_mb=2048 corpus/ tests/data/images/
 *
 * (A smaller ASan quarantine keeps millions of freed image buffers from tripping libFuzzer's
 * RSS limit.) Only facerec's code is coverage-instrumented: the system libjpeg-turbo and
 * libpng are not, so libFuzzer cannot steer into their internals and soon reduces the corpus
 * to small files; add -reduce_inputs=0 to keep mutating whole images.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the pixel sums go, so that the reads cannot be optimised away. */
static volatile unsigned pixel_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_decode_options options = {(int64_t)4 * 1024 * 1024, size % 2 == 0 ? 48 : 0};
    static uint8_t sentinel[1];
    fr_image image = {-1, -1, sentinel};
    fr_status status = fr_image_decode(data, size, "fuzz-input", &options, &image);
    if (status == FR_OK) {
        if (image.width <= 0 || image.height <= 0 || !image.pixels ||
            (int64_t)image.width * image.height > options.max_pixels)
            abort();
        /* Every byte must be ours (ASan) and initialised (MSan, where built with it). */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)image.width * image.height * 3; i++)
            sum += image.pixels[i];
        pixel_sink = sum;
        fr_image_free(&image);
    } else {
        const char *message = fr_error_message();
        if (image.width != -1 || image.height != -1 || image.pixels != sentinel ||
            strncmp(message, "fuzz-input: ", 12) != 0 || strchr(message, '\n') ||
            status == FR_E_INTERNAL)
            abort();
    }
    return 0;
}
