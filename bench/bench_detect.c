/*
 * bench_detect.c: face detection + alignment throughput on the CPU, the way the batch engine
 * runs it: THREADS threads, each with its own detector (single-threaded runners), taking
 * GROUP images at a time (one detector run per group) and cutting a 150x150 dlib chip of each
 * image's main face (the largest): from its 68 landmarks (one landmark network run per
 * group, --align landmarks68, the default) or from MTCNN's 5 (--align mtcnn). Images are
 * decoded into memory first, so the figure is detection and alignment only.
 *
 *   bench_detect [--dir DIR] [--count N] [--threads T] [--group G] [--repeat R]
 *                [--align landmarks68|mtcnn] [--detector auto|mtcnn|tiny|tiny+mtcnn] [--size S]
 *
 * --detector: auto (default: what the embedding commands use for dlib's chips, tiny+mtcnn at
 * 192 with landmarks68, MTCNN with --align mtcnn), MTCNN, face-api's TinyFaceDetector at an
 * S x S input (default 416), or tiny's boxes refined by O-Net (MTCNN for the images it
 * leaves); tiny alone needs --align landmarks68. Besides images/s it prints the
 * thread-seconds per image spent in the detector and in the chipper (landmark net + warp) in
 * the best pass, and the process's CPU time per image in that pass (less disturbed than wall
 * time by other load on the machine).
 *
 * DIR defaults to $FACEREC_DATA/lfw_devtrain/images, N to 200 (first files of a sorted walk).
 * No images there (DIR missing, unreadable or without images): one line on stderr, exit 1.
 * Prints one JSON object: images/s (best of R passes), faces found, threads, group, stages.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/pool.h"
#include "detect/chips.h"
#include "detect/detect.h"
#include "engine/paths.h"
#include "model/model_internal.h"

typedef struct job {
    fr_image *images;
    int count, group;
    fr_detector **detectors;
    fr_chipper **chippers;
    uint8_t *chips; /* group chips per worker */
    int *faces;     /* per image */
    double *detect_s, *chip_s; /* per worker: seconds in the detector and in the chipper */
    fr_status status;
} job;

static void task(void *ctx, int t, int worker)
{
    job *j = ctx;
    int first = t * j->group, n = j->count - first < j->group ? j->count - first : j->group;
    fr_faces faces[64];
    const fr_image *images[64];
    const fr_face *chosen[64];
    uint8_t *out[64];
    int cuts = 0;
    double t0 = fr_seconds();
    fr_status st = fr_detector_run(j->detectors[worker], j->images + first, n, faces);
    double t1 = fr_seconds();
    j->detect_s[worker] += t1 - t0;
    for (int i = 0; i < n && !st; i++) {
        const fr_image *im = &j->images[first + i];
        int main_face = fr_faces_main(&faces[i], im->width, im->height, FR_FACE_LARGEST);
        j->faces[first + i] = faces[i].count;
        if (main_face >= 0) {
            images[cuts] = im;
            chosen[cuts] = &faces[i].faces[main_face];
            out[cuts] = j->chips + ((size_t)worker * 64 + (size_t)cuts) * 150 * 150 * 3;
            cuts++;
        }
    }
    if (!st)
        st = fr_chipper_cut(j->chippers[worker], images, chosen, cuts, out);
    j->chip_s[worker] += fr_seconds() - t1;
    if (st)
        j->status = st;
}

/* The first unreadable path's message (fr_paths_collect's callback). */
static void path_error(void *ctx, const char *message)
{
    char *first = ctx;
    if (!*first)
        snprintf(first, 4200, "%s", message);
}

int main(int argc, char **argv)
{
    const char *data = getenv("FACEREC_DATA");
    char dir[4096], weights[4096];
    snprintf(dir, sizeof dir, "%s/lfw_devtrain/images", data ? data : "../shared/data");
    int count = 200, threads = 0, group = 4, repeat = 3, use68 = 1, size = 0;
    fr_detector_kind kind = FR_DETECTOR_AUTO; /* dlib's: tiny+mtcnn 192 (landmarks68) */
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},    {"count", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"group", required_argument, NULL, 'g'},
        {"repeat", required_argument, NULL, 'r'}, {"align", required_argument, NULL, 'a'},
        {"detector", required_argument, NULL, 'k'}, {"size", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'd': snprintf(dir, sizeof dir, "%s", optarg); break;
        case 'n': count = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'g': group = atoi(optarg); break;
        case 'r': repeat = atoi(optarg); break;
        case 'a':
            if (strcmp(optarg, "landmarks68") && strcmp(optarg, "mtcnn")) {
                fprintf(stderr, "bench_detect: --align landmarks68 or mtcnn\n");
                return 2;
            }
            use68 = strcmp(optarg, "landmarks68") == 0;
            break;
        case 'k':
            if (fr_detector_kind_parse(optarg, &kind)) {
                fprintf(stderr, "bench_detect: %s\n", fr_error_message());
                return 2;
            }
            break;
        case 's': size = atoi(optarg); break;
        default: return 2;
        }
    }
    if (count < 1 || group < 1 || group > 64 || repeat < 1) {
        fprintf(stderr, "bench_detect: bad --count, --group (1..64) or --repeat\n");
        return 2;
    }
    fr_path_list list = {0};
    char *args[1] = {dir};
    char unreadable[4200] = "";
    fr_status st = fr_paths_collect(args, 1, &list, path_error, unreadable);
    if (!st && list.count == 0) {
        /* no figures for no images (they were NaN) */
        if (*unreadable)
            fprintf(stderr, "bench_detect: %s (set FACEREC_DATA or pass --dir)\n", unreadable);
        else
            fprintf(stderr, "bench_detect: no images in %s (set FACEREC_DATA or pass --dir)\n",
                    dir);
        return 1;
    }
    if (!st && list.count < (size_t)count)
        count = (int)list.count;
    fr_image *images = calloc((size_t)count, sizeof *images);
    for (int i = 0; i < count && !st; i++)
        st = fr_image_load(list.paths[i], NULL, &images[i]);
    /* the chips the dlib model takes, and the detector auto is for them */
    fr_chip_spec spec;
    fr_model *landmark_net = NULL;
    if (!st)
        st = fr_chip_spec_for(fr_arch_find("dlib"), use68 ? FR_ALIGN_LANDMARKS68 : FR_ALIGN_MTCNN,
                              &spec);
    if (!st) {
        fr_chip_spec_detector(&spec, kind, size, &kind, &size);
        st = fr_chip_spec_check_detector(&spec, kind);
    }
    if (!st)
        st = fr_chip_load_landmarks(&spec, NULL, &landmark_net);
    fr_mtcnn *mtcnn = NULL;
    fr_model *tiny = NULL;
    if (!st && kind != FR_DETECTOR_TINY)
        st = fr_model_default_path("mtcnn", weights, sizeof weights);
    if (!st && kind != FR_DETECTOR_TINY)
        st = fr_mtcnn_load(weights, &mtcnn);
    if (!st && kind != FR_DETECTOR_MTCNN)
        st = fr_tiny_load(NULL, size, &tiny);
    fr_pool *pool = NULL;
    if (!st)
        st = fr_pool_new(threads, &pool);
    if (st) {
        fprintf(stderr, "bench_detect: %s\n", fr_error_message());
        return 1;
    }
    threads = fr_pool_threads(pool);
    job j = {images, count, group, calloc((size_t)threads, sizeof(fr_detector *)),
             calloc((size_t)threads, sizeof(fr_chipper *)),
             malloc((size_t)threads * 64 * 150 * 150 * 3), calloc((size_t)count, sizeof(int)),
             calloc((size_t)threads, sizeof(double)), calloc((size_t)threads, sizeof(double)),
             FR_OK};
    fr_detect_options opt;
    memset(&opt, 0, sizeof opt);
    opt.runner.device = FR_DEVICE_CPU;
    opt.runner.threads = 1;
    opt.runner.max_batch = group;
    opt.tiny = tiny;
    for (int i = 0; i < threads && !st; i++) {
        st = fr_detector_new(mtcnn, &opt, &j.detectors[i]);
        if (!st)
            st = fr_chipper_new(&spec, landmark_net, &opt.runner, fr_detector_exec(j.detectors[i]),
                                &j.chippers[i]);
    }
    double best = 0, best_detect = 0, best_chip = 0, best_cpu = 0;
    for (int r = 0; r < repeat + 1 && !st; r++) { /* the first pass plans the P-Net sizes */
        for (int i = 0; i < threads; i++)
            j.detect_s[i] = j.chip_s[i] = 0;
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        double t0 = fr_seconds();
        fr_pool_run(pool, (count + group - 1) / group, task, &j);
        double t = fr_seconds() - t0;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
        st = j.status;
        if (r > 0 && (best == 0 || t < best)) {
            best = t;
            best_cpu = cpu;
            best_detect = best_chip = 0;
            for (int i = 0; i < threads; i++) {
                best_detect += j.detect_s[i];
                best_chip += j.chip_s[i];
            }
        }
    }
    if (st) {
        fprintf(stderr, "bench_detect: %s\n", fr_error_message());
        return 1;
    }
    long faces = 0, faceless = 0;
    for (int i = 0; i < count; i++) {
        faces += j.faces[i];
        faceless += j.faces[i] == 0;
    }
    printf("{\"images\": %d, \"threads\": %d, \"group\": %d, \"detector\": \"%s\", "
           "\"size\": %d, \"align\": \"%s\", \"seconds\": %.4f, \"images_per_s\": %.2f, "
           "\"cpu_ms_per_image\": %.3f, \"detect_ms_per_image\": %.3f, "
           "\"chip_ms_per_image\": %.3f, \"faces\": %ld, \"without_face\": %ld}\n",
           count, threads, group, fr_detector_kind_name(kind),
           tiny ? fr_model_get_info(tiny)->input_size : 0, use68 ? "landmarks68" : "mtcnn", best,
           count / best, 1e3 * best_cpu / count, 1e3 * best_detect / count,
           1e3 * best_chip / count, faces, faceless);
    for (int i = 0; i < threads; i++) {
        fr_chipper_free(j.chippers[i]);
        fr_detector_free(j.detectors[i]);
    }
    free(j.detectors);
    free(j.chippers);
    fr_model_free(landmark_net);
    free(j.chips);
    free(j.faces);
    free(j.detect_s);
    free(j.chip_s);
    fr_model_free(tiny);
    for (int i = 0; i < count; i++)
        fr_image_free(&images[i]);
    free(images);
    fr_pool_free(pool);
    fr_mtcnn_free(mtcnn);
    fr_paths_free(&list);
    return 0;
}
