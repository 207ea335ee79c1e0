/*
 * warp.c: dlib's extract_image_chip (dlib/image_transforms/interpolation.h) for a given
 * chip-to-image mapping: interpolate_bilinear over the image, black outside it, truncated to
 * 8 bits. Where the face's rectangle is over twice the chip's side, dlib samples a
 * 2x-downsampled pyramid level (pyramid_down<2>, a 5-tap filter); here a 2x2 box mean of the
 * region used, with its own pixel-centre shift (x' = (x - 0.5) / 2). And OpenCV's warpAffine,
 * the sampler of InsightFace's norm_crop (ArcFace chips).
 */
#include "image/warp.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#include <immintrin.h>
#endif

#include "core/error.h"

/* Chip pixels are sampled in blocks of a row: where each falls (vectorized), its four
 * neighbours gathered, then the interpolation over the block's values (vectorized), each
 * value's arithmetic that of the per-pixel formula (dlib's). The reference, and the path for
 * CPUs without AVX2. */
#define WARP_BLOCK 64

/* Chip row r, its `end` pixels, into q (the row's first pixel). */
static void row_scalar(const uint8_t *src, int w, int h, const double m[6], int r, int end,
                       uint8_t *q)
{
    double fxs[WARP_BLOCK], fys[WARP_BLOCK], fx3[3 * WARP_BLOCK], fy3[3 * WARP_BLOCK];
    size_t offs[WARP_BLOCK];
    uint8_t inside[WARP_BLOCK];
    uint8_t p00[3 * WARP_BLOCK], p01[3 * WARP_BLOCK], p10[3 * WARP_BLOCK], p11[3 * WARP_BLOCK];
    size_t row = (size_t)w * 3;
    for (int first = 0; first < end; first += WARP_BLOCK) {
        int n = end - first < WARP_BLOCK ? end - first : WARP_BLOCK;
        for (int j = 0; j < n; j++) {
            int c = first + j;
            double x = m[0] * c + m[1] * r + m[2], y = m[3] * c + m[4] * r + m[5];
            double fl = floor(x), ft = floor(y);
            int in = fl >= 0 && ft >= 0 && fl + 1 < w && ft + 1 < h;
            inside[j] = (uint8_t)in;
            /* outside (or not finite): all four neighbours black, which makes it 0 */
            fxs[j] = in ? x - fl : 0;
            fys[j] = in ? y - ft : 0;
            offs[j] = in ? ((size_t)(long)ft * (size_t)w + (size_t)(long)fl) * 3 : 0;
        }
        for (int j = 0; j < n; j++) {
            const uint8_t *a = src + offs[j], *b = a + 3, *c = a + row, *d = c + 3;
            for (int k = 0; k < 3; k++) {
                int i = 3 * j + k;
                fx3[i] = fxs[j];
                fy3[i] = fys[j];
                p00[i] = inside[j] ? a[k] : 0;
                p01[i] = inside[j] ? b[k] : 0;
                p10[i] = inside[j] ? c[k] : 0;
                p11[i] = inside[j] ? d[k] : 0;
            }
        }
        uint8_t *o = q + (size_t)first * 3;
        for (int i = 0; i < 3 * n; i++) {
            double fx = fx3[i], fy = fy3[i];
            double v = (1 - fy) * ((1 - fx) * p00[i] + fx * p01[i]) +
                       fy * ((1 - fx) * p10[i] + fx * p11[i]);
            o[i] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
        }
    }
}

/* The vector paths: one lane a chip pixel, in double with the scalar code's operations in its
 * order (a mul and an add never fused: the library's -march has FMA, and -std=c11 keeps GCC
 * from contracting them). A row is done in chunks of WARP_BLOCK pixels: where each falls,
 * stored, then the values, so that the gathers' latency overlaps other blocks' arithmetic (in
 * one pass it did not: 0.083 against 0.046 ms a chip for AVX-512). Per pixel two 8-byte
 * gathers: at its top-left neighbour (p00 p01 in bytes 0..5) and 2 bytes before its
 * bottom-left one (p10 p11 in bytes 2..7). Neither reads outside the image for an inside
 * pixel: the top one ends 2 bytes past p01, inside the next row (w >= 2, so a row is >= 6
 * bytes); the bottom one starts 2 bytes before p10, in row >= 1, and ends at p11's last byte,
 * which may be the image's. Outside pixels read nothing (masked) and come out 0, as above.
 * The value needs no clamp: inside, it is made of non-negative products of fractions in [0, 1]
 * and bytes, a mix of values <= 255 off by a few ulps at most, so in [0, 256) and truncation
 * gives the scalar code's 0..255; outside it is 0. */
#if defined(__GNUC__) || defined(__clang__)
#if defined(__AVX2__)
#define HAVE_WARP_AVX2 1
/* byte s of each 8-byte lane into that lane's lowest byte, the rest zeroed (pshufb) */
static inline __m256i byte_of_lanes256(__m256i v, int s)
{
    const __m256i ctl = _mm256_setr_epi8(
        (char)s, -1, -1, -1, -1, -1, -1, -1, (char)(8 + s), -1, -1, -1, -1, -1, -1, -1,
        (char)s, -1, -1, -1, -1, -1, -1, -1, (char)(8 + s), -1, -1, -1, -1, -1, -1, -1);
    return _mm256_shuffle_epi8(v, ctl);
}

/* 8-byte lanes holding 0..255 as doubles, exactly: 2^52 + v's bit pattern, less 2^52 */
static inline __m256d lanes_to_pd256(__m256i v)
{
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
    return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, magic)),
                         _mm256_castsi256_pd(magic));
}

/* chip row r, its `end` pixels, 4 at a time: the last block's lanes past end are outside */
static void row_avx2(const uint8_t *src, int w, int h, const double m[6], int r, int end,
                     uint8_t *q)
{
    const __m256d m0 = _mm256_set1_pd(m[0]), m3 = _mm256_set1_pd(m[3]);
    const __m256d m1r = _mm256_set1_pd(m[1] * r), m4r = _mm256_set1_pd(m[4] * r);
    const __m256d m2 = _mm256_set1_pd(m[2]), m5 = _mm256_set1_pd(m[5]);
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1);
    const __m256d wd = _mm256_set1_pd(w), hd = _mm256_set1_pd(h);
    const __m256d iota = _mm256_setr_pd(0, 1, 2, 3);
    const __m256i w64 = _mm256_set1_epi64x(w);
    const __m256i below = _mm256_set1_epi64x((long long)w * 3 - 2);
    const long long *base = (const long long *)(const void *)src;
    /* R0..3 G0..3 B0..3 (packed bytes) -> R0 G0 B0 R1 ... B3 */
    const __m128i interleave = _mm_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1);
    double fxs[WARP_BLOCK], fys[WARP_BLOCK];
    long long offs[WARP_BLOCK], ins[WARP_BLOCK];
    for (int chunk = 0; chunk < end; chunk += WARP_BLOCK) {
        int stop = end - chunk < WARP_BLOCK ? end : chunk + WARP_BLOCK;
        for (int c = chunk; c < stop; c += 4) {
            int i = c - chunk;
            __m256d cv = _mm256_add_pd(_mm256_set1_pd(c), iota);
            __m256d x = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m0, cv), m1r), m2);
            __m256d y = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m3, cv), m4r), m5);
            __m256d fl = _mm256_round_pd(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m256d ft = _mm256_round_pd(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m256d right = _mm256_add_pd(fl, one), down = _mm256_add_pd(ft, one);
            __m256d in = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(fl, zero, _CMP_GE_OQ),
                                                     _mm256_cmp_pd(ft, zero, _CMP_GE_OQ)),
                                       _mm256_and_pd(_mm256_cmp_pd(right, wd, _CMP_LT_OQ),
                                                     _mm256_cmp_pd(down, hd, _CMP_LT_OQ)));
            if (stop - c < 4)
                in = _mm256_and_pd(in, _mm256_cmp_pd(cv, _mm256_set1_pd(stop), _CMP_LT_OQ));
            _mm256_storeu_pd(fxs + i, _mm256_and_pd(in, _mm256_sub_pd(x, fl)));
            _mm256_storeu_pd(fys + i, _mm256_and_pd(in, _mm256_sub_pd(y, ft)));
            __m256i inm = _mm256_castpd_si256(in);
            /* outside lanes' conversions are garbage: zeroed, and their gathers masked off */
            __m256i ix = _mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(fl));
            __m256i iy = _mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(ft));
            __m256i off = _mm256_and_si256(inm, _mm256_add_epi64(_mm256_mul_epu32(iy, w64), ix));
            _mm256_storeu_si256((__m256i *)(void *)(offs + i),
                                _mm256_add_epi64(off, _mm256_add_epi64(off, off)));
            _mm256_storeu_si256((__m256i *)(void *)(ins + i), inm);
        }
        for (int c = chunk; c < stop; c += 4) {
            int n = stop - c < 4 ? stop - c : 4, i = c - chunk;
            __m256d fx = _mm256_loadu_pd(fxs + i), fy = _mm256_loadu_pd(fys + i);
            __m256i off = _mm256_loadu_si256((const __m256i *)(const void *)(offs + i));
            __m256i inm = _mm256_loadu_si256((const __m256i *)(const void *)(ins + i));
            __m256i top = _mm256_mask_i64gather_epi64(_mm256_setzero_si256(), base, off, inm, 1);
            __m256i bot = _mm256_mask_i64gather_epi64(_mm256_setzero_si256(), base,
                                                      _mm256_add_epi64(off, below), inm, 1);
            __m256d ofx = _mm256_sub_pd(one, fx), ofy = _mm256_sub_pd(one, fy);
            __m128i ch[3];
            for (int k = 0; k < 3; k++) {
                __m256d p00 = lanes_to_pd256(byte_of_lanes256(top, k));
                __m256d p01 = lanes_to_pd256(byte_of_lanes256(top, 3 + k));
                __m256d p10 = lanes_to_pd256(byte_of_lanes256(bot, 2 + k));
                __m256d p11 = lanes_to_pd256(byte_of_lanes256(bot, 5 + k));
                __m256d t = _mm256_add_pd(_mm256_mul_pd(ofx, p00), _mm256_mul_pd(fx, p01));
                __m256d b = _mm256_add_pd(_mm256_mul_pd(ofx, p10), _mm256_mul_pd(fx, p11));
                __m256d v = _mm256_add_pd(_mm256_mul_pd(ofy, t), _mm256_mul_pd(fy, b));
                ch[k] = _mm256_cvttpd_epi32(v); /* no clamp: see above */
            }
            __m128i rg = _mm_packus_epi32(ch[0], ch[1]), bb = _mm_packus_epi32(ch[2], ch[2]);
            __m128i px = _mm_shuffle_epi8(_mm_packus_epi16(rg, bb), interleave);
            uint8_t bytes[16];
            _mm_storeu_si128((__m128i *)(void *)bytes, px);
            memcpy(q + (size_t)c * 3, bytes, (size_t)n * 3);
        }
    }
}
#endif

#define HAVE_WARP_AVX512 1
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq")))

/* byte s of each 8-byte lane into that lane's lowest byte, the rest zeroed (pshufb) */
AVX512_TARGET static inline __m512i byte_of_lanes512(__m512i v, int s)
{
    const __m512i ctl = _mm512_broadcast_i32x4(_mm_setr_epi8(
        (char)s, -1, -1, -1, -1, -1, -1, -1, (char)(8 + s), -1, -1, -1, -1, -1, -1, -1));
    return _mm512_shuffle_epi8(v, ctl);
}

/* chip row r, its `end` pixels, 8 at a time: the last block's lanes past end are outside */
AVX512_TARGET static void row_avx512(const uint8_t *src, int w, int h, const double m[6], int r,
                                     int end, uint8_t *q)
{
    const __m512d m0 = _mm512_set1_pd(m[0]), m3 = _mm512_set1_pd(m[3]);
    const __m512d m1r = _mm512_set1_pd(m[1] * r), m4r = _mm512_set1_pd(m[4] * r);
    const __m512d m2 = _mm512_set1_pd(m[2]), m5 = _mm512_set1_pd(m[5]);
    const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1);
    const __m512d wd = _mm512_set1_pd(w), hd = _mm512_set1_pd(h);
    const __m512d iota = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i w64 = _mm512_set1_epi64(w);
    const __m512i below = _mm512_set1_epi64((long long)w * 3 - 2);
    /* (R0..7 G0..7, B0..7) -> R0 G0 B0 R1 ... R5 and G5 B5 ... B7 (32-bit lanes) */
    const __m512i first16 = _mm512_setr_epi32(0, 8, 16, 1, 9, 17, 2, 10, 18, 3, 11, 19, 4, 12,
                                              20, 5);
    const __m512i last8 = _mm512_setr_epi32(13, 21, 6, 14, 22, 7, 15, 23, 0, 0, 0, 0, 0, 0, 0, 0);
    double fxs[WARP_BLOCK], fys[WARP_BLOCK];
    long long offs[WARP_BLOCK];
    __mmask8 ins[WARP_BLOCK / 8];
    for (int chunk = 0; chunk < end; chunk += WARP_BLOCK) {
        int stop = end - chunk < WARP_BLOCK ? end : chunk + WARP_BLOCK;
        for (int c = chunk; c < stop; c += 8) {
            int n = stop - c < 8 ? stop - c : 8, i = c - chunk;
            __m512d cv = _mm512_add_pd(_mm512_set1_pd(c), iota);
            __m512d x = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m0, cv), m1r), m2);
            __m512d y = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m3, cv), m4r), m5);
            __m512d fl = _mm512_roundscale_pd(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512d ft = _mm512_roundscale_pd(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __mmask8 in = (__mmask8)((1u << n) - 1);
            in = _mm512_mask_cmp_pd_mask(in, fl, zero, _CMP_GE_OQ);
            in = _mm512_mask_cmp_pd_mask(in, ft, zero, _CMP_GE_OQ);
            in = _mm512_mask_cmp_pd_mask(in, _mm512_add_pd(fl, one), wd, _CMP_LT_OQ);
            in = _mm512_mask_cmp_pd_mask(in, _mm512_add_pd(ft, one), hd, _CMP_LT_OQ);
            _mm512_storeu_pd(fxs + i, _mm512_maskz_sub_pd(in, x, fl));
            _mm512_storeu_pd(fys + i, _mm512_maskz_sub_pd(in, y, ft));
            __m512i ix = _mm512_cvtepi32_epi64(_mm512_maskz_cvttpd_epi32(in, fl));
            __m512i iy = _mm512_cvtepi32_epi64(_mm512_maskz_cvttpd_epi32(in, ft));
            __m512i off = _mm512_add_epi64(_mm512_mul_epu32(iy, w64), ix);
            _mm512_storeu_si512(offs + i, _mm512_add_epi64(off, _mm512_add_epi64(off, off)));
            ins[i / 8] = in;
        }
        for (int c = chunk; c < stop; c += 8) {
            int n = stop - c < 8 ? stop - c : 8, i = c - chunk;
            __mmask8 in = ins[i / 8];
            __m512d fx = _mm512_loadu_pd(fxs + i), fy = _mm512_loadu_pd(fys + i);
            __m512i off = _mm512_loadu_si512(offs + i);
            __m512i top = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), in, off, src, 1);
            __m512i bot = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), in,
                                                      _mm512_add_epi64(off, below), src, 1);
            __m512d ofx = _mm512_sub_pd(one, fx), ofy = _mm512_sub_pd(one, fy);
            __m256i ch[3];
            for (int k = 0; k < 3; k++) {
                __m512d p00 = _mm512_cvtepi64_pd(byte_of_lanes512(top, k));
                __m512d p01 = _mm512_cvtepi64_pd(byte_of_lanes512(top, 3 + k));
                __m512d p10 = _mm512_cvtepi64_pd(byte_of_lanes512(bot, 2 + k));
                __m512d p11 = _mm512_cvtepi64_pd(byte_of_lanes512(bot, 5 + k));
                __m512d t = _mm512_add_pd(_mm512_mul_pd(ofx, p00), _mm512_mul_pd(fx, p01));
                __m512d b = _mm512_add_pd(_mm512_mul_pd(ofx, p10), _mm512_mul_pd(fx, p11));
                __m512d v = _mm512_add_pd(_mm512_mul_pd(ofy, t), _mm512_mul_pd(fy, b));
                ch[k] = _mm512_cvttpd_epi32(v); /* no clamp: see above */
            }
            __m512i rg = _mm512_inserti64x4(_mm512_castsi256_si512(ch[0]), ch[1], 1);
            __m512i blue = _mm512_castsi256_si512(ch[2]);
            __m128i px0 = _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(rg, first16, blue));
            __m128i px1 = _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(rg, last8, blue));
            uint8_t *o = q + (size_t)c * 3;
            if (n == 8) {
                _mm_storeu_si128((__m128i *)(void *)o, px0);
                _mm_storel_epi64((__m128i *)(void *)(o + 16), px1);
            } else {
                uint8_t bytes[32];
                _mm_storeu_si128((__m128i *)(void *)bytes, px0);
                _mm_storeu_si128((__m128i *)(void *)(bytes + 16), px1);
                memcpy(o, bytes, (size_t)n * 3);
            }
        }
    }
}
#endif

int fr_warp_path_available(fr_warp_path path)
{
    switch (path) {
    case FR_WARP_SCALAR:
        return 1;
    case FR_WARP_AVX2:
#ifdef HAVE_WARP_AVX2
        return 1;
#else
        return 0;
#endif
    case FR_WARP_AVX512:
#ifdef HAVE_WARP_AVX512
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq");
#else
        return 0;
#endif
    }
    return 0;
}

void fr_warp_bilinear_on(fr_warp_path path, const uint8_t *src, int w, int h, const double m[6],
                         int size, uint8_t *out)
{
    for (int r = 0; r < size; r++) {
        uint8_t *q = out + (size_t)r * size * 3;
#ifdef HAVE_WARP_AVX512
        if (path == FR_WARP_AVX512) {
            row_avx512(src, w, h, m, r, size, q);
            continue;
        }
#endif
#ifdef HAVE_WARP_AVX2
        if (path == FR_WARP_AVX2) {
            row_avx2(src, w, h, m, r, size, q);
            continue;
        }
#endif
        row_scalar(src, w, h, m, r, size, q);
    }
}

void fr_warp_bilinear(const uint8_t *src, int w, int h, const double m[6], int size,
                      uint8_t *out)
{
    fr_warp_path path = fr_warp_path_available(FR_WARP_AVX512) ? FR_WARP_AVX512
                        : fr_warp_path_available(FR_WARP_AVX2) ? FR_WARP_AVX2
                                                               : FR_WARP_SCALAR;
    fr_warp_bilinear_on(path, src, w, h, m, size, out);
}

/* A 2x2 box mean: dst (w, h) from src pixels (2x..2x+1, 2y..2y+1), src rows `stride` pixels. */
static void halve(const uint8_t *src, size_t stride, long w, long h, uint8_t *dst)
{
    size_t row = stride * 3;
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            const uint8_t *p = src + (size_t)(2 * y) * row + (size_t)(2 * x) * 3;
            uint8_t *q = dst + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++)
                q[k] = (uint8_t)((p[k] + p[k + 3] + p[row + k] + p[row + k + 3] + 2) >> 2);
        }
}

fr_status fr_warp_dlib(const fr_image *im, const double m[6], int size, fr_scratch *scratch,
                       uint8_t *out)
{
    double scale = hypot(m[0], m[3]);
    if (!isfinite(scale) || !isfinite(m[2]) || !isfinite(m[5]) || scale <= 0)
        return fr_fail(FR_E_INVALID, "face chip: degenerate landmarks");
    /* pyramid levels: halve while the face's rectangle would still exceed twice the chip */
    int levels = 0;
    for (double span = size * scale - 1; span / 2 + 1 > size && levels < 16; span /= 2)
        levels++;
    if (levels == 0) {
        fr_warp_bilinear(im->pixels, im->width, im->height, m, size, out);
        return FR_OK;
    }
    /* the region the chip reads, grown by the filter's reach, clipped to the image */
    double xs[4] = {m[2], m[0] * (size - 1) + m[2], m[1] * (size - 1) + m[2],
                    (m[0] + m[1]) * (size - 1) + m[2]};
    double ys[4] = {m[5], m[3] * (size - 1) + m[5], m[4] * (size - 1) + m[5],
                    (m[3] + m[4]) * (size - 1) + m[5]};
    double grow = 2.0 * (1 << levels) + 2;
    double x0 = xs[0], x1 = xs[0], y0 = ys[0], y1 = ys[0];
    for (int i = 1; i < 4; i++) {
        x0 = fmin(x0, xs[i]);
        x1 = fmax(x1, xs[i]);
        y0 = fmin(y0, ys[i]);
        y1 = fmax(y1, ys[i]);
    }
    long rx0 = (long)fmax(0, floor(x0 - grow)), ry0 = (long)fmax(0, floor(y0 - grow));
    long rx1 = (long)fmin(im->width, ceil(x1 + grow) + 1), ry1 = (long)fmin(im->height, ceil(y1 + grow) + 1);
    if (rx1 - rx0 < 2 || ry1 - ry0 < 2) {
        memset(out, 0, (size_t)size * size * 3);
        return FR_OK;
    }
    long w = (rx1 - rx0) / 2, h = (ry1 - ry0) / 2;
    uint8_t *buf = fr_scratch_get(scratch, (size_t)w * (size_t)h * 3 * 2, "an aligned face");
    if (!buf)
        return FR_E_NOMEM;
    /* level 1 from the image region, the next ones alternating between two halves of buf */
    uint8_t *cur = buf, *other = buf + (size_t)w * h * 3;
    halve(im->pixels + ((size_t)ry0 * im->width + (size_t)rx0) * 3, (size_t)im->width, w, h, cur);
    int built = 1;
    for (; built < levels && w >= 4 && h >= 4; built++) {
        halve(cur, (size_t)w, w / 2, h / 2, other);
        uint8_t *t = cur;
        cur = other;
        other = t;
        w /= 2;
        h /= 2;
    }
    /* each level maps x to (x - 0.5) / 2: after n levels, (x - (2^n - 1) / 2) / 2^n */
    double f = (double)(1L << built), shift = (f - 1) / 2;
    double ml[6] = {m[0] / f, m[1] / f, (m[2] - rx0 - shift) / f,
                    m[3] / f, m[4] / f, (m[5] - ry0 - shift) / f};
    fr_warp_bilinear(cur, (int)w, (int)h, ml, size, out);
    return FR_OK;
}


void fr_warp_affine(const fr_image *im, const double m[6], int size, uint8_t *out)
{
    long w = im->width, h = im->height;
    for (int r = 0; r < size; r++)
        for (int c = 0; c < size; c++) {
            double x = m[0] * c + m[1] * r + m[2], y = m[3] * c + m[4] * r + m[5];
            uint8_t *q = out + ((size_t)r * size + c) * 3;
            double fl = floor(x), ft = floor(y);
            if (!(fl > -2 && ft > -2 && fl < w && ft < h)) {
                q[0] = q[1] = q[2] = 0;
                continue;
            }
            long left = (long)fl, top = (long)ft;
            double fx = x - fl, fy = y - ft;
            double wts[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            long xs[4] = {left, left + 1, left, left + 1}, ys[4] = {top, top, top + 1, top + 1};
            double v[3] = {0, 0, 0};
            for (int t = 0; t < 4; t++) {
                if (xs[t] < 0 || ys[t] < 0 || xs[t] >= w || ys[t] >= h)
                    continue;
                const uint8_t *p = im->pixels + ((size_t)ys[t] * (size_t)w + (size_t)xs[t]) * 3;
                for (int k = 0; k < 3; k++)
                    v[k] += wts[t] * p[k];
            }
            for (int k = 0; k < 3; k++)
                q[k] = (uint8_t)(v[k] <= 0 ? 0 : v[k] >= 255 ? 255 : floor(v[k] + 0.5));
        }
}
