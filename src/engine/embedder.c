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
 */
#include "engine/embedder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "engine/backend.h"
#include "model/model_internal.h"

typedef struct batch_buffer {
    uint8_t *pixels;     /* B prepared images */
    fr_status *status;   /* per slot */
    char **errors;       /* per slot, malloc'ed message when status != OK */
    long batch;          /* which batch occupies it (-1: free) */
    int remaining;       /* slots not yet decoded */
} batch_buffer;

struct fr_embedder {
    const fr_model *model;
    fr_runner *runner;
    fr_embedder_options options;
    int batch;           /* B */
    size_t image_bytes;
    int threads;
    batch_buffer buffers[FR_EMBED_BUFFERS];
    float *outputs;      /* B x embedding_size */
    uint8_t *packed;     /* B prepared images, successes only */

    /* the run in progress */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    const char *const *paths;
    size_t count;
    size_t next;         /* next input to claim */
    long released;       /* batches handed back: buffer k is free for batch k + released.. */
    int stopping;
};

fr_status fr_embedder_new(const fr_model *model, const fr_embedder_options *options,
                          fr_embedder **out)
{
    fr_embedder *e = fr_calloc(1, sizeof *e, "the batch engine");
    if (!e)
        return FR_E_NOMEM;
    e->model = model;
    e->options = options ? *options : (fr_embedder_options){0};
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->changed, NULL);
    fr_status st = fr_runner_new(model, &e->options.runner, &e->runner);
    if (st) {
        fr_embedder_free(e);
        return st;
    }
    e->batch = fr_runner_max_batch(e->runner);
    int s = model->info.input_size;
    e->image_bytes = (size_t)s * s * 3;
    e->threads = e->options.decode_threads > 0 ? e->options.decode_threads : fr_cpu_count();
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
        if (!b->pixels || !b->status || !b->errors) {
            fr_embedder_free(e);
            return FR_E_NOMEM;
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
        free(b->pixels);
        free(b->status);
        free(b->errors);
    }
    free(e->outputs);
    free(e->packed);
    fr_runner_free(e->runner);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->changed);
    free(e);
}

const fr_runner *fr_embedder_runner(const fr_embedder *e)
{
    return e->runner;
}

/* Decodes and prepares one input into its slot; returns the status. */
static fr_status prepare_one(fr_embedder *e, size_t index, uint8_t *dst, char **error)
{
    fr_decode_options dopt = {0};
    if (!e->options.full_decode)
        dopt.min_side = 2 * e->model->info.input_size;
    fr_image image;
    fr_status st = fr_image_load(e->paths[index], &dopt, &image);
    if (!st) {
        st = fr_model_prepare_image(e->model, &image, dst);
        if (st)
            fr_error_prefix(e->paths[index]);
        fr_image_free(&image);
    }
    if (st) {
        *error = fr_strdup(fr_error_message());
        memset(dst, 0, e->image_bytes);
    }
    return st;
}

static void *decode_worker(void *arg)
{
    fr_embedder *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        if (e->stopping || e->next >= e->count)
            break;
        size_t index = e->next++;
        long batch = (long)(index / (size_t)e->batch);
        batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
        /* the buffer must hold this batch: wait while an older batch still has it */
        while (!e->stopping && batch >= e->released + FR_EMBED_BUFFERS)
            pthread_cond_wait(&e->changed, &e->lock);
        if (e->stopping)
            break;
        int slot = (int)(index % (size_t)e->batch);
        pthread_mutex_unlock(&e->lock);
        char *error = NULL;
        fr_status st = prepare_one(e, index, b->pixels + (size_t)slot * e->image_bytes, &error);
        pthread_mutex_lock(&e->lock);
        b->status[slot] = st;
        b->errors[slot] = error;
        b->remaining--;
        pthread_cond_broadcast(&e->changed);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void show_progress(size_t done, size_t total, double started, int final)
{
    double elapsed = now_seconds() - started;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%zu/%zu images, %.1f images/s, ETA %.0f s   ", done, total, rate, eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

fr_status fr_embed_files(fr_embedder *e, const char *const *paths, size_t count,
                         fr_embed_sink sink, void *ctx)
{
    e->paths = paths;
    e->count = count;
    e->next = 0;
    e->released = 0;
    e->stopping = 0;
    size_t batches = (count + (size_t)e->batch - 1) / (size_t)e->batch;
    for (int k = 0; k < FR_EMBED_BUFFERS; k++) {
        size_t b = (size_t)k;
        e->buffers[k].batch = (long)b;
        size_t first = b * (size_t)e->batch;
        e->buffers[k].remaining =
            b < batches ? (int)(count - first < (size_t)e->batch ? count - first : (size_t)e->batch)
                        : 0;
    }
    int threads = e->threads;
    pthread_t *workers = fr_calloc((size_t)threads, sizeof *workers, "decode threads");
    if (!workers)
        return FR_E_NOMEM;
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&workers[started], NULL, decode_worker, e) != 0)
            break;
    fr_status st = started ? FR_OK : fr_fail(FR_E_NOMEM, "cannot start decode threads");
    size_t dim = (size_t)e->model->info.embedding_size;
    int progress = e->options.progress && isatty(STDERR_FILENO);
    double t0 = now_seconds(), last_shown = t0;
    long in_flight = 0; /* batches submitted and not yet collected */
    for (size_t batch = 0; batch <= batches && !st; batch++) {
        if (batch < batches) {
            batch_buffer *b = &e->buffers[batch % FR_EMBED_BUFFERS];
            pthread_mutex_lock(&e->lock);
            while (b->remaining > 0)
                pthread_cond_wait(&e->changed, &e->lock);
            pthread_mutex_unlock(&e->lock);
            size_t first = batch * (size_t)e->batch;
            int n = (int)(count - first < (size_t)e->batch ? count - first : (size_t)e->batch);
            int good = 0;
            for (int i = 0; i < n; i++)
                if (b->status[i] == FR_OK)
                    memcpy(e->packed + (size_t)good++ * e->image_bytes,
                           b->pixels + (size_t)i * e->image_bytes, e->image_bytes);
            st = fr_runner_submit(e->runner, e->packed, good);
            if (st)
                break;
            in_flight++;
        }
        if (batch == 0)
            continue;
        /* the batch before this one: its results, in input order */
        size_t done = batch - 1;
        batch_buffer *b = &e->buffers[done % FR_EMBED_BUFFERS];
        size_t first = done * (size_t)e->batch;
        int n = (int)(count - first < (size_t)e->batch ? count - first : (size_t)e->batch);
        int good = 0;
        in_flight--;
        st = fr_runner_collect(e->runner, e->outputs, &good);
        if (!st && !e->options.raw)
            fr_l2_normalize(e->outputs, (size_t)good, dim);
        for (int i = 0, k = 0; i < n && !st; i++) {
            fr_embed_result r = {first + (size_t)i, paths[first + (size_t)i], b->status[i],
                                 b->errors[i], NULL};
            if (r.status == FR_OK)
                r.embedding = e->outputs + (size_t)k++ * dim;
            if (sink(ctx, &r) != 0)
                st = fr_fail(FR_E_INVALID, "stopped");
        }
        for (int i = 0; i < n; i++) {
            free(b->errors[i]);
            b->errors[i] = NULL;
        }
        /* hand the buffer to done + FR_EMBED_BUFFERS */
        pthread_mutex_lock(&e->lock);
        size_t later = done + FR_EMBED_BUFFERS;
        b->batch = (long)later;
        b->remaining = later < batches ? (int)(count - later * (size_t)e->batch < (size_t)e->batch
                                                   ? count - later * (size_t)e->batch
                                                   : (size_t)e->batch)
                                       : 0;
        e->released = (long)done + 1;
        pthread_cond_broadcast(&e->changed);
        pthread_mutex_unlock(&e->lock);
        if (progress && (now_seconds() - last_shown > 0.5 || done + 1 == batches)) {
            show_progress(first + (size_t)n, count, t0, done + 1 == batches);
            last_shown = now_seconds();
        }
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
    /* errors of inputs decoded ahead of a stopped run */
    for (int k = 0; k < FR_EMBED_BUFFERS; k++)
        for (int i = 0; i < e->batch; i++) {
            free(e->buffers[k].errors[i]);
            e->buffers[k].errors[i] = NULL;
        }
    return st;
}
