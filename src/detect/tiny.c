/*
 * tiny.c: face-api's TinyFaceDetector over a batch of images (tiny.h), on one execution
 * context: the CPU (the reference) or a GPU, the same code. The host computes the small
 * tables (jobs, segments) and reads back counts and the kept candidates.
 */
#include "detect/tiny.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "model/model_internal.h"
#include "runtime/backend.h"

#define TINY_BATCH_CPU 8
#define TINY_BATCH_GPU 256

struct fr_tiny {
    fr_exec *exec;
    fr_runner *runner;
    double threshold;
    int size, cells, batch;
    size_t out_floats; /* per image */

    fr_exec_buffer inputs, outputs, cands; /* context memory */
    fr_tiny_job *jobs;
    fr_segment *segments;
    int *counts, *kept;
    fr_cand *found;
    fr_face *faces;
    size_t cap, found_cap;
};

void fr_tiny_free(fr_tiny *t)
{
    if (!t)
        return;
    fr_runner_free(t->runner);
    fr_exec_buffer_free(t->exec, &t->inputs);
    fr_exec_buffer_free(t->exec, &t->outputs);
    fr_exec_buffer_free(t->exec, &t->cands);
    free(t->jobs);
    free(t->segments);
    free(t->counts);
    free(t->kept);
    free(t->found);
    free(t->faces);
    free(t);
}

fr_status fr_tiny_new(const fr_model *net, double threshold, const fr_runner_options *runner,
                      fr_exec *exec, fr_tiny **out)
{
    const fr_model_info *info = fr_model_get_info(net);
    if (strcmp(info->arch, "tinyface") != 0)
        return fr_fail(FR_E_INVALID, "detector: a %s model is not the tiny face detector",
                       info->arch);
    if (!(threshold > 0 && threshold < 1))
        return fr_fail(FR_E_INVALID, "tiny detector: score threshold %g outside (0, 1)", threshold);
    if (!fr_exec_ops(exec)->tiny_inputs || !fr_exec_ops(exec)->tiny_boxes)
        return fr_fail(FR_E_UNSUPPORTED, "the %s backend has no tiny detector operations",
                       fr_exec_backend(exec));
    fr_tiny *t = fr_calloc(1, sizeof *t, "a tiny face detector");
    if (!t)
        return FR_E_NOMEM;
    t->exec = exec;
    t->threshold = threshold;
    t->size = info->input_size;
    t->cells = t->size / 32;
    t->out_floats = (size_t)info->embedding_size;
    fr_runner_options o = runner ? *runner : (fr_runner_options){0};
    int cpu = strcmp(fr_exec_backend(exec), "cpu") == 0;
    o.device = cpu ? FR_DEVICE_CPU : FR_DEVICE_CUDA;
    o.max_batch = cpu ? TINY_BATCH_CPU : TINY_BATCH_GPU;
    fr_status st = t->out_floats == (size_t)t->cells * t->cells * FR_TINYFACE_OUTPUTS
                       ? fr_runner_new(net, &o, &t->runner)
                       : fr_fail(FR_E_INTERNAL, "tiny detector: %zu outputs for a %d input",
                                 t->out_floats, t->size);
    if (st) {
        fr_tiny_free(t);
        return st;
    }
    t->batch = fr_runner_max_batch(t->runner);
    *out = t;
    return FR_OK;
}

static fr_status tables(fr_tiny *t, size_t n)
{
    if (n <= t->cap)
        return FR_OK;
    fr_tiny_job *j = realloc(t->jobs, n * sizeof *j);
    if (j)
        t->jobs = j;
    fr_segment *s = realloc(t->segments, n * sizeof *s);
    if (s)
        t->segments = s;
    int *c = realloc(t->counts, n * sizeof *c);
    if (c)
        t->counts = c;
    int *k = realloc(t->kept, n * sizeof *k);
    if (k)
        t->kept = k;
    if (!j || !s || !c || !k)
        return fr_fail(FR_E_NOMEM, "out of memory for the detection of %zu images", n);
    t->cap = n;
    return FR_OK;
}

fr_status fr_tiny_run_on(fr_tiny *t, const fr_vision_image *images, int n, fr_faces *out)
{
    if (n <= 0)
        return FR_OK;
    const fr_vision_ops *ops = fr_exec_ops(t->exec);
    void *state = fr_exec_state(t->exec);
    size_t in_bytes = (size_t)t->size * t->size * 3, per = (size_t)t->cells * t->cells * 5;
    fr_status st = tables(t, (size_t)n);
    if (!st)
        st = fr_exec_reserve(t->exec, &t->inputs, (size_t)n * in_bytes, "detector inputs");
    if (!st)
        st = fr_exec_reserve(t->exec, &t->outputs, (size_t)n * t->out_floats * sizeof(float),
                             "detector outputs");
    if (!st)
        st = fr_exec_reserve(t->exec, &t->cands, (size_t)n * per * sizeof(fr_cand),
                             "detector candidates");
    if (!st)
        st = ops->tiny_inputs(state, images, n, t->size, t->inputs.data);
    const uint8_t *inputs = t->inputs.data;
    float *outputs = t->outputs.data;
    for (int first = 0; first < n && !st; first += t->batch) {
        int k = n - first < t->batch ? n - first : t->batch;
        st = fr_runner_run_on(t->runner, t->exec, inputs + (size_t)first * in_bytes, k,
                              outputs + (size_t)first * t->out_floats);
    }
    /* face-api's correction factors: the input side over the image's side scaled to it
     * (computeReshapedDimensions: the longer side becomes the input's, the other rounded) */
    for (int i = 0; i < n && !st; i++) {
        int w = images[i].width, h = images[i].height, big = w > h ? w : h;
        double scale = (double)t->size / big;
        double rw = round(w * scale), rh = round(h * scale);
        t->jobs[i] = (fr_tiny_job){i, t->cells, t->size / rw, t->size / rh,
                                   (size_t)i * t->out_floats, (size_t)i * per};
    }
    if (!st)
        st = ops->tiny_boxes(state, t->outputs.data, t->jobs, n, t->threshold, t->cands.data,
                             t->counts);
    size_t total = 0;
    for (int i = 0; i < n && !st; i++)
        t->segments[i] = (fr_segment){(size_t)i * per, t->counts[i]};
    fr_nms_spec spec = {FR_TINY_IOU, 0, 0, 0, FR_BOX_KEEP, FR_BOX_KEEP, 1};
    if (!st)
        st = ops->nms(state, t->cands.data, t->segments, n, &spec, t->kept);
    for (int i = 0; i < n && !st; i++)
        total += (size_t)t->kept[i];
    if (!st && (total > t->found_cap || !t->faces)) { /* at least one: never NULL + 0 */
        size_t cap = total ? total : 1;
        fr_cand *f = realloc(t->found, cap * sizeof *f);
        fr_face *faces = f ? realloc(t->faces, cap * sizeof *faces) : NULL;
        if (f)
            t->found = f;
        if (faces)
            t->faces = faces;
        st = f && faces ? FR_OK : fr_fail(FR_E_NOMEM, "out of memory for %zu faces", total);
        if (!st)
            t->found_cap = cap;
    }
    size_t at = 0;
    for (int i = 0; i < n && !st; i++) {
        const fr_cand *src = (const fr_cand *)t->cands.data + t->segments[i].first;
        st = fr_exec_download(t->exec, t->found + at, src, (size_t)t->kept[i] * sizeof(fr_cand));
        for (int k = 0; k < t->kept[i] && !st; k++) {
            const fr_cand *c = &t->found[at + k];
            fr_face *f = &t->faces[at + k];
            double w = images[i].width, h = images[i].height;
            f->box[0] = (float)(c->box[0] * w);
            f->box[1] = (float)(c->box[1] * h);
            f->box[2] = (float)(c->box[2] * w);
            f->box[3] = (float)(c->box[3] * h);
            f->score = (float)c->score;
            for (int p = 0; p < 5; p++)
                f->landmarks[p][0] = f->landmarks[p][1] = NAN;
        }
        out[i].faces = t->faces + at;
        out[i].count = t->kept[i];
        at += (size_t)t->kept[i];
    }
    /* the faces of every image point into one array that may have moved while it grew */
    for (int i = 0, a = 0; i < n && !st; a += out[i].count, i++)
        out[i].faces = t->faces + a;
    return st;
}
