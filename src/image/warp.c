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

#include "core/error.h"

/* Chip pixels are sampled in blocks of a row: where each falls (vectorized), its four
 * neighbours gathered, then the interpolation over the block's values (vectorized), each
 * value's arithmetic that of the per-pixel formula (dlib's). */
#define WARP_BLOCK 64

void fr_warp_bilinear(const uint8_t *src, int w, int h, const double m[6], int size,
                      uint8_t *out)
{
    double fxs[WARP_BLOCK], fys[WARP_BLOCK], fx3[3 * WARP_BLOCK], fy3[3 * WARP_BLOCK];
    size_t offs[WARP_BLOCK];
    uint8_t inside[WARP_BLOCK];
    uint8_t p00[3 * WARP_BLOCK], p01[3 * WARP_BLOCK], p10[3 * WARP_BLOCK], p11[3 * WARP_BLOCK];
    size_t row = (size_t)w * 3;
    for (int r = 0; r < size; r++)
        for (int first = 0; first < size; first += WARP_BLOCK) {
            int n = size - first < WARP_BLOCK ? size - first : WARP_BLOCK;
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
            uint8_t *q = out + ((size_t)r * size + (size_t)first) * 3;
            for (int i = 0; i < 3 * n; i++) {
                double fx = fx3[i], fy = fy3[i];
                double v = (1 - fy) * ((1 - fx) * p00[i] + fx * p01[i]) +
                           fy * ((1 - fx) * p10[i] + fx * p11[i]);
                q[i] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
            }
        }
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
