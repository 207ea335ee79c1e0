/*
 * test_vision.c: the CPU's vision operations (runtime/vision.h, src/cpu/cpu_vision.c), the
 * reference every CUDA twin is tested against, on random inputs (tests/vision_cases.h):
 *
 *   nms            against a plain O(n^2) greedy selection written here (rank by score then
 *                  position, keep a candidate no kept better one overlaps by more than the
 *                  threshold), in every variant the detector uses (per level, per image with
 *                  P-Net's regression, after R-Net's threshold, O-Net's landmarks and the
 *                  overlap over the smaller area, and the tiny detector's over continuous
 *                  boxes); segments empty, single, large
 *   pnet_cells     against a loop over the cells in x-major order
 *   gather         copies land where they are told
 *   resize_area, crop_resize, landmark_crops, facenet_crops, warp_chips,
 *   landmark_transforms
 *                  against the single-image functions (image/ and detect/, themselves checked
 *                  against OpenCV, face-api, Pillow and dlib's geometry by test_resize,
 *                  test_resize_faceapi, test_detect_ref, test_align): equal bytes
 *
 * Every operation runs on a context of 1 and of 3 threads: the results must not depend on
 * the threads (exactly equal).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/align.h"
#include "detect/landmarks.h"
#include "image/resize_area.h"
#include "image/warp.h"
#include "model/model_internal.h"
#include "runtime/vision_math.h"
#include "testutil.h"
#include "vision_cases.h"

#define IMAGES 5

static uint64_t rng = 77;

/* ---- NMS against a plain greedy selection ---------------------------------------------------- */

static double plain_overlap(const double *a, const double *b, int use_min, int continuous)
{
    double one = continuous ? 0 : 1;
    double wa = a[2] - a[0] + one, ha = a[3] - a[1] + one, wb = b[2] - b[0] + one,
           hb = b[3] - b[1] + one;
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]) + one;
    double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]) + one;
    double inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
    return use_min ? inter / fmin(wa * ha, wb * hb) : inter / (wa * ha + wb * hb - inter);
}

/* One segment: returns the kept count, picks into out in score order. */
static int plain_nms(const fr_cand *in, int n, const fr_nms_spec *spec, fr_cand *out)
{
    fr_cand *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    int *rank = malloc((size_t)(n ? n : 1) * sizeof *rank), m = 0;
    for (int i = 0; i < n; i++)
        if (!spec->filter || in[i].score > spec->min_score) {
            c[m] = in[i];
            fr_vm_box_step(&c[m], spec->before);
            m++;
        }
    /* selection by (score desc, position asc) */
    char *used = calloc((size_t)(m ? m : 1), 1);
    for (int r = 0; r < m; r++) {
        int best = -1;
        for (int i = 0; i < m; i++)
            if (!used[i] && (best < 0 || c[i].score > c[best].score))
                best = i;
        used[best] = 1;
        rank[r] = best;
    }
    int kept = 0;
    for (int r = 0; r < m; r++) {
        const fr_cand *x = &c[rank[r]];
        int suppressed = 0;
        for (int k = 0; k < kept && !suppressed; k++) {
            /* the picks were stepped after; compare with their boxes before. numpy keeps
             * o <= threshold, so an undefined overlap (0 / 0, two empty boxes) suppresses */
            suppressed = !(plain_overlap(c[rank[k]].box, x->box, spec->use_min, spec->continuous) <=
                           spec->threshold);
        }
        if (!suppressed)
            rank[kept++] = rank[r];
    }
    for (int k = 0; k < kept; k++) {
        out[k] = c[rank[k]];
        fr_vm_box_step(&out[k], spec->after);
    }
    free(c);
    free(rank);
    free(used);
    return kept;
}

static int same_cand(const fr_cand *a, const fr_cand *b)
{
    return memcmp(a->box, b->box, sizeof a->box) == 0 && a->score == b->score &&
           memcmp(a->points, b->points, sizeof a->points) == 0 && a->image == b->image;
}

static void check_nms(fr_exec *exec, const fr_image *images)
{
    static const fr_nms_spec specs[5] = {
        {0.5, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 0}, {0.7, 0, 0, 0, FR_BOX_KEEP, FR_BOX_PNET, 0},
        {0.7, 0, 1, 0.5, FR_BOX_KEEP, FR_BOX_RNET, 0}, {0.7, 1, 1, 0.4, FR_BOX_ONET, FR_BOX_KEEP, 0},
        {0.4, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 1}}; /* the tiny detector's: continuous boxes */
    static const int sizes[7] = {0, 1, 2, 37, 300, 5, 1200};
    int total = 0;
    fr_segment seg[7];
    for (int s = 0; s < 7; s++) {
        seg[s] = (fr_segment){(size_t)total + 3, sizes[s]}; /* gaps between segments */
        total += sizes[s] + 3;
    }
    fr_cand *orig = malloc((size_t)total * sizeof *orig);
    fr_cand *ours = malloc((size_t)total * sizeof *ours);
    fr_cand *want = malloc((size_t)total * sizeof *want);
    /* clustered boxes, so that suppression happens */
    fr_case_cands(&rng, images, IMAGES, orig, total);
    for (int i = 1; i < total; i++)
        if (fr_test_rand(&rng) % 3 == 0) {
            orig[i].image = orig[i - 1].image;
            for (int k = 0; k < 4; k++)
                orig[i].box[k] = orig[i - 1].box[k] + (double)(fr_test_rand(&rng) % 7) - 3;
        }
    int mismatches = 0, kept_total = 0;
    for (int v = 0; v < 5; v++) {
        memcpy(ours, orig, (size_t)total * sizeof *ours);
        int kept[7];
        CHECK_OK(fr_exec_ops(exec)->nms(fr_exec_state(exec), ours, seg, 7, &specs[v], kept));
        for (int s = 0; s < 7; s++) {
            int k = plain_nms(orig + seg[s].first, seg[s].count, &specs[v], want);
            kept_total += k;
            if (k != kept[s]) {
                printf("variant %d segment %d: kept %d, want %d\n", v, s, kept[s], k);
                mismatches++;
                continue;
            }
            for (int i = 0; i < k; i++)
                mismatches += !same_cand(&ours[seg[s].first + i], &want[i]);
        }
    }
    printf("nms: 5 variants x 7 segments (%d candidates), %d kept, %d mismatches\n", total,
           kept_total, mismatches);
    CHECK(mismatches == 0);
    CHECK(kept_total > 100); /* suppression and filtering happened, and picks remained */
    free(orig);
    free(ours);
    free(want);
}

/* ---- P-Net cells, gather ------------------------------------------------------------------- */

static void check_cells(fr_exec *exec)
{
    fr_pnet_job jobs[3] = {
        {0, 0, 0.6, 17, 23, 0, 0}, {2, 3, 0.21, 1, 1, 0, 0}, {1, 1, 0.35, 9, 4, 0, 0}};
    size_t floats = 0, cells = 0;
    for (int j = 0; j < 3; j++) {
        jobs[j].outputs = floats;
        jobs[j].first = cells;
        floats += (size_t)jobs[j].xcells * jobs[j].ycells * 6;
        cells += (size_t)jobs[j].xcells * jobs[j].ycells;
    }
    float *out = malloc(floats * sizeof *out);
    for (size_t i = 0; i < floats; i++)
        out[i] = fr_test_uniform(&rng, -3, 3);
    fr_cand *c = calloc(cells, sizeof *c);
    int counts[3];
    CHECK_OK(fr_exec_ops(exec)->pnet_cells(fr_exec_state(exec), out, jobs, 3, 0.6, c, counts));
    int bad = 0, found = 0;
    for (int j = 0; j < 3; j++) {
        int n = 0;
        for (int x = 0; x < jobs[j].xcells; x++)
            for (int y = 0; y < jobs[j].ycells; y++) {
                const float *o = out + jobs[j].outputs + ((size_t)x * jobs[j].ycells + y) * 6;
                double p = 1.0 / (1.0 + exp((double)o[0] - (double)o[1]));
                if (p < 0.6)
                    continue;
                const fr_cand *d = &c[jobs[j].first + (size_t)n++];
                double s = jobs[j].scale;
                bad += d->box[0] != trunc((2.0 * x + 1) / s) ||
                       d->box[3] != trunc((2.0 * y + 12) / s) ||
                       d->score != p || d->reg[3] != o[5] || d->image != jobs[j].image ||
                       d->level != jobs[j].level;
            }
        bad += n != counts[j];
        found += n;
    }
    printf("pnet_cells: %d cells over the threshold, %d wrong\n", found, bad);
    CHECK(bad == 0 && found > 20);

    fr_cand *dst = calloc(cells, sizeof *dst);
    fr_copy copies[2] = {{5, 0, 4}, {0, 4, 2}};
    CHECK_OK(fr_exec_ops(exec)->gather(fr_exec_state(exec), c, copies, 2, dst));
    CHECK(same_cand(&dst[0], &c[5]) && same_cand(&dst[3], &c[8]) && same_cand(&dst[4], &c[0]) &&
          same_cand(&dst[5], &c[1]));
    free(out);
    free(c);
    free(dst);
}

/* ---- pixels ------------------------------------------------------------------------------- */

static int count_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static void check_pixels(fr_exec *exec, const fr_image *images, const fr_vision_image *vis)
{
    const fr_vision_ops *ops = fr_exec_ops(exec);
    void *vs = fr_exec_state(exec);
    fr_scratch scratch = {0};

    /* resize_area: shrinking (integer and not), enlarging, the same size */
    fr_resize_job jobs[6];
    size_t at = 0;
    for (int j = 0; j < 6; j++) {
        const fr_image *im = &images[j % IMAGES];
        double f = j == 0 ? 0.5 : j == 1 ? 1.0 : j == 2 ? 1.3 : 0.17 + 0.13 * j;
        int w = (int)ceil(im->width * f), h = (int)ceil(im->height * f);
        jobs[j] = (fr_resize_job){j % IMAGES, w, h, at};
        at += (size_t)w * h * 3;
    }
    uint8_t *ours = malloc(at), *want = malloc(at);
    CHECK_OK(ops->resize_area(vs, vis, IMAGES, jobs, 6, ours));
    for (int j = 0; j < 6; j++) {
        const fr_image *im = &images[jobs[j].image];
        CHECK_OK(fr_resize_area_u8(im->pixels, im->width, im->height, want + jobs[j].offset,
                                   jobs[j].width, jobs[j].height, &scratch));
    }
    CHECK(count_diff(ours, want, at) == 0);
    free(ours);
    free(want);

    /* crop_resize: detect_face's padded crops, both sizes */
    enum { CROPS = 200 };
    fr_cand *c = malloc(CROPS * sizeof *c);
    fr_case_cands(&rng, images, IMAGES, c, CROPS);
    for (int size = 24; size <= 48; size += 24) {
        size_t bytes = (size_t)size * size * 3;
        ours = malloc(CROPS * bytes);
        want = malloc(CROPS * bytes);
        float *f = malloc(bytes * sizeof *f);
        CHECK_OK(ops->crop_resize(vs, vis, IMAGES, c, CROPS, size, ours));
        for (int i = 0; i < CROPS; i++) {
            const fr_image *im = &images[c[i].image];
            int x1 = (int)c[i].box[0], y1 = (int)c[i].box[1];
            int tw = (int)c[i].box[2] - x1 + 1, th = (int)c[i].box[3] - y1 + 1;
            uint8_t *dst = want + (size_t)i * bytes;
            if (tw <= 0 || th <= 0) {
                memset(dst, 0, bytes);
                continue;
            }
            /* the padded crop, written out: 1-based corner x1 is column x1 - 1 */
            uint8_t *crop = calloc((size_t)tw * th, 3);
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++) {
                    int ix = x1 - 1 + x, iy = y1 - 1 + y;
                    if (ix >= 0 && iy >= 0 && ix < im->width && iy < im->height)
                        memcpy(crop + ((size_t)y * tw + x) * 3,
                               im->pixels + ((size_t)iy * im->width + ix) * 3, 3);
                }
            CHECK_OK(fr_resize_area_f32(crop, (size_t)tw * 3, tw, th, f, size, size, &scratch));
            for (size_t k = 0; k < bytes; k++) {
                float v = rintf(f[k]);
                dst[k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
            }
            free(crop);
        }
        CHECK(count_diff(ours, want, CROPS * bytes) == 0);
        free(ours);
        free(want);
        free(f);
    }
    free(c);

    /* the alignment crops and warps of random faces */
    enum { FACES = 40 };
    fr_crop_job lm_jobs[FACES], fn_jobs[FACES];
    fr_landmark_frame frames[FACES];
    fr_face faces[FACES];
    int image_of[FACES], nlm = 0, nfn = 0;
    double m[FACES * 6];
    for (int i = 0; i < FACES; i++) {
        image_of[i] = i % IMAGES;
        const fr_image *im = &images[image_of[i]];
        faces[i] = fr_case_face(&rng, im->width, im->height);
        if (fr_landmark68_region(im->width, im->height, &faces[i], &lm_jobs[nlm],
                                 &frames[nlm]) == FR_OK)
            lm_jobs[nlm++].image = image_of[i];
        if (fr_facenet_region(im->width, im->height, &faces[i], 32, &fn_jobs[nfn]) == FR_OK)
            fn_jobs[nfn++].image = image_of[i];
        fr_dlib_chip_transform(&faces[i], 150, FR_DLIB_CHIP_PADDING, m + 6 * i);
    }
    CHECK(nlm > FACES / 2 && nfn > FACES / 2);
    size_t lm_bytes = (size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3;
    ours = malloc(FACES * 160 * 160 * 3); /* the largest: FaceNet's crops */
    want = malloc(FACES * 160 * 160 * 3);
    CHECK_OK(ops->landmark_crops(vs, vis, IMAGES, lm_jobs, nlm, FR_LANDMARK68_SIZE, ours));
    for (int i = 0, k = 0; i < FACES; i++) {
        fr_landmark_frame f;
        if (fr_landmark68_input(&images[image_of[i]], &faces[i], want + (size_t)k * lm_bytes,
                                &f) == FR_OK) {
            CHECK(f.crop_w == frames[k].crop_w && f.box_x == frames[k].box_x);
            k++;
        }
    }
    CHECK(count_diff(ours, want, (size_t)nlm * lm_bytes) == 0);

    CHECK_OK(ops->facenet_crops(vs, vis, IMAGES, fn_jobs, nfn, 160, ours));
    for (int i = 0, k = 0; i < FACES; i++)
        if (fr_align_facenet(&images[image_of[i]], &faces[i], 160, 32, &scratch,
                             want + (size_t)k * 160 * 160 * 3) == FR_OK)
            k++;
    CHECK(count_diff(ours, want, (size_t)nfn * 160 * 160 * 3) == 0);

    CHECK_OK(ops->warp_chips(vs, vis, IMAGES, image_of, m, FACES, 150, FR_SAMPLE_DLIB, ours));
    for (int i = 0; i < FACES; i++)
        CHECK_OK(fr_align_dlib(&images[image_of[i]], &faces[i], 150, FR_DLIB_CHIP_PADDING, &scratch,
                               want + (size_t)i * 150 * 150 * 3));
    CHECK(count_diff(ours, want, (size_t)FACES * 150 * 150 * 3) == 0);
    /* ArcFace: InsightFace's mapping from the five points, OpenCV's sampler */
    double am[FACES * 6];
    for (int i = 0; i < FACES; i++) {
        double p5[5][2];
        fr_face_points5(&faces[i], NULL, p5);
        fr_arcface_chip_transform(p5, 112, am + 6 * i);
        CHECK_OK(fr_align_arcface(&images[image_of[i]], p5, 112, want + (size_t)i * 112 * 112 * 3));
    }
    CHECK_OK(ops->warp_chips(vs, vis, IMAGES, image_of, am, FACES, 112, FR_SAMPLE_AFFINE, ours));
    CHECK(count_diff(ours, want, (size_t)FACES * 112 * 112 * 3) == 0);
    double bad_m[6] = {NAN, 0, 0, 0, 1, 0};
    CHECK(ops->warp_chips(vs, vis, IMAGES, image_of, bad_m, 1, 150, FR_SAMPLE_DLIB, ours) ==
          FR_E_INVALID);
    CHECK(ops->warp_chips(vs, vis, IMAGES, image_of, bad_m, 1, 112, FR_SAMPLE_AFFINE, ours) ==
          FR_E_INVALID);

    /* landmark_transforms: the outputs mapped back and fitted as the host does it */
    float *outputs = malloc((size_t)nlm * 136 * sizeof *outputs);
    for (int i = 0; i < nlm * 136; i++)
        outputs[i] = fr_test_uniform(&rng, 0.1f, 0.9f);
    fr_chip_template chip, arc;
    chip.fit = FR_FIT_DLIB;
    chip.size = 150;
    chip.count = fr_dlib_template68(150, FR_DLIB_CHIP_PADDING, chip.index, chip.points);
    arc.fit = FR_FIT_ARCFACE;
    arc.size = 112;
    arc.count = FR_LANDMARK68_COUNT;
    for (int k = 0; k < FR_LANDMARK68_COUNT; k++)
        arc.index[k] = k;
    double mo[FACES * 6], ma[FACES * 6];
    CHECK_OK(ops->landmark_transforms(vs, outputs, FR_LANDMARK68_SIZE, frames, nlm, &chip, mo));
    CHECK_OK(ops->landmark_transforms(vs, outputs, FR_LANDMARK68_SIZE, frames, nlm, &arc, ma));
    int mismatch = 0;
    for (int i = 0; i < nlm; i++) {
        fr_landmarks68 points;
        double mw[6], p5[5][2];
        fr_landmark68_map(&frames[i], outputs + (size_t)i * 136, &points);
        fr_dlib_chip_transform68(&points, 150, FR_DLIB_CHIP_PADDING, mw);
        mismatch += memcmp(mw, mo + 6 * i, sizeof mw) != 0;
        fr_face_points5(&faces[0], &points, p5);
        fr_arcface_chip_transform(p5, 112, mw);
        mismatch += memcmp(mw, ma + 6 * i, sizeof mw) != 0;
    }
    CHECK(mismatch == 0);
    printf("pixels: resize_area, crop_resize (%d x 2), landmark_crops (%d), facenet_crops (%d), "
           "warp_chips (%d), landmark_transforms (%d mismatched)\n",
           CROPS, nlm, nfn, FACES, mismatch);
    free(outputs);
    free(ours);
    free(want);
    fr_scratch_free(&scratch);
}

int main(void)
{
    fr_image images[IMAGES];
    fr_vision_image vis[IMAGES];
    static const int sizes[IMAGES][2] = {{250, 250}, {97, 131}, {320, 180}, {40, 60}, {501, 377}};
    for (int i = 0; i < IMAGES; i++) {
        images[i] = fr_case_image(&rng, sizes[i][0], sizes[i][1]);
        vis[i] = (fr_vision_image){images[i].pixels, images[i].width, images[i].height};
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        fr_exec *exec = NULL;
        CHECK_OK(fr_exec_new(FR_DEVICE_CPU, threads, &exec));
        if (!exec)
            break;
        CHECK(strcmp(fr_exec_backend(exec), "cpu") == 0);
        uint64_t saved = rng;
        check_nms(exec, images);
        check_cells(exec);
        check_pixels(exec, images, vis);
        rng = saved; /* the same cases on both contexts */
        fr_exec_free(exec);
    }
    for (int i = 0; i < IMAGES; i++)
        fr_image_free(&images[i]);
    return fr_test_finish("test_vision");
}
