/*
 * test_learn.c: the training arithmetic (learn/) against PyTorch autograd in float64
 * (tests/ref/torch_learn/learn_ref.py) and against finite differences, then a training run.
 *
 *   triplet loss    value and gradient, rows reused across triplets, open and closed hinges;
 *                   the seed's (anchor, positive, negative) form as the stacked [A; P; N].
 *                   Tolerance: 1e-5 relative on the loss (fp32 inputs, double sums), 1e-5
 *                   absolute on gradients of unit-scale rows (fp32 differences)
 *   head            dense (dlib) and dense + training-mode batch norm (irv1), each through the
 *                   L2 normalization: embeddings and the gradients of sum(e * g). Tolerance
 *                   2e-5 absolute (fp32 GEMMs over 96 inputs, against float64)
 *   finite differences   the whole step, triplet loss over the head's embeddings, against
 *                   central differences in the kernel and beta (fp32 forward, h = 1e-3;
 *                   coordinates whose differences cross a hinge are skipped): 2% relative
 *   optimizers      five steps of SGD with momentum and of Adam (with weight decay) against
 *                   torch.optim: 1e-6 relative to the parameters' scale
 *   selection       semi-hard and hardest negatives satisfy their definitions, and every pair
 *                   that has a semi-hard negative gets one
 *   training        on features of synthetic people that a random head mixes up, the held-out
 *                   people's accuracy rises well above the base's, and the same seed gives the
 *                   same head bit for bit (a different seed does not)
 * Skipped when FACEREC_PYTHON lacks numpy or torch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "core/random.h"
#include "learn/head.h"
#include "learn/optimizer.h"
#include "learn/train.h"
#include "learn/triplet.h"
#include "testutil.h"

static const char *tmp, *py, *src;

static void save(const char *name, const float *data, size_t rows, size_t cols)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    size_t shape[2] = {rows, cols};
    CHECK_OK(fr_npy_save(path, FR_NPY_F32, cols ? 2 : 1, shape, data));
}

static float *load(const char *name, size_t expect)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    fr_npy a;
    memset(&a, 0, sizeof a);
    CHECK_OK(fr_npy_load(path, &a));
    CHECK(a.count == expect);
    if (a.count != expect) {
        fr_npy_free(&a);
        return calloc(expect ? expect : 1, sizeof(float));
    }
    return a.data;
}

static void reference(const char *what)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/torch_learn/learn_ref.py' %s '%s'", py, src,
             what, tmp);
    CHECK(fr_test_system(cmd) == 0);
}

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

static void random_fill(float *x, size_t n, fr_random *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((fr_random_uniform(r) * 2 - 1) * scale);
}

/* ---- triplet loss ------------------------------------------------------------------------- */

static void test_triplet_loss(void)
{
    enum { B = 40, D = 128, T = 300 };
    fr_random r;
    fr_random_seed(&r, 11);
    float *rows = malloc(B * D * sizeof(float)), *grad = calloc(B * D, sizeof(float));
    random_fill(rows, B * D, &r, 0.3);
    fr_triplet t[T];
    float tf[T * 3];
    for (int i = 0; i < T; i++) {
        t[i].anchor = (int32_t)fr_random_below(&r, B);
        do
            t[i].positive = (int32_t)fr_random_below(&r, B);
        while (t[i].positive == t[i].anchor);
        do
            t[i].negative = (int32_t)fr_random_below(&r, B);
        while (t[i].negative == t[i].anchor || t[i].negative == t[i].positive);
        tf[3 * i] = (float)t[i].anchor;
        tf[3 * i + 1] = (float)t[i].positive;
        tf[3 * i + 2] = (float)t[i].negative;
    }
    /* alpha between the hinges' spread so that some are open and some closed */
    float alpha = 0.2f;
    size_t active = 0;
    double loss = fr_triplet_loss(rows, D, t, T, alpha, grad, 1.0f, &active);
    printf("triplet loss: %zu of %d triplets active, loss %.6f\n", active, T, loss);
    CHECK(active > T / 5 && active < T * 4 / 5);
    save("rows.npy", rows, B, D);
    save("triplets.npy", tf, T, 3);
    save("alpha.npy", &alpha, 1, 0);
    reference("triplet");
    float *ref_loss = load("loss.npy", 1), *ref_grad = load("grad.npy", B * D);
    double rel = fabs(loss - ref_loss[0]) / fabs(ref_loss[0]);
    double gd = max_diff(grad, ref_grad, B * D);
    printf("triplet loss vs torch: relative %.2e, gradient max |diff| %.2e\n", rel, gd);
    CHECK(rel <= 1e-5);
    CHECK(gd <= 1e-5);

    /* the seed's form: anchors, positives and negatives as three stacked arrays */
    enum { M = 16 };
    float *stacked = malloc(3 * M * D * sizeof(float)), *g3 = calloc(3 * M * D, sizeof(float));
    fr_triplet seed_form[M];
    for (int i = 0; i < M; i++) {
        memcpy(stacked + (size_t)i * D, rows + (size_t)t[i].anchor * D, D * sizeof(float));
        memcpy(stacked + (size_t)(M + i) * D, rows + (size_t)t[i].positive * D,
               D * sizeof(float));
        memcpy(stacked + (size_t)(2 * M + i) * D, rows + (size_t)t[i].negative * D,
               D * sizeof(float));
        seed_form[i] = (fr_triplet){i, M + i, 2 * M + i};
    }
    double l3 = fr_triplet_loss(stacked, D, seed_form, M, alpha, g3, 1.0f, NULL);
    double l1 = fr_triplet_loss(rows, D, t, M, alpha, NULL, 1.0f, NULL);
    CHECK_NEAR(l3, l1, 1e-9);
    /* per-triplet gradient pieces: for (a, p, n) distinct rows a's is 2(n - p) when active */
    int checked = 0;
    for (int i = 0; i < M; i++) {
        double h = 0;
        for (int d = 0; d < D; d++) {
            double ap = stacked[(size_t)i * D + d] - stacked[(size_t)(M + i) * D + d];
            double an = stacked[(size_t)i * D + d] - stacked[(size_t)(2 * M + i) * D + d];
            h += ap * ap - an * an;
        }
        float want = h + alpha > 0 ? 2 * (stacked[(size_t)(2 * M + i) * D] -
                                          stacked[(size_t)(M + i) * D])
                                   : 0.0f;
        CHECK_NEAR(g3[(size_t)i * D], want, 1e-6);
        checked++;
    }
    CHECK(checked == M);
    free(stacked);
    free(g3);
    free(ref_loss);
    free(ref_grad);
    free(rows);
    free(grad);
}

/* ---- the head ------------------------------------------------------------------------------ */

static void test_head(int batch_norm)
{
    enum { B = 24, I = 96, O = 32 };
    fr_random r;
    fr_random_seed(&r, 21 + batch_norm);
    fr_head h;
    CHECK_OK(fr_head_init(&h, I, O, batch_norm, 1e-3));
    random_fill(fr_head_kernel(&h), (size_t)I * O, &r, 0.2);
    if (batch_norm)
        random_fill(fr_head_beta(&h), O, &r, 0.5);
    float *f = malloc(B * I * sizeof(float)), *up = malloc(B * O * sizeof(float));
    float *grad = malloc(h.param_count * sizeof(float));
    random_fill(f, B * I, &r, 1.0);
    for (int i = 0; i < B * I; i++)
        f[i] = fabsf(f[i]); /* pooled ReLU activations are non-negative */
    random_fill(up, B * O, &r, 1.0);
    fr_head_cache c;
    CHECK_OK(fr_head_cache_init(&c, &h, B));
    CHECK_OK(fr_head_forward_train(&h, f, B, &c));
    fr_head_backward(&h, f, B, &c, up, grad);
    save("features.npy", f, B, I);
    save("kernel.npy", fr_head_kernel(&h), I, O);
    save("upstream.npy", up, B, O);
    char beta_path[4096];
    snprintf(beta_path, sizeof beta_path, "%s/beta.npy", tmp);
    remove(beta_path);
    if (batch_norm) {
        float eps = (float)h.epsilon;
        save("beta.npy", fr_head_beta(&h), O, 0);
        save("epsilon.npy", &eps, 1, 0);
    }
    reference("head");
    float *e = load("embeddings.npy", B * O), *gk = load("grad_kernel.npy", (size_t)I * O);
    double de = max_diff(c.e, e, B * O), dk = max_diff(grad, gk, (size_t)I * O), db = 0;
    if (batch_norm) {
        float *gb = load("grad_beta.npy", O);
        db = max_diff(grad + (size_t)I * O, gb, O);
        free(gb);
    }
    printf("head (%s) vs torch: embeddings %.2e, d kernel %.2e, d beta %.2e\n",
           batch_norm ? "dense + batch norm" : "dense", de, dk, db);
    CHECK(de <= 2e-5);
    CHECK(dk <= 2e-5);
    CHECK(db <= 2e-5);

    /* inference with the population statistics of the very batch equals training mode */
    if (batch_norm) {
        float *inf = malloc(B * O * sizeof(float));
        CHECK_OK(fr_head_statistics(&h, f, NULL, B));
        CHECK_OK(fr_head_embed(&h, f, NULL, B, inf));
        double d = max_diff(inf, c.e, B * O);
        printf("head: inference with the batch's own statistics vs training mode %.2e\n", d);
        CHECK(d <= 1e-5);
        free(inf);
    }
    free(e);
    free(gk);
    free(f);
    free(up);
    free(grad);
    fr_head_cache_free(&c);
    fr_head_free(&h);
}

static void test_finite_differences(int batch_norm)
{
    enum { B = 20, I = 40, O = 16, T = 60 };
    fr_random r;
    fr_random_seed(&r, 31 + batch_norm);
    fr_head h;
    CHECK_OK(fr_head_init(&h, I, O, batch_norm, 1e-3));
    random_fill(fr_head_kernel(&h), (size_t)I * O, &r, 0.3);
    if (batch_norm)
        random_fill(fr_head_beta(&h), O, &r, 0.3);
    float *f = malloc(B * I * sizeof(float)), *ge = calloc(B * O, sizeof(float));
    float *grad = malloc(h.param_count * sizeof(float));
    random_fill(f, B * I, &r, 1.0);
    fr_triplet t[T];
    for (int i = 0; i < T; i++) {
        t[i].anchor = (int32_t)fr_random_below(&r, B);
        t[i].positive = (int32_t)((t[i].anchor + 1 + fr_random_below(&r, B - 1)) % B);
        do
            t[i].negative = (int32_t)fr_random_below(&r, B);
        while (t[i].negative == t[i].anchor || t[i].negative == t[i].positive);
    }
    float alpha = 0.5f;
    fr_head_cache c;
    CHECK_OK(fr_head_cache_init(&c, &h, B));
    CHECK_OK(fr_head_forward_train(&h, f, B, &c));
    size_t active;
    fr_triplet_loss(c.e, O, t, T, alpha, ge, 1.0f / T, &active);
    fr_head_backward(&h, f, B, &c, ge, grad);
    int tested = 0, failed = 0;
    double worst = 0;
    for (int k = 0; k < 40; k++) {
        size_t i = (size_t)fr_random_below(&r, h.param_count);
        float keep = h.params[i], step = 1e-3f;
        h.params[i] = keep + step;
        size_t a1;
        fr_head_forward_train(&h, f, B, &c);
        double up = fr_triplet_loss(c.e, O, t, T, alpha, NULL, 1.0f, &a1) / T;
        h.params[i] = keep - step;
        size_t a2;
        fr_head_forward_train(&h, f, B, &c);
        double down = fr_triplet_loss(c.e, O, t, T, alpha, NULL, 1.0f, &a2) / T;
        h.params[i] = keep;
        if (a1 != active || a2 != active)
            continue; /* a hinge opened or closed inside the step */
        double numeric = (up - down) / (2.0 * ((double)(keep + step) - keep));
        double err = fabs(numeric - grad[i]) / (fabs(numeric) + 1e-3);
        if (err > worst)
            worst = err;
        failed += err > 0.02;
        tested++;
    }
    printf("finite differences (%s): %d coordinates, worst relative error %.2e\n",
           batch_norm ? "dense + batch norm" : "dense", tested, worst);
    CHECK(tested >= 20);
    CHECK(failed == 0);
    fr_head_cache_free(&c);
    fr_head_free(&h);
    free(f);
    free(ge);
    free(grad);
}

/* ---- optimizers ---------------------------------------------------------------------------- */

static void test_optimizer(fr_optimizer_kind kind)
{
    enum { N = 200, S = 5 };
    fr_random r;
    fr_random_seed(&r, 41 + kind);
    float *p = malloc(N * sizeof(float)), *g = malloc(S * N * sizeof(float));
    random_fill(p, N, &r, 1.0);
    random_fill(g, S * N, &r, 0.1);
    fr_optimizer_options o;
    fr_optimizer_defaults(kind, &o);
    o.weight_decay = 1e-3;
    double lr = kind == FR_OPTIMIZER_ADAM ? 1e-2 : 0.05;
    float config[7] = {kind == FR_OPTIMIZER_ADAM ? 0.0f : 1.0f, (float)lr, (float)o.momentum,
                       (float)o.beta1, (float)o.beta2, (float)o.epsilon, (float)o.weight_decay};
    save("params.npy", p, N, 0);
    save("grads.npy", g, S, N);
    save("config.npy", config, 7, 0);
    fr_optimizer opt;
    CHECK_OK(fr_optimizer_init(&opt, &o, N));
    for (int s = 0; s < S; s++)
        fr_optimizer_step(&opt, p, g + (size_t)s * N, lr);
    reference("optim");
    float *want = load("params_after.npy", N);
    double d = max_diff(p, want, N);
    printf("%s, %d steps vs torch.optim: max |diff| %.2e\n", fr_optimizer_name(kind), S, d);
    CHECK(d <= 1e-6);
    fr_optimizer_free(&opt);
    free(want);
    free(p);
    free(g);
}

/* ---- selection ----------------------------------------------------------------------------- */

static void test_selection(void)
{
    enum { P = 6, K = 5, B = P * K };
    fr_random r;
    fr_random_seed(&r, 51);
    float sq[B * B];
    int32_t labels[B];
    for (int i = 0; i < B; i++)
        labels[i] = i / K;
    for (int i = 0; i < B; i++)
        for (int j = i; j < B; j++)
            sq[i * B + j] = sq[j * B + i] =
                i == j ? 0 : (float)(0.5 + 5 * fr_random_uniform(&r));
    float alpha = 0.2f;
    fr_triplet t[B * B / 2];
    size_t n;
    fr_selection_stats stats;
    CHECK_OK(fr_triplets_select(sq, labels, B, alpha, FR_NEGATIVES_SEMIHARD, &r, t, &n, &stats));
    CHECK(stats.pairs == (size_t)P * K * (K - 1) / 2);
    CHECK(stats.valid == stats.pairs * (B - K));
    size_t bad = 0, expected = 0;
    for (size_t i = 0; i < n; i++) {
        float ap = sq[t[i].anchor * B + t[i].positive], an = sq[t[i].anchor * B + t[i].negative];
        bad += labels[t[i].anchor] != labels[t[i].positive] ||
               labels[t[i].anchor] == labels[t[i].negative] || !(an > ap && an < ap + alpha) ||
               t[i].anchor >= t[i].positive;
    }
    for (int a = 0; a < B; a++)
        for (int p = a + 1; p < B; p++) {
            if (labels[a] != labels[p])
                continue;
            int any = 0;
            for (int x = 0; x < B; x++)
                any |= labels[x] != labels[a] && sq[a * B + x] > sq[a * B + p] &&
                       sq[a * B + x] < sq[a * B + p] + alpha;
            expected += (size_t)any;
        }
    printf("selection: %zu pairs, %zu semi-hard triplets (%zu expected), %zu wrong; active "
           "%.3f\n", stats.pairs, n, expected, bad, (double)stats.active / stats.valid);
    CHECK(bad == 0);
    CHECK(n == expected && n > 0 && n < stats.pairs);
    CHECK_OK(fr_triplets_select(sq, labels, B, alpha, FR_NEGATIVES_HARDEST, &r, t, &n, &stats));
    CHECK(n == stats.pairs);
    for (size_t i = 0; i < n; i++)
        for (int x = 0; x < B; x++)
            if (labels[x] != labels[t[i].anchor])
                bad += sq[t[i].anchor * B + x] < sq[t[i].anchor * B + t[i].negative];
    CHECK(bad == 0);
}

/* ---- a training run ---------------------------------------------------------------------- */

typedef struct synthetic {
    float *features;
    int32_t *labels;
    size_t count, people;
} synthetic;

/* People as clusters in a 64-d feature space whose identity lives in 8 directions that a
 * random 64 -> 16 head mostly misses behind 56 directions of nuisance. */
static void make_people(synthetic *s, size_t people, size_t faces, uint64_t seed)
{
    enum { I = 64 };
    fr_random r;
    fr_random_seed(&r, seed);
    s->people = people;
    s->count = people * faces;
    s->features = malloc(s->count * I * sizeof(float));
    s->labels = malloc(s->count * sizeof(int32_t));
    float centre[8];
    for (size_t p = 0; p < people; p++) {
        random_fill(centre, 8, &r, 1.0);
        for (size_t k = 0; k < faces; k++) {
            float *x = s->features + (p * faces + k) * I;
            for (int d = 0; d < 8; d++)
                x[d] = centre[d] + (float)((fr_random_uniform(&r) - 0.5) * 0.3);
            for (int d = 8; d < I; d++)
                x[d] = (float)((fr_random_uniform(&r) - 0.5) * 3.0);
            s->labels[p * faces + k] = (int32_t)p;
        }
    }
}

static void train_once(const synthetic *s, int batch_norm, uint64_t seed, fr_head *out,
                       fr_train_result *result)
{
    fr_random r;
    fr_random_seed(&r, 61);
    CHECK_OK(fr_head_init(out, 64, 16, batch_norm, 1e-3));
    random_fill(fr_head_kernel(out), 64 * 16, &r, 0.2);
    if (batch_norm) {
        CHECK_OK(fr_head_statistics(out, s->features, NULL, s->count));
    }
    fr_train_options o;
    fr_train_defaults(&o);
    o.epochs = 8;
    o.people_per_batch = 10;
    o.faces_per_person = 6;
    o.val_fraction = 0.25;
    o.lr = 0.01;
    o.seed = seed;
    o.device = FR_DEVICE_CPU;
    fr_train_data d = {s->features, s->labels, s->count, s->people};
    CHECK_OK(fr_train(&d, &o, out, NULL, NULL, result));
}

static void test_training(int batch_norm)
{
    synthetic s;
    make_people(&s, 80, 8, 71);
    fr_head a, b, c;
    fr_train_result ra, rb, rc;
    train_once(&s, batch_norm, 5, &a, &ra);
    train_once(&s, batch_norm, 5, &b, &rb);
    train_once(&s, batch_norm, 6, &c, &rc);
    printf("training (%s): held-out accuracy %.3f -> %.3f (best epoch %d of %d; %zu people "
           "trained on, %zu held out, %zu + %zu pairs)\n",
           batch_norm ? "dense + batch norm" : "dense", ra.base_accuracy, ra.best_accuracy,
           ra.best_epoch, ra.epochs_run, ra.train_people, ra.val_people, ra.val_same,
           ra.val_different);
    CHECK(ra.val_people == 20 && ra.train_people == 60);
    CHECK(ra.best_accuracy > ra.base_accuracy + 0.1);
    CHECK(ra.best_accuracy > 0.9);
    CHECK(memcmp(a.params, b.params, a.param_count * sizeof(float)) == 0);
    CHECK(memcmp(a.params, c.params, a.param_count * sizeof(float)) != 0);
    if (batch_norm)
        CHECK(memcmp(a.mean, b.mean, 16 * sizeof(float)) == 0);
    CHECK(ra.threshold > 0 && ra.threshold < 2);
    fr_head_free(&a);
    fr_head_free(&b);
    fr_head_free(&c);
    free(s.features);
    free(s.labels);
}

int main(void)
{
    tmp = fr_test_tmpdir();
    py = fr_test_env("FACEREC_PYTHON");
    src = fr_test_env("FACEREC_SOURCE_DIR");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, torch' 2>/dev/null", py);
    if (fr_test_system(cmd) != 0)
        fr_test_skip("FACEREC_PYTHON lacks numpy or torch (apt install python3-torch)");
    test_triplet_loss();
    test_head(0);
    test_head(1);
    test_finite_differences(0);
    test_finite_differences(1);
    test_optimizer(FR_OPTIMIZER_SGD);
    test_optimizer(FR_OPTIMIZER_ADAM);
    test_selection();
    test_training(0);
    test_training(1);
    return fr_test_finish("test_learn");
}
