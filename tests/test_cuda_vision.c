/*
 * test_cuda_vision.c: every CUDA vision operation (cuda/vision_kernels.cu) against the CPU
 * reference (src/cpu/cpu_vision.c, itself checked by test_vision and the detection tests) on
 * the random cases of tests/vision_cases.h, then the whole detector and the chip chain on
 * real images through both backends. Skipped (exit 77) where there is no GPU.
 *
 * Tolerances, and why:
 *   pixels (resize_area, crop_resize, landmark_crops, facenet_crops, warp_chips)
 *       at most 1 level, in at most 0.1% of the bytes. The kernels do the reference's
 *       float/double/integer operations in its order, compiled without contraction, so 0
 *       differences are expected; a 1 is a rounding tie decided by a last-bit difference
 *   boxes, counts, picks (pnet_cells, nms, gather): equal; scores within 1e-12 (CUDA's exp
 *       may differ from glibc's by an ulp)
 *   tiny_inputs: as the pixels above; tiny_boxes: counts equal, boxes and scores within 1e-12
 *       (their exp)
 *   landmark_transforms: the mapping within 1e-9 of its magnitude (atan2, hypot, cos, sin:
 *       CUDA's are within 2 ulp)
 *   the detector (issue 10's correctness goal): every CPU face has a GPU face of IoU >= 0.95
 *       with its five landmarks within 1 px, fp32 and fp16 networks (fp16: the main face of
 *       each image; a near-threshold extra face may come or go)
 *   chips through the 68-point chain: mean absolute difference <= 2 levels (a landmark moved
 *       by 0.1 px, fp16's order, moves the chip by about that on gradients of ~10 levels/px)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/align.h"
#include "detect/chips.h"
#include "detect/detect.h"
#include "engine/paths.h"
#include "model/model_internal.h"
#include "runtime/vision.h"
#include "testutil.h"
#include "vision_cases.h"

#define IMAGES 5

static uint64_t rng = 91;

typedef struct side {
    fr_exec *exec;
    fr_vision_image images[IMAGES];
    fr_exec_buffer pixels;
} side;

/* A buffer in both contexts' memory, filled from host data. */
static void *gpu_copy(side *g, fr_exec_buffer *buf, const void *data, size_t bytes)
{
    CHECK_OK(fr_exec_reserve(g->exec, buf, bytes ? bytes : 1, "test data"));
    if (data)
        CHECK_OK(fr_exec_upload(g->exec, buf->data, data, bytes));
    return buf->data;
}

static void compare_bytes(const char *what, const uint8_t *got, const uint8_t *want, size_t n)
{
    size_t diff = 0;
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)want[i]);
        diff += d != 0;
        worst = d > worst ? d : worst;
    }
    printf("%-20s %zu bytes: %zu differ, worst %d level(s) (tolerance: 1 level in 0.1%%)\n", what,
           n, diff, worst);
    CHECK(worst <= 1 && diff <= n / 1000);
}

static void compare_cands(const char *what, const fr_cand *got, const fr_cand *want, int n)
{
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        bad += memcmp(got[i].box, want[i].box, sizeof want[i].box) != 0 ||
               got[i].image != want[i].image;
        worst = fmax(worst, fabs(got[i].score - want[i].score));
        for (int k = 0; k < 10; k++)
            worst = fmax(worst, fabs(got[i].points[k] - want[i].points[k]));
    }
    printf("%-20s %d candidates: %d boxes differ, worst score/point difference %.2g\n", what, n,
           bad, worst);
    CHECK(bad == 0 && worst <= 1e-9);
}

static void check_ops(fr_exec *cpu, side *g, const fr_image *images, fr_vision_image *host)
{
    const fr_vision_ops *co = fr_exec_ops(cpu), *go = fr_exec_ops(g->exec);
    void *cs = fr_exec_state(cpu), *gs = fr_exec_state(g->exec);
    fr_exec_buffer b1 = {0}, b2 = {0}, b3 = {0};

    /* resize_area: every mode */
    fr_resize_job jobs[8];
    size_t at = 0;
    for (int j = 0; j < 8; j++) {
        const fr_image *im = &images[j % IMAGES];
        double f = j == 0 ? 0.5 : j == 1 ? 1.0 : j == 2 ? 1.4 : 0.15 + 0.11 * j;
        jobs[j] = (fr_resize_job){j % IMAGES, (int)ceil(im->width * f), (int)ceil(im->height * f),
                                  at};
        at += (size_t)jobs[j].width * jobs[j].height * 3;
    }
    uint8_t *want = malloc(at), *got = malloc(at);
    CHECK_OK(co->resize_area(cs, host, IMAGES, jobs, 8, want));
    void *d = gpu_copy(g, &b1, NULL, at);
    CHECK_OK(go->resize_area(gs, g->images, IMAGES, jobs, 8, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, at));
    compare_bytes("resize_area", got, want, at);
    free(want);
    free(got);

    /* pnet_cells over random outputs */
    fr_pnet_job pj[3] = {
        {0, 0, 0.6, 40, 31, 0, 0}, {1, 2, 0.3, 1, 1, 0, 0}, {4, 1, 0.42, 70, 9, 0, 0}};
    size_t floats = 0, cells = 0;
    for (int j = 0; j < 3; j++) {
        pj[j].outputs = floats;
        pj[j].first = cells;
        floats += (size_t)pj[j].xcells * pj[j].ycells * 6;
        cells += (size_t)pj[j].xcells * pj[j].ycells;
    }
    float *out = malloc(floats * sizeof *out);
    for (size_t i = 0; i < floats; i++)
        out[i] = fr_test_uniform(&rng, -3, 3);
    fr_cand *cw = calloc(cells, sizeof *cw), *cg = calloc(cells, sizeof *cg);
    int nw[3], ng[3];
    CHECK_OK(co->pnet_cells(cs, out, pj, 3, 0.6, cw, nw));
    float *dout = gpu_copy(g, &b1, out, floats * sizeof *out);
    fr_cand *dc = gpu_copy(g, &b2, NULL, cells * sizeof *dc);
    CHECK_OK(go->pnet_cells(gs, dout, pj, 3, 0.6, dc, ng));
    CHECK_OK(fr_exec_download(g->exec, cg, dc, cells * sizeof *cg));
    for (int j = 0; j < 3; j++) {
        CHECK(nw[j] == ng[j]);
        if (nw[j] == ng[j])
            compare_cands("pnet_cells", cg + pj[j].first, cw + pj[j].first, nw[j]);
    }
    free(out);
    free(cw);
    free(cg);

    /* nms in the detector's four variants, over clustered candidates */
    static const fr_nms_spec specs[5] = {
        {0.5, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 0}, {0.7, 0, 0, 0, FR_BOX_KEEP, FR_BOX_PNET, 0},
        {0.7, 0, 1, 0.5, FR_BOX_KEEP, FR_BOX_RNET, 0}, {0.7, 1, 1, 0.4, FR_BOX_ONET, FR_BOX_KEEP, 0},
        {0.4, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 1}}; /* the tiny detector's: continuous boxes */
    static const int sizes[6] = {0, 1, 3, 250, 4000, 40};
    fr_segment seg[6];
    int total = 0;
    for (int s = 0; s < 6; s++) {
        seg[s] = (fr_segment){(size_t)total + 2, sizes[s]};
        total += sizes[s] + 2;
    }
    fr_cand *orig = malloc((size_t)total * sizeof *orig);
    cw = malloc((size_t)total * sizeof *cw);
    cg = malloc((size_t)total * sizeof *cg);
    fr_case_cands(&rng, images, IMAGES, orig, total);
    for (int i = 1; i < total; i++)
        if (fr_test_rand(&rng) % 3 == 0) {
            orig[i].image = orig[i - 1].image;
            for (int k = 0; k < 4; k++)
                orig[i].box[k] = orig[i - 1].box[k] + (double)(fr_test_rand(&rng) % 7) - 3;
        }
    for (int v = 0; v < 5; v++) {
        int kw[6], kg[6];
        memcpy(cw, orig, (size_t)total * sizeof *cw);
        CHECK_OK(co->nms(cs, cw, seg, 6, &specs[v], kw));
        dc = gpu_copy(g, &b2, orig, (size_t)total * sizeof *dc);
        CHECK_OK(go->nms(gs, dc, seg, 6, &specs[v], kg));
        CHECK_OK(fr_exec_download(g->exec, cg, dc, (size_t)total * sizeof *cg));
        for (int s = 0; s < 6; s++) {
            CHECK(kw[s] == kg[s]);
            if (kw[s] == kg[s])
                compare_cands("nms", cg + seg[s].first, cw + seg[s].first, kw[s]);
        }
    }

    /* gather, read_net, crop_resize */
    fr_copy copies[3] = {{10, 0, 100}, {300, 100, 1}, {2, 101, 50}};
    CHECK_OK(co->gather(cs, orig, copies, 3, cw));
    fr_cand *src = gpu_copy(g, &b2, orig, (size_t)total * sizeof *src);
    dc = gpu_copy(g, &b3, NULL, 151 * sizeof *dc);
    CHECK_OK(go->gather(gs, src, copies, 3, dc));
    CHECK_OK(fr_exec_download(g->exec, cg, dc, 151 * sizeof *cg));
    compare_cands("gather", cg, cw, 151);

    enum { CROPS = 300 };
    out = malloc(CROPS * 16 * sizeof *out);
    for (int i = 0; i < CROPS * 16; i++)
        out[i] = fr_test_uniform(&rng, -2, 2);
    memcpy(cw, orig, CROPS * sizeof *cw);
    CHECK_OK(co->read_net(cs, cw, CROPS, out, 16, 1));
    dc = gpu_copy(g, &b2, orig, CROPS * sizeof *dc);
    dout = gpu_copy(g, &b3, out, CROPS * 16 * sizeof *out);
    CHECK_OK(go->read_net(gs, dc, CROPS, dout, 16, 1));
    CHECK_OK(fr_exec_download(g->exec, cg, dc, CROPS * sizeof *cg));
    compare_cands("read_net", cg, cw, CROPS);
    free(out);
    for (int size = 24; size <= 48; size += 24) {
        size_t bytes = (size_t)CROPS * size * size * 3;
        want = malloc(bytes);
        got = malloc(bytes);
        CHECK_OK(co->crop_resize(cs, host, IMAGES, orig, CROPS, size, want));
        dc = gpu_copy(g, &b2, orig, CROPS * sizeof *dc);
        d = gpu_copy(g, &b3, NULL, bytes);
        CHECK_OK(go->crop_resize(gs, g->images, IMAGES, dc, CROPS, size, d));
        CHECK_OK(fr_exec_download(g->exec, got, d, bytes));
        compare_bytes(size == 24 ? "crop_resize 24" : "crop_resize 48", got, want, bytes);
        free(want);
        free(got);
    }
    free(orig);
    free(cw);
    free(cg);

    /* the alignment operations on random faces */
    enum { FACES = 60 };
    fr_crop_job lm[FACES], fn[FACES];
    fr_landmark_frame frames[FACES];
    int image_of[FACES], nlm = 0, nfn = 0;
    double m[FACES * 6];
    for (int i = 0; i < FACES; i++) {
        image_of[i] = i % IMAGES;
        const fr_image *im = &images[image_of[i]];
        fr_face f = fr_case_face(&rng, im->width, im->height);
        if (fr_landmark68_region(im->width, im->height, &f, &lm[nlm], &frames[nlm]) == FR_OK)
            lm[nlm++].image = image_of[i];
        if (fr_facenet_region(im->width, im->height, &f, 32, &fn[nfn]) == FR_OK)
            fn[nfn++].image = image_of[i];
        fr_dlib_chip_transform(&f, 150, FR_DLIB_CHIP_PADDING, m + 6 * i);
    }
    size_t bytes = (size_t)FACES * 160 * 160 * 3;
    want = malloc(bytes);
    got = malloc(bytes);
    d = gpu_copy(g, &b1, NULL, bytes);
    CHECK_OK(co->landmark_crops(cs, host, IMAGES, lm, nlm, 112, want));
    CHECK_OK(go->landmark_crops(gs, g->images, IMAGES, lm, nlm, 112, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, (size_t)nlm * 112 * 112 * 3));
    compare_bytes("landmark_crops", got, want, (size_t)nlm * 112 * 112 * 3);
    CHECK_OK(co->facenet_crops(cs, host, IMAGES, fn, nfn, 160, want));
    CHECK_OK(go->facenet_crops(gs, g->images, IMAGES, fn, nfn, 160, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, (size_t)nfn * 160 * 160 * 3));
    compare_bytes("facenet_crops", got, want, (size_t)nfn * 160 * 160 * 3);
    double *dm = gpu_copy(g, &b2, m, sizeof m);
    CHECK_OK(co->warp_chips(cs, host, IMAGES, image_of, m, FACES, 150, FR_SAMPLE_DLIB, want));
    CHECK_OK(go->warp_chips(gs, g->images, IMAGES, image_of, dm, FACES, 150, FR_SAMPLE_DLIB, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, (size_t)FACES * 150 * 150 * 3));
    compare_bytes("warp_chips dlib", got, want, (size_t)FACES * 150 * 150 * 3);
    CHECK_OK(co->warp_chips(cs, host, IMAGES, image_of, m, FACES, 112, FR_SAMPLE_AFFINE, want));
    CHECK_OK(go->warp_chips(gs, g->images, IMAGES, image_of, dm, FACES, 112, FR_SAMPLE_AFFINE, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, (size_t)FACES * 112 * 112 * 3));
    compare_bytes("warp_chips affine", got, want, (size_t)FACES * 112 * 112 * 3);
    free(want);
    free(got);

    out = malloc((size_t)nlm * 136 * sizeof *out);
    for (int i = 0; i < nlm * 136; i++)
        out[i] = fr_test_uniform(&rng, 0.1f, 0.9f);
    fr_chip_template chips[2];
    chips[0].fit = FR_FIT_DLIB;
    chips[0].size = 150;
    chips[0].count = fr_dlib_template68(150, FR_DLIB_CHIP_PADDING, chips[0].index, chips[0].points);
    chips[1].fit = FR_FIT_ARCFACE;
    chips[1].size = 112;
    chips[1].count = 68;
    for (int k = 0; k < 68; k++)
        chips[1].index[k] = k;
    for (int t = 0; t < 2; t++) {
        double mw[FACES * 6], mg[FACES * 6];
        CHECK_OK(co->landmark_transforms(cs, out, 112, frames, nlm, &chips[t], mw));
        dout = gpu_copy(g, &b1, out, (size_t)nlm * 136 * sizeof *out);
        dm = gpu_copy(g, &b2, NULL, sizeof mg);
        CHECK_OK(go->landmark_transforms(gs, dout, 112, frames, nlm, &chips[t], dm));
        CHECK_OK(fr_exec_download(g->exec, mg, dm, (size_t)nlm * 6 * sizeof *mg));
        double worst = 0;
        for (int i = 0; i < nlm * 6; i++)
            worst = fmax(worst, fabs(mg[i] - mw[i]) / (1 + fabs(mw[i])));
        printf("%-20s %s, %d faces: worst relative difference %.2g (tolerance 1e-9)\n",
               "landmark_transforms", t ? "arcface" : "dlib", nlm, worst);
        CHECK(worst <= 1e-9);
    }
    free(out);

    /* tiny_inputs: every image (mixed sizes, wider and taller ones) padded after it, at 224 */
    size_t tb = (size_t)IMAGES * 224 * 224 * 3;
    want = malloc(tb);
    got = malloc(tb);
    d = gpu_copy(g, &b1, NULL, tb);
    CHECK_OK(co->tiny_inputs(cs, host, IMAGES, 224, want));
    CHECK_OK(go->tiny_inputs(gs, g->images, IMAGES, 224, d));
    CHECK_OK(fr_exec_download(g->exec, got, d, tb));
    compare_bytes("tiny_inputs", got, want, tb);
    free(want);
    free(got);

    /* tiny_boxes over random 7x7 output maps (scores on both sides of the threshold) */
    enum { TINY_N = 3, TINY_CELLS = 7 };
    size_t per = TINY_CELLS * TINY_CELLS * 25, slots = TINY_CELLS * TINY_CELLS * 5;
    float *maps = malloc(TINY_N * per * sizeof *maps);
    for (size_t i = 0; i < TINY_N * per; i++)
        maps[i] = fr_test_uniform(&rng, -3.0f, 3.0f);
    fr_tiny_job tj[TINY_N];
    for (int j = 0; j < TINY_N; j++)
        tj[j] = (fr_tiny_job){j, TINY_CELLS, 1.0 + 0.3 * j, 1.0, (size_t)j * per, (size_t)j * slots};
    fr_cand *tw = calloc(TINY_N * slots, sizeof *tw), *tg = calloc(TINY_N * slots, sizeof *tg);
    int kw[TINY_N], kg[TINY_N];
    CHECK_OK(co->tiny_boxes(cs, maps, tj, TINY_N, 0.5, tw, kw));
    void *dmaps = gpu_copy(g, &b1, maps, TINY_N * per * sizeof *maps);
    void *tdc = gpu_copy(g, &b2, NULL, TINY_N * slots * sizeof *tg);
    CHECK_OK(go->tiny_boxes(gs, dmaps, tj, TINY_N, 0.5, tdc, kg));
    CHECK_OK(fr_exec_download(g->exec, tg, tdc, TINY_N * slots * sizeof *tg));
    int tiny_bad = 0, tiny_count = 0;
    double tiny_worst = 0;
    for (int j = 0; j < TINY_N; j++) {
        tiny_bad += kw[j] != kg[j];
        for (int i = 0; i < kw[j] && kw[j] == kg[j]; i++) {
            const fr_cand *a = &tg[(size_t)j * slots + i], *b = &tw[(size_t)j * slots + i];
            tiny_bad += a->image != b->image;
            tiny_worst = fmax(tiny_worst, fabs(a->score - b->score));
            for (int k = 0; k < 4; k++) /* CUDA's exp within an ulp or two of glibc's */
                tiny_worst = fmax(tiny_worst, fabs(a->box[k] - b->box[k]));
            tiny_count++;
        }
    }
    printf("%-20s %d candidates: %d counts or images differ, worst box/score difference %.2g "
           "(tolerance 1e-12)\n", "tiny_boxes", tiny_count, tiny_bad, tiny_worst);
    CHECK(tiny_bad == 0 && tiny_count > 0 && tiny_worst <= 1e-12);
    free(maps);
    free(tw);
    free(tg);
    fr_exec_buffer_free(g->exec, &b1);
    fr_exec_buffer_free(g->exec, &b2);
    fr_exec_buffer_free(g->exec, &b3);
}

static double iou(const float *a, const float *b)
{
    double w = fmin(a[2], b[2]) - fmax(a[0], b[0]), h = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (w <= 0 || h <= 0)
        return 0;
    double inter = w * h;
    return inter / (((double)a[2] - a[0]) * ((double)a[3] - a[1]) +
                    ((double)b[2] - b[0]) * ((double)b[3] - b[1]) - inter);
}

/* The detector and the 68-point chip chain on real images, CPU against GPU. */
static void check_pipeline(const char *data, const char *weights)
{
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/mtcnn.frw", weights);
    fr_mtcnn *mtcnn = NULL;
    CHECK_OK(fr_mtcnn_load(path, &mtcnn));
    snprintf(dir, sizeof dir, "%s/lfw_devtrain/images", data);
    char *args[1] = {dir};
    fr_path_list list = {0};
    CHECK_OK(fr_paths_collect(args, 1, &list, NULL, NULL));
    enum { N = 60 };
    if (list.count < N) /* a check that silently did nothing would pass on a card */
        fprintf(stderr, "test_cuda_vision: %zu LFW photos under %s, the pipeline check needs %d\n",
                list.count, dir, N);
    CHECK(list.count >= N);
    if (!mtcnn || list.count < N) {
        fr_paths_free(&list);
        fr_mtcnn_free(mtcnn);
        return;
    }
    fr_image images[N];
    const fr_image *image_of[4 * N];
    const fr_face *face_of[4 * N];
    for (int i = 0; i < N; i++)
        CHECK_OK(fr_image_load(list.paths[i * (list.count / N)], NULL, &images[i]));
    fr_model *net = NULL;
    snprintf(path, sizeof path, "%s/landmark68.frw", weights);
    CHECK_OK(fr_landmark68_load(path, &net));
    const fr_precision precisions[2] = {FR_PRECISION_FP32, FR_PRECISION_FP16};
    for (int p = 0; p < 2 && net; p++) {
        fr_detect_options cpu_opt = {0}, gpu_opt = {0};
        cpu_opt.runner.device = FR_DEVICE_CPU;
        gpu_opt.runner.device = FR_DEVICE_CUDA;
        gpu_opt.runner.precision = precisions[p];
        gpu_opt.runner.max_batch = 64;
        fr_detector *dc = NULL, *dg = NULL;
        CHECK_OK(fr_detector_new(mtcnn, &cpu_opt, &dc));
        CHECK_OK(fr_detector_new(mtcnn, &gpu_opt, &dg));
        if (!dc || !dg) {
            fr_detector_free(dc);
            fr_detector_free(dg);
            break;
        }
        fr_faces fc[N], fg[N];
        fr_face *copy = malloc(sizeof(fr_face) * 64 * N);
        int count[N];
        CHECK_OK(fr_detector_run(dc, images, N, fc));
        for (int i = 0; i < N; i++) {
            count[i] = fc[i].count < 64 ? fc[i].count : 64;
            memcpy(copy + 64 * i, fc[i].faces, sizeof(fr_face) * (size_t)count[i]);
        }
        CHECK_OK(fr_detector_run(dg, images, N, fg));
        int faces = 0, missed = 0, n = 0;
        double worst_iou = 1, worst_lm = 0;
        for (int i = 0; i < N; i++) {
            int main_face =
                fr_faces_main(&fc[i], images[i].width, images[i].height, FR_FACE_LARGEST);
            for (int k = 0; k < count[i]; k++) {
                if (p == 1 && k != main_face)
                    continue;
                const fr_face *a = &copy[64 * i + k];
                int best = -1;
                double best_iou = 0;
                for (int j = 0; j < fg[i].count; j++)
                    if (iou(a->box, fg[i].faces[j].box) > best_iou) {
                        best_iou = iou(a->box, fg[i].faces[j].box);
                        best = j;
                    }
                faces++;
                if (best < 0) {
                    missed++;
                    continue;
                }
                double lm = 0;
                for (int q = 0; q < 5; q++)
                    lm = fmax(lm, hypot(a->landmarks[q][0] - fg[i].faces[best].landmarks[q][0],
                                        a->landmarks[q][1] - fg[i].faces[best].landmarks[q][1]));
                worst_iou = fmin(worst_iou, best_iou);
                worst_lm = fmax(worst_lm, lm);
                if (k == main_face && n < 4 * N) {
                    image_of[n] = &images[i];
                    face_of[n++] = a;
                }
            }
        }
        printf("detector %s: %d faces, %d missed, worst IoU %.4f, worst landmark %.3f px\n",
               fr_precision_name(precisions[p]), faces, missed, worst_iou, worst_lm);
        CHECK(missed == 0 && worst_iou >= 0.95 && worst_lm <= 1.0);

        /* the 68-point chips of the main faces (the CPU's boxes for both) */
        fr_chip_spec spec;
        CHECK_OK(fr_chip_spec_for(fr_arch_find("dlib"), FR_ALIGN_LANDMARKS68, &spec));
        fr_chipper *cc = NULL, *cg = NULL;
        CHECK_OK(fr_chipper_new(&spec, net, &cpu_opt.runner, fr_detector_exec(dc), &cc));
        CHECK_OK(fr_chipper_new(&spec, net, &gpu_opt.runner, fr_detector_exec(dg), &cg));
        size_t chip = 150 * 150 * 3;
        uint8_t *a = malloc((size_t)n * chip), *b = malloc((size_t)n * chip);
        uint8_t *outs_a[4 * N], *outs_b[4 * N];
        for (int i = 0; i < n; i++) {
            outs_a[i] = a + (size_t)i * chip;
            outs_b[i] = b + (size_t)i * chip;
        }
        if (cc && cg) {
            CHECK_OK(fr_chipper_cut(cc, image_of, face_of, n, outs_a));
            CHECK_OK(fr_chipper_cut(cg, image_of, face_of, n, outs_b));
            double sum = 0;
            for (size_t k = 0; k < (size_t)n * chip; k++)
                sum += abs((int)a[k] - (int)b[k]);
            double mean = n ? sum / ((double)n * chip) : 0;
            printf("68-point chips %s: %d faces, mean absolute difference %.3f levels "
                   "(tolerance 2)\n", fr_precision_name(precisions[p]), n, mean);
            CHECK(n > N / 2 && mean <= 2.0);
        }
        free(a);
        free(b);
        fr_chipper_free(cc);
        fr_chipper_free(cg);
        free(copy);
        fr_detector_free(dc);
        fr_detector_free(dg);
    }
    fr_model_free(net);
    for (int i = 0; i < N; i++)
        fr_image_free(&images[i]);
    fr_paths_free(&list);
    fr_mtcnn_free(mtcnn);
}

int main(void)
{
    const char *data = fr_test_env("FACEREC_DATA");
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    if (fr_cuda_device_count() <= 0) {
        char why[512], line[600];
        fr_cuda_describe(0, why, sizeof why);
        snprintf(line, sizeof line, "no GPU (%s)", why);
        fr_test_skip(line);
    }
    fr_image images[IMAGES];
    fr_vision_image host[IMAGES];
    static const int sizes[IMAGES][2] = {{250, 250}, {97, 131}, {320, 180}, {40, 60}, {1280, 720}};
    fr_exec *cpu = NULL;
    side g = {0};
    CHECK_OK(fr_exec_new(FR_DEVICE_CPU, 2, &cpu));
    CHECK_OK(fr_exec_new(FR_DEVICE_CUDA, 0, &g.exec));
    if (!cpu || !g.exec)
        return fr_test_finish("test_cuda_vision");
    CHECK(strcmp(fr_exec_backend(g.exec), "cuda") == 0);
    size_t bytes = 0;
    for (int i = 0; i < IMAGES; i++) {
        images[i] = fr_case_image(&rng, sizes[i][0], sizes[i][1]);
        host[i] = (fr_vision_image){images[i].pixels, images[i].width, images[i].height};
        bytes += (size_t)images[i].width * images[i].height * 3;
    }
    CHECK_OK(fr_exec_reserve(g.exec, &g.pixels, bytes, "images"));
    for (int i = 0, at = 0; i < IMAGES; i++) {
        size_t size = (size_t)images[i].width * images[i].height * 3;
        CHECK_OK(fr_exec_upload(g.exec, (uint8_t *)g.pixels.data + at, images[i].pixels, size));
        g.images[i] = (fr_vision_image){(uint8_t *)g.pixels.data + at, images[i].width,
                                        images[i].height};
        at += (int)size;
    }
    check_ops(cpu, &g, images, host);
    check_pipeline(data, weights);
    fr_exec_buffer_free(g.exec, &g.pixels);
    fr_exec_free(g.exec);
    fr_exec_free(cpu);
    for (int i = 0; i < IMAGES; i++)
        fr_image_free(&images[i]);
    return fr_test_finish("test_cuda_vision");
}
