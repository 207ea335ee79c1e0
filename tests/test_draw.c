/*
 * test_draw.c: what `facerec detect --draw` puts on a drawing (src/detect/draw.c), checked
 * pixel by pixel against a description written here:
 *
 *   labels       every digit 0-9 and a two-digit number read back from the pixels in the
 *                3x5 cell font spelled out below, at every cell scale the drawings use; the
 *                black margin around them; clipping at the image's edges
 *   fr_draw_faces each face's index (the CSV's face column) above its box's top-left corner,
 *                in the box's colour (yellow for the main face, green for the others), and
 *                inside the box when the box touches the top edge
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/draw.h"
#include "testutil.h"

/* The font as a person reads it (independent of draw.c's table). */
static const char *const GLYPH[10] = {
    "### #.# #.# #.# ###", ".#. ##. .#. .#. ###", "### ..# ### #.. ###", "### ..# ### ..# ###",
    "#.# #.# ### ..# ..#", "### #.. ### ..# ###", "### #.. ### #.# ###", "### ..# .#. .#. .#.",
    "### #.# ### #.# ###", "### #.# ### ..# ###",
};

static const uint8_t GREY[3] = {128, 128, 128}, GREEN[3] = {0, 230, 0}, YELLOW[3] = {255, 220, 0},
                     BLACK[3] = {0, 0, 0};

static fr_image blank(int w, int h)
{
    fr_image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h; i++)
        memcpy(im.pixels + 3 * i, GREY, 3);
    return im;
}

static int is(const fr_image *im, long x, long y, const uint8_t rgb[3])
{
    return memcmp(im->pixels + ((size_t)y * im->width + (size_t)x) * 3, rgb, 3) == 0;
}

/* Whether the label of `text` at (x, y), cell size s, is there exactly: each glyph cell lit in
 * `rgb` or black, the one-cell margin black, and (frame) the grey just outside it untouched. */
static int label_at(const fr_image *im, long x, long y, int s, const char *text,
                    const uint8_t rgb[3], int frame)
{
    int n = (int)strlen(text);
    long w = (long)s * (4 * n + 1), h = 7L * s;
    for (long py = y - frame; py < y + h + frame; py++)
        for (long px = x - frame; px < x + w + frame; px++) {
            if (px < 0 || py < 0 || px >= im->width || py >= im->height)
                continue;
            const uint8_t *want = GREY;
            if (px >= x && px < x + w && py >= y && py < y + h) {
                long cx = (px - x) / s - 1, cy = (py - y) / s - 1; /* font cell, margin -1 */
                want = BLACK;
                if (cx >= 0 && cy >= 0 && cy < 5 && cx % 4 < 3 && cx / 4 < n &&
                    GLYPH[text[cx / 4] - '0'][cy * 4 + cx % 4] == '#')
                    want = rgb;
            }
            if (!is(im, px, py, want))
                return 0;
        }
    return 1;
}

static void labels(void)
{
    for (int s = 1; s <= 6; s++)
        for (int d = 0; d <= 10; d++) {
            fr_image im = blank(80, 60);
            int number = d < 10 ? d : 47; /* every digit, then two of them */
            char text[8];
            snprintf(text, sizeof text, "%d", number);
            fr_draw_label(&im, 5, 4, s, number, GREEN);
            CHECK(label_at(&im, 5, 4, s, text, GREEN, 1));
            free(im.pixels);
        }
    /* clipped at every edge: no write outside the image (ASan), what is inside still right */
    fr_image im = blank(20, 12);
    fr_draw_label(&im, -7, -5, 3, 8, YELLOW);
    fr_draw_label(&im, 15, 8, 3, 123, YELLOW);
    CHECK(is(&im, 0, 0, YELLOW));  /* cell (1, 0) of the 8: lit */
    CHECK(is(&im, 19, 11, BLACK)); /* cell (0, 0) of the 1: dark */
    CHECK(is(&im, 10, 6, GREY));   /* between the two: untouched */
    free(im.pixels);
}

static void faces(void)
{
    /* 300x300: boxes 2 px thick, label cells of 4 px (FR_DRAW_LABEL_SCALE) */
    fr_image im = blank(300, 300);
    fr_face f[3];
    memset(f, 0, sizeof f);
    const float boxes[3][4] = {{40, 100, 100, 170}, {150, 60, 280, 220}, {20, 0, 70, 50}};
    for (int i = 0; i < 3; i++) {
        memcpy(f[i].box, boxes[i], sizeof boxes[i]);
        f[i].score = 0.99f;
        for (int k = 0; k < 5; k++)
            f[i].landmarks[k][0] = f[i].landmarks[k][1] = (float)NAN; /* no dots */
    }
    fr_draw_faces(&im, f, 3, FR_FACE_LARGEST); /* face 1 is the largest: yellow */
    int s = FR_DRAW_LABEL_SCALE(2);
    CHECK(s == 4);
    CHECK(label_at(&im, 40, 100 - 7 * s, s, "0", GREEN, 0));  /* right above its box */
    CHECK(label_at(&im, 150, 60 - 7 * s, s, "1", YELLOW, 0)); /* the main face */
    CHECK(is(&im, 150, 60, YELLOW) && is(&im, 40, 100, GREEN)); /* boxes still drawn */
    /* face 2 touches the top: its label sits inside the box, under its 2 px edge */
    CHECK(fr_draw_label_y(f[2].box, 2, s) == 2);
    fr_image only = blank(300, 300);
    fr_draw_label(&only, 20, 2, s, 2, GREEN);
    int same = 1;
    for (long y = 2; y < 2 + 7 * s; y++)
        for (long x = 20; x < 20 + 5 * s; x++)
            same &= memcmp(im.pixels + ((size_t)y * 300 + x) * 3,
                           only.pixels + ((size_t)y * 300 + x) * 3, 3) == 0;
    CHECK(same);
    free(only.pixels);
    free(im.pixels);
}

int main(void)
{
    labels();
    faces();
    return fr_test_finish("test_draw");
}
