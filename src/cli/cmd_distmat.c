/*
 * cmd_distmat.c: `facerec distmat A [B] -o D.npy`: every distance between two sets (or within
 * one), written tile by tile so that the matrix never has to fit in memory.
 *
 * A set is a .npy of embeddings (from `facerec embed`) or images (files or directories,
 * embedded here). With one set the matrix is symmetric and each tile is computed once.
 *
 * --shard I/N writes a block of D's rows (the distance engine computes the tiles that hold
 * them as for the whole matrix, so the blocks stack into its bits): every shard reads all of
 * both sets, since each row needs every column; images are embedded by every shard.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/guard.h"
#include "cli/matching.h"
#include "cli/signals.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/npy.h"
#include "engine/paths.h"
#include "match/distmat.h"

#define ROWS_SUFFIX ".rows.paths"
#define COLS_SUFFIX ".cols.paths"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec distmat A [B] -o D.npy\n\n"
            "Writes D (float32, N x M): the L2 distance between row i of A and row j of B, or of\n"
            "A with itself when B is not given (symmetric, zero diagonal). A and B are each a\n"
            ".npy of embeddings written by `facerec embed`, or an image file or directory (read\n"
            "recursively and embedded with the model options below). For image sets the row\n"
            "(column) paths are written beside D: D.rows.paths (and D.cols.paths), one per line;\n"
            "unreadable images are named on stderr and left out (exit 3). The files appear\n"
            "together when the run completes, with D.sha256 listing their digests\n"
            "(`sha256sum -c D.sha256` checks that they belong together).\n\n"
            "  -o, --output FILE   the .npy to write (required; written in tiles, not to stdout)\n"
            "  --force             write the outputs even where one is an input\n");
    fr_run_help(out);
    fprintf(out, "                      (a shard writes a block of D's rows; every shard reads,\n"
                 "                      and embeds, all of A and B: embed images once with\n"
                 "                      `embed --shard` and `merge`, then shard distmat on .npy)\n");
    fr_global_help_except(out, "threshold json all-faces");
}

typedef struct embedding_set {
    const char *arg;
    int is_npy;
    fr_npy npy;              /* is_npy */
    fr_path_list paths;      /* images */
    float *rows;             /* rows x dim, good rows only */
    size_t count, dim;
    char **kept;             /* paths of the rows (images), pointers into paths */
} embedding_set;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static fr_status load_npy(embedding_set *s)
{
    fr_status st = fr_cli_check_npy_set(s->arg, 0);
    if (!st)
        st = fr_npy_load_embeddings(s->arg, &s->npy);
    if (st)
        return st;
    s->rows = s->npy.data;
    s->count = s->npy.shape[0];
    s->dim = s->npy.shape[1];
    return FR_OK;
}

/* Keeps the rows of the readable images of one set, in order. */
static fr_status take_rows(embedding_set *s, const fr_cli_embeddings *e, size_t first)
{
    s->dim = e->dim;
    s->rows = fr_malloc((s->paths.count ? s->paths.count : 1) * e->dim * sizeof(float),
                        "embeddings");
    s->kept = fr_malloc((s->paths.count ? s->paths.count : 1) * sizeof *s->kept, "paths");
    if (!s->rows || !s->kept)
        return FR_E_NOMEM;
    for (size_t i = 0; i < s->paths.count; i++)
        if (e->ok[first + i]) {
            memcpy(s->rows + s->count * e->dim, e->rows + (first + i) * e->dim,
                   e->dim * sizeof(float));
            s->kept[s->count++] = s->paths.paths[i];
        }
    if (s->count == 0)
        return fr_fail(FR_E_IO, "%s: no image could be read", s->arg);
    return FR_OK;
}

/* D.npy and, for image sets, D.rows.paths and D.cols.paths: opened before any image is read,
 * committed as one set with D.sha256 (core/file.h). */
enum { OUT_MATRIX, OUT_ROWS, OUT_COLS, OUT_COUNT };
typedef struct matrix_outputs {
    fr_output files[OUT_COUNT];
    const embedding_set *sets[OUT_COUNT]; /* whose paths each side file lists */
    size_t count;
} matrix_outputs;

static void outputs_abort(matrix_outputs *o)
{
    for (size_t i = 0; i < o->count; i++)
        fr_output_abort(&o->files[i]);
    o->count = 0;
}

/* Checks each name against the inputs (guard.h), then opens it: an exit code. */
static int outputs_open(matrix_outputs *o, const char *output, const embedding_set *set,
                        int sets, const fr_cli_guard *guard)
{
    memset(o, 0, sizeof *o);
    const char *names[OUT_COUNT + 1] = {output, NULL, NULL, NULL};
    char *owned[OUT_COUNT + 1] = {NULL, NULL, NULL, NULL};
    size_t count = 1;
    for (int i = 0; i < sets; i++)
        if (!set[i].is_npy) {
            owned[count] = fr_side_path(output, i == 0 ? ROWS_SUFFIX : COLS_SUFFIX);
            o->sets[count] = &set[i];
            names[count] = owned[count];
            count++;
        }
    owned[count] = fr_side_path(output, ".sha256"); /* the record: guarded, opened later */
    names[count] = owned[count];
    int code = FR_EXIT_OK;
    for (size_t i = 0; i <= count && !code; i++)
        code = names[i] ? fr_cli_guard_output(guard, "-o", names[i])
                        : fr_cli_fail("distmat", FR_E_NOMEM);
    for (size_t i = 0; i < count && !code; i++) {
        fr_status st = fr_output_open(&o->files[i], names[i], FR_OUTPUT_REGULAR);
        if (st)
            code = fr_cli_fail("distmat", st);
        else
            o->count++;
    }
    for (size_t i = 0; i <= count; i++)
        free(owned[i]);
    if (code)
        outputs_abort(o);
    return code;
}

/* The paths of the kept rows (of A's rows [first, end): a shard's block), then the set
 * committed (a commit section: signals.h). */
static fr_status outputs_commit(matrix_outputs *o, const char *output, const embedding_set *a,
                                size_t first, size_t end)
{
    for (size_t f = 1; f < o->count; f++) {
        int rows = o->sets[f] == a;
        for (size_t i = rows ? first : 0; i < (rows ? end : o->sets[f]->count); i++)
            fr_cli_write_path_line(o->files[f].file, o->sets[f]->kept[i]);
    }
    char *record = fr_side_path(output, ".sha256");
    if (!record) {
        outputs_abort(o);
        return FR_E_NOMEM;
    }
    fr_cli_commit_begin();
    fr_status st = fr_output_commit_set(o->files, o->count, record);
    fr_cli_commit_end(st == FR_OK);
    free(record);
    if (st)
        outputs_abort(o);
    return st;
}

/* The shard's manifest: both sets are its input (what each holds: the .npy's data, the
 * images' paths), its part a block of A's rows. Unreadable images are the same for every
 * shard (each embeds all), so they count once, as the list's errors. */
static int distmat_manifest(const fr_shard *shard, const embedding_set *set, int sets,
                            const fr_run *run, const fr_distance_engine *engine, size_t errors,
                            fr_manifest **out, size_t *first, size_t *end)
{
    fr_list_digest *d;
    fr_status st = fr_list_digest_new(&d);
    if (st)
        return fr_cli_fail("distmat", st);
    for (int i = 0; i < sets; i++) {
        char what[96];
        snprintf(what, sizeof what, "set %d: %s %zu x %zu", i, set[i].is_npy ? "npy" : "images",
                 set[i].count, set[i].dim);
        fr_list_digest_add(d, what);
        if (set[i].is_npy)
            fr_list_digest_add_bytes(d, set[i].rows, set[i].count * set[i].dim * sizeof(float));
        for (size_t j = 0; j < set[i].paths.count; j++)
            fr_list_digest_add(d, set[i].paths.paths[j]);
    }
    char hex[65];
    fr_list_digest_finish(d, hex);
    fr_shard_range(shard, set[0].count, 1, first, end);
    st = fr_manifest_new("distmat", shard, set[0].count, hex, 1, *first, *end, out);
    if (st)
        return fr_cli_fail("distmat", st);
    if (run)
        fr_run_describe(run, *out);
    else
        fr_manifest_model(*out, "(embeddings given as .npy)");
    fr_manifest_option(*out, "distances", fr_distance_backend_name(engine));
    fr_manifest_list_errors(*out, errors);
    return FR_EXIT_OK;
}

static void set_free(embedding_set *s)
{
    if (s->is_npy)
        fr_npy_free(&s->npy);
    else
        free(s->rows);
    free(s->kept);
    fr_paths_free(&s->paths);
}

int fr_cmd_distmat(int argc, char **argv)
{
    static const struct option own[] = {{"output", required_argument, NULL, 'o'},
                                        {"force", no_argument, NULL, 'f'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_options_refuse(options, "threshold json");
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options shard;
    fr_run_defaults(&shard);
    const char *output = NULL;
    int c, force = 0;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'f': force = 1; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_run_option(&g, &shard, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    int sets = argc - optind;
    if (!output || sets < 1 || sets > 2) {
        fr_cli_error("distmat", "give one or two sets (.npy or images) and -o D.npy "
                     "(see --help)");
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_output("distmat", &shard, output))
        return FR_EXIT_USAGE;
    if (shard.list) {
        fr_cli_error("distmat", "--list: distmat takes its two sets as arguments");
        return FR_EXIT_USAGE;
    }
    double started = fr_seconds();
    fr_run *run = NULL;
    embedding_set set[2];
    memset(set, 0, sizeof set);
    fr_status st = FR_OK;
    size_t image_errors = 0;
    for (int i = 0; i < sets && !st; i++) {
        set[i].arg = argv[optind + i];
        set[i].is_npy = ends_with(set[i].arg, ".npy");
        if (set[i].is_npy)
            st = load_npy(&set[i]);
        else
            st = fr_paths_collect(&argv[optind + i], 1, &set[i].paths, fr_cli_path_error,
                                     "distmat");
        if (!st && !set[i].is_npy)
            fr_cli_paths_skipped("distmat", &set[i].paths);
        image_errors += set[i].paths.errors;
    }
    /* the image sets, embedded in one run */
    int code = st ? fr_cli_fail("distmat", st) : FR_EXIT_OK;
    for (int i = 0; !code && i < sets; i++)
        if (!set[i].is_npy && set[i].paths.count == 0) {
            fr_cli_error("distmat", "%s: no images found", set[i].arg);
            code = FR_EXIT_FATAL; /* missing or empty: nothing to work on */
        }
    size_t images = 0;
    for (int i = 0; i < sets; i++)
        images += set[i].paths.count;
    char **all = fr_malloc((images ? images : 1) * sizeof *all, "a path list");
    size_t all_count = 0;
    for (int i = 0; all && i < sets; i++)
        for (size_t j = 0; j < set[i].paths.count; j++)
            all[all_count++] = set[i].paths.paths[j];
    if (!code && !all)
        code = fr_cli_fail("distmat", FR_E_NOMEM);
    /* before the first image is read: names that would replace an input (a set's .npy
     * included), missing or read-only folders */
    matrix_outputs outputs = {0};
    fr_cli_guard guard = {"distmat", argv + optind, (size_t)sets, all, all_count, NULL, 0,
                          force};
    if (!code)
        code = outputs_open(&outputs, output, set, sets, &guard);
    if (!code && images) {
        fr_run_options ro;
        fr_run_defaults(&ro);
        fr_cli_embeddings e;
        memset(&e, 0, sizeof e);
        code = fr_run_open_paths("distmat", &g, &ro, all, images, &run);
        if (!code)
            code = fr_cli_embed_all("distmat", run, &e);
        for (int i = 0, first = 0; !code && i < sets; i++) {
            if (set[i].is_npy)
                continue;
            st = take_rows(&set[i], &e, (size_t)first);
            first += (int)set[i].paths.count;
            if (st)
                code = fr_cli_fail("distmat", st);
        }
        image_errors += e.failures;
        fr_cli_embeddings_free(&e);
    }
    free(all);
    if (!code && sets == 2 && set[0].dim != set[1].dim) {
        fr_cli_error("distmat", "%s has %zu-d embeddings and %s %zu-d: not the same model",
                     set[0].arg, set[0].dim, set[1].arg, set[1].dim);
        code = FR_EXIT_USAGE;
    }
    fr_distance_engine *engine = NULL;
    if (!code)
        code = fr_cli_distance_engine("distmat", &g, &engine);
    /* a shard: a block of D's rows, every column */
    fr_manifest *manifest = NULL;
    size_t first = 0, end = set[0].count;
    if (!code && shard.shard.count)
        code = distmat_manifest(&shard.shard, set, sets, run, engine, image_errors, &manifest,
                                &first, &end);
    if (!code) {
        st = fr_distmat_write_rows(engine, set[0].rows, set[0].count,
                                   sets == 2 ? set[1].rows : NULL, sets == 2 ? set[1].count : 0,
                                   set[0].dim, first, end, &outputs.files[0]);
        if (!st)
            st = outputs_commit(&outputs, output, &set[0], first, end);
        if (!st && manifest) {
            const char *roles[3] = {"main"};
            size_t n = 1;
            if (!set[0].is_npy)
                roles[n++] = ROWS_SUFFIX;
            if (sets == 2 && !set[1].is_npy)
                roles[n++] = COLS_SUFFIX;
            st = fr_run_manifest_commit(manifest, output, roles, n, 0);
        }
        if (st)
            code = fr_cli_fail("distmat", st);
    }
    outputs_abort(&outputs);
    fr_manifest_free(manifest);
    fr_run_close(run);
    if (!code && !g.quiet) {
        size_t m = sets == 2 ? set[1].count : set[0].count;
        fprintf(stderr, "distmat: %zu x %zu distances%s on %s in %.2f s -> %s\n", end - first,
                m, sets == 1 ? " (symmetric)" : "", fr_distance_backend_name(engine),
                fr_seconds() - started, output);
    }
    fr_distance_free(engine);
    for (int i = 0; i < 2; i++)
        set_free(&set[i]);
    if (!code && image_errors)
        code = FR_EXIT_PARTIAL;
    return code;
}
