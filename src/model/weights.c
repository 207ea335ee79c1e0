/* weights.c: reading (mapped, bounds-checked, checksum and values verified) and writing .frw
 * weights files. */
#include "model/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

static const char MAGIC[8] = {'F', 'R', 'W', 'E', 'I', 'G', 'H', 'T'};

enum { META_STRING = 0, META_INT = 1, META_FLOAT = 2 };

typedef struct meta_entry {
    char *key;
    int type;
    char *text;
    int64_t integer;
    double real;
} meta_entry;

struct fr_weights {
    char *path;
    fr_mapping map;
    int version;
    char checksum[65]; /* version 2: the verified SHA-256, hex */
    meta_entry *meta;
    size_t meta_count;
    fr_weights_tensor *tensors;
    char **tensor_names;
    size_t tensor_count;
};

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct cursor {
    const unsigned char *p, *end;
    const char *path;
    fr_status status;
} cursor;

static int take(cursor *c, size_t n, const unsigned char **out)
{
    if (c->status)
        return 0;
    if ((size_t)(c->end - c->p) < n) {
        c->status = fr_fail(FR_E_FORMAT, "%s: truncated weights header; regenerate the file with "
                            "`facerec convert`", c->path);
        return 0;
    }
    *out = c->p;
    c->p += n;
    return 1;
}

static uint32_t read_u32(cursor *c)
{
    const unsigned char *b;
    if (!take(c, 4, &b))
        return 0;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t read_u64(cursor *c)
{
    uint64_t lo = read_u32(c);
    uint64_t hi = read_u32(c);
    return lo | hi << 32;
}

static char *read_string(cursor *c)
{
    uint32_t n = read_u32(c);
    const unsigned char *b;
    if (n > 65536) {
        if (!c->status)
            c->status = fr_fail(FR_E_FORMAT, "%s: corrupt weights header (string of %u bytes)",
                                c->path, n);
        return NULL;
    }
    if (!take(c, n, &b))
        return NULL;
    char *s = fr_malloc((size_t)n + 1, "a weights file string");
    if (!s) {
        c->status = FR_E_NOMEM;
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = 0;
    if (strlen(s) != n) {
        free(s);
        c->status = fr_fail(FR_E_FORMAT, "%s: corrupt weights header (NUL inside a name)", c->path);
        return NULL;
    }
    return s;
}

void fr_weights_close(fr_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta[i].key);
        free(w->meta[i].text);
    }
    for (size_t i = 0; i < w->tensor_count; i++)
        free(w->tensor_names[i]);
    free(w->meta);
    free(w->tensors);
    free(w->tensor_names);
    fr_file_unmap(&w->map);
    free(w->path);
    free(w);
}

static fr_status parse(fr_weights *w)
{
    const unsigned char *base = w->map.data;
    cursor c = {base, base + w->map.size, w->path, FR_OK};
    const unsigned char *magic;
    if (!take(&c, 8, &magic) || memcmp(magic, MAGIC, 8) != 0)
        return fr_fail(FR_E_FORMAT, "%s: not a facerec weights file (bad magic); create one with "
                       "`facerec convert`", w->path);
    uint32_t version = read_u32(&c);
    (void)read_u32(&c); /* flags */
    if (!c.status && (version < 1 || version > FR_WEIGHTS_VERSION))
        return fr_fail(FR_E_UNSUPPORTED, "%s: weights format version %u, this build reads "
                       "versions 1 to %d; regenerate the file with this version's `facerec "
                       "convert`", w->path, version, FR_WEIGHTS_VERSION);
    w->version = (int)version;
    uint64_t data_offset = read_u64(&c);
    uint64_t meta_count = read_u64(&c);
    uint64_t tensor_count = read_u64(&c);
    const unsigned char *stored = NULL;
    if (version >= 2)
        take(&c, 32, &stored);
    if (c.status)
        return c.status;
    /* before anything else is believed: a damaged file fails here, naming the cause */
    if (stored) {
        static const unsigned char zeros[32];
        unsigned char digest[32];
        fr_sha256 *sha;
        fr_status st = fr_sha256_new(&sha);
        if (st)
            return st;
        fr_sha256_update(sha, base, FR_WEIGHTS_CHECKSUM_OFFSET);
        fr_sha256_update(sha, zeros, 32);
        fr_sha256_update(sha, stored + 32, w->map.size - (FR_WEIGHTS_CHECKSUM_OFFSET + 32));
        fr_sha256_finish_bytes(sha, digest);
        if (memcmp(digest, stored, 32) != 0)
            return fr_fail(FR_E_FORMAT, "%s: checksum mismatch: the file changed after it was "
                           "written (damaged or edited); fetch or convert it again", w->path);
        fr_sha256_to_hex(digest, w->checksum);
    }
    if (data_offset % 64 || data_offset > w->map.size || meta_count > 4096 || tensor_count > 100000)
        return fr_fail(FR_E_FORMAT, "%s: corrupt weights header; regenerate the file with "
                       "`facerec convert`", w->path);
    w->meta = fr_calloc(meta_count, sizeof *w->meta, "weights metadata");
    w->tensors = fr_calloc(tensor_count, sizeof *w->tensors, "the weights table");
    w->tensor_names = fr_calloc(tensor_count, sizeof *w->tensor_names, "the weights table");
    if (!w->meta || !w->tensors || !w->tensor_names)
        return FR_E_NOMEM;
    for (uint64_t i = 0; i < meta_count && !c.status; i++) {
        meta_entry *m = &w->meta[w->meta_count++];
        m->key = read_string(&c);
        m->type = (int)read_u32(&c);
        if (m->type == META_STRING) {
            m->text = read_string(&c);
        } else if (m->type == META_INT) {
            m->integer = (int64_t)read_u64(&c);
        } else if (m->type == META_FLOAT) {
            uint64_t bits = read_u64(&c);
            memcpy(&m->real, &bits, 8);
        } else if (!c.status) {
            c.status = fr_fail(FR_E_FORMAT, "%s: corrupt weights metadata (type %d)", w->path,
                               m->type);
        }
    }
    size_t data_size = w->map.size - (size_t)data_offset;
    for (uint64_t i = 0; i < tensor_count && !c.status; i++) {
        fr_weights_tensor *t = &w->tensors[w->tensor_count];
        char *name = read_string(&c);
        if (!name)
            break;
        w->tensor_names[w->tensor_count++] = name;
        t->name = name;
        uint32_t dtype = read_u32(&c);
        uint32_t ndim = read_u32(&c);
        if (c.status)
            break;
        if (dtype != 0 || ndim > FR_WEIGHTS_MAX_DIMS) {
            c.status = fr_fail(FR_E_FORMAT, "%s: tensor %s has dtype %u and %u dims; only float32 "
                               "with up to 4 dims is defined", w->path, name, dtype, ndim);
            break;
        }
        t->ndim = (int)ndim;
        size_t count = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint64_t dim = read_u64(&c);
            t->dims[d] = (int64_t)dim;
            if (dim > ((uint64_t)1 << 40) || !fr_mul_size(count, (size_t)dim, &count)) {
                if (!c.status)
                    c.status = fr_fail(FR_E_FORMAT, "%s: tensor %s has an impossible shape",
                                       w->path, name);
            }
        }
        uint64_t offset = read_u64(&c);
        if (c.status)
            break;
        t->count = count;
        size_t bytes;
        if (offset % 64 || offset > data_size || !fr_mul_size(count, 4, &bytes) ||
            bytes > data_size - (size_t)offset) {
            c.status = fr_fail(FR_E_FORMAT, "%s: tensor %s lies outside the file (truncated?); "
                               "regenerate the file with `facerec convert`", w->path, name);
            break;
        }
        t->data = (const float *)(base + data_offset + offset);
        for (size_t k = 0; k < count; k++)
            if (!isfinite(t->data[k])) {
                c.status = fr_fail(FR_E_FORMAT, "%s: tensor %s holds a non-finite value (%s at "
                                   "element %zu): the weights are damaged; fetch or convert "
                                   "them again", w->path, name, isnan(t->data[k]) ? "NaN" :
                                   "infinity", k);
                break;
            }
    }
    if (!c.status && (size_t)(c.p - base) > (size_t)data_offset)
        c.status = fr_fail(FR_E_FORMAT, "%s: weights header overlaps its data", w->path);
    return c.status;
}

fr_status fr_weights_open(const char *path, fr_weights **out)
{
    fr_weights *w = fr_calloc(1, sizeof *w, "a weights file");
    if (!w)
        return FR_E_NOMEM;
    w->path = fr_strdup(path);
    fr_status st = w->path ? fr_file_map(path, &w->map) : FR_E_NOMEM;
    if (!st)
        st = parse(w);
    if (st) {
        fr_weights_close(w);
        return st;
    }
    *out = w;
    return FR_OK;
}

const char *fr_weights_path(const fr_weights *w)
{
    return w->path;
}

int fr_weights_version(const fr_weights *w)
{
    return w->version;
}

const char *fr_weights_checksum(const fr_weights *w)
{
    return w->checksum[0] ? w->checksum : NULL;
}

static const meta_entry *find_meta(const fr_weights *w, const char *key, int type)
{
    for (size_t i = 0; i < w->meta_count; i++)
        if (w->meta[i].key && strcmp(w->meta[i].key, key) == 0)
            return w->meta[i].type == type ? &w->meta[i] : NULL;
    return NULL;
}

const char *fr_weights_meta_string(const fr_weights *w, const char *key)
{
    const meta_entry *m = find_meta(w, key, META_STRING);
    return m ? m->text : NULL;
}

int fr_weights_meta_int(const fr_weights *w, const char *key, int64_t *value)
{
    const meta_entry *m = find_meta(w, key, META_INT);
    if (m)
        *value = m->integer;
    return m != NULL;
}

int fr_weights_meta_float(const fr_weights *w, const char *key, double *value)
{
    const meta_entry *m = find_meta(w, key, META_FLOAT);
    if (m)
        *value = m->real;
    return m != NULL;
}

size_t fr_weights_tensor_count(const fr_weights *w)
{
    return w->tensor_count;
}

const fr_weights_tensor *fr_weights_tensor_at(const fr_weights *w, size_t index)
{
    return index < w->tensor_count ? &w->tensors[index] : NULL;
}

const fr_weights_tensor *fr_weights_find(const fr_weights *w, const char *name)
{
    for (size_t i = 0; i < w->tensor_count; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return &w->tensors[i];
    return NULL;
}

static void format_shape(char *buffer, size_t size, int ndim, const int64_t *dims)
{
    int n = snprintf(buffer, size, "(");
    for (int i = 0; i < ndim && (size_t)n < size; i++)
        n += snprintf(buffer + n, size - (size_t)n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if ((size_t)n < size)
        snprintf(buffer + n, size - (size_t)n, ")");
}

fr_status fr_weights_require(const fr_weights *w, const char *name, int ndim, const int64_t *dims,
                             const float **data)
{
    const char *arch = fr_weights_meta_string(w, "arch");
    const fr_weights_tensor *t = fr_weights_find(w, name);
    if (!t)
        return fr_fail(FR_E_NOT_FOUND, "%s: tensor %s is missing (is this a %s model?); "
                       "regenerate the file with `facerec convert`", w->path, name,
                       arch ? arch : "facerec");
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->dims[i] == dims[i];
    if (!same) {
        char want[128], got[128];
        format_shape(want, sizeof want, ndim, dims);
        format_shape(got, sizeof got, t->ndim, t->dims);
        return fr_fail(FR_E_FORMAT, "%s: tensor %s has shape %s, the %s architecture needs %s; "
                       "the file was made from another model: convert the right one with "
                       "`facerec convert`", w->path, name, got, arch ? arch : "model", want);
    }
    *data = t->data;
    return FR_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct pending_tensor {
    char *name;
    int ndim;
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    size_t count;
    float *data;
} pending_tensor;

struct fr_weights_writer {
    meta_entry *meta;
    size_t meta_count, meta_capacity;
    pending_tensor *tensors;
    size_t tensor_count, tensor_capacity;
};

fr_weights_writer *fr_weights_writer_new(void)
{
    return fr_calloc(1, sizeof(fr_weights_writer), "a weights writer");
}

void fr_weights_writer_free(fr_weights_writer *wr)
{
    if (!wr)
        return;
    for (size_t i = 0; i < wr->meta_count; i++) {
        free(wr->meta[i].key);
        free(wr->meta[i].text);
    }
    for (size_t i = 0; i < wr->tensor_count; i++) {
        free(wr->tensors[i].name);
        free(wr->tensors[i].data);
    }
    free(wr->meta);
    free(wr->tensors);
    free(wr);
}

static meta_entry *add_meta(fr_weights_writer *wr, const char *key, int type)
{
    for (size_t i = 0; i < wr->meta_count; i++)
        if (strcmp(wr->meta[i].key, key) == 0) {
            free(wr->meta[i].text);
            wr->meta[i].text = NULL;
            wr->meta[i].type = type;
            return &wr->meta[i];
        }
    if (wr->meta_count == wr->meta_capacity) {
        size_t cap = wr->meta_capacity ? 2 * wr->meta_capacity : 16;
        meta_entry *grown = realloc(wr->meta, cap * sizeof *grown);
        if (!grown) {
            fr_fail(FR_E_NOMEM, "out of memory growing weights metadata");
            return NULL;
        }
        wr->meta = grown;
        wr->meta_capacity = cap;
    }
    meta_entry *m = &wr->meta[wr->meta_count];
    memset(m, 0, sizeof *m);
    m->key = fr_strdup(key);
    if (!m->key)
        return NULL;
    m->type = type;
    wr->meta_count++;
    return m;
}

fr_status fr_weights_writer_string(fr_weights_writer *wr, const char *key, const char *value)
{
    meta_entry *m = add_meta(wr, key, META_STRING);
    if (!m)
        return FR_E_NOMEM;
    m->text = fr_strdup(value);
    return m->text ? FR_OK : FR_E_NOMEM;
}

fr_status fr_weights_writer_int(fr_weights_writer *wr, const char *key, int64_t value)
{
    meta_entry *m = add_meta(wr, key, META_INT);
    if (!m)
        return FR_E_NOMEM;
    m->integer = value;
    return FR_OK;
}

fr_status fr_weights_writer_float(fr_weights_writer *wr, const char *key, double value)
{
    meta_entry *m = add_meta(wr, key, META_FLOAT);
    if (!m)
        return FR_E_NOMEM;
    m->real = value;
    return FR_OK;
}

fr_status fr_weights_writer_tensor(fr_weights_writer *wr, const char *name, int ndim,
                                   const int64_t *dims, const float *data)
{
    if (ndim < 0 || ndim > FR_WEIGHTS_MAX_DIMS)
        return fr_fail(FR_E_INVALID, "tensor %s: %d dimensions (at most %d)", name, ndim,
                       FR_WEIGHTS_MAX_DIMS);
    for (size_t i = 0; i < wr->tensor_count; i++)
        if (strcmp(wr->tensors[i].name, name) == 0)
            return fr_fail(FR_E_INVALID, "tensor %s added twice", name);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0 || !fr_mul_size(count, (size_t)dims[i], &count))
            return fr_fail(FR_E_TOO_LARGE, "tensor %s: impossible shape", name);
    if (count > FR_WEIGHTS_MAX_ELEMENTS)
        return fr_fail(FR_E_TOO_LARGE, "tensor %s: %zu elements (at most %zu)", name, count,
                       FR_WEIGHTS_MAX_ELEMENTS);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return fr_fail(FR_E_FORMAT, "tensor %s: element %zu is %s; weights must be finite",
                           name, i, isnan(data[i]) ? "NaN" : "infinite");
    if (wr->tensor_count == wr->tensor_capacity) {
        size_t cap = wr->tensor_capacity ? 2 * wr->tensor_capacity : 64;
        pending_tensor *grown = realloc(wr->tensors, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory growing the weights table");
        wr->tensors = grown;
        wr->tensor_capacity = cap;
    }
    pending_tensor *t = &wr->tensors[wr->tensor_count];
    memset(t, 0, sizeof *t);
    t->name = fr_strdup(name);
    t->data = fr_malloc(count * sizeof(float), name);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return FR_E_NOMEM;
    }
    memcpy(t->data, data, count * sizeof(float));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->count = count;
    wr->tensor_count++;
    return FR_OK;
}

/* Where serialized bytes go: into the SHA-256 (the checksum pass), into the file, or both. */
typedef struct sink {
    FILE *file;
    fr_sha256 *sha;
} sink;

static void put(sink *o, const void *data, size_t n)
{
    if (o->sha)
        fr_sha256_update(o->sha, data, n);
    if (o->file)
        fwrite(data, 1, n, o->file);
}

static void put_u32(sink *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(o, b, 4);
}

static void put_u64(sink *o, uint64_t v)
{
    put_u32(o, (uint32_t)v);
    put_u32(o, (uint32_t)(v >> 32));
}

static void put_string(sink *o, const char *s)
{
    size_t n = strlen(s);
    put_u32(o, (uint32_t)n);
    put(o, s, n);
}

static uint64_t align64(uint64_t v)
{
    return (v + 63) & ~(uint64_t)63;
}

/* The whole file, in order, with checksum as its checksum field. */
static void serialize(const fr_weights_writer *wr, uint64_t header, const unsigned char *checksum,
                      sink *o)
{
    uint64_t data_offset = align64(header);
    put(o, MAGIC, 8);
    put_u32(o, FR_WEIGHTS_VERSION);
    put_u32(o, 0);
    put_u64(o, data_offset);
    put_u64(o, wr->meta_count);
    put_u64(o, wr->tensor_count);
    put(o, checksum, 32);
    for (size_t i = 0; i < wr->meta_count; i++) {
        const meta_entry *m = &wr->meta[i];
        put_string(o, m->key);
        put_u32(o, (uint32_t)m->type);
        if (m->type == META_STRING) {
            put_string(o, m->text);
        } else if (m->type == META_INT) {
            put_u64(o, (uint64_t)m->integer);
        } else {
            uint64_t bits;
            memcpy(&bits, &m->real, 8);
            put_u64(o, bits);
        }
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < wr->tensor_count; i++) {
        const pending_tensor *t = &wr->tensors[i];
        put_string(o, t->name);
        put_u32(o, 0);
        put_u32(o, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            put_u64(o, (uint64_t)t->dims[d]);
        put_u64(o, offset);
        offset = align64(offset + 4 * (uint64_t)t->count);
    }
    static const unsigned char zeros[64];
    put(o, zeros, (size_t)(data_offset - header));
    for (size_t i = 0; i < wr->tensor_count; i++) {
        const pending_tensor *t = &wr->tensors[i];
        /* The format is little-endian; so is every machine this builds on (checked in CMake). */
        put(o, t->data, t->count * sizeof(float));
        uint64_t end = 4 * (uint64_t)t->count;
        put(o, zeros, (size_t)(align64(end) - end));
    }
}

fr_status fr_weights_writer_save(fr_weights_writer *wr, const char *path)
{
    /* Header size first, so that data_offset is known before anything is written. */
    uint64_t header = FR_WEIGHTS_CHECKSUM_OFFSET + 32;
    for (size_t i = 0; i < wr->meta_count; i++) {
        const meta_entry *m = &wr->meta[i];
        header += 4 + strlen(m->key) + 4 + (m->type == META_STRING ? 4 + strlen(m->text) : 8);
    }
    for (size_t i = 0; i < wr->tensor_count; i++)
        header += 4 + strlen(wr->tensors[i].name) + 4 + 4 + 8 * (uint64_t)wr->tensors[i].ndim + 8;

    /* two passes: the digest of the file with a zero checksum field, then the file with it */
    static const unsigned char no_checksum[32];
    unsigned char checksum[32];
    sink hash = {NULL, NULL};
    fr_status st = fr_sha256_new(&hash.sha);
    if (st)
        return st;
    serialize(wr, header, no_checksum, &hash);
    fr_sha256_finish_bytes(hash.sha, checksum);

    fr_output out;
    st = fr_output_open(&out, path, 0);
    if (st)
        return st;
    sink file = {out.file, NULL};
    serialize(wr, header, checksum, &file);
    return fr_output_commit(&out);
}

fr_status fr_weights_writer_copy(fr_weights_writer *wr, const fr_weights *w,
                                 const char *const *skip)
{
    fr_status st = FR_OK;
    for (size_t i = 0; i < w->meta_count && !st; i++) {
        const meta_entry *m = &w->meta[i];
        if (!m->key)
            continue;
        if (m->type == META_STRING)
            st = fr_weights_writer_string(wr, m->key, m->text ? m->text : "");
        else if (m->type == META_INT)
            st = fr_weights_writer_int(wr, m->key, m->integer);
        else
            st = fr_weights_writer_float(wr, m->key, m->real);
    }
    for (size_t i = 0; i < w->tensor_count && !st; i++) {
        const fr_weights_tensor *t = &w->tensors[i];
        int skipped = 0;
        for (size_t k = 0; skip && skip[k] && !skipped; k++)
            skipped = strcmp(skip[k], t->name) == 0;
        if (!skipped)
            st = fr_weights_writer_tensor(wr, t->name, t->ndim, t->dims, t->data);
    }
    return st;
}
