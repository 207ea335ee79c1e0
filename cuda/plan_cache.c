/*
 * plan_cache.c: the cuDNN plan cache's file (see plan_cache.h for what it holds and why).
 *
 * Layout, little-endian, every length bounded before it is used:
 *
 *   "FRPLANS\0"                       8 bytes
 *   u32 format version                FR_PLAN_CACHE_VERSION
 *   u32 device key length, bytes      the whole key must equal the caller's
 *   u32 record count
 *   per record:
 *     u32 key length, bytes
 *     i64 engine global index
 *     u32 knob count (<= FR_PLAN_MAX_KNOBS), then (i64 type, i64 value) per knob
 *     u32 JSON length (<= FR_PLAN_MAX_JSON), bytes
 *   64 hex digits                     SHA-256 of every byte before them
 *
 * Records are looked up by a linear scan: a network has at most a few hundred convolutions
 * per batch size, and a lookup is nothing beside planning one.
 */
#include "plan_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

#define MAGIC "FRPLANS"  /* with its terminating 0: 8 bytes */
#define DIGEST_HEX 64

typedef struct entry {
    char *key;
    fr_plan_record record;
} entry;

struct fr_plan_cache {
    char *path;
    char *device_key;
    entry *entries;
    size_t count, capacity;
    char **forgotten;   /* keys dropped since opening: a merge must not bring them back */
    size_t forgotten_count;
    int dirty, corrupt;
    char note[FR_PLAN_MAX_KEY + 256];
};

/* ---- where ------------------------------------------------------------------------------- */

void fr_plan_device_key(const char *gpu_name, int cc_major, int cc_minor, int multiprocessors,
                        int driver_version, int runtime_version, size_t cudnn_version,
                        char *key, size_t size)
{
    snprintf(key, size, "gpu=%s sm=%d.%d sms=%d driver=%d runtime=%d cudnn=%zu", gpu_name,
             cc_major, cc_minor, multiprocessors, driver_version, runtime_version,
             cudnn_version);
}

fr_status fr_plan_cache_default_path(const char *device_key, char *path, size_t size)
{
    const char *dir = getenv("FACEREC_PLAN_CACHE");
    char base[4096];
    if (dir && (!strcmp(dir, "off") || !strcmp(dir, "0")))
        return fr_fail(FR_E_UNSUPPORTED, "the plan cache is off (FACEREC_PLAN_CACHE=%s)", dir);
    if (dir && *dir) {
        snprintf(base, sizeof base, "%s", dir);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg == '/')
            snprintf(base, sizeof base, "%s/facerec", xdg);
        else if (home && *home)
            snprintf(base, sizeof base, "%s/.cache/facerec", home);
        else
            return fr_fail(FR_E_UNSUPPORTED, "no directory for the plan cache (set "
                           "FACEREC_PLAN_CACHE, XDG_CACHE_HOME or HOME)");
    }
    /* The file name: the device key's digest, so that a different GPU, driver or library
     * version gets its own file instead of evicting another's. */
    char digest[65];
    fr_sha256_hex(device_key, strlen(device_key), digest);
    int n = snprintf(path, size, "%s/cudnn-plans-%.16s.bin", base, digest);
    if (n < 0 || (size_t)n >= size)
        return fr_fail(FR_E_INVALID, "plan cache path too long under %s", base);
    return FR_OK;
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static int read_bytes(reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return 0;
    memcpy(out, r->p, n);
    r->p += n;
    return 1;
}

static int read_u32(reader *r, uint32_t *v)
{
    uint8_t b[4];
    if (!read_bytes(r, b, 4))
        return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static int read_i64(reader *r, int64_t *v)
{
    uint8_t b[8];
    if (!read_bytes(r, b, 8))
        return 0;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    memcpy(v, &u, sizeof *v);
    return 1;
}

/* A length-prefixed string of at most `limit` bytes, pointing into the buffer. */
static int read_text(reader *r, size_t limit, const char **text, size_t *len)
{
    uint32_t n;
    if (!read_u32(r, &n) || n > limit || (size_t)(r->end - r->p) < n)
        return 0;
    *text = (const char *)r->p;
    *len = n;
    r->p += n;
    return 1;
}

static void free_entries(fr_plan_cache *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free(c->entries[i].key);
        free(c->entries[i].record.json);
    }
    free(c->entries);
    c->entries = NULL;
    c->count = c->capacity = 0;
}

/* Parses a whole file into c; returns NULL on success, else why it cannot be trusted. *stale
 * is set when the file is sound but belongs to another device key or format version. */
static const char *parse(fr_plan_cache *c, const uint8_t *data, size_t size, int *stale)
{
    *stale = 0;
    if (size < sizeof MAGIC + 12 + DIGEST_HEX || memcmp(data, MAGIC, sizeof MAGIC) != 0)
        return "not a facerec plan cache";
    char want[DIGEST_HEX + 1];
    fr_sha256_hex(data, size - DIGEST_HEX, want);
    if (memcmp(want, data + size - DIGEST_HEX, DIGEST_HEX) != 0)
        return "checksum mismatch";
    reader r = {data + sizeof MAGIC, data + size - DIGEST_HEX};
    uint32_t version, count;
    const char *key;
    size_t key_len;
    if (!read_u32(&r, &version))
        return "truncated header";
    if (version != FR_PLAN_CACHE_VERSION) {
        *stale = 1;
        return "another format version";
    }
    if (!read_text(&r, FR_PLAN_MAX_KEY, &key, &key_len) || !read_u32(&r, &count))
        return "truncated header";
    if (key_len != strlen(c->device_key) || memcmp(key, c->device_key, key_len) != 0) {
        *stale = 1;
        return "another device or library version";
    }
    /* every record takes at least 20 bytes: a bound on count before any allocation */
    if (count > (size_t)(r.end - r.p) / 20)
        return "record count past the end of the file";
    for (uint32_t i = 0; i < count; i++) {
        fr_plan_record rec;
        memset(&rec, 0, sizeof rec);
        uint32_t knobs;
        const char *json;
        if (!read_text(&r, FR_PLAN_MAX_KEY, &key, &key_len) || !read_i64(&r, &rec.engine) ||
            !read_u32(&r, &knobs) || knobs > FR_PLAN_MAX_KNOBS)
            return "bad record";
        rec.knob_count = (int)knobs;
        for (uint32_t k = 0; k < knobs; k++)
            if (!read_i64(&r, &rec.knobs[k][0]) || !read_i64(&r, &rec.knobs[k][1]))
                return "bad record";
        if (!read_text(&r, FR_PLAN_MAX_JSON, &json, &rec.json_size))
            return "bad record";
        if (key_len == 0 || memchr(key, 0, key_len))
            return "bad record key";
        char *k = fr_malloc(key_len + 1, "a plan cache key");
        if (!k)
            return "out of memory";
        memcpy(k, key, key_len);
        k[key_len] = 0;
        rec.json = (char *)json;
        fr_status st = fr_plan_cache_put(c, k, &rec);
        free(k);
        if (st)
            return "out of memory";
    }
    if (r.p != r.end)
        return "bytes after the last record";
    return NULL;
}

fr_status fr_plan_cache_open(const char *path, const char *device_key, fr_plan_cache **out)
{
    if (!path || !device_key || !out || strlen(device_key) > FR_PLAN_MAX_KEY)
        return fr_fail(FR_E_INVALID, "fr_plan_cache_open: a path and a device key of at most "
                       "%d bytes", FR_PLAN_MAX_KEY);
    fr_plan_cache *c = fr_calloc(1, sizeof *c, "the plan cache");
    if (!c)
        return FR_E_NOMEM;
    c->path = fr_strdup(path);
    c->device_key = fr_strdup(device_key);
    if (!c->path || !c->device_key) {
        fr_plan_cache_free(c);
        return fr_fail(FR_E_NOMEM, "out of memory for the plan cache");
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(c->note, sizeof c->note, "%s: no cache yet", path);
        *out = c;
        return FR_OK;
    }
    void *data = NULL;
    size_t size = 0;
    const char *why = NULL;
    int stale = 0;
    if (fr_file_read(path, FR_PLAN_MAX_FILE, &data, &size) != FR_OK)
        why = fr_error_message();
    else
        why = parse(c, data, size, &stale);
    if (why) {
        snprintf(c->note, sizeof c->note, "%s: %s (%s), rebuilt", path,
                 stale ? "stale" : "corrupt", why);
        c->corrupt = !stale;
        free_entries(c);
        c->dirty = 1; /* the next save replaces it */
    } else {
        snprintf(c->note, sizeof c->note, "%zu plans from %s", c->count, path);
        c->dirty = 0;
    }
    free(data);
    *out = c;
    return FR_OK;
}

void fr_plan_cache_free(fr_plan_cache *c)
{
    if (!c)
        return;
    free_entries(c);
    for (size_t i = 0; i < c->forgotten_count; i++)
        free(c->forgotten[i]);
    free(c->forgotten);
    free(c->path);
    free(c->device_key);
    free(c);
}

const char *fr_plan_cache_note(const fr_plan_cache *c)
{
    return c->note;
}

int fr_plan_cache_was_corrupt(const fr_plan_cache *c)
{
    return c->corrupt;
}

size_t fr_plan_cache_count(const fr_plan_cache *c)
{
    return c->count;
}

/* ---- records ----------------------------------------------------------------------------- */

static entry *lookup(const fr_plan_cache *c, const char *key)
{
    for (size_t i = 0; i < c->count; i++)
        if (!strcmp(c->entries[i].key, key))
            return &c->entries[i];
    return NULL;
}

const fr_plan_record *fr_plan_cache_find(const fr_plan_cache *c, const char *key)
{
    const entry *e = lookup(c, key);
    return e ? &e->record : NULL;
}

fr_status fr_plan_cache_put(fr_plan_cache *c, const char *key, const fr_plan_record *record)
{
    size_t key_len = strlen(key);
    if (key_len == 0 || key_len > FR_PLAN_MAX_KEY || record->knob_count < 0 ||
        record->knob_count > FR_PLAN_MAX_KNOBS || record->json_size > FR_PLAN_MAX_JSON)
        return fr_fail(FR_E_INVALID, "plan cache: record out of bounds");
    char *json = NULL;
    if (record->json_size) {
        json = fr_malloc(record->json_size, "a serialized cuDNN plan");
        if (!json)
            return FR_E_NOMEM;
        memcpy(json, record->json, record->json_size);
    }
    entry *e = lookup(c, key);
    if (!e) {
        if (c->count == c->capacity) {
            size_t cap = c->capacity ? 2 * c->capacity : 64;
            entry *grown = realloc(c->entries, cap * sizeof *grown);
            if (!grown) {
                free(json);
                return fr_fail(FR_E_NOMEM, "out of memory for the plan cache");
            }
            c->entries = grown;
            c->capacity = cap;
        }
        char *k = fr_strdup(key);
        if (!k) {
            free(json);
            return fr_fail(FR_E_NOMEM, "out of memory for the plan cache");
        }
        e = &c->entries[c->count++];
        e->key = k;
    } else {
        free(e->record.json);
    }
    e->record = *record;
    e->record.json = json;
    c->dirty = 1;
    return FR_OK;
}

void fr_plan_cache_forget(fr_plan_cache *c, const char *key)
{
    entry *e = lookup(c, key);
    if (!e)
        return;
    char **grown = realloc(c->forgotten, (c->forgotten_count + 1) * sizeof *grown);
    if (grown) { /* without memory for the note, a merge may bring the record back: it is
                    then tried, fails again and is replanned, nothing worse */
        c->forgotten = grown;
        c->forgotten[c->forgotten_count] = e->key;
        c->forgotten_count++;
    } else {
        free(e->key);
    }
    free(e->record.json);
    *e = c->entries[--c->count];
    c->dirty = 1;
}

/* ---- writing ----------------------------------------------------------------------------- */

typedef struct writer {
    uint8_t *data;
    size_t size, capacity;
    int failed;
} writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (w->size + n > w->capacity) {
        size_t cap = w->capacity ? w->capacity : 4096;
        while (cap < w->size + n)
            cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            w->failed = 1;
            return;
        }
        w->data = grown;
        w->capacity = cap;
    }
    memcpy(w->data + w->size, p, n);
    w->size += n;
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(w, b, 4);
}

static void put_i64(writer *w, int64_t v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    put_bytes(w, b, 8);
}

static void put_text(writer *w, const char *text, size_t len)
{
    put_u32(w, (uint32_t)len);
    put_bytes(w, text, len);
}

/* mkdir -p of the directory part of path. */
static fr_status make_parent_dirs(const char *path)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s", path);
    if (n < 0 || (size_t)n >= sizeof dir)
        return fr_fail(FR_E_INVALID, "plan cache path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return FR_OK;
    *slash = 0;
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return fr_fail(FR_E_IO, "%s: cannot create the plan cache directory: %s", dir,
                               strerror(errno));
            *p = saved;
            if (!saved)
                break;
        }
    }
    return FR_OK;
}

static int was_forgotten(const fr_plan_cache *c, const char *key)
{
    for (size_t i = 0; i < c->forgotten_count; i++)
        if (!strcmp(c->forgotten[i], key))
            return 1;
    return 0;
}

/* Records another writer saved since this cache was opened (another runner of this process,
 * another process on this machine) join ours, unless we forgot them. */
static void merge_from_disk(fr_plan_cache *c)
{
    fr_plan_cache *disk = NULL;
    if (fr_plan_cache_open(c->path, c->device_key, &disk) != FR_OK)
        return;
    for (size_t i = 0; i < disk->count; i++) {
        const entry *e = &disk->entries[i];
        if (!lookup(c, e->key) && !was_forgotten(c, e->key))
            fr_plan_cache_put(c, e->key, &e->record);
    }
    fr_plan_cache_free(disk);
}

fr_status fr_plan_cache_save(fr_plan_cache *c)
{
    if (!c->dirty)
        return FR_OK;
    merge_from_disk(c);
    writer w = {0};
    put_bytes(&w, MAGIC, sizeof MAGIC);
    put_u32(&w, FR_PLAN_CACHE_VERSION);
    put_text(&w, c->device_key, strlen(c->device_key));
    put_u32(&w, (uint32_t)c->count);
    for (size_t i = 0; i < c->count; i++) {
        const fr_plan_record *r = &c->entries[i].record;
        put_text(&w, c->entries[i].key, strlen(c->entries[i].key));
        put_i64(&w, r->engine);
        put_u32(&w, (uint32_t)r->knob_count);
        for (int k = 0; k < r->knob_count; k++) {
            put_i64(&w, r->knobs[k][0]);
            put_i64(&w, r->knobs[k][1]);
        }
        put_text(&w, r->json, r->json_size);
    }
    char digest[DIGEST_HEX + 1];
    if (!w.failed)
        fr_sha256_hex(w.data, w.size, digest);
    put_bytes(&w, digest, DIGEST_HEX);
    if (w.failed) {
        free(w.data);
        return fr_fail(FR_E_NOMEM, "out of memory writing the plan cache");
    }
    fr_status st = make_parent_dirs(c->path);
    fr_output out;
    if (!st)
        st = fr_output_open(&out, c->path, 1);
    if (!st) {
        if (fwrite(w.data, 1, w.size, out.file) != w.size)
            st = fr_fail(FR_E_IO, "%s: write failed: %s", c->path, strerror(errno));
        if (!st)
            st = fr_output_commit(&out);
        fr_output_abort(&out);
    }
    free(w.data);
    if (!st)
        c->dirty = 0;
    return st;
}
