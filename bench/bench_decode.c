/*
 * bench_decode.c: single-thread throughput of the image front end, the part of a batch run
 * that scales with the number of files: JPEG decoding at full size and with DCT scaling, and
 * the three resize rules to the model sizes.
 *
 *   bench_decode [DIR [COUNT]]     DIR defaults to $FACEREC_DATA/lfw_devtrain/images
 *
 * The first COUNT .jpg/.png files under DIR (sorted walk) are read into memory first, so the
 * numbers are decode and resize only, not the disk. Each measurement is the best of 3 passes.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/file.h"
#include "image/decode.h"
#include "image/resize.h"

typedef struct blob {
    void *data;
    size_t size;
    char name[512];
} blob;

static blob *blobs;
static int blob_count, blob_limit;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".jpeg") == 0 ||
                   strcmp(dot, ".png") == 0);
}

/* Collects up to blob_limit image files under dir, in sorted order. */
static void collect(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                abort();
            names = grown;
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, by_name);
    for (size_t i = 0; i < count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (blob_count < blob_limit) {
            if (is_image(names[i])) {
                blob *b = &blobs[blob_count];
                if (fr_file_read(path, FR_MAX_FILE_BYTES, &b->data, &b->size) == FR_OK) {
                    snprintf(b->name, sizeof b->name, "%s", path);
                    blob_count++;
                }
            } else {
                collect(path);
            }
        }
        free(names[i]);
    }
    free(names);
}

/* Decodes every blob; returns the best images/s of 3 passes and the decoded size of #0. */
static double bench_decode(int min_side, int *width, int *height)
{
    double best = 0;
    fr_decode_options options = {0, min_side};
    for (int pass = 0; pass < 3; pass++) {
        double t0 = fr_seconds();
        for (int i = 0; i < blob_count; i++) {
            fr_image image;
            if (fr_image_decode(blobs[i].data, blobs[i].size, blobs[i].name, &options, &image) !=
                FR_OK) {
                fprintf(stderr, "%s\n", fr_error_message());
                continue;
            }
            if (i == 0) {
                *width = image.width;
                *height = image.height;
            }
            fr_image_free(&image);
        }
        double rate = blob_count / (fr_seconds() - t0);
        best = rate > best ? rate : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    char default_dir[512];
    const char *data = getenv("FACEREC_DATA");
    snprintf(default_dir, sizeof default_dir, "%s/lfw_devtrain/images",
             data && *data ? data : "../shared/data");
    const char *dir = argc > 1 ? argv[1] : default_dir;
    blob_limit = argc > 2 ? atoi(argv[2]) : 500;
    if (blob_limit <= 0)
        blob_limit = 500;
    blobs = calloc((size_t)blob_limit, sizeof *blobs);
    if (!blobs)
        return 1;
    collect(dir);
    if (blob_count == 0) {
        fprintf(stderr, "bench_decode: no .jpg/.png files under %s\n", dir);
        return 1;
    }
    size_t bytes = 0;
    for (int i = 0; i < blob_count; i++)
        bytes += blobs[i].size;
    printf("%d files from %s (%.1f KB average), one thread\n", blob_count, dir,
           bytes / 1024.0 / blob_count);

    static const int sides[] = {0, 160, 80};
    for (size_t s = 0; s < sizeof sides / sizeof *sides; s++) {
        int w = 0, h = 0;
        double rate = bench_decode(sides[s], &w, &h);
        printf("decode min_side %3d: %8.0f images/s  (%6.1f us/image, first image -> %d x %d)\n",
               sides[s], rate, 1e6 / rate, w, h);
    }

    /* Resizes of the first decoded image, repeated. */
    fr_image image;
    if (fr_image_decode(blobs[0].data, blobs[0].size, blobs[0].name, NULL, &image) != FR_OK) {
        fprintf(stderr, "%s\n", fr_error_message());
        return 1;
    }
    static uint8_t out[160 * 160 * 3];
    const int reps = 2000;
    for (int which = 0; which < 3; which++) {
        double best = 1e9;
        for (int pass = 0; pass < 3; pass++) {
            double t0 = fr_seconds();
            for (int r = 0; r < reps; r++) {
                if (which == 0)
                    fr_resize_nearest_pil(image.pixels, image.width, image.height, out, 160, 160);
                else if (which == 1)
                    fr_resize_bilinear_pil(image.pixels, image.width, image.height, out, 160, 160);
                else
                    fr_resize_faceapi(image.pixels, image.width, image.height, out, 150);
            }
            double per = (fr_seconds() - t0) / reps;
            best = per < best ? per : best;
        }
        static const char *names[] = {"nearest (Pillow) -> 160", "bilinear (Pillow) -> 160",
                                      "face-api pad+bilinear -> 150"};
        printf("resize %d x %d %-30s %7.1f us/image (%8.0f images/s)\n", image.width,
               image.height, names[which], best * 1e6, 1.0 / best);
    }
    fr_image_free(&image);
    for (int i = 0; i < blob_count; i++)
        free(blobs[i].data);
    free(blobs);
    return 0;
}
