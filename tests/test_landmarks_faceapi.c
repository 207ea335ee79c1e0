/*
 * test_landmarks_faceapi.c: the 68-point landmark network and its crop against the running
 * peer, face-api's own FaceLandmark68Net (tests/ref/faceapi/landmarks.mjs, TensorFlow.js),
 * on real LFW faces from shared/data.
 *
 *   network   the 112x112 uint8 inputs facerec prepares, given to face-api as they are (it
 *             then neither pads nor resizes): the 68 points in pixels of the crop must agree
 *             within 0.01 px (fp32 against fp32, different summation orders)
 *   inputs    the decoded image and a box, face-api clipping, cutting, padding and resizing
 *             (extractFaceTensors + toBatchTensor(112)): our uint8 input must be its float
 *             input rounded (within 0.51 levels: the wasm backend's float32 resize
 *             lands up to ~2e-3 levels from the double arithmetic fr_resize_faceapi
 *             transcribes from tfjs-backend-cpu), for every box below
 *   pipeline  the decoded image and a box, face-api doing all of it and mapping the points
 *             back (detectLandmarks + shiftBy): the largest distance between a point of ours
 *             and face-api's, in image pixels, must be under 0.5 px. The one difference left
 *             is that rounding of the input, so this holds for faces the crop shows whole:
 *             the detector's boxes, boxes 10% past an image edge, non-square boxes with
 *             fractional corners (odd padding). Faces 35% past an edge (an eye cut off)
 *             make the network itself less stable: the rounding alone moves points by up to
 *             0.83 px there (measured), so those are bounded by their inputs only.
 * The images are LFW's, moved by whole pixels where a variant puts the face at an edge.
 * Also: one call for all faces gives what a call per face gives. Skipped (77) without node
 * or weights.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/npy.h"
#include "detect/detect.h"
#include "detect/landmarks.h"
#include "engine/paths.h"
#include "model/model_internal.h"
#include "testutil.h"

#define IMAGES 40     /* detected LFW images */
#define VARIANTS 6    /* per image: the box itself and five altered ones */
#define WHOLE 4       /* the first WHOLE variants show the face whole */
#define SIDE 250      /* LFW's images */

/* landmarks.mjs: boxes NULL for --net-only; mode "" or "--inputs-only" */
static int run_faceapi(const char *input, const char *boxes, const char *mode, const char *output)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "node '%s/tests/ref/faceapi/landmarks.mjs' --model-dir "
             "'%s/cache/face-api/package/model' --input '%s' %s%s%s %s --output '%s' --quiet",
             fr_test_env("FACEREC_SOURCE_DIR"), fr_test_env("FACEREC_WEIGHTS"), input,
             boxes ? "--boxes '" : "--net-only", boxes ? boxes : "", boxes ? "'" : "", mode,
             output);
    return fr_test_system(cmd);
}

/* Variant v of a detected face: the image moved (whole pixels, black where it had none)
 * and the box with it, so that the face pokes out of an edge (v 1, 2: 10% of the box; 4, 5:
 * 35%), or the box made non-square with fractional corners (v 3). */
static fr_face variant(const fr_image *im, const fr_face *face, int v, uint8_t *pixels)
{
    fr_face f = *face;
    float w = face->box[2] - face->box[0], h = face->box[3] - face->box[1];
    float out = v == 1 || v == 2 ? 0.1f : 0.35f;
    int dx = 0, dy = 0; /* image' (x, y) = image (x + dx, y + dy) */
    if (v == 1 || v == 4) { /* past the left and top edges */
        dx = (int)lrintf(face->box[0] + out * w);
        dy = (int)lrintf(face->box[1] + out * h);
    } else if (v == 2 || v == 5) { /* past the right and bottom edges */
        dx = (int)lrintf(face->box[2] - out * w - SIDE);
        dy = (int)lrintf(face->box[3] - out * h - SIDE);
    } else if (v == 3) { /* wider than high by an odd number of pixels, fractional corners */
        f.box[0] -= 7.3f;
        f.box[2] += 6.45f;
        f.box[1] += 3.6f;
        f.box[3] -= 2.2f;
    }
    for (int k = 0; k < 4; k++)
        f.box[k] -= (float)(k % 2 ? dy : dx);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int sx = x + dx, sy = y + dy;
            uint8_t *q = pixels + ((size_t)y * SIDE + (size_t)x) * 3;
            if (sx < 0 || sy < 0 || sx >= im->width || sy >= im->height)
                q[0] = q[1] = q[2] = 0;
            else
                memcpy(q, im->pixels + ((size_t)sy * im->width + (size_t)sx) * 3, 3);
        }
    return f;
}

int main(void)
{
    const char *data = fr_test_env("FACEREC_DATA");
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/landmark68.frw", weights);
    fr_model *net = NULL;
    if (access(path, F_OK) != 0)
        fr_test_skip("no weights/landmark68.frw (run weights/fetch.sh)");
    fr_status st = fr_landmark68_load(path, &net);
    CHECK_OK(st);
    if (fr_test_system("node --version > /dev/null") != 0)
        fr_test_skip("node is not installed");
    fr_mtcnn *mtcnn = NULL;
    char mtcnn_path[4096];
    CHECK_OK(fr_model_default_path("mtcnn", mtcnn_path, sizeof mtcnn_path));
    CHECK_OK(fr_mtcnn_load(mtcnn_path, &mtcnn));
    if (fr_test_failures)
        return fr_test_finish("test_landmarks_faceapi");

    /* IMAGES LFW images spread over the sorted walk, each with the detector's best face */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/lfw_devtrain/images", data);
    char *args[1] = {dir};
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, 1, &list, NULL, NULL));
    CHECK(list.count >= 1000);
    fr_detector *detector = NULL;
    CHECK_OK(fr_detector_new(mtcnn, NULL, &detector));
    if (fr_test_failures)
        return fr_test_finish("test_landmarks_faceapi");
    size_t n = (size_t)IMAGES * VARIANTS, frame = (size_t)SIDE * SIDE * 3;
    fr_image *images = calloc(IMAGES, sizeof *images);
    fr_face *faces = calloc(n, sizeof *faces);
    uint8_t *pixels = malloc(n * frame);
    float *boxes = malloc(n * 4 * sizeof *boxes);
    fr_image *shown = calloc(n, sizeof *shown); /* the variants' images (pixels' slices) */
    int got = 0;
    for (size_t i = 0; got < IMAGES && i < list.count; i += list.count / (3 * IMAGES)) {
        fr_image *im = &images[got];
        CHECK_OK(fr_image_load(list.paths[i], NULL, im));
        fr_faces found;
        if (im->width != SIDE || im->height != SIDE ||
            fr_detector_run(detector, im, 1, &found) || found.count == 0) {
            fr_image_free(im);
            continue;
        }
        for (int v = 0; v < VARIANTS; v++) {
            size_t k = (size_t)got * VARIANTS + (size_t)v;
            faces[k] = variant(im, &found.faces[0], v, pixels + k * frame);
            memcpy(boxes + 4 * k, faces[k].box, sizeof faces[k].box);
            shown[k] = (fr_image){SIDE, SIDE, pixels + k * frame};
        }
        got++;
    }
    CHECK(got == IMAGES);

    /* ours: the whole set in batches, the network inputs kept for the network check */
    const fr_image **image_of = malloc(n * sizeof *image_of);
    const fr_face **face_of = malloc(n * sizeof *face_of);
    for (size_t k = 0; k < n; k++) {
        image_of[k] = &shown[k];
        face_of[k] = &faces[k];
    }
    fr_runner_options ro = {FR_DEVICE_CPU, FR_PRECISION_DEFAULT, 16, 0};
    fr_landmarker *lm = NULL;
    CHECK_OK(fr_landmarker_new(net, &ro, NULL, &lm));
    fr_landmarks68 *ours = calloc(n, sizeof *ours), one;
    CHECK_OK(fr_landmarker_run(lm, image_of, face_of, (int)got * VARIANTS, ours));
    double batch_diff = 0;
    for (size_t k = 0; k < 6 && !fr_test_failures; k++) {
        CHECK_OK(fr_landmarker_run(lm, &image_of[k], &face_of[k], 1, &one));
        for (int p = 0; p < FR_LANDMARK68_COUNT; p++)
            batch_diff = fmax(batch_diff, hypot(one.points[p][0] - ours[k].points[p][0],
                                                one.points[p][1] - ours[k].points[p][1]));
    }
    printf("all faces in one call vs one at a time: max %.2g px\n", batch_diff);
    CHECK(batch_diff < 1e-3);

    size_t crop = (size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3;
    uint8_t *inputs = malloc(n * crop);
    float *outputs = malloc(n * FR_LANDMARK68_OUTPUTS * sizeof *outputs);
    fr_runner *runner = NULL;
    CHECK_OK(fr_runner_new(net, &ro, &runner));
    for (size_t k = 0; k < n && !fr_test_failures; k++) {
        fr_landmark_frame f;
        CHECK_OK(fr_landmark68_input(image_of[k], face_of[k], inputs + k * crop, &f));
        CHECK_OK(fr_runner_run(runner, inputs + k * crop, 1,
                               outputs + k * FR_LANDMARK68_OUTPUTS));
    }

    char in_npy[4200], box_npy[4200], ref_npy[4200];
    snprintf(in_npy, sizeof in_npy, "%s/inputs.npy", fr_test_tmpdir());
    snprintf(box_npy, sizeof box_npy, "%s/boxes.npy", fr_test_tmpdir());
    snprintf(ref_npy, sizeof ref_npy, "%s/faceapi.npy", fr_test_tmpdir());

    /* the network on the same 112x112 inputs */
    size_t crop_shape[4] = {n, FR_LANDMARK68_SIZE, FR_LANDMARK68_SIZE, 3};
    fr_npy ref = {0};
    if (!fr_test_failures) {
        CHECK_OK(fr_npy_save(in_npy, FR_NPY_U8, 4, crop_shape, inputs));
        CHECK(run_faceapi(in_npy, NULL, "", ref_npy) == 0);
        CHECK_OK(fr_npy_load(ref_npy, &ref));
        CHECK(ref.ndim == 3 && ref.shape[0] == n && ref.shape[1] == 68 && ref.shape[2] == 2);
    }
    if (!fr_test_failures) {
        double worst = 0;
        const float *r = ref.data;
        for (size_t i = 0; i < n * FR_LANDMARK68_OUTPUTS; i++)
            worst = fmax(worst, fabs((double)outputs[i] * FR_LANDMARK68_SIZE - r[i]));
        printf("network, same 112x112 inputs: %zu faces, max |facerec - face-api| %.2g px\n", n,
               worst);
        CHECK(worst <= 0.01);
    }
    fr_npy_free(&ref);

    static const char *what[VARIANTS] = {
        "detector's boxes",        "10% past left/top", "10% past right/bottom",
        "non-square, fractional", "35% past left/top", "35% past right/bottom"};

    /* the network inputs face-api makes from the image and the box */
    size_t image_shape[4] = {n, SIDE, SIDE, 3}, box_shape[2] = {n, 4};
    if (!fr_test_failures) {
        CHECK_OK(fr_npy_save(in_npy, FR_NPY_U8, 4, image_shape, pixels));
        CHECK_OK(fr_npy_save(box_npy, FR_NPY_F32, 2, box_shape, boxes));
        CHECK(run_faceapi(in_npy, box_npy, "--inputs-only", ref_npy) == 0);
        CHECK_OK(fr_npy_load(ref_npy, &ref));
        CHECK(ref.ndim == 4 && ref.shape[0] == n && ref.shape[1] == FR_LANDMARK68_SIZE);
    }
    if (!fr_test_failures) {
        const float *r = ref.data;
        for (int v = 0; v < VARIANTS; v++) {
            double worst = 0;
            for (size_t i = 0; i < (size_t)got; i++) {
                size_t k = i * VARIANTS + (size_t)v;
                for (size_t e = 0; e < crop; e++)
                    worst = fmax(worst, fabs(inputs[k * crop + e] - (double)r[k * crop + e]));
            }
            printf("inputs, %-24s %d faces: max |facerec - face-api| %.4f levels\n", what[v],
                   got, worst);
            CHECK(worst <= 0.51);
        }
    }
    fr_npy_free(&ref);

    /* the whole path from the image and the box */
    if (!fr_test_failures) {
        CHECK(run_faceapi(in_npy, box_npy, "", ref_npy) == 0);
        CHECK_OK(fr_npy_load(ref_npy, &ref));
        CHECK(ref.ndim == 3 && ref.shape[0] == n && ref.shape[1] == 68 && ref.shape[2] == 2);
    }
    if (!fr_test_failures) {
        const float *r = ref.data;
        for (int v = 0; v < VARIANTS; v++) {
            double worst = 0, sum = 0;
            for (size_t i = 0; i < (size_t)got; i++) {
                size_t k = i * VARIANTS + (size_t)v;
                for (int p = 0; p < FR_LANDMARK68_COUNT; p++) {
                    const float *q = r + (k * 68 + (size_t)p) * 2;
                    double d = hypot(ours[k].points[p][0] - q[0], ours[k].points[p][1] - q[1]);
                    worst = fmax(worst, d);
                    sum += d;
                }
            }
            printf("image + box, %-24s %d faces: |point facerec - face-api| max %.3f px, mean "
                   "%.4f px%s\n", what[v], got, worst, sum / (got * 68.0),
                   v < WHOLE ? "" : " (not bounded: the face is cut)");
            if (v < WHOLE)
                CHECK(worst < 0.5);
        }
    }
    fr_npy_free(&ref);

    free(inputs);
    free(outputs);
    fr_runner_free(runner);
    fr_landmarker_free(lm);
    free(ours);
    free(image_of);
    free(face_of);
    for (int i = 0; i < IMAGES; i++)
        fr_image_free(&images[i]);
    free(images);
    free(shown);
    free(faces);
    free(pixels);
    free(boxes);
    fr_detector_free(detector);
    fr_mtcnn_free(mtcnn);
    fr_model_free(net);
    fr_paths_free(&list);
    return fr_test_finish("test_landmarks_faceapi");
}
