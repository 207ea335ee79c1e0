/*
 * test_dlib_faceapi.c: the dlib model against the running peer, face-api's own JavaScript
 * FaceRecognitionNet (tests/ref/faceapi, TensorFlow.js), on real images from shared/data.
 *
 * Same pixels in: the 150x150 uint8 inputs facerec prepares are written to a .npy and given
 * to face-api, which then does no resizing of its own; the descriptors (raw, as face-api
 * returns them) must agree within an L2 distance of 1e-3 (the bound; fp32 against
 * fp32 with different summation orders lands near 1e-6). A second comparison feeds face-api
 * the decoded images at their own size (96x96 office images), so that its padding and
 * bilinear resize run too: there facerec rounds the resized pixels to integers and face-api
 * does not, which this test measures and bounds at 0.02. The CPU's default path (oneDNN's
 * primitives) is also checked against its reference path (im2col + sgemm), against the
 * primitives with every convolution direct (FACEREC_CPU_WINOGRAD=0; by default dlib's 3x3
 * convolutions run on Winograd where oneDNN has it) and against bf16.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "cpu/cpu_primitives.h"
#include "engine/paths.h"
#include "testutil.h"

#define MAX_IMAGES 128

static int run_faceapi(const char *input, const char *output)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "node '%s/tests/ref/faceapi/descriptors.mjs' --model-dir '%s/cache/face-api/package/model' "
             "--input '%s' --output '%s' --backend wasm --quiet",
             fr_test_env("FACEREC_SOURCE_DIR"), fr_test_env("FACEREC_WEIGHTS"), input, output);
    return fr_test_system(cmd);
}

int main(void)
{
    const char *data = fr_test_env("FACEREC_DATA");
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/dlib.frw", weights);
    fr_model *model;
    CHECK_OK(fr_model_load(path, &model));
    if (fr_test_failures)
        return fr_test_finish("test_dlib_faceapi");
    snprintf(path, sizeof path, "%s/cache/face-api/package/model", weights);
    char node_modules[4096];
    snprintf(node_modules, sizeof node_modules, "%s/tests/ref/faceapi/node_modules",
             fr_test_env("FACEREC_SOURCE_DIR"));
    if (fr_test_system("node --version > /dev/null") != 0)
        fr_test_skip("node is not installed");

    /* every dlib chip (150x150: no resizing), the office database and camera (96x96), and
     * LFW images (250x250) */
    char dirs[3][4096];
    snprintf(dirs[0], sizeof dirs[0], "%s/dlib_johns", data);
    snprintf(dirs[1], sizeof dirs[1], "%s/happyhouse", data);
    snprintf(dirs[2], sizeof dirs[2], "%s/lfw_devtrain/images/Aaron_Peirsol", data);
    char *args[3] = {dirs[0], dirs[1], dirs[2]};
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, 3, &list, NULL, NULL));
    CHECK(list.count > 70 && list.count <= MAX_IMAGES);
    if (list.count > MAX_IMAGES)
        list.count = MAX_IMAGES;
    size_t n = list.count, s = 150, image_bytes = s * s * 3;
    uint8_t *inputs = malloc(n * image_bytes);
    float *ours = malloc(n * 128 * sizeof(float)), *single = malloc(128 * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        fr_image image;
        CHECK_OK(fr_image_load(list.paths[i], NULL, &image));
        CHECK_OK(fr_model_prepare_image(model, &image, inputs + i * image_bytes));
        fr_image_free(&image);
    }

    /* one batch of everything, and the first images one at a time: the batch must not matter */
    fr_runner_options ro = {FR_DEVICE_CPU, FR_PRECISION_DEFAULT, (int)n, 0};
    fr_runner *runner;
    CHECK_OK(fr_runner_new(model, &ro, &runner));
    CHECK_OK(fr_runner_run(runner, inputs, (int)n, ours));
    double batch_diff = 0;
    for (size_t i = 0; i < 5; i++) {
        CHECK_OK(fr_runner_run(runner, inputs + i * image_bytes, 1, single));
        double d = fr_test_l2(single, ours + i * 128, 128);
        batch_diff = d > batch_diff ? d : batch_diff;
    }
    printf("batch of %zu vs one at a time: max L2 %.3g\n", n, batch_diff);
    CHECK(batch_diff < 1e-5);

    /* the default path is oneDNN's primitives; the reference path (im2col + sgemm) must agree
     * as closely as two fp32 summation orders do, and bf16 (where the CPU has it) within 0.02,
     * a thirtieth of the model's 0.6 threshold */
    const char *path_used = fr_runner_describe(runner);
    printf("CPU path: %s\n", path_used);
    CHECK(strncmp(path_used, "oneDNN", 6) == 0);
    float *other = malloc(n * 128 * sizeof(float));
    setenv("FACEREC_CPU_CONV", "im2col", 1);
    fr_runner *reference;
    CHECK_OK(fr_runner_new(model, &ro, &reference));
    unsetenv("FACEREC_CPU_CONV");
    if (!fr_test_failures) {
        CHECK_OK(fr_runner_run(reference, inputs, (int)n, other));
        fr_runner_free(reference);
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fr_test_l2(ours + i * 128, other + i * 128, 128));
        printf("oneDNN primitives vs im2col + sgemm: max L2 %.3g\n", worst);
        CHECK(worst < 1e-5);
    }
    /* the default (Winograd where oneDNN has it) against every convolution direct
     * (FACEREC_CPU_WINOGRAD=0): Winograd's transforms round differently, within the bound
     * above too */
    setenv("FACEREC_CPU_WINOGRAD", "0", 1);
    fr_runner *direct;
    CHECK_OK(fr_runner_new(model, &ro, &direct));
    unsetenv("FACEREC_CPU_WINOGRAD");
    if (!fr_test_failures) {
        const char *direct_path = fr_runner_describe(direct);
        CHECK(!strstr(direct_path, "wino"));
        CHECK((strstr(path_used, "wino") != NULL) == (fr_cpu_has_winograd() != 0));
        if (!fr_cpu_has_winograd())
            printf("Winograd: not planned on this CPU (%s)\n", path_used);
        CHECK_OK(fr_runner_run(direct, inputs, (int)n, other));
        fr_runner_free(direct);
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fr_test_l2(ours + i * 128, other + i * 128, 128));
        printf("the default, Winograd, vs direct (FACEREC_CPU_WINOGRAD=0): max L2 %.3g\n",
               worst);
        CHECK(worst < 1e-5);
    }
    if (fr_cpu_has_bf16()) {
        fr_runner_options bf = ro;
        bf.precision = FR_PRECISION_BF16;
        fr_runner *half;
        CHECK_OK(fr_runner_new(model, &bf, &half));
        if (!fr_test_failures) {
            CHECK_OK(fr_runner_run(half, inputs, (int)n, other));
            fr_runner_free(half);
            double worst = 0, mean = 0;
            for (size_t i = 0; i < n; i++) {
                double d = fr_test_l2(ours + i * 128, other + i * 128, 128);
                worst = fmax(worst, d);
                mean += d / (double)n;
            }
            printf("bf16 vs fp32: max L2 %.3g, mean %.3g\n", worst, mean);
            CHECK(worst < 0.02);
        }
    } else {
        printf("bf16: SKIPPED (this CPU has no AVX512-BF16 or AMX)\n");
    }
    free(other);

    char in_npy[4200], ref_npy[4200];
    snprintf(in_npy, sizeof in_npy, "%s/inputs.npy", fr_test_tmpdir());
    snprintf(ref_npy, sizeof ref_npy, "%s/faceapi.npy", fr_test_tmpdir());
    size_t shape[4] = {n, s, s, 3};
    CHECK_OK(fr_npy_save(in_npy, FR_NPY_U8, 4, shape, inputs));
    CHECK(run_faceapi(in_npy, ref_npy) == 0);
    fr_npy ref = {0};
    CHECK_OK(fr_npy_load(ref_npy, &ref));
    CHECK(ref.ndim == 2 && ref.shape[0] == n && ref.shape[1] == 128);
    if (!fr_test_failures) {
        double worst = 0, norm = 0;
        const float *r = ref.data;
        for (size_t i = 0; i < n; i++) {
            double d = fr_test_l2(ours + i * 128, r + i * 128, 128);
            if (d > worst)
                worst = d;
            norm += fr_test_l2(r + i * 128, (float[128]){0}, 128) / (double)n;
        }
        printf("same pixels in: %zu images, max L2(facerec - face-api) = %.3g (descriptor norm "
               "%.3f)\n", n, worst, norm);
        CHECK(worst <= 1e-3);
    }
    fr_npy_free(&ref);

    /* the office images at their own 96x96 size: face-api pads/resizes itself */
    size_t office = 0;
    for (size_t i = 0; i < n; i++)
        if (strstr(list.paths[i], "happyhouse") && !strstr(list.paths[i], ".png"))
            office++;
    uint8_t *raw = malloc(office * 96 * 96 * 3);
    size_t *which = malloc(office * sizeof *which);
    size_t k = 0;
    for (size_t i = 0; i < n && k < office; i++) {
        if (!strstr(list.paths[i], "happyhouse") || strstr(list.paths[i], ".png"))
            continue;
        fr_image image;
        CHECK_OK(fr_image_load(list.paths[i], NULL, &image));
        CHECK(image.width == 96 && image.height == 96);
        if (image.width == 96 && image.height == 96)
            memcpy(raw + k * 96 * 96 * 3, image.pixels, 96 * 96 * 3);
        which[k++] = i;
        fr_image_free(&image);
    }
    size_t raw_shape[4] = {office, 96, 96, 3};
    CHECK_OK(fr_npy_save(in_npy, FR_NPY_U8, 4, raw_shape, raw));
    CHECK(run_faceapi(in_npy, ref_npy) == 0);
    CHECK_OK(fr_npy_load(ref_npy, &ref));
    if (!fr_test_failures) {
        double worst = 0;
        for (size_t j = 0; j < office; j++) {
            double d = fr_test_l2(ours + which[j] * 128, (const float *)ref.data + j * 128, 128);
            worst = d > worst ? d : worst;
        }
        printf("face-api's own resize, %zu office images: max L2(facerec - face-api) = %.3g\n",
               office, worst);
        CHECK(worst <= 0.02);
    }
    fr_npy_free(&ref);
    free(raw);
    free(which);
    free(inputs);
    free(ours);
    free(single);
    fr_runner_free(runner);
    fr_model_free(model);
    fr_paths_free(&list);
    return fr_test_finish("test_dlib_faceapi");
}
