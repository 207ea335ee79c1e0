/*
 * cpu_ops.c: CPU kernels for the graph's operations other than the convolution's GEMM
 * (which is oneDNN's sgemm, called from cpu_backend.c). Written plainly: every one of them is
 * memory-bound and small next to the convolutions; the compiler vectorizes the inner loops.
 * Depthwise convolutions are direct loops too: with one input channel per output channel
 * there is no reduction for a GEMM to block, and im2col would copy every input kh * kw times.
 */
#include "cpu/cpu_ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

static inline float activate(float v, fr_activation act, float alpha)
{
    if (act == FR_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act == FR_ACT_PRELU)
        return v > 0.0f ? v : v * alpha;
    return v;
}

void fr_cpu_normalize(const fr_node *node, const uint8_t *input, int in_h, int in_w,
                      const fr_cpu_view *out, int image)
{
    size_t pixels = (size_t)in_h * in_w;
    const uint8_t *x = input + (size_t)image * pixels * 3;
    float *y = out->data + (size_t)image * out->h * out->w * out->ld;
    float mean[3], scale[3];
    if (node->norm == FR_NORM_STANDARDIZE) {
        /* FaceNet's prewhiten: (x - mean) / max(std, 1 / sqrt(size)) over the whole image. */
        double sum = 0, sum2 = 0;
        for (size_t i = 0; i < pixels * 3; i++) {
            sum += x[i];
            sum2 += (double)x[i] * x[i];
        }
        double n = (double)pixels * 3, m = sum / n;
        double var = sum2 / n - m * m;
        double sd = sqrt(var > 0 ? var : 0), floor_sd = 1.0 / sqrt(n);
        double inv = 1.0 / (sd > floor_sd ? sd : floor_sd);
        for (int c = 0; c < 3; c++) {
            mean[c] = (float)m;
            scale[c] = (float)inv;
        }
    } else {
        memcpy(mean, node->mean, sizeof mean);
        memcpy(scale, node->scale, sizeof scale);
    }
    for (int yy = 0; yy < in_h; yy++)
        for (int xx = 0; xx < in_w; xx++) {
            const uint8_t *p = x + ((size_t)yy * in_w + xx) * 3;
            /* transposed: output pixel (xx, yy) of a (w, h) tensor */
            size_t o = node->transpose ? (size_t)xx * out->w + yy : (size_t)yy * out->w + xx;
            float *q = y + o * out->ld;
            for (int c = 0; c < 3; c++)
                q[c] = ((float)p[c] - mean[c]) * scale[c];
        }
}

void fr_cpu_pool_rows(const fr_node *node, const fr_cpu_view *in, const fr_cpu_view *out,
                      int row_begin, int row_end)
{
    int c = out->c;
    for (int row = row_begin; row < row_end; row++) {
        int n = row / out->h, oy = row % out->h;
        int y0 = oy * node->stride_h - node->pad_top;
        for (int ox = 0; ox < out->w; ox++) {
            int x0 = ox * node->stride_w - node->pad_left;
            float *q = out->data + (((size_t)n * out->h + oy) * out->w + ox) * out->ld;
            int count = 0;
            if (node->kind == FR_OP_MAX_POOL)
                for (int k = 0; k < c; k++)
                    q[k] = -FLT_MAX;
            else
                memset(q, 0, (size_t)c * sizeof *q);
            for (int ky = 0; ky < node->kh; ky++) {
                int iy = y0 + ky;
                if (iy < 0 || iy >= in->h)
                    continue;
                for (int kx = 0; kx < node->kw; kx++) {
                    int ix = x0 + kx;
                    if (ix < 0 || ix >= in->w)
                        continue;
                    const float *p = in->data + (((size_t)n * in->h + iy) * in->w + ix) * in->ld;
                    count++;
                    if (node->kind == FR_OP_MAX_POOL)
                        for (int k = 0; k < c; k++)
                            q[k] = p[k] > q[k] ? p[k] : q[k];
                    else
                        for (int k = 0; k < c; k++)
                            q[k] += p[k];
                }
            }
            if (node->kind == FR_OP_AVG_POOL && count > 0) {
                float inv = 1.0f / (float)count;
                for (int k = 0; k < c; k++)
                    q[k] *= inv;
            }
        }
    }
}

/* One operand's contribution, zero outside its shape. */
static inline const float *operand_pixel(const fr_cpu_view *v, int n, int y, int x)
{
    if (y >= v->h || x >= v->w)
        return NULL;
    return v->data + (((size_t)n * v->h + y) * v->w + x) * v->ld;
}

void fr_cpu_add_rows(const fr_node *node, const fr_cpu_view *a, const fr_cpu_view *b,
                     const fr_cpu_view *out, int row_begin, int row_end)
{
    /* operands of the sum's own shape (every add of the landmark net's dense blocks): no
     * zero extension, a loop the compiler vectorizes */
    int whole = a->h == out->h && a->w == out->w && a->c == out->c && b->h == out->h &&
                b->w == out->w && b->c == out->c && node->act != FR_ACT_PRELU;
    for (int row = row_begin; whole && row < row_end; row++) {
        int n = row / out->h, y = row % out->h;
        for (int x = 0; x < out->w; x++) {
            const float *restrict pa = operand_pixel(a, n, y, x), *restrict pb =
                                                                    operand_pixel(b, n, y, x);
            float *restrict q = out->data + (((size_t)n * out->h + y) * out->w + x) * out->ld;
            if (node->act == FR_ACT_RELU)
                for (int k = 0; k < out->c; k++)
                    q[k] = pa[k] + pb[k] > 0.0f ? pa[k] + pb[k] : 0.0f;
            else
                for (int k = 0; k < out->c; k++)
                    q[k] = pa[k] + pb[k];
        }
    }
    for (int row = row_begin; !whole && row < row_end; row++) {
        int n = row / out->h, y = row % out->h;
        for (int x = 0; x < out->w; x++) {
            const float *pa = operand_pixel(a, n, y, x), *pb = operand_pixel(b, n, y, x);
            float *q = out->data + (((size_t)n * out->h + y) * out->w + x) * out->ld;
            for (int k = 0; k < out->c; k++) {
                float v = (pa && k < a->c ? pa[k] : 0.0f) + (pb && k < b->c ? pb[k] : 0.0f);
                q[k] = activate(v, node->act, 0.0f);
            }
        }
    }
}

void fr_cpu_global_avg(const fr_cpu_view *in, const fr_cpu_view *out, int image)
{
    float *q = out->data + (size_t)image * out->ld;
    size_t pixels = (size_t)in->h * in->w;
    for (int k = 0; k < in->c; k++) {
        double sum = 0;
        for (size_t p = 0; p < pixels; p++)
            sum += in->data[((size_t)image * pixels + p) * in->ld + k];
        q[k] = (float)(sum / (double)pixels);
    }
}

/* A short run of floats: the spans of a kernel row of the small-channel convolutions (MTCNN's
 * 3 to 48 channels: 9 to 144 floats) are too short for memcpy's call to pay. */
static inline void copy_floats(float *restrict dst, const float *restrict src, size_t n)
{
    if (n > 64) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

void fr_cpu_im2col(const fr_node *node, const fr_cpu_view *in, int ho, int wo, long p_begin,
                   long p_end, float *columns)
{
    int c = in->c, kh = node->kh, kw = node->kw;
    size_t k_size = (size_t)kh * kw * c;
    /* A kernel row's taps that fall inside the image are consecutive input pixels: one copy
     * of (taps x c) floats when the view is dense (ld == c), else one copy per tap. */
    int dense = in->ld == c;
    /* the output pixel's image, row and column, stepped along with p */
    long plane = (long)ho * wo;
    int n = (int)(p_begin / plane), rem = (int)(p_begin % plane);
    int oy = rem / wo, ox = rem % wo;
    for (long p = p_begin; p < p_end; p++) {
        int y0 = oy * node->stride_h - node->pad_top, x0 = ox * node->stride_w - node->pad_left;
        int kx_lo = x0 < 0 ? -x0 : 0;
        int kx_hi = in->w - x0 < kw ? in->w - x0 : kw;
        if (kx_hi < kx_lo)
            kx_hi = kx_lo;
        float *col = columns + (size_t)(p - p_begin) * k_size;
        for (int ky = 0; ky < kh; ky++) {
            int iy = y0 + ky;
            float *dst = col + (size_t)ky * kw * c;
            if (iy < 0 || iy >= in->h || kx_hi == kx_lo) {
                memset(dst, 0, (size_t)kw * c * sizeof *dst);
                continue;
            }
            if (kx_lo > 0)
                memset(dst, 0, (size_t)kx_lo * c * sizeof *dst);
            const float *src =
                in->data + (((size_t)n * in->h + iy) * in->w + (x0 + kx_lo)) * in->ld;
            if (dense) {
                copy_floats(dst + (size_t)kx_lo * c, src, (size_t)(kx_hi - kx_lo) * c);
            } else {
                for (int kx = kx_lo; kx < kx_hi; kx++, src += in->ld)
                    copy_floats(dst + (size_t)kx * c, src, (size_t)c);
            }
            if (kx_hi < kw)
                memset(dst + (size_t)kx_hi * c, 0, (size_t)(kw - kx_hi) * c * sizeof *dst);
        }
        if (++ox == wo) {
            ox = 0;
            if (++oy == ho) {
                oy = 0;
                n++;
            }
        }
    }
}

void fr_cpu_depthwise_rows(const fr_node *node, const float *taps, const float *params,
                           const fr_cpu_view *in, const fr_cpu_view *out, int row_begin,
                           int row_end)
{
    int c = out->c;
    const float *bias = params + node->bias;
    const float *alpha = node->alpha != FR_NO_PARAM ? params + node->alpha : NULL;
    for (int row = row_begin; row < row_end; row++) {
        int n = row / out->h, oy = row % out->h;
        int y0 = oy * node->stride_h - node->pad_top;
        for (int ox = 0; ox < out->w; ox++) {
            int x0 = ox * node->stride_w - node->pad_left;
            float *restrict q = out->data + (((size_t)n * out->h + oy) * out->w + ox) * out->ld;
            if (node->accumulate)
                for (int k = 0; k < c; k++)
                    q[k] += bias[k];
            else
                memcpy(q, bias, (size_t)c * sizeof *q);
            for (int ky = 0; ky < node->kh; ky++) {
                int iy = y0 + ky;
                if (iy < 0 || iy >= in->h)
                    continue;
                for (int kx = 0; kx < node->kw; kx++) {
                    int ix = x0 + kx;
                    if (ix < 0 || ix >= in->w)
                        continue;
                    const float *restrict p =
                        in->data + (((size_t)n * in->h + iy) * in->w + ix) * in->ld;
                    const float *restrict w = taps + ((size_t)ky * node->kw + kx) * c;
                    for (int k = 0; k < c; k++)
                        q[k] += p[k] * w[k];
                }
            }
            if (node->act == FR_ACT_RELU)
                for (int k = 0; k < c; k++)
                    q[k] = q[k] > 0.0f ? q[k] : 0.0f;
            else if (node->act == FR_ACT_PRELU)
                for (int k = 0; k < c; k++)
                    q[k] = (q[k] > 0.0f ? q[k] : 0.0f) + alpha[k] * (q[k] > 0.0f ? 0.0f : q[k]);
        }
    }
}

void fr_cpu_epilogue(const fr_node *node, const float *params, float *c, int ldc, long rows,
                     int col0, int cols)
{
    const float *bias = params + node->bias + col0;
    const float *alpha = node->alpha != FR_NO_PARAM ? params + node->alpha + col0 : NULL;
    for (long r = 0; r < rows; r++) {
        float *row = c + (size_t)r * ldc;
        if (node->act == FR_ACT_RELU) {
            for (int k = 0; k < cols; k++) {
                float v = row[k] + bias[k];
                row[k] = v > 0.0f ? v : 0.0f;
            }
        } else if (node->act == FR_ACT_PRELU) {
            /* branch-free, so it vectorizes: max(v, 0) + alpha * min(v, 0) is v or alpha * v */
            for (int k = 0; k < cols; k++) {
                float v = row[k] + bias[k];
                row[k] = (v > 0.0f ? v : 0.0f) + alpha[k] * (v > 0.0f ? 0.0f : v);
            }
        } else {
            for (int k = 0; k < cols; k++)
                row[k] += bias[k];
        }
    }
}
