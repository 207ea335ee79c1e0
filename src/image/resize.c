/*
 * resize.c: three resampling rules, each a transcription of the arithmetic of the library a
 * model's reference preprocessing used, so that our model inputs equal theirs bit for bit:
 *
 *   fr_resize_nearest_pil   Pillow Image.resize(NEAREST): ImagingScaleAffine (Geometry.c)
 *   fr_resize_bilinear_pil  Pillow Image.resize(BILINEAR): ImagingResample (Resample.c)
 *   fr_resize_faceapi       face-api padToSquare + tfjs-backend-cpu resizeBilinear
 *
 * tests/test_resize.c checks them against Pillow 9.4 and face-api/tfjs 4.22 themselves.
 *
 * The order of floating-point operations is the reference's, and every multiply-add is
 * split into two statements: a fused multiply-add (which clang forms by default within one
 * expression) would change the last bit, and with it an occasional pixel.
 */
#include "image/resize.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

static int valid_sizes(int src_w, int src_h, int dst_w, int dst_h)
{
    return src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0;
}

/* ---- Pillow NEAREST ------------------------------------------------------------------------ */

/* Pillow's COORD(): truncation toward zero, with anything negative mapped to -1. */
static int pil_coord(double v)
{
    return v < 0.0 ? -1 : (int)v;
}

/* Image.resize((w, h), NEAREST) calls ImagingTransform with the affine map
 * a = (in_w / w, 0, 0, 0, in_h / h, 0), which ImagingScaleAffine runs by accumulating
 * x = a0 / 2, x += a0, ... in double and truncating; the accumulated rounding error decides
 * boundary cases (192 -> 160 picks differently from floor((x + 0.5) * 192 / 160)), so we
 * accumulate too. A position that accumulates to >= in_w is left black, as Pillow's fill
 * does (it cannot happen for sizes below about 2^40, but it costs nothing to follow). */
void fr_resize_nearest_pil(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int dst_w,
                           int dst_h)
{
    if (!valid_sizes(src_w, src_h, dst_w, dst_h))
        return;
    if (src_w == dst_w && src_h == dst_h) {
        memcpy(dst, src, (size_t)src_w * (size_t)src_h * 3);
        return;
    }
    const double ax = (double)src_w / dst_w;
    const double ay = (double)src_h / dst_h;
    double yo = ay * 0.5;
    for (int y = 0; y < dst_h; y++, yo += ay) {
        uint8_t *out = dst + (size_t)y * dst_w * 3;
        int yi = pil_coord(yo);
        if (yi < 0 || yi >= src_h) {
            memset(out, 0, (size_t)dst_w * 3);
            continue;
        }
        const uint8_t *in = src + (size_t)yi * src_w * 3;
        double xo = ax * 0.5;
        for (int x = 0; x < dst_w; x++, xo += ax) {
            int xi = pil_coord(xo);
            if (xi < 0 || xi >= src_w) {
                out[x * 3 + 0] = out[x * 3 + 1] = out[x * 3 + 2] = 0;
                continue;
            }
            memcpy(out + (size_t)x * 3, in + (size_t)xi * 3, 3);
        }
    }
}

/* ---- Pillow BILINEAR ----------------------------------------------------------------------- */

/* Resample.c's fixed point: 8 bits of result, 2 for overflow, the rest for coefficients. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

/* For each output position: the first input index and how many inputs it reads, and
 * `ksize` integer weights (Pillow's precompute_coeffs + normalize_coeffs_8bpc, with the
 * triangle filter of support 1 widened by the downscale factor). */
typedef struct pil_coeffs {
    int ksize;
    int *bounds;      /* (out_size, 2): xmin, count */
    int32_t *weights; /* (out_size, ksize) */
} pil_coeffs;

static double pil_triangle(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static fr_status pil_precompute(int in_size, int out_size, pil_coeffs *c)
{
    /* Pillow computes (box1 - box0) in float first; exact for any size below 2^24. */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;

    size_t nk, nb;
    if (!fr_mul_size((size_t)out_size, (size_t)ksize, &nk) ||
        !fr_mul_size(nk, sizeof(int32_t), &nk) ||
        !fr_mul_size((size_t)out_size, 2 * sizeof(int), &nb))
        return fr_fail(FR_E_TOO_LARGE, "resize: %d -> %d needs too many coefficients", in_size,
                       out_size);
    double *row = fr_malloc((size_t)ksize * sizeof(double), "resize coefficients");
    c->weights = fr_malloc(nk, "resize coefficients");
    c->bounds = fr_malloc(nb, "resize coefficients");
    if (!row || !c->weights || !c->bounds) {
        free(row);
        free(c->weights);
        free(c->bounds);
        c->weights = NULL; /* the caller frees both passes' tables on its way out */
        c->bounds = NULL;
        return FR_E_NOMEM;
    }
    c->ksize = ksize;

    for (int xx = 0; xx < out_size; xx++) {
        double offset = (xx + 0.5) * scale;
        double center = 0.0 + offset; /* in0 + (xx + 0.5) * scale, with in0 = 0 */
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            double w = pil_triangle((x + xmin - center + 0.5) * ss);
            row[x] = w;
            ww += w;
        }
        int32_t *k = c->weights + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double w = x < xmax ? row[x] : 0.0;
            if (x < xmax && ww != 0.0)
                w /= ww;
            double fixed = w * (1 << PIL_PRECISION_BITS);
            k[x] = w < 0 ? (int32_t)(-0.5 + fixed) : (int32_t)(0.5 + fixed);
        }
        c->bounds[xx * 2 + 0] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    free(row);
    return FR_OK;
}

static void pil_coeffs_free(pil_coeffs *c)
{
    free(c->weights);
    free(c->bounds);
}

/* Pillow's clip8(): the sum carries 2^(PRECISION_BITS - 1) for rounding; shift and clamp. */
static uint8_t pil_clip8(int32_t sum)
{
    if (sum < 0)
        return 0;
    sum >>= PIL_PRECISION_BITS;
    return (uint8_t)(sum > 255 ? 255 : sum);
}

/* One horizontal pass over `rows` rows of width in_w, into rows of width out_w. */
static void pil_horizontal(const uint8_t *src, int in_w, int rows, uint8_t *dst, int out_w,
                           const pil_coeffs *c)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * in_w * 3;
        uint8_t *out = dst + (size_t)y * out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            int xmin = c->bounds[xx * 2], count = c->bounds[xx * 2 + 1];
            const int32_t *k = c->weights + (size_t)xx * c->ksize;
            int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
            const uint8_t *p = in + (size_t)xmin * 3;
            for (int x = 0; x < count; x++, p += 3) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            out[xx * 3 + 0] = pil_clip8(s0);
            out[xx * 3 + 1] = pil_clip8(s1);
            out[xx * 3 + 2] = pil_clip8(s2);
        }
    }
}

/* The vertical pass: output row yy mixes input rows bounds[yy] - row_shift ... (of src).
 * Integer sums are exact, so accumulating a whole row at a time (which vectorises) gives
 * Pillow's per-pixel result. acc holds width * 3 sums. */
static void pil_vertical(const uint8_t *src, int width, uint8_t *dst, int out_h, int row_shift,
                         const pil_coeffs *c, int32_t *acc)
{
    size_t stride = (size_t)width * 3;
    for (int yy = 0; yy < out_h; yy++) {
        int ymin = c->bounds[yy * 2] - row_shift, count = c->bounds[yy * 2 + 1];
        const int32_t *k = c->weights + (size_t)yy * c->ksize;
        for (size_t i = 0; i < stride; i++)
            acc[i] = 1 << (PIL_PRECISION_BITS - 1);
        for (int y = 0; y < count; y++) {
            const uint8_t *in = src + (size_t)(ymin + y) * stride;
            int32_t weight = k[y];
            for (size_t i = 0; i < stride; i++)
                acc[i] += in[i] * weight;
        }
        uint8_t *out = dst + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++)
            out[i] = pil_clip8(acc[i]);
    }
}

/* ImagingResampleInner: the horizontal pass first (over only the rows the vertical pass will
 * read), rounded to 8 bits, then the vertical pass; a pass whose size does not change is
 * skipped, and same-size is a copy. */
fr_status fr_resize_bilinear_pil(const uint8_t *src, int src_w, int src_h, uint8_t *dst,
                                 int dst_w, int dst_h)
{
    if (!src || !dst || !valid_sizes(src_w, src_h, dst_w, dst_h))
        return fr_fail(FR_E_INVALID, "resize: invalid sizes %d x %d -> %d x %d", src_w, src_h,
                       dst_w, dst_h);
    int need_h = dst_w != src_w, need_v = dst_h != src_h;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)src_w * (size_t)src_h * 3);
        return FR_OK;
    }

    pil_coeffs vert = {0}, horiz = {0};
    uint8_t *temp = NULL;
    int32_t *acc = NULL;
    fr_status status = FR_OK;
    if (need_h) {
        status = pil_precompute(src_w, dst_w, &horiz);
        if (status != FR_OK)
            return status;
        if (!need_v) {
            pil_horizontal(src, src_w, src_h, dst, dst_w, &horiz);
            pil_coeffs_free(&horiz);
            return FR_OK;
        }
    }
    status = pil_precompute(src_h, dst_h, &vert);
    if (status != FR_OK)
        goto done;
    acc = fr_malloc((size_t)dst_w * 3 * sizeof(int32_t), "resize row sums");
    if (!acc) {
        status = FR_E_NOMEM;
        goto done;
    }
    if (!need_h) {
        pil_vertical(src, src_w, dst, dst_h, 0, &vert, acc);
        goto done;
    }
    /* Only the source rows the vertical pass reads go through the horizontal one. */
    int first_row = vert.bounds[0];
    int last_row = vert.bounds[dst_h * 2 - 2] + vert.bounds[dst_h * 2 - 1];
    size_t bytes;
    if (!fr_mul_size((size_t)dst_w * 3, (size_t)(last_row - first_row), &bytes)) {
        status = fr_fail(FR_E_TOO_LARGE, "resize: intermediate image too large");
        goto done;
    }
    temp = fr_malloc(bytes, "resize intermediate image");
    if (!temp) {
        status = FR_E_NOMEM;
        goto done;
    }
    pil_horizontal(src + (size_t)first_row * src_w * 3, src_w, last_row - first_row, temp, dst_w,
                   &horiz);
    pil_vertical(temp, dst_w, dst, dst_h, first_row, &vert, acc);
done:
    free(acc);
    free(temp);
    pil_coeffs_free(&horiz);
    pil_coeffs_free(&vert);
    return status;
}

/* ---- face-api ------------------------------------------------------------------------------ */

/* One source row's horizontal pass: value (c, d) = l + (r - l) * frac[c], with l and r the
 * channel-d values of the pixels at line + left[c] and line + right[c] (tfjs' order: the
 * difference, its product with the fraction, then the sum, each rounded in double). Writes
 * out[0 .. size * 3] (one past the last value); reads line up to right[c] + 3. */
static void horizontal(const double *line, const int *left, const int *right, const double *frac,
                       int size, double *out)
{
#ifdef __AVX2__
    for (int c = 0; c < size; c++) {
        __m256d l = _mm256_loadu_pd(line + left[c]);
        __m256d r = _mm256_loadu_pd(line + right[c]);
        __m256d step = _mm256_mul_pd(_mm256_sub_pd(r, l), _mm256_broadcast_sd(frac + c));
        _mm256_storeu_pd(out + (size_t)c * 3, _mm256_add_pd(l, step));
    }
#else
    for (int c = 0; c < size; c++)
        for (int d = 0; d < 3; d++) {
            double l = line[left[c] + d], step = (line[right[c] + d] - l) * frac[c];
            out[(size_t)c * 3 + d] = l + step;
        }
#endif
}

/* One output row from the horizontal passes of its two source rows: top + (bottom - top) *
 * frac in double, rounded to float as tfjs stores it, then to the nearest integer. */
static void vertical(const double *top, const double *bottom, double frac, size_t n,
                     uint8_t *out)
{
    size_t i = 0;
#ifdef __AVX2__
    /* 16 values a step: the same operations four lanes at a time; the two saturating packs
     * clamp exactly as the scalar code does, for any int32 (int16 saturation first, then
     * unsigned 8-bit) */
    const __m256d f = _mm256_set1_pd(frac), half = _mm256_set1_pd(0.5);
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; k++) {
            __m256d t = _mm256_loadu_pd(top + i + 4 * k);
            __m256d b = _mm256_loadu_pd(bottom + i + 4 * k);
            __m256d v = _mm256_add_pd(t, _mm256_mul_pd(_mm256_sub_pd(b, t), f));
            __m256d value = _mm256_cvtps_pd(_mm256_cvtpd_ps(v));
            q[k] = _mm256_cvttpd_epi32(_mm256_add_pd(value, half));
        }
        __m128i lo = _mm_packs_epi32(q[0], q[1]), hi = _mm_packs_epi32(q[2], q[3]);
        _mm_storeu_si128((__m128i *)(out + i), _mm_packus_epi16(lo, hi));
    }
#endif
    for (; i < n; i++) {
        double step = (bottom[i] - top[i]) * frac;
        float value = (float)(top[i] + step);
        /* value + 0.5 is exact in double (value < 2^8 has 24 bits), so this is
         * round-half-up; tfjs' float can only land in [0, 255]. */
        int rounded = (int)((double)value + 0.5);
        out[i] = (uint8_t)(rounded < 0 ? 0 : rounded > 255 ? 255 : rounded);
    }
}

/* face-api's NetInput.toBatchTensor(size, isCenterInputs = true) on an image tensor:
 *
 * padToSquare(isCenterImage = true): the shorter axis gets diff = |h - w| zero rows (or
 * columns): Math.round(diff * 0.5) appended after the image, the rest prepended before it,
 * so an odd diff puts the extra one at the end (Math.round rounds .5 up).
 *
 * tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = false), as the
 * tfjs-backend-cpu kernel (4.22) computes it: ratio = in / out and every source position,
 * fraction and lerp in JavaScript numbers (IEEE double), top and bottom rows first and then
 * between them, with the upper neighbour min(ceil(src), in - 1); the result is stored in a
 * Float32Array. We do the same in double, round to float as tfjs does, then round that to
 * the nearest integer (halves up; values are >= 0). That final rounding is the only
 * difference from face-api, whose network sees the float values (|ours - theirs| <= 0.5).
 * An image that is already size x size is passed through, as toBatchTensor skips the resize. */
fr_status fr_resize_faceapi(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int size)
{
    return fr_resize_faceapi_padded(src, src_w, src_h, dst, size, 1);
}

fr_status fr_resize_faceapi_padded(const uint8_t *src, int src_w, int src_h, uint8_t *dst,
                                   int size, int centre)
{
    if (!src || !dst || !valid_sizes(src_w, src_h, size, size))
        return fr_fail(FR_E_INVALID, "resize: invalid sizes %d x %d -> %d x %d", src_w, src_h,
                       size, size);
    if (src_w == size && src_h == size) {
        memcpy(dst, src, (size_t)size * (size_t)size * 3);
        return FR_OK;
    }

    /* The padded square and where the image sits in it. */
    int side = src_w > src_h ? src_w : src_h;
    int diff = side - (src_w < src_h ? src_w : src_h);
    int append = centre ? (diff + 1) / 2 : diff; /* Math.round(diff * (centre ? 0.5 : 1)) */
    int prepend = diff - append;
    int top = src_h < src_w ? prepend : 0;
    int left = src_w < src_h ? prepend : 0;

    /* Per output column: the offsets of its left and right source pixels in `line`, a copy of
     * the source row being read as doubles (the zero pixel after the copy where they fall in
     * the padding), and the fraction between them. The horizontal pass of a source row is kept
     * in one of two row buffers and used by every output row that reads it (each source row
     * once when shrinking; when enlarging, about half the two passes an output row would
     * make). Each value's operations are those of tfjs' per-pixel loop, in its order; what
     * changes is only how the values are fetched: a pixel's three channels share its column's
     * offsets and fraction, so one 4-double load at each offset (the fourth lane, the next
     * pixel's first value, is computed and overwritten) serves a whole output pixel instead
     * of six byte gathers. The vertical pass runs over whole rows, four doubles at a time. */
    size_t n3 = (size_t)size * 3, row_bytes = (size_t)src_w * 3, line_len = row_bytes + 4, bytes;
    size_t doubles, ints;
    if (!fr_mul_size(n3, 3, &doubles) || doubles > SIZE_MAX - 2 - line_len ||
        !fr_mul_size(doubles + 2 + line_len, sizeof(double), &bytes) ||
        !fr_mul_size((size_t)size, 2 * sizeof(int), &ints) || bytes > SIZE_MAX - ints)
        return fr_fail(FR_E_TOO_LARGE, "resize: output size %d too large", size);
    bytes += ints;
    double *frac = fr_malloc(bytes, "resize tables"); /* (size) */
    if (!frac)
        return FR_E_NOMEM;
    /* horizontal passes of two source rows, (size * 3 + 1) each: the last pixel's fourth lane */
    double *rows[2] = {frac + size, frac + size + n3 + 1};
    double *line = rows[1] + n3 + 1; /* (src_w * 3 + 4): the row, a zero pixel, a fourth lane */
    int *left_off = (int *)(line + line_len), *right_off = left_off + size; /* (size) */
    for (size_t i = (size_t)src_w * 3; i < line_len; i++)
        line[i] = 0.0;
    const double ratio = (double)side / size;
    for (int c = 0; c < size; c++) {
        double src_col = ratio * c;
        double col_floor = floor(src_col);
        int c0 = (int)col_floor - left, c1 = (int)ceil(src_col);
        c1 = (c1 > side - 1 ? side - 1 : c1) - left;
        frac[c] = src_col - col_floor;
        left_off[c] = (c0 >= 0 && c0 < src_w ? c0 : src_w) * 3;
        right_off[c] = (c1 >= 0 && c1 < src_w ? c1 : src_w) * 3;
    }

    int key[2] = {INT_MIN, INT_MIN}; /* the source row (of the padded square) each buffer holds */
    for (int r = 0; r < size; r++) {
        double src_row = ratio * r;
        double row_floor = floor(src_row);
        double row_frac = src_row - row_floor;
        int r1 = (int)ceil(src_row);
        int want[2] = {(int)row_floor, r1 > side - 1 ? side - 1 : r1};
        const double *lerp[2];
        for (int k = 0; k < 2; k++) {
            int b = key[0] == want[k] ? 0 : key[1] == want[k] ? 1 : -1;
            if (b < 0) {
                /* fill the buffer the other row of this output row does not use (a row is
                 * never in both) */
                b = k == 0 ? key[0] == want[1] : lerp[0] == rows[0];
                int y = want[k] - top;
                double *h = rows[b];
                if (y < 0 || y >= src_h) { /* padding: face-api's zeros */
                    for (size_t i = 0; i < n3; i++)
                        h[i] = 0;
                } else {
                    const uint8_t *in = src + (size_t)y * row_bytes;
                    for (size_t i = 0; i < row_bytes; i++)
                        line[i] = in[i];
                    horizontal(line, left_off, right_off, frac, size, h);
                }
                key[b] = want[k];
            }
            lerp[k] = rows[b];
        }
        vertical(lerp[0], lerp[1], row_frac, n3, dst + (size_t)r * n3);
    }
    free(frac);
    return FR_OK;
}
