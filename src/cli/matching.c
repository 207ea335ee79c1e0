/* matching.c: the shared half of the matching commands. */
#include "cli/matching.h"

#include <stdlib.h>
#include <string.h>

#include "cli/signals.h"
#include "core/alloc.h"
#include "core/error.h"

int fr_cli_parse_aggregate(const char *text, fr_aggregate *out)
{
    if (fr_aggregate_parse(text, out) != FR_OK) {
        fprintf(stderr, "facerec: --aggregate %s: choose min or mean\n", text);
        return 0;
    }
    return 1;
}

typedef struct embed_ctx {
    const char *command;
    fr_cli_embeddings *e;
} embed_ctx;

/* Grows every per-row array to `rows` (with --all-faces, where images may have several). */
static int reserve(fr_cli_embeddings *e, size_t rows)
{
    size_t bytes;
    if (rows <= e->capacity)
        return 1;
    if (!fr_mul_size(rows, e->dim * sizeof(float), &bytes))
        return 0;
#define GROW(field)                                                                     \
    do {                                                                                \
        void *p = realloc(e->field, rows * sizeof *e->field);                           \
        if (!p)                                                                         \
            return 0;                                                                   \
        memset((char *)p + e->capacity * sizeof *e->field, 0,                           \
               (rows - e->capacity) * sizeof *e->field);                                \
        e->field = p;                                                                   \
    } while (0)
    GROW(image);
    GROW(ok);
    GROW(status);
    GROW(errors);
    GROW(boxes);
    GROW(face);
    GROW(has_box);
    GROW(faces);
#undef GROW
    float *r = realloc(e->rows, bytes);
    if (!r)
        return 0;
    memset(r + e->capacity * e->dim, 0, (rows - e->capacity) * e->dim * sizeof *r);
    e->rows = r;
    e->capacity = rows;
    return 1;
}

static int keep(void *ctx, const fr_embed_result *r)
{
    embed_ctx *c = ctx;
    fr_cli_embeddings *e = c->e;
    size_t i = r->index;
    if (e->all_faces) { /* a row per result: per face, or the image's failure */
        if (!reserve(e, e->count < e->capacity ? e->capacity : 2 * e->capacity)) {
            fr_fail(FR_E_NOMEM, "out of memory holding %zu embeddings", e->count);
            return 1;
        }
        i = e->count++;
    }
    e->image[i] = r->index;
    e->faces[i] = r->face_count;
    if (r->status != FR_OK) {
        e->failures++;
        fr_cli_error(c->command, "%s", r->error);
        e->status[i] = r->status == FR_E_NO_FACE ? FR_CLI_NO_FACE : FR_CLI_UNREADABLE;
        /* a message that cannot be kept leaves the cell empty: the status still says it */
        e->errors[i] = fr_strdup(r->error ? r->error : "");
        return 0;
    }
    memcpy(e->rows + i * e->dim, r->embedding, e->dim * sizeof(float));
    e->ok[i] = 1;
    e->status[i] = FR_CLI_OK;
    if (r->face >= 0 && r->box) {
        e->boxes[i] = *r->box;
        e->face[i] = r->face;
        e->has_box[i] = 1;
    }
    return 0;
}

const char *fr_cli_status_name(fr_cli_status status)
{
    return status == FR_CLI_OK ? "ok" : status == FR_CLI_NO_FACE ? "no_face" : "unreadable";
}

void fr_cli_status_csv(FILE *f, const fr_cli_embeddings *e, size_t i, const char *status,
                       const char *error)
{
    fprintf(f, ",%s,%d", status ? status : fr_cli_status_name((fr_cli_status)e->status[i]),
            e->faces[i]);
    if (e->has_box[i])
        fprintf(f, ",%d,%.2f,%.2f,%.2f,%.2f,", e->face[i], e->boxes[i].box[0],
                e->boxes[i].box[1], e->boxes[i].box[2], e->boxes[i].box[3]);
    else
        fputs(",,,,,,", f);
    if (!error)
        error = e->errors[i];
    if (error)
        fr_csv_field(f, error);
}

void fr_cli_status_json(FILE *f, const fr_cli_embeddings *e, size_t i, const char *status,
                        const char *error)
{
    fputs(", \"status\": ", f);
    fr_json_string(f, status ? status : fr_cli_status_name((fr_cli_status)e->status[i]));
    fprintf(f, ", \"faces\": %d", e->faces[i]);
    if (e->has_box[i])
        fprintf(f, ", \"face\": %d, \"box\": [%.2f, %.2f, %.2f, %.2f]", e->face[i],
                e->boxes[i].box[0], e->boxes[i].box[1], e->boxes[i].box[2], e->boxes[i].box[3]);
    else
        fputs(", \"face\": null, \"box\": null", f);
    fputs(", \"error\": ", f);
    fr_json_string(f, error ? error : e->errors[i]);
}

int fr_cli_embed_all(const char *command, fr_run *run, fr_cli_embeddings *out)
{
    int code = fr_cli_embed_list(command, run, fr_run_paths(run), fr_run_count(run), out);
    if (!code)
        out->failures += fr_run_path_errors(run);
    return code;
}

int fr_cli_embed_list(const char *command, fr_run *run, char *const *paths, size_t count,
                      fr_cli_embeddings *out)
{
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    e.all_faces = fr_run_all_faces(run);
    e.count = e.all_faces ? 0 : count;
    e.dim = (size_t)fr_model_get_info(fr_run_model(run))->embedding_size;
    if (!reserve(&e, count ? count : 1)) {
        fr_cli_embeddings_free(&e);
        fr_cli_error(command, "out of memory holding %zu embeddings", count);
        return FR_EXIT_FATAL;
    }
    embed_ctx ctx = {command, &e};
    fr_status st = fr_run_embed_paths(run, paths, count, keep, &ctx);
    if (st) {
        fr_cli_embeddings_free(&e);
        fr_cli_error(command, "%s", fr_error_message());
        return FR_EXIT_FATAL;
    }
    *out = e;
    return FR_EXIT_OK;
}

void fr_cli_embeddings_free(fr_cli_embeddings *e)
{
    for (size_t i = 0; e->errors && i < e->count; i++)
        free(e->errors[i]);
    free(e->image);
    free(e->errors);
    free(e->rows);
    free(e->ok);
    free(e->status);
    free(e->boxes);
    free(e->has_box);
    free(e->face);
    free(e->faces);
    memset(e, 0, sizeof *e);
}

/* The gallery, and the threshold the database stores (0: none). */
static int load_gallery(const char *command, const char *db, const fr_model_info *model,
                        fr_gallery *out, float *threshold)
{
    fr_store *store;
    fr_status st = fr_store_open(db, FR_STORE_READ, &store);
    if (!st) {
        st = fr_store_threshold(store, threshold);
        if (!st)
            st = fr_store_load(store, model, out);
        fr_store_close(store);
    }
    return st ? fr_cli_fail(command, st) : FR_EXIT_OK;
}

int fr_cli_threshold(const char *command, const fr_global_options *g, const fr_model_info *m,
                     float *out)
{
    float t = g->threshold > 0 ? g->threshold : m->threshold;
    if (!(t > 0)) {
        fr_cli_error(command, "the %s model has no default threshold: give --threshold D "
                     "(facerec pairs + facerec eval choose one)", m->arch);
        return FR_EXIT_USAGE;
    }
    *out = t;
    return FR_EXIT_OK;
}

static int identities(const char *command, const fr_global_options *g, const char *db,
                      const fr_model_info *model, fr_aggregate aggregate,
                      fr_distance_engine *engine, fr_cli_identities *out)
{
    memset(out, 0, sizeof *out);
    out->engine = engine;
    out->engine_borrowed = engine != NULL;
    float threshold = 0, stored = 0;
    int code = load_gallery(command, db, model, &out->gallery, &stored);
    /* --threshold, else the one tuned for this database (db set), else the model's */
    fr_global_options with_stored = *g;
    if (!(g->threshold > 0) && stored > 0)
        with_stored.threshold = stored;
    if (!code)
        code = fr_cli_threshold(command, &with_stored, model, &threshold);
    if (!code && !out->engine)
        code = fr_cli_distance_engine(command, g, &out->engine);
    fr_status st;
    if (!code && (st = fr_matcher_new(&out->gallery, aggregate, threshold, out->engine,
                                      &out->matcher)))
        code = fr_cli_fail(command, st);
    return code;
}

int fr_cli_identities_open(const char *command, const fr_global_options *g, const char *db,
                           const fr_model_info *model, fr_aggregate aggregate,
                           fr_cli_identities *out)
{
    return identities(command, g, db, model, aggregate, NULL, out);
}

int fr_cli_identities_attach(const char *command, const fr_global_options *g, const char *db,
                             const fr_model_info *model, fr_aggregate aggregate,
                             fr_distance_engine *engine, fr_cli_identities *out)
{
    return identities(command, g, db, model, aggregate, engine, out);
}

void fr_cli_identities_close(fr_cli_identities *ids)
{
    fr_matcher_free(ids->matcher);
    if (!ids->engine_borrowed)
        fr_distance_free(ids->engine);
    fr_gallery_free(&ids->gallery);
    memset(ids, 0, sizeof *ids);
}

int fr_cli_distance_engine(const char *command, const fr_global_options *g,
                           fr_distance_engine **out)
{
    fr_distance_options o = {g->device, g->threads, 0};
    fr_status st = fr_distance_new(&o, out);
    return st ? fr_cli_fail(command, st) : FR_EXIT_OK;
}

int fr_cli_table_open(const char *command, const char *path, int json, fr_cli_table *out)
{
    memset(out, 0, sizeof *out);
    out->format = fr_table_format_for(path, json);
    fr_status st = fr_output_open(&out->output, path ? path : "-", 0);
    if (st)
        return fr_cli_fail(command, st);
    out->file = out->output.file;
    return FR_EXIT_OK;
}

int fr_cli_table_close(const char *command, fr_cli_table *t)
{
    fr_cli_commit_begin();
    fr_status st = fr_output_commit(&t->output);
    fr_cli_commit_end(st == FR_OK);
    t->file = NULL;
    return st ? fr_cli_fail(command, st) : FR_EXIT_OK;
}

void fr_cli_table_abort(fr_cli_table *t)
{
    fr_output_abort(&t->output);
    t->file = NULL;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fr_status fr_cli_sorted_unique(char *const *strings, size_t count, char ***out, size_t *unique)
{
    char **list = fr_malloc((count ? count : 1) * sizeof *list, "a sorted list");
    if (!list)
        return FR_E_NOMEM;
    memcpy(list, strings, count * sizeof *list);
    qsort(list, count, sizeof *list, compare_strings);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (n == 0 || strcmp(list[n - 1], list[i]) != 0)
            list[n++] = list[i];
    *out = list;
    *unique = n;
    return FR_OK;
}

long fr_cli_find_sorted(char *const *unique, size_t count, const char *text)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(unique[mid], text);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
