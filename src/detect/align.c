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

/* dlib's mean face: points 17-67 of the 68-point annotation in the unit square, the data of
 * get_face_chip_details (dlib/image_transforms/interpolation.h, dlib 19.x, Boost Software
 * License), transcribed. Index i holds point 17 + i. */
#define MEAN_FIRST 17
static const double MEAN_X[51] = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483, 0.799124,
    0.904991,    0.98004,   0.490127, 0.490127, 0.490127, 0.490127, 0.36688,  0.426036,
    0.490127,    0.554217,  0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743,    0.645647,  0.714428, 0.793132, 0.858516, 0.79751,  0.719335, 0.254149,
    0.340985,    0.428858,  0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127,    0.423532,  0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364,    0.490127,  0.42689};
static const double MEAN_Y[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482,
    0.038915, 0.106454, 0.203352,  0.307009,  0.409805,  0.515625,  0.587326,  0.609345,
    0.628106, 0.609345, 0.587326,  0.216423,  0.178758,  0.179852,  0.231733,  0.245099,
    0.244077, 0.231733, 0.179852,  0.178758,  0.216423,  0.244077,  0.245099,  0.780233,
    0.745405, 0.727388, 0.742578,  0.727388,  0.745405,  0.780233,  0.864805,  0.902192,
    0.909281, 0.902192, 0.864805,  0.784792,  0.778746,  0.785343,  0.778746,  0.784792,
    0.824182, 0.831803, 0.824182};

/* The points get_face_chip_details fits with 68 landmarks: 17-67 but the eyebrows (17-26)
 * and the lower lip (55-59, 65-67): nose 27-35, eyes 36-47, upper lip 48-54 and 60-64. */
static int fitted68(int point)
{
    return point >= 27 && !(point >= 55 && point <= 59) && point <= 64;
}

/* A mean-face point in a size x size chip with padding (get_face_chip_details). */
static void to_chip(const double unit[2], int size, double padding, double out[2])
{
    for (int k = 0; k < 2; k++)
        out[k] = (padding + unit[k]) / (2 * padding + 1) * size;
}


void fr_dlib_template(int size, double padding, double points[5][2])
{
    /* MTCNN's eyes are the centres of the eye contours 36-41 and 42-47 (means taken in the
     * unit square, then placed in the chip) */
    enum { LEFT_EYE = 36 - MEAN_FIRST, RIGHT_EYE = 42 - MEAN_FIRST, NOSE_TIP = 30 - MEAN_FIRST,
           MOUTH_LEFT = 48 - MEAN_FIRST, MOUTH_RIGHT = 54 - MEAN_FIRST };
    double unit[5][2] = {{0, 0},
                         {0, 0},
                         {MEAN_X[NOSE_TIP], MEAN_Y[NOSE_TIP]},
                         {MEAN_X[MOUTH_LEFT], MEAN_Y[MOUTH_LEFT]},
                         {MEAN_X[MOUTH_RIGHT], MEAN_Y[MOUTH_RIGHT]}};
    for (int i = 0; i < 6; i++) {
        unit[FR_EYE_LEFT][0] += MEAN_X[LEFT_EYE + i] / 6;
        unit[FR_EYE_LEFT][1] += MEAN_Y[LEFT_EYE + i] / 6;
        unit[FR_EYE_RIGHT][0] += MEAN_X[RIGHT_EYE + i] / 6;
        unit[FR_EYE_RIGHT][1] += MEAN_Y[RIGHT_EYE + i] / 6;
    }
    for (int i = 0; i < 5; i++)
        to_chip(unit[i], size, padding, points[i]);
}

int fr_dlib_template68(int size, double padding, int index[FR_DLIB68_FITTED],
                       double points[FR_DLIB68_FITTED][2])
{
    int n = 0;
    for (int i = 0; i < FR_LANDMARK68_COUNT - MEAN_FIRST; i++)
        if (fitted68(MEAN_FIRST + i) && n < FR_DLIB68_FITTED) {
            double unit[2] = {MEAN_X[i], MEAN_Y[i]};
            index[n] = MEAN_FIRST + i;
            to_chip(unit, size, padding, points[n++]);
        }
    return n;
}

/* dlib's chip_details(from, to, size): T = the least-squares similarity from the template
 * points `from` to the landmarks `to`; its rotation and scale give a rectangle of side
 * size * scale centred on T(size / 2, size / 2) (dlib's centered_drect: right - left =
 * side - 1), whose corners the chip's corners map onto. */
static void chip_transform(const double (*from)[2], const double (*to)[2], int n, int size,
                           double m[6])
{
    /* q = [a -b; b a] (p - mp) + mq */
    double mp[2] = {0, 0}, mq[2] = {0, 0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            mp[k] += from[i][k] / n;
            mq[k] += to[i][k] / n;
        }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double px = from[i][0] - mp[0], py = from[i][1] - mp[1];
        double qx = to[i][0] - mq[0], qy = to[i][1] - mq[1];
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

void fr_dlib_chip_transform(const fr_face *face, int size, double padding, double m[6])
{
    double from[5][2], to[5][2];
    fr_dlib_template(size, padding, from);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++)
            to[i][k] = face->landmarks[i][k];
    chip_transform((const double (*)[2])from, (const double (*)[2])to, 5, size, m);
}

void fr_dlib_chip_transform68(const fr_landmarks68 *landmarks, int size, double padding,
                              double m[6])
{
    int index[FR_DLIB68_FITTED];
    double from[FR_DLIB68_FITTED][2], to[FR_DLIB68_FITTED][2];
    int n = fr_dlib_template68(size, padding, index, from);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++)
            to[i][k] = landmarks->points[index[i]][k];
    chip_transform((const double (*)[2])from, (const double (*)[2])to, n, size, m);
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

/* dlib's extract_image_chip for the chip-to-image mapping m. */
static fr_status extract_chip(const fr_image *im, const double m[6], int size,
                              fr_scratch *scratch, uint8_t *out)
{
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
    sample_chip(cur, (int)w, (int)h, ml, size, out);
    return FR_OK;
}

static int valid_chip(const fr_image *im, int size, double padding)
{
    return im && im->pixels && im->width > 0 && im->height > 0 && size >= 8 && size <= 4096 &&
           padding >= 0 && padding <= 4;
}

fr_status fr_align_dlib(const fr_image *im, const fr_face *face, int size, double padding,
                        fr_scratch *scratch, uint8_t *out)
{
    if (!valid_chip(im, size, padding))
        return fr_fail(FR_E_INVALID, "face chip: bad arguments");
    double m[6];
    fr_dlib_chip_transform(face, size, padding, m);
    return extract_chip(im, m, size, scratch, out);
}

fr_status fr_align_dlib68(const fr_image *im, const fr_landmarks68 *landmarks, int size,
                          double padding, fr_scratch *scratch, uint8_t *out)
{
    if (!valid_chip(im, size, padding))
        return fr_fail(FR_E_INVALID, "face chip: bad arguments");
    double m[6];
    fr_dlib_chip_transform68(landmarks, size, padding, m);
    return extract_chip(im, m, size, scratch, out);
}

fr_status fr_align_facenet(const fr_image *im, const fr_face *face, int size, int margin,
                           fr_scratch *scratch, uint8_t *out)
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
    uint8_t *crop = fr_scratch_get(scratch, (size_t)w * (size_t)h * 3, "an aligned face");
    if (!crop)
        return FR_E_NOMEM;
    for (int y = 0; y < h; y++)
        memcpy(crop + (size_t)y * w * 3, im->pixels + ((size_t)(y0 + y) * im->width + (size_t)x0) * 3,
               (size_t)w * 3);
    return fr_resize_bilinear_pil(crop, w, h, out, size, size);
}

/* InsightFace's template (python-package insightface/utils/face_align.py, arcface_dst): the
 * eyes, nose tip and mouth corners in a 112 x 112 chip, scaled for other sizes. */
static const double ARCFACE_DST[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014},
                                         {56.0252, 71.7366}, {41.5493, 92.3655},
                                         {70.7299, 92.2041}};

void fr_arcface_chip_transform(double points[5][2], int size, double m[6])
{
    /* norm_crop: M = the least-squares similarity (skimage's SimilarityTransform, Umeyama)
     * from the landmarks to the template, image -> chip; the chip samples M's inverse */
    double ratio = size / 112.0, mp[2] = {0, 0}, mq[2] = {0, 0};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            mp[k] += points[i][k] / 5;
            mq[k] += ARCFACE_DST[i][k] * ratio / 5;
        }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        double px = points[i][0] - mp[0], py = points[i][1] - mp[1];
        double qx = ARCFACE_DST[i][0] * ratio - mq[0], qy = ARCFACE_DST[i][1] * ratio - mq[1];
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    double a = den > 0 ? num_a / den : 0, b = den > 0 ? num_b / den : 0;
    double tx = mq[0] - (a * mp[0] - b * mp[1]), ty = mq[1] - (b * mp[0] + a * mp[1]);
    /* inverse of [a -b tx; b a ty] */
    double det = a * a + b * b;
    double ia = det > 0 ? a / det : 0, ib = det > 0 ? b / det : 0;
    m[0] = ia;
    m[1] = ib;
    m[2] = -(ia * tx + ib * ty);
    m[3] = -ib;
    m[4] = ia;
    m[5] = ib * tx - ia * ty;
}

/* OpenCV's warpAffine (INTER_LINEAR, BORDER_CONSTANT 0): each of the four neighbours outside
 * the image counts as black, the value is rounded. */
static void sample_warp(const fr_image *im, const double m[6], int size, uint8_t *out)
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

fr_status fr_align_arcface(const fr_image *im, double points[5][2], int size,
                           uint8_t *out)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0 || size < 8 || size > 4096)
        return fr_fail(FR_E_INVALID, "face chip: bad arguments");
    double m[6];
    fr_arcface_chip_transform(points, size, m);
    if (!(hypot(m[0], m[3]) > 0) || !isfinite(m[2]) || !isfinite(m[5]))
        return fr_fail(FR_E_INVALID, "face chip: degenerate landmarks");
    sample_warp(im, m, size, out);
    return FR_OK;
}

void fr_face_points5(const fr_face *face, const fr_landmarks68 *landmarks, double points[5][2])
{
    if (!landmarks) {
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 2; k++)
                points[i][k] = face->landmarks[i][k];
        return;
    }
    /* MTCNN's five from the 68: eye contour centres (36-41, 42-47), nose tip (30), mouth
     * corners (48, 54), as fr_dlib_template places them */
    for (int k = 0; k < 2; k++) {
        points[FR_EYE_LEFT][k] = points[FR_EYE_RIGHT][k] = 0;
        for (int i = 0; i < 6; i++) {
            points[FR_EYE_LEFT][k] += landmarks->points[36 + i][k] / 6.0;
            points[FR_EYE_RIGHT][k] += landmarks->points[42 + i][k] / 6.0;
        }
        points[FR_NOSE][k] = landmarks->points[30][k];
        points[FR_MOUTH_LEFT][k] = landmarks->points[48][k];
        points[FR_MOUTH_RIGHT][k] = landmarks->points[54][k];
    }
}

/* splitmix64: one independent stream per (seed, input, face, copy), whatever the batching */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double uniform(uint64_t *state, double lo, double hi)
{
    *state = mix(*state);
    return lo + (hi - lo) * (double)(*state >> 11) / (double)(1ull << 53);
}

uint64_t fr_jitter_seed(uint64_t input, int face, int copy)
{
    return mix(mix(mix(FR_JITTER_SEED ^ input) ^ (uint64_t)(unsigned)face) ^
               (uint64_t)(unsigned)copy);
}

void fr_jitter_chip(const uint8_t *chip, int size, uint64_t seed, uint8_t *out)
{
    /* dlib's jitter_image (image_transforms/interpolation.h): the chip's rectangle shrunk by
     * 3 pixels, grown by 1 / U(0.97, 0.99), moved by U(-0.02, 0.02) of its size, turned by
     * U(-3, 3) degrees, sampled back to size x size (extract_image_chip: bilinear, black
     * outside) and mirrored left-right half the time */
    uint64_t state = seed;
    long left = 3, right = size - 4, side = right - left + 1;
    long tx = lround(uniform(&state, -0.02, 0.02) * (double)side);
    long ty = lround(uniform(&state, -0.02, 0.02) * (double)side);
    double scale = uniform(&state, 0.97, 0.99);
    long box = (long)((double)side / scale);
    double angle = uniform(&state, -3.0, 3.0) * M_PI / 180.0;
    int mirror = uniform(&state, 0.0, 1.0) > 0.5;
    /* dlib's center() and centered_rect() on integer rectangles */
    long cx = (left + right + 1) / 2 + tx, cy = (left + right + 1) / 2 + ty;
    double l = (double)(cx - box / 2), t = (double)(cy - box / 2);
    double r = l + (double)box - 1, b = t + (double)box - 1;
    double mx = (l + r) / 2, my = (t + b) / 2, co = cos(angle), si = sin(angle);
    /* chip corners (0, 0), (size - 1, 0), (0, size - 1) onto the turned rectangle's */
    double tl[2] = {mx + co * (l - mx) - si * (t - my), my + si * (l - mx) + co * (t - my)};
    double tr[2] = {mx + co * (r - mx) - si * (t - my), my + si * (r - mx) + co * (t - my)};
    double bl[2] = {mx + co * (l - mx) - si * (b - my), my + si * (l - mx) + co * (b - my)};
    double step = 1.0 / (size - 1);
    double m[6] = {(tr[0] - tl[0]) * step, (bl[0] - tl[0]) * step, tl[0],
                   (tr[1] - tl[1]) * step, (bl[1] - tl[1]) * step, tl[1]};
    sample_chip(chip, size, size, m, size, out);
    if (mirror)
        for (int y = 0; y < size; y++) {
            uint8_t *row = out + (size_t)y * size * 3;
            for (int x = 0; x < size / 2; x++)
                for (int k = 0; k < 3; k++) {
                    uint8_t v = row[x * 3 + k];
                    row[x * 3 + k] = row[(size - 1 - x) * 3 + k];
                    row[(size - 1 - x) * 3 + k] = v;
                }
        }
}
