/* shard.c: --shard I/N, the split of an input list, and the manifests beside shard outputs. */
#include "cli/shard.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

#define MAX_SHARDS 1000000
#define MANIFEST_SUFFIX ".manifest.json"
#define MANIFEST_FORMAT "facerec shard manifest"
#define MANIFEST_VERSION 1
#define MAX_MANIFEST_BYTES (1 << 20)

static int parse_count(const char *text, const char **end, size_t *out)
{
    const char *p = text;
    size_t v = 0;
    while (*p >= '0' && *p <= '9' && v <= MAX_SHARDS)
        v = v * 10 + (size_t)(*p++ - '0');
    if (p == text || v > MAX_SHARDS)
        return 0;
    *end = p;
    *out = v;
    return 1;
}

int fr_shard_parse(const char *text, fr_shard *out)
{
    const char *p;
    size_t i, n;
    if (parse_count(text, &p, &i) && *p == '/' && parse_count(p + 1, &p, &n) && *p == 0 &&
        n >= 1 && i < n) {
        out->index = i;
        out->count = n;
        return 1;
    }
    fprintf(stderr, "facerec: --shard %s: give I/N, the I-th of N parts (0 <= I < N <= %d), "
            "e.g. 0/4\n", text, MAX_SHARDS);
    return 0;
}

void fr_shard_range(const fr_shard *s, size_t total, size_t unit, size_t *first, size_t *end)
{
    if (!s || s->count == 0) {
        *first = 0;
        *end = total;
        return;
    }
    if (unit == 0)
        unit = 1;
    size_t units = total / unit + (total % unit != 0);
    size_t q = units / s->count, r = units % s->count;
    size_t u0 = s->index * q + (s->index < r ? s->index : r);
    size_t u1 = u0 + q + (s->index < r);
    /* u * unit <= total + unit - 1: no overflow for any list that fits in memory */
    *first = u0 * unit < total ? u0 * unit : total;
    *end = u1 * unit < total ? u1 * unit : total;
}

/* ---- list digests ------------------------------------------------------------------------ */

struct fr_list_digest {
    fr_sha256 *sha;
};

fr_status fr_list_digest_new(fr_list_digest **out)
{
    fr_list_digest *d = fr_calloc(1, sizeof *d, "a list digest");
    if (!d)
        return FR_E_NOMEM;
    fr_status st = fr_sha256_new(&d->sha);
    if (st) {
        free(d);
        return st;
    }
    *out = d;
    return FR_OK;
}

void fr_list_digest_add(fr_list_digest *d, const char *item)
{
    fr_sha256_update(d->sha, item, strlen(item) + 1);
}

void fr_list_digest_add_bytes(fr_list_digest *d, const void *data, size_t size)
{
    fr_sha256_update(d->sha, data, size);
}

void fr_list_digest_finish(fr_list_digest *d, char hex[65])
{
    fr_sha256_finish(d->sha, hex);
    free(d);
}

void fr_list_digest_free(fr_list_digest *d)
{
    if (d) {
        fr_sha256_free(d->sha);
        free(d);
    }
}

/* ---- writing ---------------------------------------------------------------------------- */

struct fr_manifest {
    cJSON *root, *options, *outputs;
};

char *fr_manifest_name(const char *main_output)
{
    size_t n = strlen(main_output) + sizeof MANIFEST_SUFFIX;
    char *name = fr_malloc(n, "a file name");
    if (name)
        snprintf(name, n, "%s%s", main_output, MANIFEST_SUFFIX);
    return name;
}

fr_status fr_manifest_new(const char *command, const fr_shard *shard, size_t total,
                          const char inputs_sha256[65], size_t unit, size_t first, size_t end,
                          fr_manifest **out)
{
    fr_manifest *m = fr_calloc(1, sizeof *m, "a manifest");
    if (!m)
        return FR_E_NOMEM;
    cJSON *root = m->root = cJSON_CreateObject();
    cJSON *inputs = cJSON_CreateObject();
    m->options = cJSON_CreateObject();
    m->outputs = cJSON_CreateObject();
    if (!root || !inputs || !m->options || !m->outputs ||
        !cJSON_AddStringToObject(root, "format", MANIFEST_FORMAT) ||
        !cJSON_AddNumberToObject(root, "version", MANIFEST_VERSION) ||
        !cJSON_AddStringToObject(root, "facerec", FR_VERSION_STRING) ||
        !cJSON_AddStringToObject(root, "command", command) ||
        !cJSON_AddNumberToObject(root, "shard", (double)shard->index) ||
        !cJSON_AddNumberToObject(root, "shards", (double)shard->count) ||
        !cJSON_AddNumberToObject(inputs, "count", (double)total) ||
        !cJSON_AddStringToObject(inputs, "sha256", inputs_sha256) ||
        !cJSON_AddNumberToObject(inputs, "unit", (double)unit) ||
        !cJSON_AddNumberToObject(inputs, "first", (double)first) ||
        !cJSON_AddNumberToObject(inputs, "end", (double)end)) {
        cJSON_Delete(inputs);
        cJSON_Delete(m->options);
        cJSON_Delete(m->outputs);
        cJSON_Delete(root);
        free(m);
        return fr_fail(FR_E_NOMEM, "out of memory for a manifest");
    }
    cJSON_AddItemToObject(root, "inputs", inputs);
    *out = m;
    return FR_OK;
}

void fr_manifest_free(fr_manifest *m)
{
    if (!m)
        return;
    cJSON_Delete(m->options);
    cJSON_Delete(m->outputs);
    cJSON_Delete(m->root);
    free(m);
}

/* Out of memory while adding a field leaves it out; fr_manifest_commit then cannot print the
 * document whole and fails, so a manifest is never written without a field it should have. */
void fr_manifest_model(fr_manifest *m, const char *model_key)
{
    cJSON_AddStringToObject(m->root, "model", model_key);
}

void fr_manifest_option(fr_manifest *m, const char *name, const char *value)
{
    cJSON_AddStringToObject(m->options, name, value ? value : "");
}

void fr_manifest_option_number(fr_manifest *m, const char *name, double value)
{
    cJSON_AddNumberToObject(m->options, name, value);
}

void fr_manifest_option_flag(fr_manifest *m, const char *name, int value)
{
    cJSON_AddBoolToObject(m->options, name, value != 0);
}

void fr_manifest_failures(fr_manifest *m, size_t failures)
{
    cJSON_DeleteItemFromObject(m->root, "failures");
    cJSON_AddNumberToObject(m->root, "failures", (double)failures);
}

void fr_manifest_list_errors(fr_manifest *m, size_t errors)
{
    cJSON_DeleteItemFromObject(m->root, "list_errors");
    cJSON_AddNumberToObject(m->root, "list_errors", (double)errors);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

fr_status fr_manifest_output(fr_manifest *m, const char *role, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
    char hex[65];
    fr_status st = fr_sha256_file(path, hex);
    if (st)
        return st;
    cJSON *file = cJSON_CreateObject();
    if (!file || !cJSON_AddStringToObject(file, "file", base_name(path)) ||
        !cJSON_AddNumberToObject(file, "bytes", (double)sb.st_size) ||
        !cJSON_AddStringToObject(file, "sha256", hex)) {
        cJSON_Delete(file);
        return fr_fail(FR_E_NOMEM, "out of memory for a manifest");
    }
    cJSON_AddItemToObject(m->outputs, role, file);
    return FR_OK;
}

fr_status fr_manifest_commit(fr_manifest *m, const char *main_output)
{
    if (strcmp(main_output, "-") == 0)
        return fr_fail(FR_E_INVALID, "a shard's output needs a file name (-o FILE): its "
                       "manifest goes beside it");
    /* the options and outputs go in last, so the document reads top-down */
    cJSON_AddItemToObject(m->root, "options", m->options);
    cJSON_AddItemToObject(m->root, "outputs", m->outputs);
    m->options = m->outputs = NULL;
    if (!cJSON_GetObjectItem(m->root, "failures"))
        cJSON_AddNumberToObject(m->root, "failures", 0);
    if (!cJSON_GetObjectItem(m->root, "list_errors"))
        cJSON_AddNumberToObject(m->root, "list_errors", 0);
    char *text = cJSON_Print(m->root);
    char *name = fr_manifest_name(main_output);
    fr_status st = text && name ? FR_OK : fr_fail(FR_E_NOMEM, "out of memory for a manifest");
    fr_output out;
    if (!st)
        st = fr_output_open(&out, name, 0);
    if (!st) {
        fputs(text, out.file);
        fputc('\n', out.file);
        st = fr_output_commit(&out);
    }
    free(name);
    cJSON_free(text);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A whole number in [0, 2^53) (what a JSON number holds exactly). */
static int get_count(const cJSON *object, const char *key, size_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740991.0 ||
        v->valuedouble != (double)(size_t)v->valuedouble)
        return 0;
    *out = (size_t)v->valuedouble;
    return 1;
}

static int get_hex(const cJSON *object, const char *key, char out[65])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 64 ||
        strspn(v->valuestring, "0123456789abcdef") != 64)
        return 0;
    memcpy(out, v->valuestring, 65);
    return 1;
}

static char *get_string(const cJSON *object, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(v) ? fr_strdup(v->valuestring) : NULL;
}

/* DIR of the manifest + "/" + name (a bare file name: outputs lie beside their manifest). */
static char *beside(const char *manifest, const char *name)
{
    const char *slash = strrchr(manifest, '/');
    size_t dir = slash ? (size_t)(slash - manifest) + 1 : 0;
    size_t n = dir + strlen(name) + 1;
    char *path = fr_malloc(n, "a file name");
    if (path)
        snprintf(path, n, "%.*s%s", (int)dir, manifest, name);
    return path;
}

static fr_status parse(const char *path, const cJSON *root, fr_shard_manifest *m)
{
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, MANIFEST_FORMAT) != 0)
        return fr_fail(FR_E_FORMAT, "%s: not a facerec shard manifest", path);
    size_t version = 0;
    if (!get_count(root, "version", &version) || version != MANIFEST_VERSION)
        return fr_fail(FR_E_UNSUPPORTED, "%s: manifest version %zu; this facerec reads %d",
                       path, version, MANIFEST_VERSION);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(root, "options");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    m->command = get_string(root, "command");
    m->model = get_string(root, "model");
    m->facerec = get_string(root, "facerec");
    if (!m->command || !m->model || !m->facerec || !cJSON_IsObject(inputs) || !cJSON_IsObject(options) ||
        !cJSON_IsObject(outputs) || !get_count(root, "shard", &m->shard.index) ||
        !get_count(root, "shards", &m->shard.count) || !get_count(root, "failures", &m->failures) ||
        !get_count(root, "list_errors", &m->list_errors) ||
        !get_count(inputs, "count", &m->total) || !get_count(inputs, "unit", &m->unit) ||
        !get_count(inputs, "first", &m->first) || !get_count(inputs, "end", &m->end) ||
        !get_hex(inputs, "sha256", m->inputs_sha256))
        return fr_fail(FR_E_FORMAT, "%s: manifest lacks a field or has a malformed one", path);
    /* the range must be the one the split gives: a hand-edited or foreign range is refused */
    size_t first, end;
    if (m->shard.count == 0 || m->shard.index >= m->shard.count || m->unit == 0)
        return fr_fail(FR_E_FORMAT, "%s: shard %zu of %zu is not a shard", path, m->shard.index,
                       m->shard.count);
    fr_shard_range(&m->shard, m->total, m->unit, &first, &end);
    if (first != m->first || end != m->end)
        return fr_fail(FR_E_FORMAT, "%s: inputs [%zu, %zu) are not shard %zu/%zu of %zu in "
                       "units of %zu", path, m->first, m->end, m->shard.index, m->shard.count,
                       m->total, m->unit);
    m->options = cJSON_PrintUnformatted(options);
    m->file_count = (size_t)cJSON_GetArraySize(outputs);
    m->files = fr_calloc(m->file_count ? m->file_count : 1, sizeof *m->files, "a manifest");
    if (!m->options || !m->files)
        return FR_E_NOMEM;
    size_t i = 0;
    for (const cJSON *f = outputs->child; f; f = f->next, i++) {
        fr_manifest_file *file = &m->files[i];
        char *name = get_string(f, "file");
        if (!f->string || !name || strchr(name, '/') || !name[0] ||
            !get_count(f, "bytes", &file->bytes) || !get_hex(f, "sha256", file->sha256)) {
            free(name);
            return fr_fail(FR_E_FORMAT, "%s: output %s is malformed", path,
                           f->string ? f->string : "?");
        }
        file->role = fr_strdup(f->string);
        file->path = beside(path, name);
        free(name);
        if (!file->role || !file->path)
            return FR_E_NOMEM;
    }
    if (!fr_manifest_find(m, "main"))
        return fr_fail(FR_E_FORMAT, "%s: manifest names no main output", path);
    return FR_OK;
}

fr_status fr_manifest_load(const char *arg, fr_shard_manifest *out)
{
    memset(out, 0, sizeof *out);
    out->path = ends_with(arg, MANIFEST_SUFFIX) ? fr_strdup(arg) : fr_manifest_name(arg);
    if (!out->path)
        return FR_E_NOMEM;
    size_t n = strlen(out->path) - strlen(MANIFEST_SUFFIX);
    out->output = fr_malloc(n + 1, "a file name");
    if (!out->output) {
        fr_shard_manifest_free(out);
        return FR_E_NOMEM;
    }
    memcpy(out->output, out->path, n);
    out->output[n] = 0;
    void *text = NULL;
    size_t size = 0;
    struct stat sb;
    fr_status st = FR_OK;
    if (stat(out->path, &sb) != 0 && errno == ENOENT)
        st = fr_fail(FR_E_NOT_FOUND, "%s: no manifest beside it (%s): not a finished shard "
                     "output", out->output, out->path);
    if (!st)
        st = fr_file_read(out->path, MAX_MANIFEST_BYTES, &text, &size);
    cJSON *root = st ? NULL : cJSON_ParseWithLength(text, size);
    if (!st && !root)
        st = fr_fail(FR_E_FORMAT, "%s: not valid JSON (a truncated manifest?)", out->path);
    if (!st)
        st = parse(out->path, root, out);
    cJSON_Delete(root);
    free(text);
    if (st)
        fr_shard_manifest_free(out);
    return st;
}

void fr_shard_manifest_free(fr_shard_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->files && i < m->file_count; i++) {
        free(m->files[i].role);
        free(m->files[i].path);
    }
    free(m->files);
    free(m->path);
    free(m->output);
    free(m->command);
    free(m->model);
    free(m->facerec);
    cJSON_free(m->options);
    memset(m, 0, sizeof *m);
}

const fr_manifest_file *fr_manifest_find(const fr_shard_manifest *m, const char *role)
{
    for (size_t i = 0; i < m->file_count; i++)
        if (strcmp(m->files[i].role, role) == 0)
            return &m->files[i];
    return NULL;
}

static void describe_value(const cJSON *v, char *out, size_t size)
{
    if (!v)
        snprintf(out, size, "(not given)");
    else if (cJSON_IsString(v))
        snprintf(out, size, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(out, size, "%s", cJSON_IsTrue(v) ? "on" : "off");
    else if (cJSON_IsNumber(v))
        snprintf(out, size, "%.9g", v->valuedouble);
    else
        snprintf(out, size, "?");
}

int fr_manifest_option_difference(const fr_shard_manifest *a, const fr_shard_manifest *b,
                                  char *in_a, char *in_b, size_t size)
{
    if (strcmp(a->options, b->options) == 0)
        return 0;
    cJSON *x = cJSON_Parse(a->options), *y = cJSON_Parse(b->options);
    int found = 0;
    for (int pass = 0; pass < 2 && !found && x && y; pass++) {
        /* keys of a (then of b) whose values differ or are missing on the other side */
        const cJSON *from = pass ? y : x, *other = pass ? x : y;
        for (const cJSON *v = from->child; v && !found; v = v->next) {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(other, v->string);
            if (w && cJSON_Compare(v, w, 1))
                continue;
            char va[256], vb[256];
            describe_value(pass ? w : v, va, sizeof va);
            describe_value(pass ? v : w, vb, sizeof vb);
            snprintf(in_a, size, "--%s %s", v->string, va);
            snprintf(in_b, size, "--%s %s", v->string, vb);
            found = 1;
        }
    }
    if (!found) { /* same keys and values in another order cannot happen (one writer) */
        snprintf(in_a, size, "options %s", a->options);
        snprintf(in_b, size, "options %s", b->options);
    }
    cJSON_Delete(x);
    cJSON_Delete(y);
    return 1;
}
