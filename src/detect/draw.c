/* draw.c: boxes and landmarks onto images; JPEG and PNG writers. */
#include "detect/draw.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/error.h"
#include "core/file.h"

static void put(fr_image *im, long x, long y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= im->width || y >= im->height)
        return;
    memcpy(im->pixels + ((size_t)y * im->width + (size_t)x) * 3, rgb, 3);
}

/* A rectangle outline `thick` pixels wide, inside the box's edges. */
static void rectangle(fr_image *im, const float *box, int thick, const uint8_t rgb[3])
{
    long x0 = lrintf(box[0]), y0 = lrintf(box[1]), x1 = lrintf(box[2]), y1 = lrintf(box[3]);
    if (x1 - x0 > 4L * im->width || y1 - y0 > 4L * im->height)
        return;
    for (int t = 0; t < thick; t++) {
        for (long x = x0; x <= x1; x++) {
            put(im, x, y0 + t, rgb);
            put(im, x, y1 - t, rgb);
        }
        for (long y = y0; y <= y1; y++) {
            put(im, x0 + t, y, rgb);
            put(im, x1 - t, y, rgb);
        }
    }
}

/* Digits 0-9 in a 3x5 cell font, one row a string ('#' lit). */
static const char *const DIGITS[10][5] = {
    {"###", "#.#", "#.#", "#.#", "###"}, {".#.", "##.", ".#.", ".#.", "###"},
    {"###", "..#", "###", "#..", "###"}, {"###", "..#", "###", "..#", "###"},
    {"#.#", "#.#", "###", "..#", "..#"}, {"###", "#..", "###", "..#", "###"},
    {"###", "#..", "###", "#.#", "###"}, {"###", "..#", ".#.", ".#.", ".#."},
    {"###", "#.#", "###", "#.#", "###"}, {"###", "#.#", "###", "..#", "###"},
};

static void fill(fr_image *im, long x0, long y0, long w, long h, const uint8_t rgb[3])
{
    for (long y = y0; y < y0 + h; y++)
        for (long x = x0; x < x0 + w; x++)
            put(im, x, y, rgb);
}

void fr_draw_label(fr_image *im, long x, long y, int scale, int number, const uint8_t rgb[3])
{
    static const uint8_t black[3] = {0, 0, 0};
    char text[16];
    int n = snprintf(text, sizeof text, "%d", number < 0 ? 0 : number);
    fill(im, x, y, FR_DRAW_LABEL_WIDTH(n, scale), FR_DRAW_LABEL_HEIGHT(scale), black);
    for (int c = 0; c < n; c++)
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 3; col++)
                if (DIGITS[text[c] - '0'][row][col] == '#')
                    fill(im, x + (long)scale * (1 + 4 * c + col), y + (long)scale * (1 + row),
                         scale, scale, rgb);
}

long fr_draw_label_y(const float *box, int thick, int scale)
{
    long top = lrintf(box[1]), above = top - FR_DRAW_LABEL_HEIGHT(scale);
    return above >= 0 ? above : top + thick; /* inside the box when it touches the top edge */
}

void fr_draw_faces(fr_image *im, const fr_face *faces, int count, fr_face_rule rule)
{
    static const uint8_t green[3] = {0, 230, 0}, yellow[3] = {255, 220, 0}, red[3] = {255, 0, 0};
    fr_faces list = {faces, count};
    int main_face = fr_faces_main(&list, im->width, im->height, rule);
    int side = im->width < im->height ? im->width : im->height;
    int thick = side >= 600 ? 3 : side >= 200 ? 2 : 1, dot = thick;
    for (int i = 0; i < count; i++) {
        const uint8_t *colour = i == main_face ? yellow : green;
        rectangle(im, faces[i].box, thick, colour);
        /* the face's index, as the CSV's face column and --face INDEX number it */
        int scale = FR_DRAW_LABEL_SCALE(thick);
        fr_draw_label(im, lrintf(faces[i].box[0]), fr_draw_label_y(faces[i].box, thick, scale),
                      scale, i, colour);
        for (int k = 0; k < 5 && !isnan(faces[i].landmarks[k][0]); k++) { /* tiny: none */
            long cx = lrintf(faces[i].landmarks[k][0]), cy = lrintf(faces[i].landmarks[k][1]);
            for (long y = cy - dot; y <= cy + dot; y++)
                for (long x = cx - dot; x <= cx + dot; x++)
                    put(im, x, y, red);
        }
    }
}

fr_status fr_image_save_jpeg(const fr_image *im, const char *path, int quality)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0 || quality < 1 || quality > 100)
        return fr_fail(FR_E_INVALID, "%s: nothing to write", path);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return fr_fail(FR_E_NOMEM, "%s: cannot start the JPEG compressor", path);
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    fr_status st = FR_OK;
    if (tjCompress2(tj, im->pixels, im->width, 0, im->height, TJPF_RGB, &jpeg, &size, TJSAMP_420,
                    quality, TJFLAG_ACCURATEDCT) != 0)
        st = fr_fail(FR_E_INTERNAL, "%s: JPEG compression failed: %s", path, tjGetErrorStr2(tj));
    fr_output out;
    if (!st)
        st = fr_output_open(&out, path, 0);
    if (!st) {
        if (fwrite(jpeg, 1, size, out.file) != size) {
            st = fr_fail(FR_E_IO, "%s: write failed", path);
            fr_output_abort(&out);
        } else {
            st = fr_output_commit(&out);
        }
    }
    tjFree(jpeg);
    tjDestroy(tj);
    return st;
}

static void png_error_exit(png_structp png, png_const_charp message)
{
    (void)message;
    png_longjmp(png, 1);
}

/* libpng reports errors by longjmp: everything it touches lives in the caller's frame. */
static fr_status png_write(FILE *file, const fr_image *im)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_exit, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return fr_fail(FR_E_NOMEM, "cannot start the PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return fr_fail(FR_E_IO, "PNG encoding failed");
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)im->width, (png_uint_32)im->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < im->height; y++)
        png_write_row(png, im->pixels + (size_t)y * im->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return FR_OK;
}

fr_status fr_image_save_png(const fr_image *im, const char *path)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0)
        return fr_fail(FR_E_INVALID, "%s: nothing to write", path);
    fr_output out;
    fr_status st = fr_output_open(&out, path, 0);
    if (st)
        return st;
    st = png_write(out.file, im);
    if (st) {
        fr_error_prefix(path);
        fr_output_abort(&out);
        return st;
    }
    return fr_output_commit(&out);
}
