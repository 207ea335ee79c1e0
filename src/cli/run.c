/* run.c: the shared front half of the image-reading commands. */
#include "cli/run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"
#include "detect/tiny.h"
#include "store/store.h"

enum { OPT_SHARD = 1100, OPT_LIST };

static const struct option run_long_options[FR_RUN_OPTION_COUNT] = {
    {"shard", required_argument, NULL, OPT_SHARD},
    {"list", required_argument, NULL, OPT_LIST},
};

struct fr_run {
    const char *command;
    fr_global_options global;
    fr_run_options options;
    fr_model *model;
    fr_embedder *embedder;
    fr_path_list paths;
    fr_manifest *manifest;
    double started;
    size_t group_photos; /* inputs with several faces, of which the main one was used */
    size_t no_face;      /* inputs decoded without a face (of the failures the summary counts) */
};

void fr_run_defaults(fr_run_options *o)
{
    memset(o, 0, sizeof *o);
}

struct option *fr_run_options_merge(const struct option *own, size_t own_count)
{
    struct option *mine = malloc((own_count + FR_RUN_OPTION_COUNT) * sizeof *mine);
    if (!mine)
        return NULL;
    memcpy(mine, own, own_count * sizeof *own);
    memcpy(mine + own_count, run_long_options, sizeof run_long_options);
    struct option *all = fr_options_merge(mine, own_count + FR_RUN_OPTION_COUNT);
    free(mine);
    return all;
}

int fr_run_option(fr_global_options *g, fr_run_options *o, int code, const char *arg,
                  void (*help)(FILE *))
{
    if (code == OPT_SHARD)
        return fr_shard_parse(arg, &o->shard);
    if (code == OPT_LIST) {
        if (strcmp(arg, "-") == 0) {
            fprintf(stderr, "facerec: --list -: give a file (it is read twice: to count and "
                    "digest the whole list, then to keep this shard's part)\n");
            return 0;
        }
        o->list = arg;
        return 1;
    }
    return fr_cli_common_option(g, code, arg, help);
}

void fr_run_help(FILE *out)
{
    fprintf(out,
            "  --shard I/N         only the I-th of N parts of the input list (0-based), for\n"
            "                      one job split over machines: writes OUT.manifest.json beside\n"
            "                      the output; `facerec merge` joins the parts into what one\n"
            "                      run writes (docs/scale-out.md)\n"
            "  --list FILE         the inputs are the image paths in FILE, one a line, in its\n"
            "                      order (as .paths files hold them: \\\\ and \\n escaped),\n"
            "                      instead of arguments: no directory walk, and a shard keeps\n"
            "                      only its part in memory (for lists of millions)\n");
}

int fr_run_check_output(const char *command, const fr_run_options *o, const char *output)
{
    if (o->shard.count && (!output || strcmp(output, "-") == 0)) {
        fr_cli_error(command, "--shard needs -o FILE: each shard's output gets a manifest "
                     "beside it for `facerec merge`");
        return 0;
    }
    return 1;
}

fr_status fr_run_manifest_commit(fr_manifest *m, const char *output, const char *const *roles,
                                 size_t role_count, size_t failures)
{
    fr_status st = FR_OK;
    for (size_t i = 0; i < role_count && !st; i++) {
        int main_file = strcmp(roles[i], "main") == 0;
        char *path = main_file ? NULL : fr_side_path(output, roles[i]);
        if (!main_file && !path)
            return FR_E_NOMEM;
        st = fr_manifest_output(m, roles[i], main_file ? output : path);
        free(path);
    }
    fr_manifest_failures(m, failures);
    return st ? st : fr_manifest_commit(m, output);
}

/* One line of a list file as the path it names: a backslash pair and backslash-n unescaped
 * in place (fr_cli_write_path_line's escapes); 0 on another escape. */
static int unescape_line(char *line)
{
    char *out = line;
    for (const char *p = line; *p; p++) {
        if (*p != '\\') {
            *out++ = *p;
            continue;
        }
        if (p[1] == '\\')
            *out++ = '\\';
        else if (p[1] == 'n')
            *out++ = '\n';
        else
            return 0;
        p++;
    }
    *out = 0;
    return 1;
}

/* Reads --list FILE twice: the whole list through digest and each, then the part [first, end)
 * into list once the count says where the part is. */
static fr_status read_list(const char *path, const fr_shard *shard, size_t unit,
                           fr_list_digest *digest, void (*each)(void *, const char *), void *ctx,
                           fr_path_list *list, size_t *total, size_t *first, size_t *end)
{
    fr_status st = FR_OK;
    char *line = NULL;
    size_t cap = 0;
    for (int pass = 0; pass < 2 && !st; pass++) {
        FILE *f = fopen(path, "r");
        if (!f) {
            st = fr_fail(FR_E_IO, "--list %s: %s", path, strerror(errno));
            break;
        }
        size_t index = 0, number = 0;
        ssize_t n;
        while (!st && (n = getline(&line, &cap, f)) >= 0) {
            number++;
            if (n > 0 && line[n - 1] == '\n')
                line[--n] = 0;
            if (n == 0)
                continue; /* blank lines: nothing */
            if ((size_t)n != strlen(line) || !unescape_line(line)) {
                st = fr_fail(FR_E_FORMAT, "--list %s: line %zu: not a path (a NUL byte, or a "
                             "backslash not followed by \\ or n)", path, number);
                break;
            }
            if (pass == 0) {
                if (digest)
                    fr_list_digest_add(digest, line);
                if (each)
                    each(ctx, line);
            } else if (index >= *first && index < *end) {
                st = fr_paths_add(list, line);
            }
            index++;
        }
        if (!st && ferror(f))
            st = fr_fail(FR_E_IO, "--list %s: read error", path);
        fclose(f);
        if (pass == 0) {
            *total = index;
            fr_shard_range(shard, index, unit, first, end);
        }
    }
    free(line);
    return st;
}

int fr_run_inputs(const char *command, const fr_run_options *o, char *const *args,
                  size_t count, size_t unit, void (*each)(void *, const char *), void *ctx,
                  fr_path_list *list, fr_manifest **manifest)
{
    *manifest = NULL;
    fr_list_digest *digest = NULL;
    fr_status st = o->shard.count ? fr_list_digest_new(&digest) : FR_OK;
    size_t total = 0, first = 0, end = 0;
    if (!st && o->list) {
        st = read_list(o->list, &o->shard, unit, digest, each, ctx, list, &total, &first, &end);
    } else if (!st) {
        st = fr_paths_collect(args, count, list, fr_cli_path_error, (void *)command);
        if (!st)
            fr_cli_paths_skipped(command, list);
        total = list->count;
        for (size_t i = 0; !st && i < total; i++) {
            if (digest)
                fr_list_digest_add(digest, list->paths[i]);
            if (each)
                each(ctx, list->paths[i]);
        }
        fr_shard_range(&o->shard, total, unit, &first, &end);
        fr_paths_keep(list, first, end);
    }
    if (st) {
        fr_list_digest_free(digest);
        return fr_cli_fail(command, st);
    }
    if (total == 0) {
        fr_list_digest_free(digest);
        /* nothing to work on, whether the paths were missing or the folders empty */
        fr_cli_error(command, "no images found in %s", o->list ? o->list : "the arguments");
        return FR_EXIT_FATAL;
    }
    if (!digest)
        return FR_EXIT_OK;
    char hex[65];
    fr_list_digest_finish(digest, hex);
    st = fr_manifest_new(command, &o->shard, total, hex, unit, first, end, manifest);
    if (st)
        return fr_cli_fail(command, st);
    fr_manifest_list_errors(*manifest, list->errors);
    return FR_EXIT_OK;
}

int fr_run_check_inputs(const char *command, const fr_run_options *o, int arguments)
{
    if (o->list && arguments) {
        fr_cli_error(command, "give images and directories or --list FILE, not both");
        return 0;
    }
    if (!o->list && !arguments) {
        fr_cli_error(command, "give images or directories, or --list FILE (see --help)");
        return 0;
    }
    return 1;
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

void fr_cli_paths_skipped(const char *command, const fr_path_list *list)
{
    char text[512];
    fr_paths_describe_skipped(list, text, sizeof text);
    if (text[0] && !fr_cli_quiet)
        fr_cli_error(command, "skipped %s (images are .jpg .jpeg .png)", text);
}

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void describe_weights(fr_manifest *m, const char *option, const char *name)
{
    char path[4096], hex[65];
    if (fr_model_default_path(name, path, sizeof path) == FR_OK &&
        fr_sha256_file(path, hex) == FR_OK)
        fr_manifest_option(m, option, hex);
    else
        fr_manifest_option(m, option, "(none)");
}

void fr_run_describe_detection(fr_manifest *m, const fr_global_options *g,
                               const fr_chip_spec *spec, int landmarks)
{
    fr_detector_kind kind;
    int size;
    fr_chip_spec_detector(spec, g->detector, g->detector_size, &kind, &size);
    /* Named as the options are, so a refused merge says "made with --detector mtcnn, ... with
     * --detector tiny". (Manifests written before the tiny detector held MTCNN's weights'
     * SHA-256 under "detector": such a shard no longer merges with a new one; a job's shards
     * come from one build.) */
    fr_manifest_option(m, "detector", fr_detector_kind_name(kind));
    if (kind != FR_DETECTOR_MTCNN) {
        fr_manifest_option_number(m, "detector-size", size);
        fr_manifest_option_number(m, "detector-threshold", g->detector_threshold > 0
                                                               ? g->detector_threshold
                                                               : FR_TINY_THRESHOLD);
        describe_weights(m, "tiny-weights", "tinyface");
    }
    if (kind != FR_DETECTOR_TINY)
        describe_weights(m, "mtcnn-weights", "mtcnn");
    if (landmarks)
        describe_weights(m, "landmarks", "landmark68");
}

void fr_run_describe(const fr_run *r, fr_manifest *m)
{
    const fr_model_info *info = fr_model_get_info(r->model);
    const fr_runner *runner = fr_embedder_runner(r->embedder);
    char key[512];
    fr_store_model_key(info, key, sizeof key);
    fr_manifest_model(m, key);
    fr_manifest_option(m, "device", fr_runner_backend(runner));
    fr_manifest_option(m, "precision", fr_precision_name(fr_runner_precision(runner)));
    fr_manifest_option_number(m, "batch", fr_runner_max_batch(runner));
    fr_manifest_option(m, "align", fr_align_name(r->global.align));
    if (r->global.face_index)
        fr_manifest_option_number(m, "face", r->global.face_index - 1);
    else
        fr_manifest_option(m, "face", fr_face_rule_name(r->global.face));
    fr_manifest_option_flag(m, "all-faces", r->global.all_faces);
    fr_manifest_option_flag(m, "flip", r->global.flip);
    fr_manifest_option_number(m, "jitter", r->global.jitter);
    fr_manifest_option_flag(m, "raw", r->options.raw);
    fr_manifest_option_flag(m, "full-decode", r->options.full_decode);
    fr_chip_spec spec;
    if (r->global.align != FR_ALIGN_NONE &&
        fr_chip_spec_for(r->model->entry, r->global.align, &spec) == FR_OK)
        fr_run_describe_detection(m, &r->global, &spec, 1);
}

static int open_common(const char *command, const fr_global_options *g,
                       const fr_run_options *options, char *const *args, size_t count,
                       int collect, fr_run *r)
{
    /* the matching commands keep one embedding per image: the image's main face; embed,
     * cluster, identify (a row per face) and verify (any face) take every face */
    if (g->all_faces && strcmp(command, "embed") != 0 && strcmp(command, "cluster") != 0 &&
        strcmp(command, "identify") != 0 && strcmp(command, "verify") != 0) {
        fr_cli_error(command, "--all-faces: %s uses the main face of each image (embed, "
                     "cluster, identify, verify and detect take every face)", command);
        return FR_EXIT_USAGE;
    }
    r->options = *options;
    r->options.model = NULL; /* the run owns it as r->model */
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
    eo.detector_kind = g->detector;
    eo.detector_size = g->detector_size;
    eo.detector_threshold = g->detector_threshold;
    eo.all_faces = g->all_faces;
    eo.face = g->face;
    eo.face_index = g->face_index;
    eo.flip = g->flip;
    eo.jitter = g->jitter;
    eo.pipeline = g->pipeline;
    /* --decode, else FACEREC_DECODE: nvjpeg decodes JPEGs on the GPU (docs/cuda.md), not yet
     * the default: unmeasured on a card */
    const char *decode = g->decode ? g->decode : getenv("FACEREC_DECODE");
    if (decode && *decode && strcmp(decode, "cpu") != 0 && strcmp(decode, "nvjpeg") != 0) {
        fr_cli_error(command, "FACEREC_DECODE=%s: expected cpu or nvjpeg", decode);
        return FR_EXIT_USAGE;
    }
    eo.gpu_decode = decode && strcmp(decode, "nvjpeg") == 0;
    st = fr_embedder_new(r->model, &eo, &r->embedder);
    if (st)
        return fr_cli_fail(command, st);
    /* batch b holds inputs [bB, bB + B) (embedder.h), so a shard cut at multiples of B has
     * the single run's batches */
    size_t unit = (size_t)fr_runner_max_batch(fr_embedder_runner(r->embedder));
    if (options->unit_multiple)
        unit = unit / gcd(unit, options->unit_multiple) * options->unit_multiple;
    int code = collect ? fr_run_inputs(command, options, args, count, unit, NULL, NULL, &r->paths,
                                       &r->manifest)
                       : FR_EXIT_OK;
    if (code)
        return code;
    if (r->manifest)
        fr_run_describe(r, r->manifest);
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
    int code = open_common(command, g, options, args, count, 1, r);
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
    int code = st ? fr_cli_fail(command, st) : open_common(command, g, options, NULL, 0, 0, r);
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

int fr_run_all_faces(const fr_run *r)
{
    return r->global.all_faces;
}

int fr_run_batch(const fr_run *r)
{
    return fr_runner_max_batch(fr_embedder_runner(r->embedder));
}

fr_manifest *fr_run_manifest(fr_run *r)
{
    return r->manifest;
}

fr_status fr_run_embed(fr_run *r, fr_embed_sink sink, void *ctx)
{
    return fr_run_embed_paths(r, r->paths.paths, r->paths.count, sink, ctx);
}

/* The command's sink, behind one that names the images with several faces (the first
 * GROUP_NOTICES of them; the summary counts them all). */
#define GROUP_NOTICES 20
typedef struct notice_sink {
    fr_run *run;
    fr_embed_sink sink;
    void *ctx;
} notice_sink;

static int notice(void *ctx, const fr_embed_result *result)
{
    notice_sink *n = ctx;
    fr_run *r = n->run;
    if (result->status == FR_E_NO_FACE)
        r->no_face++;
    if (!r->global.all_faces && result->face_count > 1 && result->face >= 0) {
        if (!r->global.quiet && !r->options.names_groups && r->group_photos < GROUP_NOTICES) {
            char used[48];
            if (r->global.face_index)
                snprintf(used, sizeof used, "face %d", result->face);
            else
                snprintf(used, sizeof used, "the %s, face %d",
                         r->global.face == FR_FACE_CENTRAL ? "central one" : "largest",
                         result->face);
            int every = strcmp(r->command, "embed") == 0 || strcmp(r->command, "cluster") == 0;
            fr_cli_error(r->command, "%d faces in %s; used %s (--face chooses another%s)",
                         result->face_count, result->path, used,
                         every ? ", --all-faces takes each" : "");
        }
        r->group_photos++;
    }
    return n->sink(n->ctx, result);
}

fr_status fr_run_embed_paths(fr_run *r, char *const *paths, size_t count, fr_embed_sink sink,
                             void *ctx)
{
    notice_sink n = {r, sink, ctx};
    return fr_embed_files(r->embedder, (const char *const *)paths, count, notice, &n);
}

void fr_run_summary(const fr_run *r, size_t done, size_t failed, const char *output)
{
    if (r->global.quiet)
        return;
    double seconds = fr_seconds() - r->started;
    const fr_runner *runner = fr_embedder_runner(r->embedder);
    /* every input, the failed ones included: "4 images (1 unreadable, 1 without a face)" is
     * four photos of which two have no answer (it said "2 images (...)" of those four) */
    size_t total = done + failed;
    fprintf(stderr, "%s: %zu image%s", r->command, total, total == 1 ? "" : "s");
    /* an image without a face was read: said apart from those that could not be */
    size_t no_face = r->no_face < failed ? r->no_face : failed;
    if (failed - no_face && no_face)
        fprintf(stderr, " (%zu unreadable, %zu without a face)", failed - no_face, no_face);
    else if (failed - no_face)
        fprintf(stderr, " (%zu unreadable)", failed - no_face);
    else if (no_face)
        fprintf(stderr, " (%zu without a face)", no_face);
    if (r->group_photos)
        fprintf(stderr, ", %zu with several faces (the main one used%s)", r->group_photos,
                r->group_photos > GROUP_NOTICES ? "; the first ones named above" : "");
    fprintf(stderr, " with %s on %s (%s) in %.2f s, %.1f images/s%s%s\n",
            fr_model_get_info(r->model)->arch, fr_runner_backend(runner),
            fr_precision_name(fr_runner_precision(runner)), seconds,
            seconds > 0 ? (double)total / seconds : 0.0, output ? " -> " : "",
            output ? output : "");
}

void fr_run_close(fr_run *r)
{
    if (!r)
        return;
    fr_manifest_free(r->manifest);
    fr_embedder_free(r->embedder);
    fr_model_free(r->model);
    fr_paths_free(&r->paths);
    free(r);
}
