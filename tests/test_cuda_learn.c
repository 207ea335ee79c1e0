/*
 * test_cuda_learn.c: the CUDA training backend (cuda/learn.c) against the CPU reference
 * (learn/learn_cpu.c, itself checked against PyTorch by test_learn), op by op on random
 * inputs, for the dense head (dlib) and dense + batch norm (irv1):
 *
 *   forward      the batch's squared distances: 1e-5 absolute (fp32 GEMM of 96 inputs in two
 *                summation orders, unit-norm embeddings: distances up to 4)
 *   step         the triplet loss (1e-5 relative), active count (exact, the same triplets),
 *                and the parameters after Adam and SGD updates: 1e-5 absolute (Adam moves each
 *                parameter by about lr whatever the gradient's scale, so the tolerance is a
 *                small fraction of lr = 1e-3)
 *   statistics   batch norm's population statistics over 5000 rows (several device chunks):
 *                1e-5 relative
 *   embed        inference embeddings over 5000 rows: 1e-5 absolute
 *   training     fr_train on both devices from the same head and seed: held-out accuracy
 *                within 0.02 (selection sees fp32-rounded distances, so the runs may part)
 * Skipped without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "learn/backend.h"
#include "learn/train.h"
#include "testutil.h"

#define I 96
#define O 32
#define ROWS 5000
#define B 48

#ifdef FACEREC_HAVE_CUDA
/* only the op-by-op comparisons use it; they compile to nothing without the CUDA backend */
static double max_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}
#endif

static void fill(float *x, size_t n, fr_random *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((fr_random_uniform(r) * 2 - 1) * scale);
}

static void compare(int batch_norm, fr_optimizer_kind kind, const float *features)
{
#ifdef FACEREC_HAVE_CUDA
    fr_random r;
    fr_random_seed(&r, 3 + batch_norm);
    fr_head h;
    CHECK_OK(fr_head_init(&h, I, O, batch_norm, 1e-3));
    fill(fr_head_kernel(&h), (size_t)I * O, &r, 0.2);
    if (batch_norm) {
        fill(fr_head_beta(&h), O, &r, 0.3);
        CHECK_OK(fr_head_statistics(&h, features, NULL, ROWS));
    }
    fr_optimizer_options o;
    fr_optimizer_defaults(kind, &o);
    o.weight_decay = 1e-4;
    void *cpu, *gpu;
    CHECK_OK(fr_cpu_learn_backend.open(&h, features, ROWS, B, &o, 1, &cpu));
    CHECK_OK(fr_cuda_learn_backend.open(&h, features, ROWS, B, &o, 1, &gpu));
    if (fr_test_failures)
        return;
    int32_t rows[B], labels[B], all[ROWS];
    for (int i = 0; i < ROWS; i++)
        all[i] = i;
    float *sq_cpu = malloc(B * B * sizeof(float)), *sq_gpu = malloc(B * B * sizeof(float));
    fr_triplet *t = malloc(B * B / 2 * sizeof *t);
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < B; i++) {
            rows[i] = (int32_t)fr_random_below(&r, ROWS);
            labels[i] = i / 6;
        }
        CHECK_OK(fr_cpu_learn_backend.forward(cpu, rows, B, sq_cpu));
        CHECK_OK(fr_cuda_learn_backend.forward(gpu, rows, B, sq_gpu));
        double dsq = max_diff(sq_cpu, sq_gpu, B * B);
        size_t count;
        fr_selection_stats stats;
        CHECK_OK(fr_triplets_select(sq_cpu, labels, B, 0.5f, FR_NEGATIVES_HARDEST, &r, t, &count,
                                    &stats));
        double lc, lg;
        size_t ac, ag;
        CHECK_OK(fr_cpu_learn_backend.step(cpu, t, count, 0.5f, 1e-3, &lc, &ac));
        CHECK_OK(fr_cuda_learn_backend.step(gpu, t, count, 0.5f, 1e-3, &lg, &ag));
        printf("%s, %s, step %d: squared distances %.2e, loss %.6f vs %.6f, active %zu vs %zu\n",
               batch_norm ? "dense + batch norm" : "dense", fr_optimizer_name(kind), step, dsq,
               lc, lg, ac, ag);
        CHECK(dsq <= 1e-5);
        CHECK(fabs(lc - lg) <= 1e-5 * fabs(lc) + 1e-9);
        CHECK(ac == ag);
    }
    fr_head hc, hg;
    CHECK_OK(fr_head_copy(&hc, &h));
    CHECK_OK(fr_head_copy(&hg, &h));
    CHECK_OK(fr_cpu_learn_backend.read(cpu, &hc));
    CHECK_OK(fr_cuda_learn_backend.read(gpu, &hg));
    double dp = max_diff(hc.params, hg.params, h.param_count);
    CHECK_OK(fr_cpu_learn_backend.statistics(cpu, all, ROWS));
    CHECK_OK(fr_cuda_learn_backend.statistics(gpu, all, ROWS));
    CHECK_OK(fr_cpu_learn_backend.read(cpu, &hc));
    CHECK_OK(fr_cuda_learn_backend.read(gpu, &hg));
    double ds = 0;
    for (int j = 0; batch_norm && j < O; j++) {
        ds = fmax(ds, fabs(hc.mean[j] - hg.mean[j]) / (fabs(hc.mean[j]) + 1e-3));
        ds = fmax(ds, fabs(hc.variance[j] - hg.variance[j]) / (hc.variance[j] + 1e-6));
    }
    float *ec = malloc((size_t)ROWS * O * sizeof(float)), *eg = malloc((size_t)ROWS * O * 4);
    CHECK_OK(fr_cpu_learn_backend.embed(cpu, all, ROWS, ec));
    CHECK_OK(fr_cuda_learn_backend.embed(gpu, all, ROWS, eg));
    double de = max_diff(ec, eg, (size_t)ROWS * O);
    printf("after 5 steps: parameters %.2e, statistics %.2e (relative), embeddings %.2e\n", dp,
           ds, de);
    CHECK(dp <= 1e-5);
    CHECK(ds <= 1e-5);
    CHECK(de <= 1e-5);
    fr_cpu_learn_backend.close(cpu);
    fr_cuda_learn_backend.close(gpu);
    fr_head_free(&hc);
    fr_head_free(&hg);
    fr_head_free(&h);
    free(sq_cpu);
    free(sq_gpu);
    free(t);
    free(ec);
    free(eg);
#else
    (void)batch_norm;
    (void)kind;
    (void)features;
#endif
}

static void compare_training(const float *features)
{
    fr_random r;
    fr_random_seed(&r, 9);
    int32_t *labels = malloc(ROWS * sizeof *labels);
    for (int i = 0; i < ROWS; i++)
        labels[i] = i / 10;
    double accuracy[2];
    for (int d = 0; d < 2; d++) {
        fr_head h;
        CHECK_OK(fr_head_init(&h, I, O, 1, 1e-3));
        fr_random_seed(&r, 9);
        fill(fr_head_kernel(&h), (size_t)I * O, &r, 0.2);
        CHECK_OK(fr_head_statistics(&h, features, NULL, ROWS));
        fr_train_options o;
        fr_train_defaults(&o);
        o.epochs = 3;
        o.device = d ? FR_DEVICE_CUDA : FR_DEVICE_CPU;
        fr_train_data data = {features, labels, ROWS, ROWS / 10};
        fr_train_result result;
        CHECK_OK(fr_train(&data, &o, &h, NULL, NULL, &result));
        accuracy[d] = result.best_accuracy;
        fr_head_free(&h);
    }
    printf("training 3 epochs: held-out accuracy cpu %.4f, cuda %.4f\n", accuracy[0],
           accuracy[1]);
    CHECK(fabs(accuracy[0] - accuracy[1]) <= 0.02);
    free(labels);
}

int main(void)
{
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
    /* people as clusters in feature space, so that training has something to learn */
    fr_random r;
    fr_random_seed(&r, 1);
    float *features = malloc((size_t)ROWS * I * sizeof(float)), centre[I];
    for (int i = 0; i < ROWS; i++) {
        if (i % 10 == 0)
            fill(centre, I, &r, 1.0);
        for (int k = 0; k < I; k++)
            features[(size_t)i * I + k] =
                fabsf(centre[k] + (float)((fr_random_uniform(&r) - 0.5) * 0.8));
    }
    compare(0, FR_OPTIMIZER_ADAM, features);
    compare(1, FR_OPTIMIZER_ADAM, features);
    compare(1, FR_OPTIMIZER_SGD, features);
    compare_training(features);
    free(features);
    return fr_test_finish("test_cuda_learn");
}
