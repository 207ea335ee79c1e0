/*
 * test_warp_simd.c: fr_warp_bilinear's vector paths (AVX2, AVX-512) against its scalar one,
 * the reference (dlib's sampler as written in src/image/warp.c), byte for byte: random images
 * of odd sizes (1..400 px a side) and random chip-to-image mappings (similarities scaled and
 * rotated, general affine ones, ones on integer and half-integer points, ones partly or
 * wholly outside, ones about the last pixels, huge and non-finite entries), chips of every
 * width mod 8. Each image lies against an unreadable page, after its last byte or before its
 * first, so a path that reads outside the image faults here. Paths this CPU cannot run are
 * reported as skipped.
 *
 *   test_warp_simd [--bench]   (--bench: milliseconds per 150x150 chip for each path, warm
 *                               and cold in cache)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"
#include "image/warp.h"
#include "testutil.h"

#define MAX_SIDE 400
#define MAX_CHIP 200

static const char *const path_names[] = {"scalar", "avx2", "avx512"};

/* An image buffer of `bytes` flush against a PROT_NONE page: after it (at_end) or before it. */
typedef struct guarded {
    uint8_t *map, *pixels;
    size_t map_bytes;
} guarded;

static int guarded_new(guarded *g, size_t bytes, int at_end)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (bytes + page - 1) / page * page;
    g->map_bytes = span + 2 * page;
    void *p = mmap(NULL, g->map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    g->map = p;
    if (mprotect(g->map + page, span, PROT_READ | PROT_WRITE) != 0)
        return -1;
    g->pixels = at_end ? g->map + page + span - bytes : g->map + page;
    return 0;
}

static void guarded_free(guarded *g)
{
    munmap(g->map, g->map_bytes);
}

static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(fr_test_rand(s) >> 11) / 9007199254740992.0;
}

static const double specials[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 3e9, -3e9, -0.0,
                                  -1e-300, 1e-300};

/* A random mapping of chip (size x size) into a (w, h) image, of kind `kind`. */
static void random_mapping(uint64_t *s, int kind, int w, int h, int size, double m[6])
{
    /* the chip about the image's size, from a tenth of it to three times over */
    double fit = (double)(w < h ? w : h) / size;
    double scale = fit * exp(uniform(s, log(0.1), log(3.0))), angle = uniform(s, -M_PI, M_PI);
    double cx = uniform(s, 0.1 * w, 0.9 * w), cy = uniform(s, 0.1 * h, 0.9 * h);
    if (kind == 1) { /* about the borders, often partly outside */
        cx = uniform(s, -0.3 * w, 1.3 * w);
        cy = uniform(s, -0.3 * h, 1.3 * h);
    }
    double half = 0.5 * (size - 1);
    switch (kind) {
    case 0: /* a similarity centred in the image */
    case 1:
        m[0] = scale * cos(angle);
        m[1] = -scale * sin(angle);
        m[3] = scale * sin(angle);
        m[4] = scale * cos(angle);
        break;
    case 2: /* any affine map */
        for (int i = 0; i < 6; i++)
            m[i] = uniform(s, -3, 3) * fit;
        break;
    case 3: /* axis-aligned, integer or half-integer steps and offsets: exact borders */
        m[0] = m[4] = (double)(1 + fr_test_rand(s) % 3) / (double)(1 + fr_test_rand(s) % 2);
        m[1] = m[3] = 0;
        cx = (double)(long)cx + 0.5 * (double)(fr_test_rand(s) % 2);
        cy = (double)(long)cy + 0.5 * (double)(fr_test_rand(s) % 2);
        break;
    case 4: /* about the last pixels (the bottom-right corner), where a read can overrun */
        m[0] = m[4] = uniform(s, 0.01, 0.2);
        m[1] = m[3] = uniform(s, -0.02, 0.02);
        cx = w - 1.5 + uniform(s, -1, 1);
        cy = h - 1.5 + uniform(s, -1, 1);
        break;
    case 5: /* wholly outside */
        m[0] = m[4] = scale;
        m[1] = m[3] = 0;
        cx = fr_test_rand(s) % 2 ? -(double)size * scale - 5 : w + (double)size * scale + 5;
        break;
    default: /* a similarity with an entry huge or not finite */
        m[0] = scale * cos(angle);
        m[1] = -scale * sin(angle);
        m[3] = scale * sin(angle);
        m[4] = scale * cos(angle);
        break;
    }
    m[2] = cx - (m[0] + m[1]) * half;
    m[5] = cy - (m[3] + m[4]) * half;
    if (kind >= 6) {
        int entries = 1 + (int)(fr_test_rand(s) % 2);
        for (int e = 0; e < entries; e++)
            m[fr_test_rand(s) % 6] =
                specials[fr_test_rand(s) % (sizeof specials / sizeof *specials)];
    }
}

/* Milliseconds per chip for each path: warm (one image, in cache) and cold (cycling through
 * 256 images, 48 MB, as a pipeline's freshly decoded images are). */
static int bench(void)
{
    enum { IMAGES = 256 };
    int w = 250, h = 250, size = 150;
    size_t bytes = (size_t)w * h * 3;
    uint8_t *images = malloc(bytes * IMAGES), *out = malloc((size_t)size * size * 3);
    if (!images || !out)
        return 1;
    uint64_t s = 7;
    for (size_t i = 0; i < bytes * IMAGES; i++)
        images[i] = (uint8_t)fr_test_rand(&s);
    /* an LFW-like face: 0.6 px a chip px, turned 10 degrees, centred */
    double a = 10 * M_PI / 180, sc = 0.6, m[6] = {sc * cos(a), -sc * sin(a), 0, sc * sin(a),
                                                   sc * cos(a), 0};
    m[2] = 125 - (m[0] + m[1]) * 74.5;
    m[5] = 125 - (m[3] + m[4]) * 74.5;
    for (int cold = 0; cold < 2; cold++)
        for (int p = FR_WARP_SCALAR; p <= FR_WARP_AVX512; p++) {
            if (!fr_warp_path_available((fr_warp_path)p))
                continue;
            int reps = 2048;
            double best = 1e9;
            for (int round = 0; round < 5; round++) {
                double t0 = fr_seconds();
                for (int i = 0; i < reps; i++)
                    fr_warp_bilinear_on((fr_warp_path)p, images + (cold ? i % IMAGES : 0) * bytes,
                                        w, h, m, size, out);
                double t = (fr_seconds() - t0) / reps;
                best = t < best ? t : best;
            }
            printf("%-7s %s %.4f ms a 150x150 chip\n", path_names[p], cold ? "cold" : "warm",
                   best * 1e3);
        }
    free(images);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    int vector_paths = 0;
    for (int p = FR_WARP_AVX2; p <= FR_WARP_AVX512; p++) {
        if (fr_warp_path_available((fr_warp_path)p))
            vector_paths++;
        else
            printf("skipped: the %s path (not in this build or CPU)\n", path_names[p]);
    }
    if (!vector_paths)
        fr_test_skip("no vector path of fr_warp_bilinear runs here");
    uint8_t *want = malloc((size_t)MAX_CHIP * MAX_CHIP * 3);
    uint8_t *got = malloc((size_t)MAX_CHIP * MAX_CHIP * 3 + 1);
    CHECK(want && got);
    if (!want || !got)
        return fr_test_finish("test_warp_simd");
    uint64_t s = 12345;
    int cases = 6000, mismatched[3] = {0, 0, 0}, kinds = 8;
    long inside_px = 0, total_px = 0;
    for (int t = 0; t < cases; t++) {
        /* mostly small images (many cases), some up to MAX_SIDE; odd and even sides */
        int w = 1 + (int)(fr_test_rand(&s) % (t % 4 == 0 ? MAX_SIDE : 40));
        int h = 1 + (int)(fr_test_rand(&s) % (t % 4 == 1 ? MAX_SIDE : 40));
        int size = t % 3 == 0 ? 150 : 1 + (int)(fr_test_rand(&s) % 60);
        guarded g;
        if (guarded_new(&g, (size_t)w * h * 3, t % 2) != 0) {
            CHECK(!"mmap");
            break;
        }
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            g.pixels[i] = (uint8_t)fr_test_rand(&s);
        /* some images all 255 (the clamp at the top) or all 0 */
        if (t % 17 == 0)
            memset(g.pixels, t % 34 == 0 ? 255 : 0, (size_t)w * h * 3);
        double m[6];
        random_mapping(&s, t % kinds, w, h, size, m);
        size_t bytes = (size_t)size * size * 3;
        fr_warp_bilinear_on(FR_WARP_SCALAR, g.pixels, w, h, m, size, want);
        for (size_t i = 0; i < bytes; i += 3)
            inside_px += want[i] | want[i + 1] | want[i + 2] ? 1 : 0;
        total_px += (long)size * size;
        for (int p = FR_WARP_AVX2; p <= FR_WARP_AVX512 + 1; p++) {
            /* the last round: fr_warp_bilinear itself, whichever path it dispatches to */
            if (p <= FR_WARP_AVX512 && !fr_warp_path_available((fr_warp_path)p))
                continue;
            memset(got, 0xA5, bytes + 1);
            if (p <= FR_WARP_AVX512)
                fr_warp_bilinear_on((fr_warp_path)p, g.pixels, w, h, m, size, got);
            else
                fr_warp_bilinear(g.pixels, w, h, m, size, got);
            int same = memcmp(want, got, bytes) == 0 && got[bytes] == 0xA5;
            CHECK(same);
            int slot = p <= FR_WARP_AVX512 ? p : 0;
            if (!same && mismatched[slot]++ < 3) {
                size_t i = 0;
                while (i < bytes && want[i] == got[i])
                    i++;
                fprintf(stderr,
                        "%s: case %d (%dx%d image, %d chip, m = %.17g %.17g %.17g %.17g %.17g "
                        "%.17g): byte %zu is %d, the scalar path's %d\n",
                        p <= FR_WARP_AVX512 ? path_names[p] : "dispatch", t, w, h, size, m[0],
                        m[1], m[2], m[3], m[4], m[5], i, i < bytes ? got[i] : -1,
                        i < bytes ? want[i] : -1);
            }
        }
        guarded_free(&g);
    }
    /* the cases must sample the image, not only black: a fifth of the pixels at least */
    printf("%d cases, %ld chip pixels, %.1f %% not black\n", cases, total_px,
           100.0 * (double)inside_px / (double)total_px);
    CHECK(inside_px * 5 > total_px);
    free(want);
    free(got);
    return fr_test_finish("test_warp_simd");
}
