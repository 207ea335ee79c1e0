/*
 * test_cuda_ops.c: every operation of the graph on the CUDA backend against the CPU backend
 * (the reference, itself checked against a float64 interpreter by test_ops), on random
 * inputs and weights, over the one list of cases every backend runs (op_cases.c; the few
 * it marks CPU-only are named with the reason), through the public runner (so the pinned upload, the pipeline and the
 * CUDA graphs run too): convolutions of many shapes (1x1, 3x3, 1x7, 7x1, stride 2, VALID and
 * SAME with asymmetric padding, PReLU, residual accumulation in place, channel views on
 * input and output), depthwise convolutions (own kernel: 3x3, 5x5, stride 2, PReLU,
 * accumulation, views, vector and scalar accesses, separable pairs), max/avg pooling
 * with padding, zero-extended adds, global average, both normalizations with and without
 * transposition; every precision; batch 1, 5 and 8 (8 and 5
 * share a bucket: 5 runs padded).
 *
 * Error: ||gpu - cpu||_2 / ||cpu||_2 over the whole output. Tolerances, and why:
 *   fp32  1e-5  the same fp32 arithmetic in another order (FFT/Winograd engines excluded);
 *               measured CPU-vs-float64 errors of this kind are ~1e-7
 *   tf32  5e-3  TF32 rounds each multiplicand to 10 mantissa bits (2^-11 ~ 4.9e-4 relative)
 *               and the chains here have up to 9 layers
 *   fp16  1e-2  fp16 storage of every activation and weight (the same 2^-11 per rounding),
 *               fp32 accumulation; again up to 9 layers deep
 * The depthwise kernel does fp32 arithmetic in every precision (9 or 25 products per
 * output), so its own error is the fp32 one; in fp16 its inputs and weights are stored in
 * fp16 like every other operation's, and the tolerance above covers it.
 * NaN never passes; outputs are poisoned before every run. Skipped (exit 77) where there is no GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "model/model_internal.h"
#include "op_cases.h"
#include "testutil.h"

static uint64_t rng = 4242;

/* Runs the graph through a runner on `device`; outputs poisoned first. */
static fr_status run_graph(fr_graph *g, int output, fr_device device, fr_precision precision,
                           const uint8_t *input, int batch, float *got, char *describe,
                           size_t describe_size)
{
    const fr_tensor *o = &g->tensors[output];
    fr_model model;
    memset(&model, 0, sizeof model);
    model.info.arch = "test";
    model.info.input_size = g->input_h;
    model.info.embedding_size = o->h * o->w * o->c;
    model.graph = g;
    size_t count = (size_t)batch * (size_t)model.info.embedding_size;
    for (size_t i = 0; i < count; i++)
        got[i] = NAN;
    fr_runner_options opt = {device, precision, 8, 0};
    fr_runner *r;
    fr_status st = fr_runner_new(&model, &opt, &r);
    if (st)
        return st;
    st = fr_runner_run(r, input, batch, got);
    if (describe)
        snprintf(describe, describe_size, "%s", fr_runner_describe(r));
    fr_runner_free(r);
    return st;
}

static double relative_l2(const float *got, const float *want, size_t count)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        if (isnan(got[i]) || isinf(got[i]))
            return INFINITY;
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}

int main(void)
{
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
    const struct {
        fr_precision precision;
        double tolerance;
    } precisions[] = {{FR_PRECISION_FP32, 1e-5}, {FR_PRECISION_TF32, 5e-3},
                      {FR_PRECISION_FP16, 1e-2}};
    const int batches[] = {1, 5, 8};
    for (int i = 0; i < fr_op_case_count; i++) {
        const fr_op_case *c = &fr_op_cases[i];
        if (c->cpu_only) {
            printf("%-40s not on CUDA: %s\n", c->what, c->cpu_only);
            continue;
        }
        int out;
        fr_graph *g = fr_op_case_graph(c, &rng, &out);
        CHECK(g != NULL);
        if (!g)
            continue;
        const fr_tensor *o = &g->tensors[out];
        size_t dim = (size_t)o->h * o->w * o->c;
        size_t in_size = (size_t)8 * g->input_h * g->input_w * 3;
        uint8_t *input = malloc(in_size);
        for (size_t k = 0; k < in_size; k++)
            input[k] = (uint8_t)(fr_test_rand(&rng) >> 56);
        float *want = malloc(8 * dim * sizeof *want), *got = malloc(8 * dim * sizeof *got);
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            int batch = batches[b];
            CHECK_OK(run_graph(g, out, FR_DEVICE_CPU, FR_PRECISION_DEFAULT, input, batch, want,
                               NULL, 0));
            for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++) {
                char describe[600] = "";
                fr_status st = run_graph(g, out, FR_DEVICE_CUDA, precisions[p].precision, input,
                                         batch, got, describe, sizeof describe);
                CHECK_OK(st);
                double e = st ? INFINITY : relative_l2(got, want, (size_t)batch * dim);
                printf("%-40s %s batch %d: relative L2 error %.2e (tolerance %.0e)\n",
                       c->what, fr_precision_name(precisions[p].precision), batch, e,
                       precisions[p].tolerance);
                if (b == 0)
                    printf("    %s\n", describe);
                CHECK(e <= precisions[p].tolerance);
            }
        }
        free(input);
        free(want);
        free(got);
        fr_graph_free(g);
    }
    return fr_test_finish("test_cuda_ops");
}
