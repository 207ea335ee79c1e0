/*
 * resize_area.c: OpenCV 4's INTER_AREA (imgproc/src/resize.cpp: computeResizeAreaTab,
 * ResizeArea_Invoker, resizeAreaFast_, and the INTER_AREA branch of the linear coefficients),
 * written from its arithmetic: float weights, sums in float (OpenCV's WT for 8-bit images),
 * the same order of additions, and saturate_cast rounding. ISO C mode keeps gcc from fusing
 * multiply-adds, so the sums round exactly as OpenCV's do.
 *
 * Enlarging 8-bit images takes OpenCV's fixed-point bilinear path there; MTCNN never
 * enlarges an 8-bit image (its pyramid starts at 12 / min_face <= 1), so here that case
 * computes in float and rounds, within one level of OpenCV.
 */
#include "image/resize_area.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

#define MAX_SIDE 65536

typedef struct decimate {
    int di, si; /* destination and source element index (pixel * 3) */
    float alpha;
} decimate;

/* computeResizeAreaTab: the source pixels each destination pixel covers, with weights. */
static int area_tab(int ssize, int dsize, int cn, double scale, decimate *tab)
{
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        double fsx1 = dx * scale;
        double fsx2 = fsx1 + scale;
        double cell = scale < ssize - fsx1 ? scale : ssize - fsx1;
        int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
        sx2 = sx2 < ssize - 1 ? sx2 : ssize - 1;
        sx1 = sx1 < sx2 ? sx1 : sx2;
        if (sx1 - fsx1 > 1e-3) {
            tab[k].di = dx * cn;
            tab[k].si = (sx1 - 1) * cn;
            tab[k++].alpha = (float)((sx1 - fsx1) / cell);
        }
        for (int sx = sx1; sx < sx2; sx++) {
            tab[k].di = dx * cn;
            tab[k].si = sx * cn;
            tab[k++].alpha = (float)(1.0 / cell);
        }
        if (fsx2 - sx2 > 1e-3) {
            double part = fsx2 - sx2 < 1.0 ? fsx2 - sx2 : 1.0;
            tab[k].di = dx * cn;
            tab[k].si = sx2 * cn;
            tab[k++].alpha = (float)((part < cell ? part : cell) / cell);
        }
    }
    return k;
}

/* OpenCV's cvRound: to nearest, ties to even (rintf in the default rounding mode, which
 * compiles to one instruction where lrintf is a call); then saturate to 0..255. */
static inline uint8_t saturate_u8(float v)
{
    float r = rintf(v);
    return (uint8_t)(r <= 0.0f ? 0.0f : r >= 255.0f ? 255.0f : r);
}

static void store_row(const float *sum, int n, uint8_t *du8, float *df)
{
    if (du8)
        for (int i = 0; i < n; i++)
            du8[i] = saturate_u8(sum[i]);
    else
        memcpy(df, sum, (size_t)n * sizeof *df);
}

/* resizeArea: general shrinking by factors >= 1.
 *
 * OpenCV sums each source row's contributions to a destination pixel in table order into a
 * row buffer (buf[d] += s * alpha), then the rows into the destination (sum = beta * buf, or
 * += for the destination's later rows). Here each destination pixel's taps are regrouped as
 * a column of the table (tap t of pixel d: its t-th entry, padding with weight 0 past its
 * last), summed in OpenCV's order: adding the padding's 0 * 0 leaves a sum of non-negative
 * terms unchanged. A pixel's three channels share their taps, so one 4-float load per tap
 * (the fourth lane is the next source value, summed and then overwritten) serves the whole
 * pixel (eight-pixel gathers per channel, which this replaces, made the whole resize 2.3x
 * slower on AMD Zen 4, where gathers are slow).
 * The row buffers are interleaved, as the destination is. */
static fr_status shrink(const uint8_t *src, size_t stride, int sw, int sh, uint8_t *du8, float *df,
                        int dw, int dh, double sx_scale, double sy_scale, fr_scratch *scratch)
{
    size_t xn_max = (size_t)sw * 2, yn_max = (size_t)sh * 2;
    size_t dwp = ((size_t)dw + 7) & ~(size_t)7; /* pixels, padded to whole vectors */
    /* a destination pixel takes at most ceil(scale) + 1 source pixels */
    int taps = (int)ceil(sx_scale) + 2;
    size_t bytes = (xn_max + yn_max) * sizeof(decimate) + (size_t)taps * dwp * 2 * sizeof(float) +
                   ((size_t)sw * 3 + 8) * sizeof(float) + (6 * dwp + 4) * sizeof(float) + 64;
    char *mem = fr_scratch_get(scratch, bytes, "resize tables");
    if (!mem)
        return FR_E_NOMEM;
    decimate *xtab = (decimate *)mem, *ytab = xtab + xn_max;
    int32_t *tap_at = (int32_t *)(ytab + yn_max); /* (taps, dwp): source element of channel 0 */
    float *tap_w = (float *)(tap_at + (size_t)taps * dwp);
    float *rowf = tap_w + (size_t)taps * dwp;     /* the source row as floats */
    float *buf = rowf + (size_t)sw * 3 + 8;       /* (dw, 3), and one float past the end */
    float *sum = buf + 3 * dwp + 4;               /* (dw, 3) */
    int xn = area_tab(sw, dw, 3, sx_scale, xtab);
    int yn = area_tab(sh, dh, 1, sy_scale, ytab);
    for (size_t i = 0; i < (size_t)taps * dwp; i++) {
        tap_at[i] = 0;
        tap_w[i] = 0.0f;
    }
    int max_taps = 0;
    for (int k = 0, t = 0; k < xn; k++) {
        int dx = xtab[k].di / 3;
        t = k > 0 && xtab[k - 1].di / 3 == dx ? t + 1 : 0;
        if (t >= taps)
            return fr_fail(FR_E_INTERNAL, "area resize: %d taps for %g", t + 1, sx_scale);
        tap_at[(size_t)t * dwp + (size_t)dx] = xtab[k].si;
        tap_w[(size_t)t * dwp + (size_t)dx] = xtab[k].alpha;
        max_taps = t + 1 > max_taps ? t + 1 : max_taps;
    }
    for (size_t i = 0; i < 3 * dwp; i++)
        sum[i] = 0.0f;
    for (size_t i = (size_t)sw * 3; i < (size_t)sw * 3 + 8; i++)
        rowf[i] = 0.0f; /* read by the last pixel's fourth lane */
    int prev_dy = ytab[0].di;
    for (int j = 0; j < yn; j++) {
        float beta = ytab[j].alpha;
        int dy = ytab[j].di;
        const uint8_t *s = src + (size_t)ytab[j].si * stride;
        /* a source row across two destination rows is the last entry of the first and the
         * first of the next: its horizontal pass (buf) is the one just made */
        int again = j > 0 && ytab[j].si == ytab[j - 1].si;
        for (int i = 0; i < sw * 3 && !again; i++)
            rowf[i] = s[i];
        for (int d = 0; d < dw && !again; d++) {
            const int32_t *at = tap_at + d;
            const float *w = tap_w + d;
#ifdef __AVX2__
            /* the pixel's three channels in one vector (the fourth lane, the next source
             * value, is summed too and overwritten by the next pixel's store) */
            __m128 acc = _mm_setzero_ps();
            for (int t = 0; t < max_taps; t++) {
                __m128 v = _mm_loadu_ps(rowf + at[(size_t)t * dwp]);
                acc = _mm_add_ps(acc, _mm_mul_ps(v, _mm_broadcast_ss(w + (size_t)t * dwp)));
            }
            _mm_storeu_ps(buf + (size_t)d * 3, acc);
#else
            for (int c = 0; c < 3; c++) {
                float acc = 0.0f;
                for (int t = 0; t < max_taps; t++)
                    acc = acc + rowf[at[(size_t)t * dwp] + c] * w[(size_t)t * dwp];
                buf[(size_t)d * 3 + (size_t)c] = acc;
            }
#endif
        }
        if (dy != prev_dy) {
            store_row(sum, dw * 3, du8 ? du8 + (size_t)prev_dy * dw * 3 : NULL,
                      df ? df + (size_t)prev_dy * dw * 3 : NULL);
            for (size_t i = 0; i < (size_t)dw * 3; i++)
                sum[i] = beta * buf[i];
            prev_dy = dy;
        } else {
            for (size_t i = 0; i < (size_t)dw * 3; i++)
                sum[i] += beta * buf[i];
        }
    }
    store_row(sum, dw * 3, du8 ? du8 + (size_t)prev_dy * dw * 3 : NULL,
              df ? df + (size_t)prev_dy * dw * 3 : NULL);
    return FR_OK;
}

/* resizeAreaFast_: integer factors; every destination pixel is a plain mean. OpenCV's SIMD
 * kernel for 2x2 on 8-bit images rounds (sum + 2) >> 2. */
static void shrink_integer(const uint8_t *src, size_t stride, uint8_t *du8, float *df, int dw,
                           int dh, int fx, int fy)
{
    int area = fx * fy;
    float inv = 1.0f / (float)area;
    for (int dy = 0; dy < dh; dy++)
        for (int dx = 0; dx < dw; dx++)
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int y = 0; y < fy; y++) {
                    const uint8_t *s = src + (size_t)(dy * fy + y) * stride + (size_t)dx * fx * 3 + c;
                    for (int x = 0; x < fx; x++)
                        sum += s[(size_t)x * 3];
                }
                size_t o = ((size_t)dy * dw + dx) * 3 + c;
                if (du8)
                    du8[o] = area == 4 ? (uint8_t)((sum + 2) >> 2) : saturate_u8((float)sum * inv);
                else
                    df[o] = (float)((double)sum * inv);
            }
}

typedef struct linear_coef {
    int s;       /* first source index */
    int single;  /* only s contributes (the far edge) */
    float f;     /* weight of s + 1 */
} linear_coef;

/* The INTER_AREA branch of resize()'s bilinear coefficients, one axis. */
static void linear_axis(int ssize, int dsize, linear_coef *coef)
{
    double inv = (double)dsize / ssize, scale = 1.0 / inv;
    for (int d = 0; d < dsize; d++) {
        int s = (int)floor(d * scale);
        float f = (float)((d + 1) - (s + 1) * inv);
        f = f <= 0 ? 0.0f : f - floorf(f);
        if (s < 0)
            f = 0.0f, s = 0;
        int single = s + 1 >= ssize;
        if (s >= ssize - 1)
            f = 0.0f, s = ssize - 1;
        coef[d].s = s;
        coef[d].single = single;
        coef[d].f = f;
    }
}

/* Enlarging on some axis: bilinear, horizontal pass then vertical (resizeGeneric_). */
static fr_status enlarge(const uint8_t *src, size_t stride, int sw, int sh, uint8_t *du8, float *df,
                         int dw, int dh, fr_scratch *scratch)
{
    size_t row = (size_t)dw * 3;
    size_t bytes = ((size_t)dw + dh) * sizeof(linear_coef) + 2 * row * sizeof(double) +
                   row * sizeof(float);
    char *mem = fr_scratch_get(scratch, bytes, "resize tables");
    if (!mem)
        return FR_E_NOMEM;
    linear_coef *xc = (linear_coef *)mem, *yc = xc + dw;
    double *r0 = (double *)(yc + dh), *r1 = r0 + row;
    float *out = (float *)(r1 + row);
    linear_axis(sw, dw, xc);
    linear_axis(sh, dh, yc);
    for (int dy = 0; dy < dh; dy++) {
        int rows[2] = {yc[dy].s, yc[dy].s + 1 < sh ? yc[dy].s + 1 : sh - 1};
        double *acc[2] = {r0, r1};
        for (int k = 0; k < 2; k++) {
            const uint8_t *s = src + (size_t)rows[k] * stride;
            for (int dx = 0; dx < dw; dx++)
                for (int c = 0; c < 3; c++) {
                    const linear_coef *x = &xc[dx];
                    const uint8_t *p = s + (size_t)x->s * 3 + c;
                    acc[k][dx * 3 + c] = x->single ? (double)p[0]
                                                   : p[0] * (double)(1.0f - x->f) + p[3] * (double)x->f;
                }
        }
        double b0 = 1.0f - yc[dy].f, b1 = yc[dy].f;
        for (size_t i = 0; i < row; i++)
            out[i] = (float)(b0 * r0[i] + b1 * r1[i]);
        store_row(out, (int)row, du8 ? du8 + (size_t)dy * row : NULL, df ? df + (size_t)dy * row : NULL);
    }
    return FR_OK;
}

static fr_status resize_area(const uint8_t *src, size_t stride, int sw, int sh, uint8_t *du8,
                             float *df, int dw, int dh, fr_scratch *scratch)
{
    if (!src || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sw > MAX_SIDE || sh > MAX_SIDE ||
        dw > MAX_SIDE || dh > MAX_SIDE || stride < (size_t)sw * 3)
        return fr_fail(FR_E_INVALID, "area resize from %dx%d to %dx%d", sw, sh, dw, dh);
    if (sw == dw && sh == dh) {
        size_t row = (size_t)sw * 3;
        for (int y = 0; y < sh; y++) {
            const uint8_t *s = src + (size_t)y * stride;
            if (du8)
                memcpy(du8 + (size_t)y * row, s, row);
            else
                for (size_t i = 0; i < row; i++)
                    df[(size_t)y * row + i] = s[i];
        }
        return FR_OK;
    }
    double sx = 1.0 / ((double)dw / sw), sy = 1.0 / ((double)dh / sh);
    if (sx >= 1 && sy >= 1) {
        int ix = (int)lrint(sx), iy = (int)lrint(sy);
        if (fabs(sx - ix) < 2.220446049250313e-16 && fabs(sy - iy) < 2.220446049250313e-16) {
            shrink_integer(src, stride, du8, df, dw, dh, ix, iy);
            return FR_OK;
        }
        return shrink(src, stride, sw, sh, du8, df, dw, dh, sx, sy, scratch);
    }
    return enlarge(src, stride, sw, sh, du8, df, dw, dh, scratch);
}

fr_status fr_resize_area_u8(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int dst_w,
                            int dst_h, fr_scratch *scratch)
{
    return resize_area(src, (size_t)src_w * 3, src_w, src_h, dst, NULL, dst_w, dst_h, scratch);
}

fr_status fr_resize_area_f32(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                             float *dst, int dst_w, int dst_h, fr_scratch *scratch)
{
    return resize_area(src, src_stride, src_w, src_h, NULL, dst, dst_w, dst_h, scratch);
}
