/*
 * test_resize_fast.c: the vectorized preprocessing kernels against the scalar code they
 * replaced, kept here as the reference (test_resize_faceapi.c and test_resize_area.c check
 * that reference against face-api and OpenCV themselves). The fast paths only change how
 * values are fetched and stored, never the arithmetic, so every comparison is exact: equal
 * bytes, or equal float bit patterns. Thousands of random shapes, with the edges: 1-pixel
 * images and outputs, a single row or column, padding on either axis (and both placements),
 * enlarging and shrinking, sizes that are not a multiple of any vector width.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize.h"
#include "image/resize_area.h"
#include "testutil.h"

/* ---- references ---------------------------------------------------------------------------- */

/* fr_resize_faceapi_padded as it was before its horizontal pass loaded whole pixels: per value
 * byte gathers through left/right offset tables (see image/resize.c for the arithmetic). */
static void ref_faceapi_padded(const uint8_t *src, int src_w, int src_h, uint8_t *dst, int size,
                               int centre)
{
    if (src_w == size && src_h == size) {
        memcpy(dst, src, (size_t)size * (size_t)size * 3);
        return;
    }
    int side = src_w > src_h ? src_w : src_h;
    int diff = side - (src_w < src_h ? src_w : src_h);
    int append = centre ? (diff + 1) / 2 : diff;
    int prepend = diff - append;
    int top = src_h < src_w ? prepend : 0;
    int left = src_w < src_h ? prepend : 0;
    size_t n3 = (size_t)size * 3, row_bytes = (size_t)src_w * 3;
    double *frac = malloc(n3 * sizeof(double));
    double *h_top = malloc(n3 * sizeof(double)), *h_bottom = malloc(n3 * sizeof(double));
    int *left_off = malloc(n3 * sizeof(int)), *right_off = malloc(n3 * sizeof(int));
    uint8_t *row = malloc(row_bytes + 3);
    memset(row + row_bytes, 0, 3);
    const double ratio = (double)side / size;
    for (int c = 0; c < size; c++) {
        double src_col = ratio * c;
        double col_floor = floor(src_col);
        int c0 = (int)col_floor - left, c1 = (int)ceil(src_col);
        c1 = (c1 > side - 1 ? side - 1 : c1) - left;
        for (int d = 0; d < 3; d++) {
            frac[3 * c + d] = src_col - col_floor;
            left_off[3 * c + d] = (c0 >= 0 && c0 < src_w ? c0 * 3 : src_w * 3) + d;
            right_off[3 * c + d] = (c1 >= 0 && c1 < src_w ? c1 * 3 : src_w * 3) + d;
        }
    }
    for (int r = 0; r < size; r++) {
        double src_row = ratio * r;
        double row_floor = floor(src_row);
        double row_frac = src_row - row_floor;
        int r1 = (int)ceil(src_row);
        int want[2] = {(int)row_floor, r1 > side - 1 ? side - 1 : r1};
        double *hs[2] = {h_top, h_bottom};
        for (int k = 0; k < 2; k++) {
            int y = want[k] - top;
            double *h = hs[k];
            if (y < 0 || y >= src_h) {
                for (size_t i = 0; i < n3; i++)
                    h[i] = 0;
            } else {
                memcpy(row, src + (size_t)y * row_bytes, row_bytes);
                for (size_t i = 0; i < n3; i++) {
                    int l = row[left_off[i]], rt = row[right_off[i]];
                    double step = (double)(rt - l) * frac[i];
                    h[i] = l + step;
                }
            }
        }
        uint8_t *out = dst + (size_t)r * n3;
        for (size_t i = 0; i < n3; i++) {
            double step = (h_bottom[i] - h_top[i]) * row_frac;
            float value = (float)(h_top[i] + step);
            int rounded = (int)((double)value + 0.5);
            out[i] = (uint8_t)(rounded < 0 ? 0 : rounded > 255 ? 255 : rounded);
        }
    }
    free(frac);
    free(h_top);
    free(h_bottom);
    free(left_off);
    free(right_off);
    free(row);
}

/* fr_resize_area_u8/_f32's shrinking by non-integer factors as it was before its horizontal
 * pass loaded whole pixels: planar row buffers, the per-channel scalar loop (its AVX2 gathers
 * computed the same sums). */
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

static inline uint8_t saturate_u8(float v)
{
    float r = rintf(v);
    return (uint8_t)(r <= 0.0f ? 0.0f : r >= 255.0f ? 255.0f : r);
}

/* A destination row from planar sums (3, stride), interleaved. */
static void store_planar(const float *sum, size_t stride, int dw, uint8_t *du8, float *df)
{
    for (int d = 0; d < dw; d++)
        for (int c = 0; c < 3; c++) {
            float v = sum[(size_t)c * stride + (size_t)d];
            if (du8)
                du8[(size_t)d * 3 + (size_t)c] = saturate_u8(v);
            else
                df[(size_t)d * 3 + (size_t)c] = v;
        }
}

static void ref_shrink(const uint8_t *src, size_t stride, int sw, int sh, uint8_t *du8, float *df,
                        int dw, int dh, double sx_scale, double sy_scale, fr_scratch *scratch_unused)
{
    size_t xn_max = (size_t)sw * 2, yn_max = (size_t)sh * 2;
    size_t dwp = ((size_t)dw + 7) & ~(size_t)7; /* pixels, padded to whole vectors */
    /* a destination pixel takes at most ceil(scale) + 1 source pixels */
    int taps = (int)ceil(sx_scale) + 2;
    size_t bytes = (xn_max + yn_max) * sizeof(decimate) + (size_t)taps * dwp * 2 * sizeof(float) +
                   ((size_t)sw * 3 + 8) * sizeof(float) + 6 * dwp * sizeof(float) + 64;
    (void)scratch_unused;
    char *mem = calloc(1, bytes);
    decimate *xtab = (decimate *)mem, *ytab = xtab + xn_max;
    int32_t *tap_at = (int32_t *)(ytab + yn_max); /* (taps, dwp): source element of channel 0 */
    float *tap_w = (float *)(tap_at + (size_t)taps * dwp);
    float *rowf = tap_w + (size_t)taps * dwp;     /* the source row as floats */
    float *buf = rowf + (size_t)sw * 3 + 8;       /* (3, dwp) */
    float *sum = buf + 3 * dwp;                   /* (3, dwp) */
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
        tap_at[(size_t)t * dwp + (size_t)dx] = xtab[k].si;
        tap_w[(size_t)t * dwp + (size_t)dx] = xtab[k].alpha;
        max_taps = t + 1 > max_taps ? t + 1 : max_taps;
    }
    for (size_t i = 0; i < 3 * dwp; i++)
        sum[i] = 0.0f;
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
        for (int c = 0; c < 3 && !again; c++) {
            float *b = buf + (size_t)c * dwp;
            size_t d = 0;
            for (; d < dwp; d++) {
                float acc = 0.0f;
                for (int t = 0; t < max_taps; t++)
                    acc = acc + rowf[tap_at[(size_t)t * dwp + d] + c] * tap_w[(size_t)t * dwp + d];
                b[d] = acc;
            }
        }
        if (dy != prev_dy) {
            store_planar(sum, dwp, dw, du8 ? du8 + (size_t)prev_dy * dw * 3 : NULL,
                         df ? df + (size_t)prev_dy * dw * 3 : NULL);
            for (size_t i = 0; i < 3 * dwp; i++)
                sum[i] = beta * buf[i];
            prev_dy = dy;
        } else {
            for (size_t i = 0; i < 3 * dwp; i++)
                sum[i] += beta * buf[i];
        }
    }
    store_planar(sum, dwp, dw, du8 ? du8 + (size_t)prev_dy * dw * 3 : NULL,
                 df ? df + (size_t)prev_dy * dw * 3 : NULL);
    free(mem);
}


/* ---- helpers ------------------------------------------------------------------------------- */

static int rand_int(uint64_t *rng, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(fr_test_rand(rng) % (uint64_t)(hi - lo + 1));
}

/* Mostly small sides (where the edges are), sometimes up to `big`. */
static int rand_side(uint64_t *rng, int big)
{
    switch (fr_test_rand(rng) % 4) {
    case 0: return rand_int(rng, 1, 4);
    case 1: return rand_int(rng, 1, 40);
    default: return rand_int(rng, 1, big);
    }
}

/* Random bytes, or only the extremes 0 and 255 (the clamps), or a smooth ramp. */
static void fill_u8(uint8_t *p, size_t n, uint64_t *rng)
{
    int kind = (int)(fr_test_rand(rng) % 3);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = fr_test_rand(rng);
        p[i] = kind == 0 ? (uint8_t)(r >> 32) : kind == 1 ? ((r >> 40) & 1 ? 255 : 0)
                                                         : (uint8_t)((i * 7 + (r >> 62)) & 255);
    }
}

/* Guard bytes after an output catch writes past its end. */
#define GUARD 64

static void test_faceapi(uint64_t *rng, int cases)
{
    int mismatched = 0, guard_broken = 0;
    for (int t = 0; t < cases; t++) {
        int w = rand_side(rng, 300), h = rand_side(rng, 300);
        if (t % 5 == 0) /* the pipeline's shapes: tiny's 192, the landmark net's 112 */
            w = rand_int(rng, 100, 260), h = rand_int(rng, 100, 260);
        int size = t % 5 == 0 ? (t % 10 == 0 ? 192 : 112) : rand_side(rng, 260);
        if (t % 97 == 0)
            w = h = size; /* passed through */
        int centre = (int)(fr_test_rand(rng) & 1);
        size_t in_n = (size_t)w * h * 3, out_n = (size_t)size * size * 3;
        uint8_t *src = malloc(in_n), *ours = malloc(out_n + GUARD), *ref = malloc(out_n);
        fill_u8(src, in_n, rng);
        memset(ours, 0xA5, out_n + GUARD);
        CHECK_OK(fr_resize_faceapi_padded(src, w, h, ours, size, centre));
        ref_faceapi_padded(src, w, h, ref, size, centre);
        if (memcmp(ours, ref, out_n) != 0) {
            if (mismatched++ < 5)
                fprintf(stderr, "faceapi %d x %d -> %d (centre %d): output differs\n", w, h, size,
                        centre);
        }
        for (int i = 0; i < GUARD; i++)
            guard_broken += ours[out_n + i] != 0xA5;
        free(src);
        free(ours);
        free(ref);
    }
    printf("faceapi: %d random shapes, %d differ, %d bytes written past the end\n", cases,
           mismatched, guard_broken);
    CHECK(mismatched == 0);
    CHECK(guard_broken == 0);
}

/* Both axes shrinking by a factor that is not an integer: the path with the taps. */
static void test_area(uint64_t *rng, int cases)
{
    int mismatched = 0, tested = 0;
    fr_scratch scratch = {0};
    for (int t = 0; tested < cases && t < 100 * cases; t++) {
        int sw = rand_side(rng, 300), sh = rand_side(rng, 300);
        int dw = rand_int(rng, 1, sw), dh = rand_int(rng, 1, sh);
        if (t % 4 == 0) /* the pyramid's 1 / 0.709 and O-Net's 48 x 48 */
            dw = (int)ceil(sw * 0.709), dh = (int)ceil(sh * 0.709);
        else if (t % 4 == 1 && sw >= 48 && sh >= 48)
            dw = dh = 48;
        double sx = 1.0 / ((double)dw / sw), sy = 1.0 / ((double)dh / sh);
        int ix = (int)lrint(sx), iy = (int)lrint(sy);
        if ((sw == dw && sh == dh) ||
            (fabs(sx - ix) < 2.220446049250313e-16 && fabs(sy - iy) < 2.220446049250313e-16))
            continue; /* copies and integer factors take other paths */
        tested++;
        int pad = (int)(fr_test_rand(rng) % 3) * 5; /* a crop's row stride is its image's */
        size_t stride = (size_t)(sw + pad) * 3, in_n = stride * sh, out_n = (size_t)dw * dh * 3;
        uint8_t *src = malloc(in_n), *ours8 = malloc(out_n + GUARD), *ref8 = malloc(out_n);
        float *oursf = malloc((out_n + GUARD) * sizeof(float)), *reff = malloc(out_n * sizeof(float));
        fill_u8(src, in_n, rng);
        memset(ours8, 0xA5, out_n + GUARD);
        memset(oursf, 0xA5, (out_n + GUARD) * sizeof(float));
        int differ = 0;
        if (pad == 0) {
            CHECK_OK(fr_resize_area_u8(src, sw, sh, ours8, dw, dh, &scratch));
            ref_shrink(src, stride, sw, sh, ref8, NULL, dw, dh, sx, sy, NULL);
            differ |= memcmp(ours8, ref8, out_n) != 0;
            for (int i = 0; i < GUARD; i++)
                differ |= ours8[out_n + i] != 0xA5;
        }
        CHECK_OK(fr_resize_area_f32(src, stride, sw, sh, oursf, dw, dh, &scratch));
        ref_shrink(src, stride, sw, sh, NULL, reff, dw, dh, sx, sy, NULL);
        differ |= memcmp(oursf, reff, out_n * sizeof(float)) != 0;
        for (size_t i = 0; i < GUARD; i++) {
            uint32_t bits;
            memcpy(&bits, oursf + out_n + i, sizeof bits);
            differ |= bits != 0xA5A5A5A5u;
        }
        if (differ && mismatched++ < 5)
            fprintf(stderr, "area %d x %d -> %d x %d (stride %zu): differs\n", sw, sh, dw, dh,
                    stride);
        free(src);
        free(ours8);
        free(ref8);
        free(oursf);
        free(reff);
    }
    fr_scratch_free(&scratch);
    printf("area: %d random non-integer shrinks, %d differ\n", tested, mismatched);
    CHECK(tested == cases);
    CHECK(mismatched == 0);
}

int main(void)
{
    uint64_t rng = 0x5eedfa5ULL;
    test_faceapi(&rng, 3000);
    test_area(&rng, 3000);
    return fr_test_finish("test_resize_fast");
}
