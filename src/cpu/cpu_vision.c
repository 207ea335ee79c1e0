/*
 * cpu_vision.c: the vision operations on the CPU (runtime/vision.h), the reference every GPU
 * twin is tested against. Context memory is host memory; each operation spreads its jobs,
 * candidates or segments over the context's pool, each worker with its own scratch. The
 * pixel work is image/'s exact resamplers (OpenCV's INTER_AREA, face-api's and Pillow's
 * bilinear rules, dlib's chip sampler), the box and landmark arithmetic runtime/vision_math.h.
 *
 * A failing task keeps the first error (its status and message, taken from the worker's
 * thread) and the call returns it on the calling thread.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "image/resize.h"
#include "image/resize_area.h"
#include "image/warp.h"
#include "runtime/vision_math.h"

#define MAX_CROP_SIDE 16384 /* a candidate box longer than this is degenerate */

typedef struct worker {
    fr_scratch area, pixels, floats, index;
} worker;

typedef struct cpu_vision {
    fr_pool *pool;
    worker *workers;
    pthread_mutex_t lock;
    fr_status status; /* the first failure of the call in progress */
    char error[1024];
} cpu_vision;

static void task_failed(cpu_vision *v, fr_status st)
{
    pthread_mutex_lock(&v->lock);
    if (!v->status) {
        v->status = st;
        fr_error_save(v->error, sizeof v->error);
    }
    pthread_mutex_unlock(&v->lock);
}

/* Runs n tasks over the pool and returns the first failure, its message restored here. */
static fr_status run_tasks(cpu_vision *v, int n, fr_pool_fn fn, void *ctx)
{
    v->status = FR_OK;
    if (n > 0)
        fr_pool_run(v->pool, n, fn, ctx);
    if (v->status)
        fr_error_restore(v->error);
    return v->status;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static fr_status cpu_open(int threads, void **out)
{
    cpu_vision *v = fr_calloc(1, sizeof *v, "the CPU vision operations");
    if (!v)
        return FR_E_NOMEM;
    fr_status st = fr_pool_new(threads, &v->pool);
    if (!st && !(v->workers = fr_calloc((size_t)fr_pool_threads(v->pool), sizeof *v->workers,
                                        "the CPU vision operations")))
        st = FR_E_NOMEM;
    if (st) {
        fr_pool_free(v->pool);
        free(v);
        return st;
    }
    pthread_mutex_init(&v->lock, NULL);
    *out = v;
    return FR_OK;
}

static void cpu_close(void *state)
{
    cpu_vision *v = state;
    if (!v)
        return;
    for (int i = 0; v->workers && i < fr_pool_threads(v->pool); i++) {
        worker *w = &v->workers[i];
        fr_scratch_free(&w->area);
        fr_scratch_free(&w->pixels);
        fr_scratch_free(&w->floats);
        fr_scratch_free(&w->index);
    }
    free(v->workers);
    fr_pool_free(v->pool);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static fr_status cpu_alloc(void *state, size_t bytes, void **ptr)
{
    (void)state;
    *ptr = fr_aligned_alloc(bytes ? bytes : 64, "working memory");
    return *ptr ? FR_OK : FR_E_NOMEM;
}

static void cpu_release(void *state, void *ptr)
{
    (void)state;
    free(ptr);
}

static fr_status cpu_copy(void *state, void *dst, const void *src, size_t bytes)
{
    (void)state;
    if (dst != src)
        memmove(dst, src, bytes);
    return FR_OK;
}

static fr_status cpu_sync(void *state)
{
    (void)state;
    return FR_OK;
}

/* ---- the pyramid --------------------------------------------------------------------------- */

typedef struct resize_ctx {
    cpu_vision *v;
    const fr_vision_image *images;
    const fr_resize_job *jobs;
    uint8_t *dst;
} resize_ctx;

static void resize_task(void *ctx, int task, int worker_id)
{
    const resize_ctx *c = ctx;
    const fr_resize_job *j = &c->jobs[task];
    const fr_vision_image *im = &c->images[j->image];
    fr_status st = fr_resize_area_u8(im->pixels, im->width, im->height, c->dst + j->offset,
                                     j->width, j->height, &c->v->workers[worker_id].area);
    if (st)
        task_failed(c->v, st);
}

static fr_status cpu_resize_area(void *state, const fr_vision_image *images, int nimages,
                                 const fr_resize_job *jobs, int n, uint8_t *dst)
{
    (void)nimages;
    resize_ctx c = {state, images, jobs, dst};
    return run_tasks(state, n, resize_task, &c);
}

/* ---- P-Net cells --------------------------------------------------------------------------- */

typedef struct cells_ctx {
    const float *outputs;
    const fr_pnet_job *jobs;
    double threshold;
    fr_cand *cands;
    int *counts;
} cells_ctx;

static void cells_task(void *ctx, int task, int worker_id)
{
    (void)worker_id;
    const cells_ctx *c = ctx;
    const fr_pnet_job *j = &c->jobs[task];
    fr_cand *out = c->cands + j->first;
    int count = 0;
    for (int x = 0; x < j->xcells; x++)
        for (int y = 0; y < j->ycells; y++) {
            const float *o = c->outputs + j->outputs + ((size_t)x * j->ycells + y) * 6;
            double p = fr_vm_face_probability(o[0], o[1]);
            if (!(p >= c->threshold))
                continue;
            fr_cand *d = &out[count++];
            memset(d, 0, sizeof *d);
            fr_vm_cell_box(x, y, j->scale, d->box);
            d->score = p;
            for (int k = 0; k < 4; k++)
                d->reg[k] = o[2 + k];
            d->image = j->image;
            d->level = j->level;
        }
    c->counts[task] = count;
}

static fr_status cpu_pnet_cells(void *state, const float *outputs, const fr_pnet_job *jobs, int n,
                                double threshold, fr_cand *cands, int *counts)
{
    cells_ctx c = {outputs, jobs, threshold, cands, counts};
    return run_tasks(state, n, cells_task, &c);
}

/* ---- TinyFaceDetector ---------------------------------------------------------------------- */

typedef struct tiny_ctx {
    cpu_vision *v;
    const fr_vision_image *images;
    int size;
    uint8_t *out;
    const float *outputs;
    const fr_tiny_job *jobs;
    double threshold;
    fr_cand *cands;
    int *counts;
} tiny_ctx;

static void tiny_inputs_task(void *ctx, int task, int worker_id)
{
    (void)worker_id;
    const tiny_ctx *c = ctx;
    const fr_vision_image *im = &c->images[task];
    fr_status st = fr_resize_faceapi_padded(im->pixels, im->width, im->height,
                                            c->out + (size_t)task * c->size * c->size * 3,
                                            c->size, 0);
    if (st)
        task_failed(c->v, st);
}

static fr_status cpu_tiny_inputs(void *state, const fr_vision_image *images, int n, int size,
                                 uint8_t *out)
{
    tiny_ctx c = {.v = state, .images = images, .size = size, .out = out};
    return run_tasks(state, n, tiny_inputs_task, &c);
}

static void tiny_boxes_task(void *ctx, int task, int worker_id)
{
    (void)worker_id;
    const tiny_ctx *c = ctx;
    const fr_tiny_job *j = &c->jobs[task];
    const float *o = c->outputs + j->outputs;
    fr_cand *out = c->cands + j->first;
    int count = 0;
    for (int row = 0; row < j->cells; row++)
        for (int col = 0; col < j->cells; col++)
            for (int a = 0; a < 5; a++) {
                double box[4];
                double score = fr_vm_tiny_box(o + ((size_t)row * j->cells + (size_t)col) * 25,
                                              row, col, a, j->cells, j->fx, j->fy, box);
                if (!(score > c->threshold))
                    continue;
                fr_cand *k = &out[count++];
                memset(k, 0, sizeof *k);
                memcpy(k->box, box, sizeof box);
                k->score = score;
                k->image = j->image;
            }
    c->counts[task] = count;
}

static fr_status cpu_tiny_boxes(void *state, const float *outputs, const fr_tiny_job *jobs, int n,
                                double threshold, fr_cand *cands, int *counts)
{
    tiny_ctx c = {.v = state, .outputs = outputs, .jobs = jobs, .threshold = threshold,
                  .cands = cands, .counts = counts};
    return run_tasks(state, n, tiny_boxes_task, &c);
}

/* ---- NMS ------------------------------------------------------------------------------------- */

typedef struct nms_ctx {
    cpu_vision *v;
    fr_cand *cands;
    const fr_segment *segments;
    const fr_nms_spec *spec;
    int *kept;
} nms_ctx;

static int by_score(const void *a, const void *b, void *ctx)
{
    const fr_cand *c = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    return fr_vm_before(c, i, j) ? -1 : fr_vm_before(c, j, i) ? 1 : 0;
}

static void nms_task(void *ctx, int task, int worker_id)
{
    const nms_ctx *x = ctx;
    const fr_nms_spec *spec = x->spec;
    worker *w = &x->v->workers[worker_id];
    fr_cand *c = x->cands + x->segments[task].first;
    int n = x->segments[task].count, m = 0;
    for (int i = 0; i < n; i++)
        if (!spec->filter || c[i].score > spec->min_score)
            c[m++] = c[i];
    n = m;
    for (int i = 0; i < n; i++)
        fr_vm_box_step(&c[i], spec->before);
    int *idx = fr_scratch_get(&w->index, 2 * (size_t)(n ? n : 1) * sizeof(int), "candidates");
    fr_cand *picks = fr_scratch_get(&w->floats, (size_t)(n ? n : 1) * sizeof *picks, "candidates");
    if (!idx || !picks) {
        task_failed(x->v, FR_E_NOMEM);
        return;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    if (n > 1)
        qsort_r(idx, (size_t)n, sizeof *idx, by_score, c);
    int count = 0;
    m = n;
    while (m > 0) {
        const fr_cand *a = &c[idx[0]];
        picks[count++] = *a;
        int k = 0;
        for (int j = 1; j < m; j++)
            if (fr_vm_overlap(a->box, c[idx[j]].box, spec->use_min,
                              spec->continuous ? 0.0 : 1.0) <= spec->threshold)
                idx[k++] = idx[j];
        m = k;
    }
    for (int i = 0; i < count; i++) {
        c[i] = picks[i];
        fr_vm_box_step(&c[i], spec->after);
    }
    x->kept[task] = count;
}

static fr_status cpu_nms(void *state, fr_cand *cands, const fr_segment *segments, int n,
                         const fr_nms_spec *spec, int *kept)
{
    nms_ctx c = {state, cands, segments, spec, kept};
    return run_tasks(state, n, nms_task, &c);
}

static fr_status cpu_gather(void *state, const fr_cand *src, const fr_copy *copies, int n,
                            fr_cand *dst)
{
    (void)state;
    for (int i = 0; i < n; i++)
        if (copies[i].count > 0)
            memmove(dst + copies[i].to, src + copies[i].from,
                    (size_t)copies[i].count * sizeof *dst);
    return FR_OK;
}

/* ---- crops of the candidates ----------------------------------------------------------------- */

typedef struct crop_ctx {
    cpu_vision *v;
    const fr_vision_image *images;
    const fr_cand *cands;
    int size;
    uint8_t *out;
} crop_ctx;

/* detect_face's pad() and crop: the box's pixels (zeros outside the image) resized to
 * size x size with INTER_AREA, rounded to 8 bits. */
static fr_status crop_one(worker *w, const fr_vision_image *im, const double *box, int size,
                          uint8_t *dst)
{
    int x1 = (int)box[0], y1 = (int)box[1], x2 = (int)box[2], y2 = (int)box[3];
    long tw = (long)x2 - x1 + 1, th = (long)y2 - y1 + 1;
    size_t out = (size_t)size * size * 3;
    if (tw <= 0 || th <= 0 || tw > MAX_CROP_SIDE || th > MAX_CROP_SIDE) {
        memset(dst, 0, out); /* a degenerate box: a black crop, which no stage passes */
        return FR_OK;
    }
    /* 1-based columns max(x1, 1)..min(x2, W) of the image land at x - x1 in the crop */
    int sx1 = x1 > 1 ? x1 : 1, sy1 = y1 > 1 ? y1 : 1;
    int sx2 = x2 < im->width ? x2 : im->width, sy2 = y2 < im->height ? y2 : im->height;
    const uint8_t *src;
    size_t stride;
    if (sx1 == x1 && sy1 == y1 && sx2 == x2 && sy2 == y2) {
        /* inside the image: resized straight from it */
        src = im->pixels + ((size_t)(y1 - 1) * im->width + (size_t)(x1 - 1)) * 3;
        stride = (size_t)im->width * 3;
    } else {
        size_t bytes = (size_t)tw * (size_t)th * 3;
        uint8_t *canvas = fr_scratch_get(&w->pixels, bytes, "pixels");
        if (!canvas)
            return FR_E_NOMEM;
        memset(canvas, 0, bytes);
        for (int y = sy1; y <= sy2; y++)
            if (sx1 <= sx2)
                memcpy(canvas + ((size_t)(y - y1) * (size_t)tw + (size_t)(sx1 - x1)) * 3,
                       im->pixels + ((size_t)(y - 1) * im->width + (size_t)(sx1 - 1)) * 3,
                       (size_t)(sx2 - sx1 + 1) * 3);
        src = canvas;
        stride = (size_t)tw * 3;
    }
    float *crop = fr_scratch_get(&w->floats, out * sizeof(float), "a crop");
    if (!crop)
        return FR_E_NOMEM;
    fr_status st = fr_resize_area_f32(src, stride, (int)tw, (int)th, crop, size, size, &w->area);
    if (st)
        return st;
    for (size_t i = 0; i < out; i++) {
        float v = rintf(crop[i]);
        dst[i] = (uint8_t)(v <= 0.0f ? 0.0f : v >= 255.0f ? 255.0f : v);
    }
    return FR_OK;
}

static void crop_task(void *ctx, int task, int worker_id)
{
    const crop_ctx *c = ctx;
    const fr_cand *cand = &c->cands[task];
    size_t bytes = (size_t)c->size * c->size * 3;
    fr_status st = crop_one(&c->v->workers[worker_id], &c->images[cand->image], cand->box,
                            c->size, c->out + (size_t)task * bytes);
    if (st)
        task_failed(c->v, st);
}

static fr_status cpu_crop_resize(void *state, const fr_vision_image *images, int nimages,
                                 const fr_cand *cands, int n, int size, uint8_t *out)
{
    (void)nimages;
    crop_ctx c = {state, images, cands, size, out};
    return run_tasks(state, n, crop_task, &c);
}

static fr_status cpu_read_net(void *state, fr_cand *cands, int n, const float *outputs,
                              int stride, int points)
{
    (void)state;
    for (int i = 0; i < n; i++) {
        const float *o = outputs + (size_t)i * stride;
        fr_cand *c = &cands[i];
        c->score = fr_vm_face_probability(o[0], o[1]);
        for (int r = 0; r < 4; r++)
            c->reg[r] = o[2 + r];
        if (points)
            for (int r = 0; r < 10; r++)
                c->points[r] = o[6 + r];
    }
    return FR_OK;
}

/* ---- alignment ------------------------------------------------------------------------------- */

typedef struct align_ctx {
    cpu_vision *v;
    const fr_vision_image *images;
    const fr_crop_job *jobs;
    const int *image_of;
    const double *m;
    int size;
    uint8_t *out;
    int facenet;             /* crops: Pillow's bilinear (else face-api's) */
    fr_chip_sampler sampler; /* warps */
} align_ctx;

/* A region of an image, contiguous (the resamplers take whole images). */
static const uint8_t *region(worker *w, const fr_vision_image *im, const fr_crop_job *j)
{
    uint8_t *crop = fr_scratch_get(&w->pixels, (size_t)j->width * (size_t)j->height * 3,
                                   "a face crop");
    if (!crop)
        return NULL;
    for (int r = 0; r < j->height; r++)
        memcpy(crop + (size_t)r * j->width * 3,
               im->pixels + ((size_t)(j->y + r) * im->width + (size_t)j->x) * 3,
               (size_t)j->width * 3);
    return crop;
}

static void crops_task(void *ctx, int task, int worker_id)
{
    const align_ctx *c = ctx;
    const fr_crop_job *j = &c->jobs[task];
    uint8_t *dst = c->out + (size_t)task * c->size * c->size * 3;
    const uint8_t *crop = region(&c->v->workers[worker_id], &c->images[j->image], j);
    fr_status st = !crop        ? FR_E_NOMEM
                   : c->facenet ? fr_resize_bilinear_pil(crop, j->width, j->height, dst, c->size,
                                                         c->size)
                                : fr_resize_faceapi(crop, j->width, j->height, dst, c->size);
    if (st)
        task_failed(c->v, st);
}

static fr_status cpu_landmark_crops(void *state, const fr_vision_image *images, int nimages,
                                    const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    (void)nimages;
    align_ctx c = {state, images, jobs, NULL, NULL, size, out, 0, FR_SAMPLE_DLIB};
    return run_tasks(state, n, crops_task, &c);
}

static fr_status cpu_facenet_crops(void *state, const fr_vision_image *images, int nimages,
                                   const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    (void)nimages;
    align_ctx c = {state, images, jobs, NULL, NULL, size, out, 1, FR_SAMPLE_DLIB};
    return run_tasks(state, n, crops_task, &c);
}

static fr_status cpu_landmark_transforms(void *state, const float *outputs, int input_size,
                                         const fr_landmark_frame *frames, int n,
                                         const fr_chip_template *chip, double *m)
{
    (void)state;
    for (int i = 0; i < n; i++) {
        /* the points as float first (as the host's fr_landmarks68 holds them), then the fit
         * in double: one loop doing both let GCC 12 -O3 drop a rounding to float */
        float points[FR_FIT_MAX][2];
        double to[FR_FIT_MAX][2];
        for (int k = 0; k < chip->count; k++)
            fr_vm_landmark_point(&frames[i], outputs + (size_t)i * 136, chip->index[k],
                                 input_size, &points[k][0], &points[k][1]);
        for (int k = 0; k < chip->count; k++) {
            to[k][0] = points[k][0];
            to[k][1] = points[k][1];
        }
        if (chip->fit == FR_FIT_ARCFACE) {
            fr_vm_points5_from68((const float (*)[2])points, to);
            fr_vm_arcface_transform((const double (*)[2])to, chip->size, m + (size_t)i * 6);
        } else {
            fr_vm_chip_transform((const double (*)[2])chip->points, (const double (*)[2])to,
                                 chip->count, chip->size, m + (size_t)i * 6);
        }
    }
    return FR_OK;
}

static void warp_task(void *ctx, int task, int worker_id)
{
    const align_ctx *c = ctx;
    const fr_vision_image *im = &c->images[c->image_of[task]];
    fr_image image = {im->width, im->height, (uint8_t *)im->pixels};
    const double *m = c->m + (size_t)task * 6;
    uint8_t *out = c->out + (size_t)task * c->size * c->size * 3;
    fr_status st = FR_OK;
    if (c->sampler == FR_SAMPLE_DLIB)
        st = fr_warp_dlib(&image, m, c->size, &c->v->workers[worker_id].area, out);
    else if (!(hypot(m[0], m[3]) > 0) || !isfinite(m[2]) || !isfinite(m[5]))
        st = fr_fail(FR_E_INVALID, "face chip: degenerate landmarks");
    else
        fr_warp_affine(&image, m, c->size, out);
    if (st)
        task_failed(c->v, st);
}

static fr_status cpu_warp_chips(void *state, const fr_vision_image *images, int nimages,
                                const int *image_of, const double *m, int n, int size,
                                fr_chip_sampler sampler, uint8_t *out)
{
    (void)nimages;
    align_ctx c = {state, images, NULL, image_of, m, size, out, 0, sampler};
    return run_tasks(state, n, warp_task, &c);
}

const fr_vision_ops fr_cpu_vision = {
    .name = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .resize_area = cpu_resize_area,
    .pnet_cells = cpu_pnet_cells,
    .nms = cpu_nms,
    .gather = cpu_gather,
    .crop_resize = cpu_crop_resize,
    .read_net = cpu_read_net,
    .landmark_crops = cpu_landmark_crops,
    .landmark_transforms = cpu_landmark_transforms,
    .warp_chips = cpu_warp_chips,
    .facenet_crops = cpu_facenet_crops,
    .tiny_inputs = cpu_tiny_inputs,
    .tiny_boxes = cpu_tiny_boxes,
};
