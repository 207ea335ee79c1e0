/*
 * cmd_verify.c: `facerec verify`: the seed's verify(): is the person at the door who they
 * claim to be? One image and a name, or a list of (image, claimed name) pairs.
 *
 * A claim holds when the distance between the image's embedding and the person's is under
 * the threshold (the person's: the nearest of their embeddings, or their mean embedding).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/guard.h"
#include "cli/matching.h"
#include "core/alloc.h"
#include "core/error.h"
#include "engine/paths.h"

#define MAX_CLAIMS_FILE ((size_t)1 << 30)

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec verify --db FILE --name NAME IMG\n"
            "       facerec verify --db FILE --claims CLAIMS.tsv [--root DIR] [-o OUT]\n"
            "       facerec verify IMG1 IMG2\n\n"
            "One image: prints \"It's NAME, welcome in!\" or \"It's not NAME, please go away\" with\n"
            "the distance and threshold; exit 0 when verified, 1 when not.\n"
            "Two photos, no database: \"The same person\" or \"Not the same person\" with the\n"
            "distance between their main faces and the threshold (--threshold, else the\n"
            "model's); exit 0 when the same, 1 when not (deepface's verify).\n"
            "A list of claims: CLAIMS.tsv holds image<TAB>name lines (blank lines and lines\n"
            "starting with # skipped; a first line whose image does not exist is a header),\n"
            "images relative to --root DIR when given. One row per claim to OUT or standard\n"
            "output: path,name,distance,threshold,verified,status,faces,face,x1,y1,x2,y2,error\n"
            "(CSV, or JSON Lines for .jsonl or --json). status is ok, no_face, unreadable or\n"
            "unknown_name (the name is not in the database). A claim without an answer keeps\n"
            "its row, with distance and verified empty and the reason in error, is named on\n"
            "stderr, and makes the exit code 3; otherwise 0. faces counts the faces found in\n"
            "the image; face (as `facerec detect` numbers them) and x1..y2 are the one used.\n"
            "With --all-faces every face of an image is compared: a claim holds when any face\n"
            "is the person, and the answer is that face's (else the nearest face's), named\n"
            "(\"face 1 of 2\") for one image and in the face columns of a table.\n\n"
            "  --db FILE              the identity database\n"
            "  --name NAME            the person claimed\n"
            "  --claims FILE          many claims at once\n"
            "  --root DIR             where the claims' relative image paths start\n"
            "  -o, --output FILE      where the rows go (default: standard output)\n"
            "  --force                write -o even where it is an input or the database\n"
            "  --aggregate min|mean   a person's distance: to their nearest embedding (default),\n"
            "                         or to the mean of their embeddings\n");
    fr_global_help(out);
}

typedef struct claims {
    size_t count;
    char **paths; /* owned */
    char **names; /* owned */
} claims;

static void claims_free(claims *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free(c->paths[i]);
        free(c->names[i]);
    }
    free(c->paths);
    free(c->names);
}

static fr_status claims_add(claims *c, size_t *capacity, const char *root, const char *path,
                            const char *name)
{
    if (c->count == *capacity) {
        size_t cap = *capacity ? 2 * *capacity : 256;
        char **paths = realloc(c->paths, cap * sizeof *paths);
        if (paths)
            c->paths = paths;
        char **names = paths ? realloc(c->names, cap * sizeof *names) : NULL;
        if (!names)
            return fr_fail(FR_E_NOMEM, "out of memory reading claims");
        c->names = names;
        *capacity = cap;
    }
    size_t n = strlen(path) + (root ? strlen(root) + 2 : 1);
    char *full = fr_malloc(n, "a path");
    char *copy = fr_strdup(name);
    if (!full || !copy) {
        free(full);
        free(copy);
        return FR_E_NOMEM;
    }
    if (root && path[0] != '/')
        snprintf(full, n, "%s/%s", root, path);
    else
        snprintf(full, n, "%s", path);
    c->paths[c->count] = full;
    c->names[c->count++] = copy;
    return FR_OK;
}

static fr_status claims_load(const char *file, const char *root, claims *out)
{
    char *data;
    size_t size, capacity = 0, line_no = 0;
    fr_status st = fr_file_read(file, MAX_CLAIMS_FILE, (void **)&data, &size);
    if (st)
        return st;
    claims c = {0, NULL, NULL};
    int first = 1;
    char *next = data;
    char *line;
    while (!st && (line = fr_next_line(&next)) != NULL) {
        line_no++;
        size_t len = strlen(line);
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || !tab[1] || strchr(tab + 1, '\t')) {
            st = fr_fail(FR_E_FORMAT, "%s:%zu: expected image<TAB>name", file, line_no);
            break;
        }
        *tab = 0;
        st = claims_add(&c, &capacity, root, line, tab + 1);
        /* only the first line may be a header ("image<TAB>name"): one naming no file and
         * nothing that looks like an image (a missing photo is a claim, reported later) */
        if (!st && first && access(c.paths[0], F_OK) != 0 && !fr_path_is_image_name(line)) {
            free(c.paths[0]);
            free(c.names[0]);
            c.count = 0;
        }
        first = 0;
    }
    free(data);
    if (!st && c.count == 0)
        st = fr_fail(FR_E_FORMAT, "%s: no claims", file);
    if (st) {
        claims_free(&c);
        return st;
    }
    *out = c;
    return FR_OK;
}

/* The claims that can be answered (a readable image with a face, a known name), put to the
 * matcher in one call: answers[i] for claim i, with person -1 for a claim left out (an unknown
 * name is named on stderr and marked in known[]; an unreadable image was already). rows[i] is
 * the embedding row the claim's status columns describe: its image's face that was compared,
 * with --all-faces the nearest of its faces to the claimed person (the claim holds when any
 * face is under the threshold). Returns how many claims were left out. */
static size_t answer_claims(const claims *cl, char *const *unique, size_t images,
                            const fr_cli_embeddings *e, const fr_cli_identities *ids,
                            const char *db, fr_match *answers, unsigned char *known,
                            size_t *rows, fr_status *status)
{
    size_t dim = e->dim, n = 0, skipped = 0;
    /* each image's rows: first[u] .. first[u + 1] (rows come in input order) */
    size_t *first = fr_calloc(images + 1, sizeof *first, "the claims");
    int32_t *persons = fr_malloc((e->count + 1) * sizeof *persons, "the claims");
    size_t *which = fr_malloc((e->count + 1) * sizeof *which, "the claims");
    size_t *row_of = fr_malloc((e->count + 1) * sizeof *row_of, "the claims");
    fr_match *found = fr_malloc((e->count + 1) * sizeof *found, "the claims");
    float *probes = NULL;
    size_t probe_rows = 0; /* every face of every claim: at most claims x faces */
    *status = first && persons && which && row_of && found ? FR_OK : FR_E_NOMEM;
    if (!*status) {
        for (size_t r = 0; r < e->count; r++)
            first[e->image[r] + 1]++;
        for (size_t u = 0; u < images; u++)
            first[u + 1] += first[u];
        for (size_t i = 0; i < cl->count; i++) {
            long u = fr_cli_find_sorted(unique, images, cl->paths[i]);
            probe_rows += first[u + 1] - first[u];
        }
        int32_t *p2 = realloc(persons, (probe_rows + 1) * sizeof *persons);
        if (p2)
            persons = p2;
        size_t *w2 = p2 ? realloc(which, (probe_rows + 1) * sizeof *which) : NULL;
        if (w2)
            which = w2;
        size_t *r2 = w2 ? realloc(row_of, (probe_rows + 1) * sizeof *row_of) : NULL;
        if (r2)
            row_of = r2;
        fr_match *f2 = r2 ? realloc(found, (probe_rows + 1) * sizeof *found) : NULL;
        if (f2)
            found = f2;
        probes = f2 ? fr_malloc((probe_rows + 1) * dim * sizeof *probes, "the claims") : NULL;
        if (!probes)
            *status = FR_E_NOMEM;
    }
    for (size_t i = 0; !*status && i < cl->count; i++) {
        long u = fr_cli_find_sorted(unique, images, cl->paths[i]);
        int32_t person = fr_gallery_find(&ids->gallery, cl->names[i]);
        answers[i].person = -1;
        known[i] = person >= 0;
        rows[i] = first[u]; /* an image without an answer has one row, its failure */
        if (person < 0)
            fr_cli_error("verify", "%s: no person named '%s' in %s", cl->paths[i], cl->names[i],
                         db);
        int any = 0;
        for (size_t r = first[u]; person >= 0 && r < first[u + 1]; r++) {
            if (!e->ok[r])
                continue;
            memcpy(probes + n * dim, e->rows + r * dim, dim * sizeof *probes);
            persons[n] = person;
            which[n] = i;
            row_of[n++] = r;
            any = 1;
        }
        skipped += !any;
    }
    if (!*status)
        *status = fr_matcher_verify(ids->matcher, probes, n, persons, found);
    for (size_t j = 0; !*status && j < n; j++) {
        fr_match *a = &answers[which[j]];
        if (a->person < 0 || found[j].distance < a->distance) {
            *a = found[j];
            rows[which[j]] = row_of[j];
        }
    }
    free(first);
    free(persons);
    free(probes);
    free(which);
    free(row_of);
    free(found);
    return skipped;
}

/* Claim i's row: its answer, or empty cells (null) where it has none, then the image's status
 * columns (matching.h); a claim of a name the database lacks says so in error. */
static void write_claim(FILE *f, fr_table_format format, const claims *cl, size_t i,
                        const fr_match *answer, int known, float threshold,
                        const fr_cli_embeddings *e, size_t row)
{
    int answered = answer->person >= 0;
    const char *status = known ? NULL : "unknown_name";
    const char *error = known ? NULL : "no person of that name in the database";
    if (format == FR_TABLE_CSV) {
        fr_csv_field(f, cl->paths[i]);
        fputc(',', f);
        fr_csv_field(f, cl->names[i]);
        if (answered)
            fprintf(f, ",%.6f,%.6g,%s", answer->distance, threshold,
                    answer->accepted ? "true" : "false");
        else
            fprintf(f, ",,%.6g,", threshold);
        fr_cli_status_csv(f, e, row, status, error);
        fputc('\n', f);
        return;
    }
    fputs("{\"path\": ", f);
    fr_json_string(f, cl->paths[i]);
    fputs(", \"name\": ", f);
    fr_json_string(f, cl->names[i]);
    if (answered)
        fprintf(f, ", \"distance\": %.6f, \"threshold\": %.6g, \"verified\": %s",
                answer->distance, threshold, answer->accepted ? "true" : "false");
    else
        fprintf(f, ", \"distance\": null, \"threshold\": %.6g, \"verified\": null", threshold);
    fr_cli_status_json(f, e, row, status, error);
    fputs("}\n", f);
}

/* verify IMG1 IMG2: are two photos of one person? (deepface's verify: no database) */
static int two_photos(const fr_global_options *g, char **paths)
{
    if (g->all_faces) {
        fr_cli_error("verify", "--all-faces: two photos are compared by their main faces "
                     "(--face chooses them)");
        return FR_EXIT_USAGE;
    }
    fr_run_options ro;
    fr_run_defaults(&ro);
    fr_run *run = NULL;
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    float threshold = 0;
    int code = fr_run_open_paths("verify", g, &ro, paths, 2, &run);
    if (!code)
        code = fr_cli_threshold("verify", g, fr_model_get_info(fr_run_model(run)), &threshold);
    if (!code)
        code = fr_cli_embed_all("verify", run, &e);
    if (!code && (!e.ok[0] || !e.ok[1]))
        code = FR_EXIT_PARTIAL; /* why was printed */
    if (!code) {
        double sum = 0; /* in double: the two rows are unit vectors of dim floats */
        for (size_t j = 0; j < e.dim; j++) {
            double d = (double)e.rows[j] - e.rows[e.dim + j];
            sum += d * d;
        }
        double distance = sqrt(sum);
        int same = distance < threshold;
        if (g->json) {
            fputs("{\"paths\": [", stdout);
            fr_json_string(stdout, paths[0]);
            fputs(", ", stdout);
            fr_json_string(stdout, paths[1]);
            printf("], \"distance\": %.6f, \"threshold\": %.6g, \"verified\": %s}\n",
                   distance, threshold, same ? "true" : "false");
        } else {
            printf("%s (distance %.3f %s threshold %.3f)\n",
                   same ? "The same person" : "Not the same person", distance, same ? "<" : ">=",
                   threshold);
        }
        code = same ? FR_EXIT_OK : FR_EXIT_NO;
    }
    fr_cli_embeddings_free(&e);
    fr_run_close(run);
    return code;
}

int fr_cmd_verify(int argc, char **argv)
{
    static const struct option own[] = {
        {"db", required_argument, NULL, 'd'},     {"name", required_argument, NULL, 'n'},
        {"claims", required_argument, NULL, 'c'}, {"root", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'}, {"aggregate", required_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    const char *db = NULL, *name = NULL, *claims_file = NULL, *root = NULL, *output = NULL;
    fr_aggregate aggregate = FR_AGGREGATE_MIN;
    int c, force = 0;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': name = optarg; break;
        case 'c': claims_file = optarg; break;
        case 'r': root = optarg; break;
        case 'o': output = optarg; break;
        case 'f': force = 1; break;
        case 'a':
            if (!fr_cli_parse_aggregate(optarg, &aggregate)) {
                free(options);
                return FR_EXIT_USAGE;
            }
            break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_cli_common_option(&g, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (!db && !name && !claims_file && !root && !output && argc - optind == 2)
        return two_photos(&g, argv + optind);
    int single = name != NULL;
    if (!db || single == (claims_file != NULL) || (single && optind + 1 != argc) ||
        (!single && optind != argc)) {
        fr_cli_error("verify", "give --db FILE and either --name NAME IMG or --claims FILE, "
                     "or two photos IMG1 IMG2 (see --help)");
        return FR_EXIT_USAGE;
    }

    claims cl = {0, NULL, NULL};
    size_t capacity = 0;
    fr_status st = single ? claims_add(&cl, &capacity, NULL, argv[optind], name)
                          : claims_load(claims_file, root, &cl);
    if (st) {
        claims_free(&cl);
        return fr_cli_fail("verify", st);
    }
    char **unique = NULL;
    size_t images = 0;
    st = fr_cli_sorted_unique(cl.paths, cl.count, &unique, &images);
    if (st) {
        claims_free(&cl);
        return fr_cli_fail("verify", st);
    }
    fr_run_options ro;
    fr_run_defaults(&ro);
    fr_run *run = NULL;
    fr_cli_identities ids;
    memset(&ids, 0, sizeof ids);
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    fr_match *answers = NULL;
    unsigned char *known = NULL;
    size_t *rows = NULL;
    int code = fr_cli_model_of_database("verify", &g, db);
    if (!code)
        code = fr_run_open_paths("verify", &g, &ro, unique, images, &run);
    const fr_model_info *model = code ? NULL : fr_model_get_info(fr_run_model(run));
    if (!code)
        code = fr_cli_identities_open("verify", &g, db, model, aggregate, &ids);
    if (!code && single && fr_gallery_find(&ids.gallery, name) < 0) {
        fr_cli_error("verify", "%s: no person named '%s' (facerec db list --db %s shows who "
                     "is there)", db, name, db);
        code = FR_EXIT_USAGE;
    }
    fr_cli_table t;
    memset(&t, 0, sizeof t);
    if (!code && !single) {
        char *list[1] = {(char *)claims_file}, *dbs[1] = {(char *)db};
        fr_cli_guard guard = {"verify", list, 1, unique, images, dbs, 1, force};
        code = fr_cli_guard_output(&guard, "-o", output);
        if (!code)
            code = fr_cli_table_open("verify", output, g.json, &t);
    }
    if (!code)
        code = fr_cli_embed_all("verify", run, &e);
    size_t skipped = 0;
    if (!code) {
        answers = fr_malloc(cl.count * sizeof *answers, "the answers");
        known = fr_malloc(cl.count, "the answers");
        rows = fr_malloc(cl.count * sizeof *rows, "the answers");
        st = answers && known && rows ? FR_OK : FR_E_NOMEM;
        if (!st)
            skipped = answer_claims(&cl, unique, images, &e, &ids, db, answers, known, rows,
                                    &st);
        if (st)
            code = fr_cli_fail("verify", st);
    }
    float threshold = ids.matcher ? fr_matcher_threshold(ids.matcher) : 0;
    if (!code && single) {
        if (answers[0].person < 0) {
            code = FR_EXIT_PARTIAL;
        } else {
            double d = answers[0].distance;
            int open = answers[0].accepted;
            size_t r = rows[0];
            /* with --all-faces: which face of how many was the person (or the nearest one) */
            char which[64] = "";
            if (e.all_faces)
                snprintf(which, sizeof which, "face %d of %d, ", e.face[r], e.faces[r]);
            if (g.json) {
                fputs("{\"path\": ", stdout);
                fr_json_string(stdout, cl.paths[0]);
                fputs(", \"name\": ", stdout);
                fr_json_string(stdout, name);
                printf(", \"distance\": %.6f, \"threshold\": %.6g, \"verified\": %s", d,
                       threshold, open ? "true" : "false");
                fr_cli_status_json(stdout, &e, r, NULL, NULL);
                fputs("}\n", stdout);
            } else if (open) {
                printf("It's %s, welcome in! (%sdistance %.3f < threshold %.3f)\n", name, which,
                       d, threshold);
            } else {
                printf("It's not %s, please go away (%s%sdistance %.3f >= threshold %.3f)\n",
                       name, e.all_faces ? "nearest: " : "", which, d, threshold);
            }
            code = open ? FR_EXIT_OK : FR_EXIT_NO;
        }
    } else if (!code) {
        if (t.format == FR_TABLE_CSV)
            fputs("path,name,distance,threshold,verified," FR_CLI_STATUS_COLUMNS "\n", t.file);
        for (size_t i = 0; i < cl.count && !code; i++)
            write_claim(t.file, t.format, &cl, i, &answers[i], known[i], threshold, &e,
                        rows[i]);
        if (!code)
            code = fr_cli_table_close("verify", &t);
        if (!code && !g.quiet)
            fr_run_summary(run, images - e.failures, e.failures, output);
        if (!code && skipped) {
            fr_cli_error("verify", "%zu of %zu claims without an answer (no face, an unreadable "
                         "image or an unknown name: see their rows' status)", skipped, cl.count);
            code = FR_EXIT_PARTIAL;
        }
    }
    fr_cli_table_abort(&t);
    free(answers);
    free(known);
    free(rows);
    fr_cli_embeddings_free(&e);
    fr_cli_identities_close(&ids);
    fr_run_close(run);
    free(unique);
    claims_free(&cl);
    return code;
}
