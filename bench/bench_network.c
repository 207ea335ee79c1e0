/*
 * bench_network.c: images/second of the network alone (decoding excluded) through the public
 * runner API, the FLOP rate it implies, and that rate as a fraction of this CPU's measured FMA
 * peak; or, with --export, the graph and its folded parameters for bench/torch_peer.py, so
 * PyTorch runs exactly the same network with exactly the same weights.
 *
 *   bench_network --weights W [--batch B] [--iters N] [--threads T] [--device cpu|cuda]
 *                 [--precision fp32|tf32|fp16|bf16] [--input in.npy --output out.npy]
 *   bench_network --weights W --export DIR       -> DIR/graph.json, DIR/params.bin
 *   bench_network --peak [--threads T]           -> FMA peak GFLOP/s of T cores
 *
 * Timing: one warm-up run, then N timed runs of the same batch; the median is reported.
 * Inputs are random uint8 images (never zeros: they hide unwritten outputs and can run faster).
 */
#include <cjson/cJSON.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/npy.h"
#include "core/pool.h"
#include "facerec.h"
#include "model/model_internal.h"

/* ---- FMA peak: 12 independent accumulators per core, enough to cover the FMA latency ---- */

#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters)
{
#define DECL(i) __m512 a##i = _mm512_set1_ps(1.0f + (i) * 1e-3f);
    R12(DECL)
#undef DECL
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
        R12(STEP)
#undef STEP
        __asm__ volatile("" ::: "memory");
    }
    float sum = 0;
#define SUM(i) sum += _mm512_reduce_add_ps(a##i);
    R12(SUM)
#undef SUM
    return sum;
}

__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters)
{
#define DECL(i) __m256 a##i = _mm256_set1_ps(1.0f + (i) * 1e-3f);
    R12(DECL)
#undef DECL
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
        R12(STEP)
#undef STEP
        __asm__ volatile("" ::: "memory");
    }
    float out[8], sum = 0;
#define SUM(i) _mm256_storeu_ps(out, a##i); sum += out[0];
    R12(SUM)
#undef SUM
    return sum;
}

typedef struct peak_job {
    long iters;
    int wide;
    double seconds;
    double sink;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    double t0 = fr_seconds();
    j->sink = j->wide ? fma_loop_avx512(j->iters) : fma_loop_avx2(j->iters);
    j->seconds = fr_seconds() - t0;
    return NULL;
}

/* GFLOP/s of `threads` cores running FMAs at once (all cores busy: the clock they really get). */
static double fma_peak(int threads, const char **isa)
{
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    *isa = wide ? "AVX-512" : "AVX2";
    long iters = 200000000;
    peak_job jobs[256];
    pthread_t tid[256];
    if (threads > 256)
        threads = 256;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (peak_job){iters, wide, 0, 0};
        pthread_create(&tid[i], NULL, peak_thread, &jobs[i]);
    }
    double flops = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        flops += (double)iters * 12 * (wide ? 16 : 8) * 2 / jobs[i].seconds;
    }
    return flops * 1e-9;
}

/* ---- export ------------------------------------------------------------------------------ */

static int export_graph(const fr_model *model, const char *dir)
{
    const fr_graph *g = model->graph;
    static const char *kinds[] = {"normalize", "conv", "maxpool", "avgpool", "add", "global_avg"};
    static const char *acts[] = {"none", "relu", "prelu"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "arch", model->info.arch);
    cJSON_AddNumberToObject(root, "input_h", g->input_h);
    cJSON_AddNumberToObject(root, "input_w", g->input_w);
    cJSON_AddNumberToObject(root, "output", g->output);
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < g->tensor_count; i++) {
        const fr_tensor *t = &g->tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "h", t->h);
        cJSON_AddNumberToObject(o, "w", t->w);
        cJSON_AddNumberToObject(o, "c", t->c);
        cJSON_AddNumberToObject(o, "root", t->root);
        cJSON_AddNumberToObject(o, "c_offset", t->c_offset);
        cJSON_AddItemToArray(tensors, o);
    }
    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *n = &g->nodes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", kinds[n->kind]);
        cJSON_AddStringToObject(o, "name", n->name);
        cJSON_AddNumberToObject(o, "in", n->in);
        cJSON_AddNumberToObject(o, "in2", n->in2);
        cJSON_AddNumberToObject(o, "out", n->out);
        int k[4] = {n->kh, n->kw, n->stride_h, n->stride_w};
        int pad[4] = {n->pad_top, n->pad_left, n->pad_bottom, n->pad_right};
        cJSON_AddItemToObject(o, "kernel", cJSON_CreateIntArray(k, 2));
        cJSON_AddItemToObject(o, "stride", cJSON_CreateIntArray(k + 2, 2));
        cJSON_AddItemToObject(o, "pad", cJSON_CreateIntArray(pad, 4));
        cJSON_AddStringToObject(o, "act", acts[n->act]);
        cJSON_AddBoolToObject(o, "accumulate", n->accumulate);
        cJSON_AddNumberToObject(o, "groups", n->groups);
        cJSON_AddNumberToObject(o, "weight", n->weight == FR_NO_PARAM ? -1 : (double)n->weight);
        cJSON_AddNumberToObject(o, "bias", n->bias == FR_NO_PARAM ? -1 : (double)n->bias);
        cJSON_AddNumberToObject(o, "alpha", n->alpha == FR_NO_PARAM ? -1 : (double)n->alpha);
        cJSON_AddStringToObject(o, "norm", n->norm == FR_NORM_STANDARDIZE ? "standardize" : "affine");
        float ms[6] = {n->mean[0], n->mean[1], n->mean[2], n->scale[0], n->scale[1], n->scale[2]};
        cJSON_AddItemToObject(o, "mean", cJSON_CreateFloatArray(ms, 3));
        cJSON_AddItemToObject(o, "scale", cJSON_CreateFloatArray(ms + 3, 3));
        cJSON_AddBoolToObject(o, "transpose", n->transpose);
        cJSON_AddItemToArray(nodes, o);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/graph.json", dir);
    FILE *f = fopen(path, "w");
    char *text = cJSON_Print(root);
    int ok = f && text && fputs(text, f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    free(text);
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/params.bin", dir);
    f = fopen(path, "wb");
    ok &= f && fwrite(g->params, sizeof(float), g->param_count, f) == g->param_count;
    if (f)
        ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "bench_network: cannot write %s\n", path);
    return ok ? 0 : 1;
}

/* ---- main -------------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *export_dir = NULL, *input = NULL, *output = NULL;
    int batch = 16, iters = 10, threads = 0, peak_only = 0;
    fr_device device = FR_DEVICE_CPU;
    fr_precision precision = FR_PRECISION_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--weights") && v) weights = argv[++i];
        else if (!strcmp(a, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && v) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--export") && v) export_dir = argv[++i];
        else if (!strcmp(a, "--input") && v) input = argv[++i];
        else if (!strcmp(a, "--output") && v) output = argv[++i];
        else if (!strcmp(a, "--peak")) peak_only = 1;
        else if (!strcmp(a, "--device") && v) {
            const char *d = argv[++i];
            device = !strcmp(d, "cuda") ? FR_DEVICE_CUDA : !strcmp(d, "auto") ? FR_DEVICE_AUTO
                                                                               : FR_DEVICE_CPU;
        } else if (!strcmp(a, "--precision") && v) {
            const char *p = argv[++i];
            precision = !strcmp(p, "fp16")   ? FR_PRECISION_FP16
                        : !strcmp(p, "tf32") ? FR_PRECISION_TF32
                        : !strcmp(p, "bf16") ? FR_PRECISION_BF16
                                             : FR_PRECISION_FP32;
        } else {
            fprintf(stderr, "bench_network: unknown or incomplete option %s (see the top of "
                            "bench/bench_network.c)\n", a);
            return 2;
        }
    }
    if (threads <= 0)
        threads = fr_cpu_count();
    if (peak_only) {
        const char *isa;
        double peak = fma_peak(threads, &isa);
        printf("{\"threads\": %d, \"isa\": \"%s\", \"fma_peak_gflops\": %.1f}\n", threads, isa, peak);
        return 0;
    }
    if (!weights || batch < 1 || iters < 1) {
        fprintf(stderr, "bench_network: give --weights FILE (see the top of bench/bench_network.c)\n");
        return 2;
    }
    fr_model *model;
    if (fr_model_load(weights, &model)) {
        fprintf(stderr, "bench_network: %s\n", fr_error_message());
        return 1;
    }
    if (export_dir) {
        int r = export_graph(model, export_dir);
        fr_model_free(model);
        return r;
    }
    const fr_model_info *info = fr_model_get_info(model);
    size_t image = (size_t)info->input_size * info->input_size * 3;
    fr_npy in = {0};
    if (input) {
        if (fr_npy_load(input, &in) || in.dtype != FR_NPY_U8 || in.ndim != 4 ||
            in.shape[1] * in.shape[2] * in.shape[3] != image) {
            fprintf(stderr, "bench_network: %s: need uint8 (N, %d, %d, 3)\n", input,
                    info->input_size, info->input_size);
            return 1;
        }
        batch = (int)in.shape[0];
    }
    fr_runner_options ro = {device, precision, batch, threads};
    fr_runner *runner;
    double plan_start = fr_seconds();
    if (fr_runner_new(model, &ro, &runner)) {
        fprintf(stderr, "bench_network: %s\n", fr_error_message());
        return 1;
    }
    double plan_seconds = fr_seconds() - plan_start;
    uint8_t *inputs = in.data ? in.data : malloc((size_t)batch * image);
    float *outputs = malloc((size_t)batch * info->embedding_size * sizeof(float));
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; !in.data && i < (size_t)batch * image; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        inputs[i] = (uint8_t)(s >> 56);
    }
    if (fr_runner_run(runner, inputs, batch, outputs)) {
        fprintf(stderr, "bench_network: %s\n", fr_error_message());
        return 1;
    }
    if (output) {
        size_t shape[2] = {(size_t)batch, (size_t)info->embedding_size};
        if (fr_npy_save(output, FR_NPY_F32, 2, shape, outputs)) {
            fprintf(stderr, "bench_network: %s\n", fr_error_message());
            return 1;
        }
    }
    double *times = malloc((size_t)iters * sizeof *times);
    for (int i = 0; i < iters; i++) {
        double t0 = fr_seconds();
        fr_runner_run(runner, inputs, batch, outputs);
        times[i] = fr_seconds() - t0;
    }
    qsort(times, (size_t)iters, sizeof *times, compare_doubles);
    double median = times[iters / 2];
    double gflop = fr_graph_flops(model->graph) * 1e-9;
    printf("{\"arch\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"batch\": %d, "
           "\"threads\": %d, \"median_s\": %.6f, \"images_per_s\": %.2f, \"gflop_per_image\": %.4f, "
           "\"gflops\": %.1f, \"plan_s\": %.3f, \"path\": \"%s\"}\n",
           info->arch, fr_runner_backend(runner), fr_precision_name(fr_runner_precision(runner)),
           batch, threads, median, batch / median, gflop, gflop * batch / median, plan_seconds,
           fr_runner_describe(runner));
    free(times);
    free(outputs);
    if (!in.data)
        free(inputs);
    fr_npy_free(&in);
    fr_runner_free(runner);
    fr_model_free(model);
    return 0;
}
