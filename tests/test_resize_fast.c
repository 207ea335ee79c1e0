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

int main(void)
{
    uint64_t rng = 0x5eedfa5ULL;
    test_faceapi(&rng, 3000);
    return fr_test_finish("test_resize_fast");
}
