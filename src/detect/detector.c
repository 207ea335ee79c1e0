/*
 * detector.c: MTCNN's three stages over a batch of images (see detect.h), box arithmetic in
 * double as the float64 reference does it.
 *
 * Stage 1 groups the pyramid levels of all images by size: one P-Net graph (and runner) per
 * size, kept in a cache bounded by activation memory, runs every image needing that size.
 * Stages 2 and 3 crop all candidates of all images and run R-Net / O-Net over them in
 * batches. Candidate boxes use detect_face's conventions throughout: corners in 1-based
 * inclusive pixels during the stages (a box x1..x2 spans x2 - x1 + 1 pixels), `fix` as
 * truncation toward zero, rerec() squaring around the centre.
 *
 * The R-Net and O-Net inputs are the float crops of the reference rounded to uint8 (the
 * engine's networks take 8-bit images): within 0.5 levels, i.e. 0.004 after normalization.
 */
#include "detect/detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "detect/resize_area.h"
#include "model/model_internal.h"

#define PNET_CACHE_BYTES ((size_t)256 << 20) /* P-Net activations of all cached sizes */
#define PNET_CACHE_MAX 64
#define STAGE_BATCH 128                      /* R-Net / O-Net crops per run */
#define MAX_CROP_SIDE 16384

typedef struct cand {
    double box[4]; /* x1, y1, x2, y2 */
    double score;
    double reg[4];
    double points[10];
    int image, level, seq;
} cand;

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
} level_job;

struct fr_detector {
    const fr_mtcnn *mtcnn;
    fr_detect_options opt;
    net *pnets;
    int pnet_count;
    size_t pnet_bytes;
    unsigned long clock;
    net rnet, onet;

    /* scratch, grown on demand and kept */
    uint8_t *input;
    size_t input_cap;
    float *output;
    size_t output_cap;
    cand *cands, *next;
    size_t cand_count, next_count, cand_cap, next_cap;
    int *idx, *pick;
    size_t idx_cap;
    level_job *jobs;
    size_t job_cap;
    uint8_t *canvas;
    size_t canvas_cap;
    float crop[FR_MTCNN_ONET_SIZE * FR_MTCNN_ONET_SIZE * 3];
    fr_face *faces;
    size_t face_cap;
    int *face_start;
    size_t face_start_cap;
    fr_scratch area;
    int seq;
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

/* ---- networks ---------------------------------------------------------------------------- */

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
    st = net_open(g, &d->opt.runner, batch, &n);
    if (st)
        return st;
    n.used = ++d->clock;
    d->pnets[d->pnet_count] = n;
    d->pnet_bytes += n.bytes;
    *out = &d->pnets[d->pnet_count++];
    return FR_OK;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

void fr_detector_free(fr_detector *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->pnet_count; i++)
        net_close(&d->pnets[i]);
    free(d->pnets);
    net_close(&d->rnet);
    net_close(&d->onet);
    free(d->input);
    free(d->output);
    free(d->cands);
    free(d->next);
    free(d->idx);
    free(d->pick);
    free(d->jobs);
    free(d->canvas);
    free(d->faces);
    free(d->face_start);
    fr_scratch_free(&d->area);
    free(d);
}

fr_status fr_detector_new(const fr_mtcnn *mtcnn, const fr_detect_options *options,
                          fr_detector **out)
{
    fr_detect_options o = options ? *options : (fr_detect_options){0};
    if (o.min_face == 0)
        o.min_face = 20;
    if (o.thresholds[0] == 0 && o.thresholds[1] == 0 && o.thresholds[2] == 0) {
        o.thresholds[0] = 0.6;
        o.thresholds[1] = 0.7;
        o.thresholds[2] = 0.7;
    }
    if (o.factor == 0)
        o.factor = 0.709;
    if (o.max_level_pixels == 0)
        o.max_level_pixels = 1L << 21;
    if (o.runner.threads == 0)
        o.runner.threads = 1;
    if (o.runner.max_batch == 0)
        o.runner.max_batch = 4;
    if (o.min_face < FR_MTCNN_PNET_MIN || o.min_face > 100000)
        return fr_fail(FR_E_INVALID, "minimum face size %d outside %d..100000", o.min_face,
                       FR_MTCNN_PNET_MIN);
    if (!(o.factor > 0.1 && o.factor < 0.95))
        return fr_fail(FR_E_INVALID, "pyramid factor %g outside (0.1, 0.95)", o.factor);
    for (int i = 0; i < 3; i++)
        if (!(o.thresholds[i] >= 0 && o.thresholds[i] < 1))
            return fr_fail(FR_E_INVALID, "detection threshold %g outside [0, 1)", o.thresholds[i]);
    if (o.max_level_pixels < FR_MTCNN_PNET_MIN * FR_MTCNN_PNET_MIN || o.runner.max_batch < 0)
        return fr_fail(FR_E_INVALID, "bad detector limits");
    fr_detector *d = fr_calloc(1, sizeof *d, "a face detector");
    if (!d)
        return FR_E_NOMEM;
    d->mtcnn = mtcnn;
    d->opt = o;
    d->pnets = fr_calloc(PNET_CACHE_MAX, sizeof *d->pnets, "a face detector");
    fr_graph *g = NULL;
    fr_status st = d->pnets ? fr_mtcnn_rnet(mtcnn, &g) : FR_E_NOMEM;
    if (!st)
        st = net_open(g, &o.runner, STAGE_BATCH, &d->rnet);
    if (!st)
        st = fr_mtcnn_onet(mtcnn, &g);
    if (!st)
        st = net_open(g, &o.runner, STAGE_BATCH, &d->onet);
    if (st) {
        fr_detector_free(d);
        return st;
    }
    *out = d;
    return FR_OK;
}

/* ---- box arithmetic (detect_face.py) --------------------------------------------------------- */

static int by_score(const void *a, const void *b, void *ctx)
{
    const cand *c = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (c[i].score != c[j].score)
        return c[i].score > c[j].score ? -1 : 1;
    return i - j;
}

/* Greedy non-maximum suppression over c[0..n): picks, best score first, the boxes whose
 * overlap with every better pick is <= threshold (IoU, or intersection over the smaller
 * area with use_min). Returns the number of picks in d->pick. */
static int nms(fr_detector *d, const cand *c, int n, double threshold, int use_min)
{
    if (n == 0)
        return 0;
    int *idx = d->idx, *pick = d->pick;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, by_score, (void *)c);
    int count = 0, m = n;
    while (m > 0) {
        int i = idx[0];
        pick[count++] = i;
        const double *a = c[i].box;
        double area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1);
        int k = 0;
        for (int j = 1; j < m; j++) {
            const double *b = c[idx[j]].box;
            double area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
            double w = fmax(0.0, fmin(a[2], b[2]) - fmax(a[0], b[0]) + 1);
            double h = fmax(0.0, fmin(a[3], b[3]) - fmax(a[1], b[1]) + 1);
            double inter = w * h;
            double o = use_min ? inter / fmin(area_a, area_b) : inter / (area_a + area_b - inter);
            if (o <= threshold)
                idx[k++] = idx[j];
        }
        m = k;
    }
    return count;
}

static void rerec(double *b)
{
    double h = b[3] - b[1], w = b[2] - b[0];
    double side = w > h ? w : h;
    b[0] = b[0] + w * 0.5 - side * 0.5;
    b[1] = b[1] + h * 0.5 - side * 0.5;
    b[2] = b[0] + side;
    b[3] = b[1] + side;
}

static void bbreg(double *b, const double *reg)
{
    double w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
    b[0] += reg[0] * w;
    b[1] += reg[1] * h;
    b[2] += reg[2] * w;
    b[3] += reg[3] * h;
}

static int push(fr_detector *d, const cand *c)
{
    if (!grow((void **)&d->next, &d->next_cap, d->next_count + 1, sizeof(cand), "candidates"))
        return 0;
    d->next[d->next_count++] = *c;
    return 1;
}

static void swap_lists(fr_detector *d)
{
    cand *t = d->cands;
    size_t tc = d->cand_cap;
    d->cands = d->next;
    d->cand_cap = d->next_cap;
    d->cand_count = d->next_count;
    d->next = t;
    d->next_cap = tc;
    d->next_count = 0;
}

static int ensure_index(fr_detector *d, size_t n)
{
    size_t cap = d->idx_cap;
    return grow((void **)&d->idx, &cap, n, sizeof(int), "candidates") &&
           grow((void **)&d->pick, &d->idx_cap, n, sizeof(int), "candidates");
}

static double face_probability(const float *logits)
{
    return 1.0 / (1.0 + exp((double)logits[0] - (double)logits[1]));
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

static int by_image_level(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->image != y->image)
        return x->image - y->image;
    if (x->level != y->level)
        return x->level - y->level;
    return x->seq - y->seq;
}

static fr_status pyramid_jobs(fr_detector *d, const fr_image *images, int n, size_t *count)
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
            if (!grow((void **)&d->jobs, &d->job_cap, jobs + 1, sizeof(level_job), "pyramid levels"))
                return FR_E_NOMEM;
            d->jobs[jobs++] = (level_job){i, level, scale, hs, ws};
        }
    }
    if (jobs > 1) /* d->jobs is still NULL when no image has a level (qsort's NULL is UB) */
        qsort(d->jobs, jobs, sizeof *d->jobs, by_size);
    *count = jobs;
    return FR_OK;
}

/* detect_face's generateBoundingBox + the NMS within one level: the cells whose face
 * probability is >= the threshold, in x-major order, as 12x12 windows mapped back to the image. */
static fr_status level_candidates(fr_detector *d, const level_job *job, const float *out,
                                  int xcells, int ycells)
{
    d->next_count = 0;
    const double t = d->opt.thresholds[0], s = job->scale;
    for (int x = 0; x < xcells; x++)
        for (int y = 0; y < ycells; y++) {
            const float *o = out + ((size_t)x * ycells + y) * FR_MTCNN_PNET_OUT;
            double p = face_probability(o + FR_MTCNN_LOGITS);
            if (!(p >= t))
                continue;
            cand c;
            memset(&c, 0, sizeof c);
            c.box[0] = trunc((2.0 * x + 1) / s);
            c.box[1] = trunc((2.0 * y + 1) / s);
            c.box[2] = trunc((2.0 * x + 12) / s);
            c.box[3] = trunc((2.0 * y + 12) / s);
            c.score = p;
            for (int k = 0; k < 4; k++)
                c.reg[k] = o[FR_MTCNN_REG + k];
            c.image = job->image;
            c.level = job->level;
            if (!push(d, &c))
                return FR_E_NOMEM;
        }
    if (!ensure_index(d, d->next_count))
        return FR_E_NOMEM;
    int picks = nms(d, d->next, (int)d->next_count, 0.5, 0);
    if (!grow((void **)&d->cands, &d->cand_cap, d->cand_count + (size_t)picks, sizeof(cand),
              "candidates"))
        return FR_E_NOMEM;
    for (int i = 0; i < picks; i++) {
        cand c = d->next[d->pick[i]];
        c.seq = d->seq++;
        d->cands[d->cand_count++] = c;
    }
    d->next_count = 0;
    return FR_OK;
}

static fr_status stage1(fr_detector *d, const fr_image *images, int n)
{
    size_t jobs;
    d->cand_count = 0;
    d->seq = 0;
    fr_status st = pyramid_jobs(d, images, n, &jobs);
    for (size_t a = 0, b; a < jobs && !st; a = b) {
        for (b = a; b < jobs && d->jobs[b].h == d->jobs[a].h && d->jobs[b].w == d->jobs[a].w;)
            b++;
        net *p;
        st = pnet_get(d, d->jobs[a].h, d->jobs[a].w, &p);
        if (st)
            break;
        const fr_tensor *y = &p->model->graph->tensors[p->model->graph->output];
        size_t in_bytes = (size_t)p->h * p->w * 3;
        if (!grow((void **)&d->input, &d->input_cap, in_bytes * (size_t)p->batch, 1, "pixels") ||
            !grow((void **)&d->output, &d->output_cap, p->out_floats * (size_t)p->batch,
                  sizeof(float), "network outputs")) {
            st = FR_E_NOMEM;
            break;
        }
        for (size_t c = a; c < b && !st; c += (size_t)p->batch) {
            int k = (int)(b - c < (size_t)p->batch ? b - c : (size_t)p->batch);
            for (int j = 0; j < k && !st; j++) {
                const fr_image *im = &images[d->jobs[c + (size_t)j].image];
                st = fr_resize_area_u8(im->pixels, im->width, im->height,
                                       d->input + (size_t)j * in_bytes, p->w, p->h, &d->area);
            }
            if (!st)
                st = fr_runner_run(p->runner, d->input, k, d->output);
            for (int j = 0; j < k && !st; j++)
                st = level_candidates(d, &d->jobs[c + (size_t)j],
                                      d->output + (size_t)j * p->out_floats, y->h, y->w);
        }
    }
    if (st)
        return st;
    /* the reference appends the levels of an image in pyramid order (d->cands is NULL
     * until a first candidate: qsort(NULL, 0) is undefined) */
    if (d->cand_count > 1)
        qsort(d->cands, d->cand_count, sizeof *d->cands, by_image_level);
    return FR_OK;
}

/* Per image: NMS 0.7 across levels, the P-Net regression (by the box's side without the
 * +1), squaring, truncation. */
static fr_status refine1(fr_detector *d)
{
    if (!ensure_index(d, d->cand_count))
        return FR_E_NOMEM;
    d->next_count = 0;
    for (size_t a = 0, b; a < d->cand_count; a = b) {
        for (b = a; b < d->cand_count && d->cands[b].image == d->cands[a].image;)
            b++;
        int picks = nms(d, d->cands + a, (int)(b - a), 0.7, 0);
        for (int i = 0; i < picks; i++) {
            cand c = d->cands[a + (size_t)d->pick[i]];
            double rw = c.box[2] - c.box[0], rh = c.box[3] - c.box[1];
            double q[4] = {c.box[0] + c.reg[0] * rw, c.box[1] + c.reg[1] * rh,
                           c.box[2] + c.reg[2] * rw, c.box[3] + c.reg[3] * rh};
            memcpy(c.box, q, sizeof q);
            rerec(c.box);
            for (int k = 0; k < 4; k++)
                c.box[k] = trunc(c.box[k]);
            if (!push(d, &c))
                return FR_E_NOMEM;
        }
    }
    swap_lists(d);
    return FR_OK;
}

/* ---- stages 2 and 3: crops of the candidates --------------------------------------------------- */

/* detect_face's pad() and crop: the box's pixels (zeros outside the image) resized to
 * size x size with INTER_AREA, rounded to 8 bits. */
static fr_status crop(fr_detector *d, const fr_image *im, const double *box, int size, uint8_t *dst)
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
        if (!grow((void **)&d->canvas, &d->canvas_cap, bytes, 1, "pixels"))
            return FR_E_NOMEM;
        memset(d->canvas, 0, bytes);
        for (int y = sy1; y <= sy2; y++)
            if (sx1 <= sx2)
                memcpy(d->canvas + ((size_t)(y - y1) * (size_t)tw + (size_t)(sx1 - x1)) * 3,
                       im->pixels + ((size_t)(y - 1) * im->width + (size_t)(sx1 - 1)) * 3,
                       (size_t)(sx2 - sx1 + 1) * 3);
        src = d->canvas;
        stride = (size_t)tw * 3;
    }
    fr_status st = fr_resize_area_f32(src, stride, (int)tw, (int)th, d->crop, size, size, &d->area);
    if (st)
        return st;
    for (size_t i = 0; i < out; i++) {
        float v = rintf(d->crop[i]);
        dst[i] = (uint8_t)(v <= 0.0f ? 0.0f : v >= 255.0f ? 255.0f : v);
    }
    return FR_OK;
}

/* Runs R-Net or O-Net over every candidate; scores, regressions (and landmarks) into them. */
static fr_status score_crops(fr_detector *d, net *nt, const fr_image *images)
{
    int size = nt->h;
    size_t in_bytes = (size_t)size * size * 3;
    if (!grow((void **)&d->input, &d->input_cap, in_bytes * (size_t)nt->batch, 1, "pixels") ||
        !grow((void **)&d->output, &d->output_cap, nt->out_floats * (size_t)nt->batch,
              sizeof(float), "network outputs"))
        return FR_E_NOMEM;
    fr_status st = FR_OK;
    for (size_t a = 0; a < d->cand_count && !st; a += (size_t)nt->batch) {
        int k = (int)(d->cand_count - a < (size_t)nt->batch ? d->cand_count - a : (size_t)nt->batch);
        for (int j = 0; j < k && !st; j++) {
            const cand *c = &d->cands[a + (size_t)j];
            st = crop(d, &images[c->image], c->box, size, d->input + (size_t)j * in_bytes);
        }
        if (!st)
            st = fr_runner_run(nt->runner, d->input, k, d->output);
        for (int j = 0; j < k && !st; j++) {
            cand *c = &d->cands[a + (size_t)j];
            const float *o = d->output + (size_t)j * nt->out_floats;
            c->score = face_probability(o + FR_MTCNN_LOGITS);
            for (int r = 0; r < 4; r++)
                c->reg[r] = o[FR_MTCNN_REG + r];
            if (nt->out_floats >= FR_MTCNN_ONET_OUT)
                for (int r = 0; r < 10; r++)
                    c->points[r] = o[FR_MTCNN_POINTS + r];
        }
    }
    return st;
}

/* Keeps the candidates over the threshold, per image: stage 2 then NMS 0.7, regression,
 * squaring; stage 3 the landmarks (from the box it was given), regression, then NMS 0.7 over
 * the smaller area. */
static fr_status refine(fr_detector *d, int stage)
{
    double t = d->opt.thresholds[stage - 1];
    size_t kept = 0;
    for (size_t i = 0; i < d->cand_count; i++)
        if (d->cands[i].score > t)
            d->cands[kept++] = d->cands[i];
    d->cand_count = kept;
    if (!ensure_index(d, kept))
        return FR_E_NOMEM;
    d->next_count = 0;
    for (size_t a = 0, b; a < kept; a = b) {
        for (b = a; b < kept && d->cands[b].image == d->cands[a].image;)
            b++;
        cand *c = d->cands + a;
        if (stage == 3)
            for (size_t i = 0; i < b - a; i++) {
                double w = c[i].box[2] - c[i].box[0] + 1, h = c[i].box[3] - c[i].box[1] + 1;
                for (int k = 0; k < 5; k++) {
                    c[i].points[k] = w * c[i].points[k] + c[i].box[0] - 1;
                    c[i].points[5 + k] = h * c[i].points[5 + k] + c[i].box[1] - 1;
                }
                bbreg(c[i].box, c[i].reg);
            }
        int picks = nms(d, c, (int)(b - a), 0.7, stage == 3);
        for (int i = 0; i < picks; i++) {
            cand p = c[d->pick[i]];
            if (stage == 2) {
                bbreg(p.box, p.reg);
                rerec(p.box);
            }
            if (!push(d, &p))
                return FR_E_NOMEM;
        }
    }
    swap_lists(d);
    return FR_OK;
}

/* ---- the whole ----------------------------------------------------------------------------- */

fr_status fr_detector_run(fr_detector *d, const fr_image *images, int n, fr_faces *out)
{
    if (n < 0 || (n > 0 && (!images || !out)))
        return fr_fail(FR_E_INVALID, "detector: bad arguments");
    for (int i = 0; i < n; i++)
        if (!images[i].pixels || images[i].width <= 0 || images[i].height <= 0)
            return fr_fail(FR_E_INVALID, "detector: empty image %d", i);
    fr_status st = stage1(d, images, n);
    if (!st)
        st = refine1(d);
    if (!st)
        st = score_crops(d, &d->rnet, images);
    if (!st)
        st = refine(d, 2);
    if (!st) {
        for (size_t i = 0; i < d->cand_count; i++)
            for (int k = 0; k < 4; k++)
                d->cands[i].box[k] = trunc(d->cands[i].box[k]);
        st = score_crops(d, &d->onet, images);
    }
    if (!st)
        st = refine(d, 3);
    if (!st && (!grow((void **)&d->faces, &d->face_cap, d->cand_count, sizeof(fr_face), "faces") ||
                !grow((void **)&d->face_start, &d->face_start_cap, (size_t)n + 1, sizeof(int),
                      "images")))
        st = FR_E_NOMEM;
    if (st)
        return st;
    /* the final list is grouped by image, best first within each */
    size_t f = 0;
    for (int i = 0; i < n; i++) {
        d->face_start[i] = (int)f;
        while (f < d->cand_count && d->cands[f].image == i) {
            const cand *c = &d->cands[f];
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
