/*
 * embedder.c: the decode -> batch -> network pipeline behind every command that reads images.
 *
 * Batch b holds inputs [b*B, b*B+B) in buffer b % FR_EMBED_BUFFERS. Decode workers claim
 * inputs one at a time from a shared counter and wait only when the buffer their input
 * needs is still held by an older batch; the main thread waits for a batch to be complete,
 * packs its decoded images together and submits it to the runner, then collects the batch
 * before it (one batch stays in flight, so a GPU computes b - 1 and uploads b while the
 * CPUs decode b + 1), hands its results to the sink in input order, and frees its buffer
 * for batch b - 1 + FR_EMBED_BUFFERS.
 *
 * Before decoding, a worker takes from the decode memory budget (core/budget.h) what its
 * inputs will hold (file bytes and pixels, probed from their headers), in runs of its claim
 * that fit, and gives it back once their images are freed: large images wait for room.
 *
 * Decoding has one home, decode_inputs: libjpeg-turbo on the worker's thread, or (gpu_decode)
 * one call of a GPU decoder shared by all workers for the inputs a worker claimed (32 at a
 * time without alignment), whose images come back to the host for the preparation below:
 * the seam where the batched device pipeline will keep them on the GPU instead.
 *
 * With alignment a worker claims up to ALIGN_GROUP inputs of one batch at once, decodes
 * them, finds their faces together (each worker owns a detector: its P/R/O-Net runners and
 * scratch), with 68-point alignment runs the landmark network once over the faces those
 * inputs yield (a landmarker per worker), and writes into each slot the chips its input
 * yields: the first into the batch's pixels, more (all_faces) into the slot's own store.
 * The detector and landmark networks run on the CPU whatever device the recognition
 * network uses: on an H200 host (16 cores) facerec's detector took 430-547 images/s on the
 * CPU threads and 180-191 on the GPU, where its pyramid and crop resizing and NMS, done on
 * the host between tiny network runs, serialize behind one device (bench/RESULTS.md). Since a batch may then hold more chips
 * than B, the main thread cuts it into chunks of at most B chips, each listing the results
 * it answers in input order, and keeps one chunk in flight.
 *
 * With flip the main thread packs each chip followed by its mirror image (chip 2i, mirror
 * 2i + 1), so a chunk holds at most B / 2 faces and the runner's planned batch and buffers
 * serve both passes; emit_chunk folds each pair of outputs into the face's one embedding in
 * place before the sink sees it.
 *
 * With jitter N the same happens with N copies of each chip, each randomly turned, scaled,
 * moved and mirrored (dlib's jitter_image, detect/chips.h), seeded by the input's index, the
 * face and the copy, so that a result does not depend on batching or threads; the face's
 * embedding is the mean of the N raw outputs (dlib's num_jitters), normalized after.
 *
 * The batched pipeline (embedder.h, fr_pipeline; the default with a GPU) keeps the buffers and
 * the decode workers but gives the workers decoding alone (prepare_decoded: each slot keeps its
 * image); the main thread then runs a complete batch through run_batch on one execution
 * context of the network's device (runtime/vision.h), which also holds the detector and the
 * chipper: the images to the context (uploaded to a GPU), the detector over the images of
 * each window of DETECT_IMAGES positions, one chipper call per window for the faces it chose,
 * the network over the batch's chips, the results in input order. The workers decode the
 * next FR_EMBED_BUFFERS - 1 batches meanwhile. On the CPU its windows are the threads
 * pipeline's groups and its runner batches are packed in the same input order, so that both
 * pipelines give the same bits (tests/test_pipeline.sh).
 */
#include "engine/embedder.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/pool.h"
#include "detect/chips.h"
#include "detect/source.h"
#include "image/decode.h"
#include "image/gpu_decode.h"
#include "runtime/backend.h"
#include "runtime/vision.h"
#include "model/model_internal.h"

/* Inputs a worker detects together: enough to batch P-Net's levels, few enough that every
 * core gets work in a small run. */
#define ALIGN_GROUP 4
/* Inputs a worker decodes together on the GPU without alignment: one nvJPEG call. */
#define GPU_DECODE_GROUP 32
#define MAX_GROUP GPU_DECODE_GROUP
/* The batched pipeline's detector groups: the inputs of each window of this many positions
 * (at most FR_DETECT_PIXELS pixels), one detector run and one chipper call each. On the CPU the
 * threads pipeline's groups, so that every network sees the same batches in both and the
 * results are bit-identical (the CPU's GEMM rounds by batch shape); on a GPU large ones. */
#define DETECT_IMAGES_CPU ALIGN_GROUP
#define DETECT_IMAGES_GPU 64

/* What one input yields besides its first chip. */
typedef struct slot_faces {
    int rows;       /* results with an embedding: 0 on failure, else 1 or one per face */
    int first_face; /* face index of row 0, rows following on (-1: the whole image) */
    int face_count; /* faces detected (0 without detection) */
    int capacity;   /* rows faces[] holds (extra: capacity - 1 chips) */
    fr_face *faces; /* per row */
    uint8_t *extra; /* chips of rows 1.. (threads pipeline) */
    /* batched pipeline */
    int prepared;   /* row 0 is in the batch's pixels already (an image of the model's size) */
    int chip;       /* the batch's chip of row 0, rows following on */
    fr_image image; /* decoded, waiting for the detector (pixels NULL: none; with gpu_decode
                       only its size: the pixels are the decoder's, on the device) */
    fr_source_scale scale;
    void *data;     /* with gpu_decode: the file's bytes, for the batch's decode call */
    size_t size;
} slot_faces;

typedef struct batch_buffer {
    uint8_t *pixels;     /* B prepared images */
    fr_status *status;   /* per slot */
    char **errors;       /* per slot, malloc'ed message when status != OK */
    slot_faces *slots;   /* per slot */
    long batch;          /* which batch occupies it (-1: free) */
    int remaining;       /* slots not yet decoded */
} batch_buffer;

/* A decode worker's own detection state (alignment only). */
typedef struct worker_state {
    fr_detector *detector;
    fr_chipper *chipper;
    /* per input of a group (e->group entries each, allocated once) */
    fr_image *images;
    fr_source_scale *scales;
    fr_image *detect;
    int *which;
    fr_faces *faces;
    /* the faces of a group to cut, their images and where each chip goes, in order */
    const fr_image **cut_images;
    const fr_face **cut_faces;
    uint8_t **cut_out;
    size_t cut_cap;
} worker_state;

typedef struct worker_arg {
    struct fr_embedder *e;
    int id;
} worker_arg;

/* The batched pipeline's stage state (fr_pipeline): the context of the network's device, its
 * detector and chipper, and per batch the image table, the faces to cut and the chips. */
typedef struct batched_stage {
    fr_exec *exec;
    fr_detector *detector;
    fr_chipper *chipper;
    int detect_images;       /* images per detector run at most */
    fr_exec_buffer images;   /* the batch's images in context memory (GPU) */
    fr_exec_buffer chips;    /* the batch's chips, in chip order */
    fr_exec_buffer outputs;  /* the network's outputs for them (context memory) */
    fr_vision_image *table;  /* images to detect, in slot order */
    int *table_slot;         /* their slots */
    fr_faces *faces;         /* per table entry, for one detector run */
    int *group_end;          /* per detector group: the chip after its last */
    size_t table_cap;
    fr_chip_face *cut;       /* faces to cut, in chip order */
    int *chip_slot, *chip_row; /* per chip: its input's slot and row */
    int *order;              /* the chips in input order (slot, then row) */
    size_t chip_cap;
    float *embeddings;       /* host: chips x embedding_size */
    size_t embeddings_cap;
    uint8_t *host_chips;     /* flip / jitter on a GPU: the chips, for their host-made copies */
    size_t host_chips_cap;
    fr_encoded *encoded;     /* with gpu_decode: the batch's files, their images, their slots */
    fr_gpu_image *decoded;
    int *encoded_slot;
    size_t encoded_cap;
} batched_stage;

/* One result of a chunk: slot of its batch, and which chip (-1: a failed input). */
typedef struct chunk_entry {
    int slot, row;
} chunk_entry;

typedef struct chunk {
    chunk_entry *entries; /* up to 2B: B chips and the failed inputs among them */
    int count, chips;     /* chips: faces; the runner gets chips x passes images */
    size_t batch;
    int last;             /* the batch's last chunk: its buffer is free once collected */
} chunk;

struct fr_embedder {
    const fr_model *model;
    fr_runner *runner;
    fr_embedder_options options;
    int batch;           /* B */
    int passes;          /* network inputs per chip: 2 with flip (the chip, its mirror), N with
                            jitter N, else 1 */
    int chunk_chips;     /* chips a chunk holds: B / passes */
    size_t image_bytes;
    int threads;
    batch_buffer buffers[FR_EMBED_BUFFERS];
    float *outputs;      /* B x embedding_size */
    uint8_t *packed;     /* B prepared images, successes only */
    chunk chunks[2];     /* the chunk being submitted and the one in flight */
    int group;           /* inputs a worker claims at once */
    int min_side;        /* JPEG DCT scaling (decode.h): what the preparation still needs */
    fr_gpu_decoder *gpu; /* with gpu_decode: shared by the decode threads, under gpu_lock */
    pthread_mutex_t gpu_lock;
    fr_mtcnn *mtcnn;     /* with alignment and the MTCNN detector */
    fr_model *tiny_net;  /* with alignment and the tiny detector */
    worker_state *workers; /* with alignment: one per decode thread */
    fr_model *landmark_net; /* 68-point alignment: face-api's landmark network */
    fr_chip_spec chip;   /* with alignment: the chip the model takes */
    fr_budget *budget;   /* decode memory: options.decode_budget, or own_budget */
    fr_budget *own_budget;
    size_t pixel_bytes;  /* what a decoded pixel costs until its group is prepared */
    int batched;         /* the batched pipeline (fr_pipeline); else threads */
    int stage_decodes;   /* batched, gpu_decode, on a GPU: run_batch decodes on the device */
    batched_stage stage;

    /* the run in progress */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    const char *const *paths; /* the inputs' names: files, or labels of images */
    const fr_image *images;   /* fr_embed_images: the decoded inputs (borrowed), else NULL */
    size_t count;
    size_t next;         /* next input to claim */
    long released;       /* batches handed back: buffer k is free for batch k + released.. */
    int stopping;
};

/* The batched pipeline's context on the network's device, and its detector and chipper there:
 * on the CPU a pool of every core (the decode threads only decode). */
static fr_status start_stage(fr_embedder *e)
{
    batched_stage *g = &e->stage;
    int gpu = strcmp(fr_runner_backend(e->runner), "cpu") != 0;
    fr_status st = fr_exec_new(gpu ? FR_DEVICE_CUDA : FR_DEVICE_CPU, e->threads, &g->exec);
    if (st)
        return st;
    g->detect_images = gpu ? DETECT_IMAGES_GPU : DETECT_IMAGES_CPU;
    fr_detect_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.runner = e->options.runner;
    dopt.runner.device = gpu ? FR_DEVICE_CUDA : FR_DEVICE_CPU;
    dopt.runner.threads = e->threads;
    dopt.runner.max_batch = g->detect_images;
    dopt.tiny = e->tiny_net;
    dopt.tiny_threshold = e->options.detector_threshold;
    st = fr_detector_new_on(e->mtcnn, &dopt, g->exec, &g->detector);
    if (!st)
        st = fr_chipper_new(&e->chip, e->landmark_net, &dopt.runner, g->exec, &g->chipper);
    return st;
}

/* The detector weights, one detector and one chip cutter per decode thread (both on the CPU:
 * see the top of this file), and the landmark network where the chips need it. */
static fr_status start_alignment(fr_embedder *e)
{
    fr_status st = fr_chip_spec_for(e->model->entry, e->options.align, &e->chip);
    if (st)
        return st;
    fr_detector_kind kind;
    fr_chip_spec_detector(&e->chip, e->options.detector_kind, e->options.detector_size, &kind,
                          &e->options.detector_size);
    e->options.detector_kind = kind;
    st = fr_chip_spec_check_detector(&e->chip, kind);
    if (st)
        return st;
    /* options.detector names the first detector's weights; tiny+mtcnn's MTCNN is the default */
    char path[4096];
    const char *file = kind == FR_DETECTOR_MTCNN ? e->options.detector : NULL;
    if (kind != FR_DETECTOR_TINY && !file) {
        st = fr_model_default_path("mtcnn", path, sizeof path);
        if (st)
            return fr_fail(st, "face alignment needs the MTCNN detector: %s", fr_error_message());
        file = path;
    }
    if (kind != FR_DETECTOR_MTCNN) {
        st = fr_tiny_load(e->options.detector, e->options.detector_size, &e->tiny_net);
        if (st == FR_E_NOT_FOUND)
            return fr_fail(st, "face alignment needs the tiny face detector (--detector %s; "
                           "weights/fetch.sh makes it, or --detector mtcnn): %s",
                           fr_detector_kind_name(kind), fr_error_message());
    }
    if (!st && kind != FR_DETECTOR_TINY)
        st = fr_mtcnn_load(file, &e->mtcnn);
    if (!st)
        st = fr_chip_load_landmarks(&e->chip, e->options.landmarks, &e->landmark_net);
    if (st)
        return st;
    if (e->batched)
        return start_stage(e);
    e->group = ALIGN_GROUP;
    e->workers = fr_calloc((size_t)e->threads, sizeof *e->workers, "decode threads");
    if (!e->workers)
        return FR_E_NOMEM;
    for (int i = 0; i < e->threads; i++) {
        worker_state *w = &e->workers[i];
        size_t g = (size_t)e->group;
        w->images = fr_calloc(g, sizeof *w->images, "a decode group");
        w->scales = fr_calloc(g, sizeof *w->scales, "a decode group");
        w->detect = fr_calloc(g, sizeof *w->detect, "a decode group");
        w->which = fr_calloc(g, sizeof *w->which, "a decode group");
        w->faces = fr_calloc(g, sizeof *w->faces, "a decode group");
        if (!w->images || !w->scales || !w->detect || !w->which || !w->faces)
            return FR_E_NOMEM;
    }
    fr_detect_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.runner.device = FR_DEVICE_CPU; /* see the top of this file */
    dopt.runner.threads = 1;            /* the decode threads are the parallelism */
    dopt.runner.max_batch = e->group;
    dopt.tiny = e->tiny_net;
    dopt.tiny_threshold = e->options.detector_threshold;
    for (int i = 0; i < e->threads && !st; i++) {
        st = fr_detector_new(e->mtcnn, &dopt, &e->workers[i].detector);
        if (!st)
            st = fr_chipper_new(&e->chip, e->landmark_net, &dopt.runner,
                                fr_detector_exec(e->workers[i].detector), &e->workers[i].chipper);
    }
    return st;
}

fr_status fr_embedder_new(const fr_model *model, const fr_embedder_options *options,
                          fr_embedder **out)
{
    fr_embedder *e = fr_calloc(1, sizeof *e, "the batch engine");
    if (!e)
        return FR_E_NOMEM;
    e->model = model;
    e->options = options ? *options : (fr_embedder_options){0};
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->gpu_lock, NULL);
    pthread_cond_init(&e->changed, NULL);
    if (e->options.flip && e->options.jitter > 0) {
        fr_embedder_free(e);
        return fr_fail(FR_E_INVALID, "--flip and --jitter: jittered copies are mirrored half "
                       "the time already; choose one");
    }
    if (e->options.jitter < 0 || e->options.jitter > FR_MAX_JITTER) {
        int n = e->options.jitter;
        fr_embedder_free(e);
        return fr_fail(FR_E_INVALID, "--jitter %d: give 1 to %d copies", n, FR_MAX_JITTER);
    }
    e->passes = e->options.flip ? 2 : e->options.jitter > 0 ? e->options.jitter : 1;
    if (e->passes > 1 && e->options.runner.max_batch > 0 &&
        e->options.runner.max_batch < e->passes)
        e->options.runner.max_batch = e->passes; /* one chip and all its copies */
    fr_status st = fr_runner_new(model, &e->options.runner, &e->runner);
    if (!st && fr_runner_max_batch(e->runner) < e->passes) {
        /* the backend's default batch is smaller than one chip's copies */
        fr_runner_free(e->runner);
        e->runner = NULL;
        e->options.runner.max_batch = e->passes;
        st = fr_runner_new(model, &e->options.runner, &e->runner);
    }
    if (st) {
        fr_embedder_free(e);
        return st;
    }
    e->batch = fr_runner_max_batch(e->runner);
    e->chunk_chips = e->batch / e->passes;
    if (e->chunk_chips < 1) {
        st = fr_fail(FR_E_INVALID, "flipped embeddings need a batch of 2 (a chip and its "
                     "mirror); the runner planned %d", e->batch);
        fr_embedder_free(e);
        return st;
    }
    int s = model->info.input_size;
    e->image_bytes = (size_t)s * s * 3;
    /* With a GPU the engine's own thread (packing batches, results to the sink) needs a core:
     * irv1 from JPEGs on an H200 with 16 cores ran 32k images/s with 16 decode threads, 44.5k
     * with 15 (bench/RESULTS.md). On the CPU that thread runs the network on every core. */
    int cores = fr_cpu_count();
    int gpu = strcmp(fr_runner_backend(e->runner), "cuda") == 0;
    e->threads = e->options.decode_threads > 0 ? e->options.decode_threads
                 : gpu && cores > 2           ? cores - 1
                                              : cores;
    size_t dim = (size_t)model->info.embedding_size;
    e->outputs = fr_malloc((size_t)e->batch * dim * sizeof(float), "embeddings");
    e->packed = fr_malloc((size_t)e->batch * e->image_bytes, "a batch of images");
    if (!e->outputs || !e->packed) {
        fr_embedder_free(e);
        return FR_E_NOMEM;
    }
    for (int k = 0; k < FR_EMBED_BUFFERS; k++) {
        batch_buffer *b = &e->buffers[k];
        b->pixels = fr_malloc((size_t)e->batch * e->image_bytes, "a batch of images");
        b->status = fr_calloc((size_t)e->batch, sizeof *b->status, "a batch");
        b->errors = fr_calloc((size_t)e->batch, sizeof *b->errors, "a batch");
        b->slots = fr_calloc((size_t)e->batch, sizeof *b->slots, "a batch");
        if (!b->pixels || !b->status || !b->errors || !b->slots) {
            fr_embedder_free(e);
            return FR_E_NOMEM;
        }
    }
    for (int k = 0; k < 2; k++)
        if (!(e->chunks[k].entries = fr_calloc(2 * (size_t)e->batch, sizeof(chunk_entry),
                                               "a batch"))) {
            fr_embedder_free(e);
            return FR_E_NOMEM;
        }
    e->group = 1;
    e->batched = e->options.align != FR_ALIGN_NONE &&
                 (e->options.pipeline == FR_PIPELINE_BATCHED ||
                  (e->options.pipeline == FR_PIPELINE_AUTO && gpu));
    /* the resizers need no more than twice the model's side; detection a face a quarter of
     * the shorter side at the chip's full detail */
    e->min_side = e->options.full_decode ? 0
                  : (e->options.align == FR_ALIGN_NONE ? 2 : 4) * model->info.input_size;
    if (e->options.align != FR_ALIGN_NONE && (st = start_alignment(e)) != FR_OK) {
        fr_embedder_free(e);
        return st;
    }
    /* The decoded RGB image (3 bytes a pixel) and, with alignment, the detector's and the
     * chipper's working copies of it (2 more: a 64 Mpx PNG held 320 MB beyond the floor) */
    e->pixel_bytes = e->options.align == FR_ALIGN_NONE ? 3 : 5;
    e->budget = e->options.decode_budget;
    if (!e->budget) {
        size_t capacity;
        if ((st = fr_budget_default_capacity(&capacity)) != FR_OK ||
            (st = fr_budget_new(capacity, &e->own_budget)) != FR_OK) {
            fr_embedder_free(e);
            return st;
        }
        e->budget = e->own_budget;
    }
    if (e->options.gpu_decode) {
        if (e->options.align == FR_ALIGN_NONE)
            e->group = GPU_DECODE_GROUP;
        /* batched on a GPU: the whole batch in one call, its images on the device until the
         * next, read there by the detector; else the images come back to the decode threads */
        e->stage_decodes = e->batched && gpu;
        fr_gpu_decoder_options go = {e->stage_decodes ? e->batch : e->group, FR_GPU_BACKEND_AUTO,
                                     {0, e->min_side}, 0};
        if ((st = fr_gpu_decoder_new(&go, &e->gpu)) != FR_OK) {
            fr_embedder_free(e);
            return st;
        }
    }
    *out = e;
    return FR_OK;
}

void fr_embedder_free(fr_embedder *e)
{
    if (!e)
        return;
    for (int k = 0; k < FR_EMBED_BUFFERS; k++) {
        batch_buffer *b = &e->buffers[k];
        if (b->errors)
            for (int i = 0; i < e->batch; i++)
                free(b->errors[i]);
        if (b->slots)
            for (int i = 0; i < e->batch; i++) {
                free(b->slots[i].faces);
                free(b->slots[i].extra);
                fr_image_free(&b->slots[i].image);
                free(b->slots[i].data);
            }
        free(b->pixels);
        free(b->status);
        free(b->errors);
        free(b->slots);
    }
    batched_stage *g = &e->stage;
    fr_chipper_free(g->chipper); /* then the detector, then their context */
    fr_detector_free(g->detector);
    if (g->exec) {
        fr_exec_buffer_free(g->exec, &g->images);
        fr_exec_buffer_free(g->exec, &g->chips);
        fr_exec_buffer_free(g->exec, &g->outputs);
        fr_exec_free(g->exec);
    }
    free(g->table);
    free(g->table_slot);
    free(g->faces);
    free(g->group_end);
    free(g->cut);
    free(g->chip_slot);
    free(g->chip_row);
    free(g->order);
    free(g->embeddings);
    free(g->host_chips);
    free(g->encoded);
    free(g->decoded);
    free(g->encoded_slot);
    if (e->workers)
        for (int i = 0; i < e->threads; i++) {
            worker_state *w = &e->workers[i];
            fr_chipper_free(w->chipper); /* first: it runs on the detector's context */
            fr_detector_free(w->detector);
            free(w->cut_images);
            free(w->cut_faces);
            free(w->cut_out);
            free(w->images);
            free(w->scales);
            free(w->detect);
            free(w->which);
            free(w->faces);
        }
    fr_model_free(e->landmark_net);
    free(e->workers);
    fr_mtcnn_free(e->mtcnn);
    fr_model_free(e->tiny_net);
    free(e->chunks[0].entries);
    free(e->chunks[1].entries);
    free(e->outputs);
    free(e->packed);
    fr_runner_free(e->runner);
    fr_gpu_decoder_free(e->gpu);
    fr_budget_free(e->own_budget);
    pthread_mutex_destroy(&e->gpu_lock);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->changed);
    free(e);
}

const fr_runner *fr_embedder_runner(const fr_embedder *e)
{
    return e->runner;
}

static void fail_slot_with(batch_buffer *b, int slot, fr_status st, const char *message)
{
    b->status[slot] = st;
    b->errors[slot] = fr_strdup(message);
}

static void fail_slot(batch_buffer *b, int slot, fr_status st)
{
    fail_slot_with(b, slot, st, fr_error_message());
}

static void release_input(const fr_embedder *e, fr_image *image)
{
    if (!e->images)
        fr_image_free(image);
    else
        *image = (fr_image){0, 0, NULL};
}

/* The batched pipeline decodes on the device this run (files, not the caller's images). */
static int stage_decoding(const fr_embedder *e)
{
    return e->stage_decodes && !e->images;
}

/* The one place inputs are decoded: inputs [first, first + k) of batch buffer b into images
 * (pixels NULL where an input failed, its slot then marked with the reason) and, for boxes in
 * file pixels, the scale from decoded to file pixels. libjpeg-turbo on this thread, or one
 * batched call of the shared GPU decoder (image/gpu_decode.h), whose failures are
 * libjpeg-turbo's verdicts and so the same lines. */
static void decode_inputs(fr_embedder *e, size_t first, int k, batch_buffer *b, fr_image *images,
                          fr_source_scale *scales)
{
    if (e->images) { /* fr_embed_images: the caller's, borrowed (release_input keeps them) */
        for (int j = 0; j < k; j++) {
            size_t i = first + (size_t)j;
            fr_status st = fr_image_check(&e->images[i], e->paths[i]);
            images[j] = st ? (fr_image){0, 0, NULL} : e->images[i];
            scales[j].x = scales[j].y = 1.0;
            if (st)
                fail_slot(b, (int)(i % (size_t)e->batch), st);
        }
        return;
    }
    fr_decode_options dopt = {0, e->min_side};
    if (!e->gpu) {
        for (int j = 0; j < k; j++) {
            fr_status st = fr_source_load(e->paths[first + (size_t)j], &dopt, &images[j],
                                          &scales[j]);
            if (st) {
                images[j].pixels = NULL;
                fail_slot(b, (int)((first + (size_t)j) % (size_t)e->batch), st);
            }
        }
        return;
    }
    fr_encoded in[MAX_GROUP];
    void *data[MAX_GROUP];
    int which[MAX_GROUP], n = 0;
    for (int j = 0; j < k; j++) {
        size_t size = 0;
        images[j].pixels = NULL;
        fr_status st = fr_file_read(e->paths[first + (size_t)j], FR_MAX_FILE_BYTES, &data[n], &size);
        if (st) {
            fail_slot(b, (int)((first + (size_t)j) % (size_t)e->batch), st);
            continue;
        }
        in[n] = (fr_encoded){data[n], size, e->paths[first + (size_t)j]};
        which[n++] = j;
    }
    fr_image out[MAX_GROUP];
    fr_gpu_image info[MAX_GROUP];
    pthread_mutex_lock(&e->gpu_lock);
    fr_gpu_decode_host(e->gpu, in, n, out, info); /* a broken decoder fails every input */
    pthread_mutex_unlock(&e->gpu_lock);
    for (int i = 0; i < n; i++) {
        int j = which[i], slot = (int)((first + (size_t)j) % (size_t)e->batch);
        free(data[i]);
        if (info[i].status) {
            fail_slot_with(b, slot, info[i].status, info[i].error);
            continue;
        }
        images[j] = out[i];
        scales[j].x = (double)info[i].file_width / out[i].width;
        scales[j].y = (double)info[i].file_height / out[i].height;
    }
}

/* Input `index` (decoded as im) prepared whole into its slot's pixels as its one row: without
 * alignment, or under auto an image of the model's own size (a chip already); or its slot
 * failed, named. */
static void prepare_whole(fr_embedder *e, batch_buffer *b, size_t index, const fr_image *im)
{
    int slot = (int)(index % (size_t)e->batch);
    fr_status st = fr_model_prepare_image(e->model, im, b->pixels + (size_t)slot * e->image_bytes);
    if (st) {
        fr_error_prefix(e->paths[index]);
        fail_slot(b, slot, st);
    } else {
        b->slots[slot].rows = 1;
        b->slots[slot].prepared = 1;
    }
}

/* Under auto, an image of the model's input size is a chip already. */
static int is_chip(const fr_embedder *e, int width, int height)
{
    int size = e->model->info.input_size;
    return e->options.align == FR_ALIGN_AUTO && width == size && height == size;
}

/* Without alignment: prepares decoded inputs [first, first + k) into their slots. */
static void prepare_plain(fr_embedder *e, size_t first, int k, batch_buffer *b)
{
    fr_image images[MAX_GROUP];
    fr_source_scale scales[MAX_GROUP];
    decode_inputs(e, first, k, b, images, scales);
    for (int j = 0; j < k; j++) {
        if (!images[j].pixels)
            continue;
        prepare_whole(e, b, first + (size_t)j, &images[j]);
        release_input(e, &images[j]);
    }
}

/* The faces an image yields: its main one, or all of them (all_faces), from *first on. */
static int chosen_faces(const fr_embedder *e, const fr_image *image, const fr_faces *faces,
                        int *first)
{
    *first = 0;
    if (faces->count == 0)
        return 0;
    if (e->options.all_faces)
        return faces->count;
    if (e->options.face_index > 0) {
        *first = e->options.face_index - 1;
        return *first < faces->count;
    }
    *first = fr_faces_main(faces, image->width, image->height, e->options.face);
    return 1;
}

static int slot_of(const fr_embedder *e, size_t index)
{
    return (int)(index % (size_t)e->batch);
}

/* Room in a slot for `rows` faces (and, with extra, the chips of rows 1..: the threads
 * pipeline keeps them in the slot; the batched one never), or FR_E_NOMEM with the reason. */
static fr_status slot_reserve(const fr_embedder *e, slot_faces *sf, int rows, int extra)
{
    if (rows <= sf->capacity)
        return FR_OK;
    fr_face *f = realloc(sf->faces, (size_t)rows * sizeof *f);
    if (f)
        sf->faces = f;
    uint8_t *x = extra && rows > 1 ? realloc(sf->extra, (size_t)(rows - 1) * e->image_bytes)
                                   : sf->extra;
    if (x)
        sf->extra = x;
    if (!f || (extra && rows > 1 && !x))
        return fr_fail(FR_E_NOMEM, "out of memory for %d faces", rows);
    sf->capacity = rows; /* an embedder's slots serve one pipeline: extra or never */
    return FR_OK;
}

/* Why an image with `count` faces yields none: none found, or not the one --face asked for. */
static fr_status no_face(const fr_embedder *e, int count)
{
    return count ? fr_fail(FR_E_NO_FACE, "%d face(s) found, no face %d (--face)", count,
                           e->options.face_index - 1)
                 : fr_fail(FR_E_NO_FACE, "no face found");
}

/* The chips of the nd detected inputs which[] of the group starting at `first`: each one's main
 * face, or all of them, cut in one chipper call (one landmark network pass). An input without
 * a face (or without memory for its faces) fails on its own; the return value is the failure
 * of the cut itself, which is the whole call's. */
static fr_status cut_group(fr_embedder *e, worker_state *w, batch_buffer *b, size_t first,
                           const int *which, int nd, const fr_faces *faces)
{
    int n = 0;
    for (int d = 0; d < nd; d++) {
        int j = which[d], slot = slot_of(e, first + (size_t)j);
        slot_faces *sf = &b->slots[slot];
        const fr_image *image = &w->images[j];
        sf->face_count = faces[d].count;
        int first_face, rows = chosen_faces(e, image, &faces[d], &first_face);
        fr_status st = rows ? FR_OK : no_face(e, faces[d].count);
        if (!st)
            st = slot_reserve(e, sf, rows, 1);
        size_t need = (size_t)n + (size_t)rows;
        if (!st && need > w->cut_cap) {
            const fr_image **im = realloc(w->cut_images, need * sizeof *im);
            if (im)
                w->cut_images = im;
            const fr_face **fa = realloc(w->cut_faces, need * sizeof *fa);
            if (fa)
                w->cut_faces = fa;
            uint8_t **out = realloc(w->cut_out, need * sizeof *out);
            if (out)
                w->cut_out = out;
            if (!im || !fa || !out)
                return fr_fail(FR_E_NOMEM, "out of memory for the chips of %zu faces", need);
            w->cut_cap = need;
        }
        if (st) {
            fr_error_prefix(e->paths[first + (size_t)j]);
            fail_slot(b, slot, st);
            continue;
        }
        for (int r = 0; r < rows; r++) {
            const fr_face *face = &faces[d].faces[first_face + r];
            w->cut_images[n] = image;
            w->cut_faces[n] = face;
            w->cut_out[n++] = r == 0 ? b->pixels + (size_t)slot * e->image_bytes
                                     : sf->extra + (size_t)(r - 1) * e->image_bytes;
            sf->faces[r] = *face;
            fr_source_face(&sf->faces[r], &w->scales[j]);
        }
        sf->first_face = first_face;
        sf->rows = rows;
    }
    return fr_chipper_cut(w->chipper, w->cut_images, w->cut_faces, n, w->cut_out);
}

/* With alignment: decodes inputs [first, first + k) of batch buffer b, finds the faces of
 * those that are not already chips (one detector run for all) and cuts their chips (one
 * chipper call for all). */
static void prepare_group(fr_embedder *e, worker_state *w, size_t first, int k, batch_buffer *b)
{
    fr_image *detect = w->detect;
    int *which = w->which, nd = 0;
    decode_inputs(e, first, k, b, w->images, w->scales);
    for (int j = 0; j < k; j++) {
        fr_image *im = &w->images[j];
        if (!im->pixels) {
            /* failed: its slot says why */
        } else if (is_chip(e, im->width, im->height)) {
            prepare_whole(e, b, first + (size_t)j, im);
        } else {
            which[nd] = j;
            detect[nd++] = *im;
        }
    }
    fr_faces *faces = w->faces;
    fr_status st = nd ? fr_detector_run(w->detector, detect, nd, faces) : FR_OK;
    if (!st)
        st = cut_group(e, w, b, first, which, nd, faces);
    /* A group run fails as a whole (one image the detector cannot take, one face box the
     * landmark net refuses): then each image runs on its own, so that an error is only
     * reported against the file that caused it. Inputs already answered (no face) keep
     * their answer. */
    if (st) {
        char group_error[512];
        fr_error_save(group_error, sizeof group_error);
        for (int d = 0; d < nd; d++) {
            int slot = slot_of(e, first + (size_t)which[d]);
            if (b->status[slot] != FR_OK)
                continue;
            fr_status sj = st;
            if (nd > 1) {
                sj = fr_detector_run(w->detector, &detect[d], 1, &faces[d]);
                if (!sj)
                    sj = cut_group(e, w, b, first, &which[d], 1, &faces[d]);
            } else {
                fr_error_restore(group_error);
            }
            if (sj) {
                fr_error_prefix(e->paths[first + (size_t)which[d]]);
                fail_slot(b, slot, sj);
            }
        }
    }
    for (int j = 0; j < k; j++)
        if (w->images[j].pixels)
            release_input(e, &w->images[j]);
}

/* The batched pipeline's decode stage: inputs [first, first + k) decoded into their slots for
 * the batch's detector, but for images of the model's own size under auto (chips already),
 * prepared into the batch's pixels here as the threads pipeline does. */
static void prepare_decoded(fr_embedder *e, size_t first, int k, batch_buffer *b)
{
    fr_image images[MAX_GROUP];
    fr_source_scale scales[MAX_GROUP];
    decode_inputs(e, first, k, b, images, scales);
    for (int j = 0; j < k; j++) {
        slot_faces *sf = &b->slots[slot_of(e, first + (size_t)j)];
        if (!images[j].pixels)
            continue;
        if (is_chip(e, images[j].width, images[j].height)) {
            prepare_whole(e, b, first + (size_t)j, &images[j]);
            release_input(e, &images[j]);
            continue;
        }
        sf->image = images[j];
        sf->scale = scales[j];
    }
}

/* The batched pipeline with gpu_decode: the workers only read the files; run_batch decodes
 * the batch on the device (decode_batch_on_device). */
static void read_encoded(fr_embedder *e, size_t first, int k, batch_buffer *b)
{
    for (int j = 0; j < k; j++) {
        int slot = slot_of(e, first + (size_t)j);
        slot_faces *sf = &b->slots[slot];
        fr_status st = fr_file_read(e->paths[first + (size_t)j], FR_MAX_FILE_BYTES, &sf->data,
                                    &sf->size);
        if (st) {
            sf->data = NULL;
            fail_slot(b, slot, st);
        }
    }
}

/* What decoding input i will hold (its file's bytes and its pixels, budget.h), from its first
 * 64 KiB; 0 for a file that cannot be opened (the decode says why). A caller's decoded image
 * (fr_embed_images) counts only the working copies beyond its own pixels. */
static size_t input_cost(const fr_embedder *e, size_t i)
{
    if (e->images)
        return e->images[i].pixels && e->images[i].width > 0 && e->images[i].height > 0
                   ? (size_t)e->images[i].width * (size_t)e->images[i].height *
                         (e->pixel_bytes - 3)
                   : 0;
    int fd;
    struct stat st;
    char saved[512];
    fr_error_save(saved, sizeof saved);
    if (fr_file_open_regular(e->paths[i], &fd, &st) != FR_OK) {
        fr_error_restore(saved);
        return 0;
    }
    uint8_t head[65536];
    ssize_t n = pread(fd, head, sizeof head, 0);
    close(fd);
    if (n < 0)
        return 0;
    fr_decode_options dopt = {0, e->min_side};
    int64_t pixels = fr_image_decode_pixels(head, (size_t)n, &dopt);
    return (size_t)st.st_size + (size_t)pixels * e->pixel_bytes;
}

/* Prepares inputs [first, end) of b in runs that fit the decode budget: each run is taken
 * whole before its decoding (at least one input, however large) and given back once its
 * images are freed, so that nothing is held while waiting (budget.h).
 * The batched pipeline gives it back once its run is decoded, the images still held for the
 * batch's detector: waiting for them there could never end (a batch is run only when all of
 * it is decoded); its held images are bounded by FR_EMBED_BUFFERS batches instead. */
static void prepare_within_budget(fr_embedder *e, worker_state *w, size_t first, size_t end,
                                  batch_buffer *b)
{
    size_t cost[MAX_GROUP], capacity = fr_budget_capacity(e->budget);
    for (size_t i = first; i < end; i++)
        cost[i - first] = input_cost(e, i);
    while (first < end) {
        size_t n = 1, total = cost[0];
        while (first + n < end && total + cost[n] <= capacity)
            total += cost[n++];
        fr_budget_take(e->budget, total);
        if (w)
            prepare_group(e, w, first, (int)n, b);
        else if (stage_decoding(e))
            read_encoded(e, first, (int)n, b);
        else if (e->batched)
            prepare_decoded(e, first, (int)n, b);
        else
            prepare_plain(e, first, (int)n, b);
        fr_budget_give(e->budget, total);
        memmove(cost, cost + n, (end - first - n) * sizeof *cost);
        first += n;
    }
}

static void *decode_worker(void *arg)
{
    const worker_arg *wa = arg;
    fr_embedder *e = wa->e;
    worker_state *w = e->workers ? &e->workers[wa->id] : NULL;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        if (e->stopping || e->next >= e->count)
            break;
        /* claim up to `group` inputs, all of one batch */
        size_t first = e->next;
        long batch = (long)(first / (size_t)e->batch);
        size_t end = (size_t)(batch + 1) * (size_t)e->batch;
        if (end > e->count)
            end = e->count;
        if (end > first + (size_t)e->group)
            end = first + (size_t)e->group;
        e->next = end;
        batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
        /* the buffer must hold this batch: wait while an older batch still has it */
        while (!e->stopping && batch >= e->released + FR_EMBED_BUFFERS)
            pthread_cond_wait(&e->changed, &e->lock);
        if (e->stopping)
            break;
        pthread_mutex_unlock(&e->lock);
        /* the slots are this worker's until it counts them done under the lock */
        for (size_t i = first; i < end; i++) {
            slot_faces *sf = &b->slots[i % (size_t)e->batch];
            b->status[i % (size_t)e->batch] = FR_OK;
            sf->rows = 0;
            sf->first_face = -1;
            sf->face_count = 0;
            sf->prepared = 0;
            sf->chip = 0;
        }
        prepare_within_budget(e, w, first, end, b);
        pthread_mutex_lock(&e->lock);
        b->remaining -= (int)(end - first);
        pthread_cond_broadcast(&e->changed);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

static void show_progress(size_t done, size_t total, double started, int final)
{
    double elapsed = fr_seconds() - started;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%zu/%zu images, %.1f images/s, ETA %.0f s   ", done, total, rate, eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Inputs in batch `batch` (the last may be short). */
static int batch_inputs(const fr_embedder *e, size_t batch)
{
    size_t first = batch * (size_t)e->batch;
    if (first >= e->count)
        return 0;
    return (int)(e->count - first < (size_t)e->batch ? e->count - first : (size_t)e->batch);
}

/* A chip mirrored left-right: (size, size, 3) uint8, rows kept, pixels reversed within each. */
static void mirror_chip(const uint8_t *src, uint8_t *dst, int size)
{
    for (int y = 0; y < size; y++) {
        const uint8_t *in = src + (size_t)y * size * 3;
        uint8_t *out = dst + ((size_t)y * size + (size_t)size - 1) * 3;
        for (int x = 0; x < size; x++, in += 3, out -= 3) {
            out[0] = in[0];
            out[1] = in[1];
            out[2] = in[2];
        }
    }
}

/* A chip's `passes` network inputs into dst: its jittered copies, or the chip and its mirror
 * (flip), or the chip. input, row: which input and face it is (the jitter's seed). */
static void pack_copies(const fr_embedder *e, const uint8_t *chip, size_t input, int row,
                        uint8_t *dst)
{
    int size = e->model->info.input_size;
    if (e->options.jitter > 0) {
        for (int k = 0; k < e->passes; k++)
            fr_chip_jitter(size, chip, input, row, k, dst + (size_t)k * e->image_bytes);
    } else {
        memcpy(dst, chip, e->image_bytes);
    }
    if (e->options.flip)
        mirror_chip(chip, dst + e->image_bytes, size);
}

/* The next chunk of a batch from position (*slot, *row): up to B / passes chips packed for the
 * runner (each followed by its mirror with flip) and the results they answer, failed inputs
 * included, in input order. */
static void build_chunk(fr_embedder *e, const batch_buffer *b, int n, int *slot, int *row,
                        chunk *c)
{
    c->count = c->chips = 0;
    while (*slot < n) {
        int s = *slot;
        if (b->status[s] != FR_OK) {
            c->entries[c->count++] = (chunk_entry){s, -1};
            (*slot)++;
            continue;
        }
        const slot_faces *sf = &b->slots[s];
        for (; *row < sf->rows && c->chips < e->chunk_chips; (*row)++) {
            const uint8_t *chip = *row == 0 ? b->pixels + (size_t)s * e->image_bytes
                                            : sf->extra + (size_t)(*row - 1) * e->image_bytes;
            pack_copies(e, chip, c->batch * (size_t)e->batch + (size_t)s, *row,
                        e->packed + (size_t)c->chips++ * e->passes * e->image_bytes);
            c->entries[c->count++] = (chunk_entry){s, *row};
        }
        if (*row < sf->rows)
            break; /* full: the rest of this input goes into the next chunk */
        (*slot)++;
        *row = 0;
    }
    c->last = *slot >= n;
}

/* With flip: outputs 2i (chip i) and 2i + 1 (its mirror) into row i, each normalized and
 * summed (the caller normalizes the sums), or their mean (raw). In place: row i < 2i was
 * read by an earlier pair, and row 0 is read element by element as it is written. */
static void fold_mirrors(float *outputs, int chips, size_t dim, int raw)
{
    if (!raw)
        fr_l2_normalize(outputs, 2 * (size_t)chips, dim);
    for (int i = 0; i < chips; i++) {
        const float *chip = outputs + 2 * (size_t)i * dim, *mirror = chip + dim;
        float *out = outputs + (size_t)i * dim;
        for (size_t j = 0; j < dim; j++)
            out[j] = raw ? 0.5f * (chip[j] + mirror[j]) : chip[j] + mirror[j];
    }
}

/* With jitter: outputs [passes * i, passes * (i + 1)) into row i, their mean (dlib averages
 * the raw descriptors of its jittered copies). In place: row i is read before it is written. */
static void fold_jitters(float *outputs, int chips, int passes, size_t dim)
{
    for (int i = 0; i < chips; i++) {
        const float *copies = outputs + (size_t)passes * i * dim;
        float *out = outputs + (size_t)i * dim;
        for (size_t j = 0; j < dim; j++) {
            double sum = 0;
            for (int k = 0; k < passes; k++)
                sum += copies[(size_t)k * dim + j];
            out[j] = (float)(sum / passes);
        }
    }
}

/* The network's outputs for `chips` chips (passes each) folded into one row per chip: the
 * mirrors' (flip) or the jittered copies' (jitter); nothing to do with one pass. */
static void fold_copies(const fr_embedder *e, float *outputs, int chips)
{
    size_t dim = (size_t)e->model->info.embedding_size;
    if (e->options.flip)
        fold_mirrors(outputs, chips, dim, e->options.raw);
    else if (e->passes > 1)
        fold_jitters(outputs, chips, e->passes, dim);
}

/* One result to the sink: input `slot` of the batch from input `first`, its face `row`
 * (-1: a failed input) with its embedding. */
static fr_status emit_row(const fr_embedder *e, const batch_buffer *b, size_t first, int slot,
                          int row, const float *embedding, fr_embed_sink sink, void *ctx)
{
    const slot_faces *sf = &b->slots[slot];
    /* a failed input whose message could not be copied (out of memory) still says why */
    const char *error = b->status[slot] && !b->errors[slot] ? fr_status_name(b->status[slot])
                                                             : b->errors[slot];
    fr_embed_result r = {first + (size_t)slot, e->paths[first + (size_t)slot], b->status[slot],
                         error, NULL, -1, sf->face_count, NULL};
    char why[1200];
    if (row >= 0) {
        r.embedding = embedding;
        if (sf->first_face >= 0) {
            r.face = sf->first_face + row;
            r.box = &sf->faces[row];
        }
        /* never an embedding with a NaN or infinity in it (weights that overflow on this
         * input): the input fails, named, and nothing downstream sees the numbers */
        size_t d = 0, dim = (size_t)e->model->info.embedding_size;
        while (d < dim && isfinite(r.embedding[d]))
            d++;
        if (d < dim) {
            snprintf(why, sizeof why, "%s: the network's output is not finite (%s): no "
                     "embedding (weights that overflow on this input?)", r.path,
                     isnan(r.embedding[d]) ? "NaN" : "infinity");
            r.status = FR_E_FORMAT;
            r.error = why;
            r.embedding = NULL;
        }
    }
    return sink(ctx, &r) != 0 ? fr_fail(FR_E_INVALID, "stopped") : FR_OK;
}

/* Hands a collected chunk's results to the sink. */
static fr_status emit_chunk(fr_embedder *e, const chunk *c, int good, fr_embed_sink sink, void *ctx)
{
    const batch_buffer *b = &e->buffers[c->batch % FR_EMBED_BUFFERS];
    size_t dim = (size_t)e->model->info.embedding_size, first = c->batch * (size_t)e->batch;
    if (good != c->chips * e->passes)
        return fr_fail(FR_E_INTERNAL, "runner returned %d embeddings for %d images", good,
                       c->chips * e->passes);
    fold_copies(e, e->outputs, c->chips);
    if (!e->options.raw)
        fr_l2_normalize(e->outputs, (size_t)c->chips, dim);
    for (int i = 0, k = 0; i < c->count; i++) {
        int row = c->entries[i].row;
        fr_status st = emit_row(e, b, first, c->entries[i].slot, row,
                                row >= 0 ? e->outputs + (size_t)k++ * dim : NULL, sink, ctx);
        if (st)
            return st;
    }
    return FR_OK;
}

/* A batch is done: its buffer goes to batch + FR_EMBED_BUFFERS. */
static void release_batch(fr_embedder *e, size_t done)
{
    batch_buffer *b = &e->buffers[done % FR_EMBED_BUFFERS];
    for (int i = 0; i < e->batch; i++) {
        free(b->errors[i]);
        b->errors[i] = NULL;
    }
    for (int i = 0; i < e->batch; i++) {
        release_input(e, &b->slots[i].image); /* batched: decoded, detected */
        free(b->slots[i].data);
        b->slots[i].data = NULL;
    }
    pthread_mutex_lock(&e->lock);
    size_t later = done + FR_EMBED_BUFFERS;
    b->batch = (long)later;
    b->remaining = batch_inputs(e, later);
    e->released = (long)done + 1;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
}

/* ---- the batched pipeline: one batch at a time on the stage's context ---------------------- */

/* *p holds at least n elements of elem bytes (contents kept); 0 when out of memory. */
static int grow_array(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return 1;
    size_t want = n > 2 * *cap ? n : 2 * *cap;
    void *q = realloc(*p, want * elem);
    if (!q)
        return 0;
    *p = q;
    *cap = want;
    return 1;
}

/* Room for n chips in the stage's chip tables. */
static fr_status grow_chips(batched_stage *g, size_t n)
{
    size_t cap = g->chip_cap, c2 = cap, c3 = cap, c4 = cap;
    if (!grow_array((void **)&g->cut, &cap, n, sizeof *g->cut) ||
        !grow_array((void **)&g->chip_slot, &c2, n, sizeof *g->chip_slot) ||
        !grow_array((void **)&g->chip_row, &c3, n, sizeof *g->chip_row) ||
        !grow_array((void **)&g->order, &c4, n, sizeof *g->order))
        return fr_fail(FR_E_NOMEM, "out of memory for the chips of %zu faces", n);
    g->chip_cap = cap;
    return FR_OK;
}

/* Faces of table entries [a, a + k), one detector run; each image's chosen faces (its main
 * one, or all) go to the cut list in slot order, its faces in file pixels to its slot. An
 * image without a face fails on its own; a run that fails is retried image by image, so that
 * an error names the file that caused it. */
static void detect_range(fr_embedder *e, batch_buffer *b, size_t first, int a, int k,
                         int *nchips)
{
    batched_stage *g = &e->stage;
    fr_status st = fr_detector_run_on(g->detector, g->table + a, k, g->faces + a);
    if (st && k > 1) {
        for (int i = 0; i < k; i++)
            detect_range(e, b, first, a + i, 1, nchips);
        return;
    }
    for (int i = 0; i < k; i++) {
        int t = a + i, slot = g->table_slot[t];
        slot_faces *sf = &b->slots[slot];
        int first_face = 0, rows = 0;
        if (!st) {
            sf->face_count = g->faces[t].count;
            rows = chosen_faces(e, &sf->image, &g->faces[t], &first_face);
        }
        fr_status sj = st ? st : rows ? FR_OK : no_face(e, g->faces[t].count);
        if (!sj)
            sj = slot_reserve(e, sf, rows, 0);
        if (!sj)
            sj = grow_chips(g, (size_t)*nchips + (size_t)rows);
        if (sj) {
            fr_error_prefix(e->paths[first + (size_t)slot]);
            fail_slot(b, slot, sj);
            continue;
        }
        sf->first_face = first_face;
        sf->rows = rows;
        sf->chip = *nchips;
        for (int r = 0; r < rows; r++, (*nchips)++) {
            const fr_face *face = &g->faces[t].faces[first_face + r];
            g->cut[*nchips] = (fr_chip_face){t, *face};
            g->chip_slot[*nchips] = slot;
            g->chip_row[*nchips] = r;
            sf->faces[r] = *face;
            fr_source_face(&sf->faces[r], &sf->scale);
        }
    }
}

/* Chips [a, a + k) of the cut list into the chip buffer, one chipper call (one landmark
 * network pass); a call that fails is retried face by face, and a face that fails fails its
 * input. */
static void cut_range(fr_embedder *e, batch_buffer *b, size_t first, int ntable, int a, int k)
{
    batched_stage *g = &e->stage;
    fr_status st = fr_chipper_cut_on(g->chipper, g->table, ntable, g->cut + a, k,
                                     (uint8_t *)g->chips.data + (size_t)a * e->image_bytes);
    if (!st)
        return;
    if (k > 1) {
        for (int i = 0; i < k; i++)
            cut_range(e, b, first, ntable, a + i, 1);
        return;
    }
    int slot = g->chip_slot[a];
    if (b->status[slot] == FR_OK) {
        fr_error_prefix(e->paths[first + (size_t)slot]);
        fail_slot(b, slot, st);
    }
}

/* The embeddings of the batch's chips into the stage's host rows (by chip): the `live` ones
 * of g->order (all `total` on a GPU), folded (flip, jitter), not yet normalized. On a GPU with one pass the network reads the chips where
 * they were cut and writes where they are: only the embeddings come to the host. Otherwise the
 * runner's batches are packed on the host in input order, B / passes chips each, as the
 * threads pipeline packs them (the CPU's network rounds by its batch's contents, so the same
 * batches give the same bits), with the copies of flip and jitter made by the same code. */
static fr_status embed_chips(fr_embedder *e, int total, int live, size_t first)
{
    batched_stage *g = &e->stage;
    size_t dim = (size_t)e->model->info.embedding_size, ib = e->image_bytes;
    if (!grow_array((void **)&g->embeddings, &g->embeddings_cap, (size_t)total * dim,
                    sizeof *g->embeddings))
        return fr_fail(FR_E_NOMEM, "out of memory for %d embeddings", total);
    int host = strcmp(fr_exec_backend(g->exec), "cpu") == 0;
    fr_status st = FR_OK;
    if (!host && e->passes == 1) {
        st = fr_exec_reserve(g->exec, &g->outputs, (size_t)total * dim * sizeof(float),
                             "embeddings");
        for (int a = 0; a < total && !st; a += e->batch) {
            int k = total - a < e->batch ? total - a : e->batch;
            st = fr_runner_run_on(e->runner, g->exec, (uint8_t *)g->chips.data + (size_t)a * ib,
                                  k, (float *)g->outputs.data + (size_t)a * dim);
        }
        return st ? st : fr_exec_download(g->exec, g->embeddings, g->outputs.data,
                                          (size_t)total * dim * sizeof(float));
    }
    const uint8_t *chips = g->chips.data;
    if (!host) {
        if (!grow_array((void **)&g->host_chips, &g->host_chips_cap, (size_t)total * ib, 1))
            return fr_fail(FR_E_NOMEM, "out of memory for %d chips", total);
        st = fr_exec_download(g->exec, g->host_chips, g->chips.data, (size_t)total * ib);
        chips = g->host_chips;
    }
    for (int a = 0; a < live && !st; a += e->chunk_chips) {
        int k = live - a < e->chunk_chips ? live - a : e->chunk_chips;
        for (int i = 0; i < k; i++) {
            int c = g->order[a + i];
            pack_copies(e, chips + (size_t)c * ib, first + (size_t)g->chip_slot[c],
                        g->chip_row[c], e->packed + (size_t)i * e->passes * ib);
        }
        st = fr_runner_run(e->runner, e->packed, k * e->passes, e->outputs);
        if (st)
            break;
        fold_copies(e, e->outputs, k);
        for (int i = 0; i < k; i++)
            memcpy(g->embeddings + (size_t)g->order[a + i] * dim, e->outputs + (size_t)i * dim,
                   dim * sizeof(float));
    }
    return st;
}

/* With gpu_decode: the batch's files (read by the workers) in one nvJPEG call into the
 * decoder's device memory, where the detector and the chipper read them: the table's entries
 * from *nt on. A file nvJPEG cannot take is libjpeg-turbo's and uploaded by the decoder; one
 * that fails has the CPU path's line. An image of the model's own size under auto comes to the
 * host for the model's preparation, as in the other paths. */
static fr_status decode_batch_on_device(fr_embedder *e, batch_buffer *b, int n, size_t first,
                                        int *nt)
{
    batched_stage *g = &e->stage;
    size_t cap = g->encoded_cap, c2 = cap, c3 = cap;
    if (!grow_array((void **)&g->encoded, &cap, (size_t)n, sizeof *g->encoded) ||
        !grow_array((void **)&g->decoded, &c2, (size_t)n, sizeof *g->decoded) ||
        !grow_array((void **)&g->encoded_slot, &c3, (size_t)n, sizeof *g->encoded_slot))
        return fr_fail(FR_E_NOMEM, "out of memory for a batch of %d files", n);
    g->encoded_cap = cap;
    int k = 0, size = e->model->info.input_size;
    for (int s = 0; s < n; s++)
        if (b->status[s] == FR_OK && b->slots[s].data) {
            g->encoded[k] = (fr_encoded){b->slots[s].data, b->slots[s].size,
                                         e->paths[first + (size_t)s]};
            g->encoded_slot[k++] = s;
        }
    fr_status st = k ? fr_gpu_decode_device(e->gpu, g->encoded, k, g->decoded) : FR_OK;
    for (int s = 0; s < n; s++) {
        free(b->slots[s].data);
        b->slots[s].data = NULL;
    }
    for (int i = 0; i < k && !st; i++) {
        int s = g->encoded_slot[i];
        slot_faces *sf = &b->slots[s];
        const fr_gpu_image *d = &g->decoded[i];
        if (d->status) {
            fail_slot_with(b, s, d->status, d->error);
            continue;
        }
        if (is_chip(e, d->width, d->height)) {
            fr_image host = {size, size, fr_malloc((size_t)size * size * 3, "an image")};
            fr_status sj = host.pixels ? fr_exec_download(g->exec, host.pixels, d->pixels,
                                                          (size_t)size * size * 3)
                                       : FR_E_NOMEM;
            if (sj) {
                fr_error_prefix(e->paths[first + (size_t)s]);
                fail_slot(b, s, sj);
            } else {
                prepare_whole(e, b, first + (size_t)s, &host);
            }
            fr_image_free(&host);
            continue;
        }
        sf->image = (fr_image){d->width, d->height, NULL};
        sf->scale = (fr_source_scale){(double)d->file_width / d->width,
                                      (double)d->file_height / d->height};
        g->table_slot[*nt] = s;
        g->table[(*nt)++] = (fr_vision_image){d->pixels, d->width, d->height};
    }
    return st;
}

/* A decoded batch through the stages: its images to the context (a GPU's memory), the
 * detector over them in groups, the chips of every chosen face, the images that were chips
 * already after them, the network over all, and the results to the sink in input order. */
static fr_status run_batch(fr_embedder *e, size_t batch, fr_embed_sink sink, void *ctx)
{
    batched_stage *g = &e->stage;
    batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
    int n = batch_inputs(e, batch);
    size_t first = batch * (size_t)e->batch, ib = e->image_bytes;
    size_t cap = g->table_cap, c2 = cap, c3 = cap, c4 = cap;
    if (!grow_array((void **)&g->table, &cap, (size_t)n, sizeof *g->table) ||
        !grow_array((void **)&g->table_slot, &c2, (size_t)n, sizeof *g->table_slot) ||
        !grow_array((void **)&g->faces, &c3, (size_t)n, sizeof *g->faces) ||
        !grow_array((void **)&g->group_end, &c4, (size_t)n, sizeof *g->group_end))
        return fr_fail(FR_E_NOMEM, "out of memory for a batch of %d images", n);
    g->table_cap = cap;
    int nt = 0, prepared = 0;
    size_t bytes = 0;
    int on_device = stage_decoding(e);
    fr_status st = on_device ? decode_batch_on_device(e, b, n, first, &nt) : FR_OK;
    for (int s = 0; s < n && !on_device; s++) {
        const slot_faces *sf = &b->slots[s];
        if (b->status[s] != FR_OK || sf->prepared)
            continue;
        g->table_slot[nt] = s;
        g->table[nt++] = (fr_vision_image){sf->image.pixels, sf->image.width, sf->image.height};
        bytes += (size_t)sf->image.width * sf->image.height * 3;
    }
    for (int s = 0; s < n; s++)
        prepared += b->status[s] == FR_OK && b->slots[s].prepared;
    if (!on_device && strcmp(fr_exec_backend(g->exec), "cpu") != 0 && nt > 0) {
        st = fr_exec_reserve(g->exec, &g->images, bytes, "a batch of images");
        size_t at = 0;
        for (int t = 0; t < nt && !st; t++) {
            uint8_t *dst = (uint8_t *)g->images.data + at;
            size_t size = (size_t)g->table[t].width * g->table[t].height * 3;
            st = fr_exec_upload(g->exec, dst, g->table[t].pixels, size);
            g->table[t].pixels = dst;
            at += size;
        }
    }
    /* the groups: the images of each window of detect_images positions, cut short at
     * FR_DETECT_PIXELS pixels (one image at least) */
    int nchips = 0, groups = 0;
    for (int a = 0, z; a < nt && !st; a = z) {
        int window = g->table_slot[a] / g->detect_images;
        long pixels = 0;
        for (z = a; z < nt && g->table_slot[z] / g->detect_images == window; z++) {
            long p = (long)g->table[z].width * g->table[z].height;
            if (z > a && pixels + p > FR_DETECT_PIXELS)
                break;
            pixels += p;
        }
        detect_range(e, b, first, a, z - a, &nchips);
        g->group_end[groups++] = nchips;
    }
    int total = nchips + prepared;
    if (!st)
        st = grow_chips(g, (size_t)total);
    if (!st)
        st = fr_exec_reserve(g->exec, &g->chips, (size_t)(total ? total : 1) * ib, "face chips");
    for (int k = 0, a = 0; k < groups && !st; a = g->group_end[k++])
        if (g->group_end[k] > a)
            cut_range(e, b, first, nt, a, g->group_end[k] - a);
    for (int s = 0, k = nchips; s < n && !st; s++) {
        slot_faces *sf = &b->slots[s];
        if (b->status[s] != FR_OK || !sf->prepared)
            continue;
        sf->chip = k;
        g->chip_slot[k] = s;
        g->chip_row[k] = 0;
        st = fr_exec_upload(g->exec, (uint8_t *)g->chips.data + (size_t)k++ * ib,
                            b->pixels + (size_t)s * ib, ib);
    }
    /* the chips in input order, failed inputs' left out (they are cut, never embedded) */
    int live = 0;
    for (int s = 0; s < n && !st; s++)
        for (int row = 0; b->status[s] == FR_OK && row < b->slots[s].rows; row++)
            g->order[live++] = b->slots[s].chip + row;
    if (!st && live > 0)
        st = embed_chips(e, total, live, first);
    size_t dim = (size_t)e->model->info.embedding_size;
    for (int i = 0; i < live && !st && !e->options.raw; i++)
        fr_l2_normalize(g->embeddings + (size_t)g->order[i] * dim, 1, dim);
    for (int s = 0; s < n && !st; s++) {
        const slot_faces *sf = &b->slots[s];
        if (b->status[s] != FR_OK) {
            st = emit_row(e, b, first, s, -1, NULL, sink, ctx);
            continue;
        }
        for (int row = 0; row < sf->rows && !st; row++)
            st = emit_row(e, b, first, s, row,
                          g->embeddings + (size_t)(sf->chip + row) * dim, sink, ctx);
    }
    return st;
}

/* Progress after a batch's results. */
static void batch_shown(const fr_embedder *e, size_t batch, size_t batches, double t0,
                        double *last_shown)
{
    if (fr_seconds() - *last_shown > 0.5 || batch + 1 == batches) {
        size_t done = batch * (size_t)e->batch + (size_t)batch_inputs(e, batch);
        show_progress(done, e->count, t0, batch + 1 == batches);
        *last_shown = fr_seconds();
    }
}

static fr_status embed_inputs(fr_embedder *e, const char *const *paths, const fr_image *images,
                             size_t count, fr_embed_sink sink, void *ctx);

fr_status fr_embed_files(fr_embedder *e, const char *const *paths, size_t count,
                         fr_embed_sink sink, void *ctx)
{
    return embed_inputs(e, paths, NULL, count, sink, ctx);
}

fr_status fr_embed_images(fr_embedder *e, const fr_image *images, const char *const *names,
                          size_t count, fr_embed_sink sink, void *ctx)
{
    if (count && (!images || !names))
        return fr_fail(FR_E_INVALID, "embedding %zu images: no images or no names", count);
    return embed_inputs(e, names, images, count, sink, ctx);
}

static fr_status embed_inputs(fr_embedder *e, const char *const *paths, const fr_image *images,
                             size_t count, fr_embed_sink sink, void *ctx)
{
    e->paths = paths;
    e->images = images;
    e->count = count;
    e->next = 0;
    e->released = 0;
    e->stopping = 0;
    size_t batches = (count + (size_t)e->batch - 1) / (size_t)e->batch;
    for (int k = 0; k < FR_EMBED_BUFFERS; k++) {
        e->buffers[k].batch = k;
        e->buffers[k].remaining = batch_inputs(e, (size_t)k);
    }
    int threads = e->threads;
    pthread_t *workers = fr_calloc((size_t)threads, sizeof *workers, "decode threads");
    worker_arg *args = fr_calloc((size_t)threads, sizeof *args, "decode threads");
    if (!workers || !args) {
        free(workers);
        free(args);
        return FR_E_NOMEM;
    }
    int started = 0;
    for (; started < threads; started++) {
        args[started] = (worker_arg){e, started};
        if (pthread_create(&workers[started], NULL, decode_worker, &args[started]) != 0)
            break;
    }
    fr_status st = started ? FR_OK : fr_fail(FR_E_NOMEM, "cannot start decode threads");
    int progress = e->options.progress && isatty(STDERR_FILENO);
    double t0 = fr_seconds(), last_shown = t0;
    long in_flight = 0;   /* chunks submitted and not yet collected */
    chunk *prev = NULL;   /* the chunk in flight */
    size_t batch = 0;     /* the batch being cut into chunks */
    int ready = 0, slot = 0, row = 0;
    for (; e->batched && !st && batch < batches; batch++) {
        batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
        pthread_mutex_lock(&e->lock);
        while (b->remaining > 0)
            pthread_cond_wait(&e->changed, &e->lock);
        pthread_mutex_unlock(&e->lock);
        st = run_batch(e, batch, sink, ctx);
        if (!st) {
            release_batch(e, batch);
            if (progress)
                batch_shown(e, batch, batches, t0, &last_shown);
        }
    }
    while (!st && !e->batched) {
        chunk *cur = NULL;
        if (batch < batches) {
            batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
            if (!ready) {
                pthread_mutex_lock(&e->lock);
                while (b->remaining > 0)
                    pthread_cond_wait(&e->changed, &e->lock);
                pthread_mutex_unlock(&e->lock);
                ready = 1;
                slot = row = 0;
            }
            cur = prev == &e->chunks[0] ? &e->chunks[1] : &e->chunks[0];
            cur->batch = batch;
            build_chunk(e, b, batch_inputs(e, batch), &slot, &row, cur);
            st = fr_runner_submit(e->runner, e->packed, cur->chips * e->passes);
            if (st)
                break;
            in_flight++;
            if (cur->last) {
                batch++;
                ready = 0;
            }
        }
        if (prev) {
            int good = 0;
            in_flight--;
            st = fr_runner_collect(e->runner, e->outputs, &good);
            if (!st)
                st = emit_chunk(e, prev, good, sink, ctx);
            if (!st && prev->last) {
                release_batch(e, prev->batch);
                if (progress)
                    batch_shown(e, prev->batch, batches, t0, &last_shown);
            }
        }
        if (!cur)
            break;
        prev = cur;
    }
    /* a stopped run leaves the runner with nothing in flight, for the next run */
    if (in_flight > 0) {
        char saved[512];
        fr_error_save(saved, sizeof saved);
        for (int good; in_flight > 0; in_flight--)
            fr_runner_collect(e->runner, e->outputs, &good);
        fr_error_restore(saved);
    }
    pthread_mutex_lock(&e->lock);
    e->stopping = 1;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    free(workers);
    free(args);
    /* errors of inputs decoded ahead of a stopped run */
    for (int k = 0; k < FR_EMBED_BUFFERS; k++)
        for (int i = 0; i < e->batch; i++) {
            free(e->buffers[k].errors[i]);
            e->buffers[k].errors[i] = NULL;
            release_input(e, &e->buffers[k].slots[i].image);
            free(e->buffers[k].slots[i].data);
            e->buffers[k].slots[i].data = NULL;
        }
    return st;
}

const char *fr_pipeline_name(fr_pipeline pipeline)
{
    return pipeline == FR_PIPELINE_THREADS   ? "threads"
           : pipeline == FR_PIPELINE_BATCHED ? "batched"
                                             : "auto";
}

fr_status fr_pipeline_parse(const char *name, fr_pipeline *out)
{
    static const fr_pipeline all[] = {FR_PIPELINE_AUTO, FR_PIPELINE_THREADS, FR_PIPELINE_BATCHED};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (strcmp(name, fr_pipeline_name(all[i])) == 0) {
            *out = all[i];
            return FR_OK;
        }
    return fr_fail(FR_E_INVALID, "'%s': expected auto, threads or batched", name);
}
