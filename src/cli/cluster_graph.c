/* cluster_graph.c: the threshold graph's file (cluster_graph.h). */
#include "cli/cluster_graph.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

#define GRAPH_FORMAT "facerec threshold graph"
#define GRAPH_VERSION 1
#define GRAPH_HEADER "a,b,distance"

void fr_graph_identity_of(const float *rows, size_t n, size_t dim, float threshold,
                          const fr_distance_engine *engine, fr_graph_identity *out)
{
    memset(out, 0, sizeof *out);
    out->faces = n;
    out->dim = dim;
    fr_sha256_hex(rows, n * dim * sizeof(float), out->embeddings_sha256);
    out->threshold = threshold;
    snprintf(out->distances, sizeof out->distances, "%s", fr_distance_backend_name(engine));
    out->tile = fr_distance_pairs_tile(engine);
    out->tiles = fr_distance_upper_tile_count(engine, n);
}

void fr_graph_format_float(float value, char out[FR_GRAPH_FLOAT_CHARS])
{
    /* 9 significant digits always read back as the same float; fewer often do */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, FR_GRAPH_FLOAT_CHARS, "%.*g", digits, (double)value);
        if (strtof(out, NULL) == value)
            return;
    }
}

void fr_graph_write_edges(FILE *out, const fr_cluster_edges *edges)
{
    fputs(GRAPH_HEADER "\n", out);
    char d[FR_GRAPH_FLOAT_CHARS];
    for (size_t e = 0; e < edges->count; e++) {
        const fr_cluster_edge *x = &edges->items[e];
        fr_graph_format_float(x->distance, d);
        fprintf(out, "%d,%d,%s\n", (int)x->a, (int)x->b, d);
    }
}

fr_status fr_graph_write_identity(FILE *out, const fr_graph_identity *id)
{
    char threshold[FR_GRAPH_FLOAT_CHARS];
    fr_graph_format_float(id->threshold, threshold);
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddStringToObject(j, "format", GRAPH_FORMAT) ||
        !cJSON_AddNumberToObject(j, "version", GRAPH_VERSION) ||
        !cJSON_AddNumberToObject(j, "faces", (double)id->faces) ||
        !cJSON_AddNumberToObject(j, "dimensions", (double)id->dim) ||
        !cJSON_AddStringToObject(j, "embeddings_sha256", id->embeddings_sha256) ||
        !cJSON_AddNumberToObject(j, "threshold", strtod(threshold, NULL)) ||
        !cJSON_AddStringToObject(j, "distances", id->distances) ||
        !cJSON_AddNumberToObject(j, "tile", (double)id->tile) ||
        !cJSON_AddNumberToObject(j, "tiles", (double)id->tiles)) {
        cJSON_Delete(j);
        return fr_fail(FR_E_NOMEM, "out of memory describing a graph");
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return fr_fail(FR_E_NOMEM, "out of memory describing a graph");
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return FR_OK;
}

static int get_size(const cJSON *j, const char *key, size_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740991.0 ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (size_t)v->valuedouble;
    return 1;
}

/* The description beside path, parsed. */
static fr_status read_identity(const char *path, fr_graph_identity *id)
{
    char *side = fr_side_path(path, FR_GRAPH_SIDE);
    if (!side)
        return FR_E_NOMEM;
    void *text = NULL;
    size_t size = 0;
    fr_status st = fr_file_read(side, 1 << 20, &text, &size);
    if (st) {
        st = fr_fail(st, "%s: no graph description beside it (%s): not a graph written by "
                     "`cluster --shard` or `merge`", path, side);
        free(side);
        return st;
    }
    cJSON *j = cJSON_ParseWithLength(text, size);
    free(text);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "embeddings_sha256");
    const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(j, "threshold");
    const cJSON *distances = cJSON_GetObjectItemCaseSensitive(j, "distances");
    size_t version = 0;
    memset(id, 0, sizeof *id);
    if (!cJSON_IsString(format) || strcmp(format->valuestring, GRAPH_FORMAT) != 0)
        st = fr_fail(FR_E_FORMAT, "%s: not a facerec graph description", side);
    else if (!get_size(j, "version", &version) || version != GRAPH_VERSION)
        st = fr_fail(FR_E_UNSUPPORTED, "%s: graph version %zu; this facerec reads %d", side,
                     version, GRAPH_VERSION);
    else if (!get_size(j, "faces", &id->faces) || !get_size(j, "dimensions", &id->dim) ||
             !get_size(j, "tile", &id->tile) || !get_size(j, "tiles", &id->tiles) ||
             !cJSON_IsString(sha) || strlen(sha->valuestring) != 64 ||
             !cJSON_IsNumber(threshold) || !(threshold->valuedouble > 0) ||
             !cJSON_IsString(distances))
        st = fr_fail(FR_E_FORMAT, "%s: a field is missing or malformed", side);
    if (!st) {
        memcpy(id->embeddings_sha256, sha->valuestring, 65);
        id->threshold = (float)threshold->valuedouble;
        snprintf(id->distances, sizeof id->distances, "%s", distances->valuestring);
    }
    cJSON_Delete(j);
    free(side);
    return st;
}

static fr_status add_edge(fr_cluster_edges *e, size_t *capacity, fr_cluster_edge x)
{
    if (e->count == *capacity) {
        size_t cap = *capacity ? 2 * *capacity : 65536;
        fr_cluster_edge *grown = realloc(e->items, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory holding %zu graph edges", e->count);
        e->items = grown;
        *capacity = cap;
    }
    e->items[e->count++] = x;
    return FR_OK;
}

/* Whether d is the distance of rows a and b: the engine's d^2 = |a|^2 + |b|^2 - 2 a.b in
 * float32 is within a few units of rounding of the norms' scale of the float64 value. */
static int distance_of(const float *x, const float *y, size_t dim, float d, double *exact)
{
    double sum = 0, scale = 0;
    for (size_t k = 0; k < dim; k++) {
        double diff = (double)x[k] - y[k];
        sum += diff * diff;
        scale += (double)x[k] * x[k] + (double)y[k] * y[k];
    }
    *exact = sqrt(sum);
    return fabs((double)d * d - sum) <= 1e-5 * scale + 1e-30;
}

fr_status fr_graph_read(const char *path, const fr_graph_identity *expect, const float *rows,
                        float *threshold, fr_cluster_edges *out)
{
    memset(out, 0, sizeof *out);
    fr_graph_identity id;
    fr_status st = read_identity(path, &id);
    if (st)
        return st;
    if (id.faces != expect->faces || id.dim != expect->dim ||
        strcmp(id.embeddings_sha256, expect->embeddings_sha256) != 0)
        return fr_fail(FR_E_INVALID, "%s is the graph of %zu faces of %zu dimensions (embeddings "
                       "SHA-256 %.12s...), these are %zu of %zu (%.12s...): another set of faces",
                       path, id.faces, id.dim, id.embeddings_sha256, expect->faces, expect->dim,
                       expect->embeddings_sha256);
    int fd;
    struct stat info;
    st = fr_file_open_regular(path, &fd, &info);
    FILE *f = st ? NULL : fdopen(fd, "r");
    if (!st && !f) {
        st = fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
        close(fd);
    }
    if (st)
        return st;
    char *line = NULL;
    size_t cap = 0, capacity = 0, number = 0;
    ssize_t n;
    double exact;
    while (!st && (n = getline(&line, &cap, f)) >= 0) {
        number++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = 0;
        if (number == 1) {
            if (strcmp(line, GRAPH_HEADER) != 0)
                st = fr_fail(FR_E_FORMAT, "%s: line 1 is not the header %s", path, GRAPH_HEADER);
            continue;
        }
        char *end;
        errno = 0;
        long a = strtol(line, &end, 10);
        long b = *end == ',' ? strtol(end + 1, &end, 10) : -1;
        float d = *end == ',' ? strtof(end + 1, &end) : NAN;
        if (errno || *end || a < 0 || b <= a || (size_t)b >= id.faces || !(d >= 0) ||
            !(d < id.threshold))
            st = fr_fail(FR_E_FORMAT, "%s: line %zu is not an edge \"a,b,distance\" with a < b "
                         "< %zu and a distance under %.9g", path, number, id.faces,
                         (double)id.threshold);
        else if (!distance_of(rows + (size_t)a * id.dim, rows + (size_t)b * id.dim, id.dim, d,
                              &exact))
            st = fr_fail(FR_E_FORMAT, "%s: line %zu: faces %ld and %ld are %.6g apart, not "
                         "%.6g: not the graph of these embeddings (edited?)", path, number, a,
                         b, exact, (double)d);
        else
            st = add_edge(out, &capacity, (fr_cluster_edge){(int32_t)a, (int32_t)b, d});
    }
    if (!st && ferror(f))
        st = fr_fail(FR_E_IO, "%s: read error", path);
    if (!st && number == 0)
        st = fr_fail(FR_E_FORMAT, "%s: empty (no header line)", path);
    free(line);
    fclose(f);
    if (st) {
        fr_cluster_edges_free(out);
        return st;
    }
    *threshold = id.threshold;
    return FR_OK;
}
