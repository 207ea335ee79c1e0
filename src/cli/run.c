/* run.c: the shared front half of the image-reading commands. */
#include "cli/run.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "engine/paths.h"

struct fr_run {
    const char *command;
    fr_global_options global;
    fr_model *model;
    fr_embedder *embedder;
    fr_path_list paths;
    double started;
};

void fr_run_defaults(fr_run_options *o)
{
    memset(o, 0, sizeof *o);
    o->shard_count = 1;
}

int fr_cli_parse_shard(const char *text, size_t *index, size_t *count)
{
    char *end;
    unsigned long i = strtoul(text, &end, 10);
    if (end != text && *end == '/') {
        char *end2;
        unsigned long n = strtoul(end + 1, &end2, 10);
        if (end2 != end + 1 && *end2 == 0 && n >= 1 && i < n && n <= 1000000) {
            *index = i;
            *count = n;
            return 1;
        }
    }
    fprintf(stderr, "facerec: --shard %s: give I/N with 0 <= I < N, e.g. 0/4\n", text);
    return 0;
}

void fr_cli_write_path_line(FILE *out, const char *path)
{
    fr_cli_write_escaped(out, path, 0);
    fputc('\n', out);
}

void fr_cli_path_error(void *command, const char *message)
{
    fr_cli_error(command, "%s", message);
}

static int open_common(const char *command, const fr_global_options *g,
                       const fr_run_options *options, fr_run *r)
{
    /* the matching commands keep one embedding per image: the image's main face; embed and
     * cluster take every face */
    if (g->all_faces && strcmp(command, "embed") != 0 && strcmp(command, "cluster") != 0) {
        fr_cli_error(command, "--all-faces: %s uses the main face of each image (embed, "
                     "cluster and detect report every face)", command);
        return FR_EXIT_USAGE;
    }
    fr_paths_shard(&r->paths, options->shard_index, options->shard_count);
    fr_status st = r->model ? FR_OK : fr_cli_load_model(g, &r->model);
    if (st)
        return fr_cli_fail(command, st);
    fr_embedder_options eo;
    memset(&eo, 0, sizeof eo);
    eo.runner.device = g->device;
    eo.runner.precision = g->precision;
    eo.runner.max_batch = g->batch;
    eo.runner.threads = g->threads;
    eo.decode_threads = g->threads;
    eo.raw = options->raw;
    eo.full_decode = options->full_decode;
    eo.progress = !g->quiet;
    eo.align = g->align;
    eo.all_faces = g->all_faces;
    eo.face = g->face;
    eo.flip = g->flip;
    eo.jitter = g->jitter;
    /* FACEREC_DECODE=nvjpeg: JPEGs decoded on the GPU (docs/cuda.md), not yet the default:
     * the batched device pipeline it is made for is still to come */
    const char *decode = getenv("FACEREC_DECODE");
    if (decode && *decode && strcmp(decode, "cpu") != 0 && strcmp(decode, "nvjpeg") != 0) {
        fr_cli_error(command, "FACEREC_DECODE=%s: expected cpu or nvjpeg", decode);
        return FR_EXIT_USAGE;
    }
    eo.gpu_decode = decode && strcmp(decode, "nvjpeg") == 0;
    st = fr_embedder_new(r->model, &eo, &r->embedder);
    if (st)
        return fr_cli_fail(command, st);
    return FR_EXIT_OK;
}

static fr_run *new_run(const char *command, const fr_global_options *g,
                       const fr_run_options *options)
{
    fr_run *r = calloc(1, sizeof *r);
    if (!r) {
        fr_model_free(options->model);
        fr_cli_error(command, "out of memory");
        return NULL;
    }
    r->model = options->model;
    r->command = command;
    r->global = *g;
    r->started = fr_seconds();
    return r;
}

int fr_run_open(const char *command, const fr_global_options *g, const fr_run_options *options,
                char *const *args, size_t count, fr_run **out)
{
    fr_run *r = new_run(command, g, options);
    if (!r)
        return FR_EXIT_FATAL;
    fr_status st = fr_paths_collect(args, count, &r->paths, fr_cli_path_error, (void *)command);
    int code = st ? fr_cli_fail(command, st) : FR_EXIT_OK;
    if (!code && r->paths.count == 0) {
        fr_cli_error(command, "no images found in the arguments");
        code = r->paths.errors ? FR_EXIT_FATAL : FR_EXIT_USAGE;
    }
    if (!code)
        code = open_common(command, g, options, r);
    if (code) {
        fr_run_close(r);
        return code;
    }
    *out = r;
    return FR_EXIT_OK;
}

int fr_run_open_paths(const char *command, const fr_global_options *g,
                      const fr_run_options *options, char *const *paths, size_t count,
                      fr_run **out)
{
    fr_run *r = new_run(command, g, options);
    if (!r)
        return FR_EXIT_FATAL;
    fr_status st = FR_OK;
    for (size_t i = 0; i < count && !st; i++)
        st = fr_paths_add(&r->paths, paths[i]);
    int code = st ? fr_cli_fail(command, st) : open_common(command, g, options, r);
    if (code) {
        fr_run_close(r);
        return code;
    }
    *out = r;
    return FR_EXIT_OK;
}

const fr_model *fr_run_model(const fr_run *r)
{
    return r->model;
}

size_t fr_run_count(const fr_run *r)
{
    return r->paths.count;
}

char *const *fr_run_paths(const fr_run *r)
{
    return r->paths.paths;
}

size_t fr_run_path_errors(const fr_run *r)
{
    return r->paths.errors;
}

fr_status fr_run_embed(fr_run *r, fr_embed_sink sink, void *ctx)
{
    return fr_embed_files(r->embedder, (const char *const *)r->paths.paths, r->paths.count, sink,
                          ctx);
}

void fr_run_summary(const fr_run *r, size_t done, size_t failed, const char *output)
{
    if (r->global.quiet)
        return;
    double seconds = fr_seconds() - r->started;
    const fr_runner *runner = fr_embedder_runner(r->embedder);
    fprintf(stderr, "%s: %zu images", r->command, done);
    if (failed)
        fprintf(stderr, " (%zu unreadable)", failed);
    fprintf(stderr, " with %s on %s (%s) in %.2f s, %.1f images/s%s%s\n",
            fr_model_get_info(r->model)->arch, fr_runner_backend(runner),
            fr_precision_name(fr_runner_precision(runner)), seconds,
            seconds > 0 ? (double)(done + failed) / seconds : 0.0, output ? " -> " : "",
            output ? output : "");
}

void fr_run_close(fr_run *r)
{
    if (!r)
        return;
    fr_embedder_free(r->embedder);
    fr_model_free(r->model);
    fr_paths_free(&r->paths);
    free(r);
}
