/*
 * vision_kernels.cu: the vision operations on the GPU (see vision_kernels.h), each the CUDA
 * twin of its CPU reference, with the reference's arithmetic per output element:
 *
 *   resize_area, crop_resize   OpenCV's INTER_AREA as image/resize_area.c computes it: the
 *                              same per-axis footprints and float weights, the horizontal sum
 *                              of each source row then the vertical one, in the table order
 *   pnet_cells, nms, read_net  runtime/vision_math.h (detect_face's box arithmetic, double)
 *   landmark_crops             face-api's pad and TensorFlow's legacy bilinear (image/resize.c)
 *   tiny_inputs, tiny_boxes    the same pad after the image; TinyYolov2's decode (vision_math.h)
 *   facenet_crops              Pillow's bilinear, fixed point, horizontal pass rounded first
 *   landmark_transforms        face-api's mapping and dlib's similarity (vision_math.h)
 *   warp_chips                 dlib's sampler over the 2x2-mean pyramid (image/warp.c), each
 *                              pyramid pixel computed from the image where it is read
 *
 * This file is compiled with -fmad=false (CMakeLists.txt): the C references are compiled
 * without contraction, and a fused multiply-add would move a rounding and, now and then, a
 * pixel. NMS sorts each segment by score with CUB's segmented radix sort, which is stable, so
 * ties keep their order as the CPU's (score, position) comparison does.
 */
#include <cub/cub.cuh>
#include <float.h>
#include <stdint.h>

#include "check.h"
#include "runtime/vision_math.h"
#include "vision_kernels.h"

#define THREADS 256
#define MAX_CROP_SIDE 16384

namespace {

/* ---- INTER_AREA, one output element at a time ------------------------------------------------ */

/* Pixels of a region of an image: (x, y) of the region is image pixel (x0 + x, y0 + y), zero
 * outside the image (detect_face's pad()). */
struct region {
    const uint8_t *pixels;
    int width, height, x0, y0;
};

__device__ __forceinline__ int pixel(const region &r, int x, int y, int c)
{
    int ix = r.x0 + x, iy = r.y0 + y;
    if (ix < 0 || iy < 0 || ix >= r.width || iy >= r.height)
        return 0;
    return r.pixels[((size_t)iy * r.width + ix) * 3 + c];
}

__device__ __forceinline__ float saturate_u8(float v)
{
    float r = rintf(v);
    return r <= 0.0f ? 0.0f : r >= 255.0f ? 255.0f : r;
}

/* computeResizeAreaTab's entries for destination index d, in its order: tap t of `count`. */
struct footprint {
    double f1, f2, cell;
    int s1, s2, first, last; /* first: a partial leading tap; last: a partial trailing one */
};

__device__ footprint area_footprint(int ssize, double scale, int d)
{
    footprint f;
    f.f1 = d * scale;
    f.f2 = f.f1 + scale;
    f.cell = scale < ssize - f.f1 ? scale : ssize - f.f1;
    int s1 = (int)ceil(f.f1), s2 = (int)floor(f.f2);
    s2 = s2 < ssize - 1 ? s2 : ssize - 1;
    s1 = s1 < s2 ? s1 : s2;
    f.s1 = s1;
    f.s2 = s2;
    f.first = s1 - f.f1 > 1e-3;
    f.last = f.f2 - s2 > 1e-3;
    return f;
}

__device__ __forceinline__ int taps(const footprint &f)
{
    return f.first + (f.s2 - f.s1) + f.last;
}

__device__ __forceinline__ void tap(const footprint &f, int t, int *s, float *alpha)
{
    if (f.first && t == 0) {
        *s = f.s1 - 1;
        *alpha = (float)((f.s1 - f.f1) / f.cell);
        return;
    }
    t -= f.first;
    if (t < f.s2 - f.s1) {
        *s = f.s1 + t;
        *alpha = (float)(1.0 / f.cell);
        return;
    }
    double part = f.f2 - f.s2 < 1.0 ? f.f2 - f.s2 : 1.0;
    *s = f.s2;
    *alpha = (float)((part < f.cell ? part : f.cell) / f.cell);
}

/* linear_axis: the INTER_AREA branch of the bilinear coefficients. */
__device__ void linear_coef(int ssize, int dsize, int d, int *s_out, int *single, float *f_out)
{
    double inv = (double)dsize / ssize, scale = 1.0 / inv;
    int s = (int)floor(d * scale);
    float f = (float)((d + 1) - (s + 1) * inv);
    f = f <= 0 ? 0.0f : f - floorf(f);
    if (s < 0)
        f = 0.0f, s = 0;
    *single = s + 1 >= ssize;
    if (s >= ssize - 1)
        f = 0.0f, s = ssize - 1;
    *s_out = s;
    *f_out = f;
}

/* Channel c of destination pixel (dx, dy) of an sw x sh -> dw x dh INTER_AREA resize: the
 * 8-bit result (u8) or the float one (the crops). image/resize_area.c: resize_area(). */
__device__ float area_value(const region &r, int sw, int sh, int dw, int dh, int dx, int dy, int c,
                            bool u8)
{
    if (sw == dw && sh == dh)
        return (float)pixel(r, dx, dy, c);
    double sx = 1.0 / ((double)dw / sw), sy = 1.0 / ((double)dh / sh);
    if (sx >= 1 && sy >= 1) {
        int ix = (int)rint(sx), iy = (int)rint(sy);
        if (fabs(sx - ix) < DBL_EPSILON && fabs(sy - iy) < DBL_EPSILON) {
            int area = ix * iy, sum = 0;
            for (int y = 0; y < iy; y++)
                for (int x = 0; x < ix; x++)
                    sum += pixel(r, dx * ix + x, dy * iy + y, c);
            float inv = 1.0f / (float)area;
            if (u8)
                return area == 4 ? (float)((sum + 2) >> 2) : saturate_u8((float)sum * inv);
            return (float)((double)sum * inv);
        }
        footprint fx = area_footprint(sw, sx, dx), fy = area_footprint(sh, sy, dy);
        int nx = taps(fx), ny = taps(fy);
        float sum = 0.0f;
        for (int j = 0; j < ny; j++) {
            int ys;
            float beta;
            tap(fy, j, &ys, &beta);
            float buf = 0.0f;
            for (int k = 0; k < nx; k++) {
                int xs;
                float alpha;
                tap(fx, k, &xs, &alpha);
                buf = buf + (float)pixel(r, xs, ys, c) * alpha;
            }
            sum = j == 0 ? beta * buf : sum + beta * buf;
        }
        return u8 ? saturate_u8(sum) : sum;
    }
    /* enlarging on some axis: bilinear, horizontal then vertical */
    int xs, xsingle, ys, ysingle;
    float xf, yf;
    linear_coef(sw, dw, dx, &xs, &xsingle, &xf);
    linear_coef(sh, dh, dy, &ys, &ysingle, &yf);
    int rows[2] = {ys, ys + 1 < sh ? ys + 1 : sh - 1};
    double acc[2];
    for (int k = 0; k < 2; k++) {
        int p0 = pixel(r, xs, rows[k], c);
        acc[k] = xsingle ? (double)p0
                         : p0 * (double)(1.0f - xf) + pixel(r, xs + 1, rows[k], c) * (double)xf;
    }
    double b0 = 1.0f - yf, b1 = yf;
    float out = (float)(b0 * acc[0] + b1 * acc[1]);
    return u8 ? saturate_u8(out) : out;
}

/* ---- the pyramid ----------------------------------------------------------------------------- */

__global__ void resize_area_kernel(const fr_vision_image *images, const fr_resize_job *jobs,
                                   uint8_t *dst)
{
    const fr_resize_job j = jobs[blockIdx.y];
    const fr_vision_image im = images[j.image];
    region r = {im.pixels, im.width, im.height, 0, 0};
    long long pixels = (long long)j.width * j.height;
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < pixels;
         p += (long long)gridDim.x * blockDim.x) {
        int dx = (int)(p % j.width), dy = (int)(p / j.width);
        uint8_t *out = dst + j.offset + (size_t)p * 3;
        for (int c = 0; c < 3; c++)
            out[c] = (uint8_t)area_value(r, im.width, im.height, j.width, j.height, dx, dy, c,
                                         true);
    }
}

/* ---- order-keeping compaction in a block --------------------------------------------------- */

/* The position of this thread's item among the flagged ones of the block (in thread order),
 * and how many the block flagged; every thread of the block must call it. */
__device__ int block_rank(bool flag, int *total, int *warp_counts)
{
    unsigned mask = __ballot_sync(0xffffffffu, flag);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int before = __popc(mask & ((1u << lane) - 1));
    if (lane == 0)
        warp_counts[warp] = __popc(mask);
    __syncthreads();
    int offset = 0, sum = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
        if (w == warp)
            offset = sum;
        sum += warp_counts[w];
    }
    __syncthreads();
    *total = sum;
    return offset + before;
}

/* ---- P-Net cells ----------------------------------------------------------------------------- */

__global__ void pnet_cells_kernel(const float *outputs, const fr_pnet_job *jobs, double threshold,
                                  fr_cand *cands, int *counts)
{
    __shared__ int warp_counts[THREADS / 32];
    const fr_pnet_job j = jobs[blockIdx.x];
    int cells = j.xcells * j.ycells, base = 0;
    for (int start = 0; start < cells; start += blockDim.x) {
        int i = start + threadIdx.x; /* x-major: i = x * ycells + y */
        bool flag = false;
        double p = 0;
        const float *o = NULL;
        if (i < cells) {
            o = outputs + j.outputs + (size_t)i * 6;
            p = fr_vm_face_probability(o[0], o[1]);
            flag = p >= threshold;
        }
        int total, rank = block_rank(flag, &total, warp_counts);
        if (flag) {
            fr_cand *d = &cands[j.first + base + rank];
            memset(d, 0, sizeof *d);
            fr_vm_cell_box(i / j.ycells, i % j.ycells, j.scale, d->box);
            d->score = p;
            for (int k = 0; k < 4; k++)
                d->reg[k] = o[2 + k];
            d->image = j.image;
            d->level = j.level;
        }
        base += total;
    }
    if (threadIdx.x == 0)
        counts[blockIdx.x] = base;
}

/* TinyYolov2Base.extractBoxes of one image a block: candidates in (row, column, anchor) order,
 * as the CPU's loop writes them. */
__global__ void tiny_boxes_kernel(const float *outputs, const fr_tiny_job *jobs, double threshold,
                                  fr_cand *cands, int *counts)
{
    __shared__ int warp_counts[THREADS / 32];
    const fr_tiny_job j = jobs[blockIdx.x];
    int total_boxes = j.cells * j.cells * 5, base = 0;
    for (int start = 0; start < total_boxes; start += blockDim.x) {
        int i = start + threadIdx.x, cell = i / 5, a = i % 5;
        bool flag = false;
        double score = 0, box[4] = {0, 0, 0, 0};
        if (i < total_boxes) {
            score = fr_vm_tiny_box(outputs + j.outputs + (size_t)cell * 25, cell / j.cells,
                                   cell % j.cells, a, j.cells, j.fx, j.fy, box);
            flag = score > threshold;
        }
        int total, rank = block_rank(flag, &total, warp_counts);
        if (flag) {
            fr_cand *d = &cands[j.first + base + rank];
            memset(d, 0, sizeof *d);
            for (int k = 0; k < 4; k++)
                d->box[k] = box[k];
            d->score = score;
            d->image = j.image;
        }
        base += total;
    }
    if (threadIdx.x == 0)
        counts[blockIdx.x] = base;
}

/* ---- NMS ------------------------------------------------------------------------------------- */

struct nms_params {
    double threshold, min_score;
    int use_min, filter;
    fr_box_step before, after;
    int continuous;
};

/* Filter and step `before`, keeping the order, into work; the sort's keys and positions. */
__global__ void nms_prepare_kernel(const fr_cand *cands, const fr_segment *segments,
                                   nms_params p, fr_cand *work, double *keys, int *positions,
                                   int *begin, int *end)
{
    __shared__ int warp_counts[THREADS / 32];
    const fr_segment s = segments[blockIdx.x];
    int kept = 0;
    for (int start = 0; start < s.count; start += blockDim.x) {
        int i = start + threadIdx.x;
        bool flag = i < s.count && (!p.filter || cands[s.first + i].score > p.min_score);
        int total, rank = block_rank(flag, &total, warp_counts);
        if (flag) {
            size_t at = s.first + kept + rank;
            fr_cand c = cands[s.first + i];
            fr_vm_box_step(&c, p.before);
            work[at] = c;
            keys[at] = c.score;
            positions[at] = kept + rank;
        }
        kept += total;
    }
    if (threadIdx.x == 0) {
        begin[blockIdx.x] = (int)s.first;
        end[blockIdx.x] = (int)s.first + kept;
    }
}

/* Each segment's candidates in score order, then the greedy suppression: a candidate is kept
 * when no earlier pick overlaps it by more than the threshold; picks go back to cands. */
__global__ void nms_greedy_kernel(fr_cand *cands, const fr_cand *work, const int *positions,
                                  const int *begin, const int *end, fr_cand *sorted,
                                  unsigned char *alive, nms_params p, int *kept)
{
    int first = begin[blockIdx.x], m = end[blockIdx.x] - first;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        sorted[first + i] = work[first + positions[first + i]];
        alive[first + i] = 1;
    }
    __syncthreads();
    int count = 0;
    for (int i = 0; i < m; i++) {
        __syncthreads();
        if (!alive[first + i])
            continue;
        const fr_cand a = sorted[first + i];
        if (threadIdx.x == 0) {
            fr_cand pick = a;
            fr_vm_box_step(&pick, p.after);
            cands[first + count] = pick;
        }
        count++;
        for (int j = i + 1 + threadIdx.x; j < m; j += blockDim.x)
            /* kept where o <= threshold, as numpy's: an undefined overlap suppresses */
            if (alive[first + j] &&
                !(fr_vm_overlap(a.box, sorted[first + j].box, p.use_min,
                                p.continuous ? 0.0 : 1.0) <= p.threshold))
                alive[first + j] = 0;
    }
    if (threadIdx.x == 0)
        kept[blockIdx.x] = count;
}

__global__ void gather_kernel(const fr_cand *src, const fr_copy *copies, fr_cand *dst)
{
    const fr_copy c = copies[blockIdx.x];
    for (int i = threadIdx.x; i < c.count; i += blockDim.x)
        dst[c.to + i] = src[c.from + i];
}

/* ---- crops of the candidates, their scores --------------------------------------------------- */

__global__ void crop_resize_kernel(const fr_vision_image *images, const fr_cand *cands, int size,
                                   uint8_t *out)
{
    const fr_cand c = cands[blockIdx.x];
    const fr_vision_image im = images[c.image];
    int x1 = (int)c.box[0], y1 = (int)c.box[1], x2 = (int)c.box[2], y2 = (int)c.box[3];
    long tw = (long)x2 - x1 + 1, th = (long)y2 - y1 + 1;
    int elements = size * size * 3;
    uint8_t *dst = out + (size_t)blockIdx.x * elements;
    bool degenerate = tw <= 0 || th <= 0 || tw > MAX_CROP_SIDE || th > MAX_CROP_SIDE;
    /* the 1-based box corner x1 is column x1 - 1 */
    region r = {im.pixels, im.width, im.height, x1 - 1, y1 - 1};
    for (int e = threadIdx.x; e < elements; e += blockDim.x) {
        if (degenerate) {
            dst[e] = 0;
            continue;
        }
        int ch = e % 3, p = e / 3;
        float v = rintf(area_value(r, (int)tw, (int)th, size, size, p % size, p / size, ch, false));
        dst[e] = (uint8_t)(v <= 0.0f ? 0.0f : v >= 255.0f ? 255.0f : v);
    }
}

__global__ void read_net_kernel(fr_cand *cands, int n, const float *outputs, int stride, int points)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float *o = outputs + (size_t)i * stride;
    fr_cand *c = &cands[i];
    c->score = fr_vm_face_probability(o[0], o[1]);
    for (int r = 0; r < 4; r++)
        c->reg[r] = o[2 + r];
    if (points)
        for (int r = 0; r < 10; r++)
            c->points[r] = o[6 + r];
}

/* ---- alignment ------------------------------------------------------------------------------- */

/* face-api's padToSquare + tfjs' resizeBilinear, rounded (image/resize.c:
 * fr_resize_faceapi_padded): the padding centred (the landmark crops) or after the image (centre
 * 0: the TinyFaceDetector's input). */
__global__ void landmark_crops_kernel(const fr_vision_image *images, const fr_crop_job *jobs,
                                      int size, uint8_t *out, int centre)
{
    const fr_crop_job j = jobs[blockIdx.x];
    const fr_vision_image im = images[j.image];
    region r = {im.pixels, im.width, im.height, j.x, j.y};
    int w = j.width, h = j.height, elements = size * size * 3;
    uint8_t *dst = out + (size_t)blockIdx.x * elements;
    int side = w > h ? w : h;
    int diff = side - (w < h ? w : h);
    int append = centre ? (diff + 1) / 2 : diff, prepend = diff - append;
    int top = h < w ? prepend : 0, left = w < h ? prepend : 0;
    double ratio = (double)side / size;
    for (int e = threadIdx.x; e < elements; e += blockDim.x) {
        int d = e % 3, p = e / 3, col = p % size, row = p / size;
        if (w == size && h == size) {
            dst[e] = (uint8_t)pixel(r, col, row, d);
            continue;
        }
        double src_col = ratio * col, col_floor = floor(src_col), frac = src_col - col_floor;
        int c0 = (int)col_floor - left, c1 = (int)ceil(src_col);
        c1 = (c1 > side - 1 ? side - 1 : c1) - left;
        double src_row = ratio * row, row_floor = floor(src_row), row_frac = src_row - row_floor;
        int r0 = (int)row_floor - top, r1 = (int)ceil(src_row);
        r1 = (r1 > side - 1 ? side - 1 : r1) - top;
        bool c0_in = c0 >= 0 && c0 < w, c1_in = c1 >= 0 && c1 < w;
        bool r0_in = r0 >= 0 && r0 < h, r1_in = r1 >= 0 && r1 < h;
        int tl = r0_in && c0_in ? pixel(r, c0, r0, d) : 0;
        int tr = r0_in && c1_in ? pixel(r, c1, r0, d) : 0;
        int bl = r1_in && c0_in ? pixel(r, c0, r1, d) : 0;
        int br = r1_in && c1_in ? pixel(r, c1, r1, d) : 0;
        double step = (double)(tr - tl) * frac;
        double top_value = tl + step;
        step = (double)(br - bl) * frac;
        double bottom_value = bl + step;
        step = (bottom_value - top_value) * row_frac;
        float value = (float)(top_value + step);
        int rounded = (int)((double)value + 0.5);
        dst[e] = (uint8_t)(rounded < 0 ? 0 : rounded > 255 ? 255 : rounded);
    }
}

/* Pillow's bilinear coefficients (image/resize.c: pil_precompute) for output index xx, one tap
 * at a time: the normalized weights need their sum first, so it is computed in a first loop. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

struct pil_axis {
    double center, ss, ww;
    int xmin, count;
};

__device__ __forceinline__ double pil_triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

__device__ pil_axis pil_setup(int in_size, int out_size, int xx)
{
    pil_axis a;
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    a.center = 0.0 + (xx + 0.5) * scale;
    a.ss = 1.0 / filterscale;
    int xmin = (int)(a.center - support + 0.5);
    if (xmin < 0)
        xmin = 0;
    int xmax = (int)(a.center + support + 0.5);
    if (xmax > in_size)
        xmax = in_size;
    a.xmin = xmin;
    a.count = xmax - xmin;
    a.ww = 0.0;
    for (int x = 0; x < a.count; x++)
        a.ww += pil_triangle((x + xmin - a.center + 0.5) * a.ss);
    return a;
}

__device__ __forceinline__ int32_t pil_weight(const pil_axis &a, int x)
{
    double w = pil_triangle((x + a.xmin - a.center + 0.5) * a.ss);
    if (a.ww != 0.0)
        w /= a.ww;
    double fixed = w * (1 << PIL_PRECISION_BITS);
    return w < 0 ? (int32_t)(-0.5 + fixed) : (int32_t)(0.5 + fixed);
}

__device__ __forceinline__ int pil_clip8(int32_t sum)
{
    if (sum < 0)
        return 0;
    sum >>= PIL_PRECISION_BITS;
    return sum > 255 ? 255 : sum;
}

/* The horizontal pass's 8-bit value at output column xx of region row y. */
__device__ int pil_row(const region &r, const pil_axis &ax, int y, int c)
{
    int32_t s = 1 << (PIL_PRECISION_BITS - 1);
    for (int x = 0; x < ax.count; x++)
        s += pixel(r, ax.xmin + x, y, c) * pil_weight(ax, x);
    return pil_clip8(s);
}

__global__ void facenet_crops_kernel(const fr_vision_image *images, const fr_crop_job *jobs,
                                     int size, uint8_t *out)
{
    const fr_crop_job j = jobs[blockIdx.x];
    const fr_vision_image im = images[j.image];
    region r = {im.pixels, im.width, im.height, j.x, j.y};
    int elements = size * size * 3;
    uint8_t *dst = out + (size_t)blockIdx.x * elements;
    bool need_h = size != j.width, need_v = size != j.height;
    for (int e = threadIdx.x; e < elements; e += blockDim.x) {
        int c = e % 3, p = e / 3, xx = p % size, yy = p / size;
        if (!need_h && !need_v) {
            dst[e] = (uint8_t)pixel(r, xx, yy, c);
            continue;
        }
        pil_axis ax = need_h ? pil_setup(j.width, size, xx) : pil_axis();
        if (!need_v) {
            dst[e] = (uint8_t)pil_row(r, ax, yy, c);
            continue;
        }
        pil_axis ay = pil_setup(j.height, size, yy);
        int32_t acc = 1 << (PIL_PRECISION_BITS - 1);
        for (int y = 0; y < ay.count; y++) {
            int v = need_h ? pil_row(r, ax, ay.xmin + y, c) : pixel(r, xx, ay.xmin + y, c);
            acc += v * pil_weight(ay, y);
        }
        dst[e] = (uint8_t)pil_clip8(acc);
    }
}

__global__ void landmark_transforms_kernel(const float *outputs, int input_size,
                                           const fr_landmark_frame *frames, int n,
                                           const fr_chip_template *chip, double *m)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float points[FR_FIT_MAX][2];
    double to[FR_FIT_MAX][2];
    for (int k = 0; k < chip->count; k++) {
        fr_vm_landmark_point(&frames[i], outputs + (size_t)i * 136, chip->index[k], input_size,
                             &points[k][0], &points[k][1]);
        to[k][0] = points[k][0];
        to[k][1] = points[k][1];
    }
    if (chip->fit == FR_FIT_ARCFACE) {
        fr_vm_points5_from68((const float (*)[2])points, to);
        fr_vm_arcface_transform((const double (*)[2])to, chip->size, m + (size_t)i * 6);
    } else {
        fr_vm_chip_transform((const double (*)[2])chip->points, (const double (*)[2])to,
                             chip->count, chip->size, m + (size_t)i * 6);
    }
}

/* A pixel of the 2x2-mean pyramid over a region of the image: level 0 is the image. */
__device__ int halved(const fr_vision_image &im, long rx0, long ry0, int level, long x, long y,
                      int c)
{
    if (level == 0)
        return im.pixels[((size_t)(ry0 + y) * im.width + (size_t)(rx0 + x)) * 3 + c];
    int a = halved(im, rx0, ry0, level - 1, 2 * x, 2 * y, c);
    int b = halved(im, rx0, ry0, level - 1, 2 * x + 1, 2 * y, c);
    int d = halved(im, rx0, ry0, level - 1, 2 * x, 2 * y + 1, c);
    int e = halved(im, rx0, ry0, level - 1, 2 * x + 1, 2 * y + 1, c);
    return (a + b + d + e + 2) >> 2;
}

struct warp_geometry {
    double ml[6];
    long rx0, ry0, w, h;
    int level; /* 0: the image itself */
    int black; /* no region to read */
};

/* image/warp.c: fr_warp_dlib's levels, region and mapping. Returns 0 for a degenerate one. */
__device__ int warp_setup(const fr_vision_image &im, const double *m, int size, warp_geometry *g)
{
    double scale = hypot(m[0], m[3]);
    if (!isfinite(scale) || !isfinite(m[2]) || !isfinite(m[5]) || scale <= 0)
        return 0;
    int levels = 0;
    for (double span = size * scale - 1; span / 2 + 1 > size && levels < 16; span /= 2)
        levels++;
    g->black = 0;
    if (levels == 0) {
        for (int k = 0; k < 6; k++)
            g->ml[k] = m[k];
        g->rx0 = g->ry0 = 0;
        g->w = im.width;
        g->h = im.height;
        g->level = 0;
        return 1;
    }
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
    long rx0 = (long)fmax(0.0, floor(x0 - grow)), ry0 = (long)fmax(0.0, floor(y0 - grow));
    long rx1 = (long)fmin((double)im.width, ceil(x1 + grow) + 1);
    long ry1 = (long)fmin((double)im.height, ceil(y1 + grow) + 1);
    if (rx1 - rx0 < 2 || ry1 - ry0 < 2) {
        g->black = 1;
        return 1;
    }
    long w = (rx1 - rx0) / 2, h = (ry1 - ry0) / 2;
    int built = 1;
    for (; built < levels && w >= 4 && h >= 4; built++) {
        w /= 2;
        h /= 2;
    }
    double f = (double)(1L << built), shift = (f - 1) / 2;
    double ml[6] = {m[0] / f, m[1] / f, (m[2] - rx0 - shift) / f,
                    m[3] / f, m[4] / f, (m[5] - ry0 - shift) / f};
    for (int k = 0; k < 6; k++)
        g->ml[k] = ml[k];
    g->rx0 = rx0;
    g->ry0 = ry0;
    g->w = w;
    g->h = h;
    g->level = built;
    return 1;
}

/* OpenCV's warpAffine at chip pixel (c, r) (image/warp.c: fr_warp_affine). */
__device__ void affine_pixel(const fr_vision_image &im, const double *m, int c, int r, uint8_t *q)
{
    long w = im.width, h = im.height;
    double x = m[0] * c + m[1] * r + m[2], y = m[3] * c + m[4] * r + m[5];
    double fl = floor(x), ft = floor(y);
    if (!(fl > -2 && ft > -2 && fl < w && ft < h)) {
        q[0] = q[1] = q[2] = 0;
        return;
    }
    long left = (long)fl, top = (long)ft;
    double fx = x - fl, fy = y - ft;
    double wts[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
    long xs[4] = {left, left + 1, left, left + 1}, ys[4] = {top, top, top + 1, top + 1};
    double v[3] = {0, 0, 0};
    for (int t = 0; t < 4; t++) {
        if (xs[t] < 0 || ys[t] < 0 || xs[t] >= w || ys[t] >= h)
            continue;
        const uint8_t *p = im.pixels + ((size_t)ys[t] * (size_t)w + (size_t)xs[t]) * 3;
        for (int k = 0; k < 3; k++)
            v[k] += wts[t] * p[k];
    }
    for (int k = 0; k < 3; k++)
        q[k] = (uint8_t)(v[k] <= 0 ? 0 : v[k] >= 255 ? 255 : floor(v[k] + 0.5));
}

__global__ void warp_chips_kernel(const fr_vision_image *images, const int *image_of,
                                  const double *m, int size, int sampler, uint8_t *out,
                                  int *degenerate)
{
    __shared__ warp_geometry g;
    __shared__ int ok;
    const fr_vision_image im = images[image_of[blockIdx.x]];
    const double *mk = m + (size_t)blockIdx.x * 6;
    if (threadIdx.x == 0) {
        if (sampler == FR_SAMPLE_DLIB)
            ok = warp_setup(im, mk, size, &g);
        else
            ok = hypot(mk[0], mk[3]) > 0 && isfinite(mk[2]) && isfinite(mk[5]);
        if (!ok)
            atomicExch(degenerate, 1);
    }
    __syncthreads();
    int pixels = size * size;
    uint8_t *dst = out + (size_t)blockIdx.x * pixels * 3;
    if (sampler != FR_SAMPLE_DLIB) {
        for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
            uint8_t *q = dst + (size_t)p * 3;
            if (ok)
                affine_pixel(im, mk, p % size, p / size, q);
            else
                q[0] = q[1] = q[2] = 0;
        }
        return;
    }
    for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
        uint8_t *q = dst + (size_t)p * 3;
        int c = p % size, r = p / size;
        double x = g.ml[0] * c + g.ml[1] * r + g.ml[2], y = g.ml[3] * c + g.ml[4] * r + g.ml[5];
        double fl = floor(x), ft = floor(y);
        if (!ok || g.black || !(fl >= 0 && ft >= 0 && fl + 1 < g.w && ft + 1 < g.h)) {
            q[0] = q[1] = q[2] = 0;
            continue;
        }
        long left = (long)fl, top = (long)ft;
        double fx = x - fl, fy = y - ft;
        for (int k = 0; k < 3; k++) {
            int p00 = halved(im, g.rx0, g.ry0, g.level, left, top, k);
            int p01 = halved(im, g.rx0, g.ry0, g.level, left + 1, top, k);
            int p10 = halved(im, g.rx0, g.ry0, g.level, left, top + 1, k);
            int p11 = halved(im, g.rx0, g.ry0, g.level, left + 1, top + 1, k);
            double v = (1 - fy) * ((1 - fx) * p00 + fx * p01) + fy * ((1 - fx) * p10 + fx * p11);
            q[k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
        }
    }
}

unsigned blocks_for(long long items)
{
    long long b = (items + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

/* The NMS scratch: work and sorted candidates, keys and positions (in and out), segment
 * bounds, alive flags, then CUB's temporary storage. */
struct nms_layout {
    size_t work, sorted, keys, keys_out, pos, pos_out, begin, end, alive, temp, temp_bytes, total;
};

size_t align_up(size_t v)
{
    return (v + 255) & ~(size_t)255;
}

nms_layout layout_for(size_t span, int n)
{
    nms_layout l;
    size_t at = 0;
    l.work = at, at = align_up(at + span * sizeof(fr_cand));
    l.sorted = at, at = align_up(at + span * sizeof(fr_cand));
    l.keys = at, at = align_up(at + span * sizeof(double));
    l.keys_out = at, at = align_up(at + span * sizeof(double));
    l.pos = at, at = align_up(at + span * sizeof(int));
    l.pos_out = at, at = align_up(at + span * sizeof(int));
    l.begin = at, at = align_up(at + (size_t)n * sizeof(int));
    l.end = at, at = align_up(at + (size_t)n * sizeof(int));
    l.alive = at, at = align_up(at + span);
    l.temp_bytes = 0;
    cub::DeviceSegmentedRadixSort::SortPairsDescending(
        (void *)NULL, l.temp_bytes, (const double *)NULL, (double *)NULL, (const int *)NULL,
        (int *)NULL, (int)span, n, (const int *)NULL, (const int *)NULL);
    l.temp = at;
    l.total = align_up(at + l.temp_bytes);
    return l;
}

} // namespace

extern "C" {

fr_status fr_cv_resize_area(cudaStream_t stream, const fr_vision_image *images,
                            const fr_resize_job *jobs, int n, int max_pixels, uint8_t *dst)
{
    if (n <= 0)
        return FR_OK;
    for (int first = 0; first < n; first += 65535) { /* gridDim.y's limit */
        int k = n - first < 65535 ? n - first : 65535;
        dim3 grid(blocks_for(max_pixels), (unsigned)k);
        resize_area_kernel<<<grid, THREADS, 0, stream>>>(images, jobs + first, dst);
        FR_CUDA_LAUNCHED("resize_area_kernel");
    }
    return FR_OK;
}

fr_status fr_cv_pnet_cells(cudaStream_t stream, const float *outputs, const fr_pnet_job *jobs,
                           int n, double threshold, fr_cand *cands, int *counts)
{
    if (n <= 0)
        return FR_OK;
    pnet_cells_kernel<<<n, THREADS, 0, stream>>>(outputs, jobs, threshold, cands, counts);
    FR_CUDA_LAUNCHED("pnet_cells_kernel");
    return FR_OK;
}

fr_status fr_cv_tiny_boxes(cudaStream_t stream, const float *outputs, const fr_tiny_job *jobs,
                           int n, double threshold, fr_cand *cands, int *counts)
{
    if (n <= 0)
        return FR_OK;
    tiny_boxes_kernel<<<n, THREADS, 0, stream>>>(outputs, jobs, threshold, cands, counts);
    FR_CUDA_LAUNCHED("tiny_boxes_kernel");
    return FR_OK;
}

fr_status fr_cv_tiny_inputs(cudaStream_t stream, const fr_vision_image *images,
                            const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    landmark_crops_kernel<<<n, THREADS, 0, stream>>>(images, jobs, size, out, 0);
    FR_CUDA_LAUNCHED("landmark_crops_kernel");
    return FR_OK;
}

size_t fr_cv_nms_scratch(size_t span, int n)
{
    return layout_for(span, n).total;
}

fr_status fr_cv_nms(cudaStream_t stream, fr_cand *cands, size_t span, const fr_segment *segments,
                    int n, const fr_nms_spec *spec, void *scratch, size_t scratch_bytes, int *kept)
{
    if (n <= 0)
        return FR_OK;
    nms_layout l = layout_for(span, n);
    if (span > (size_t)INT32_MAX || l.total > scratch_bytes)
        return FR_E_INTERNAL; /* vision.c checked both */
    char *s = static_cast<char *>(scratch);
    fr_cand *work = reinterpret_cast<fr_cand *>(s + l.work);
    fr_cand *sorted = reinterpret_cast<fr_cand *>(s + l.sorted);
    double *keys = reinterpret_cast<double *>(s + l.keys);
    double *keys_out = reinterpret_cast<double *>(s + l.keys_out);
    int *pos = reinterpret_cast<int *>(s + l.pos);
    int *pos_out = reinterpret_cast<int *>(s + l.pos_out);
    int *begin = reinterpret_cast<int *>(s + l.begin), *end = reinterpret_cast<int *>(s + l.end);
    unsigned char *alive = reinterpret_cast<unsigned char *>(s + l.alive);
    nms_params p = {spec->threshold, spec->min_score, spec->use_min, spec->filter, spec->before,
                    spec->after, spec->continuous};
    nms_prepare_kernel<<<n, THREADS, 0, stream>>>(cands, segments, p, work, keys, pos, begin, end);
    FR_CUDA_LAUNCHED("nms_prepare_kernel");
    size_t temp_bytes = l.temp_bytes;
    FR_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
        s + l.temp, temp_bytes, keys, keys_out, pos, pos_out, (int)span, n, begin, end, 0,
        (int)(sizeof(double) * 8), stream));
    nms_greedy_kernel<<<n, THREADS, 0, stream>>>(cands, work, pos_out, begin, end, sorted, alive, p,
                                                 kept);
    FR_CUDA_LAUNCHED("nms_greedy_kernel");
    return FR_OK;
}

fr_status fr_cv_gather(cudaStream_t stream, const fr_cand *src, const fr_copy *copies, int n,
                       fr_cand *dst)
{
    if (n <= 0)
        return FR_OK;
    gather_kernel<<<n, THREADS, 0, stream>>>(src, copies, dst);
    FR_CUDA_LAUNCHED("gather_kernel");
    return FR_OK;
}

fr_status fr_cv_crop_resize(cudaStream_t stream, const fr_vision_image *images,
                            const fr_cand *cands, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    crop_resize_kernel<<<n, THREADS, 0, stream>>>(images, cands, size, out);
    FR_CUDA_LAUNCHED("crop_resize_kernel");
    return FR_OK;
}

fr_status fr_cv_read_net(cudaStream_t stream, fr_cand *cands, int n, const float *outputs,
                         int stride, int points)
{
    if (n <= 0)
        return FR_OK;
    read_net_kernel<<<blocks_for(n), THREADS, 0, stream>>>(cands, n, outputs, stride, points);
    FR_CUDA_LAUNCHED("read_net_kernel");
    return FR_OK;
}

fr_status fr_cv_landmark_crops(cudaStream_t stream, const fr_vision_image *images,
                               const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    landmark_crops_kernel<<<n, THREADS, 0, stream>>>(images, jobs, size, out, 1);
    FR_CUDA_LAUNCHED("landmark_crops_kernel");
    return FR_OK;
}

fr_status fr_cv_facenet_crops(cudaStream_t stream, const fr_vision_image *images,
                              const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    facenet_crops_kernel<<<n, THREADS, 0, stream>>>(images, jobs, size, out);
    FR_CUDA_LAUNCHED("facenet_crops_kernel");
    return FR_OK;
}

fr_status fr_cv_landmark_transforms(cudaStream_t stream, const float *outputs, int input_size,
                                    const fr_landmark_frame *frames, int n,
                                    const fr_chip_template *chip, double *m)
{
    if (n <= 0)
        return FR_OK;
    landmark_transforms_kernel<<<blocks_for(n), THREADS, 0, stream>>>(outputs, input_size, frames,
                                                                      n, chip, m);
    FR_CUDA_LAUNCHED("landmark_transforms_kernel");
    return FR_OK;
}

fr_status fr_cv_warp_chips(cudaStream_t stream, const fr_vision_image *images,
                           const int *image_of, const double *m, int n, int size, int sampler,
                           uint8_t *out, int *degenerate)
{
    if (n <= 0)
        return FR_OK;
    warp_chips_kernel<<<n, THREADS, 0, stream>>>(images, image_of, m, size, sampler, out,
                                                 degenerate);
    FR_CUDA_LAUNCHED("warp_chips_kernel");
    return FR_OK;
}

} /* extern "C" */
