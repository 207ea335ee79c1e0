/*
 * detector.c: MTCNN's three stages over a batch of images (see detect.h), as a chain of
 * vision operations and network runs on one execution context (runtime/vision.h), so the
 * same code runs on the CPU (the reference) and on a GPU with the data staying there: the
 * host computes the small tables (pyramid sizes, segments, copies) and reads back counts.
 *
 *   stage 1  every pyramid level of every image in one resize_area call; the levels sorted by
 *            size, so P-Net runs once per size over all the images needing it (a graph and a
 *            runner per size, cached: least recently used out, bounded by activation memory);
 *            pnet_cells over every level; NMS 0.5 per level; the levels of each image
 *            gathered in pyramid order; NMS 0.7 per image with P-Net's regression, squaring
 *            and truncation
 *   stage 2  crop_resize of every candidate to 24x24, R-Net in batches, read_net; NMS 0.7 per
 *            image after the 0.7 threshold, with bbreg, squaring, truncation
 *   stage 3  the same at 48x48 with O-Net and its landmarks; NMS 0.7 over the smaller area
 *
 * tiny+mtcnn runs stage 3 alone on the tiny detector's boxes (onet_refine), and all three
 * stages on the images left without a face, on those over twice tiny's input side and on
 * those with a tiny face under a third of it or over three quarters (these skip stage 3 on
 * tiny's boxes).
 *
 * After each NMS the kept candidates (compacted at their segment's start) are gathered into a
 * dense array again. Candidate boxes use detect_face's conventions throughout: corners in
 * 1-based inclusive pixels during the stages, `fix` as truncation toward zero.
 *
 * The R-Net and O-Net inputs are the float crops of the reference rounded to uint8 (the
 * engine's networks take 8-bit images): within 0.5 levels, i.e. 0.004 after normalization.
 */
#include "detect/detect.h"
#include "detect/tiny.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "model/model_internal.h"
#include "runtime/backend.h"
#include "runtime/vision.h"
#include "runtime/vision_math.h"

#define PNET_CACHE_BYTES ((size_t)256 << 20) /* P-Net activations of all cached sizes */
#define PNET_CACHE_MAX 64
#define STAGE_BATCH_CPU 128 /* R-Net / O-Net crops per run */
#define STAGE_BATCH_GPU 2048
/* tiny+mtcnn leaves to MTCNN an image whose longer side is over this many times tiny's input
 * side: tiny's fixed input shrinks its faces below what it finds (1920x1080 group photos of
 * 80-165 px faces: tiny at 416 finds 107 of 400, at 608 304; bench/RESULTS.md), and a face it
 * misses in an image where it finds others would be lost, the fallback being per image.
 * LFW-size images (250 px) at 192-416 stay tiny's. */
#define TINY_MTCNN_MAX_SHRINK 2
/* ...and an image where a face tiny keeps is under this fraction of its input side (64 px at
 * 192), in tiny's own box (before O-Net): tiny finds faces down to about 38 px of its input and
 * misses many near that, so a face that small says the image has faces of a size tiny loses
 * (small group photos, 300-380 px with 2-6 faces of 35-80 px: 176 of 220 faces found without
 * this rule, bench/RESULTS.md). LFW's subject is 80-100 px at 192 in tiny's box (1.3 % of
 * held-out DevTrain images have a face under 64); O-Net's box is tighter (the subject's often
 * 60-64 px): the rule on it sent 32 of the first 300 DevTrain images to MTCNN, on tiny's 10. */
#define TINY_MTCNN_MIN_FACE (1.0 / 3.0)
/* ...and one where a face tiny keeps is over this fraction (close-ups: a face filling the
 * frame): O-Net's box fit (FIT_* below) was measured on LFW's subjects, 0.35-0.65 of tiny's
 * side in its box (held-out DevTrain: 99.9 % under 0.65, none over 0.74), and on dlib's
 * 150x150 chips (faces of 0.82-0.98) tiny's chips lay 0.36-0.41 from the chip's own embedding
 * where MTCNN's lay 0.14-0.16 (tests/test_detect_cli.sh, --align landmarks68 on chips). */
#define TINY_MTCNN_MAX_FACE 0.75

typedef struct net {
    fr_model *model; /* owns the graph */
    fr_runner *runner;
    int batch;       /* images per run */
    int h, w;        /* input size */
    size_t out_floats; /* per image */
    size_t bytes;    /* activation memory */
    unsigned long used;
} net;

typedef struct level_job {
    int image, level;
    double scale;
    int h, w;
    int xcells, ycells;
} level_job;

struct fr_detector {
    const fr_mtcnn *mtcnn;
    fr_tiny *tiny; /* --detector tiny: MTCNN's state below is unused unless it falls back */
    int fallback;  /* tiny+mtcnn: O-Net on tiny's boxes, MTCNN where no face is left */
    fr_detect_options opt;
    fr_exec *exec;
    int own_exec;
    fr_runner_options runner; /* the networks': the context's device */
    net *pnets;
    int pnet_count;
    size_t pnet_bytes;
    unsigned long clock;
    net rnet, onet;

    /* context memory, grown on demand and kept */
    fr_exec_buffer pixels;   /* the images of fr_detector_run where the context is a GPU */
    fr_exec_buffer levels;   /* uint8 pyramid levels */
    fr_exec_buffer outputs;  /* P-Net, then R-Net and O-Net outputs */
    fr_exec_buffer cands, spare; /* fr_cand */
    fr_exec_buffer crops;    /* uint8 R-Net / O-Net inputs */

    /* host tables, grown on demand and kept */
    fr_vision_image *images;
    size_t image_cap;
    level_job *jobs;
    fr_resize_job *resizes;
    fr_pnet_job *pnet_jobs;
    int *order; /* jobs of each image in pyramid order */
    size_t job_cap;
    fr_segment *segments;
    fr_copy *copies;
    int *counts;
    size_t seg_cap;
    fr_cand *found;
    size_t found_cap;
    fr_face *faces;
    size_t face_cap;
    int *face_start;
    size_t face_start_cap;
    fr_vision_image *missed; /* tiny+mtcnn: the images tiny found no face in */
    int *missed_of;          /* their indices in the call */
    fr_faces *missed_faces;
    size_t missed_cap;
    fr_face *refined; /* tiny+mtcnn: tiny's faces after O-Net */
    size_t refined_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return 1;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    size_t bytes;
    if (!fr_mul_size(n, elem, &bytes)) {
        fr_fail(FR_E_TOO_LARGE, "too many %s", what);
        return 0;
    }
    void *q = realloc(*p, bytes);
    if (!q) {
        fr_fail(FR_E_NOMEM, "out of memory for %zu %s", n, what);
        return 0;
    }
    *p = q;
    *cap = n;
    return 1;
}

/* Several arrays of one capacity. */
static int grow_tables(void **tables[], const size_t *elems, int count, size_t *cap, size_t need,
                       const char *what)
{
    if (need <= *cap)
        return 1;
    for (int i = 0; i < count; i++) {
        size_t c = *cap;
        if (!grow(tables[i], &c, need, elems[i], what))
            return 0;
    }
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    *cap = n;
    return 1;
}

/* ---- networks -------------------------------------------------------------------------------- */

static void net_close(net *n)
{
    fr_runner_free(n->runner);
    fr_model_free(n->model);
    memset(n, 0, sizeof *n);
}

/* Binds a finalized graph (taken over) to a runner for `batch` images. */
static fr_status net_open(fr_graph *g, const fr_runner_options *ro, int batch, net *out)
{
    fr_model *m = fr_calloc(1, sizeof *m, "a detector network");
    if (!m) {
        fr_graph_free(g);
        return FR_E_NOMEM;
    }
    const fr_tensor *y = &g->tensors[g->output];
    m->graph = g;
    m->info.arch = "mtcnn";
    m->info.input_size = g->input_h;
    m->info.embedding_size = y->h * y->w * y->c;
    fr_runner_options o = *ro;
    o.max_batch = batch;
    net n = {0};
    fr_status st = fr_runner_new(m, &o, &n.runner);
    if (st) {
        fr_model_free(m);
        return st;
    }
    n.model = m;
    n.batch = fr_runner_max_batch(n.runner);
    n.h = g->input_h;
    n.w = g->input_w;
    n.out_floats = (size_t)y->h * y->w * y->c;
    n.bytes = g->arena_size * sizeof(float) * (size_t)n.batch;
    *out = n;
    return FR_OK;
}

static fr_status pnet_get(fr_detector *d, int h, int w, net **out)
{
    for (int i = 0; i < d->pnet_count; i++)
        if (d->pnets[i].h == h && d->pnets[i].w == w) {
            d->pnets[i].used = ++d->clock;
            *out = &d->pnets[i];
            return FR_OK;
        }
    fr_graph *g;
    fr_status st = fr_mtcnn_pnet(d->mtcnn, h, w, &g);
    if (st)
        return st;
    size_t per_image = g->arena_size * sizeof(float);
    size_t fit = PNET_CACHE_BYTES / 2 / (per_image ? per_image : 1);
    int batch = d->opt.runner.max_batch;
    if ((size_t)batch > fit)
        batch = fit > 0 ? (int)fit : 1;
    /* make room: least recently used sizes go first */
    while (d->pnet_count > 0 && (d->pnet_count == PNET_CACHE_MAX ||
                                 d->pnet_bytes + per_image * (size_t)batch > PNET_CACHE_BYTES)) {
        int lru = 0;
        for (int i = 1; i < d->pnet_count; i++)
            if (d->pnets[i].used < d->pnets[lru].used)
                lru = i;
        d->pnet_bytes -= d->pnets[lru].bytes;
        net_close(&d->pnets[lru]);
        d->pnets[lru] = d->pnets[--d->pnet_count];
    }
    net n;
    st = net_open(g, &d->runner, batch, &n);
    if (st)
        return st;
    n.used = ++d->clock;
    d->pnets[d->pnet_count] = n;
    d->pnet_bytes += n.bytes;
    *out = &d->pnets[d->pnet_count++];
    return FR_OK;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

void fr_detector_free(fr_detector *d)
{
    if (!d)
        return;
    fr_tiny_free(d->tiny);
    for (int i = 0; i < d->pnet_count; i++)
        net_close(&d->pnets[i]);
    free(d->pnets);
    net_close(&d->rnet);
    net_close(&d->onet);
    if (d->exec) {
        fr_exec_buffer *buffers[] = {&d->pixels, &d->levels, &d->outputs, &d->cands, &d->spare,
                                     &d->crops};
        for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
            fr_exec_buffer_free(d->exec, buffers[i]);
        if (d->own_exec)
            fr_exec_free(d->exec);
    }
    free(d->images);
    free(d->jobs);
    free(d->resizes);
    free(d->pnet_jobs);
    free(d->order);
    free(d->segments);
    free(d->copies);
    free(d->counts);
    free(d->found);
    free(d->faces);
    free(d->face_start);
    free(d->missed);
    free(d->missed_of);
    free(d->missed_faces);
    free(d->refined);
    free(d);
}

static fr_status check_options(const fr_detect_options *options, fr_detect_options *o)
{
    *o = options ? *options : (fr_detect_options){0};
    if (o->min_face == 0)
        o->min_face = 20;
    if (o->thresholds[0] == 0 && o->thresholds[1] == 0 && o->thresholds[2] == 0) {
        o->thresholds[0] = 0.6;
        o->thresholds[1] = 0.7;
        o->thresholds[2] = 0.7;
    }
    if (o->factor == 0)
        o->factor = 0.709;
    if (o->max_level_pixels == 0)
        o->max_level_pixels = 1L << 21;
    if (o->runner.threads == 0)
        o->runner.threads = 1;
    if (o->runner.max_batch == 0)
        o->runner.max_batch = 4;
    if (o->tiny_threshold == 0)
        o->tiny_threshold = FR_TINY_THRESHOLD;
    if (!(o->tiny_threshold > 0 && o->tiny_threshold < 1))
        return fr_fail(FR_E_INVALID, "tiny detector threshold %g outside (0, 1)",
                       o->tiny_threshold);
    if (o->min_face < FR_MTCNN_PNET_MIN || o->min_face > 100000)
        return fr_fail(FR_E_INVALID, "minimum face size %d outside %d..100000", o->min_face,
                       FR_MTCNN_PNET_MIN);
    if (!(o->factor > 0.1 && o->factor < 0.95))
        return fr_fail(FR_E_INVALID, "pyramid factor %g outside (0.1, 0.95)", o->factor);
    for (int i = 0; i < 3; i++)
        if (!(o->thresholds[i] >= 0 && o->thresholds[i] < 1))
            return fr_fail(FR_E_INVALID, "detection threshold %g outside [0, 1)", o->thresholds[i]);
    if (o->max_level_pixels < FR_MTCNN_PNET_MIN * FR_MTCNN_PNET_MIN || o->runner.max_batch < 0)
        return fr_fail(FR_E_INVALID, "bad detector limits");
    return FR_OK;
}

fr_status fr_detector_new_on(const fr_mtcnn *mtcnn, const fr_detect_options *options,
                             fr_exec *exec, fr_detector **out)
{
    fr_detect_options o;
    fr_status st = check_options(options, &o);
    if (st)
        return st;
    fr_detector *d = fr_calloc(1, sizeof *d, "a face detector");
    if (!d)
        return FR_E_NOMEM;
    d->mtcnn = mtcnn;
    d->opt = o;
    d->exec = exec;
    if (!exec) {
        st = fr_exec_new(o.runner.device, o.runner.threads, &d->exec);
        d->own_exec = 1;
    }
    d->runner = o.runner;
    if (d->exec)
        d->runner.device = strcmp(fr_exec_backend(d->exec), "cpu") == 0 ? FR_DEVICE_CPU
                                                                          : FR_DEVICE_CUDA;
    if (!st && o.tiny) {
        st = fr_tiny_new(o.tiny, o.tiny_threshold, &d->runner, d->exec, &d->tiny);
        if (st || !mtcnn) {
            if (st)
                fr_detector_free(d);
            else
                *out = d;
            return st;
        }
        d->fallback = 1;
    }
    if (!st && !mtcnn)
        st = fr_fail(FR_E_INVALID, "detector: no MTCNN networks given");
    int stage_batch = d->runner.device == FR_DEVICE_CPU ? STAGE_BATCH_CPU : STAGE_BATCH_GPU;
    d->pnets = st ? NULL : fr_calloc(PNET_CACHE_MAX, sizeof *d->pnets, "a face detector");
    fr_graph *g = NULL;
    if (!st)
        st = d->pnets ? fr_mtcnn_rnet(mtcnn, &g) : FR_E_NOMEM;
    if (!st)
        st = net_open(g, &d->runner, stage_batch, &d->rnet);
    if (!st)
        st = fr_mtcnn_onet(mtcnn, &g);
    if (!st)
        st = net_open(g, &d->runner, stage_batch, &d->onet);
    if (st) {
        fr_detector_free(d);
        return st;
    }
    *out = d;
    return FR_OK;
}

fr_status fr_detector_new(const fr_mtcnn *mtcnn, const fr_detect_options *options,
                          fr_detector **out)
{
    return fr_detector_new_on(mtcnn, options, NULL, out);
}

fr_exec *fr_detector_exec(const fr_detector *d)
{
    return d->exec;
}

/* ---- stage 1: P-Net over the pyramids -------------------------------------------------------- */

static int by_size(const void *a, const void *b)
{
    const level_job *x = a, *y = b;
    if (x->h != y->h)
        return x->h - y->h;
    if (x->w != y->w)
        return x->w - y->w;
    if (x->image != y->image)
        return x->image - y->image;
    return x->level - y->level;
}

static int by_image_level(const void *a, const void *b, void *ctx)
{
    const level_job *jobs = ctx, *x = &jobs[*(const int *)a], *y = &jobs[*(const int *)b];
    if (x->image != y->image)
        return x->image - y->image;
    return x->level - y->level;
}

/* The levels of every image (detect_face's scales), sorted by size. */
static fr_status pyramid_jobs(fr_detector *d, const fr_vision_image *images, int n, size_t *count)
{
    size_t jobs = 0;
    for (int i = 0; i < n; i++) {
        int h = images[i].height, w = images[i].width;
        double m = 12.0 / d->opt.min_face;
        double minl = (h < w ? h : w) * m;
        for (int level = 0; minl >= 12; level++) {
            double scale = m * pow(d->opt.factor, level);
            minl *= d->opt.factor;
            int hs = (int)ceil(h * scale), ws = (int)ceil(w * scale);
            /* levels P-Net cannot take (too many pixels, a side past its 16384 or under its
             * 12) are left out; an image whose every level is, has no face to find */
            if ((double)hs * ws > (double)d->opt.max_level_pixels || hs < FR_MTCNN_PNET_MIN ||
                ws < FR_MTCNN_PNET_MIN || hs > FR_MTCNN_PNET_MAX || ws > FR_MTCNN_PNET_MAX)
                continue;
            void **tables[] = {(void **)&d->jobs, (void **)&d->resizes, (void **)&d->pnet_jobs,
                               (void **)&d->order};
            size_t elems[] = {sizeof(level_job), sizeof(fr_resize_job), sizeof(fr_pnet_job),
                              sizeof(int)};
            if (!grow_tables(tables, elems, 4, &d->job_cap, jobs + 1, "pyramid levels"))
                return FR_E_NOMEM;
            level_job *j = &d->jobs[jobs++];
            *j = (level_job){i, level, scale, hs, ws, 0, 0};
            fr_mtcnn_pnet_cells(hs, ws, &j->xcells, &j->ycells);
        }
    }
    if (jobs > 1)
        qsort(d->jobs, jobs, sizeof *d->jobs, by_size);
    *count = jobs;
    return FR_OK;
}

static fr_status ensure_segments(fr_detector *d, size_t n)
{
    void **tables[] = {(void **)&d->segments, (void **)&d->copies, (void **)&d->counts};
    size_t elems[] = {sizeof(fr_segment), sizeof(fr_copy), sizeof(int)};
    return grow_tables(tables, elems, 3, &d->seg_cap, n ? n : 1, "candidate lists") ? FR_OK
                                                                                     : FR_E_NOMEM;
}

static fr_status reserve_cands(fr_detector *d, size_t n)
{
    fr_status st = fr_exec_reserve(d->exec, &d->cands, n * sizeof(fr_cand), "face candidates");
    if (!st)
        st = fr_exec_reserve(d->exec, &d->spare, n * sizeof(fr_cand), "face candidates");
    return st;
}

/* The segments' kept candidates (their first kept[i]) gathered from d->cands into a dense
 * d->cands again (through d->spare); per-image segments follow them when `images` > 0. */
static fr_status compact(fr_detector *d, int nseg, int images, size_t *total)
{
    const fr_vision_ops *ops = fr_exec_ops(d->exec);
    size_t to = 0;
    for (int i = 0; i < nseg; i++) {
        d->copies[i] = (fr_copy){d->segments[i].first, to, d->counts[i]};
        to += (size_t)d->counts[i];
    }
    fr_status st = ops->gather(fr_exec_state(d->exec), d->cands.data, d->copies, nseg,
                               d->spare.data);
    fr_exec_buffer t = d->cands;
    d->cands = d->spare;
    d->spare = t;
    for (int i = 0; i < images; i++)
        d->segments[i] = (fr_segment){d->copies[i].to, d->counts[i]};
    *total = to;
    return st;
}

static fr_status stage1(fr_detector *d, const fr_vision_image *images, int n, size_t *total)
{
    const fr_vision_ops *ops = fr_exec_ops(d->exec);
    void *vs = fr_exec_state(d->exec);
    size_t jobs;
    *total = 0;
    fr_status st = pyramid_jobs(d, images, n, &jobs);
    if (st || jobs == 0)
        return st;
    /* where each level, its P-Net outputs and its candidates go */
    size_t pixels = 0, floats = 0, cells = 0;
    for (size_t k = 0; k < jobs; k++) {
        const level_job *j = &d->jobs[k];
        size_t c = (size_t)j->xcells * (size_t)j->ycells;
        d->resizes[k] = (fr_resize_job){j->image, j->w, j->h, pixels};
        d->pnet_jobs[k] = (fr_pnet_job){j->image, j->level, j->scale, j->xcells, j->ycells,
                                        floats, cells};
        pixels += (size_t)j->h * j->w * 3;
        floats += c * 6;
        cells += c;
    }
    st = fr_exec_reserve(d->exec, &d->levels, pixels, "pyramid levels");
    if (!st)
        st = fr_exec_reserve(d->exec, &d->outputs, floats * sizeof(float), "P-Net outputs");
    if (!st)
        st = reserve_cands(d, cells);
    if (!st)
        st = ensure_segments(d, jobs > (size_t)n ? jobs : (size_t)n);
    if (!st)
        st = ops->resize_area(vs, images, n, d->resizes, (int)jobs, d->levels.data);
    /* P-Net once per size, over every level of that size */
    for (size_t a = 0, b; a < jobs && !st; a = b) {
        for (b = a; b < jobs && d->jobs[b].h == d->jobs[a].h && d->jobs[b].w == d->jobs[a].w;)
            b++;
        net *p;
        st = pnet_get(d, d->jobs[a].h, d->jobs[a].w, &p);
        if (!st && p->out_floats != (size_t)d->jobs[a].xcells * d->jobs[a].ycells * 6)
            st = fr_fail(FR_E_INTERNAL, "P-Net for %dx%d: %zu outputs", d->jobs[a].w,
                         d->jobs[a].h, p->out_floats);
        for (size_t c = a; c < b && !st; c += (size_t)p->batch) {
            int k = (int)(b - c < (size_t)p->batch ? b - c : (size_t)p->batch);
            st = fr_runner_run_on(p->runner, d->exec,
                                  (const uint8_t *)d->levels.data + d->resizes[c].offset, k,
                                  (float *)d->outputs.data + d->pnet_jobs[c].outputs);
        }
    }
    if (!st)
        st = ops->pnet_cells(vs, d->outputs.data, d->pnet_jobs, (int)jobs, d->opt.thresholds[0],
                             d->cands.data, d->counts);
    /* NMS 0.5 within each level */
    for (size_t k = 0; k < jobs && !st; k++)
        d->segments[k] = (fr_segment){d->pnet_jobs[k].first, d->counts[k]};
    fr_nms_spec level = {0.5, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 0};
    if (!st)
        st = ops->nms(vs, d->cands.data, d->segments, (int)jobs, &level, d->counts);
    if (st)
        return st;
    /* each image's levels in pyramid order (the reference appends them so) */
    for (size_t k = 0; k < jobs; k++)
        d->order[k] = (int)k;
    qsort_r(d->order, jobs, sizeof *d->order, by_image_level, d->jobs);
    size_t to = 0;
    int c = 0;
    for (int i = 0; i < n; i++) {
        size_t first = to;
        for (; (size_t)c < jobs && d->jobs[d->order[c]].image == i; c++) {
            int k = d->order[c];
            d->copies[c] = (fr_copy){d->pnet_jobs[k].first, to, d->counts[k]};
            to += (size_t)d->counts[k];
        }
        d->segments[i] = (fr_segment){first, (int)(to - first)};
    }
    st = ops->gather(vs, d->cands.data, d->copies, c, d->spare.data);
    fr_exec_buffer t = d->cands;
    d->cands = d->spare;
    d->spare = t;
    /* NMS 0.7 per image, then P-Net's regression, squaring, truncation */
    fr_nms_spec across = {0.7, 0, 0, 0, FR_BOX_KEEP, FR_BOX_PNET, 0};
    if (!st)
        st = ops->nms(vs, d->cands.data, d->segments, n, &across, d->counts);
    if (!st)
        st = compact(d, n, n, total);
    return st;
}

/* ---- stages 2 and 3: crops of the candidates ------------------------------------------------- */

/* R-Net or O-Net over candidates [0, total): crops, network, scores (and landmarks); then the
 * stage's threshold and NMS per image, and the dense list again. */
static fr_status refine(fr_detector *d, const fr_vision_image *images, int n, int stage,
                        size_t *total)
{
    const fr_vision_ops *ops = fr_exec_ops(d->exec);
    void *vs = fr_exec_state(d->exec);
    net *nt = stage == 2 ? &d->rnet : &d->onet;
    size_t batch = (size_t)nt->batch, in_bytes = (size_t)nt->h * nt->w * 3;
    fr_status st = fr_exec_reserve(d->exec, &d->crops, batch * in_bytes, "face crops");
    if (!st)
        st = fr_exec_reserve(d->exec, &d->outputs, batch * nt->out_floats * sizeof(float),
                             "network outputs");
    fr_cand *cands = d->cands.data;
    for (size_t a = 0; a < *total && !st; a += batch) {
        int k = (int)(*total - a < batch ? *total - a : batch);
        st = ops->crop_resize(vs, images, n, cands + a, k, nt->h, d->crops.data);
        if (!st)
            st = fr_runner_run_on(nt->runner, d->exec, d->crops.data, k, d->outputs.data);
        if (!st)
            st = ops->read_net(vs, cands + a, k, d->outputs.data, (int)nt->out_floats, stage == 3);
    }
    fr_nms_spec spec = {0.7, stage == 3, 1, d->opt.thresholds[stage - 1],
                        stage == 3 ? FR_BOX_ONET : FR_BOX_KEEP,
                        stage == 2 ? FR_BOX_RNET : FR_BOX_KEEP, 0};
    if (!st)
        st = ops->nms(vs, cands, d->segments, n, &spec, d->counts);
    if (!st)
        st = compact(d, n, n, total);
    return st;
}

/* ---- the whole ------------------------------------------------------------------------------- */

static fr_status mtcnn_run(fr_detector *d, const fr_vision_image *images, int n, fr_faces *out);
static fr_status onet_refine(fr_detector *d, const fr_vision_image *images, int n, fr_faces *out);

fr_status fr_detector_run_on(fr_detector *d, const fr_vision_image *images, int n, fr_faces *out)
{
    if (n < 0 || (n > 0 && (!images || !out)))
        return fr_fail(FR_E_INVALID, "detector: bad arguments");
    for (int i = 0; i < n; i++)
        if (!images[i].pixels || images[i].width <= 0 || images[i].height <= 0)
            return fr_fail(FR_E_INVALID, "detector: empty image %d", i);
    if (!d->tiny)
        return mtcnn_run(d, images, n, out);
    fr_status st = fr_tiny_run_on(d->tiny, images, n, out);
    if (st || !d->fallback)
        return st;
    /* tiny+mtcnn: the images tiny sees shrunk too much and those with a face near tiny's
     * smallest or over the fit's range (its own box, the size the rules were measured on:
     * bench/RESULTS.md) are MTCNN's
     * alone, without O-Net on tiny's boxes; then MTCNN over them and those left without a
     * face after tiny and O-Net, in one run */
    int side = fr_model_get_info(d->opt.tiny)->input_size, m = 0;
    for (int i = 0; i < n; i++) {
        int big = images[i].width > images[i].height ? images[i].width : images[i].height;
        if (big > TINY_MTCNN_MAX_SHRINK * side)
            out[i].count = 0;
        for (int k = 0; k < out[i].count; k++) {
            const float *b = out[i].faces[k].box;
            double s = (b[2] - b[0] < b[3] - b[1] ? b[2] - b[0] : b[3] - b[1]) * side / big;
            if (s < TINY_MTCNN_MIN_FACE * side || s > TINY_MTCNN_MAX_FACE * side) {
                out[i].count = 0;
                break;
            }
        }
    }
    st = onet_refine(d, images, n, out);
    if (st)
        return st;
    for (int i = 0; i < n; i++)
        if (out[i].count == 0)
            m++;
    if (m == 0)
        return FR_OK;
    size_t cap = d->missed_cap;
    void **tables[] = {(void **)&d->missed, (void **)&d->missed_of, (void **)&d->missed_faces};
    const size_t elems[] = {sizeof *d->missed, sizeof *d->missed_of, sizeof *d->missed_faces};
    if (!grow_tables(tables, elems, 3, &cap, (size_t)m, "images"))
        return FR_E_NOMEM;
    d->missed_cap = cap;
    m = 0;
    for (int i = 0; i < n; i++)
        if (out[i].count == 0) {
            d->missed_of[m] = i;
            d->missed[m++] = images[i];
        }
    st = mtcnn_run(d, d->missed, m, d->missed_faces);
    for (int k = 0; k < m && !st; k++)
        out[d->missed_of[k]] = d->missed_faces[k];
    return st;
}

/* The candidates [0, total) of the last stage, grouped by image, as faces: the detector's
 * until its next call. */
static fr_status collect(fr_detector *d, int n, size_t total, fr_faces *out)
{
    fr_status st = FR_OK;
    if ((!grow((void **)&d->found, &d->found_cap, total ? total : 1, sizeof(fr_cand),
                      "faces") ||
                !grow((void **)&d->faces, &d->face_cap, total ? total : 1, sizeof(fr_face),
                      "faces") ||
                !grow((void **)&d->face_start, &d->face_start_cap, (size_t)n + 1, sizeof(int),
                      "images")))
        st = FR_E_NOMEM;
    if (!st)
        st = fr_exec_download(d->exec, d->found, d->cands.data, total * sizeof(fr_cand));
    if (st)
        return st;
    /* the final list is grouped by image, best first within each */
    size_t f = 0;
    for (int i = 0; i < n; i++) {
        d->face_start[i] = (int)f;
        while (f < total && d->found[f].image == i) {
            const fr_cand *c = &d->found[f];
            fr_face *face = &d->faces[f];
            for (int k = 0; k < 4; k++)
                face->box[k] = (float)c->box[k];
            face->score = (float)c->score;
            for (int k = 0; k < 5; k++) {
                face->landmarks[k][0] = (float)c->points[k];
                face->landmarks[k][1] = (float)c->points[5 + k];
            }
            f++;
        }
    }
    d->face_start[n] = (int)f;
    for (int i = 0; i < n; i++) {
        out[i].faces = d->faces + d->face_start[i];
        out[i].count = d->face_start[i + 1] - d->face_start[i];
    }
    return FR_OK;
}

/* MTCNN's three stages over n images; the faces are the detector's until its next call. */
static fr_status mtcnn_run(fr_detector *d, const fr_vision_image *images, int n, fr_faces *out)
{
    size_t total = 0;
    fr_status st = stage1(d, images, n, &total);
    if (!st && total)
        st = refine(d, images, n, 2, &total);
    if (!st && total)
        st = refine(d, images, n, 3, &total);
    return st ? st : collect(d, n, total, out);
}

/* O-Net's box from tiny's is still a little wider, taller and lower than MTCNN's own (from
 * R-Net's); median ratios over the LFW DevTrain images that pairsDevTrain.txt does not use
 * (bench/RESULTS.md, issue 10): the box is mapped onto MTCNN's shape around its centre. */
#define FIT_WIDTH 1.034  /* O-Net-from-tiny width / MTCNN width */
#define FIT_HEIGHT 1.009 /* height / MTCNN height */
#define FIT_DOWN 0.017   /* centre below MTCNN's, in MTCNN heights */

static void fit_box(float *b)
{
    double cx = (b[0] + b[2]) / 2.0, cy = (b[1] + b[3]) / 2.0;
    double w = (b[2] - b[0]) / FIT_WIDTH, h = (b[3] - b[1]) / FIT_HEIGHT;
    cy -= FIT_DOWN * h;
    b[0] = (float)(cx - w / 2);
    b[2] = (float)(cx + w / 2);
    b[1] = (float)(cy - h / 2);
    b[3] = (float)(cy + h / 2);
}

/* tiny+mtcnn: tiny's boxes as MTCNN's last stage takes R-Net's: squared (rerec) and
 * truncated, cropped to 48x48, O-Net's score over its threshold, its regression and five
 * landmarks, NMS 0.7 over the smaller area per image, then fit_box. out[] holds tiny's faces
 * on entry and the refined ones (in d->refined) on return; an image whose every box O-Net
 * rejects has none (and gets MTCNN's whole run). */
static fr_status onet_refine(fr_detector *d, const fr_vision_image *images, int n, fr_faces *out)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)out[i].count;
    if (total == 0)
        return FR_OK;
    if (!grow((void **)&d->found, &d->found_cap, total, sizeof(fr_cand), "faces"))
        return FR_E_NOMEM;
    fr_status st = ensure_segments(d, (size_t)n);
    if (!st)
        st = reserve_cands(d, total);
    if (st)
        return st;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        d->segments[i] = (fr_segment){at, out[i].count};
        for (int k = 0; k < out[i].count; k++) {
            fr_cand *c = &d->found[at++];
            memset(c, 0, sizeof *c);
            for (int j = 0; j < 4; j++)
                c->box[j] = out[i].faces[k].box[j];
            c->score = out[i].faces[k].score;
            c->image = i;
            fr_vm_box_step(c, FR_BOX_RNET); /* no regression: square, truncate */
        }
    }
    st = fr_exec_upload(d->exec, d->cands.data, d->found, total * sizeof(fr_cand));
    if (!st)
        st = refine(d, images, n, 3, &total);
    if (!st)
        st = collect(d, n, total, out);
    if (st)
        return st;
    /* kept apart from d->faces, which MTCNN's fallback run reuses */
    if (!grow((void **)&d->refined, &d->refined_cap, total ? total : 1, sizeof(fr_face), "faces"))
        return FR_E_NOMEM;
    if (total)
        memcpy(d->refined, d->faces, total * sizeof(fr_face));
    for (size_t k = 0; k < total; k++)
        fit_box(d->refined[k].box);
    for (int i = 0; i < n; i++)
        out[i].faces = d->refined + (out[i].faces - d->faces);
    return FR_OK;
}

fr_status fr_detector_run(fr_detector *d, const fr_image *images, int n, fr_faces *out)
{
    if (n < 0 || (n > 0 && (!images || !out)))
        return fr_fail(FR_E_INVALID, "detector: bad arguments");
    if (!grow((void **)&d->images, &d->image_cap, (size_t)(n ? n : 1), sizeof *d->images, "images"))
        return FR_E_NOMEM;
    int host = strcmp(fr_exec_backend(d->exec), "cpu") == 0;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        if (!images[i].pixels || images[i].width <= 0 || images[i].height <= 0)
            return fr_fail(FR_E_INVALID, "detector: empty image %d", i);
        bytes += (size_t)images[i].width * images[i].height * 3;
    }
    fr_status st = host ? FR_OK : fr_exec_reserve(d->exec, &d->pixels, bytes, "images");
    size_t at = 0;
    for (int i = 0; i < n && !st; i++) {
        size_t size = (size_t)images[i].width * images[i].height * 3;
        d->images[i] = (fr_vision_image){images[i].pixels, images[i].width, images[i].height};
        if (!host) {
            uint8_t *dst = (uint8_t *)d->pixels.data + at;
            st = fr_exec_upload(d->exec, dst, images[i].pixels, size);
            d->images[i].pixels = dst;
            at += size;
        }
    }
    return st ? st : fr_detector_run_on(d, d->images, n, out);
}

const char *fr_detector_kind_name(fr_detector_kind kind)
{
    return kind == FR_DETECTOR_AUTO         ? "auto"
           : kind == FR_DETECTOR_TINY       ? "tiny"
           : kind == FR_DETECTOR_TINY_MTCNN ? "tiny+mtcnn"
                                            : "mtcnn";
}

fr_status fr_detector_kind_parse(const char *name, fr_detector_kind *out)
{
    if (strcmp(name, "auto") == 0)
        *out = FR_DETECTOR_AUTO;
    else if (strcmp(name, "mtcnn") == 0)
        *out = FR_DETECTOR_MTCNN;
    else if (strcmp(name, "tiny") == 0)
        *out = FR_DETECTOR_TINY;
    else if (strcmp(name, "tiny+mtcnn") == 0)
        *out = FR_DETECTOR_TINY_MTCNN;
    else
        return fr_fail(FR_E_INVALID, "unknown detector '%s' (auto, mtcnn, tiny, tiny+mtcnn)", name);
    return FR_OK;
}

fr_status fr_tiny_load(const char *path, int size, fr_model **out)
{
    if (size == 0)
        size = FR_TINY_SIZE_DEFAULT;
    if (size < 128 || size > 608 || size % 32)
        return fr_fail(FR_E_INVALID, "tiny detector input %d: give a multiple of 32 from 128 "
                       "to 608", size);
    char buffer[4096];
    if (!path) {
        fr_status st = fr_model_default_path("tinyface", buffer, sizeof buffer);
        if (st)
            return st;
        path = buffer;
    }
    fr_model *m;
    fr_status st = fr_model_load_sized(path, size, &m);
    if (st)
        return st;
    if (strcmp(fr_model_get_info(m)->arch, "tinyface") != 0) {
        st = fr_fail(FR_E_INVALID, "%s: a %s model, not the tiny face detector (tinyface)", path,
                     fr_model_get_info(m)->arch);
        fr_model_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

const char *fr_face_rule_name(fr_face_rule rule)
{
    return rule == FR_FACE_CENTRAL ? "central" : "largest";
}

fr_status fr_face_rule_parse(const char *name, fr_face_rule *out)
{
    if (strcmp(name, "largest") == 0)
        *out = FR_FACE_LARGEST;
    else if (strcmp(name, "central") == 0)
        *out = FR_FACE_CENTRAL;
    else
        return fr_fail(FR_E_INVALID, "unknown face rule '%s' (largest, central)", name);
    return FR_OK;
}

int fr_faces_main(const fr_faces *faces, int width, int height, fr_face_rule rule)
{
    int best = -1;
    double best_value = 0;
    for (int i = 0; i < faces->count; i++) {
        const float *b = faces->faces[i].box;
        double area = ((double)b[2] - b[0]) * ((double)b[3] - b[1]);
        double dx = ((double)b[0] + b[2]) / 2 - width / 2.0;
        double dy = ((double)b[1] + b[3]) / 2 - height / 2.0;
        double value = rule == FR_FACE_CENTRAL ? area - 2.0 * (dx * dx + dy * dy) : area;
        if (best < 0 || value > best_value) {
            best_value = value;
            best = i;
        }
    }
    return best;
}
