/*
 * bench_cuda.c: the GPU benchmarks of the device check (bench/device_check.sh), one JSON line
 * per measurement.
 *
 *   bench_cuda network --weights W --precision P --batches 64,256,1024 [--iters N]
 *       the forward pass alone on inputs already on the device (random uint8 images, never
 *       zeros), timed with CUDA events: median of N runs after warm-up, per batch size; with
 *       the FLOP count (fr_graph_flops) and the activation bytes a layer-by-layer execution
 *       must move (each operation reads its inputs and writes its output once)
 *   bench_cuda e2e --weights W --dir DIR [--repeat R] [--batch B] [--precision P] [--threads T]
 *       end to end from a directory of images, its list repeated R times (decode on T threads,
 *       upload, network, download), and the decode-and-prepare rate alone on the same T
 *       threads over the same list; files stay in the page cache, so neither measures a disk
 *
 *   bench_cuda startup --weights W [--batch B] [--precision P] [--cache DIR]
 *       time to the first result of a fresh runner: planning (cuDNN heuristics, plans, CUDA
 *       graph capture) plus one batch of B, three times in one process: with an empty plan
 *       cache in DIR (default: a new temporary directory), then twice with the cache the first
 *       run wrote (cuda/plan_cache.h); each run's line says how many plans came from the cache
 *
 *   bench_cuda decode --dir DIR [--batch B] [--threads T] [--min-side S] [--repeat R]
 *       JPEG decoding alone, the files read into memory first: nvJPEG batched (B per call, one
 *       thread, outputs left on the device; the automatic choice of hardware and hybrid
 *       decoders, then the hybrid decoder alone) against libjpeg-turbo on T threads (host
 *       outputs), each the second of two passes over the list repeated R times; min_side as
 *       the engine uses it (reduced-scale decoding of large photos)
 *
 *   bench_cuda identify [--gallery M] [--probes N] [--k K]
 *       the K nearest of N random unit-length 128-d probes among M gallery rows on the GPU
 *       distance engine (host arrays in, the upload included), timed on its second run, and
 *       checked against the CPU engine on the first 100 probes
 *
 * The runner's line (precision, planned batch, cuDNN paths, CUDA graphs) and any warning are
 * printed with each result, so a run on a new machine says how it ran.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/file.h"
#include "image/gpu_decode.h"
#include "core/pool.h"
#include "runtime/backend.h"
#include "engine/embedder.h"
#include "engine/paths.h"
#include "match/distance.h"
#include "model/model_internal.h"

/* Bytes one image's activations move through memory, layer by layer, in `elem`-byte values. */
static double activation_bytes(const fr_graph *g, size_t elem)
{
    double values = (double)g->input_h * g->input_w * 3 / (double)elem; /* the uint8 input */
    for (int i = 0; i < g->node_count; i++) {
        const fr_node *n = &g->nodes[i];
        const fr_tensor *out = &g->tensors[n->out];
        values += (double)out->h * out->w * out->c * (n->accumulate ? 2 : 1);
        if (n->in >= 0)
            values += (double)g->tensors[n->in].h * g->tensors[n->in].w * g->tensors[n->in].c;
        if (n->in2 >= 0)
            values += (double)g->tensors[n->in2].h * g->tensors[n->in2].w * g->tensors[n->in2].c;
    }
    return values * (double)elem;
}

static int parse_precision(const char *p, fr_precision *out)
{
    if (!strcmp(p, "fp32"))
        *out = FR_PRECISION_FP32;
    else if (!strcmp(p, "tf32"))
        *out = FR_PRECISION_TF32;
    else if (!strcmp(p, "fp16"))
        *out = FR_PRECISION_FP16;
    else
        return 0;
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_cuda: %s: %s\n", what, fr_error_message());
    return 1;
}

static int network(const fr_model *model, fr_precision precision, const char *list, int iters)
{
    int batches[32], count = 0, largest = 0;
    for (const char *p = list; *p && count < 32;) {
        batches[count] = atoi(p);
        if (batches[count] > largest)
            largest = batches[count];
        count++;
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    fr_runner_options ro = {FR_DEVICE_CUDA, precision, largest, 0};
    fr_runner *r;
    double t0 = fr_seconds();
    if (fr_runner_new(model, &ro, &r))
        return fail("planning");
    double plan_s = fr_seconds() - t0;
    const char *warning = fr_runner_warning(r);
    size_t image = (size_t)model->info.input_size * model->info.input_size * 3;
    int planned = fr_runner_max_batch(r);
    uint8_t *inputs = malloc((size_t)planned * image);
    float *outputs = malloc((size_t)planned * model->info.embedding_size * sizeof(float));
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < (size_t)planned * image; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        inputs[i] = (uint8_t)(s >> 56);
    }
    double flops = fr_graph_flops(model->graph);
    double bytes = activation_bytes(model->graph, precision == FR_PRECISION_FP16 ? 2 : 4);
    int status = 0;
    for (int b = 0; b < count; b++) {
        int n = batches[b] < planned ? batches[b] : planned;
        double sec = 0;
        t0 = fr_seconds();
        if (fr_runner_run(r, inputs, n, outputs) || fr_runner_benchmark(r, n, iters, &sec)) {
            status = fail("running");
            break;
        }
        double first_s = fr_seconds() - t0;
        printf("{\"bench\": \"network\", \"arch\": \"%s\", \"precision\": \"%s\", \"batch\": %d, "
               "\"images_per_s\": %.1f, \"ms_per_batch\": %.3f, \"tflops\": %.2f, "
               "\"activation_gb_per_s\": %.1f, \"gflop_per_image\": %.4f, "
               "\"activation_mb_per_image\": %.3f, \"plan_s\": %.2f, \"first_batch_s\": %.2f, "
               "\"runner\": \"%s\", \"warning\": \"%s\"}\n",
               model->info.arch, fr_precision_name(precision), n, n / sec, sec * 1e3,
               flops * n / sec * 1e-12, bytes * n / sec * 1e-9, flops * 1e-9, bytes * 1e-6,
               plan_s, first_s, fr_runner_describe(r), warning ? warning : "");
        fflush(stdout);
    }
    free(inputs);
    free(outputs);
    fr_runner_free(r);
    return status;
}

/* ---- start-up ------------------------------------------------------------------------------- */

static int startup(const fr_model *model, fr_precision precision, int batch, const char *cache)
{
    char dir[256];
    if (cache) {
        snprintf(dir, sizeof dir, "%s", cache);
    } else {
        snprintf(dir, sizeof dir, "/tmp/facerec-plans.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("bench_cuda: mkdtemp");
            return 1;
        }
    }
    setenv("FACEREC_PLAN_CACHE", dir, 1);
    size_t image = (size_t)model->info.input_size * model->info.input_size * 3;
    uint8_t *inputs = malloc((size_t)batch * image);
    float *outputs = malloc((size_t)batch * model->info.embedding_size * sizeof(float));
    if (!inputs || !outputs) {
        fprintf(stderr, "bench_cuda: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)batch * image; i++)
        inputs[i] = (uint8_t)(i * 2654435761u >> 24);
    int status = 0;
    for (int run = 0; run < 3 && !status; run++) {
        fr_runner_options ro = {FR_DEVICE_CUDA, precision, batch, 0};
        fr_runner *r;
        double t0 = fr_seconds();
        if (fr_runner_new(model, &ro, &r)) {
            status = fail("planning");
            break;
        }
        double planned = fr_seconds() - t0;
        int n = fr_runner_max_batch(r);
        if (fr_runner_run(r, inputs, n, outputs)) {
            status = fail("running");
        } else {
            double first = fr_seconds() - t0;
            const char *w = fr_runner_warning(r);
            printf("{\"bench\": \"startup\", \"arch\": \"%s\", \"precision\": \"%s\", "
                   "\"batch\": %d, \"cache\": \"%s\", \"plan_s\": %.3f, "
                   "\"first_result_s\": %.3f, \"runner\": \"%s\", \"warning\": \"%s\"}\n",
                   model->info.arch, fr_precision_name(precision), n,
                   run == 0 ? "cold" : "warm", planned, first, fr_runner_describe(r), w ? w : "");
            fflush(stdout);
        }
        fr_runner_free(r);
    }
    free(inputs);
    free(outputs);
    if (!cache) {
        char command[300];
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0)
            fprintf(stderr, "bench_cuda: could not remove %s\n", dir);
    }
    return status;
}

/* ---- JPEG decoding ---------------------------------------------------------------------------- */

typedef struct encoded_set {
    fr_encoded *items;
    size_t count;
    double megapixels; /* of the files, at full size */
} encoded_set;

typedef struct cpu_decode_job {
    const encoded_set *set;
    fr_decode_options limits;
    atomic_size_t next, failed;
} cpu_decode_job;

static void *cpu_decode_worker(void *arg)
{
    cpu_decode_job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->set->count)
            break;
        fr_image im;
        const fr_encoded *e = &j->set->items[i];
        if (fr_image_decode(e->data, e->size, e->name, &j->limits, &im))
            atomic_fetch_add(&j->failed, 1);
        else
            fr_image_free(&im);
    }
    return NULL;
}

static void print_rate(const char *decoder, const encoded_set *set, int threads, int batch,
                       int min_side, double sec, size_t failed, const char *describe)
{
    printf("{\"bench\": \"jpeg\", \"decoder\": \"%s\", \"images\": %zu, \"failed\": %zu, "
           "\"threads\": %d, \"batch\": %d, \"min_side\": %d, \"images_per_s\": %.1f, "
           "\"megapixels_per_s\": %.1f, \"describe\": \"%s\"}\n",
           decoder, set->count, failed, threads, batch, min_side, (double)set->count / sec,
           set->megapixels / sec, describe);
    fflush(stdout);
}

static int decode_rates(const char *dir, int batch, int threads, int min_side, int repeat)
{
    char *args[1] = {(char *)dir};
    fr_path_list found = {0};
    if (fr_paths_collect(args, 1, &found, NULL, NULL))
        return fail(dir);
    encoded_set set = {0};
    size_t files = found.count;
    set.count = files * (size_t)(repeat > 0 ? repeat : 1);
    set.items = calloc(set.count ? set.count : 1, sizeof *set.items);
    void **data = calloc(files ? files : 1, sizeof *data);
    int status = 0;
    for (size_t i = 0; i < files && !status; i++) {
        size_t size;
        fr_image im;
        if (fr_file_read(found.paths[i], (size_t)1 << 28, &data[i], &size)) {
            status = fail(found.paths[i]);
            break;
        }
        for (size_t r = i; r < set.count; r += files)
            set.items[r] = (fr_encoded){data[i], size, found.paths[i]};
        if (!fr_image_decode(data[i], size, found.paths[i], NULL, &im)) {
            set.megapixels += (double)im.width * im.height * 1e-6 * (double)(set.count / files);
            fr_image_free(&im);
        }
    }
    fr_decode_options limits = {0, min_side};
    fr_gpu_backend backends[2] = {FR_GPU_BACKEND_AUTO, FR_GPU_BACKEND_HYBRID};
    const char *names[2] = {"nvjpeg", "nvjpeg-hybrid"};
    fr_gpu_image *out = calloc((size_t)batch, sizeof *out);
    for (int b = 0; b < 2 && !status; b++) {
        fr_gpu_decoder_options opt = {batch, backends[b], limits, 0};
        fr_gpu_decoder *d;
        if (fr_gpu_decoder_new(&opt, &d)) {
            fprintf(stderr, "bench_cuda: %s: %s\n", names[b], fr_error_message());
            continue;
        }
        double sec = 0;
        size_t failed = 0;
        for (int pass = 0; pass < 2 && !status; pass++) {
            failed = 0;
            double t0 = fr_seconds();
            for (size_t i = 0; i < set.count && !status; i += (size_t)batch) {
                int n = (int)(set.count - i < (size_t)batch ? set.count - i : (size_t)batch);
                if (fr_gpu_decode_device(d, set.items + i, n, out))
                    status = fail(names[b]);
                for (int k = 0; k < n; k++)
                    failed += out[k].status != FR_OK;
            }
            sec = fr_seconds() - t0;
        }
        if (!status)
            print_rate(names[b], &set, 1, batch, min_side, sec, failed, fr_gpu_decoder_describe(d));
        fr_gpu_decoder_free(d);
    }
    if (threads <= 0)
        threads = fr_cpu_count();
    for (int pass = 0; pass < 2 && !status; pass++) {
        cpu_decode_job job;
        job.set = &set;
        job.limits = limits;
        atomic_init(&job.next, 0);
        atomic_init(&job.failed, 0);
        pthread_t tid[256];
        int started = 0;
        double t0 = fr_seconds();
        for (; started < threads && started < 256; started++)
            if (pthread_create(&tid[started], NULL, cpu_decode_worker, &job))
                break;
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
        if (pass == 1)
            print_rate("libjpeg-turbo", &set, started, 1, min_side, fr_seconds() - t0,
                       atomic_load(&job.failed), "TurboJPEG, accurate DCT, one image per thread");
    }
    free(out);
    for (size_t i = 0; i < files; i++)
        free(data[i]);
    free(data);
    free(set.items);
    fr_paths_free(&found);
    return status;
}

/* ---- end to end ---------------------------------------------------------------------------- */

typedef struct decode_job {
    const fr_model *model;
    const fr_path_list *list;
    atomic_size_t next;
    atomic_size_t failed;
} decode_job;

static void *decode_worker(void *arg)
{
    decode_job *j = arg;
    int side = j->model->info.input_size;
    uint8_t *out = malloc((size_t)side * side * 3);
    fr_decode_options dopt = {0, 2 * side}; /* what the engine does: DCT scaling */
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->list->count)
            break;
        fr_image image;
        if (fr_image_load(j->list->paths[i], &dopt, &image) ||
            fr_model_prepare_image(j->model, &image, out)) {
            atomic_fetch_add(&j->failed, 1);
            continue;
        }
        fr_image_free(&image);
    }
    free(out);
    return NULL;
}

static int counting_sink(void *ctx, const fr_embed_result *result)
{
    size_t *ok = ctx;
    if (result->status == FR_OK && result->embedding[0] == result->embedding[0])
        (*ok)++;
    return 0;
}

static int end_to_end(const fr_model *model, fr_precision precision, const char *dir, int batch,
                      int threads, int repeat)
{
    char *args[1] = {(char *)dir};
    fr_path_list found = {0};
    if (fr_paths_collect(args, 1, &found, NULL, NULL))
        return fail(dir);
    fr_path_list list = found;
    list.count = found.count * (size_t)(repeat > 0 ? repeat : 1);
    list.paths = malloc(list.count * sizeof *list.paths);
    for (size_t i = 0; i < list.count; i++)
        list.paths[i] = found.paths[i % found.count];
    if (threads <= 0)
        threads = fr_cpu_count();
    fr_embedder_options eo;
    memset(&eo, 0, sizeof eo);
    eo.runner.device = FR_DEVICE_CUDA;
    eo.runner.precision = precision;
    eo.runner.max_batch = batch;
    eo.decode_threads = threads;
    fr_embedder *e;
    if (fr_embedder_new(model, &eo, &e)) {
        free(list.paths);
        fr_paths_free(&found);
        return fail("planning");
    }
    /* decode only, all threads (the files are read once first, so both runs see a warm cache) */
    decode_job job;
    job.model = model;
    job.list = &list;
    for (int pass = 0; pass < 2; pass++) {
        atomic_init(&job.next, 0);
        atomic_init(&job.failed, 0);
        pthread_t tid[256];
        int started = 0;
        double t0 = fr_seconds();
        for (; started < threads && started < 256; started++)
            if (pthread_create(&tid[started], NULL, decode_worker, &job))
                break;
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
        double sec = fr_seconds() - t0;
        if (pass == 1)
            printf("{\"bench\": \"decode\", \"arch\": \"%s\", \"images\": %zu, \"failed\": %zu, "
                   "\"threads\": %d, \"images_per_s\": %.1f}\n",
                   model->info.arch, list.count, (size_t)atomic_load(&job.failed), started,
                   (double)list.count / sec);
    }
    int status = 0;
    for (int pass = 0; pass < 2 && !status; pass++) { /* the first pass builds and captures */
        size_t ok = 0;
        double t0 = fr_seconds();
        if (fr_embed_files(e, (const char *const *)list.paths, list.count, counting_sink, &ok)) {
            status = fail("embedding");
            break;
        }
        double sec = fr_seconds() - t0;
        if (pass == 1)
            printf("{\"bench\": \"e2e\", \"arch\": \"%s\", \"precision\": \"%s\", \"batch\": %d, "
                   "\"images\": %zu, \"embedded\": %zu, \"threads\": %d, \"images_per_s\": %.1f, "
                   "\"runner\": \"%s\"}\n",
                   model->info.arch, fr_precision_name(precision),
                   fr_runner_max_batch(fr_embedder_runner(e)), list.count, ok, threads,
                   (double)list.count / sec,
                   fr_runner_describe((fr_runner *)fr_embedder_runner(e)));
    }
    fr_embedder_free(e);
    free(list.paths);
    fr_paths_free(&found);
    return status;
}

/* ---- identification ------------------------------------------------------------------------ */

static float *unit_rows(size_t count, uint64_t seed)
{
    float *x = malloc(count * 128 * sizeof(float));
    if (!x)
        return NULL;
    uint64_t s = seed;
    for (size_t i = 0; i < count; i++) {
        double norm = 0;
        for (int d = 0; d < 128; d++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[i * 128 + d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            norm += (double)x[i * 128 + d] * x[i * 128 + d];
        }
        for (int d = 0; d < 128; d++)
            x[i * 128 + d] = (float)(x[i * 128 + d] / sqrt(norm));
    }
    return x;
}

static int identify(size_t gallery, size_t probes, size_t k)
{
    float *b = unit_rows(gallery, 1), *a = unit_rows(probes, 2);
    fr_neighbor *got = malloc(probes * k * sizeof *got), *want = malloc(100 * k * sizeof *want);
    if (!a || !b || !got || !want) {
        fprintf(stderr, "bench_cuda: out of memory\n");
        return 1;
    }
    fr_distance_options gpu = {FR_DEVICE_CUDA, 0, 0}, cpu = {FR_DEVICE_CPU, 0, 0};
    fr_distance_engine *e;
    int status = 0;
    double sec = 0;
    if (fr_distance_new(&gpu, &e)) {
        status = fail("opening the GPU distance engine");
    } else {
        for (int pass = 0; pass < 2 && !status; pass++) {
            double t0 = fr_seconds();
            if (fr_distance_nearest(e, a, probes, b, gallery, 128, NULL, k, got))
                status = fail("nearest");
            sec = fr_seconds() - t0;
        }
        fr_distance_free(e);
    }
    size_t check = probes < 100 ? probes : 100, same = 0;
    if (!status && !fr_distance_new(&cpu, &e)) {
        if (!fr_distance_nearest(e, a, check, b, gallery, 128, NULL, k, want))
            for (size_t i = 0; i < check * k; i++)
                same += want[i].index == got[i].index;
        fr_distance_free(e);
    }
    if (!status)
        printf("{\"bench\": \"identify\", \"gallery\": %zu, \"probes\": %zu, \"k\": %zu, "
               "\"seconds\": %.4f, \"probes_per_s\": %.1f, \"tflops\": %.2f, "
               "\"same_as_cpu\": %.4f}\n",
               gallery, probes, k, sec, probes / sec, 2.0 * probes * gallery * 128 / sec * 1e-12,
               check ? (double)same / (double)(check * k) : 0.0);
    free(a);
    free(b);
    free(got);
    free(want);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "network") && strcmp(argv[1], "e2e") &&
                     strcmp(argv[1], "identify") && strcmp(argv[1], "startup") &&
                     strcmp(argv[1], "decode"))) {
        fprintf(stderr, "usage: bench_cuda network|e2e|startup|decode|identify ... (see the top "
                        "of bench/bench_cuda.c)\n");
        return 2;
    }
    const char *weights = NULL, *batches = "64,128,256,512,1024", *dir = NULL, *cache = NULL;
    fr_precision precision = FR_PRECISION_FP16;
    int iters = 20, batch = 256, threads = 0, repeat = 1, min_side = 0;
    size_t gallery = 1000000, probes = 10000, k = 5;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_cuda: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--weights"))
            weights = v;
        else if (!strcmp(a, "--batches"))
            batches = v;
        else if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--cache"))
            cache = v;
        else if (!strcmp(a, "--iters"))
            iters = atoi(v);
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--repeat"))
            repeat = atoi(v);
        else if (!strcmp(a, "--min-side"))
            min_side = atoi(v);
        else if (!strcmp(a, "--gallery"))
            gallery = (size_t)atol(v);
        else if (!strcmp(a, "--probes"))
            probes = (size_t)atol(v);
        else if (!strcmp(a, "--k"))
            k = (size_t)atol(v);
        else if (!strcmp(a, "--precision") && parse_precision(v, &precision))
            ;
        else {
            fprintf(stderr, "bench_cuda: unknown option %s %s\n", a, v);
            return 2;
        }
        i++;
    }
    if (!strcmp(argv[1], "identify"))
        return gallery && probes && k ? identify(gallery, probes, k) : 2;
    if (!strcmp(argv[1], "decode"))
        return dir && batch > 0 ? decode_rates(dir, batch, threads, min_side, repeat) : 2;
    if (!weights || iters < 1 || (!strcmp(argv[1], "e2e") && !dir)) {
        fprintf(stderr, "bench_cuda: give --weights (and --dir for e2e)\n");
        return 2;
    }
    fr_model *model;
    if (fr_model_load(weights, &model))
        return fail(weights);
    int status = !strcmp(argv[1], "network")   ? network(model, precision, batches, iters)
                 : !strcmp(argv[1], "startup") ? startup(model, precision, batch, cache)
                 : end_to_end(model, precision, dir, batch, threads, repeat);
    fr_model_free(model);
    return status;
}
