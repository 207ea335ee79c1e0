/*
 * decode.c: JPEG and PNG files to 8-bit RGB, the first step of every pipeline.
 *
 * JPEG goes through TurboJPEG (libjpeg-turbo), PNG through libpng's classic API. The format is
 * sniffed from the magic bytes, never from the file name. The output matches what Pillow
 * gives for `Image.open(path).convert('RGB')` (the seed's Keras load_img), pixel for pixel,
 * with one documented exception (16-bit grayscale PNG, see png_decode). Like Keras' load_img,
 * EXIF orientation is NOT applied: the pixels are returned as stored.
 *
 * Hostile input: the pixel count is checked against options->max_pixels from the header,
 * before any pixel buffer is allocated; every size is computed with fr_mul_size; neither
 * library may print to stderr (TurboJPEG only records its messages; libpng gets our own
 * error and warning handlers); a failure leaves *out untouched and names the file.
 */
#include "image/decode.h"

#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

typedef struct decode_limits {
    int64_t max_pixels;
    int min_side;
} decode_limits;

/* Formats a pixel cap for messages: "64 Mpx" when it is a whole number of Mi-pixels. */
static void format_pixel_cap(int64_t cap, char *buffer, size_t size)
{
    const int64_t mega = (int64_t)1024 * 1024;
    if (cap % mega == 0)
        snprintf(buffer, size, "%lld Mpx", (long long)(cap / mega));
    else
        snprintf(buffer, size, "%lld-pixel", (long long)cap);
}

/* Refuses empty or over-the-cap dimensions and returns the RGB buffer size (w * h * 3). */
static fr_status check_dimensions(const char *name, long long width, long long height,
                                  int64_t max_pixels, size_t *rgb_bytes)
{
    if (width <= 0 || height <= 0 || width > INT_MAX || height > INT_MAX)
        return fr_fail(FR_E_FORMAT, "%s: invalid image dimensions %lld x %lld", name, width,
                       height);
    /* Both factors are below 2^31, so the product fits in 64 bits. */
    if (width * height > max_pixels) {
        char cap[32];
        format_pixel_cap(max_pixels, cap, sizeof cap);
        return fr_fail(FR_E_TOO_LARGE, "%s: %lld x %lld image exceeds the %s limit", name, width,
                       height, cap);
    }
    size_t pixels;
    if (!fr_mul_size((size_t)width, (size_t)height, &pixels) ||
        !fr_mul_size(pixels, 3, rgb_bytes))
        return fr_fail(FR_E_TOO_LARGE, "%s: %lld x %lld image is too large for this machine",
                       name, width, height);
    return FR_OK;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

/* Whether a scaling factor is 1/1, 1/2, 1/4 or 1/8. */
static int power_of_two_reduction(tjscalingfactor f)
{
    if (f.num <= 0 || f.denom < f.num || f.denom % f.num != 0)
        return 0;
    int ratio = f.denom / f.num;
    return (ratio & (ratio - 1)) == 0;
}

/* The DCT scaling factor with the smallest output whose shorter side is still >= min_side;
 * 1/1 when min_side is 0 or the image is already that small.
 *
 * Only 1/2, 1/4 and 1/8 are considered, not the other n/8 that TurboJPEG offers: those use
 * libjpeg-turbo's plain-C scaled IDCTs and measure slower than no scaling at all. On 300 LFW
 * 250x250 JPEGs, one thread (bench/bench_decode.c's machine): 8/8 211 us, 7/8 363 us,
 * 3/4 292 us, 5/8 250 us, 1/2 155 us, 3/8 166 us, 1/4 134 us, 1/8 123 us. */
static tjscalingfactor choose_scale(int width, int height, int min_side)
{
    tjscalingfactor best = {1, 1};
    int count = 0;
    const tjscalingfactor *factors = min_side > 0 ? tjGetScalingFactors(&count) : NULL;
    for (int i = 0; factors && i < count; i++) {
        tjscalingfactor f = factors[i];
        if (!power_of_two_reduction(f))
            continue;
        int w = TJSCALED(width, f), h = TJSCALED(height, f);
        if ((w < h ? w : h) < min_side)
            continue;
        if ((long long)f.num * best.denom < (long long)best.num * f.denom)
            best = f;
    }
    return best;
}

int fr_jpeg_reduction(int width, int height, int min_side)
{
    tjscalingfactor f = choose_scale(width, height, min_side);
    int k = 0;
    while (k < 3 && (f.num << (k + 1)) <= f.denom)
        k++;
    return k;
}

/* Turns TurboJPEG's last message into ours. A warning means libjpeg substituted data. */
static fr_status jpeg_failure(tjhandle tj, const char *name, const char *stage)
{
    int code = tjGetErrorCode(tj);
    const char *why = tjGetErrorStr2(tj);
    if (strstr(why, "Premature end of JPEG file"))
        return fr_fail(FR_E_FORMAT, "%s: truncated JPEG data", name);
    if (strstr(why, "Could not determine subsampling type"))
        return fr_fail(FR_E_UNSUPPORTED, "%s: unusual JPEG chroma subsampling is not supported",
                       name);
    if (strstr(why, "Unsupported JPEG process") || strstr(why, "Unsupported color conversion") ||
        strstr(why, "Unsupported JPEG data precision") ||
        strstr(why, "Requested features are incompatible"))
        return fr_fail(FR_E_UNSUPPORTED, "%s: unsupported JPEG variant (%s)", name, why);
    /* libjpeg's own warnings read "Corrupt JPEG data: <detail>". */
    const char *prefix = "Corrupt JPEG data: ";
    if (strncmp(why, prefix, strlen(prefix)) == 0)
        why += strlen(prefix);
    return fr_fail(FR_E_FORMAT, "%s: %s JPEG %s: %s", name,
                   code == TJERR_WARNING && strcmp(stage, "data") == 0 ? "corrupt" : "bad",
                   stage, why);
}

/* Whether the (first) warning of a decode is garbage right before the EOI marker: the scan
 * data had all been read without complaint when it was seen, so the image is complete.
 * Some cameras write such files and Pillow accepts them; every other warning is an error. */
static int only_trailing_garbage(tjhandle tj)
{
    if (tjGetErrorCode(tj) != TJERR_WARNING)
        return 0;
    return strstr(tjGetErrorStr2(tj), "extraneous bytes before marker 0xd9") != NULL;
}

/* Adobe CMYK to RGB exactly as Pillow does it. Every 4-component JPEG is taken to store
 * inverted CMYK (the Adobe/Photoshop convention, which libjpeg itself leaves to the
 * application): that is Pillow's rule too ("CMYK;I", "assume adobe conventions"), whether or
 * not an APP14 Adobe marker is present. With stored values C' = 255 - C and K' = 255 - K,
 * Pillow's cmyk2rgb `R = (255 - K) - C * (255 - K) / 255` (rounded through its MULDIV255)
 * becomes R = K' - muldiv255(255 - C', K'). No colour management, like Pillow. */
static void cmyk_inverted_to_rgb(const uint8_t *cmyk, size_t pixels, uint8_t *rgb)
{
    for (size_t i = 0; i < pixels; i++, cmyk += 4, rgb += 3) {
        int nk = cmyk[3];
        for (int c = 0; c < 3; c++) {
            int t = (255 - cmyk[c]) * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            rgb[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

static fr_status jpeg_decode(const uint8_t *data, size_t size, const char *name,
                             const decode_limits *limits, fr_image *out)
{
    if (size > ULONG_MAX)
        return fr_fail(FR_E_TOO_LARGE, "%s: JPEG file too large", name);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return fr_fail(FR_E_NOMEM, "%s: cannot create a JPEG decoder: %s", name,
                       tjGetErrorStr2(NULL));

    fr_status status = FR_OK;
    uint8_t *rgb = NULL, *cmyk = NULL;
    int width = 0, height = 0, subsampling = -1, colorspace = -1;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsampling,
                            &colorspace) != 0) {
        status = jpeg_failure(tj, name, "header");
        goto done;
    }
    /* A "tables-only" stream (or one cut before its frame header) succeeds without a size. */
    if (width == 0 || height == 0) {
        status = fr_fail(FR_E_FORMAT, "%s: no image in the JPEG data (truncated file?)", name);
        goto done;
    }
    size_t full_bytes;
    status = check_dimensions(name, width, height, limits->max_pixels, &full_bytes);
    if (status != FR_OK)
        goto done;

    tjscalingfactor scale = choose_scale(width, height, limits->min_side);
    int out_w = TJSCALED(width, scale), out_h = TJSCALED(height, scale);
    size_t pixels, rgb_bytes;
    if (!fr_mul_size((size_t)out_w, (size_t)out_h, &pixels) ||
        !fr_mul_size(pixels, 3, &rgb_bytes)) {
        status = fr_fail(FR_E_TOO_LARGE, "%s: %d x %d image is too large", name, width, height);
        goto done;
    }
    rgb = fr_malloc(rgb_bytes, name);
    if (!rgb) {
        status = FR_E_NOMEM;
        goto done;
    }

    int cmyk_input = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    if (cmyk_input) {
        size_t cmyk_bytes;
        if (!fr_mul_size(pixels, 4, &cmyk_bytes)) {
            status = fr_fail(FR_E_TOO_LARGE, "%s: image too large", name);
            goto done;
        }
        cmyk = fr_malloc(cmyk_bytes, name);
        if (!cmyk) {
            status = FR_E_NOMEM;
            goto done;
        }
    }
    uint8_t *target = cmyk_input ? cmyk : rgb;
    int pixel_format = cmyk_input ? TJPF_CMYK : TJPF_RGB;

    /* Accurate IDCT and fancy upsampling are TurboJPEG's decompression defaults and the
     * libjpeg defaults Pillow uses, hence identical pixels. LIMITSCANS refuses progressive
     * files with absurd scan counts (a CPU-exhaustion trick). STOPONWARNING makes a
     * truncated or corrupt file fail at its first bad byte instead of libjpeg filling the
     * rest of a (possibly huge) frame with grey; only trailing garbage, whose warning comes
     * after the last scan, earns a second, tolerant pass. */
    const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    int rc = tjDecompress2(tj, data, (unsigned long)size, target, out_w, 0, out_h, pixel_format,
                           flags | TJFLAG_STOPONWARNING);
    if (rc != 0 && only_trailing_garbage(tj))
        rc = tjDecompress2(tj, data, (unsigned long)size, target, out_w, 0, out_h, pixel_format,
                           flags);
    if (rc != 0 && !only_trailing_garbage(tj)) {
        status = jpeg_failure(tj, name, "data");
        goto done;
    }
    if (cmyk_input)
        cmyk_inverted_to_rgb(cmyk, pixels, rgb);

    out->width = out_w;
    out->height = out_h;
    out->pixels = rgb;
    rgb = NULL;
done:
    free(cmyk);
    free(rgb);
    tjDestroy(tj);
    return status;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

/* Everything the PNG decoder must find again after a longjmp lives here, in memory owned by
 * the caller of setjmp, so no local variable's value matters across the jump. */
typedef struct png_source {
    const uint8_t *data;
    size_t size, offset;
    char message[200]; /* libpng's or our reason for the last png_error */
    uint8_t *rgb;      /* the output being filled; freed if libpng bails out */
    png_bytep *rows;
} png_source;

static void png_read_from_memory(png_structp png, png_bytep out, size_t count)
{
    png_source *src = png_get_io_ptr(png);
    if (count > src->size - src->offset)
        png_error(png, "truncated PNG data");
    memcpy(out, src->data + src->offset, count);
    src->offset += count;
}

static void png_on_error(png_structp png, png_const_charp message)
{
    png_source *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", message);
    png_longjmp(png, 1);
}

/* libpng warns about recoverable oddities (bad ancillary chunk CRCs, unknown sRGB profiles);
 * the image is still right, and a library must not print, so warnings are dropped. */
static void png_on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/* Reads the header, sets up the conversions to 8-bit RGB and reads the rows. Called under
 * png_guarded_read's setjmp: a libpng error jumps out of here, so whatever must be freed
 * then is kept in src, never only in a local. */
static fr_status png_read_steps(png_structp png, png_infop info, png_source *src,
                                const char *name, const decode_limits *limits, fr_image *out)
{
    png_set_read_fn(png, src, png_read_from_memory);
    /* Our max_pixels is the cap; libpng's default 1e6-per-side limit would refuse a long
     * strip that is well under it. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    size_t rgb_bytes;
    fr_status status = check_dimensions(name, width, height, limits->max_pixels, &rgb_bytes);
    if (status != FR_OK)
        return status;

    /* To 8-bit RGB the way Pillow's convert('RGB') goes:
     *   - 16 bits: the high byte (png_set_strip_16), which is what Pillow's "RGB;16B",
     *     "RGBA;16B" and "LA;16B" unpackers keep. Pillow opens 16-bit grayscale as mode "I"
     *     and convert('RGB') then clips every value above 255 to white; we take the high
     *     byte there too rather than reproduce that (the one deliberate difference);
     *   - palette and 1/2/4-bit gray expanded to 8 bits (gray scaled: 1 -> 255, as Pillow);
     *   - gray replicated to R = G = B;
     *   - alpha discarded without compositing, and tRNS ignored (libpng expands it into an
     *     alpha channel for palettes, which is then stripped like any alpha);
     *   - gAMA, iCCP and sBIT not applied (Pillow doesn't either). */
    if (bit_depth == 16)
        png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    if (png_get_bit_depth(png, info) != 8 || png_get_channels(png, info) != 3 ||
        png_get_rowbytes(png, info) != (size_t)width * 3)
        return fr_fail(FR_E_INTERNAL, "%s: PNG conversion to 8-bit RGB failed", name);

    size_t row_table_bytes;
    if (!fr_mul_size(height, sizeof(png_bytep), &row_table_bytes))
        return fr_fail(FR_E_TOO_LARGE, "%s: image too large", name);
    src->rgb = fr_malloc(rgb_bytes, name);
    if (!src->rgb)
        return FR_E_NOMEM;
    src->rows = fr_malloc(row_table_bytes, name);
    if (!src->rows)
        return FR_E_NOMEM; /* the caller frees src->rgb */
    for (png_uint_32 y = 0; y < height; y++)
        src->rows[y] = src->rgb + (size_t)y * width * 3;
    png_read_image(png, src->rows);
    /* The chunks after the image data (png_read_end) carry nothing we use; a file cut right
     * after its last IDAT still holds the whole image. */

    out->width = (int)width;
    out->height = (int)height;
    out->pixels = src->rgb;
    src->rgb = NULL;
    return FR_OK;
}

/* The setjmp frame for png_read_steps. Kept free of locals, so nothing here can be
 * clobbered by libpng's longjmp. */
static fr_status png_guarded_read(png_structp png, png_infop info, png_source *src,
                                  const char *name, const decode_limits *limits, fr_image *out)
{
    if (setjmp(png_jmpbuf(png))) {
        if (strcmp(src->message, "truncated PNG data") == 0)
            return fr_fail(FR_E_FORMAT, "%s: truncated PNG data", name);
        return fr_fail(FR_E_FORMAT, "%s: bad PNG data: %s", name, src->message);
    }
    return png_read_steps(png, info, src, name, limits, out);
}

static fr_status png_decode(const uint8_t *data, size_t size, const char *name,
                            const decode_limits *limits, fr_image *out)
{
    png_source src = {.data = data, .size = size};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png)
        return fr_fail(FR_E_NOMEM, "%s: cannot create a PNG decoder", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return fr_fail(FR_E_NOMEM, "%s: cannot create a PNG decoder", name);
    }
    fr_status status = png_guarded_read(png, info, &src, name, limits, out);
    png_destroy_read_struct(&png, &info, NULL);
    free(src.rows);
    free(src.rgb); /* non-NULL only after a failure */
    return status;
}

/* ---- entry points ---------------------------------------------------------------------- */

typedef enum image_format { FORMAT_UNKNOWN, FORMAT_JPEG, FORMAT_PNG } image_format;

/* What the first bytes say; *other names a recognised but unsupported format. */
static image_format sniff_format(const uint8_t *p, size_t n, const char **other)
{
    *other = NULL;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return FORMAT_JPEG;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return FORMAT_PNG;
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        *other = "GIF";
    else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        *other = "WebP";
    else if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
        *other = "TIFF";
    else if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0)
        *other = "HEIF/AVIF";
    else if (n >= 14 && p[0] == 'B' && p[1] == 'M')
        *other = "BMP";
    return FORMAT_UNKNOWN;
}

int64_t fr_image_decode_pixels(const uint8_t *head, size_t head_size,
                               const fr_decode_options *options)
{
    int64_t cap = options && options->max_pixels > 0 ? options->max_pixels
                                                     : FR_DEFAULT_MAX_PIXELS;
    int min_side = options ? options->min_side : 0;
    const char *other;
    int64_t pixels = 0;
    switch (sniff_format(head, head_size, &other)) {
    case FORMAT_JPEG: {
        pixels = cap;
        tjhandle tj = head_size <= ULONG_MAX ? tjInitDecompress() : NULL;
        int width, height, subsampling, colorspace;
        if (tj && tjDecompressHeader3(tj, head, (unsigned long)head_size, &width, &height,
                                      &subsampling, &colorspace) == 0 && width > 0 &&
            height > 0 && (int64_t)width * height <= cap) {
            tjscalingfactor f = choose_scale(width, height, min_side);
            pixels = (int64_t)TJSCALED(width, f) * TJSCALED(height, f);
            if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
                pixels = pixels / 3 * 7 + 7;
        }
        if (tj)
            tjDestroy(tj);
        break;
    }
    case FORMAT_PNG:
        if (head_size >= 24 && memcmp(head + 12, "IHDR", 4) == 0) {
            uint32_t w = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 |
                         (uint32_t)head[18] << 8 | head[19];
            uint32_t h = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 |
                         (uint32_t)head[22] << 8 | head[23];
            pixels = (int64_t)w * h;
        }
        break;
    case FORMAT_UNKNOWN:
        break;
    }
    return pixels < cap ? pixels : cap;
}

fr_status fr_image_decode(const void *data, size_t size, const char *name,
                          const fr_decode_options *options, fr_image *out)
{
    if (!name)
        name = "(memory)";
    if (!out || (!data && size > 0))
        return fr_fail(FR_E_INVALID, "%s: fr_image_decode needs data and an output", name);
    decode_limits limits = {FR_DEFAULT_MAX_PIXELS, 0};
    if (options) {
        if (options->max_pixels < 0 || options->min_side < 0)
            return fr_fail(FR_E_INVALID, "%s: negative max_pixels or min_side", name);
        if (options->max_pixels > 0)
            limits.max_pixels = options->max_pixels;
        limits.min_side = options->min_side;
    }
    if (size == 0)
        return fr_fail(FR_E_FORMAT, "%s: empty file", name);

    const char *other;
    switch (sniff_format(data, size, &other)) {
    case FORMAT_JPEG:
        return jpeg_decode(data, size, name, &limits, out);
    case FORMAT_PNG:
        return png_decode(data, size, name, &limits, out);
    case FORMAT_UNKNOWN:
        break;
    }
    if (other)
        return fr_fail(FR_E_UNSUPPORTED, "%s: %s images are not supported (only JPEG and PNG)",
                       name, other);
    return fr_fail(FR_E_FORMAT, "%s: not a JPEG or PNG file", name);
}

fr_status fr_image_load(const char *path, const fr_decode_options *options, fr_image *out)
{
    if (!path || !out)
        return fr_fail(FR_E_INVALID, "fr_image_load needs a path and an output");
    void *data;
    size_t size;
    fr_status status = fr_file_read(path, FR_MAX_FILE_BYTES, &data, &size);
    if (status != FR_OK)
        return status;
    status = fr_image_decode(data, size, path, options, out);
    free(data);
    return status;
}

void fr_image_free(fr_image *image)
{
    if (!image)
        return;
    free(image->pixels);
    image->pixels = NULL;
    image->width = image->height = 0;
}

fr_status fr_image_check(const fr_image *image, const char *name)
{
    if (image->pixels && image->width > 0 && image->height > 0)
        return FR_OK;
    return fr_fail(FR_E_INVALID, "%s: an image of %d x %d pixels%s", name, image->width,
                   image->height, image->pixels ? "" : " with no pixel data");
}
