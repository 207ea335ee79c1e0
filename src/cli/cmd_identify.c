/*
 * cmd_identify.c: `facerec identify`: the seed's who_is_it(), over whole folders: the nearest
 * people in the identity database for every image, and "unknown" when even the nearest is
 * not under the threshold.
 *
 * The k nearest people come from the library's matcher (match/identity.h: the distance
 * engine's nearest-distinct-labels search), so a person with many images counts once, at
 * their nearest image; with --aggregate mean the gallery is one mean embedding per person.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/guard.h"
#include "cli/matching.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/npy.h"

#define MAX_K 1000

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec identify --db FILE IMG|DIR...|EMB.npy [-k K] [-o OUT]\n"
            "                        [--threshold D] [--aggregate min|mean]\n\n"
            "For one image: prints \"it's NAME, the distance is D\" or \"Not in the database\n"
            "(nearest: NAME, D >= THRESHOLD)\", then with -k the K nearest; exit 0 when\n"
            "identified, 1 when not (also when its row goes to -o). For directories or several\n"
            "images: one row per image to OUT or standard output, CSV (path,identity,distance,\n"
            "then name_i,distance_i for the K nearest when K > 1, then\n"
            "status,faces,face,x1,y1,x2,y2,error) or JSON Lines (.jsonl or --json). identity is\n"
            "empty (null) when the nearest person is not under the threshold. status is ok,\n"
            "no_face or unreadable: an image without an answer keeps its row, with the reason\n"
            "in error (and on stderr; exit 3). faces counts the faces found; face (as `facerec\n"
            "detect` numbers them) and x1..y2 are the one used. With --all-faces every face is\n"
            "a row (for one image: a line per face; exit 0 when any face is identified).\n"
            "EMB.npy, written by `facerec embed [--all-faces]`: its rows are the probes, one\n"
            "table row each, the images not read again (with --all-faces' EMB.faces.csv the\n"
            "face and box columns are filled, as identify --all-faces writes them; without it\n"
            "faces is 0); the files must match EMB.sha256, and the width the model's.\n\n"
            "  --db FILE              the identity database; several: one gallery split over\n"
            "                         databases (each person in one), searched one at a time\n"
            "                         and merged into the exact answer of one database\n"
            "  -k K                   the K nearest people (default 1)\n"
            "  -o, --output FILE      where the rows go (default: standard output)\n"
            "  --force                write -o even where it is an input or the database\n"
            "  --aggregate min|mean   a person's distance: to their nearest embedding (default),\n"
            "                         or to the mean of their embeddings\n");
    fr_run_help(out);
    fr_global_help(out);
}

/*
 * The answer for each probe across the gallery's databases: the k nearest people of each
 * database (the matcher's lists), merged as they come into one list ascending by distance,
 * ties by name. One database lists its people by name and breaks ties by the person listed
 * first, so the merge is the order one database holding them all gives: with each person in
 * one shard (checked), the global k nearest are among the shards' k nearest, and the answer
 * is exactly the unsharded gallery's. Only the names of the shards are kept in memory, not
 * their embeddings; an image path is copied for the candidates that keep one (JSON, K > 1).
 */
typedef struct candidate {
    size_t shard;     /* which database */
    int32_t person;   /* in that database's names; -1: an empty slot */
    char *image;      /* the person's nearest image (JSON candidates), or NULL */
    float distance;   /* INFINITY for an empty slot */
    int accepted;     /* the matcher's: distance under the threshold */
} candidate;

typedef struct gallery_shards {
    size_t count;     /* databases searched so far */
    char ***names;    /* per database: its people's names, sorted (as the store lists them) */
    size_t *people;
    candidate *lists; /* probes x k */
    candidate *merged; /* k: scratch of one merge */
    size_t probes, k;
    int keep_images;
} gallery_shards;

static const char *candidate_name(const gallery_shards *g, const candidate *c)
{
    return g->names[c->shard][c->person];
}

static int before(const gallery_shards *g, const candidate *x, float distance, const char *name)
{
    return x->distance < distance || (x->distance == distance && strcmp(candidate_name(g, x), name) < 0);
}

/* A person may be in one database only: otherwise neither the mean (--aggregate mean) nor the
 * nearest image's tie-break would be the unsharded gallery's. */
static int check_unique_people(const gallery_shards *g, const fr_gallery *gallery,
                               char *const *dbs)
{
    for (size_t i = 0; i < gallery->people; i++)
        for (size_t s = 0; s < g->count; s++) {
            size_t lo = 0, hi = g->people[s];
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(g->names[s][mid], gallery->names[i]);
                if (c == 0) {
                    fr_cli_error("identify", "'%s' is in %s and %s: each person's embeddings "
                                 "belong in one gallery shard", gallery->names[i], dbs[s],
                                 dbs[g->count]);
                    return 0;
                }
                if (c < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
    return 1;
}

/* Merges a database's answers (found: probes x k) into the lists, then keeps its names. */
static fr_status merge_shard(gallery_shards *g, fr_gallery *gallery, const fr_match *found)
{
    size_t shard = g->count;
    for (size_t i = 0; i < g->probes; i++) {
        candidate *cur = g->lists + i * g->k;
        const fr_match *add = found + i * g->k;
        size_t a = 0, b = 0, n = 0;
        fr_status st = FR_OK;
        while (n < g->k && !st) {
            int x = a < g->k && cur[a].person >= 0, y = b < g->k && add[b].person >= 0;
            if (!x && !y)
                break;
            if (x && (!y || before(g, &cur[a], add[b].distance, gallery->names[add[b].person]))) {
                g->merged[n++] = cur[a++];
                continue;
            }
            candidate c = {shard, add[b].person, NULL, add[b].distance, add[b].accepted};
            if (g->keep_images && add[b].image >= 0 &&
                !(c.image = fr_strdup(gallery->sources[add[b].image])))
                st = FR_E_NOMEM;
            g->merged[n++] = c;
            b++;
        }
        for (; a < g->k; a++) /* pushed out of the k nearest */
            free(cur[a].image);
        for (size_t q = 0; q < g->k; q++)
            cur[q] = q < n ? g->merged[q] : (candidate){0, -1, NULL, INFINITY, 0};
        if (st)
            return st;
    }
    char ***names = realloc(g->names, (shard + 1) * sizeof *names);
    size_t *people = names ? realloc(g->people, (shard + 1) * sizeof *people) : NULL;
    if (names)
        g->names = names;
    if (people)
        g->people = people;
    if (!names || !people)
        return fr_fail(FR_E_NOMEM, "out of memory for the gallery's names");
    /* the names move out of the gallery, which is freed without them */
    g->names[shard] = gallery->names;
    g->people[shard] = gallery->people;
    gallery->names = NULL;
    g->count++;
    return FR_OK;
}

static void gallery_shards_free(gallery_shards *g)
{
    for (size_t i = 0; g->lists && i < g->probes * g->k; i++)
        free(g->lists[i].image);
    for (size_t s = 0; s < g->count; s++) {
        for (size_t i = 0; i < g->people[s]; i++)
            free(g->names[s][i]);
        free(g->names[s]);
    }
    free(g->names);
    free(g->people);
    free(g->lists);
    free(g->merged);
    memset(g, 0, sizeof *g);
}

/* Image i's row: its answer when it has an embedding, empty cells (null) otherwise; then
 * what became of it (matching.h's status columns). */
static void write_row(FILE *f, fr_table_format format, const gallery_shards *g,
                      const char *path, const candidate *list, const fr_cli_embeddings *e,
                      size_t i)
{
    int ok = e->ok[i], known = ok && list[0].accepted;
    if (format == FR_TABLE_CSV) {
        fr_csv_field(f, path);
        fputc(',', f);
        if (known)
            fr_csv_field(f, candidate_name(g, &list[0]));
        fputc(',', f);
        if (ok)
            fprintf(f, "%.6f", list[0].distance);
        for (size_t q = 0; g->k > 1 && q < g->k; q++) {
            fputc(',', f);
            if (ok && list[q].person >= 0) {
                fr_csv_field(f, candidate_name(g, &list[q]));
                fprintf(f, ",%.6f", list[q].distance);
            } else {
                fputc(',', f);
            }
        }
        fr_cli_status_csv(f, e, i, NULL, NULL);
        fputc('\n', f);
        return;
    }
    fputs("{\"path\": ", f);
    fr_json_string(f, path);
    fputs(", \"identity\": ", f);
    fr_json_string(f, known ? candidate_name(g, &list[0]) : NULL);
    if (ok)
        fprintf(f, ", \"distance\": %.6f", list[0].distance);
    else
        fputs(", \"distance\": null", f);
    if (g->k > 1) {
        fputs(", \"candidates\": [", f);
        for (size_t q = 0; ok && q < g->k && list[q].person >= 0; q++) {
            fputs(q ? ", {\"name\": " : "{\"name\": ", f);
            fr_json_string(f, candidate_name(g, &list[q]));
            fprintf(f, ", \"distance\": %.6f", list[q].distance);
            if (list[q].image) {
                fputs(", \"image\": ", f);
                fr_json_string(f, list[q].image);
            }
            fputc('}', f);
        }
        fputc(']', f);
    }
    fr_cli_status_json(f, e, i, NULL, NULL);
    fputs("}\n", f);
}

/* One answer in words: the seed's who_is_it(), then with -k the nearest people (after the
 * one named, or all of them when none was). */
static void say(const gallery_shards *g, const candidate *found, float threshold)
{
    if (found[0].accepted)
        printf("it's %s, the distance is %.3f\n", candidate_name(g, &found[0]), found[0].distance);
    else if (found[0].person >= 0)
        printf("Not in the database (nearest: %s, %.3f >= %.3f).\n", candidate_name(g, &found[0]),
               found[0].distance, threshold);
    else
        printf("Not in the database (it holds nobody).\n");
    for (size_t q = found[0].accepted ? 1 : 0; g->k > 1 && q < g->k && found[q].person >= 0; q++)
        printf("  %zu. %s, distance %.3f\n", q + 1, candidate_name(g, &found[q]),
               found[q].distance);
}

static int parse_k(const char *text, size_t *k)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < 1 || v > MAX_K) {
        fprintf(stderr, "facerec: -k %s: give a number from 1 to %d\n", text, MAX_K);
        return 0;
    }
    *k = (size_t)v;
    return 1;
}

/* What the gallery's databases hold, for the shard manifest: probe shards of one job must
 * search the same gallery. */
static void digest_gallery(fr_list_digest *d, const fr_gallery *g)
{
    char count[64];
    snprintf(count, sizeof count, "%zu %zu %zu", g->people, g->count, g->dim);
    fr_list_digest_add(d, count);
    for (size_t i = 0; i < g->people; i++)
        fr_list_digest_add(d, g->names[i]);
    for (size_t i = 0; i < g->count; i++)
        fr_list_digest_add(d, g->sources[i]);
    fr_list_digest_add_bytes(d, g->person, g->count * sizeof *g->person);
    fr_list_digest_add_bytes(d, g->vectors, g->count * g->dim * sizeof *g->vectors);
}

/* Every database opens and holds the run's model, and without --threshold the shards of one
 * gallery store one threshold (or none): refused before any image is embedded. */
static int check_databases(char *const *dbs, size_t count, const fr_model_info *model,
                           const fr_global_options *g)
{
    float first = 0;
    for (size_t s = 0; s < count; s++) {
        fr_store *store;
        float stored = 0;
        fr_status st = fr_store_open(dbs[s], FR_STORE_READ, &store);
        if (!st) {
            st = fr_store_check_model(store, model);
            if (!st)
                st = fr_store_threshold(store, &stored);
            fr_store_close(store);
        }
        if (st)
            return fr_cli_fail("identify", st);
        if (s == 0)
            first = stored;
        if (!(g->threshold > 0) && stored != first) {
            char a[32] = "none", b[32] = "none";
            if (first > 0)
                snprintf(a, sizeof a, "%g", (double)first);
            if (stored > 0)
                snprintf(b, sizeof b, "%g", (double)stored);
            fr_cli_error("identify", "%s stores the threshold %s and %s %s: the shards of one "
                         "gallery need one (facerec db set --threshold on each, or give "
                         "--threshold)", dbs[0], a, dbs[s], b);
            return FR_EXIT_USAGE;
        }
    }
    return FR_EXIT_OK;
}

/* Searches each database in turn (one in memory at a time) and merges the answers. */
static int search(const fr_global_options *g, char *const *dbs, size_t count,
                  const fr_model_info *model, fr_aggregate aggregate,
                  fr_distance_engine *engine, const fr_cli_embeddings *e, gallery_shards *out,
                  fr_list_digest *digest, float *threshold)
{
    fr_match *found = fr_calloc(e->count * out->k + 1, sizeof *found, "nearest people");
    out->lists = fr_calloc(e->count * out->k + 1, sizeof *out->lists, "nearest people");
    out->merged = fr_calloc(out->k, sizeof *out->merged, "nearest people");
    out->probes = e->count;
    int code = found && out->lists && out->merged ? FR_EXIT_OK
                                                  : fr_cli_fail("identify", FR_E_NOMEM);
    for (size_t i = 0; !code && i < e->count * out->k; i++)
        out->lists[i] = (candidate){0, -1, NULL, INFINITY, 0};
    for (size_t s = 0; s < count && !code; s++) {
        fr_cli_identities ids;
        code = fr_cli_identities_attach("identify", g, dbs[s], model, aggregate, engine, &ids);
        if (!code && !check_unique_people(out, &ids.gallery, dbs))
            code = FR_EXIT_USAGE;
        fr_status st = FR_OK;
        if (!code) {
            *threshold = fr_matcher_threshold(ids.matcher);
            if (digest)
                digest_gallery(digest, &ids.gallery);
            st = fr_matcher_identify(ids.matcher, e->rows, e->count, out->k, found);
        }
        if (!code && !st)
            st = merge_shard(out, &ids.gallery, found);
        if (st)
            code = fr_cli_fail("identify", st);
        fr_cli_identities_close(&ids);
    }
    free(found);
    return code;
}

/* The .paths beside an embed output: one path per row, '\' and newlines escaped as \\ and \n. */
static fr_status read_row_paths(const char *file, size_t rows, char ***out)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return fr_fail(FR_E_NOT_FOUND, "%s: %s (embed writes it beside the .npy)", file,
                       strerror(errno));
    char **paths = fr_calloc(rows + 1, sizeof *paths, "paths");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t got;
    fr_status st = paths ? FR_OK : FR_E_NOMEM;
    while (!st && (got = getline(&line, &cap, f)) >= 0) {
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = 0;
        if (n == rows) {
            st = fr_fail(FR_E_FORMAT, "%s: more paths than the .npy has rows (%zu)", file, rows);
            break;
        }
        char *w = line;
        for (const char *r = line; *r; r++, w++)
            *w = *r == '\\' && (r[1] == '\\' || r[1] == 'n') ? (*++r == 'n' ? '\n' : '\\') : *r;
        *w = 0;
        if (!(paths[n++] = fr_strdup(line)))
            st = FR_E_NOMEM;
    }
    free(line);
    fclose(f);
    if (!st && n != rows)
        st = fr_fail(FR_E_FORMAT, "%s: %zu paths for the .npy's %zu rows", file, n, rows);
    if (st) {
        for (size_t i = 0; paths && i < n; i++)
            free(paths[i]);
        free(paths);
        return st;
    }
    *out = paths;
    return FR_OK;
}

/* Row r's face and box from embed --all-faces' .faces.csv (row,path,face,score,x1,y1,x2,y2,
 * landmarks); each image's face count is its number of rows, except a chip embedded as it is
 * (face -1, no box: no detection ran), whose count is 0 as identify --all-faces says. */
static fr_status read_faces(const char *file, fr_cli_embeddings *e)
{
    fr_csv csv;
    fr_status st = fr_csv_open(file, &csv);
    if (st)
        return st;
    char *fields[32];
    size_t count, row = 0;
    int header = 1, more;
    while (!st && (more = fr_csv_next(&csv, fields, 32, &count, &st)) == 1) {
        if (header) {
            header = 0;
            if (count < 8 || strcmp(fields[0], "row") != 0 || strcmp(fields[2], "face") != 0)
                st = fr_fail(FR_E_FORMAT, "%s: not embed --all-faces' table (row,path,face,...)",
                             file);
            continue;
        }
        char *end;
        unsigned long long r = strtoull(fields[0], &end, 10);
        long face = count >= 8 ? strtol(fields[2], NULL, 10) : -1;
        if (count < 8 || *end || r != row || row >= e->count || face < -1 || face > 1000000) {
            st = fr_fail(FR_E_FORMAT, "%s: line %zu is not row %zu of the .npy", file, csv.line,
                         row);
            break;
        }
        e->face[row] = (int)face;
        for (int c = 0; face >= 0 && c < 4; c++)
            e->boxes[row].box[c] = strtof(fields[4 + c], NULL);
        e->has_box[row] = face >= 0;
        row++;
    }
    fr_csv_close(&csv);
    if (!st && row != e->count)
        st = fr_fail(FR_E_FORMAT, "%s: %zu faces for the .npy's %zu rows", file, row, e->count);
    return st;
}

/* The probes of `facerec embed [--all-faces] ... -o PROBES.npy`, as identify embeds them
 * itself: the rows, their images (.paths) and, with .faces.csv, each face's index and box. */
static int read_probes(const char *npy, char ***paths, fr_cli_embeddings *e)
{
    char *record = fr_side_path(npy, ".sha256"), *row_paths = fr_side_path(npy, ".paths"),
         *faces = fr_side_path(npy, ".faces.csv");
    struct stat sb;
    int with_faces = faces && stat(faces, &sb) == 0;
    const char *members[3] = {npy, row_paths, faces};
    int checked;
    fr_npy array;
    memset(&array, 0, sizeof array);
    fr_status st = record && row_paths && faces
                       ? fr_output_set_check(record, members, with_faces ? 3 : 2, &checked)
                       : FR_E_NOMEM;
    if (!st)
        st = fr_npy_load_embeddings(npy, &array);
    size_t rows = st ? 0 : array.shape[0];
    if (!st && rows == 0)
        st = fr_fail(FR_E_FORMAT, "%s: no embeddings in it", npy);
    if (!st)
        st = read_row_paths(row_paths, rows, paths);
    if (!st) {
        e->count = e->capacity = rows;
        e->dim = array.shape[1];
        e->rows = array.data;
        array.data = NULL;
        e->all_faces = with_faces;
        e->image = fr_calloc(rows, sizeof *e->image, "rows");
        e->ok = fr_calloc(rows, 1, "rows");
        e->status = fr_calloc(rows, 1, "rows");
        e->errors = fr_calloc(rows, sizeof *e->errors, "rows");
        e->boxes = fr_calloc(rows, sizeof *e->boxes, "rows");
        e->face = fr_calloc(rows, sizeof *e->face, "rows");
        e->has_box = fr_calloc(rows, 1, "rows");
        e->faces = fr_calloc(rows, sizeof *e->faces, "rows");
        if (!e->image || !e->ok || !e->status || !e->errors || !e->boxes || !e->face ||
            !e->has_box || !e->faces)
            st = FR_E_NOMEM;
    }
    for (size_t i = 0; !st && i < rows; i++) {
        e->image[i] = i; /* each row names its image: the table's path column */
        e->ok[i] = 1;
        e->status[i] = FR_CLI_OK;
    }
    if (!st && with_faces)
        st = read_faces(faces, e);
    /* faces: the rows of each image (embed --all-faces writes every face it finds) */
    for (size_t i = 0, j; !st && with_faces && i < rows; i = j) {
        for (j = i + 1; j < rows && strcmp((*paths)[j], (*paths)[i]) == 0;)
            j++;
        for (size_t q = i; q < j; q++)
            e->faces[q] = e->face[q] < 0 ? 0 : (int)(j - i);
    }
    fr_npy_free(&array);
    free(record);
    free(row_paths);
    free(faces);
    return st ? fr_cli_fail("identify", st) : FR_EXIT_OK;
}

static void write_table(const fr_cli_table *t, const gallery_shards *shards, char *const *paths,
                        const fr_cli_embeddings *e)
{
    size_t k = shards->k;
    if (t->format == FR_TABLE_CSV) {
        fputs("path,identity,distance", t->file);
        for (size_t q = 1; k > 1 && q <= k; q++)
            fprintf(t->file, ",name_%zu,distance_%zu", q, q);
        fputs("," FR_CLI_STATUS_COLUMNS "\n", t->file);
    }
    for (size_t i = 0; i < e->count; i++)
        write_row(t->file, t->format, shards, paths[e->image[i]], shards->lists + i * k, e, i);
}

/* PROBES.model, written by embed beside its .npy (and checked with it against PROBES.sha256):
 * the key of the model that made the rows, which must be the one matched against (an older
 * embed output has none: only its width is checked). */
static int check_probe_model(const char *npy, const fr_model_info *info)
{
    char *name = fr_side_path(npy, ".model"), *record = fr_side_path(npy, ".sha256");
    struct stat sb;
    fr_status st = name && record ? FR_OK : FR_E_NOMEM;
    int checked = 0, code = FR_EXIT_OK;
    if (!st && stat(name, &sb) == 0) {
        const char *members[1] = {name};
        st = fr_output_set_check(record, members, 1, &checked);
        void *text = NULL;
        size_t size = 0;
        if (!st)
            st = fr_file_read(name, 4096, &text, &size);
        char mine[512];
        fr_store_model_key(info, mine, sizeof mine);
        if (!st) {
            char *line = text;
            line[strcspn(line, "\n")] = 0;
            if (strcmp(line, mine) != 0) {
                fr_cli_error("identify", "%s holds embeddings of %.200s (%s); this run's model "
                             "is %s: their distances mean nothing together (embed the images "
                             "with the database's model)", npy, line, name, mine);
                code = FR_EXIT_FATAL;
            }
        }
        free(text);
    }
    if (st)
        code = fr_cli_fail("identify", st);
    free(name);
    free(record);
    return code;
}

/* identify PROBES.npy: embed's output searched as it stands, a row per embedding (per face
 * with --all-faces), without reading an image again. The .npy does not say which model made
 * it: its width is checked against the model's (the database's recorded one, or --model). */
static int identify_npy(fr_global_options *g, char *const *dbs, size_t db_count, size_t k,
                        fr_aggregate aggregate, const char *output, int force, const char *npy)
{
    char **paths = NULL;
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    gallery_shards shards;
    memset(&shards, 0, sizeof shards);
    shards.k = k;
    fr_cli_table t;
    memset(&t, 0, sizeof t);
    fr_model *model = NULL;
    fr_distance_engine *engine = NULL;
    float threshold = 0;
    /* the model the database records, unless --model / --weights say otherwise */
    int code = fr_cli_model_of_database("identify", g, dbs[0]);
    if (!code)
        code = read_probes(npy, &paths, &e);
    fr_status st;
    if (!code && (st = fr_cli_load_model(g, &model)))
        code = fr_cli_fail("identify", st);
    const fr_model_info *info = code ? NULL : fr_model_get_info(model);
    if (!code)
        code = check_probe_model(npy, info);
    if (!code && (size_t)info->embedding_size != e.dim) {
        fr_cli_error("identify", "%s holds embeddings of %zu numbers; the %s model makes %d "
                     "(embed the images with the database's model)", npy, e.dim, info->arch,
                     info->embedding_size);
        code = FR_EXIT_FATAL;
    }
    if (!code)
        code = fr_cli_distance_engine("identify", g, &engine);
    if (!code)
        code = check_databases(dbs, db_count, info, g);
    fr_table_format format = fr_table_format_for(output, g->json);
    shards.keep_images = k > 1 && format == FR_TABLE_JSONL;
    if (!code) {
        char *args[1] = {(char *)npy};
        fr_cli_guard guard = {"identify", args, 1, paths, e.count, dbs, db_count, force};
        code = fr_cli_guard_output(&guard, "-o", output);
    }
    if (!code)
        code = fr_cli_table_open("identify", output, g->json, &t);
    if (!code)
        code = search(g, dbs, db_count, info, aggregate, engine, &e, &shards, NULL, &threshold);
    if (!code) {
        write_table(&t, &shards, paths, &e);
        code = fr_cli_table_close("identify", &t);
    }
    fr_cli_table_abort(&t);
    for (size_t i = 0; paths && i < e.count; i++)
        free(paths[i]);
    free(paths);
    gallery_shards_free(&shards);
    fr_cli_embeddings_free(&e);
    fr_distance_free(engine);
    fr_model_free(model);
    return code;
}

int fr_cmd_identify(int argc, char **argv)
{
    static const struct option own[] = {
        {"db", required_argument, NULL, 'd'}, {"output", required_argument, NULL, 'o'},
        {"aggregate", required_argument, NULL, 'a'}, {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options ro;
    fr_run_defaults(&ro);
    const char *output = NULL;
    char **dbs = calloc((size_t)argc + 1, sizeof *dbs);
    size_t db_count = 0, k = 1;
    fr_aggregate aggregate = FR_AGGREGATE_MIN;
    int c, force = 0, code = dbs ? FR_EXIT_OK : FR_EXIT_FATAL;
    while (!code && options && (c = getopt_long(argc, argv, "k:o:h", options, NULL)) != -1) {
        switch (c) {
        case 'd': dbs[db_count++] = optarg; break;
        case 'o': output = optarg; break;
        case 'f': force = 1; break;
        case 'k':
            if (!parse_k(optarg, &k))
                code = FR_EXIT_USAGE;
            break;
        case 'a':
            if (!fr_cli_parse_aggregate(optarg, &aggregate))
                code = FR_EXIT_USAGE;
            break;
        case 'h': help(stdout); code = -1; break;
        default:
            if (!fr_run_option(&g, &ro, c, optarg, help))
                code = FR_EXIT_USAGE;
        }
    }
    free(options);
    if (code) {
        free(dbs);
        return code < 0 ? FR_EXIT_OK : code;
    }
    if (!db_count || !fr_run_check_inputs("identify", &ro, optind < argc)) {
        if (!db_count)
            fr_cli_error("identify", "give --db FILE and images or directories (see --help)");
        free(dbs);
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_output("identify", &ro, output)) {
        free(dbs);
        return FR_EXIT_USAGE;
    }
    /* embed's output: its rows are the probes */
    size_t length = optind < argc ? strlen(argv[optind]) : 0;
    if (argc - optind == 1 && !ro.list && !ro.shard.count && length > 4 &&
        strcmp(argv[optind] + length - 4, ".npy") == 0) {
        code = identify_npy(&g, dbs, db_count, k, aggregate, output, force, argv[optind]);
        free(dbs);
        return code;
    }
    /* the seed's who_is_it(): one image file, answered in words */
    struct stat sb;
    /* one argument that is not a folder (nor a missing one, NAME/): one image, answered (or failed, exit 3, when it
     * cannot be read: missing, or not an image) as verify answers one */
    int one_image = argc - optind == 1 && !ro.list && !ro.shard.count && length &&
                    argv[optind][length - 1] != '/' &&
                    !(stat(argv[optind], &sb) == 0 && S_ISDIR(sb.st_mode));
    int single = one_image && !output;

    fr_run *run = NULL;
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    gallery_shards shards;
    memset(&shards, 0, sizeof shards);
    shards.k = k;
    fr_table_format format = fr_table_format_for(output, g.json);
    shards.keep_images = k > 1 && (single ? g.json : format == FR_TABLE_JSONL);
    fr_distance_engine *engine = NULL;
    fr_list_digest *digest = NULL;
    float threshold = 0;
    code = fr_cli_model_of_database("identify", &g, db_count ? dbs[0] : NULL);
    if (!code)
        code = fr_cli_distance_engine("identify", &g, &engine);
    /* probes are searched in the engine's probe blocks: a shard cut at their multiples (and
     * the network's batches) gets the single run's bits */
    if (!code)
        ro.unit_multiple = fr_distance_probe_block(engine);
    if (!code)
        code = one_image ? fr_run_open_paths("identify", &g, &ro, argv + optind, 1, &run)
                         : fr_run_open("identify", &g, &ro, argv + optind, (size_t)(argc - optind),
                                       &run);
    const fr_model_info *model = code ? NULL : fr_model_get_info(fr_run_model(run));
    fr_manifest *manifest = code ? NULL : fr_run_manifest(run);
    fr_status st;
    if (!code && manifest && (st = fr_list_digest_new(&digest)))
        code = fr_cli_fail("identify", st);
    if (!code)
        code = check_databases(dbs, db_count, model, &g);
    /* the table opened before the first image is read: refused where it would replace an
     * input or a database, failing at once where it cannot be written */
    fr_cli_table t;
    memset(&t, 0, sizeof t);
    if (!code && !single) {
        char *list[1] = {(char *)ro.list};
        fr_cli_guard guard = {"identify", ro.list ? list : argv + optind,
                              ro.list ? 1 : (size_t)(argc - optind), fr_run_paths(run),
                              fr_run_count(run), dbs, db_count, force};
        code = fr_cli_guard_output(&guard, "-o", output);
        if (!code)
            code = fr_cli_table_open("identify", output, g.json, &t);
    }
    if (!code)
        code = fr_cli_embed_all("identify", run, &e);
    if (!code)
        code = search(&g, dbs, db_count, model, aggregate, engine, &e, &shards, digest,
                      &threshold);
    const candidate *found = shards.lists;
    if (!code && single) {
        if (!e.ok[0]) {
            if (g.json) /* the row says why, as in a table */
                write_row(stdout, FR_TABLE_JSONL, &shards, fr_run_paths(run)[0], found, &e, 0);
            code = FR_EXIT_PARTIAL;
        } else if (g.json) {
            code = FR_EXIT_NO;
            for (size_t i = 0; i < e.count; i++) {
                write_row(stdout, FR_TABLE_JSONL, &shards, fr_run_paths(run)[0], found + i * k,
                          &e, i);
                if (found[i * k].accepted)
                    code = FR_EXIT_OK;
            }
        } else {
            /* with --all-faces, each face in turn, named by its index and box */
            int any = 0;
            for (size_t i = 0; i < e.count; i++) {
                if (e.all_faces)
                    printf("face %d (%.0f,%.0f,%.0f,%.0f): ", e.face[i], e.boxes[i].box[0],
                           e.boxes[i].box[1], e.boxes[i].box[2], e.boxes[i].box[3]);
                say(&shards, found + i * k, threshold);
                any |= found[i * k].accepted;
            }
            code = any ? FR_EXIT_OK : FR_EXIT_NO;
        }
    } else if (!code) {
        write_table(&t, &shards, fr_run_paths(run), &e);
        code = fr_cli_table_close("identify", &t);
        if (!code && manifest) {
            char hex[65];
            fr_list_digest_finish(digest, hex);
            digest = NULL;
            fr_manifest_option(manifest, "db", hex);
            fr_manifest_option_number(manifest, "k", (double)k);
            fr_manifest_option_number(manifest, "threshold", threshold);
            fr_manifest_option(manifest, "aggregate", fr_aggregate_name(aggregate));
            fr_manifest_option(manifest, "format", t.format == FR_TABLE_CSV ? "csv" : "jsonl");
            static const char *const roles[] = {"main"};
            st = fr_run_manifest_commit(manifest, output, roles, 1,
                                        e.failures - fr_run_path_errors(run));
            if (st)
                code = fr_cli_fail("identify", st);
        }
        /* images answered (with --all-faces, rows are faces), and whether any face was known */
        size_t answered = 0;
        int any = 0;
        for (size_t i = 0; i < e.count; i++) {
            answered += e.ok[i] && !(i > 0 && e.ok[i - 1] && e.image[i - 1] == e.image[i]);
            any |= e.ok[i] && found[i * k].accepted;
        }
        if (!code)
            fr_run_summary(run, answered, e.failures, output);
        if (!code && e.failures)
            code = FR_EXIT_PARTIAL;
        /* one image: the same exit code with its row in a file as in words */
        if (!code && one_image && !any)
            code = FR_EXIT_NO;
    }
    fr_cli_table_abort(&t);
    fr_list_digest_free(digest);
    gallery_shards_free(&shards);
    fr_cli_embeddings_free(&e);
    fr_distance_free(engine);
    fr_run_close(run);
    free(dbs);
    return code;
}
