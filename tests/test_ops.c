/*
 * test_ops.c: every operation of the graph description on the CPU backend against a naive
 * double-precision interpreter written here (direct loops: no im2col, no GEMM, no tiling),
 * on random inputs and weights, over the one list of cases every backend runs (op_cases.c:
 * convolutions of many shapes, 1x1 direct GEMM, 3x3, 1x7, 7x1, stride 2, VALID and SAME with
 * asymmetric padding, odd channel counts, PReLU, residual accumulation with and without
 * activation, channel views on input and output; depthwise convolutions: groups == channels,
 * 3x3, 5x5, stride 2, PReLU, accumulation, views, on the 3-channel input, separable pairs;
 * max/avg pooling with padding, adds, zero-extended adds, global average, and both
 * normalizations with and without transposition); batch 1, 3 and 11, one and two threads; on
 * both CPU paths (oneDNN's primitives, the default, and the im2col + sgemm reference:
 * FACEREC_CPU_CONV; the primitives' default puts 3x3 stride-1 convolutions with an output map
 * of 4x4 or more on Winograd where oneDNN has it), the primitives again with every
 * convolution direct (FACEREC_CPU_WINOGRAD=0) and, where the CPU has AVX512-BF16 or AMX, the
 * primitives in bf16. Winograd: by default a 3x3 convolution on a 1x1 map stays direct, one
 * on an 8x8 map does not (and is direct with FACEREC_CPU_WINOGRAD=0), and an image's output
 * does not depend on the batch it runs in (bit for bit: oneDNN's Winograd kernel rounds by
 * its batch size, so facerec runs it one image at a time).
 * Tolerance: 1e-4 relative to the output's largest magnitude in fp32 (sums of up to a few
 * thousand products against double); 3e-2 in bf16 (8-bit mantissas for activations and
 * weights, rounded again at every layer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_primitives.h"
#include "runtime/backend.h"
#include "model/graph.h"
#include "op_cases.h"
#include "testutil.h"

static uint64_t rng = 42;

/* ---- the naive interpreter ---------------------------------------------------------------- */

typedef struct ref_state {
    const fr_graph *g;
    int n;
    double **roots; /* per root tensor: (n, h, w, c_root) */
} ref_state;

static double *ref_at(ref_state *s, int tensor, int n, int y, int x)
{
    const fr_tensor *t = &s->g->tensors[tensor];
    const fr_tensor *r = &s->g->tensors[t->root];
    return s->roots[t->root] + (((size_t)n * r->h + y) * r->w + x) * r->c + t->c_offset;
}

static double act(double v, fr_activation a, double alpha)
{
    if (a == FR_ACT_RELU)
        return v > 0 ? v : 0;
    if (a == FR_ACT_PRELU)
        return v > 0 ? v : v * alpha;
    return v;
}

static void ref_node(ref_state *s, const fr_node *node, const uint8_t *input)
{
    const fr_graph *g = s->g;
    const fr_tensor *out = &g->tensors[node->out];
    const float *p = g->params;
    for (int n = 0; n < s->n; n++) {
        if (node->kind == FR_OP_NORMALIZE) {
            int h = g->input_h, w = g->input_w;
            const uint8_t *img = input + (size_t)n * h * w * 3;
            double mean[3], scale[3];
            if (node->norm == FR_NORM_STANDARDIZE) {
                double sum = 0, sq = 0, cnt = (double)h * w * 3;
                for (int i = 0; i < h * w * 3; i++)
                    sum += img[i];
                for (int i = 0; i < h * w * 3; i++)
                    sq += (img[i] - sum / cnt) * (img[i] - sum / cnt);
                double sd = fmax(sqrt(sq / cnt), 1.0 / sqrt(cnt));
                for (int c = 0; c < 3; c++) {
                    mean[c] = sum / cnt;
                    scale[c] = 1.0 / sd;
                }
            } else {
                for (int c = 0; c < 3; c++) {
                    mean[c] = node->mean[c];
                    scale[c] = node->scale[c];
                }
            }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++) {
                        int oy = node->transpose ? x : y, ox = node->transpose ? y : x;
                        ref_at(s, node->out, n, oy, ox)[c] =
                            (img[((size_t)y * w + x) * 3 + c] - mean[c]) * scale[c];
                    }
            continue;
        }
        const fr_tensor *in = &g->tensors[node->in];
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++) {
                double *o = ref_at(s, node->out, n, y, x);
                for (int c = 0; c < out->c; c++) {
                    double v = 0;
                    if (node->kind == FR_OP_CONV) {
                        /* output channel c sees the c_in / groups inputs of its group */
                        int group_in = in->c / node->groups, group_out = out->c / node->groups;
                        int k0 = c / group_out * group_in;
                        v = p[node->bias + c];
                        for (int ky = 0; ky < node->kh; ky++)
                            for (int kx = 0; kx < node->kw; kx++) {
                                int iy = y * node->stride_h - node->pad_top + ky;
                                int ix = x * node->stride_w - node->pad_left + kx;
                                if (iy < 0 || ix < 0 || iy >= in->h || ix >= in->w)
                                    continue;
                                const double *i = ref_at(s, node->in, n, iy, ix) + k0;
                                const float *w =
                                    p + node->weight +
                                    (((size_t)c * node->kh + ky) * node->kw + kx) * group_in;
                                for (int k = 0; k < group_in; k++)
                                    v += i[k] * w[k];
                            }
                        if (node->accumulate)
                            v += o[c];
                        v = act(v, node->act, node->alpha != FR_NO_PARAM ? p[node->alpha + c] : 0);
                    } else if (node->kind == FR_OP_MAX_POOL || node->kind == FR_OP_AVG_POOL) {
                        double best = -INFINITY, sum = 0;
                        int count = 0;
                        for (int ky = 0; ky < node->kh; ky++)
                            for (int kx = 0; kx < node->kw; kx++) {
                                int iy = y * node->stride_h - node->pad_top + ky;
                                int ix = x * node->stride_w - node->pad_left + kx;
                                if (iy < 0 || ix < 0 || iy >= in->h || ix >= in->w)
                                    continue;
                                double e = ref_at(s, node->in, n, iy, ix)[c];
                                best = fmax(best, e);
                                sum += e;
                                count++;
                            }
                        v = node->kind == FR_OP_MAX_POOL ? best : sum / count;
                    } else if (node->kind == FR_OP_ADD) {
                        const fr_tensor *b = &g->tensors[node->in2];
                        if (y < in->h && x < in->w && c < in->c)
                            v += ref_at(s, node->in, n, y, x)[c];
                        if (y < b->h && x < b->w && c < b->c)
                            v += ref_at(s, node->in2, n, y, x)[c];
                        v = act(v, node->act, 0);
                    } else if (node->kind == FR_OP_GLOBAL_AVG) {
                        for (int iy = 0; iy < in->h; iy++)
                            for (int ix = 0; ix < in->w; ix++)
                                v += ref_at(s, node->in, n, iy, ix)[c];
                        v /= (double)in->h * in->w;
                    }
                    o[c] = v;
                }
            }
    }
}

/* Runs the finalized graph g on the CPU backend and the interpreter; returns the max error
 * relative to the output's largest magnitude. */
static double check_graph(fr_graph *g, int output, int batch, int threads, fr_precision precision,
                          const char *what)
{
    size_t in_size = (size_t)batch * g->input_h * g->input_w * 3;
    uint8_t *input = malloc(in_size);
    for (size_t i = 0; i < in_size; i++)
        input[i] = (uint8_t)(fr_test_rand(&rng) >> 56);
    const fr_tensor *o = &g->tensors[output];
    size_t dim = (size_t)o->h * o->w * o->c;
    float *got = malloc((size_t)batch * dim * sizeof *got);
    for (size_t i = 0; i < (size_t)batch * dim; i++)
        got[i] = NAN; /* poison: every output must be written */
    fr_runner_options opt = {FR_DEVICE_CPU, precision, batch, threads};
    void *state = NULL;
    fr_status st = fr_cpu_backend.plan(g, &opt, &state);
    CHECK_OK(st);
    if (!st) {
        /* oneDNN's reference implementations are 100x slower than its JIT ones (MTCNN's
         * convolutions with a PReLU post-op ran on ref:any: 5.7 s an image) */
        const char *path = fr_cpu_backend.describe(state);
        if (strstr(path, "primitives") && strstr(path, " ref:")) {
            printf("%s: a reference implementation: %s\n", what, path);
            CHECK(!strstr(path, " ref:"));
        }
        CHECK_OK(fr_cpu_backend.run(state, input, batch, got));
        fr_cpu_backend.release(state);
    }

    ref_state s = {g, batch, calloc((size_t)g->tensor_count, sizeof(double *))};
    for (int t = 0; t < g->tensor_count; t++)
        if (g->tensors[t].root == t)
            s.roots[t] = calloc((size_t)batch * g->tensors[t].h * g->tensors[t].w * g->tensors[t].c,
                                sizeof(double));
    for (int i = 0; i < g->node_count; i++)
        ref_node(&s, &g->nodes[i], input);
    double worst = 0, big = 1e-6;
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < o->h; y++)
            for (int x = 0; x < o->w; x++)
                for (int c = 0; c < o->c; c++) {
                    double want = ref_at(&s, output, n, y, x)[c];
                    double have = got[(size_t)n * dim + ((size_t)y * o->w + x) * o->c + c];
                    big = fmax(big, fabs(want));
                    double e = fabs(want - have);
                    worst = isnan(have) ? INFINITY : fmax(worst, e);
                }
    worst /= big;
    printf("%-44s %-10s %s batch %d threads %d: max error %.2e (of %.3g)\n", what,
           getenv("FACEREC_CPU_CONV"), fr_precision_name(precision), batch, threads, worst, big);
    for (int t = 0; t < g->tensor_count; t++)
        free(s.roots[t]);
    free(s.roots);
    free(input);
    free(got);
    return worst;
}

int main(void)
{
    const float *mean = fr_op_case_mean, *scale = fr_op_case_scale;
    /* "primitives" fails rather than falling back: every case must plan on them */
    struct {
        const char *path;
        fr_precision precision;
        double tolerance;
        const char *winograd; /* FACEREC_CPU_WINOGRAD (NULL: unset, the default, Winograd
                               * where it applies; "0": every convolution direct) */
    } paths[] = {{"primitives", FR_PRECISION_FP32, 1e-4, NULL},
                 {"primitives", FR_PRECISION_FP32, 1e-4, "0"},
                 {"im2col", FR_PRECISION_FP32, 1e-4, NULL},
                 {"primitives", FR_PRECISION_BF16, 3e-2, NULL}};
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        if (paths[k].precision == FR_PRECISION_BF16 && !fr_cpu_has_bf16()) {
            printf("bf16: SKIPPED (this CPU has no AVX512-BF16 or AMX)\n");
            continue;
        }
        setenv("FACEREC_CPU_CONV", paths[k].path, 1);
        if (paths[k].winograd)
            setenv("FACEREC_CPU_WINOGRAD", paths[k].winograd, 1);
        else
            unsetenv("FACEREC_CPU_WINOGRAD");
        printf("%s%s%s, %s\n", paths[k].path, paths[k].winograd ? ", FACEREC_CPU_WINOGRAD=" : "",
               paths[k].winograd ? paths[k].winograd : "", fr_precision_name(paths[k].precision));
        for (int i = 0; i < fr_op_case_count; i++)
            for (int b = 0; b < 3; b++)
                for (int threads = 1; threads <= 2; threads++) {
                    /* 11 images: the primitives' chunks of 4 and 2, and a short last chunk */
                    int batch = b == 0 ? 1 : b == 1 ? 3 : 11, out;
                    fr_graph *g = fr_op_case_graph(&fr_op_cases[i], &rng, &out);
                    CHECK(g != NULL);
                    if (!g)
                        continue;
                    double e = check_graph(g, out, batch, threads, paths[k].precision,
                                           fr_op_cases[i].what);
                    CHECK(e <= paths[k].tolerance);
                    fr_graph_free(g);
                }
    }
    unsetenv("FACEREC_CPU_CONV");
    unsetenv("FACEREC_CPU_WINOGRAD");

    /* Winograd (the default): a 3x3 convolution (64 channels) on a 1x1 map stays direct, on
     * an 8x8 map it runs on Winograd, and direct with FACEREC_CPU_WINOGRAD=0; and on Winograd
     * an image's output is the same bit for bit alone and at any place of a batch of 11 (the
     * buckets of 8, 2 and 1) */
    for (int run = 0; run < 3; run++) {
        int side = run == 0 ? 1 : 8, off = run == 2;
        if (off)
            setenv("FACEREC_CPU_WINOGRAD", "0", 1);
        else
            unsetenv("FACEREC_CPU_WINOGRAD");
        fr_graph *g = fr_graph_new(side, side);
        int x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
        x = fr_op_conv(g, &rng, "1x1", x, -1, 64, 1, 1, 1, FR_PAD_SAME, FR_ACT_RELU);
        x = fr_op_conv(g, &rng, "3x3", x, -1, 64, 3, 3, 1, FR_PAD_SAME, FR_ACT_RELU);
        x = fr_op_conv(g, &rng, "3x3 again", x, -1, 64, 3, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
        CHECK_OK(fr_graph_finalize(g, x));
        fr_cpu_primitives *p = NULL;
        CHECK_OK(fr_cpu_primitives_plan(g, 16, 1, FR_PRECISION_FP32, &p));
        if (p) {
            enum { N = 11 };
            size_t in_size = (size_t)side * side * 3, out_size = (size_t)side * side * 64;
            uint8_t *input = malloc(N * in_size);
            float *all = malloc(N * out_size * sizeof *all), *one = malloc(out_size * sizeof *one);
            for (size_t k = 0; k < N * in_size; k++)
                input[k] = (uint8_t)(fr_test_uniform(&rng, 0, 255.99f));
            CHECK_OK(fr_cpu_primitives_run(p, input, N, all));
            const char *d = fr_cpu_primitives_describe(p);
            printf("3x3 on a %dx%d map%s: %s\n", side, side,
                   off ? ", FACEREC_CPU_WINOGRAD=0" : "", d);
            if (side == 8 && !off && !fr_cpu_has_winograd())
                printf("Winograd on an 8x8 map: SKIPPED (oneDNN has no Winograd kernel on this "
                       "CPU: AVX-512 only)\n");
            CHECK((strstr(d, "wino") != NULL) == (side == 8 && !off && fr_cpu_has_winograd()));
            int same = 1;
            for (int i = 0; i < N; i++) {
                CHECK_OK(fr_cpu_primitives_run(p, input + i * in_size, 1, one));
                same &= !memcmp(one, all + i * out_size, out_size * sizeof *one);
            }
            CHECK(same);
            free(input);
            free(all);
            free(one);
            fr_cpu_primitives_free(p);
        }
        fr_graph_free(g);
    }
    unsetenv("FACEREC_CPU_WINOGRAD");

    /* the planner: tensors alive at the same time never share bytes */
    fr_graph *g = fr_graph_new(16, 16);
    int x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    int out = fr_op_views_residual(g, x, &rng);
    CHECK_OK(fr_graph_finalize(g, out));
    for (int a = 0; a < g->tensor_count; a++)
        for (int b = a + 1; b < g->tensor_count; b++) {
            const fr_tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
            if (ta->root != a || tb->root != b || ta->last < tb->first || tb->last < ta->first)
                continue;
            size_t ea = ta->offset + (size_t)ta->h * ta->w * ta->c;
            size_t eb = tb->offset + (size_t)tb->h * tb->w * tb->c;
            CHECK(ea <= tb->offset || eb <= ta->offset);
        }
    fr_graph_free(g);

    /* groupings other than 1 and depthwise are refused when built, not at run time */
    g = fr_graph_new(8, 8);
    x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    x = fr_op_conv(g, &rng, "stem", x, -1, 8, 1, 1, 1, FR_PAD_SAME, FR_ACT_NONE);
    size_t w = fr_op_params(g, &rng, 16 * 9 * 4, 0.1f), b = fr_op_params(g, &rng, 16, 0.1f);
    CHECK(fr_graph_conv_grouped(g, "2 groups", x, -1, 16, 2, 3, 3, 1, 1, FR_PAD_SAME,
                                FR_ACT_NONE, w, b) < 0);
    CHECK(g->status == FR_E_INTERNAL);
    fr_graph_free(g);

    /* FLOPs count a depthwise tap once per channel */
    g = fr_graph_new(8, 8);
    x = fr_graph_normalize(g, FR_NORM_AFFINE, mean, scale, 0);
    x = fr_op_depthwise(g, &rng, "dw", x, -1, 3, 1, FR_PAD_SAME, FR_ACT_NONE);
    CHECK_OK(fr_graph_finalize(g, x));
    CHECK_NEAR(fr_graph_flops(g), 2.0 * 8 * 8 * 3 * 9, 0.5);
    fr_graph_free(g);
    return fr_test_finish("test_ops");
}
