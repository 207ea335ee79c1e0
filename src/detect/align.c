/*
 * align.c: dlib face chips and FaceNet crops (see align.h), written from dlib's
 * image_transforms/interpolation.h (get_face_chip_details, chip_details, extract_image_chips,
 * interpolate_bilinear) and facenet's align_dataset_mtcnn.py.
 *
 * dlib's geometry: T = the least-squares similarity taking chip template points to image
 * landmarks; its rotation and scale give the angle and a rectangle of side size * scale
 * centred on T(size / 2, size / 2) (dlib's centered_drect: right - left = side - 1); chip
 * corners (0, 0), (size - 1, 0), (0, size - 1) map onto that rectangle's rotated corners.
 * Where the rectangle is over twice the chip's side, dlib samples a 2x-downsampled pyramid
 * level (pyramid_down<2>, a 5-tap filter); here a 2x2 box mean of the region used, with its
 * own pixel-centre shift (x' = (x - 0.5) / 2).
 */
#include "detect/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"

/* dlib's mean face (points 17-67 of the 68-point annotation, in the unit square) at the
 * points MTCNN finds: the eye contours 36-41 and 42-47, the nose tip 30, mouth corners
 * 48 and 54. */
static const double EYE_LEFT_X[6] = {0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743};
static const double EYE_LEFT_Y[6] = {0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077};
static const double EYE_RIGHT_X[6] = {0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335};
static const double EYE_RIGHT_Y[6] = {0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099};
static const double NOSE_TIP[2] = {0.490127, 0.515625};
static const double MOUTH_LEFT[2] = {0.254149, 0.780233};
static const double MOUTH_RIGHT[2] = {0.726104, 0.780233};

void fr_align_scratch_free(fr_align_scratch *s)
{
    free(s->data);
    s->data = NULL;
    s->size = 0;
}

static uint8_t *scratch_get(fr_align_scratch *s, size_t size)
{
    if (size > s->size) {
        uint8_t *grown = fr_malloc(size, "an aligned face");
        if (!grown)
            return NULL;
        free(s->data);
        s->data = grown;
        s->size = size;
    }
    return s->data;
}

void fr_dlib_template(int size, double padding, double points[5][2])
{
    double unit[5][2] = {{0, 0}, {0, 0}, {NOSE_TIP[0], NOSE_TIP[1]},
                         {MOUTH_LEFT[0], MOUTH_LEFT[1]}, {MOUTH_RIGHT[0], MOUTH_RIGHT[1]}};
    for (int i = 0; i < 6; i++) {
        unit[0][0] += EYE_LEFT_X[i] / 6;
        unit[0][1] += EYE_LEFT_Y[i] / 6;
        unit[1][0] += EYE_RIGHT_X[i] / 6;
        unit[1][1] += EYE_RIGHT_Y[i] / 6;
    }
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++)
            points[i][k] = (padding + unit[i][k]) / (2 * padding + 1) * size;
}

void fr_dlib_chip_transform(const fr_face *face, int size, double padding, double m[6])
{
    double from[5][2];
    fr_dlib_template(size, padding, from);
    /* least-squares similarity chip -> image: q = [a -b; b a] (p - mp) + mq */
    double mp[2] = {0, 0}, mq[2] = {0, 0};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            mp[k] += from[i][k] / 5;
            mq[k] += face->landmarks[i][k] / 5.0;
        }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        double px = from[i][0] - mp[0], py = from[i][1] - mp[1];
        double qx = face->landmarks[i][0] - mq[0], qy = face->landmarks[i][1] - mq[1];
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    double a = num_a / den, b = num_b / den;
    double angle = atan2(b, a), scale = hypot(a, b);
    /* the rectangle: centre T(size/2, size/2), right - left = size * scale - 1 */
    double cx = a * (size / 2.0 - mp[0]) - b * (size / 2.0 - mp[1]) + mq[0];
    double cy = b * (size / 2.0 - mp[0]) + a * (size / 2.0 - mp[1]) + mq[1];
    double half = (size * scale - 1) / 2;
    double co = cos(angle), si = sin(angle);
    /* rotated corners: tl = c + R(-half, -half), tr = c + R(half, -half), bl = c + R(-half, half) */
    double tl[2] = {cx - co * half + si * half, cy - si * half - co * half};
    double tr[2] = {cx + co * half + si * half, cy + si * half - co * half};
    double bl[2] = {cx - co * half - si * half, cy - si * half + co * half};
    double step = size > 1 ? 1.0 / (size - 1) : 0;
    m[0] = (tr[0] - tl[0]) * step;
    m[1] = (bl[0] - tl[0]) * step;
    m[2] = tl[0];
    m[3] = (tr[1] - tl[1]) * step;
    m[4] = (bl[1] - tl[1]) * step;
    m[5] = tl[1];
}

/* dlib's interpolate_bilinear over a (w, h) image, black outside, truncated to 8 bits. */
static void sample_chip(const uint8_t *src, int w, int h, const double m[6], int size, uint8_t *out)
{
    for (int r = 0; r < size; r++)
        for (int c = 0; c < size; c++) {
            double x = m[0] * c + m[1] * r + m[2], y = m[3] * c + m[4] * r + m[5];
            double fl = floor(x), ft = floor(y);
            uint8_t *q = out + ((size_t)r * size + c) * 3;
            if (!(fl >= 0 && ft >= 0 && fl + 1 < w && ft + 1 < h)) {
                q[0] = q[1] = q[2] = 0;
                continue;
            }
            long left = (long)fl, top = (long)ft;
            double fx = x - fl, fy = y - ft;
            const uint8_t *p00 = src + ((size_t)top * w + (size_t)left) * 3;
            const uint8_t *p01 = p00 + 3, *p10 = p00 + (size_t)w * 3, *p11 = p10 + 3;
            for (int k = 0; k < 3; k++) {
                double v = (1 - fy) * ((1 - fx) * p00[k] + fx * p01[k]) +
                           fy * ((1 - fx) * p10[k] + fx * p11[k]);
                q[k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
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

fr_status fr_align_dlib(const fr_image *im, const fr_face *face, int size, double padding,
                        fr_align_scratch *scratch, uint8_t *out)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0 || size < 8 || size > 4096 ||
        !(padding >= 0 && padding <= 4))
        return fr_fail(FR_E_INVALID, "face chip: bad arguments");
    double m[6];
    fr_dlib_chip_transform(face, size, padding, m);
    double scale = hypot(m[0], m[3]);
    if (!isfinite(scale) || !isfinite(m[2]) || !isfinite(m[5]) || scale <= 0)
        return fr_fail(FR_E_INVALID, "face chip: degenerate landmarks");
    /* pyramid levels: halve while the face's rectangle would still exceed twice the chip */
    int levels = 0;
    for (double span = size * scale - 1; span / 2 + 1 > size && levels < 16; span /= 2)
        levels++;
    if (levels == 0) {
        sample_chip(im->pixels, im->width, im->height, m, size, out);
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
    uint8_t *buf = scratch_get(scratch, (size_t)w * (size_t)h * 3 * 2);
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
    sample_chip(cur, (int)w, (int)h, ml, size, out);
    return FR_OK;
}

fr_status fr_align_facenet(const fr_image *im, const fr_face *face, int size, int margin,
                           fr_align_scratch *scratch, uint8_t *out)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0 || size < 8 || size > 4096 ||
        margin < 0 || margin > 4096)
        return fr_fail(FR_E_INVALID, "face crop: bad arguments");
    /* numpy: bb = int32 of max(det - margin/2, 0) and min(det + margin/2, size): truncation */
    double half = margin / 2.0;
    int x0 = (int)fmax(face->box[0] - half, 0), y0 = (int)fmax(face->box[1] - half, 0);
    int x1 = (int)fmin(face->box[2] + half, im->width);
    int y1 = (int)fmin(face->box[3] + half, im->height);
    if (x1 <= x0 || y1 <= y0)
        return fr_fail(FR_E_INVALID, "face crop: empty box");
    int w = x1 - x0, h = y1 - y0;
    uint8_t *crop = scratch_get(scratch, (size_t)w * (size_t)h * 3);
    if (!crop)
        return FR_E_NOMEM;
    for (int y = 0; y < h; y++)
        memcpy(crop + (size_t)y * w * 3, im->pixels + ((size_t)(y0 + y) * im->width + (size_t)x0) * 3,
               (size_t)w * 3);
    return fr_resize_bilinear_pil(crop, w, h, out, size, size);
}
