/*
 * cmd_cluster.c: `facerec cluster IMG|DIR|emb.npy -o clusters.csv`: unlabeled faces grouped
 * by person (cluster/cluster.h): the threshold graph over the distance engine's tiles, then
 * Chinese whispers, connected components or average linkage.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cluster_graph.h"
#include "cli/matching.h"
#include "cli/run.h"
#include "cli/signals.h"
#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"
#include "core/sha256.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec cluster IMG|DIR... -o CLUSTERS.csv [options]\n"
            "       facerec cluster EMB.npy -o CLUSTERS.csv [options]\n\n"
            "Groups faces by person without labels. Every pair of faces closer than the\n"
            "threshold is an edge of a graph (computed tile by tile: no N x N matrix is held),\n"
            "which --method cuts into clusters. Images are embedded first (directories read\n"
            "recursively; with --all-faces every face of an image is clustered); EMB.npy holds\n"
            "embeddings from `facerec embed` (its .paths file, when beside it, names the rows).\n\n"
            "Writes one row per face: path,face,cluster (face: the face's index in its image, -1\n"
            "for a whole image or chip; cluster: 0 is the largest, -1 a face in a cluster smaller\n"
            "than --min-size), as CSV or, for a .jsonl name or --json, JSON Lines. A summary\n"
            "(clusters, sizes, singletons) goes to stderr and, with --summary, to a JSON file.\n\n"
            "  -o, --output FILE       the clusters table (required; - for standard output)\n"
            "  --method average|whispers|components\n"
            "                          average: average-linkage agglomerative, cut at the\n"
            "                          threshold (default: the best on LFW's people at the\n"
            "                          model's threshold, docs/learning.md);\n"
            "                          whispers: Chinese whispers, dlib's (wants a stricter\n"
            "                          --threshold, e.g. 0.35 for dlib);\n"
            "                          components: connected components (single linkage)\n"
            "  --threshold D           an edge's largest distance (default: the model's\n"
            "                          verification threshold)\n"
            "  --min-size N            clusters of fewer faces are labelled -1 (default 1)\n"
            "  --iterations N          whispers: N x faces label updates (100, dlib's)\n"
            "  --seed N                whispers: the visiting order (1)\n"
            "  --summary FILE          the summary as JSON\n"
            "  --truth folder          score against the people the images' folders name\n"
            "                          (pairwise and BCubed precision, recall, F1)\n"
            "  --graph G.csv           cluster from a graph computed in parts by --shard and\n"
            "                          joined by `facerec merge` (its threshold, checked to be\n"
            "                          of these faces): the partition a single run gives\n");
    fr_run_help(out);
    fprintf(out, "                      (cluster --shard I/N -o G-I.csv writes the I-th of N parts\n"
                 "                      of the threshold graph, not clusters: every shard reads,\n"
                 "                      and embeds, all the faces; docs/learning.md)\n");
    fr_global_help(out);
}

/* The faces to cluster: their embeddings, and where each came from. */
typedef struct faces {
    float *rows;
    size_t count, dim, capacity;
    char **paths;        /* per row: owned copies, or NULL (no .paths beside a .npy) */
    int *face;           /* per row */
    size_t failures;
    size_t images;       /* images with a face (rows are faces: a group photo has several) */
    size_t last_index;   /* the input index of the last row's image */
    fr_npy npy;
} faces;

static void faces_free(faces *f)
{
    for (size_t i = 0; f->paths && i < f->count; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->face);
    if (f->npy.data)
        fr_npy_free(&f->npy);
    else
        free(f->rows);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A .npy of embeddings, and the paths of its rows when embed's .paths file is beside it. */
static fr_status load_npy(const char *path, faces *f)
{
    fr_status st = fr_cli_check_npy_set(path, 1);
    if (!st)
        st = fr_npy_load_embeddings(path, &f->npy);
    if (st)
        return st;
    f->rows = f->npy.data;
    f->count = f->npy.shape[0];
    f->dim = f->npy.shape[1];
    f->paths = fr_calloc(f->count ? f->count : 1, sizeof *f->paths, "row names");
    f->face = fr_malloc((f->count ? f->count : 1) * sizeof *f->face, "row names");
    if (!f->paths || !f->face)
        return FR_E_NOMEM;
    for (size_t i = 0; i < f->count; i++)
        f->face[i] = -1;
    size_t n = strlen(path);
    char *list = fr_malloc(n + 8, "a path");
    if (!list)
        return FR_E_NOMEM;
    snprintf(list, n + 8, "%.*s.paths", (int)(n - 4), path);
    void *text;
    size_t size;
    if (fr_file_read(list, (size_t)1 << 32, &text, &size) == FR_OK) {
        char *cursor = text, *line;
        size_t i = 0;
        while ((line = fr_next_line(&cursor)) != NULL && i < f->count)
            if (*line || cursor)
                f->paths[i++] = fr_strdup(line);
        free(text);
        if (i != f->count) /* not this file's list: rows stay unnamed */
            for (size_t k = 0; k < i; k++) {
                free(f->paths[k]);
                f->paths[k] = NULL;
            }
    }
    free(list);
    return FR_OK;
}

static int keep(void *ctx, const fr_embed_result *r)
{
    faces *f = ctx;
    if (r->status != FR_OK) {
        f->failures++;
        fr_cli_error("cluster", "%s", r->error);
        return 0;
    }
    if (f->count == f->capacity) {
        size_t cap = f->capacity ? 2 * f->capacity : 1024;
        float *rows = realloc(f->rows, cap * f->dim * sizeof *rows);
        if (rows)
            f->rows = rows;
        char **paths = rows ? realloc(f->paths, cap * sizeof *paths) : NULL;
        if (paths)
            f->paths = paths;
        int *face = paths ? realloc(f->face, cap * sizeof *face) : NULL;
        if (face)
            f->face = face;
        if (!rows || !paths || !face) {
            fr_fail(FR_E_NOMEM, "out of memory holding %zu embeddings", f->count);
            return 1;
        }
        f->capacity = cap;
    }
    memcpy(f->rows + f->count * f->dim, r->embedding, f->dim * sizeof(float));
    f->paths[f->count] = fr_strdup(r->path);
    f->face[f->count] = r->face;
    if (!f->paths[f->count]) {
        fr_fail(FR_E_NOMEM, "out of memory");
        return 1;
    }
    if (f->count == 0 || r->index != f->last_index)
        f->images++;
    f->last_index = r->index;
    f->count++;
    return 0;
}

/* The people the images' parent folders name (--truth folder). */
static fr_status folder_truth(const faces *f, int32_t *truth)
{
    char **names = fr_malloc((f->count ? f->count : 1) * sizeof *names, "the truth");
    if (!names)
        return FR_E_NOMEM;
    fr_status st = FR_OK;
    for (size_t i = 0; i < f->count && !st; i++) {
        const char *p = f->paths[i];
        if (!p) {
            st = fr_fail(FR_E_INVALID, "--truth folder: row %zu has no path (no .paths file "
                         "beside the .npy)", i);
            break;
        }
        const char *slash = strrchr(p, '/');
        const char *start = slash ? slash : p;
        while (start > p && start[-1] != '/')
            start--;
        names[i] = slash ? fr_malloc((size_t)(slash - start) + 1, "the truth") : fr_strdup("");
        if (!names[i]) {
            st = FR_E_NOMEM;
            for (size_t k = 0; k < i; k++)
                free(names[k]);
            free(names);
            return st;
        }
        if (slash) {
            memcpy(names[i], start, (size_t)(slash - start));
            names[i][slash - start] = 0;
        }
    }
    char **unique = NULL;
    size_t people = 0;
    if (!st)
        st = fr_cli_sorted_unique(names, f->count, &unique, &people);
    for (size_t i = 0; !st && i < f->count; i++)
        truth[i] = (int32_t)fr_cli_find_sorted(unique, people, names[i]);
    for (size_t i = 0; i < f->count && names; i++)
        free(names[i]);
    free(names);
    free(unique);
    return st;
}

typedef struct summary {
    size_t faces, clusters, multi, singletons, unclustered, largest, edges;
    double seconds_graph, seconds_cluster;
    int scored, quiet;
    fr_cluster_scores scores;
} summary;

static void summarize(const int32_t *labels, size_t n, size_t clusters, summary *s)
{
    size_t *size = fr_calloc(clusters ? clusters : 1, sizeof *size, "a summary");
    s->faces = n;
    s->clusters = clusters;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            s->unclustered++;
        else if (size)
            size[labels[i]]++;
    }
    for (size_t c = 0; size && c < clusters; c++) {
        s->multi += size[c] >= 2;
        s->singletons += size[c] == 1;
    }
    s->largest = size && clusters ? size[0] : 0;
    free(size);
}

static fr_status write_summary(const char *path, const summary *s, const fr_cluster_options *o,
                               const char *backend)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return FR_E_NOMEM;
    cJSON_AddStringToObject(j, "method", fr_cluster_method_name(o->method));
    cJSON_AddNumberToObject(j, "threshold", o->threshold);
    cJSON_AddNumberToObject(j, "min_size", (double)(o->min_size ? o->min_size : 1));
    cJSON_AddNumberToObject(j, "faces", (double)s->faces);
    cJSON_AddNumberToObject(j, "edges", (double)s->edges);
    cJSON_AddNumberToObject(j, "clusters", (double)s->clusters);
    cJSON_AddNumberToObject(j, "clusters_of_two_or_more", (double)s->multi);
    cJSON_AddNumberToObject(j, "singletons", (double)s->singletons);
    cJSON_AddNumberToObject(j, "unclustered", (double)s->unclustered);
    cJSON_AddNumberToObject(j, "largest", (double)s->largest);
    cJSON_AddStringToObject(j, "distance_backend", backend);
    cJSON_AddNumberToObject(j, "seconds_graph", s->seconds_graph);
    cJSON_AddNumberToObject(j, "seconds_cluster", s->seconds_cluster);
    if (s->scored) {
        cJSON *x = cJSON_AddObjectToObject(j, "scores");
        cJSON_AddNumberToObject(x, "pairwise_precision", s->scores.pair_precision);
        cJSON_AddNumberToObject(x, "pairwise_recall", s->scores.pair_recall);
        cJSON_AddNumberToObject(x, "pairwise_f1", s->scores.pair_f1);
        cJSON_AddNumberToObject(x, "bcubed_precision", s->scores.bcubed_precision);
        cJSON_AddNumberToObject(x, "bcubed_recall", s->scores.bcubed_recall);
        cJSON_AddNumberToObject(x, "bcubed_f1", s->scores.bcubed_f1);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return FR_E_NOMEM;
    fr_output out;
    fr_status st = fr_output_open(&out, path, 0);
    if (!st) {
        fprintf(out.file, "%s\n", text);
        st = fr_output_commit(&out);
    }
    free(text);
    return st;
}

static void write_rows(fr_cli_table *t, const faces *f, const int32_t *labels)
{
    if (t->format == FR_TABLE_CSV)
        fputs("path,face,cluster\n", t->file);
    for (size_t i = 0; i < f->count; i++) {
        char row[32];
        snprintf(row, sizeof row, "%zu", i);
        const char *path = f->paths && f->paths[i] ? f->paths[i] : row;
        if (t->format == FR_TABLE_CSV) {
            fr_csv_field(t->file, path);
            fprintf(t->file, ",%d,%d\n", f->face[i], labels[i]);
        } else {
            fputs("{\"path\":", t->file);
            fr_json_string(t->file, path);
            fprintf(t->file, ",\"face\":%d,\"cluster\":%d}\n", f->face[i], labels[i]);
        }
    }
}

/* A shard's part of the threshold graph (cluster_graph.h): its tiles' edges, the graph's
 * description, and the manifest. */
static int write_part(const char *output, const fr_shard *shard, const faces *f, float threshold,
                      fr_distance_engine *engine, fr_run *run, summary *s)
{
    fr_graph_identity id;
    fr_graph_identity_of(f->rows, f->count, f->dim, threshold, engine, &id);
    size_t first, end;
    fr_shard_range(shard, id.tiles, 1, &first, &end);
    fr_manifest *manifest = NULL;
    fr_status st = fr_manifest_new("cluster", shard, id.tiles, id.embeddings_sha256, 1, first,
                                   end, &manifest);
    if (st)
        return fr_cli_fail("cluster", st);
    if (run)
        fr_run_describe(run, manifest);
    else
        fr_manifest_model(manifest, "(embeddings given as .npy)");
    char text[FR_GRAPH_FLOAT_CHARS];
    fr_graph_format_float(threshold, text);
    fr_manifest_option(manifest, "threshold", text);
    fr_manifest_option(manifest, "distances", id.distances);
    /* images every shard failed to read: the same in all of them, as a listing's errors */
    fr_manifest_list_errors(manifest, f->failures);
    fr_cluster_edges edges;
    double t0 = fr_seconds();
    st = fr_cluster_edges_find(engine, f->rows, f->count, f->dim, threshold, first, end, &edges);
    s->seconds_graph = fr_seconds() - t0;
    s->edges = edges.count;
    fr_output outs[2];
    memset(outs, 0, sizeof outs);
    char *side = st ? NULL : fr_side_path(output, FR_GRAPH_SIDE);
    char *record = st ? NULL : fr_side_path(output, ".sha256");
    if (!st && (!side || !record))
        st = FR_E_NOMEM;
    if (!st)
        st = fr_output_open(&outs[0], output, FR_OUTPUT_REGULAR);
    if (!st)
        st = fr_output_open(&outs[1], side, FR_OUTPUT_REGULAR);
    if (!st) {
        fr_graph_write_edges(outs[0].file, &edges);
        st = fr_graph_write_identity(outs[1].file, &id);
    }
    if (!st) {
        fr_cli_commit_begin();
        st = fr_output_commit_set(outs, 2, record);
        fr_cli_commit_end(st == FR_OK);
    }
    if (!st) {
        const char *roles[] = {"main", FR_GRAPH_SIDE};
        st = fr_run_manifest_commit(manifest, output, roles, 2, 0);
    }
    for (int k = 0; k < 2; k++)
        fr_output_abort(&outs[k]);
    free(side);
    free(record);
    fr_cluster_edges_free(&edges);
    fr_manifest_free(manifest);
    if (st)
        return fr_cli_fail("cluster", st);
    if (!s->quiet)
        fprintf(stderr, "cluster: shard %zu/%zu: tiles [%zu, %zu) of %zu (%zu faces), %zu edges "
                "under %.3f in %.2f s on %s -> %s\n", shard->index, shard->count, first, end,
                id.tiles, f->count, edges.count, (double)threshold, s->seconds_graph,
                id.distances, output);
    return FR_EXIT_OK;
}

/* The graph a shard job made (--graph G: merged, or one shard of one), checked against the
 * faces: the same edges, so the single run's partition. */
static int read_graph(const char *path, const faces *f, float asked, float *threshold,
                      fr_cluster_graph *graph, char *backend, size_t size)
{
    char *record = fr_side_path(path, ".sha256"), *side = fr_side_path(path, FR_GRAPH_SIDE);
    const char *members[2] = {path, side};
    int checked = 0;
    fr_status st = record && side ? fr_output_set_check(record, members, 2, &checked)
                                  : FR_E_NOMEM;
    free(record);
    fr_graph_identity want;
    memset(&want, 0, sizeof want);
    want.faces = f->count;
    want.dim = f->dim;
    fr_sha256_hex(f->rows, f->count * f->dim * sizeof(float), want.embeddings_sha256);
    fr_cluster_edges edges;
    memset(&edges, 0, sizeof edges);
    if (!st)
        st = fr_graph_read(path, &want, f->rows, threshold, &edges);
    free(side);
    if (st)
        return fr_cli_fail("cluster", st);
    int code = FR_EXIT_OK;
    if (asked > 0 && asked != *threshold) {
        char a[FR_GRAPH_FLOAT_CHARS], t[FR_GRAPH_FLOAT_CHARS];
        fr_graph_format_float(asked, a);
        fr_graph_format_float(*threshold, t);
        fr_cli_error("cluster", "--threshold %s: %s is the graph at %s (compute another with "
                     "cluster --shard, or leave --threshold out)", a, path, t);
        code = FR_EXIT_USAGE;
    }
    if (!code && (st = fr_cluster_graph_from_edges(&edges, f->count, graph))) {
        char why[1024];
        fr_error_save(why, sizeof why);
        code = fr_cli_fail("cluster", st == FR_E_FORMAT ? fr_fail(st, "%s: %s", path, why) : st);
    }
    fr_cluster_edges_free(&edges);
    snprintf(backend, size, "%s", path);
    return code;
}

int fr_cmd_cluster(int argc, char **argv)
{
    enum { OPT_METHOD = 3000, OPT_MIN, OPT_ITER, OPT_SEED, OPT_SUMMARY, OPT_TRUTH, OPT_GRAPH };
    static const struct option own[] = {{"output", required_argument, NULL, 'o'},
                                        {"method", required_argument, NULL, OPT_METHOD},
                                        {"min-size", required_argument, NULL, OPT_MIN},
                                        {"iterations", required_argument, NULL, OPT_ITER},
                                        {"seed", required_argument, NULL, OPT_SEED},
                                        {"summary", required_argument, NULL, OPT_SUMMARY},
                                        {"truth", required_argument, NULL, OPT_TRUTH},
                                        {"graph", required_argument, NULL, OPT_GRAPH},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options bulk;
    fr_run_defaults(&bulk);
    fr_cluster_options co = {FR_CLUSTER_DEFAULT_METHOD, 0, 0, 1, 1};
    const char *output = NULL, *summary_path = NULL, *graph_path = NULL;
    int truth = 0, ok = options != NULL, c;
    while (ok && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_SUMMARY: summary_path = optarg; break;
        case OPT_GRAPH: graph_path = optarg; break;
        case OPT_METHOD:
            if (fr_cluster_method_parse(optarg, &co.method) != FR_OK) {
                fprintf(stderr, "facerec cluster: %s\n", fr_error_message());
                ok = 0;
            }
            break;
        case OPT_MIN:
        case OPT_ITER:
        case OPT_SEED: {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg == 0 || *optarg == '-' || *end != 0 ||
                (c != OPT_SEED && (v < 1 || v > 1000000000))) {
                fprintf(stderr, "facerec cluster: %s %s: give a whole number%s\n",
                        c == OPT_MIN ? "--min-size" : c == OPT_ITER ? "--iterations" : "--seed",
                        optarg, c == OPT_SEED ? "" : " from 1");
                ok = 0;
            } else if (c == OPT_MIN)
                co.min_size = (size_t)v;
            else if (c == OPT_ITER)
                co.iterations = (int)v;
            else
                co.seed = v;
            break;
        }
        case OPT_TRUTH:
            if (strcmp(optarg, "folder") != 0) {
                fprintf(stderr, "facerec cluster: --truth %s: only 'folder' (the images' folders "
                        "name their people)\n", optarg);
                ok = 0;
            }
            truth = 1;
            break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default: ok = fr_run_option(&g, &bulk, c, optarg, help);
        }
    }
    free(options);
    if (!ok)
        return FR_EXIT_USAGE;
    int sets = argc - optind;
    int npy = sets == 1 && ends_with(argv[optind], ".npy");
    fr_shard shard = bulk.shard;
    bulk.shard.count = 0; /* every shard embeds every image: it is the tiles that are cut */
    if (!output) {
        fr_cli_error("cluster", "give images, directories or one .npy, and -o CLUSTERS.csv "
                     "(see --help)");
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_inputs("cluster", &bulk, sets > 0) ||
        !fr_run_check_output("cluster", &(fr_run_options){.shard = shard}, output))
        return FR_EXIT_USAGE;
    for (int i = optind; i < argc; i++)
        if (!npy && ends_with(argv[i], ".npy")) {
            fr_cli_error("cluster", "%s: a .npy of embeddings is clustered alone", argv[i]);
            return FR_EXIT_USAGE;
        }
    if (shard.count && (graph_path || truth || summary_path)) {
        fr_cli_error("cluster", "--shard computes a part of the graph: %s belongs to the run "
                     "that clusters it (cluster --graph)",
                     graph_path ? "--graph" : truth ? "--truth" : "--summary");
        return FR_EXIT_USAGE;
    }

    /* the threshold: --threshold, else the model's (also for embeddings: the model that made
     * them, as --model/--weights name it), else (--graph) the graph's */
    fr_model *model = NULL;
    fr_status st = npy && (g.threshold > 0 || graph_path) ? FR_OK
                                                          : fr_cli_load_model(&g, &model);
    if (st)
        return fr_cli_fail("cluster", st);
    float threshold = g.threshold;
    int code = model && !graph_path
                   ? fr_cli_threshold("cluster", &g, fr_model_get_info(model), &threshold)
                   : FR_EXIT_OK;
    faces f;
    memset(&f, 0, sizeof f);
    fr_run *run = NULL;
    if (!code && npy) {
        fr_model_free(model);
        model = NULL;
        st = load_npy(argv[optind], &f);
        if (st)
            code = fr_cli_fail("cluster", st);
    } else if (!code) {
        bulk.model = model;
        model = NULL;
        code = fr_run_open("cluster", &g, &bulk, argv + optind, (size_t)sets, &run);
        if (!code) {
            f.dim = (size_t)fr_model_get_info(fr_run_model(run))->embedding_size;
            st = fr_run_embed(run, keep, &f);
            if (!st && f.count == 0)
                st = fr_fail(FR_E_IO, "no face could be embedded; %s not written", output);
            f.failures += fr_run_path_errors(run);
            if (!st)
                fr_run_summary(run, f.images, f.failures, NULL);
            if (st)
                code = fr_cli_fail("cluster", st);
        }
    }
    fr_model_free(model);
    if (!code && f.count == 0) {
        fr_cli_error("cluster", "%s: no embeddings in it; %s not written", argv[optind], output);
        code = FR_EXIT_USAGE;
    }

    fr_distance_engine *engine = NULL;
    fr_cluster_graph graph;
    memset(&graph, 0, sizeof graph);
    int32_t *labels = NULL, *truth_labels = NULL;
    size_t clusters = 0;
    summary s;
    memset(&s, 0, sizeof s);
    s.quiet = g.quiet;
    char backend[4096] = "";
    if (!code && !graph_path) {
        code = fr_cli_distance_engine("cluster", &g, &engine);
        if (!code)
            snprintf(backend, sizeof backend, "%s", fr_distance_backend_name(engine));
    }
    if (!code && shard.count) {
        code = write_part(output, &shard, &f, threshold, engine, run, &s);
        if (!code && f.failures)
            code = FR_EXIT_PARTIAL;
        fr_run_close(run);
        fr_distance_free(engine);
        faces_free(&f);
        return code;
    }
    fr_run_close(run);
    if (!code && graph_path) {
        double t0 = fr_seconds();
        code = read_graph(graph_path, &f, g.threshold, &threshold, &graph, backend,
                          sizeof backend);
        s.seconds_graph = fr_seconds() - t0;
    } else if (!code) {
        double t0 = fr_seconds();
        st = fr_cluster_graph_build(engine, f.rows, f.count, f.dim, threshold, &graph);
        s.seconds_graph = fr_seconds() - t0;
        if (st)
            code = fr_cli_fail("cluster", st);
    }
    co.threshold = threshold;
    if (!code) {
        labels = fr_malloc(f.count * sizeof *labels, "the clusters");
        st = labels ? FR_OK : FR_E_NOMEM;
        double t0 = fr_seconds();
        if (!st)
            st = fr_cluster_run(&graph, f.rows, f.dim, &co, labels, &clusters);
        s.seconds_cluster = fr_seconds() - t0;
        if (!st && truth) {
            truth_labels = fr_malloc(f.count * sizeof *truth_labels, "the truth");
            st = truth_labels ? folder_truth(&f, truth_labels) : FR_E_NOMEM;
            if (!st)
                st = fr_cluster_score(labels, truth_labels, f.count, &s.scores);
            s.scored = !st;
        }
        if (st)
            code = fr_cli_fail("cluster", st);
    }
    if (!code) {
        summarize(labels, f.count, clusters, &s);
        s.edges = graph.edges;
        fr_cli_table table;
        code = fr_cli_table_open("cluster", output, g.json, &table);
        if (!code) {
            write_rows(&table, &f, labels);
            code = fr_cli_table_close("cluster", &table);
        }
        if (!code && summary_path) {
            st = write_summary(summary_path, &s, &co, backend);
            if (st)
                code = fr_cli_fail("cluster", st);
        }
    }
    if (!code && !g.quiet) {
        fprintf(stderr, "cluster: %zu face%s -> %zu cluster%s (%zu of two faces or more, the "
                "largest of %zu; %zu singleton%s", s.faces, s.faces == 1 ? "" : "s", s.clusters,
                s.clusters == 1 ? "" : "s", s.multi, s.largest, s.singletons,
                s.singletons == 1 ? "" : "s");
        if (s.unclustered)
            fprintf(stderr, "; %zu face%s in clusters under --min-size %zu", s.unclustered,
                    s.unclustered == 1 ? "" : "s", co.min_size);
        fprintf(stderr, "); %s, threshold %.3f, %zu edge%s; graph %.2f s %s %s, clustering "
                "%.2f s -> %s\n", fr_cluster_method_name(co.method), (double)co.threshold,
                s.edges, s.edges == 1 ? "" : "s", s.seconds_graph, graph_path ? "read from" : "on", backend,
                s.seconds_cluster, output);
        if (s.scored)
            fprintf(stderr, "cluster: against the folders: pairwise precision %.4f, recall "
                    "%.4f, F1 %.4f; BCubed precision %.4f, recall %.4f, F1 %.4f\n",
                    s.scores.pair_precision, s.scores.pair_recall, s.scores.pair_f1,
                    s.scores.bcubed_precision, s.scores.bcubed_recall, s.scores.bcubed_f1);
    }
    if (!code && f.failures)
        code = FR_EXIT_PARTIAL;
    fr_distance_free(engine);
    fr_cluster_graph_free(&graph);
    free(labels);
    free(truth_labels);
    faces_free(&f);
    return code;
}
