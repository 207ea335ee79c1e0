/* cmd_embed.c: `facerec embed IMG|DIR... -o emb.npy`: embeddings and the list of their paths. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec embed [options] IMG|DIR... -o OUT.npy\n\n"
            "Writes one embedding per readable image to OUT.npy (float32, N x 128, L2-normalized)\n"
            "and the image paths, one per line in row order, to OUT.npy's name with .paths in\n"
            "place of .npy ('\\' and newlines in names written as \\\\ and \\n). Directories are\n"
            "read recursively (.jpg .jpeg .png, sorted). Unreadable images are named on stderr,\n"
            "the rest go on; the exit code is then 3.\n\n"
            "  -o, --output FILE   the .npy to write (required)\n"
            "  --raw               the network's output without L2 normalization\n"
            "  --shard I/N         only every N-th image, starting at the I-th (0-based)\n"
            "  --full-decode       never decode large JPEGs at reduced (DCT) scale\n");
    fr_global_help(out);
}

typedef struct embed_sink {
    float *rows;
    size_t count, capacity, dim;
    char **paths;
    size_t failures;
    int quiet;
} embed_sink;

static int collect(void *ctx, const fr_embed_result *r)
{
    embed_sink *s = ctx;
    if (fr_cli_interrupted())
        return 1;
    if (r->status != FR_OK) {
        s->failures++;
        fr_cli_error("embed", "%s", r->error);
        return 0;
    }
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? 2 * s->capacity : 1024;
        float *rows = realloc(s->rows, cap * s->dim * sizeof *rows);
        char **paths = rows ? realloc(s->paths, cap * sizeof *paths) : NULL;
        if (rows)
            s->rows = rows;
        if (!rows || !paths) {
            fr_fail(FR_E_NOMEM, "out of memory holding %zu embeddings", s->count);
            return 1;
        }
        s->paths = paths;
        s->capacity = cap;
    }
    memcpy(s->rows + s->count * s->dim, r->embedding, s->dim * sizeof(float));
    s->paths[s->count++] = (char *)r->path;
    return 0;
}

/* "<out minus .npy>.paths" */
static char *paths_file_name(const char *output)
{
    size_t n = strlen(output);
    char *name = malloc(n + 8);
    if (!name)
        return NULL;
    memcpy(name, output, n + 1);
    if (n > 4 && strcmp(name + n - 4, ".npy") == 0)
        name[n - 4] = 0;
    strcat(name, ".paths");
    return name;
}

static fr_status write_outputs(const char *output, const embed_sink *s)
{
    size_t shape[2] = {s->count, s->dim};
    char *paths_name = paths_file_name(output);
    if (!paths_name)
        return fr_fail(FR_E_NOMEM, "out of memory");
    fr_output out;
    fr_status st = fr_output_open(&out, paths_name, 0);
    for (size_t i = 0; i < s->count && !st; i++)
        fr_cli_write_path_line(out.file, s->paths[i]);
    if (!st)
        st = fr_output_commit(&out);
    else
        fr_output_abort(&out);
    if (!st)
        st = fr_npy_save(output, FR_NPY_F32, 2, shape, s->rows);
    free(paths_name);
    return st;
}

int fr_cmd_embed(int argc, char **argv)
{
    static const struct option own[] = {
        {"output", required_argument, NULL, 'o'}, {"raw", no_argument, NULL, 'r'},
        {"shard", required_argument, NULL, 's'},  {"full-decode", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options run;
    fr_run_defaults(&run);
    const char *output = NULL;
    int c;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        int r;
        switch (c) {
        case 'o': output = optarg; break;
        case 'r': run.raw = 1; break;
        case 'F': run.full_decode = 1; break;
        case 's':
            if (!fr_cli_parse_shard(optarg, &run.shard_index, &run.shard_count)) {
                free(options);
                return FR_EXIT_USAGE;
            }
            break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            r = fr_global_option(&g, c, optarg);
            if (r != 1) {
                if (r == 0)
                    help(stderr);
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (!output || optind >= argc) {
        fr_cli_error("embed", "give images or directories and -o OUT.npy (see --help)");
        return FR_EXIT_USAGE;
    }

    fr_run *session;
    int code = fr_run_open("embed", &g, &run, argv + optind, (size_t)(argc - optind), &session);
    if (code != FR_EXIT_OK)
        return code;
    embed_sink sink = {0};
    sink.dim = (size_t)fr_model_get_info(fr_run_model(session))->embedding_size;
    sink.quiet = g.quiet;
    fr_status st = fr_run_embed(session, collect, &sink);
    if (!st && fr_cli_interrupted())
        st = fr_fail(FR_E_INVALID, "interrupted");
    if (!st && sink.count == 0)
        st = fr_fail(FR_E_IO, "no image could be read; %s not written", output);
    if (!st)
        st = write_outputs(output, &sink);
    size_t failures = sink.failures + fr_run_path_errors(session);
    if (!st)
        fr_run_summary(session, sink.count, failures, output);
    code = st ? fr_cli_fail("embed", st) : failures ? FR_EXIT_PARTIAL : FR_EXIT_OK;
    free(sink.rows);
    free(sink.paths);
    fr_run_close(session);
    return code;
}
