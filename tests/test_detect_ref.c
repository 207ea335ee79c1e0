/*
 * test_detect_ref.c: facerec's MTCNN against a float64 re-implementation of facenet's
 * detect_face() (tests/ref/mtcnn/mtcnn_ref.py: numpy networks, OpenCV's INTER_AREA), both fed
 * the same decoded pixels, the reference reading the original .npy tensors of
 * shared/data/mtcnn (so the converter is under test too).
 *
 * Images: LFW (250x250, one face, sometimes a second in the background), the office
 * database and door camera (96x96 crops), two LFW images side by side (three faces), a noise
 * image and a flat one (no face).
 *
 * On the same input (the reference run with --crops uint8: the second and third stages see
 * the 8-bit crops facerec's networks take), every reference face must have a facerec face
 * with box IoU >= 0.95 and all five landmarks within 1 px, with the same number of faces per
 * image. Against detect_face's own float crops, the half-level rounding can flip which of
 * two near-certain candidates survives the last NMS (a few pixels apart): that comparison is
 * printed and held to IoU >= 0.85 and 5 px. The detector runs the whole set as one batch
 * and each image alone: within 1e-3 px (the GEMM's summation order depends on the batch).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/npy.h"
#include "detect/detect.h"
#include "engine/paths.h"
#include "testutil.h"

#define MAX_IMAGES 96

static double iou(const float *a, const double *b)
{
    double w = fmin(a[2], b[2]) - fmax(a[0], b[0]), h = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (w <= 0 || h <= 0)
        return 0;
    double inter = w * h;
    double area_a = ((double)a[2] - a[0]) * ((double)a[3] - a[1]);
    double area_b = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (area_a + area_b - inter);
}

static fr_status side_by_side(const fr_image *a, const fr_image *b, fr_image *out)
{
    out->width = a->width + b->width;
    out->height = a->height > b->height ? a->height : b->height;
    out->pixels = calloc((size_t)out->width * out->height, 3);
    if (!out->pixels)
        return FR_E_NOMEM;
    for (int y = 0; y < a->height; y++)
        memcpy(out->pixels + (size_t)y * out->width * 3, a->pixels + (size_t)y * a->width * 3,
               (size_t)a->width * 3);
    for (int y = 0; y < b->height; y++)
        memcpy(out->pixels + ((size_t)y * out->width + a->width) * 3,
               b->pixels + (size_t)y * b->width * 3, (size_t)b->width * 3);
    return FR_OK;
}

typedef struct comparison {
    int faces, unmatched, count_mismatch;
    double worst_iou, worst_landmark, worst_score;
} comparison;

/* Matches every reference face to the facerec face of its image with the highest IoU. */
static comparison compare(const cJSON *ref_images, const fr_face *kept, const int *kept_count,
                          int n, const fr_path_list *list, size_t files, const char *what)
{
    comparison c = {0, 0, 0, 1.0, 0.0, 0.0};
    for (int i = 0; i < n; i++) {
        const cJSON *entry = cJSON_GetArrayItem(ref_images, i);
        const cJSON *boxes = cJSON_GetObjectItemCaseSensitive(entry, "boxes");
        const cJSON *points = cJSON_GetObjectItemCaseSensitive(entry, "points");
        int ref_count = cJSON_GetArraySize(boxes);
        if (ref_count != kept_count[i]) {
            c.count_mismatch++;
            printf("%s: image %d (%s): reference %d faces, facerec %d\n", what, i,
                   i < (int)files ? list->paths[i] : "synthetic", ref_count, kept_count[i]);
        }
        for (int r = 0; r < ref_count; r++) {
            double b[5], p[5][2];
            for (int k = 0; k < 5; k++)
                b[k] = cJSON_GetArrayItem(cJSON_GetArrayItem(boxes, r), k)->valuedouble;
            for (int k = 0; k < 5; k++)
                for (int d = 0; d < 2; d++)
                    p[k][d] = cJSON_GetArrayItem(
                        cJSON_GetArrayItem(cJSON_GetArrayItem(points, r), k), d)->valuedouble;
            int best = -1;
            double best_iou = 0;
            for (int f = 0; f < kept_count[i]; f++) {
                double v = iou(kept[(size_t)i * 64 + (size_t)f].box, b);
                if (v > best_iou) {
                    best_iou = v;
                    best = f;
                }
            }
            c.faces++;
            if (best < 0) {
                c.unmatched++;
                continue;
            }
            const fr_face *face = &kept[(size_t)i * 64 + (size_t)best];
            double lm = 0;
            for (int k = 0; k < 5; k++)
                lm = fmax(lm, hypot(face->landmarks[k][0] - p[k][0], face->landmarks[k][1] - p[k][1]));
            if (best_iou < 0.95 || lm > 1.0)
                printf("%s: image %d (%s) face %d: IoU %.4f, landmarks off by %.3f px\n", what, i,
                       i < (int)files ? list->paths[i] : "synthetic", r, best_iou, lm);
            c.worst_iou = fmin(c.worst_iou, best_iou);
            c.worst_landmark = fmax(c.worst_landmark, lm);
            c.worst_score = fmax(c.worst_score, fabs(face->score - b[4]));
        }
    }
    printf("against the reference with %s: %d images, %d faces: worst IoU %.4f, worst landmark "
           "%.3f px, worst score difference %.2g; %d unmatched, %d images with another count\n",
           what, n, c.faces, c.worst_iou, c.worst_landmark, c.worst_score, c.unmatched,
           c.count_mismatch);
    return c;
}

int main(void)
{
    const char *data = fr_test_env("FACEREC_DATA");
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    const char *source = fr_test_env("FACEREC_SOURCE_DIR");
    const char *python = fr_test_env("FACEREC_PYTHON");
    char path[4096];
    snprintf(path, sizeof path, "%s/mtcnn.frw", weights);
    fr_mtcnn *mtcnn;
    CHECK_OK(fr_mtcnn_load(path, &mtcnn));
    if (fr_test_failures)
        return fr_test_finish("test_detect_ref");

    static const char *people[] = {"AJ_Cook", "Boris_Becker", "Dexter_Jackson", "Guillermo_Canas",
                                   "Joe_Carnahan", "Li_Ka-shing", "Monica_Seles", "Richard_Virenque",
                                   "Teresa_Worbis"};
    char dirs[11][4096];
    char *args[11];
    int nargs = 0;
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        snprintf(dirs[nargs], sizeof dirs[nargs], "%s/lfw_devtrain/images/%s", data, people[i]);
        args[nargs] = dirs[nargs];
        nargs++;
    }
    snprintf(dirs[nargs], sizeof dirs[nargs], "%s/happyhouse", data);
    args[nargs] = dirs[nargs];
    nargs++;
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, (size_t)nargs, &list, NULL, NULL));
    size_t files = list.count < MAX_IMAGES - 4 ? list.count : MAX_IMAGES - 4;
    CHECK(files >= 40);

    fr_image images[MAX_IMAGES];
    int n = 0;
    for (size_t i = 0; i < files; i++)
        CHECK_OK(fr_image_load(list.paths[i], NULL, &images[n++]));
    /* several faces: the first two LFW images side by side */
    CHECK_OK(side_by_side(&images[0], &images[1], &images[n]));
    int two_faces = n++;
    /* no face: uniform noise, and a flat grey image */
    uint64_t seed = 5;
    int noise = n, flat = n + 1;
    for (int k = 0; k < 2; k++) {
        images[n].width = 320;
        images[n].height = 240;
        images[n].pixels = malloc(320 * 240 * 3);
        for (size_t i = 0; i < 320 * 240 * 3; i++)
            images[n].pixels[i] = k == 0 ? (uint8_t)(fr_test_rand(&seed) >> 56) : 128;
        n++;
    }

    /* the references, on the same pixels */
    char manifest[8192 * 4];
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        char npy[4200];
        snprintf(npy, sizeof npy, "%s/image_%03d.npy", fr_test_tmpdir(), i);
        size_t shape[3] = {(size_t)images[i].height, (size_t)images[i].width, 3};
        CHECK_OK(fr_npy_save(npy, FR_NPY_U8, 3, shape, images[i].pixels));
        used += (size_t)snprintf(manifest + used, sizeof manifest - used, " '%s'", npy);
    }
    cJSON *ref[2] = {NULL, NULL};
    static const char *crops[2] = {"uint8", "float"};
    for (int r = 0; r < 2 && !fr_test_failures; r++) {
        char json[4200], cmd[sizeof manifest + 8192];
        snprintf(json, sizeof json, "%s/reference_%s.json", fr_test_tmpdir(), crops[r]);
        snprintf(cmd, sizeof cmd,
                 "'%s' '%s/tests/ref/mtcnn/mtcnn_ref.py' --weights '%s/mtcnn' --crops %s -o '%s'%s",
                 python, source, data, crops[r], json, manifest);
        int rc = fr_test_system(cmd);
        if (rc == 77)
            fr_test_skip("the reference needs numpy and OpenCV (python3-opencv)");
        CHECK(rc == 0);
        void *text = NULL;
        size_t text_size;
        CHECK_OK(fr_file_read(json, (size_t)64 << 20, &text, &text_size));
        cJSON *root = text ? cJSON_ParseWithLength(text, text_size) : NULL;
        free(text);
        ref[r] = root;
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "images")) == n);
    }
    if (fr_test_failures)
        return fr_test_finish("test_detect_ref");

    /* facerec: one batch of everything, then each image alone */
    fr_detect_options opt = {0};
    opt.runner.device = FR_DEVICE_CPU;
    opt.runner.max_batch = 8;
    fr_detector *det;
    CHECK_OK(fr_detector_new(mtcnn, &opt, &det));
    fr_faces batch[MAX_IMAGES];
    CHECK_OK(fr_detector_run(det, images, n, batch));
    fr_face *kept = malloc(sizeof(fr_face) * 64 * (size_t)n);
    int kept_count[MAX_IMAGES];
    for (int i = 0; i < n; i++) {
        kept_count[i] = batch[i].count < 64 ? batch[i].count : 64;
        memcpy(kept + (size_t)i * 64, batch[i].faces, sizeof(fr_face) * (size_t)kept_count[i]);
    }
    int batch_mismatch = 0;
    double batch_diff = 0;
    for (int i = 0; i < n; i++) {
        fr_faces one;
        CHECK_OK(fr_detector_run(det, &images[i], 1, &one));
        if (one.count != kept_count[i]) {
            batch_mismatch++;
            continue;
        }
        for (int f = 0; f < one.count; f++) {
            const fr_face *a = &one.faces[f], *b = &kept[(size_t)i * 64 + (size_t)f];
            for (int k = 0; k < 4; k++)
                batch_diff = fmax(batch_diff, fabs(a->box[k] - b->box[k]));
            for (int k = 0; k < 5; k++)
                for (int c = 0; c < 2; c++)
                    batch_diff = fmax(batch_diff, fabs(a->landmarks[k][c] - b->landmarks[k][c]));
        }
    }
    printf("batch of %d vs one at a time: %d images with another count, max difference %.3g px\n",
           n, batch_mismatch, batch_diff);
    CHECK(batch_diff <= 1e-3);
    CHECK(batch_mismatch == 0);

    comparison strict = compare(cJSON_GetObjectItemCaseSensitive(ref[0], "images"), kept,
                                kept_count, n, &list, files, "8-bit crops");
    comparison exact = compare(cJSON_GetObjectItemCaseSensitive(ref[1], "images"), kept,
                               kept_count, n, &list, files, "float crops");
    CHECK(strict.faces >= n - 2);
    CHECK(strict.unmatched == 0 && exact.unmatched == 0);
    CHECK(strict.count_mismatch == 0 && exact.count_mismatch == 0);
    CHECK(strict.worst_iou >= 0.95);
    CHECK(strict.worst_landmark <= 1.0);
    CHECK(exact.worst_iou >= 0.85);
    CHECK(exact.worst_landmark <= 5.0);
    /* side by side, the faces of both (Boris Becker's image has a second man behind him) */
    CHECK(kept_count[two_faces] >= 2);
    CHECK(kept_count[two_faces] == kept_count[0] + kept_count[1]);
    CHECK(kept_count[noise] == 0);
    CHECK(kept_count[flat] == 0);

    cJSON_Delete(ref[0]);
    cJSON_Delete(ref[1]);
    free(kept);
    fr_detector_free(det);
    for (int i = 0; i < n; i++)
        fr_image_free(&images[i]);
    fr_paths_free(&list);
    fr_mtcnn_free(mtcnn);
    return fr_test_finish("test_detect_ref");
}
