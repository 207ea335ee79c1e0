/*
 * test_convpool.c: the CPU primitives' fused convolution + max pool (cpu/cpu_convpool.c,
 * STEP_CONVPOOL) against the same graph on the reference path (FACEREC_CPU_CONV=im2col: the
 * convolution as im2col + sgemm, then the pool on its own), on random inputs and weights:
 * VALID 3x3 convolutions of the 3-channel input with a PReLU of per-channel slopes (the
 * layers fused: MTCNN's first ones) into 10, 16, 24 and 32 channels (not all multiples of
 * the 16-lane group), 2x2/2 SAME pools on even and odd maps (padding), an overlapping 3x3/2
 * pool (R-Net's and O-Net's), a 1x1 convolution with a 2x2/1 pool, at 192x192 also at batch
 * 8 (a full chunk); batch 1, 3 and 11, one and two threads. Each of those must say it ran
 * fused (the plan's description); a ReLU convolution (oneDNN's post-op) and one whose output
 * has a second reader must not fuse, and still be right.
 * Tolerance: 1e-5 of the output's largest magnitude (fp32 both ways; only the order of the
 * convolution's at most 27-term sums differs, and the 3x3/2 convolution after the pool adds
 * up to 9 x 40 more).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "op_cases.h"
#include "runtime/backend.h"
#include "testutil.h"

static uint64_t rng = 7;

typedef struct shape {
    const char *what;
    int side_h, side_w, c_out, k, pool_k, pool_stride;
    fr_activation act;
    int second_reader; /* the convolution's output also read by an add: no fusion */
} shape;

static fr_graph *build(const shape *s, int *out)
{
    fr_graph *g = fr_graph_new(s->side_h, s->side_w);
    int x = fr_graph_normalize(g, FR_NORM_AFFINE, fr_op_case_mean, fr_op_case_scale, 0);
    int y = fr_op_conv(g, &rng, "conv", x, -1, s->c_out, s->k, s->k, 1, FR_PAD_VALID, s->act);
    int z = fr_graph_pool(g, "pool", FR_OP_MAX_POOL, y, -1, s->pool_k, s->pool_stride,
                          FR_PAD_SAME);
    if (s->second_reader) {
        const fr_tensor *t = &g->tensors[z];
        z = fr_graph_add(g, "add", z, y, t->h, t->w, t->c, FR_ACT_NONE);
    }
    /* a consumer in the activations' layout (oneDNN's choice), then a small output */
    z = fr_op_conv(g, &rng, "after", z, -1, 32, 3, 3, 2, FR_PAD_SAME, FR_ACT_RELU);
    z = fr_graph_pool(g, "shrink", FR_OP_MAX_POOL, z, -1, 3, 3, FR_PAD_SAME);
    if (fr_graph_finalize(g, z)) {
        fr_graph_free(g);
        return NULL;
    }
    *out = z;
    return g;
}

static fr_status run(const fr_graph *g, const char *path, int batch, int threads,
                     const uint8_t *input, float *output, char *description, size_t size)
{
    setenv("FACEREC_CPU_CONV", path, 1);
    fr_runner_options opt = {FR_DEVICE_CPU, FR_PRECISION_FP32, batch, threads};
    void *state = NULL;
    fr_status st = fr_cpu_backend.plan(g, &opt, &state);
    if (!st) {
        snprintf(description, size, "%s", fr_cpu_backend.describe(state));
        st = fr_cpu_backend.run(state, input, batch, output);
        fr_cpu_backend.release(state);
    }
    unsetenv("FACEREC_CPU_CONV");
    return st;
}

int main(void)
{
    static const shape shapes[] = {
        {"P-Net-like (61x53, 10, 2x2/2 SAME pool)", 61, 53, 10, 3, 2, 2, FR_ACT_PRELU, 0},
        {"192x192, 16, 2x2/2 SAME pool", 192, 192, 16, 3, 2, 2, FR_ACT_PRELU, 0},
        {"odd map, padded pool (37x42, 24)", 37, 42, 24, 3, 2, 2, FR_ACT_PRELU, 0},
        {"O-Net-like, overlapping 3x3/2 pool (48x48, 32)", 48, 48, 32, 3, 3, 2, FR_ACT_PRELU, 0},
        {"1x1 conv, 2x2/1 pool (13x17, 40)", 13, 17, 40, 1, 2, 1, FR_ACT_PRELU, 0},
        {"ReLU (oneDNN's post-op): not fused (20x20, 16)", 20, 20, 16, 3, 2, 2, FR_ACT_RELU, 0},
        {"a second reader: not fused (20x20, 16)", 20, 20, 16, 3, 2, 1, FR_ACT_PRELU, 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const shape *s = &shapes[k];
        for (int b = 0; b < 4; b++)
            for (int threads = 1; threads <= 2; threads++) {
                int batch = b == 0 ? 1 : b == 1 ? 3 : b == 2 ? 8 : 11, out = -1;
                if (batch == 8 && k != 1)
                    continue; /* batch 8 (a full chunk): the 192x192 shape only */
                fr_graph *g = build(s, &out);
                CHECK(g != NULL);
                if (!g)
                    continue;
                size_t in_size = (size_t)batch * g->input_h * g->input_w * 3;
                const fr_tensor *o = &g->tensors[out];
                size_t count = (size_t)batch * o->h * o->w * o->c;
                uint8_t *input = malloc(in_size);
                float *fused = malloc(count * sizeof *fused), *ref = malloc(count * sizeof *ref);
                for (size_t i = 0; i < in_size; i++)
                    input[i] = (uint8_t)(fr_test_rand(&rng) >> 56);
                for (size_t i = 0; i < count; i++)
                    fused[i] = ref[i] = NAN; /* every output must be written */
                char d[1024] = "", dref[1024] = "";
                CHECK_OK(run(g, "primitives", batch, threads, input, fused, d, sizeof d));
                CHECK_OK(run(g, "im2col", batch, threads, input, ref, dref, sizeof dref));
                double worst = 0, big = 1e-6;
                for (size_t i = 0; i < count; i++) {
                    big = fmax(big, fabs(ref[i]));
                    worst = isnan(fused[i]) || isnan(ref[i]) ? INFINITY
                                                             : fmax(worst, fabs(fused[i] - ref[i]));
                }
                worst /= big;
                int says_fused = strstr(d, "1 convolution + max pool pairs fused") != NULL;
                printf("%-42s batch %2d threads %d: max error %.2e (of %.3g), %s\n", s->what,
                       batch, threads, worst, big, says_fused ? "fused" : "not fused");
                if (b == 0 && threads == 1)
                    printf("  %s\n", d);
                CHECK(worst <= 1e-5);
                CHECK(says_fused == (s->act == FR_ACT_PRELU && !s->second_reader));
                free(input);
                free(fused);
                free(ref);
                fr_graph_free(g);
            }
    }
    return fr_test_finish("test_convpool");
}
