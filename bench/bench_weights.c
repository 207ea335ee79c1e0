/*
 * bench_weights.c: what verifying a weights file costs at load. For one .frw (format 2), in
 * alternating rounds, the median of:
 *
 *   open v2      fr_weights_open + close: map, parse, SHA-256 of the file, every value checked
 *   open v1      the same file rewritten as format 1 (no checksum): map, parse, values checked
 *   model load   fr_model_load + free: the above plus building the network (what a run pays)
 *   sha256sum    coreutils' sha256sum of the file (the peer: how a user checks a file by hand)
 *
 *   bench_weights FILE.frw [ROUNDS]      (default 15 rounds; the file is read once first, so
 *                                         every round finds it in the page cache)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "model/model_internal.h"
#include "model/weights.h"

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t u64_at(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The format 1 copy: no checksum field, 32 more bytes of padding before the data. */
static int write_version1(const char *v2_path, const char *v1_path)
{
    void *data;
    size_t size;
    if (fr_file_read(v2_path, (size_t)1 << 31, &data, &size) != FR_OK)
        return 0;
    unsigned char *v2 = data, *v1 = calloc(1, size);
    uint64_t at = u64_at(v2 + 16);
    memcpy(v1, v2, FR_WEIGHTS_CHECKSUM_OFFSET);
    v1[8] = 1;
    memcpy(v1 + FR_WEIGHTS_CHECKSUM_OFFSET, v2 + FR_WEIGHTS_CHECKSUM_OFFSET + 32,
           (size_t)at - FR_WEIGHTS_CHECKSUM_OFFSET - 32);
    memcpy(v1 + at, v2 + at, size - (size_t)at);
    FILE *f = fopen(v1_path, "wb");
    int ok = f && fwrite(v1, 1, size, f) == size;
    if (f)
        fclose(f);
    free(v1);
    free(data);
    return ok;
}

static double time_open(const char *path)
{
    double t = fr_seconds();
    fr_weights *w = NULL;
    if (fr_weights_open(path, &w) != FR_OK) {
        fprintf(stderr, "bench_weights: %s\n", fr_error_message());
        exit(1);
    }
    fr_weights_close(w);
    return fr_seconds() - t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_weights FILE.frw [ROUNDS]\n");
        return 2;
    }
    const char *path = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 15;
    if (rounds < 1 || rounds > 1000)
        rounds = 15;
    char v1[4096], command[8300];
    snprintf(v1, sizeof v1, "/tmp/bench_weights_v1_%d.frw", (int)getpid());
    if (!write_version1(path, v1)) {
        fprintf(stderr, "bench_weights: cannot make a format 1 copy of %s\n", path);
        return 1;
    }
    snprintf(command, sizeof command, "sha256sum '%s' > /dev/null", path);
    double *open2 = calloc((size_t)rounds, sizeof(double)), *open1 = calloc((size_t)rounds, 8),
           *load = calloc((size_t)rounds, 8), *peer = calloc((size_t)rounds, 8);
    time_open(path);
    time_open(v1);
    for (int r = 0; r < rounds; r++) {
        open2[r] = time_open(path);
        open1[r] = time_open(v1);
        double t = fr_seconds();
        fr_model *m = NULL;
        if (fr_model_load(path, &m) == FR_OK)
            fr_model_free(m);
        load[r] = fr_seconds() - t;
        t = fr_seconds();
        if (system(command) != 0)
            fprintf(stderr, "bench_weights: sha256sum failed\n");
        peer[r] = fr_seconds() - t;
    }
    unlink(v1);
    fr_mapping map;
    size_t bytes = fr_file_map(path, &map) == FR_OK ? map.size : 0;
    fr_file_unmap(&map);
    double o2 = median(open2, rounds), o1 = median(open1, rounds), l = median(load, rounds),
           p = median(peer, rounds);
    printf("file %s, %.1f MB, %d rounds (medians)\n", path, bytes / 1e6, rounds);
    printf("open v2 (checksum + values)  %8.2f ms  %6.0f MB/s\n", o2 * 1e3, bytes / o2 / 1e6);
    printf("open v1 (values only)        %8.2f ms\n", o1 * 1e3);
    printf("model load (v2, whole)       %8.2f ms  (verifying: %.0f%% of it)\n", l * 1e3,
           100 * (o2 - o1) / l);
    printf("sha256sum (peer)             %8.2f ms  open v2 / sha256sum = %.2fx\n", p * 1e3, o2 / p);
    free(open2);
    free(open1);
    free(load);
    free(peer);
    return 0;
}
