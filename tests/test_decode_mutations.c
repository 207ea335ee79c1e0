/*
 * test_decode_mutations.c: a deterministic, always-on cousin of fuzz/fuzz_decode.c. Real JPEG
 * and PNG files (LFW baseline, a progressive happyhouse face, an RGBA PNG, and the CMYK,
 * palette and interlaced fixtures) are decoded in a few thousand damaged copies: bit flips,
 * random bytes, truncations, and header fields rewritten (JPEG SOF size, component count and
 * sampling; PNG IHDR size, depth and colour type, with the CRC fixed so libpng goes on to
 * the pixels; likewise PNG data corruption with CRCs repaired). The only requirements are
 * the API's: no crash, no leak, no read out of bounds (run it under the sanitizer build), and
 * either FR_OK with sane dimensions or an error with a one-line message naming the input and
 * the output left untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "image/decode.h"
#include "testutil.h"

#define MUTATIONS_PER_FILE 1000
#define MAX_PIXELS ((int64_t)4 * 1024 * 1024)

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Recomputes every PNG chunk CRC that fits in the buffer, so damage reaches the decoder. */
static void png_fix_crcs(uint8_t *p, size_t n)
{
    size_t i = 8;
    while (i + 12 <= n) {
        uint32_t length = be32(p + i);
        if (length > n - i - 12)
            break;
        put_be32(p + i + 8 + length, crc32_of(p + i + 4, length + 4));
        i += 12 + length;
    }
}

/* Offset of the first JPEG SOFn segment (the 0xFF), or 0. */
static size_t jpeg_find_sof(const uint8_t *p, size_t n)
{
    size_t i = 2;
    while (i + 4 < n && p[i] == 0xFF) {
        uint8_t m = p[i + 1];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return i;
        i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
    }
    return 0;
}

static uint64_t rng = 0xdecafbadULL;

/* Where the pixel sums go, so that the reads cannot be optimised away. */
static volatile unsigned pixel_sink;

static uint32_t pick(uint32_t n)
{
    return (uint32_t)(fr_test_rand(&rng) % n);
}

static const uint16_t interesting[] = {0, 1, 2, 7, 8, 9, 255, 256, 4096, 8192, 32767, 32768,
                                       65500, 65535};

/* Damages `p` (length *n, capacity cap) in one of several ways. */
static void mutate(uint8_t *p, size_t *n, size_t cap, int png)
{
    int how = (int)pick(8);
    switch (how) {
    case 0: /* a few bit flips anywhere */
    case 1: {
        int flips = 1 + (int)pick(8);
        for (int k = 0; k < flips; k++)
            p[pick((uint32_t)*n)] ^= (uint8_t)(1u << pick(8));
        break;
    }
    case 2: /* bytes overwritten near the start, where the headers are */
        for (int k = 0; k < 4; k++)
            p[pick((uint32_t)(*n < 700 ? *n : 700))] = (uint8_t)pick(256);
        break;
    case 3: /* truncation */
        *n = 1 + pick((uint32_t)*n);
        break;
    case 4: { /* a run of random bytes inserted */
        size_t at = pick((uint32_t)*n), len = 1 + pick(64);
        if (*n + len <= cap) {
            memmove(p + at + len, p + at, *n - at);
            for (size_t k = 0; k < len; k++)
                p[at + k] = (uint8_t)pick(256);
            *n += len;
        }
        break;
    }
    case 5: /* a stretch duplicated (repeated segments and chunks) */
    {
        size_t at = pick((uint32_t)*n), len = 1 + pick(256);
        if (at + len <= *n && *n + len <= cap) {
            memmove(p + at + len, p + at, *n - at);
            *n += len;
        }
        break;
    }
    default: /* header fields */
        if (png && *n >= 33) {
            uint8_t *ihdr = p + 16; /* width, height, depth, colour, comp, filter, interlace */
            switch (pick(5)) {
            case 0: put_be32(ihdr, interesting[pick(14)] * (pick(2) ? 1u : 1000u)); break;
            case 1: put_be32(ihdr + 4, interesting[pick(14)] * (pick(2) ? 1u : 1000u)); break;
            case 2: ihdr[8] = (uint8_t)(1u << pick(6)); break;
            case 3: ihdr[9] = (uint8_t)pick(8); break;
            default: ihdr[12] = (uint8_t)pick(3); break;
            }
        } else if (!png) {
            size_t sof = jpeg_find_sof(p, *n);
            if (sof && sof + 12 < *n) {
                uint16_t v = interesting[pick(14)];
                switch (pick(4)) {
                case 0: p[sof + 5] = (uint8_t)(v >> 8), p[sof + 6] = (uint8_t)v; break;
                case 1: p[sof + 7] = (uint8_t)(v >> 8), p[sof + 8] = (uint8_t)v; break;
                case 2: p[sof + 9] = (uint8_t)pick(6); break; /* component count */
                default: p[sof + 11] = (uint8_t)pick(256); break; /* sampling factors */
                }
            }
        }
        break;
    }
    if (png && pick(2))
        png_fix_crcs(p, *n);
}

int main(void)
{
    crc_init();
    const char *data = fr_test_env("FACEREC_DATA");
    const char *source = fr_test_env("FACEREC_SOURCE_DIR");
    char paths[7][1024];
    snprintf(paths[0], sizeof paths[0], "%s/lfw_devtrain/images/AJ_Cook/AJ_Cook_0001.jpg", data);
    snprintf(paths[1], sizeof paths[1], "%s/happyhouse/database/andrew.jpg", data); /* progressive */
    snprintf(paths[2], sizeof paths[2], "%s/happyhouse/database/danielle.png", data);
    snprintf(paths[3], sizeof paths[3], "%s/tests/data/images/cmyk.jpg", source);
    snprintf(paths[4], sizeof paths[4], "%s/tests/data/images/palette_trns.png", source);
    snprintf(paths[5], sizeof paths[5], "%s/tests/data/images/interlaced.png", source);
    snprintf(paths[6], sizeof paths[6], "%s/tests/data/images/rgb16.png", source);

    int ok = 0, failed = 0, by_status[FR_E_INTERNAL + 1] = {0};
    clock_t start = clock();
    for (int f = 0; f < 7; f++) {
        void *original;
        size_t size;
        CHECK_OK(fr_file_read(paths[f], FR_MAX_FILE_BYTES, &original, &size));
        if (fr_error_message()[0] && size == 0)
            continue;
        int png = size >= 8 && memcmp(original, "\x89PNG", 4) == 0;
        size_t cap = size + 4096;
        uint8_t *copy = malloc(cap);
        if (!copy)
            abort();
        for (int m = 0; m < MUTATIONS_PER_FILE; m++) {
            memcpy(copy, original, size);
            size_t n = size;
            int rounds = 1 + (int)pick(3);
            for (int r = 0; r < rounds; r++)
                mutate(copy, &n, cap, png);

            char name[64];
            snprintf(name, sizeof name, "mutant-%d-%d", f, m);
            fr_decode_options options = {MAX_PIXELS, pick(4) == 0 ? 40 : 0};
            static uint8_t sentinel[1];
            fr_image image = {-1, -2, sentinel};
            fr_status status = fr_image_decode(copy, n, name, &options, &image);
            if (status == FR_OK) {
                ok++;
                CHECK(image.width > 0 && image.height > 0 && image.pixels != NULL);
                CHECK((int64_t)image.width * image.height <= MAX_PIXELS);
                /* Touch every byte, so the sanitizer sees the whole buffer is ours. */
                unsigned sum = 0;
                for (size_t i = 0; i < (size_t)image.width * image.height * 3; i++)
                    sum += image.pixels[i];
                pixel_sink = sum;
                fr_image_free(&image);
            } else {
                failed++;
                const char *message = fr_error_message();
                CHECK(status > FR_OK && status <= FR_E_INTERNAL);
                CHECK(status != FR_E_INTERNAL);
                CHECK(strncmp(message, name, strlen(name)) == 0);
                CHECK(strlen(message) > strlen(name) + 2 && !strchr(message, '\n'));
                CHECK(image.width == -1 && image.height == -2 && image.pixels == sentinel);
                if (status > FR_OK && status <= FR_E_INTERNAL)
                    by_status[status]++;
                if (status == FR_E_INTERNAL)
                    fprintf(stderr, "%s: %s\n", name, message);
            }
        }
        free(copy);
        free(original);
    }
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    printf("%d mutants in %.2f s: %d decoded, %d refused (format %d, unsupported %d, too large "
           "%d, out of memory %d)\n",
           ok + failed, seconds, ok, failed, by_status[FR_E_FORMAT], by_status[FR_E_UNSUPPORTED],
           by_status[FR_E_TOO_LARGE], by_status[FR_E_NOMEM]);
    CHECK(ok > 100 && failed > 100); /* both paths really exercised */
    return fr_test_finish("test_decode_mutations");
}
