/*
 * test_onnx_torch.c: ONNX import (`facerec convert --from onnx`) against PyTorch.
 *
 * tests/ref/onnx/make_models.py builds InsightFace's iresnet50 and MobileFaceNet and nine
 * op-by-op cases (each op of the list at least once: Relu, Div and Dropout in
 * relu_div_dropout) in PyTorch with random weights (BN statistics far from the identity, PReLU
 * slopes up to 0.5), exports them with torch.onnx (a symbolic batch axis) and records
 * PyTorch's float64 outputs on random images (iresnet50's in float32, for CI's time). Each is
 * converted and run by facerec; the bounds, fp32 against float64 (float32):
 *   networks: L2-normalized embeddings within 1e-4 (L2 distance), the bound
 *   op cases: raw outputs within 1e-4 of the largest output magnitude (max abs)
 * Bad files (unsupported op, dynamic shape, wrong input size, a huge declared tensor, a
 * tensor shorter than its shape, a truncated protobuf) must fail naming the node or field
 * and leave no output file.
 *
 * Registered three times: test_onnx_import (MobileFaceNet, the op cases and the bad files:
 * both CI passes, the parser under the sanitizers), test_onnx_iresnet (--iresnet: the 174 MB
 * R50, labelled heavy: the plain pass only) and test_cuda_onnx (--cuda).
 *
 * With --cuda (test_cuda_onnx) the networks run on the GPU in fp32 and fp16 against the CPU
 * instead: fp32 within 1e-4, fp16 within 2e-2 (L2 distance of normalized embeddings; fp16
 * storage rounds each of ~50 layers' activations to 11 bits). Skipped without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/npy.h"
#include "model/convert.h"
#include "testutil.h"

typedef struct test_case {
    const char *name;
    int network; /* 1: compare normalized embeddings; 0: raw outputs */
} test_case;

static const test_case CASES[] = {
    {"iresnet50", 1},     {"mobilefacenet", 1}, {"conv_bn_prelu", 0}, {"bn_before_conv", 0},
    {"add_prelu", 0},     {"grouped", 0},       {"sub_mul_input", 0}, {"gemm_bn1d", 0},
    {"matmul", 0},        {"view_flatten", 0},  {"relu_div_dropout", 0},
};
#define CASE_COUNT (sizeof CASES / sizeof CASES[0])

static fr_status run_model(const char *frw, const fr_npy *images, fr_device device,
                           fr_precision precision, float **out, int *dim)
{
    fr_model *model;
    fr_status st = fr_model_load(frw, &model);
    if (st)
        return st;
    int n = (int)images->shape[0];
    fr_runner_options ro = {device, precision, n, 2};
    fr_runner *runner = NULL;
    st = fr_runner_new(model, &ro, &runner);
    *dim = fr_model_get_info(model)->embedding_size;
    *out = calloc((size_t)n * (size_t)*dim, sizeof(float));
    if (!st && !*out)
        st = FR_E_NOMEM;
    if (!st && device == FR_DEVICE_CPU) /* which CPU path the graph planned on */
        printf("%s: %.100s\n", strrchr(frw, '/') ? strrchr(frw, '/') + 1 : frw,
               fr_runner_describe(runner));
    if (!st)
        st = fr_runner_run(runner, images->data, n, *out);
    fr_runner_free(runner);
    fr_model_free(model);
    return st;
}

/* The worst row of a against b: L2 distance of normalized rows, or max abs difference. */
static double worst_row(float *a, float *b, size_t n, size_t dim, int normalize)
{
    if (normalize) {
        fr_l2_normalize(a, n, dim);
        fr_l2_normalize(b, n, dim);
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double sum = 0, peak = 0;
        for (size_t j = 0; j < dim; j++) {
            double d = (double)a[i * dim + j] - b[i * dim + j];
            sum += d * d;
            if (!(fabs(d) <= peak))
                peak = fabs(d);
        }
        double e = normalize ? sqrt(sum) : peak;
        if (!(e <= worst))
            worst = e; /* NaN stays the worst */
    }
    return worst;
}

static double largest(const float *v, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; i++)
        if (fabs(v[i]) > m)
            m = fabs(v[i]);
    return m;
}

static void against_torch(const char *tmp, int iresnet)
{
    char onnx[4096], frw[4096], in[4096], ref[4096];
    for (size_t c = 0; c < CASE_COUNT; c++) {
        const test_case *t = &CASES[c];
        if ((strcmp(t->name, "iresnet50") == 0) != iresnet)
            continue;
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", tmp, t->name);
        snprintf(frw, sizeof frw, "%s/%s.frw", tmp, t->name);
        snprintf(in, sizeof in, "%s/%s_input.npy", tmp, t->name);
        snprintf(ref, sizeof ref, "%s/%s_output.npy", tmp, t->name);
        fr_npy images, expect;
        CHECK_OK(fr_convert_onnx(onnx, frw, NULL));
        CHECK_OK(fr_npy_load(in, &images));
        CHECK_OK(fr_npy_load(ref, &expect));
        float *got = NULL;
        int dim = 0;
        CHECK_OK(run_model(frw, &images, FR_DEVICE_CPU, FR_PRECISION_FP32, &got, &dim));
        size_t n = images.shape[0];
        CHECK(expect.ndim == 2 && expect.shape[0] == n && expect.shape[1] == (size_t)dim);
        if (got && expect.ndim == 2 && expect.shape[1] == (size_t)dim) {
            double scale = t->network ? 1.0 : fmax(1.0, largest(expect.data, expect.count));
            double e = worst_row(got, expect.data, n, (size_t)dim, t->network);
            printf("%-15s %zu images, %d outputs: worst %s %.3g (bound %.3g)\n", t->name, n, dim,
                   t->network ? "L2 distance" : "abs difference", e, 1e-4 * scale);
            CHECK(e <= 1e-4 * scale);
        }
        free(got);
        fr_npy_free(&images);
        fr_npy_free(&expect);
    }
}

/* A conversion that must fail, naming `what` in its message and writing nothing. */
static void refused(const char *tmp, const char *file, const char *what)
{
    char onnx[4096], frw[4096];
    snprintf(onnx, sizeof onnx, "%s/%s", tmp, file);
    snprintf(frw, sizeof frw, "%s/refused.frw", tmp);
    fr_status st = fr_convert_onnx(onnx, frw, NULL);
    const char *message = fr_error_message();
    printf("%-28s -> %s\n", file, st ? message : "(accepted)");
    CHECK(st != FR_OK);
    CHECK(strstr(message, what) != NULL);
    CHECK(strstr(message, onnx) != NULL);
    CHECK(access(frw, F_OK) != 0);
}

static void bad_input(const char *tmp)
{
    refused(tmp, "bad_unsupported_op.onnx", "node 'sig0' (Sigmoid): unsupported op");
    refused(tmp, "bad_dynamic_shape.onnx", "dynamic shape, the height axis is 'height'");
    refused(tmp, "bad_wrong_size.onnx", "input 'x' is 3 x 128 x 128");
    refused(tmp, "bad_huge_tensor.onnx", "tensor 'w' declares more than");
    refused(tmp, "bad_short_tensor.onnx", "tensor 'w': 400 bytes of data for 108 float32");
    /* the first half of a real model */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "head -c 100000 '%s/mobilefacenet.onnx' > '%s/bad_truncated.onnx'",
             tmp, tmp);
    CHECK(fr_test_system(cmd) == 0);
    refused(tmp, "bad_truncated.onnx", "truncated or corrupt");
    refused(tmp, "no_such_file.onnx", "no_such_file.onnx");
}

static void cuda_against_cpu(const char *tmp)
{
    char onnx[4096], frw[4096], in[4096];
    for (size_t c = 0; c < 2; c++) {
        const test_case *t = &CASES[c];
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", tmp, t->name);
        snprintf(frw, sizeof frw, "%s/%s.frw", tmp, t->name);
        snprintf(in, sizeof in, "%s/%s_input.npy", tmp, t->name);
        fr_npy images;
        CHECK_OK(fr_convert_onnx(onnx, frw, NULL));
        CHECK_OK(fr_npy_load(in, &images));
        float *cpu = NULL, *gpu = NULL;
        int dim = 0;
        CHECK_OK(run_model(frw, &images, FR_DEVICE_CPU, FR_PRECISION_FP32, &cpu, &dim));
        const fr_precision precisions[2] = {FR_PRECISION_FP32, FR_PRECISION_FP16};
        const double bounds[2] = {1e-4, 2e-2};
        for (int p = 0; p < 2 && cpu; p++) {
            float *ref = malloc(images.shape[0] * (size_t)dim * sizeof *ref);
            if (!ref)
                break;
            memcpy(ref, cpu, images.shape[0] * (size_t)dim * sizeof *ref);
            CHECK_OK(run_model(frw, &images, FR_DEVICE_CUDA, precisions[p], &gpu, &dim));
            if (gpu) {
                double e = worst_row(gpu, ref, images.shape[0], (size_t)dim, 1);
                printf("%-15s cuda %s vs cpu: worst L2 distance %.3g (bound %.3g)\n", t->name,
                       fr_precision_name(precisions[p]), e, bounds[p]);
                CHECK(e <= bounds[p]);
            }
            free(gpu);
            gpu = NULL;
            free(ref);
        }
        free(cpu);
        fr_npy_free(&images);
    }
}

int main(int argc, char **argv)
{
    int cuda = argc > 1 && strcmp(argv[1], "--cuda") == 0;
    int iresnet = argc > 1 && strcmp(argv[1], "--iresnet") == 0;
    if (cuda && fr_cuda_device_count() <= 0)
        fr_test_skip("no usable GPU: the ONNX networks on CUDA were not compared with the CPU");
    const char *src = fr_test_env("FACEREC_SOURCE_DIR");
    const char *py = fr_test_env("FACEREC_PYTHON");
    const char *tmp = fr_test_tmpdir();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, torch, onnx' 2>/dev/null", py);
    if (fr_test_system(cmd) != 0)
        fr_test_skip("FACEREC_PYTHON lacks numpy, torch or onnx (scripts/setup.sh --tests "
                     "installs python3-torch and python3-onnx)");
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/onnx/make_models.py' '%s' --cases %s", py,
             src, tmp,
             cuda      ? "iresnet50,mobilefacenet"
             : iresnet ? "iresnet50"
                       : "mobilefacenet,conv_bn_prelu,bn_before_conv,add_prelu,grouped,"
                         "sub_mul_input,gemm_bn1d,matmul,view_flatten,relu_div_dropout");
    if (fr_test_system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return 1;
    }
    if (cuda) {
        cuda_against_cpu(tmp);
        return fr_test_finish("test_cuda_onnx");
    }
    against_torch(tmp, iresnet);
    if (iresnet)
        return fr_test_finish("test_onnx_iresnet");
    bad_input(tmp);
    return fr_test_finish("test_onnx_import");
}
