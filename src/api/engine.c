/*
 * engine.c: the public embedding engine (facerec.h, fr_engine_*): a facade over the batch
 * engine (engine/embedder.h) and the detector (detect/detect.h).
 *
 * Only translation lives here: the public options into the internal ones, the internal
 * per-input results into rows of an fr_results. Everything else (decoding, detection,
 * alignment, batching, the network) is the pipeline the command-line tool runs, so a
 * library user gets the embeddings `facerec embed` writes.
 *
 * Detection runs one image per task on a pool of detectors (one per thread, made on the
 * first detect call), each image decoded at full size as `facerec detect` does.
 */
#include <stdlib.h>
#include <string.h>

#include "api/results.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "detect/detect.h"
#include "detect/source.h"
#include "engine/embedder.h"
#include "image/decode.h"
#include "facerec.h"

struct fr_engine {
    const fr_model *model;
    fr_engine_options options;
    fr_embedder *embedder; /* NULL for a detecting engine */
    fr_align_mode align;   /* options.alignment, as the embedder takes it */
    /* detection, made on first use */
    fr_mtcnn *mtcnn;   /* NULL for the tiny detector alone */
    fr_model *tiny;    /* the tiny detector's network, or NULL */
    fr_pool *pool;
    fr_detector **detectors; /* one per pool thread */
};

static fr_detector_kind kind_of(fr_face_detector d)
{
    return d == FR_FACE_DETECTOR_MTCNN        ? FR_DETECTOR_MTCNN
           : d == FR_FACE_DETECTOR_TINY       ? FR_DETECTOR_TINY
           : d == FR_FACE_DETECTOR_TINY_MTCNN ? FR_DETECTOR_TINY_MTCNN
                                              : FR_DETECTOR_AUTO;
}

static fr_status translate(const fr_engine_options *o, fr_embedder_options *out)
{
    static const fr_align_mode modes[] = {FR_ALIGN_AUTO, FR_ALIGN_NONE, FR_ALIGN_MTCNN,
                                          FR_ALIGN_LANDMARKS68};
    if ((unsigned)o->alignment >= sizeof modes / sizeof modes[0])
        return fr_fail(FR_E_INVALID, "engine: unknown alignment %d", (int)o->alignment);
    if ((unsigned)o->faces > FR_FACES_ALL)
        return fr_fail(FR_E_INVALID, "engine: unknown face selection %d", (int)o->faces);
    if ((unsigned)o->face_detector > FR_FACE_DETECTOR_TINY_MTCNN)
        return fr_fail(FR_E_INVALID, "engine: unknown face detector %d", (int)o->face_detector);
    if (o->detector_size && (o->detector_size < 128 || o->detector_size > 608 ||
                             o->detector_size % 32))
        return fr_fail(FR_E_INVALID, "engine: tiny detector input %d: give a multiple of 32 "
                       "from 128 to 608", o->detector_size);
    if (o->detector_threshold != 0 && !(o->detector_threshold > 0 && o->detector_threshold < 1))
        return fr_fail(FR_E_INVALID, "engine: tiny detector threshold %g outside (0, 1)",
                       o->detector_threshold);
    if (o->max_batch < 0 || o->threads < 0)
        return fr_fail(FR_E_INVALID, "engine: negative batch (%d) or threads (%d)",
                       o->max_batch, o->threads);
    memset(out, 0, sizeof *out);
    out->runner.device = o->device;
    out->runner.precision = o->precision;
    out->runner.max_batch = o->max_batch;
    out->runner.threads = o->threads;
    out->decode_threads = o->threads;
    out->raw = o->raw != 0;
    out->align = modes[o->alignment];
    out->all_faces = o->faces == FR_FACES_ALL;
    out->face = o->faces == FR_FACES_CENTRAL ? FR_FACE_CENTRAL : FR_FACE_LARGEST;
    out->flip = o->flip != 0;
    out->detector = o->detector;
    out->landmarks = o->landmarks;
    out->detector_kind = kind_of(o->face_detector);
    out->detector_size = o->detector_size;
    out->detector_threshold = o->detector_threshold;
    return FR_OK;
}

fr_status fr_engine_new(const fr_model *model, const fr_engine_options *options,
                        fr_engine **out)
{
    fr_engine_options o;
    memset(&o, 0, sizeof o);
    if (options)
        o = *options;
    fr_embedder_options eo;
    fr_status st = translate(&o, &eo);
    if (st)
        return st;
    fr_engine *e = fr_calloc(1, sizeof *e, "an engine");
    if (!e)
        return FR_E_NOMEM;
    e->model = model;
    e->options = o;
    e->align = eo.align;
    if (model && (st = fr_embedder_new(model, &eo, &e->embedder))) {
        free(e);
        return st;
    }
    *out = e;
    return FR_OK;
}

void fr_engine_free(fr_engine *e)
{
    if (!e)
        return;
    fr_embedder_free(e->embedder);
    for (int i = 0; e->detectors && i < fr_pool_threads(e->pool); i++)
        fr_detector_free(e->detectors[i]);
    free(e->detectors);
    fr_pool_free(e->pool);
    fr_mtcnn_free(e->mtcnn);
    fr_model_free(e->tiny);
    free(e);
}

const char *fr_engine_backend(const fr_engine *e)
{
    return e->embedder ? fr_runner_backend(fr_embedder_runner(e->embedder)) : "cpu";
}

/* ---- embedding -------------------------------------------------------------------------- */

static fr_face_box public_box(const fr_face *f)
{
    fr_face_box b;
    b.x1 = f->box[0];
    b.y1 = f->box[1];
    b.x2 = f->box[2];
    b.y2 = f->box[3];
    b.score = f->score;
    memcpy(b.landmarks, f->landmarks, sizeof b.landmarks);
    return b;
}

static int collect(void *ctx, const fr_embed_result *r)
{
    fr_result row;
    memset(&row, 0, sizeof row);
    row.input = r->index;
    row.status = r->status;
    row.face = r->face;
    row.face_count = r->face_count;
    if (r->box && r->face >= 0)
        row.box = public_box(r->box);
    /* a row that cannot be kept stops the run (FR_E_INVALID from the embedder, replaced by
     * the allocation's status below) */
    return fr_results_add(ctx, &row, r->status ? r->error : NULL,
                          r->status ? NULL : r->embedding) != FR_OK;
}

static fr_status run_embed(fr_engine *e, const char *const *paths, const fr_image *images,
                           size_t count, fr_results **out)
{
    if (!e->embedder)
        return fr_fail(FR_E_INVALID, "this engine has no model: it only detects");
    if (count && !(paths || images))
        return fr_fail(FR_E_INVALID, "embedding %zu inputs: no inputs given", count);
    char **names = NULL;
    fr_status st = FR_OK;
    if (images && (st = fr_results_image_names(count, &names)))
        return st;
    size_t dim = (size_t)fr_model_get_info(e->model)->embedding_size;
    fr_results_builder b;
    st = fr_results_begin(&b, dim, count);
    if (!st && images)
        st = fr_embed_images(e->embedder, images, (const char *const *)names, count, collect,
                             &b);
    else if (!st)
        st = fr_embed_files(e->embedder, paths, count, collect, &b);
    if (!st && b.failed)
        st = b.failed;
    fr_results_names_free(names, count);
    return fr_results_end(&b, st, out);
}

fr_status fr_engine_embed_files(fr_engine *e, const char *const *paths, size_t count,
                                fr_results **out)
{
    return run_embed(e, paths, NULL, count, out);
}

fr_status fr_engine_embed_images(fr_engine *e, const fr_image *images, size_t count,
                                 fr_results **out)
{
    return run_embed(e, NULL, images, count, out);
}

/* ---- detection --------------------------------------------------------------------------- */

static fr_status start_detection(fr_engine *e)
{
    if (e->detectors)
        return FR_OK;
    /* as the embedder loads them (engine/embedder.c): options.detector is the first's */
    fr_detector_kind kind;
    int size;
    fr_chip_spec spec;
    /* auto as for the model's chips; without a model, the default model's (as `facerec
     * detect` resolves it), so a detecting engine finds the faces a default one embeds */
    const fr_arch *arch = e->model ? e->model->entry : fr_arch_find(FR_ARCH_DEFAULT);
    int chips = arch && e->align != FR_ALIGN_NONE &&
                fr_chip_spec_for(arch, e->align, &spec) == FR_OK;
    fr_chip_spec_detector(chips ? &spec : NULL, kind_of(e->options.face_detector),
                          e->options.detector_size, &kind, &size);
    char path[4096];
    const char *file = kind == FR_DETECTOR_MTCNN ? e->options.detector : NULL;
    fr_status st = FR_OK;
    if (kind != FR_DETECTOR_MTCNN && !e->tiny)
        st = fr_tiny_load(e->options.detector, size, &e->tiny);
    if (!st && kind != FR_DETECTOR_TINY && !file) {
        st = fr_model_default_path("mtcnn", path, sizeof path);
        file = path;
    }
    if (!st && kind != FR_DETECTOR_TINY && !e->mtcnn)
        st = fr_mtcnn_load(file, &e->mtcnn);
    if (!st && !e->pool)
        st = fr_pool_new(e->options.threads, &e->pool);
    if (st)
        return st;
    int threads = fr_pool_threads(e->pool);
    fr_detector **d = fr_calloc((size_t)threads, sizeof *d, "detectors");
    if (!d)
        return FR_E_NOMEM;
    fr_detect_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.runner.device = FR_DEVICE_CPU; /* as the embedder's detectors: see embedder.c */
    dopt.runner.threads = 1;            /* the pool's threads are the parallelism */
    dopt.tiny = e->tiny;
    dopt.tiny_threshold = e->options.detector_threshold;
    for (int i = 0; i < threads && !st; i++)
        st = fr_detector_new(e->mtcnn, &dopt, &d[i]);
    if (st) {
        for (int i = 0; i < threads; i++)
            fr_detector_free(d[i]);
        free(d);
        return st;
    }
    e->detectors = d;
    return FR_OK;
}

typedef struct detect_job {
    fr_engine *e;
    const char *const *paths;
    const fr_image *images;
    char **names;
    fr_status *status; /* per input */
    char **errors;     /* per input, when status != FR_OK */
    fr_face **faces;   /* per input: its faces (owned), count[i] of them */
    int *count;
} detect_job;

static void detect_task(void *ctx, int task, int worker)
{
    detect_job *j = ctx;
    size_t i = (size_t)task;
    fr_image decoded = {0, 0, NULL};
    const fr_image *image = &decoded;
    fr_source_scale scale;
    fr_status st;
    if (j->images) {
        image = &j->images[i];
        st = fr_image_check(image, j->names[i]);
    } else {
        st = fr_source_load(j->paths[i], NULL, &decoded, &scale);
    }
    fr_faces found = {NULL, 0};
    if (!st)
        st = fr_detector_run(j->e->detectors[worker], image, 1, &found);
    if (!st && found.count > 0) {
        j->faces[i] = fr_malloc((size_t)found.count * sizeof *j->faces[i], "faces");
        if (j->faces[i]) {
            memcpy(j->faces[i], found.faces, (size_t)found.count * sizeof *j->faces[i]);
            j->count[i] = found.count;
        } else {
            st = FR_E_NOMEM;
        }
    }
    if (st) {
        const char *name = j->images ? j->names[i] : j->paths[i];
        if (!strstr(fr_error_message(), name))
            fr_error_prefix(name);
        j->errors[i] = fr_strdup(fr_error_message());
    }
    j->status[i] = st;
    fr_image_free(&decoded);
}

static fr_status run_detect(fr_engine *e, const char *const *paths, const fr_image *images,
                            size_t count, fr_results **out)
{
    if (count && !(paths || images))
        return fr_fail(FR_E_INVALID, "detecting in %zu inputs: no inputs given", count);
    if (count > (size_t)0x7fffffff)
        return fr_fail(FR_E_TOO_LARGE, "detecting in %zu inputs: too many for one call", count);
    fr_status st = start_detection(e);
    if (st)
        return st;
    detect_job j;
    memset(&j, 0, sizeof j);
    j.e = e;
    j.paths = paths;
    j.images = images;
    size_t n = count ? count : 1;
    j.status = fr_calloc(n, sizeof *j.status, "detection results");
    j.errors = fr_calloc(n, sizeof *j.errors, "detection results");
    j.faces = fr_calloc(n, sizeof *j.faces, "detection results");
    j.count = fr_calloc(n, sizeof *j.count, "detection results");
    if (!j.status || !j.errors || !j.faces || !j.count)
        st = FR_E_NOMEM;
    if (!st && images)
        st = fr_results_image_names(count, &j.names);
    if (!st)
        fr_pool_run(e->pool, (int)count, detect_task, &j);
    fr_results_builder b = {NULL, FR_OK};
    if (!st)
        st = fr_results_begin(&b, 0, count);
    for (size_t i = 0; !st && i < count; i++) {
        fr_result row;
        memset(&row, 0, sizeof row);
        row.input = i;
        row.status = j.status[i];
        row.face = -1;
        row.face_count = j.count[i];
        if (j.status[i] || j.count[i] == 0) {
            st = fr_results_add(&b, &row, j.errors[i], NULL);
            continue;
        }
        for (int f = 0; f < j.count[i] && !st; f++) {
            row.face = f;
            row.box = public_box(&j.faces[i][f]);
            st = fr_results_add(&b, &row, NULL, NULL);
        }
    }
    st = fr_results_end(&b, st, out);
    for (size_t i = 0; j.faces && i < count; i++) {
        free(j.faces[i]);
        free(j.errors ? j.errors[i] : NULL);
    }
    fr_results_names_free(j.names, count);
    free(j.status);
    free(j.errors);
    free(j.faces);
    free(j.count);
    return st;
}

fr_status fr_engine_detect_files(fr_engine *e, const char *const *paths, size_t count,
                                 fr_results **out)
{
    return run_detect(e, paths, NULL, count, out);
}

fr_status fr_engine_detect_images(fr_engine *e, const fr_image *images, size_t count,
                                  fr_results **out)
{
    return run_detect(e, NULL, images, count, out);
}
