/*
 * cpu_convpool.c: a small-input convolution and its max pool in one pass (cpu_convpool.h).
 *
 * The convolution: output channels in groups of LANES (16; the weights transposed once per
 * call to (tap, channel), zero past c_out), several output pixels at a time so each weight
 * vector loaded serves several accumulators; the taps of one input row (kw * c_in) are
 * contiguous in nhwc, so a window is kh runs of kw * c_in floats. Each sum starts from the
 * bias and adds the taps in (ky, kx, ci) order by fused multiply-adds, then the activation.
 * Three versions of that pixel loop give the same bits (per lane the same fmaf sequence):
 * AVX-512 (16 lanes, one register a pixel; chosen at run time where the CPU has it, beyond
 * the library's -march), AVX2 + FMA (two registers a pixel; the library's x86-64-v3) and
 * scalar (the tails, and builds without AVX2). The compiler's own vectorization of the
 * scalar loop shuffled scalars into xmm registers and ran 8x slower than oneDNN.
 *
 * The pool: output row py needs convolution rows py * stride - pad_top .. + kh - 1 (those
 * inside the map); each is computed once into one of kh row slots (slot = row % kh, which
 * keeps the rows an overlapping window still needs) and the pooled row is written out in the
 * destination's channel blocks.
 */
#include "cpu/cpu_convpool.h"

#include <float.h>
#include <math.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define LANES 16

static int padded(int c)
{
    return (c + LANES - 1) / LANES * LANES;
}

int fr_cpu_convpool_fusable(const fr_graph *g, int i)
{
    if (i < 0 || i + 1 >= g->node_count)
        return 0;
    const fr_node *conv = &g->nodes[i], *pool = &g->nodes[i + 1];
    if (conv->kind != FR_OP_CONV || conv->groups != 1 || conv->accumulate ||
        conv->stride_h != 1 || conv->stride_w != 1 || conv->pad_top || conv->pad_left ||
        conv->pad_bottom || conv->pad_right || pool->kind != FR_OP_MAX_POOL ||
        pool->in != conv->out || conv->out == g->output || pool->out == g->output)
        return 0;
    const fr_tensor *x = &g->tensors[conv->in], *y = &g->tensors[conv->out];
    const fr_tensor *z = &g->tensors[pool->out];
    if (x->root != conv->in || y->root != conv->out || z->root != pool->out ||
        conv->kh * conv->kw * x->c > FR_CONVPOOL_MAX_TAPS || y->c > FR_CONVPOOL_MAX_CHANNELS ||
        pool->kh > FR_CONVPOOL_MAX_POOL)
        return 0;
    for (int k = 0; k < g->node_count; k++)
        if (k != i + 1 && (g->nodes[k].in == conv->out || g->nodes[k].in2 == conv->out ||
                           (k != i && g->nodes[k].out == conv->out)))
            return 0;
    return 1;
}

static size_t aligned(size_t floats)
{
    return (floats + 15) & ~(size_t)15;
}

size_t fr_cpu_convpool_scratch(const fr_graph *g, const fr_node *conv, const fr_node *pool)
{
    const fr_tensor *x = &g->tensors[conv->in], *y = &g->tensors[conv->out];
    size_t cp = (size_t)padded(y->c), taps = (size_t)conv->kh * conv->kw * x->c;
    return aligned(taps * cp) + 2 * aligned(cp) + (size_t)pool->kh * aligned((size_t)y->w * cp);
}

/* One convolution row's job: output pixels of row cy, channels [c0, c0 + LANES), activated. */
typedef struct row_job {
    const float *image; /* the input image, nhwc */
    int in_w, c_in, kh, kw, cy, wc, cp, c0;
    const float *weights, *bias, *alpha; /* (tap, cp), cp, cp (alpha: PReLU's) */
    fr_activation act;
    float *row;         /* (wc, cp) */
} row_job;

static inline float activate(float v, fr_activation act, float alpha)
{
    if (act == FR_ACT_RELU)
        return v < 0.0f ? 0.0f : v;
    if (act == FR_ACT_PRELU)
        return v < 0.0f ? v * alpha : v;
    return v;
}

/* Pixels [x, wc) one at a time (the vector loops' tails, and CPUs without AVX2). Each lane's
 * sum is the vector loops' sequence of fused multiply-adds (fmaf), so the same bits. */
static void pixels_scalar(const row_job *j, int x)
{
    int run = j->kw * j->c_in;
    for (; x < j->wc; x++) {
        float acc[LANES];
        for (int k = 0; k < LANES; k++)
            acc[k] = j->bias[j->c0 + k];
        for (int ky = 0; ky < j->kh; ky++) {
            const float *src = j->image + ((size_t)(j->cy + ky) * j->in_w + x) * j->c_in;
            const float *w = j->weights + (size_t)ky * run * j->cp + j->c0;
            for (int t = 0; t < run; t++, w += j->cp)
                for (int k = 0; k < LANES; k++)
                    acc[k] = fmaf(src[t], w[k], acc[k]);
        }
        float *out = j->row + (size_t)x * j->cp + j->c0;
        for (int k = 0; k < LANES; k++)
            out[k] = activate(acc[k], j->act, j->alpha[j->c0 + k]);
    }
}

#if defined(__AVX2__) && defined(__FMA__)
#define PIXELS 4
/* v < 0 ? v * a : v lane by lane, as activate() */
static inline __m256 act8(__m256 v, fr_activation act, __m256 a)
{
    __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    if (act == FR_ACT_RELU)
        return _mm256_blendv_ps(v, _mm256_setzero_ps(), neg);
    if (act == FR_ACT_PRELU)
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, a), neg);
    return v;
}

/* PIXELS pixels at a time on 8-lane registers (two a pixel); returns where it stopped. */
static int pixels_avx2(const row_job *j, int x)
{
    int run = j->kw * j->c_in, cp = j->cp, c0 = j->c0;
    const __m256 b0 = _mm256_loadu_ps(j->bias + c0), b1 = _mm256_loadu_ps(j->bias + c0 + 8);
    const __m256 a0 = _mm256_loadu_ps(j->alpha + c0), a1 = _mm256_loadu_ps(j->alpha + c0 + 8);
    for (; x + PIXELS <= j->wc; x += PIXELS) {
        __m256 acc[PIXELS][2];
        for (int p = 0; p < PIXELS; p++) {
            acc[p][0] = b0;
            acc[p][1] = b1;
        }
        for (int ky = 0; ky < j->kh; ky++) {
            const float *src = j->image + ((size_t)(j->cy + ky) * j->in_w + x) * j->c_in;
            const float *w = j->weights + (size_t)ky * run * cp + c0;
            for (int t = 0; t < run; t++, w += cp) {
                __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                for (int p = 0; p < PIXELS; p++) {
                    __m256 v = _mm256_broadcast_ss(src + p * j->c_in + t);
                    acc[p][0] = _mm256_fmadd_ps(v, w0, acc[p][0]);
                    acc[p][1] = _mm256_fmadd_ps(v, w1, acc[p][1]);
                }
            }
        }
        for (int p = 0; p < PIXELS; p++) {
            float *out = j->row + (size_t)(x + p) * cp + c0;
            _mm256_storeu_ps(out, act8(acc[p][0], j->act, a0));
            _mm256_storeu_ps(out + 8, act8(acc[p][1], j->act, a1));
        }
    }
    return x;
}

#if defined(__GNUC__) || defined(__clang__)
#define HAVE_AVX512_PATH 1
#define PIXELS512 8
/* `step` pixels from x on 16-lane registers (one a pixel); inlined with a constant step. */
__attribute__((target("avx512f"), always_inline)) static inline void block_avx512(
    const row_job *j, int x, int step)
{
    int run = j->kw * j->c_in, cp = j->cp, c0 = j->c0;
    __m512 acc[PIXELS512];
    for (int p = 0; p < step; p++)
        acc[p] = _mm512_loadu_ps(j->bias + c0);
    for (int ky = 0; ky < j->kh; ky++) {
        const float *src = j->image + ((size_t)(j->cy + ky) * j->in_w + x) * j->c_in;
        const float *w = j->weights + (size_t)ky * run * cp + c0;
        for (int t = 0; t < run; t++, w += cp) {
            __m512 wv = _mm512_loadu_ps(w);
            for (int p = 0; p < step; p++)
                acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(src[p * j->c_in + t]), wv, acc[p]);
        }
    }
    const __m512 a = _mm512_loadu_ps(j->alpha + c0), zero = _mm512_setzero_ps();
    for (int p = 0; p < step; p++) {
        __m512 v = acc[p];
        __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
        if (j->act == FR_ACT_RELU)
            v = _mm512_mask_blend_ps(neg, v, zero);
        else if (j->act == FR_ACT_PRELU)
            v = _mm512_mask_mul_ps(v, neg, v, a);
        _mm512_storeu_ps(j->row + (size_t)(x + p) * cp + c0, v);
    }
}

/* The same on 16-lane registers, for CPUs with AVX-512 beyond the library's -march:
 * PIXELS512 pixels at a time, then one at a time; returns where it stopped (the row's end). */
__attribute__((target("avx512f"))) static int pixels_avx512(const row_job *j, int x)
{
    for (; x + PIXELS512 <= j->wc; x += PIXELS512)
        block_avx512(j, x, PIXELS512);
    for (; x < j->wc; x++)
        block_avx512(j, x, 1);
    return x;
}
#endif
#endif

/* Convolution row cy into row, every channel group, activated. */
static void conv_row(row_job *j, int avx512)
{
    for (j->c0 = 0; j->c0 < j->cp; j->c0 += LANES) {
        int x = 0;
#ifdef HAVE_AVX512_PATH
        if (avx512)
            x = pixels_avx512(j, x);
#else
        (void)avx512;
#endif
#if defined(__AVX2__) && defined(__FMA__)
        x = pixels_avx2(j, x);
#endif
        pixels_scalar(j, x);
    }
}

/* m[k] = max(m[k], v[k]) over c channels (v > m ? v : m: padding's -FLT_MAX never wins) */
static void max_into(float *m, const float *v, int c)
{
    int k = 0;
#ifdef __AVX2__
    for (; k + 8 <= c; k += 8) /* maxps(v, m): v > m ? v : m, as below */
        _mm256_storeu_ps(m + k, _mm256_max_ps(_mm256_loadu_ps(v + k), _mm256_loadu_ps(m + k)));
#endif
    for (; k < c; k++)
        m[k] = v[k] > m[k] ? v[k] : m[k];
}

void fr_cpu_convpool(const fr_graph *g, const fr_node *conv, const fr_node *pool,
                     const float *in, int n, float *out, int block, float *scratch)
{
    const fr_tensor *x = &g->tensors[conv->in], *y = &g->tensors[conv->out];
    const fr_tensor *z = &g->tensors[pool->out];
    int c_in = x->c, c = y->c, cp = padded(c), kh = conv->kh, kw = conv->kw;
    int taps = kh * kw * c_in;
    int b = block > 1 ? block : c; /* nhwc: one block of every channel */
    float *weights = scratch, *bias = weights + aligned((size_t)taps * cp);
    float *alpha = bias + aligned((size_t)cp), *rows = alpha + aligned((size_t)cp);
    size_t row_floats = aligned((size_t)y->w * cp);
    const float *params = g->params;
    /* (c_out, kh, kw, c_in) -> (tap, channel), zeros past c_out */
    memset(weights, 0, (size_t)taps * cp * sizeof *weights);
    memset(bias, 0, 2 * aligned((size_t)cp) * sizeof *bias);
    for (int o = 0; o < c; o++) {
        for (int t = 0; t < taps; t++)
            weights[(size_t)t * cp + o] = params[conv->weight + (size_t)o * taps + t];
        bias[o] = params[conv->bias + o];
        if (conv->act == FR_ACT_PRELU)
            alpha[o] = params[conv->alpha + o];
    }
    size_t plane = (size_t)z->h * z->w;
#ifdef HAVE_AVX512_PATH
    int avx512 = __builtin_cpu_supports("avx512f");
#else
    int avx512 = 0;
#endif
    for (int i = 0; i < n; i++) {
        const float *image = in + (size_t)i * x->h * x->w * c_in;
        float *dst = out + (size_t)i * plane * c;
        int slot_row[FR_CONVPOOL_MAX_POOL];
        for (int s = 0; s < pool->kh; s++)
            slot_row[s] = -1;
        for (int py = 0; py < z->h; py++) {
            int y0 = py * pool->stride_h - pool->pad_top;
            int r0 = y0 < 0 ? 0 : y0, r1 = y0 + pool->kh < y->h ? y0 + pool->kh : y->h;
            for (int r = r0; r < r1; r++) {
                int s = r % pool->kh;
                if (slot_row[s] != r) {
                    row_job j = {image, x->w, c_in, kh, kw, r, y->w, cp, 0, weights, bias,
                                 alpha, conv->act, rows + (size_t)s * row_floats};
                    conv_row(&j, avx512);
                    slot_row[s] = r;
                }
            }
            for (int px = 0; px < z->w; px++) {
                int x0 = px * pool->stride_w - pool->pad_left;
                int q0 = x0 < 0 ? 0 : x0, q1 = x0 + pool->kw < y->w ? x0 + pool->kw : y->w;
                float m[FR_CONVPOOL_MAX_CHANNELS];
                for (int k = 0; k < c; k++)
                    m[k] = -FLT_MAX;
                for (int r = r0; r < r1; r++) {
                    const float *row = rows + (size_t)(r % pool->kh) * row_floats;
                    for (int q = q0; q < q1; q++)
                        max_into(m, row + (size_t)q * cp, c);
                }
                size_t pixel = (size_t)py * z->w + px;
                for (int k0 = 0; k0 < c; k0 += b)
                    memcpy(dst + ((size_t)(k0 / b) * plane + pixel) * b, m + k0,
                           (size_t)b * sizeof *m);
            }
        }
    }
}
