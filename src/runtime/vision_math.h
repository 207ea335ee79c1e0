/*
 * vision_math.h: the arithmetic of the vision operations (runtime/vision.h), per element,
 * written once for the CPU implementation (the reference, src/cpu/cpu_vision.c) and its CUDA
 * twin (cuda/vision_kernels.cu): box arithmetic of facenet's detect_face() in double as its
 * float64 reference does it, face-api's landmark mapping, dlib's least-squares similarity.
 * Every function is a host-device inline, so both backends run the same operations in the
 * same order; the CUDA file is compiled without fused multiply-adds (-fmad=false), as the
 * C files are in ISO C mode, so the two agree to the last bit where the operations are the
 * basic ones (libm and CUDA's transcendental functions may differ by an ulp).
 */
#ifndef FR_RUNTIME_VISION_MATH_H
#define FR_RUNTIME_VISION_MATH_H

#include <math.h>

#include "runtime/vision.h"

#ifdef __CUDACC__
#define FR_HD __host__ __device__ static inline
#else
#define FR_HD static inline
#endif

/* MTCNN's face probability from the two class logits (softmax of (background, face)). */
FR_HD double fr_vm_face_probability(float background, float face)
{
    return 1.0 / (1.0 + exp((double)background - (double)face));
}

/* generateBoundingBox: P-Net cell (x, y) of a level at `scale` as a 12x12 window of the image,
 * corners truncated (fix) as detect_face does. */
FR_HD void fr_vm_cell_box(int x, int y, double scale, double box[4])
{
    box[0] = trunc((2.0 * x + 1) / scale);
    box[1] = trunc((2.0 * y + 1) / scale);
    box[2] = trunc((2.0 * x + 12) / scale);
    box[3] = trunc((2.0 * y + 12) / scale);
}

/* nms(): overlap of two boxes over their union or over the smaller area; in 1-based
 * inclusive pixels (one 1: a box x1..x2 spans x2 - x1 + 1, detect_face's), or continuous
 * (one 0: x2 - x1, face-api's iou()). */
FR_HD double fr_vm_overlap(const double *a, const double *b, int use_min, double one)
{
    double area_a = (a[2] - a[0] + one) * (a[3] - a[1] + one);
    double area_b = (b[2] - b[0] + one) * (b[3] - b[1] + one);
    double w = fmax(0.0, fmin(a[2], b[2]) - fmax(a[0], b[0]) + one);
    double h = fmax(0.0, fmin(a[3], b[3]) - fmax(a[1], b[1]) + one);
    double inter = w * h;
    return use_min ? inter / fmin(area_a, area_b) : inter / (area_a + area_b - inter);
}

/* TinyYolov2Base.extractBoxes for one anchor of one output cell: o the cell's 25 outputs
 * (anchor a's x, y, w, h, score at 5a..5a+4), cells the map's side, fx and fy face-api's
 * correction factors (input side / the image's scaled side). The box (x1, y1, x2, y2) is in
 * fractions of the image (face-api's relativeBox); returns the score, sigmoid(o[5a + 4]). */
FR_HD double fr_vm_tiny_box(const float *o, int row, int col, int a, int cells, double fx,
                            double fy, double box[4])
{
    /* face-api's BOX_ANCHORS (tinyFaceDetector/const.ts), in cells */
    const double ax[5] = {1.603231, 6.041143, 2.882459, 4.266906, 9.041765};
    const double ay[5] = {2.094468, 7.080126, 3.518061, 5.178857, 10.66308};
    const float *p = o + 5 * a;
    double cx = (col + 1.0 / (1.0 + exp(-(double)p[0]))) / cells * fx;
    double cy = (row + 1.0 / (1.0 + exp(-(double)p[1]))) / cells * fy;
    double w = exp((double)p[2]) * ax[a] / cells * fx;
    double h = exp((double)p[3]) * ay[a] / cells * fy;
    box[0] = cx - w / 2;
    box[1] = cy - h / 2;
    box[2] = box[0] + w;
    box[3] = box[1] + h;
    return 1.0 / (1.0 + exp(-(double)p[4]));
}

/* rerec(): the square of the longer side around the box's centre. */
FR_HD void fr_vm_rerec(double *b)
{
    double h = b[3] - b[1], w = b[2] - b[0];
    double side = w > h ? w : h;
    b[0] = b[0] + w * 0.5 - side * 0.5;
    b[1] = b[1] + h * 0.5 - side * 0.5;
    b[2] = b[0] + side;
    b[3] = b[1] + side;
}

/* bbreg(): the regression in units of the box's side (with the +1). */
FR_HD void fr_vm_bbreg(double *b, const double *reg)
{
    double w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
    b[0] += reg[0] * w;
    b[1] += reg[1] * h;
    b[2] += reg[2] * w;
    b[3] += reg[3] * h;
}

/* The P-Net stage's regression: by the side without the +1 (detect_face's regw = x2 - x1). */
FR_HD void fr_vm_pnet_reg(double *b, const double *reg)
{
    double rw = b[2] - b[0], rh = b[3] - b[1];
    double q[4] = {b[0] + reg[0] * rw, b[1] + reg[1] * rh, b[2] + reg[2] * rw, b[3] + reg[3] * rh};
    for (int k = 0; k < 4; k++)
        b[k] = q[k];
}

/* A box step of the detector's NMS operations (vision.h: fr_box_step). */
FR_HD void fr_vm_box_step(fr_cand *c, fr_box_step step)
{
    switch (step) {
    case FR_BOX_KEEP:
        break;
    case FR_BOX_PNET:
        fr_vm_pnet_reg(c->box, c->reg);
        fr_vm_rerec(c->box);
        for (int k = 0; k < 4; k++)
            c->box[k] = trunc(c->box[k]);
        break;
    case FR_BOX_RNET:
        fr_vm_bbreg(c->box, c->reg);
        fr_vm_rerec(c->box);
        for (int k = 0; k < 4; k++)
            c->box[k] = trunc(c->box[k]);
        break;
    case FR_BOX_ONET: {
        /* the landmarks from the box O-Net saw, then the regression */
        double w = c->box[2] - c->box[0] + 1, h = c->box[3] - c->box[1] + 1;
        for (int k = 0; k < 5; k++) {
            c->points[k] = w * c->points[k] + c->box[0] - 1;
            c->points[5 + k] = h * c->points[5 + k] + c->box[1] - 1;
        }
        fr_vm_bbreg(c->box, c->reg);
        break;
    }
    }
}

/* NMS's order: better score first, then the earlier candidate. */
FR_HD int fr_vm_before(const fr_cand *c, int i, int j)
{
    return c[i].score > c[j].score || (c[i].score == c[j].score && i < j);
}

/* face-api's FaceLandmark68NetBase.postProcess and shiftBy: network output k (fractions of
 * the zero-padded square) to image pixels, stored as float as face-api's points are. */
FR_HD void fr_vm_landmark_point(const fr_landmark_frame *f, const float *outputs, int k,
                                double size, float *x, float *y)
{
    double w = f->crop_w, h = f->crop_h;
    double scale = size / fmax(w, h), ws = w * scale, hs = h * scale;
    double pad_x = ws < hs ? fabs(ws - hs) / 2 : 0, pad_y = hs < ws ? fabs(ws - hs) / 2 : 0;
    double rx = ((double)outputs[2 * k] * size - pad_x) / ws;
    double ry = ((double)outputs[2 * k + 1] * size - pad_y) / hs;
    *x = (float)(rx * w + f->box_x);
    *y = (float)(ry * h + f->box_y);
}

/* dlib's chip_details(from, to, size): T = the least-squares similarity from the template
 * points `from` to the landmarks `to`; its rotation and scale give a rectangle of side
 * size * scale centred on T(size / 2, size / 2) (dlib's centered_drect: right - left =
 * side - 1), whose corners the chip's corners map onto. m: image x = m[0] c + m[1] r + m[2],
 * y = m[3] c + m[4] r + m[5] for chip column c, row r. */
FR_HD void fr_vm_chip_transform(const double (*from)[2], const double (*to)[2], int n, int size,
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
    /* rotated corners: tl = c + R(-half, -half), tr = c + R(half, -half),
     * bl = c + R(-half, half) */
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

/* InsightFace's template (python-package insightface/utils/face_align.py, arcface_dst): the
 * eyes, nose tip and mouth corners in a 112 x 112 chip, scaled for other sizes. */
#define FR_VM_ARCFACE_DST                                                                      \
    {                                                                                          \
        {38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655},        \
            {70.7299, 92.2041}                                                                 \
    }

/* InsightFace's norm_crop as a chip-to-image mapping: M = the least-squares similarity
 * (skimage's SimilarityTransform, Umeyama) from the landmarks to the template, image -> chip;
 * the chip samples M's inverse. */
FR_HD void fr_vm_arcface_transform(const double (*points)[2], int size, double m[6])
{
    const double dst[5][2] = FR_VM_ARCFACE_DST;
    double ratio = size / 112.0, mp[2] = {0, 0}, mq[2] = {0, 0};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            mp[k] += points[i][k] / 5;
            mq[k] += dst[i][k] * ratio / 5;
        }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        double px = points[i][0] - mp[0], py = points[i][1] - mp[1];
        double qx = dst[i][0] * ratio - mq[0], qy = dst[i][1] * ratio - mq[1];
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

/* MTCNN's five points from the 68: eye contour centres (36-41, 42-47), nose tip (30), mouth
 * corners (48, 54), as fr_dlib_template places them. */
FR_HD void fr_vm_points5_from68(const float (*p)[2], double points[5][2])
{
    for (int k = 0; k < 2; k++) {
        points[0][k] = points[1][k] = 0;
        for (int i = 0; i < 6; i++) {
            points[0][k] += p[36 + i][k] / 6.0;
            points[1][k] += p[42 + i][k] / 6.0;
        }
        points[2][k] = p[30][k];
        points[3][k] = p[48][k];
        points[4][k] = p[54][k];
    }
}

#endif
