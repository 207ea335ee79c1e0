/* features.c: the on-disk cache of frozen features (format in features.h). */
#include "learn/features.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

static const char MAGIC[8] = {'F', 'R', 'F', 'E', 'A', 'T', 'S', '1'};
#define MAX_CACHE_BYTES ((size_t)1 << 40)
#define MAX_STRING 65536

typedef struct reader {
    const unsigned char *p, *end;
    int bad;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static uint64_t get_u64(reader *r, int bytes)
{
    const unsigned char *b = take(r, (size_t)bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; b && i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* A string copied out (NUL-terminated), or NULL with r->bad set. */
static char *get_string(reader *r)
{
    uint64_t n = get_u64(r, 4);
    if (n > MAX_STRING)
        r->bad = 1;
    const unsigned char *b = take(r, (size_t)n);
    if (!b)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, b, (size_t)n);
    s[n] = 0;
    if (strlen(s) != n) {
        free(s);
        r->bad = 1;
        return NULL;
    }
    return s;
}

static void entry_free(fr_feature_entry *e)
{
    free(e->path);
    free(e->message);
    free(e->features);
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const fr_feature_entry *)a)->path, ((const fr_feature_entry *)b)->path);
}

/* Reads the file's entries when it is of this key; otherwise leaves the cache empty. */
static void load(fr_feature_cache *c)
{
    void *data;
    size_t size;
    struct stat info;
    if (stat(c->file, &info) != 0)
        return; /* a first run */
    if (fr_file_read(c->file, MAX_CACHE_BYTES, &data, &size) != FR_OK) {
        snprintf(c->warning, sizeof c->warning, "%s", fr_error_message());
        return;
    }
    reader r = {data, (const unsigned char *)data + size, 0};
    const unsigned char *magic = take(&r, 8);
    uint64_t dim = get_u64(&r, 4);
    (void)get_u64(&r, 4);
    uint64_t count = get_u64(&r, 8);
    char *key = get_string(&r);
    int same = !r.bad && memcmp(magic, MAGIC, 8) == 0 && dim == c->dim && key &&
               strcmp(key, c->key) == 0 && count <= size / 32;
    free(key);
    if (!same) {
        if (!r.bad && magic && memcmp(magic, MAGIC, 8) != 0)
            snprintf(c->warning, sizeof c->warning, "%s is not a feature cache: replaced",
                     c->file);
        free(data);
        return;
    }
    c->entries = fr_calloc(count ? count : 1, sizeof *c->entries, "the feature cache");
    c->capacity = c->entries ? (size_t)count : 0;
    for (uint64_t i = 0; c->entries && i < count && !r.bad; i++) {
        fr_feature_entry *e = &c->entries[c->count];
        memset(e, 0, sizeof *e);
        e->path = get_string(&r);
        e->size = get_u64(&r, 8);
        e->mtime_sec = (int64_t)get_u64(&r, 8);
        e->mtime_nsec = (int64_t)get_u64(&r, 8);
        e->status = (fr_status)get_u64(&r, 4);
        e->message = get_string(&r);
        const unsigned char *sha = take(&r, 64);
        if (sha) {
            memcpy(e->sha256, sha, 64);
            e->sha256[64] = 0;
        }
        if (!r.bad && e->status == FR_OK) {
            const unsigned char *f = take(&r, (size_t)dim * sizeof(float));
            e->features = f ? fr_malloc((size_t)dim * sizeof(float), "the feature cache") : NULL;
            if (e->features)
                memcpy(e->features, f, (size_t)dim * sizeof(float));
            else
                r.bad = 1;
        }
        if (r.bad || (e->message && e->message[0] == 0 && e->status != FR_OK)) {
            entry_free(e);
            r.bad = 1;
            break;
        }
        if (e->message && e->message[0] == 0) {
            free(e->message);
            e->message = NULL;
        }
        c->count++;
    }
    if (r.bad || r.p != r.end) {
        for (size_t i = 0; i < c->count; i++)
            entry_free(&c->entries[i]);
        free(c->entries);
        c->entries = NULL;
        c->count = c->capacity = 0;
        snprintf(c->warning, sizeof c->warning, "%s is damaged: its features are computed again",
                 c->file);
    }
    free(data);
    if (c->count)
        qsort(c->entries, c->count, sizeof *c->entries, compare_entries);
    c->loaded = c->count;
}

fr_status fr_feature_cache_open(const char *dir, const char *dataset, const char *key,
                                size_t dim, fr_feature_cache *out)
{
    memset(out, 0, sizeof *out);
    out->dim = dim;
    out->key = fr_strdup(key);
    if (!out->key)
        return FR_E_NOMEM;
    if (!dir)
        return FR_OK;
    /* the directory, parents included (mkdir -p) */
    size_t n = strlen(dir);
    char *path = fr_malloc(n + 2, "a path");
    if (!path)
        return FR_E_NOMEM;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char keep = path[i];
        path[i] = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fr_status st = fr_fail(FR_E_IO, "%s: cannot create the feature cache: %s", path,
                                   strerror(errno));
            free(path);
            return st;
        }
        path[i] = keep;
    }
    free(path);
    /* one file per dataset and key: <sha256 of both, 24 digits>.features */
    fr_sha256_list name = {NULL, 0};
    char hex[65];
    fr_sha256_hex(key, strlen(key), hex);
    fr_status st = fr_sha256_list_add(&name, hex, "key");
    fr_sha256_hex(dataset, strlen(dataset), hex);
    if (!st)
        st = fr_sha256_list_add(&name, hex, "dataset");
    fr_sha256_list_finish(&name, hex);
    if (st)
        return st;
    size_t size = strlen(dir) + 40;
    out->file = fr_malloc(size, "a path");
    if (!out->file)
        return FR_E_NOMEM;
    snprintf(out->file, size, "%s/%.24s.features", dir, hex);
    load(out);
    return FR_OK;
}

void fr_feature_cache_close(fr_feature_cache *c)
{
    for (size_t i = 0; i < c->count; i++)
        entry_free(&c->entries[i]);
    free(c->entries);
    free(c->file);
    free(c->key);
    memset(c, 0, sizeof *c);
}

const fr_feature_entry *fr_feature_cache_find(const fr_feature_cache *c, const char *path,
                                              const struct stat *info)
{
    fr_feature_entry probe;
    probe.path = (char *)path;
    const fr_feature_entry *e =
        c->loaded ? bsearch(&probe, c->entries, c->loaded, sizeof *c->entries, compare_entries)
                  : NULL;
    if (!e || e->size != (uint64_t)info->st_size || e->mtime_sec != (int64_t)info->st_mtim.tv_sec ||
        e->mtime_nsec != (int64_t)info->st_mtim.tv_nsec)
        return NULL;
    return e;
}

static void put_u64(FILE *f, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    fwrite(b, 1, (size_t)bytes, f);
}

static void put_string(FILE *f, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u64(f, n, 4);
    fwrite(s ? s : "", 1, n, f);
}

fr_status fr_feature_cache_save(const fr_feature_cache *c, const fr_feature_entry *const *entries,
                                size_t count)
{
    if (!c->file)
        return FR_OK;
    fr_output out;
    fr_status st = fr_output_open(&out, c->file, FR_OUTPUT_REGULAR);
    if (st)
        return st;
    FILE *f = out.file;
    fwrite(MAGIC, 1, 8, f);
    put_u64(f, c->dim, 4);
    put_u64(f, 0, 4);
    put_u64(f, count, 8);
    put_string(f, c->key);
    for (size_t i = 0; i < count; i++) {
        const fr_feature_entry *e = entries[i];
        put_string(f, e->path);
        put_u64(f, e->size, 8);
        put_u64(f, (uint64_t)e->mtime_sec, 8);
        put_u64(f, (uint64_t)e->mtime_nsec, 8);
        put_u64(f, (uint64_t)e->status, 4);
        put_string(f, e->status == FR_OK ? NULL : e->message ? e->message : "failed");
        fwrite(e->sha256, 1, 64, f);
        if (e->status == FR_OK)
            fwrite(e->features, sizeof(float), c->dim, f); /* little-endian hosts only */
    }
    return fr_output_commit(&out);
}
