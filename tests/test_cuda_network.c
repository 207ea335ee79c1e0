/*
 * test_cuda_network.c: the whole networks on the GPU against the CPU backend, in every
 * precision: dlib with its real weights (FACEREC_WEIGHTS/dlib.frw), irv1 with random weights
 * in the real Keras layout (FACEREC_IRV1_FRW, or made here by tests/ref/keras_irv1/make_h5.py
 * and `facerec convert` as test_irv1_keras does), under both of its preprocessings (x/255 and
 * FaceNet's per-image standardization). Inputs: real faces from shared/data and noise.
 *
 * Batches: 37 images through a runner planned for 16, two batches kept in flight with the
 * engine's submit/collect (16, 16, then a partial 5 that runs padded in the 8 bucket), and
 * the same images in one padded batch of a runner planned for 64. Outputs are poisoned before
 * every run.
 *
 * Also face-api's 68-point landmark network (FACEREC_WEIGHTS/landmark68.frw, depthwise
 * convolutions on the backend's own kernel) on the same kind of inputs, pipelined 16/16/5:
 * its 136 outputs in pixels of the 112x112 input must lie within 0.01 px of the CPU's in
 * fp32 and 0.5 px in tf32 and fp16 (25 convolutions, ~2^-11 relative rounding each, on
 * outputs of ~60 px: ~0.1 px expected; 0.5 px is what the face-api check allows the whole
 * CPU pipeline). Skipped where the weights were not fetched.
 *
 * Compared: the L2-normalized embeddings, by L2 distance per image (max over images).
 * Tolerances: fp32 1e-4 (the CPU against float64 measures ~1e-6 on irv1); tf32 and fp16 3e-2,
 * a cosine distance of 4.5e-4: each layer adds ~2^-11 relative rounding (TF32 multiplicands,
 * fp16 activations), over 29 (dlib) to 132 (irv1) convolutions, and 3e-2 is 7 % of the
 * smallest verification threshold (0.42). NaN never passes. Skipped without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "engine/paths.h"
#include "testutil.h"

#define N 37
#define DIM 128

static double embedding_distance(const float *a, const float *b)
{
    double na = 0, nb = 0, d = 0;
    for (int i = 0; i < DIM; i++) {
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    na = sqrt(na);
    nb = sqrt(nb);
    for (int i = 0; i < DIM; i++) {
        double x = a[i] / na - b[i] / nb;
        d += x * x;
    }
    d = sqrt(d);
    return isnan(d) || na == 0 || nb == 0 ? INFINITY : d;
}

static double worst_distance(const float *got, const float *want, int n)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = embedding_distance(got + (size_t)i * DIM, want + (size_t)i * DIM);
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

static void poison(float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        x[i] = NAN;
}

/* 37 images in batches of 16 with two in flight, then all of them in one padded batch. */
static void check_model(fr_model *model, const char *what, const uint8_t *inputs,
                        size_t image_bytes)
{
    float *want = malloc((size_t)N * DIM * sizeof(float));
    float *got = malloc((size_t)N * DIM * sizeof(float));
    fr_runner_options cpu_opt = {FR_DEVICE_CPU, FR_PRECISION_DEFAULT, N, 0};
    fr_runner *cpu;
    CHECK_OK(fr_runner_new(model, &cpu_opt, &cpu));
    if (fr_test_failures) {
        free(want);
        free(got);
        return;
    }
    poison(want, (size_t)N * DIM);
    CHECK_OK(fr_runner_run(cpu, inputs, N, want));
    fr_runner_free(cpu);
    const struct {
        fr_precision precision;
        double tolerance;
    } precisions[] = {{FR_PRECISION_FP32, 1e-4}, {FR_PRECISION_TF32, 3e-2},
                      {FR_PRECISION_FP16, 3e-2}};
    for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++) {
        fr_precision prec = precisions[p].precision;
        /* pipelined: batches of 16, 16 and 5, at most two in flight */
        fr_runner_options opt = {FR_DEVICE_CUDA, prec, 16, 0};
        fr_runner *r;
        fr_status st = fr_runner_new(model, &opt, &r);
        CHECK_OK(st);
        if (st)
            continue;
        CHECK(strcmp(fr_runner_backend(r), "cuda") == 0);
        CHECK(fr_runner_precision(r) == prec);
        printf("%s %s: %s\n", what, fr_precision_name(prec), fr_runner_describe(r));
        poison(got, (size_t)N * DIM);
        int starts[3] = {0, 16, 32}, sizes[3] = {16, 16, N - 32};
        for (int b = 0; b < 3; b++) {
            CHECK_OK(fr_runner_submit(r, inputs + (size_t)starts[b] * image_bytes, sizes[b]));
            if (b >= 1) {
                int n = -1;
                CHECK_OK(fr_runner_collect(r, got + (size_t)starts[b - 1] * DIM, &n));
                CHECK(n == sizes[b - 1]);
            }
        }
        int n = -1;
        CHECK_OK(fr_runner_collect(r, got + (size_t)starts[2] * DIM, &n));
        CHECK(n == sizes[2]);
        double pipelined = worst_distance(got, want, N);
        /* again, synchronously: the captured CUDA graphs replay */
        poison(got, (size_t)N * DIM);
        for (int b = 0; b < 3; b++)
            CHECK_OK(fr_runner_run(r, inputs + (size_t)starts[b] * image_bytes, sizes[b],
                                   got + (size_t)starts[b] * DIM));
        double replayed = worst_distance(got, want, N);
        printf("%s %s: describe after runs: %s\n", what, fr_precision_name(prec),
               fr_runner_describe(r));
        fr_runner_free(r);

        /* one padded batch of 37 in a runner planned for 64 */
        opt.max_batch = 64;
        st = fr_runner_new(model, &opt, &r);
        CHECK_OK(st);
        double single = INFINITY;
        if (!st) {
            poison(got, (size_t)N * DIM);
            CHECK_OK(fr_runner_run(r, inputs, N, got));
            single = worst_distance(got, want, N);
            fr_runner_free(r);
        }
        printf("%s %s: max L2 distance of normalized embeddings to the CPU: pipelined 16s %.2e, "
               "replayed %.2e, one batch of 37 %.2e (tolerance %.0e)\n",
               what, fr_precision_name(prec), pipelined, replayed, single,
               precisions[p].tolerance);
        CHECK(pipelined <= precisions[p].tolerance);
        CHECK(replayed <= precisions[p].tolerance);
        CHECK(single <= precisions[p].tolerance);
    }
    free(want);
    free(got);
}

/* The landmark network: outputs x 112 (pixels of its input) against the CPU's. */
static void check_landmarks(fr_model *model, const uint8_t *inputs)
{
    enum { OUT = 136 };
    float *want = malloc((size_t)N * OUT * sizeof(float));
    float *got = malloc((size_t)N * OUT * sizeof(float));
    fr_runner_options cpu_opt = {FR_DEVICE_CPU, FR_PRECISION_DEFAULT, N, 0};
    fr_runner *cpu;
    CHECK_OK(fr_runner_new(model, &cpu_opt, &cpu));
    if (!fr_test_failures) {
        poison(want, (size_t)N * OUT);
        CHECK_OK(fr_runner_run(cpu, inputs, N, want));
        fr_runner_free(cpu);
    }
    size_t image_bytes = 112 * 112 * 3;
    const struct {
        fr_precision precision;
        double tolerance;
    } precisions[] = {{FR_PRECISION_FP32, 0.01}, {FR_PRECISION_TF32, 0.5},
                      {FR_PRECISION_FP16, 0.5}};
    for (size_t p = 0; p < sizeof precisions / sizeof precisions[0] && !fr_test_failures; p++) {
        fr_runner_options opt = {FR_DEVICE_CUDA, precisions[p].precision, 16, 0};
        fr_runner *r;
        fr_status st = fr_runner_new(model, &opt, &r);
        CHECK_OK(st);
        if (st)
            continue;
        printf("landmark68 %s: %s\n", fr_precision_name(precisions[p].precision),
               fr_runner_describe(r));
        poison(got, (size_t)N * OUT);
        int starts[3] = {0, 16, 32}, sizes[3] = {16, 16, N - 32};
        for (int b = 0; b < 3; b++) {
            CHECK_OK(fr_runner_submit(r, inputs + (size_t)starts[b] * image_bytes, sizes[b]));
            int n = -1;
            if (b >= 1)
                CHECK_OK(fr_runner_collect(r, got + (size_t)starts[b - 1] * OUT, &n));
        }
        int n = -1;
        CHECK_OK(fr_runner_collect(r, got + (size_t)starts[2] * OUT, &n));
        fr_runner_free(r);
        double worst = 0;
        for (size_t i = 0; i < (size_t)N * OUT; i++) {
            double d = fabs((double)got[i] - want[i]) * 112;
            worst = isnan(d) ? INFINITY : fmax(worst, d); /* a NaN never passes */
        }
        printf("landmark68 %s: max |GPU - CPU| %.3g px of the 112x112 input (tolerance %.2g)\n",
               fr_precision_name(precisions[p].precision), worst, precisions[p].tolerance);
        CHECK(worst <= precisions[p].tolerance);
    }
    free(want);
    free(got);
}

/* Real faces (prepared by the model's own geometry) and noise. */
static uint8_t *make_inputs(const fr_model *model, size_t *image_bytes)
{
    const char *data = fr_test_env("FACEREC_DATA");
    int s = fr_model_get_info(model)->input_size;
    *image_bytes = (size_t)s * s * 3;
    uint8_t *inputs = malloc((size_t)N * *image_bytes);
    char dirs[2][4096];
    snprintf(dirs[0], sizeof dirs[0], "%s/happyhouse", data);
    snprintf(dirs[1], sizeof dirs[1], "%s/lfw_devtrain/images/Aaron_Peirsol", data);
    char *args[2] = {dirs[0], dirs[1]};
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, 2, &list, NULL, NULL));
    size_t faces = list.count < 30 ? list.count : 30;
    CHECK(faces >= 10);
    for (size_t i = 0; i < faces; i++) {
        fr_image image;
        CHECK_OK(fr_image_load(list.paths[i], NULL, &image));
        CHECK_OK(fr_model_prepare_image(model, &image, inputs + i * *image_bytes));
        fr_image_free(&image);
    }
    fr_paths_free(&list);
    uint64_t rng = 99;
    for (size_t i = faces * *image_bytes; i < (size_t)N * *image_bytes; i++)
        inputs[i] = (uint8_t)(fr_test_rand(&rng) >> 56);
    return inputs;
}

int main(void)
{
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/dlib.frw", fr_test_env("FACEREC_WEIGHTS"));
    fr_model *model;
    CHECK_OK(fr_model_load(path, &model));
    if (fr_test_failures)
        return fr_test_finish("test_cuda_network");
    size_t image_bytes;
    uint8_t *inputs = make_inputs(model, &image_bytes);
    check_model(model, "dlib", inputs, image_bytes);
    free(inputs);
    fr_model_free(model);

    /* the landmark network of 68-point alignment */
    snprintf(path, sizeof path, "%s/landmark68.frw", fr_test_env("FACEREC_WEIGHTS"));
    if (access(path, F_OK) != 0) { /* not fetched: a file that is there must load */
        printf("landmark68 skipped: no %s (weights/fetch.sh)\n", path);
    } else {
        fr_status st = fr_model_load(path, &model);
        CHECK_OK(st);
        if (!st) {
            inputs = make_inputs(model, &image_bytes);
            check_landmarks(model, inputs);
            free(inputs);
            fr_model_free(model);
        }
    }

    /* irv1: random weights in the Keras layout, converted */
    const char *irv1 = getenv("FACEREC_IRV1_FRW");
    char made[4200];
    if (!irv1 || !*irv1) {
        const char *tmp = fr_test_tmpdir();
        char cmd[16384];
        snprintf(cmd, sizeof cmd,
                 "'%s' '%s/tests/ref/keras_irv1/make_h5.py' --model-json '%s/keras-facenet/model.json' "
                 "--layout weights --seed 11 -o '%s/irv1.h5' >/dev/null && '%s' convert --from "
                 "keras-h5 '%s/irv1.h5' -o '%s/irv1.frw' 2>/dev/null",
                 fr_test_env("FACEREC_PYTHON"), fr_test_env("FACEREC_SOURCE_DIR"),
                 fr_test_env("FACEREC_DATA"), tmp, fr_test_env("FACEREC_BIN"), tmp, tmp);
        CHECK(fr_test_system(cmd) == 0);
        snprintf(made, sizeof made, "%s/irv1.frw", tmp);
        irv1 = made;
    }
    CHECK_OK(fr_model_load(irv1, &model));
    if (fr_test_failures)
        return fr_test_finish("test_cuda_network");
    inputs = make_inputs(model, &image_bytes);
    const char *modes[2] = {"seed", "facenet"};
    for (int m = 0; m < 2; m++) {
        fr_preprocess p;
        CHECK_OK(fr_preprocess_parse(modes[m], &p));
        CHECK_OK(fr_model_set_preprocess(model, p));
        char what[64];
        snprintf(what, sizeof what, "irv1 (%s)", modes[m]);
        check_model(model, what, inputs, image_bytes);
    }
    free(inputs);
    fr_model_free(model);
    return fr_test_finish("test_cuda_network");
}
