/*
 * align.c: dlib face chips and FaceNet crops (see align.h), written from dlib's
 * image_transforms/interpolation.h (get_face_chip_details, chip_details, extract_image_chips,
 * interpolate_bilinear) and facenet's align_dataset_mtcnn.py.
 *
 * dlib's geometry: T = the least-squares similarity taking chip template points to image
 * landmarks; its rotation and scale give the angle and a rectangle of side size * scale
 * centred on T(size / 2, size / 2) (dlib's centered_drect: right - left = side - 1); chip
 * corners (0, 0), (size - 1, 0), (0, size - 1) map onto that rectangle's rotated corners.
 * The pixels are sampled by image/warp.c (dlib's extract_image_chip).
 */
#include "detect/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"
#include "image/warp.h"
#include "runtime/vision_math.h"

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

void fr_dlib_chip_transform(const fr_face *face, int size, double padding, double m[6])
{
    double from[5][2], to[5][2];
    fr_dlib_template(size, padding, from);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++)
            to[i][k] = face->landmarks[i][k];
    fr_vm_chip_transform((const double (*)[2])from, (const double (*)[2])to, 5, size, m);
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
    fr_vm_chip_transform((const double (*)[2])from, (const double (*)[2])to, n, size, m);
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
    return fr_warp_dlib(im, m, size, scratch, out);
}

fr_status fr_align_dlib68(const fr_image *im, const fr_landmarks68 *landmarks, int size,
                          double padding, fr_scratch *scratch, uint8_t *out)
{
    if (!valid_chip(im, size, padding))
        return fr_fail(FR_E_INVALID, "face chip: bad arguments");
    double m[6];
    fr_dlib_chip_transform68(landmarks, size, padding, m);
    return fr_warp_dlib(im, m, size, scratch, out);
}

fr_status fr_align_facenet(const fr_image *im, const fr_face *face, int size, int margin,
                           fr_scratch *scratch, uint8_t *out)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0 || size < 8 || size > 4096 ||
        margin < 0 || margin > 4096)
        return fr_fail(FR_E_INVALID, "face crop: bad arguments");
    fr_crop_job r;
    fr_status st = fr_facenet_region(im->width, im->height, face, margin, &r);
    if (st)
        return st;
    uint8_t *crop = fr_scratch_get(scratch, (size_t)r.width * (size_t)r.height * 3,
                                   "an aligned face");
    if (!crop)
        return FR_E_NOMEM;
    for (int y = 0; y < r.height; y++)
        memcpy(crop + (size_t)y * r.width * 3,
               im->pixels + ((size_t)(r.y + y) * im->width + (size_t)r.x) * 3, (size_t)r.width * 3);
    return fr_resize_bilinear_pil(crop, r.width, r.height, out, size, size);
}

fr_status fr_facenet_region(int width, int height, const fr_face *face, int margin,
                            fr_crop_job *region)
{
    /* numpy: bb = int32 of max(det - margin/2, 0) and min(det + margin/2, size): truncation */
    double half = margin / 2.0;
    int x0 = (int)fmax(face->box[0] - half, 0), y0 = (int)fmax(face->box[1] - half, 0);
    int x1 = (int)fmin(face->box[2] + half, width);
    int y1 = (int)fmin(face->box[3] + half, height);
    if (x1 <= x0 || y1 <= y0)
        return fr_fail(FR_E_INVALID, "face crop: empty box");
    *region = (fr_crop_job){0, x0, y0, x1 - x0, y1 - y0};
    return FR_OK;
}

void fr_arcface_chip_transform(double points[5][2], int size, double m[6])
{
    fr_vm_arcface_transform((const double (*)[2])points, size, m);
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
    fr_warp_affine(im, m, size, out);
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
    fr_vm_points5_from68((const float (*)[2])landmarks->points, points);
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
    fr_warp_bilinear(chip, size, size, m, size, out);
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
