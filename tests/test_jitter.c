/*
 * test_jitter.c: jittered chips (dlib's jitter_image, detect/align.h) and --jitter end to end.
 *
 * A chip with two bright spots (left and right of the centre) is jittered 400 times: every
 * copy must be deterministic in its seed; the spots must stay within what dlib's ranges allow
 * (their midpoint moved by at most 2 % of the side plus rounding, the distance between them
 * grown by 1.01..1.03, a box of the 3-pixel-shrunk side / U(0.97, 0.99) filling the chip); about half the
 * copies mirrored (the spots swap: told apart by their colour).
 * Then embed (dlib, real LFW faces) with --jitter 4 must give the same bytes twice, the same
 * embeddings at batch 4 and 64 (within 1e-5: the GEMM's tiles sum in another order), differ
 * from the unjittered ones and stay near them (cosine > 0.9).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "detect/align.h"
#include "testutil.h"

#define S 150

/* Centroid of the pixels brighter than 100 in one channel. */
static int centroid(const uint8_t *chip, int channel, double *x, double *y)
{
    double sx = 0, sy = 0, n = 0;
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S; c++)
            if (chip[((size_t)r * S + c) * 3 + channel] > 100) {
                sx += c;
                sy += r;
                n++;
            }
    if (n == 0)
        return 0;
    *x = sx / n;
    *y = sy / n;
    return 1;
}

/* A 7x7 spot lit in one channel only, so the two spots never blend. */
static void spot(uint8_t *chip, int cx, int cy, int channel)
{
    for (int r = cy - 3; r <= cy + 3; r++)
        for (int c = cx - 3; c <= cx + 3; c++)
            chip[((size_t)r * S + c) * 3 + channel] = 220;
}

static void geometry(void)
{
    static uint8_t chip[S * S * 3], a[S * S * 3], b[S * S * 3];
    memset(chip, 30, sizeof chip);
    spot(chip, 45, 75, 0);  /* red, left */
    spot(chip, 105, 75, 1); /* green, right */
    int mirrored = 0, copies = 400;
    double worst_move = 0, lo_ratio = 10, hi_ratio = 0;
    for (int k = 0; k < copies; k++) {
        uint64_t seed = fr_jitter_seed(7, 0, k);
        fr_jitter_chip(chip, S, seed, a);
        fr_jitter_chip(chip, S, seed, b);
        CHECK(memcmp(a, b, sizeof a) == 0);
        double dx = 0, dy = 0, bx = 0, by = 0;
        CHECK(centroid(a, 0, &dx, &dy) && centroid(a, 1, &bx, &by));
        int m = bx < dx;
        mirrored += m;
        /* unmirror, then compare with where the spots were */
        if (m) {
            dx = S - 1 - dx;
            bx = S - 1 - bx;
        }
        double mid_x = (dx + bx) / 2, mid_y = (dy + by) / 2;
        worst_move = fmax(worst_move, hypot(mid_x - 75, mid_y - 75));
        double ratio = hypot(bx - dx, by - dy) / 60.0;
        lo_ratio = fmin(lo_ratio, ratio);
        hi_ratio = fmax(hi_ratio, ratio);
    }
    fr_jitter_chip(chip, S, fr_jitter_seed(7, 0, 1), b);
    fr_jitter_chip(chip, S, fr_jitter_seed(7, 0, 2), a);
    CHECK(memcmp(a, b, sizeof a) != 0);
    printf("jitter: %d of %d mirrored, spots' midpoint moved up to %.2f px, their distance "
           "scaled %.3f..%.3f\n", mirrored, copies, worst_move, lo_ratio, hi_ratio);
    CHECK(mirrored > copies * 4 / 10 && mirrored < copies * 6 / 10);
    /* 2 % of 144 rounds to 3 px on each axis (4.24 px diagonally), grown 3 % by the zoom,
     * plus the half pixel between the rectangle's centre and the chip's */
    CHECK(worst_move < 5.5);
    /* a box of (S - 6) / U(0.97, 0.99) pixels fills the chip: the content grows by
     * (S - 1) / (box - 1), 1.0105..1.0315 */
    CHECK(lo_ratio > 1.0 && hi_ratio < 1.045);
    CHECK(hi_ratio - lo_ratio > 0.01); /* the scale does vary */
}

static int run(const char *command)
{
    int r = fr_test_system(command);
    if (r != 0)
        fprintf(stderr, "command failed (%d): %s\n", r, command);
    return r;
}

static void end_to_end(void)
{
    const char *bin = fr_test_env("FACEREC_BIN");
    const char *data = fr_test_env("FACEREC_DATA");
    const char *tmp = fr_test_tmpdir();
    char cmd[8192], path[4096];
    const char *dir = "lfw_devtrain/images/Boris_Becker";
    snprintf(cmd, sizeof cmd, "'%s' embed --quiet --jitter 4 --batch 4 '%s/%s' -o '%s/j4.npy' &&"
             " '%s' embed --quiet --jitter 4 --batch 4 '%s/%s' -o '%s/again.npy' &&"
             " '%s' embed --quiet --jitter 4 --batch 64 '%s/%s' -o '%s/j64.npy' &&"
             " '%s' embed --quiet '%s/%s' -o '%s/plain.npy'",
             bin, data, dir, tmp, bin, data, dir, tmp, bin, data, dir, tmp, bin, data, dir, tmp);
    CHECK(run(cmd) == 0);
    fr_npy a, b, p, again;
    snprintf(path, sizeof path, "%s/again.npy", tmp);
    CHECK_OK(fr_npy_load(path, &again));
    snprintf(path, sizeof path, "%s/j4.npy", tmp);
    CHECK_OK(fr_npy_load(path, &a));
    snprintf(path, sizeof path, "%s/j64.npy", tmp);
    CHECK_OK(fr_npy_load(path, &b));
    snprintf(path, sizeof path, "%s/plain.npy", tmp);
    CHECK_OK(fr_npy_load(path, &p));
    if (fr_test_failures)
        return;
    CHECK(a.count == b.count && a.count == p.count && a.count >= 2 * 128);
    /* the same run twice: the same bytes; another batch size: the same jittered copies (a
     * seed that followed the batching would move embeddings by ~1e-2), summed in another
     * order by the GEMM's tiles */
    CHECK(again.count == a.count && memcmp(a.data, again.data, a.count * sizeof(float)) == 0);
    const float *j = a.data, *q = p.data, *j64 = b.data;
    double worst_cos = 1, differs = 0, batching = 0;
    for (size_t i = 0; i < a.count; i++)
        batching = fmax(batching, fabs((double)j[i] - j64[i]));
    CHECK(batching < 1e-5);
    for (size_t i = 0; i + 128 <= a.count; i += 128) {
        double dot = 0;
        for (int k = 0; k < 128; k++) {
            dot += (double)j[i + k] * q[i + k];
            differs = fmax(differs, fabs((double)j[i + k] - q[i + k]));
        }
        worst_cos = fmin(worst_cos, dot);
    }
    printf("embed --jitter 4: batch 4 and 64 within %.2g; cosine to the unjittered >= %.4f\n",
           batching, worst_cos);
    CHECK(worst_cos > 0.9 && worst_cos < 1.0);
    CHECK(differs > 1e-3);
    fr_npy_free(&a);
    fr_npy_free(&b);
    fr_npy_free(&p);
    fr_npy_free(&again);
    /* refused combinations */
    snprintf(cmd, sizeof cmd, "'%s' embed --quiet --jitter 4 --flip '%s/%s' -o '%s/x.npy' "
             "2>/dev/null", bin, data, dir, tmp);
    CHECK(fr_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "'%s' embed --quiet --jitter 0 '%s/%s' -o '%s/x.npy' 2>/dev/null",
             bin, data, dir, tmp);
    CHECK(fr_test_system(cmd) == 2);
    snprintf(path, sizeof path, "%s/x.npy", tmp);
    CHECK(fopen(path, "rb") == NULL);
}

int main(void)
{
    geometry();
    end_to_end();
    return fr_test_finish("test_jitter");
}
