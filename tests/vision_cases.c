/* vision_cases.c: random inputs for the vision operations' tests (see vision_cases.h). */
#include "vision_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

fr_image fr_case_image(uint64_t *rng, int w, int h)
{
    fr_image im = {w, h, malloc((size_t)w * h * 3)};
    double gx = fr_test_uniform(rng, -1, 1), gy = fr_test_uniform(rng, -1, 1);
    int block = 3 + (int)(fr_test_rand(rng) % 9);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 100 * sin(gx * x * 0.05 + gy * y * 0.07 + c) +
                           (((x / block + y / block + c) & 1) ? 20 : -20) +
                           fr_test_uniform(rng, -25, 25);
                im.pixels[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return im;
}

void fr_case_box(uint64_t *rng, int w, int h, double box[4])
{
    int kind = (int)(fr_test_rand(rng) % 20);
    int side = 4 + (int)(fr_test_rand(rng) % (unsigned)(w < h ? w : h));
    double x1 = 1 + (double)(fr_test_rand(rng) % (unsigned)w) - side / 2.0;
    double y1 = 1 + (double)(fr_test_rand(rng) % (unsigned)h) - side / 2.0;
    if (kind == 0) { /* outside the image */
        x1 = w + 5;
        y1 = -side - 5.0;
    } else if (kind == 1) { /* degenerate */
        side = -2;
    } else if (kind < 6) { /* a small one, enlarged by the crops */
        side = 4 + (int)(fr_test_rand(rng) % 16);
    }
    int aspect = (int)(fr_test_rand(rng) % 5) - 2;
    box[0] = trunc(x1);
    box[1] = trunc(y1);
    box[2] = box[0] + side - 1;
    box[3] = box[1] + side - 1 + aspect;
}

void fr_case_cands(uint64_t *rng, const fr_image *images, int nimages, fr_cand *out, int n)
{
    for (int i = 0; i < n; i++) {
        fr_cand *c = &out[i];
        memset(c, 0, sizeof *c);
        c->image = (int)(fr_test_rand(rng) % (unsigned)nimages);
        fr_case_box(rng, images[c->image].width, images[c->image].height, c->box);
        /* distinct: a random part plus the index's own */
        c->score = 0.05 + 0.9 * fr_test_uniform(rng, 0, 1) + 1e-9 * i;
        for (int k = 0; k < 4; k++)
            c->reg[k] = fr_test_uniform(rng, -0.2f, 0.2f);
        for (int k = 0; k < 10; k++)
            c->points[k] = fr_test_uniform(rng, 0.1f, 0.9f);
        c->level = (int)(fr_test_rand(rng) % 8);
    }
}

fr_face fr_case_face(uint64_t *rng, int w, int h)
{
    fr_face f;
    memset(&f, 0, sizeof f);
    double side = fr_test_uniform(rng, 20, (float)(w < h ? w : h) * 1.1f);
    double x = fr_test_uniform(rng, (float)(-side / 4), (float)(w - side * 0.75));
    double y = fr_test_uniform(rng, (float)(-side / 4), (float)(h - side * 0.75));
    f.box[0] = (float)x;
    f.box[1] = (float)y;
    f.box[2] = (float)(x + side);
    f.box[3] = (float)(y + side * fr_test_uniform(rng, 0.9f, 1.2f));
    static const double where[5][2] = {{0.3, 0.35}, {0.7, 0.35}, {0.5, 0.55}, {0.35, 0.75},
                                       {0.65, 0.75}};
    double angle = fr_test_uniform(rng, -0.4f, 0.4f);
    for (int k = 0; k < 5; k++) {
        double dx = (where[k][0] - 0.5) * side, dy = (where[k][1] - 0.5) * side;
        f.landmarks[k][0] = (float)(x + side / 2 + cos(angle) * dx - sin(angle) * dy);
        f.landmarks[k][1] = (float)(y + side / 2 + sin(angle) * dx + cos(angle) * dy);
    }
    f.score = 0.99f;
    return f;
}
