/*
 * cmd_merge.c: `facerec merge SHARD... -o OUT`: the outputs of a job split with --shard
 * (cli/shard.h) put back together, byte for byte what one run of the command writes:
 * embeddings (.npy rows, .paths, .faces.csv with its row numbers shifted, .inputs.csv with
 * its input indexes and first rows shifted, .model once: the same in every shard), identify / detect /
 * pairs tables (the CSV header once), distance-matrix row blocks (one .npy, the row paths
 * joined, the column paths once).
 *
 * Before writing anything it checks that the arguments are one whole job: every shard
 * 0..N-1 once, the same command, input list, model and result-changing options, and each
 * file the size its manifest says. It then streams the shards in order through a 1 MiB buffer
 * (memory does not grow with the job), hashing each file as it goes; a file whose SHA-256 is
 * not its manifest's fails the merge and nothing is committed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "cli/shard.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"
#include "core/sha256.h"
#include "match/table.h"

#define BUFFER_BYTES (1 << 20)
#define MAX_ROLES 5

typedef enum join_kind {
    JOIN_NPY_ROWS, /* float32 (rows, d) arrays stacked: one header for the sum of the rows */
    JOIN_TABLE,    /* CSV with one header line (or JSON Lines), rows concatenated */
    JOIN_CONCAT,   /* text concatenated */
    JOIN_SAME,     /* the same file in every shard: written once */
    JOIN_RENUMBER, /* CSV whose first field is the main output's row: shifted per shard */
    JOIN_INPUTS    /* embed's OUT.inputs.csv: the input index and the first row shifted */
} join_kind;

typedef struct role_rule {
    const char *role;
    join_kind kind;
} role_rule;

typedef struct command_rule {
    const char *command;
    role_rule roles[MAX_ROLES];
} command_rule;

/* The roles are the files each command writes (cmd_*.c); "main" is OUT itself. */
static const command_rule rules[] = {
    {"embed",
     {{"main", JOIN_NPY_ROWS},
      {".paths", JOIN_CONCAT},
      {".faces.csv", JOIN_RENUMBER},
      {".inputs.csv", JOIN_INPUTS},
      {".model", JOIN_SAME}}},
    {"distmat",
     {{"main", JOIN_NPY_ROWS}, {".rows.paths", JOIN_CONCAT}, {".cols.paths", JOIN_SAME}}},
    {"identify", {{"main", JOIN_TABLE}}},
    {"detect", {{"main", JOIN_TABLE}}},
    {"pairs", {{"main", JOIN_TABLE}}},
    {"cluster", {{"main", JOIN_TABLE}, {".graph.json", JOIN_SAME}}},
};

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec merge SHARD... -o OUT\n\n"
            "Joins the outputs of one job run in parts with --shard I/N (embed, identify,\n"
            "detect, pairs, distmat, cluster's graph) into what a single run of it writes, byte\n"
            "for byte: OUT and the files beside it (OUT's .paths, .inputs.csv, .model,\n"
            ".faces.csv, .rows.paths, .graph.json, ...). Each SHARD\n"
            "is a shard's main output (its OUT.manifest.json beside it) or the manifest itself,\n"
            "in any order. The merge streams (memory does not grow with the job).\n\n"
            "Refused, with the file named and nothing written: a missing or repeated shard,\n"
            "shards of another input list, model, command or result-changing option (exit 2);\n"
            "a file truncated or changed since its shard wrote it, or an unreadable manifest\n"
            "(exit 4). When some inputs failed in the shards (unreadable or without a face, each\n"
            "named in that shard's log), the merge writes everything and exits 3, as one run\n"
            "would.\n\n"
            "  -o, --output FILE   the merged output (its format must be the shards': .csv,\n"
            "                      .jsonl or .npy as they are)\n"
            "  --quiet             no summary on stderr\n");
}

/* ---- reading a shard's file, hashed as it goes ------------------------------------------ */

typedef struct reader {
    FILE *file;
    const fr_manifest_file *expect;
    fr_sha256 *sha;
    unsigned char *buffer;
    size_t pos, len;
} reader;

/* The size check needs no reading: a truncated file is refused before anything is written. */
static fr_status check_size(const fr_manifest_file *f)
{
    struct stat sb;
    if (stat(f->path, &sb) != 0)
        return fr_fail(FR_E_IO, "%s: %s", f->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fr_fail(FR_E_IO, "%s: not a regular file", f->path);
    if ((unsigned long long)sb.st_size != (unsigned long long)f->bytes)
        return fr_fail(FR_E_FORMAT, "%s: %lld bytes, its manifest says %zu: truncated or "
                       "changed since its shard wrote it (run that shard again)", f->path,
                       (long long)sb.st_size, f->bytes);
    return FR_OK;
}

static fr_status reader_open(reader *r, const fr_manifest_file *f, unsigned char *buffer)
{
    memset(r, 0, sizeof *r);
    r->expect = f;
    r->buffer = buffer;
    fr_status st = check_size(f);
    if (st)
        return st;
    if (!(r->file = fopen(f->path, "rb")))
        return fr_fail(FR_E_IO, "%s: %s", f->path, strerror(errno));
    st = fr_sha256_new(&r->sha);
    if (st) {
        fclose(r->file);
        r->file = NULL;
    }
    return st;
}

static int refill(reader *r)
{
    r->pos = 0;
    r->len = fread(r->buffer, 1, BUFFER_BYTES, r->file);
    fr_sha256_update(r->sha, r->buffer, r->len);
    return r->len > 0;
}

static int reader_getc(reader *r)
{
    if (r->pos == r->len && !refill(r))
        return EOF;
    return r->buffer[r->pos++];
}

/* Everything left of the file to out. */
static fr_status copy_rest(reader *r, FILE *out)
{
    do {
        if (r->len > r->pos && fwrite(r->buffer + r->pos, 1, r->len - r->pos, out) != r->len - r->pos)
            return fr_fail(FR_E_IO, "write failed: %s", strerror(errno));
        r->pos = r->len;
    } while (refill(r));
    return FR_OK;
}

/* Reads to the end and compares the digest with the manifest's. */
static fr_status reader_close(reader *r)
{
    fr_status st = FR_OK;
    while (r->file && refill(r))
        r->pos = r->len;
    if (r->file && ferror(r->file))
        st = fr_fail(FR_E_IO, "%s: read error", r->expect->path);
    if (r->file)
        fclose(r->file);
    r->file = NULL;
    if (r->sha) {
        char hex[65];
        fr_sha256_finish(r->sha, hex);
        r->sha = NULL;
        if (!st && strcmp(hex, r->expect->sha256) != 0)
            st = fr_fail(FR_E_FORMAT, "%s: its content is not what its manifest recorded "
                         "(SHA-256 %.12s..., manifest %.12s...): changed since its shard wrote "
                         "it (run that shard again)", r->expect->path, hex, r->expect->sha256);
    }
    return st;
}

static void reader_abort(reader *r)
{
    if (r->file)
        fclose(r->file);
    fr_sha256_free(r->sha);
    r->file = NULL;
    r->sha = NULL;
}

/* The header line (through '\n') of a CSV file into line (NUL-terminated). */
static fr_status read_line(reader *r, char *line, size_t size)
{
    size_t n = 0;
    int c;
    while ((c = reader_getc(r)) != EOF && c != '\n')
        if (n + 1 < size)
            line[n++] = (char)c;
    line[n] = 0;
    if (c != '\n' || n + 1 >= size)
        return fr_fail(FR_E_FORMAT, "%s: no header line", r->expect->path);
    return FR_OK;
}

/* ---- the joins ------------------------------------------------------------------------------ */

typedef struct job {
    fr_shard_manifest *shards; /* in shard order */
    size_t count;
    unsigned char *buffer;
    size_t *rows; /* per shard: rows of its main .npy (JOIN_NPY_ROWS), for JOIN_RENUMBER */
    size_t total_rows;
} job;

static const fr_manifest_file *file_of(const job *j, size_t shard, const char *role)
{
    return fr_manifest_find(&j->shards[shard], role);
}

/* The shape of each shard's array, checked against the others and its file size. */
static fr_status npy_shapes(job *j, const char *role, size_t *columns)
{
    j->total_rows = 0;
    for (size_t s = 0; s < j->count; s++) {
        const fr_manifest_file *f = file_of(j, s, role);
        FILE *file = fopen(f->path, "rb");
        if (!file)
            return fr_fail(FR_E_IO, "%s: %s", f->path, strerror(errno));
        size_t got = fread(j->buffer, 1, 65536, file);
        fclose(file);
        fr_npy arr;
        size_t data_at;
        fr_status st = fr_npy_parse_header(f->path, j->buffer, got, &arr, &data_at);
        if (st)
            return st;
        if (arr.dtype != FR_NPY_F32 || arr.ndim != 2)
            return fr_fail(FR_E_FORMAT, "%s: not a float32 (rows, columns) array", f->path);
        if (s == 0)
            *columns = arr.shape[1];
        if (arr.shape[1] != *columns)
            return fr_fail(FR_E_FORMAT, "%s has %zu columns, %s %zu", f->path, arr.shape[1],
                           file_of(j, 0, role)->path, *columns);
        size_t bytes;
        if (!fr_mul_size(arr.count, sizeof(float), &bytes) || f->bytes - data_at != bytes)
            return fr_fail(FR_E_FORMAT, "%s: %zu bytes of data for a %zu x %zu array",
                           f->path, f->bytes - data_at, arr.shape[0], arr.shape[1]);
        j->rows[s] = arr.shape[0];
        j->total_rows += arr.shape[0];
    }
    return FR_OK;
}

static fr_status join_npy(job *j, const char *role, FILE *out)
{
    size_t columns = 0;
    fr_status st = npy_shapes(j, role, &columns);
    size_t shape[2] = {j->total_rows, columns};
    if (!st)
        st = fr_npy_write_header(out, FR_NPY_F32, 2, shape);
    for (size_t s = 0; s < j->count && !st; s++) {
        reader r;
        st = reader_open(&r, file_of(j, s, role), j->buffer);
        fr_npy arr;
        size_t data_at = 0;
        if (!st && refill(&r))
            st = fr_npy_parse_header(r.expect->path, r.buffer, r.len, &arr, &data_at);
        if (!st) {
            r.pos = data_at;
            st = copy_rest(&r, out);
        }
        fr_status closed = r.file ? reader_close(&r) : FR_OK;
        if (!st)
            st = closed;
        reader_abort(&r);
    }
    return st;
}

/* A decimal number (digits only, no more than 18) in text[0..n), into *value. */
static int parse_count(const char *text, size_t n, size_t *value)
{
    *value = 0;
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        *value = *value * 10 + (size_t)(text[i] - '0');
    }
    return 1;
}

#define INPUT_FIELDS 7 /* input,path,status,faces,rows,first_row,error */

/* The records of one shard's OUT.inputs.csv (after its header): each with its input index
 * shifted by the shard's first input and its first row by the rows of the shards before it,
 * the other fields as they are (a quoted path or error may hold ',' '"' or '\n'). */
static fr_status join_inputs(job *j, size_t s, reader *r, size_t row0, FILE *out)
{
    const fr_shard_manifest *m = &j->shards[s];
    size_t cap = 4096, len = 0, number = 0, next_input = 0;
    char *record = fr_malloc(cap, "a record");
    fr_status st = record ? FR_OK : FR_E_NOMEM;
    int c = 0;
    while (!st && c != EOF) {
        size_t starts[INPUT_FIELDS + 1], fields = 1;
        int quoted = 0;
        len = 0;
        starts[0] = 0;
        while ((c = reader_getc(r)) != EOF && (quoted || c != '\n')) {
            if (c == '"')
                quoted = !quoted;
            else if (c == ',' && !quoted && fields++ < INPUT_FIELDS)
                starts[fields - 1] = len + 1;
            if (len + 1 == cap) {
                char *grown = realloc(record, cap *= 2);
                if (!grown) {
                    st = fr_fail(FR_E_NOMEM, "out of memory reading %s", r->expect->path);
                    break;
                }
                record = grown;
            }
            record[len++] = (char)c;
        }
        if (st || (c == EOF && len == 0))
            break;
        number++;
        size_t input = 0, rows = 0, first = 0, end[INPUT_FIELDS] = {0};
        for (size_t f = 0; fields == INPUT_FIELDS && f < INPUT_FIELDS; f++)
            end[f] = f + 1 < INPUT_FIELDS ? starts[f + 1] - 1 : len;
        int ok = c == '\n' && fields == INPUT_FIELDS &&
                 parse_count(record, end[0], &input) && input >= next_input &&
                 input < m->end - m->first &&
                 parse_count(record + starts[4], end[4] - starts[4], &rows) &&
                 (end[5] == starts[5] ? rows == 0
                                      : parse_count(record + starts[5], end[5] - starts[5],
                                                    &first) &&
                                            rows > 0 && first + rows <= j->rows[s]);
        if (!ok) {
            st = fr_fail(FR_E_FORMAT, "%s: record %zu is not an input's row (input,path,status,"
                         "faces,rows,first_row,error) of this shard", r->expect->path, number);
            break;
        }
        next_input = input + 1;
        fprintf(out, "%zu,%.*s,", m->first + input, (int)(end[4] - starts[1]),
                record + starts[1]);
        if (rows)
            fprintf(out, "%zu", row0 + first);
        fprintf(out, ",%.*s\n", (int)(len - starts[6]), record + starts[6]);
    }
    free(record);
    return st;
}

static fr_status join_text(job *j, const char *role, join_kind kind, FILE *out)
{
    char header[4096], first[4096] = "";
    fr_status st = FR_OK;
    size_t shards = kind == JOIN_SAME ? 1 : j->count;
    for (size_t s = 1; kind == JOIN_SAME && s < j->count && !st; s++)
        if (strcmp(file_of(j, s, role)->sha256, file_of(j, 0, role)->sha256) != 0)
            st = fr_fail(FR_E_FORMAT, "%s and %s differ: %s", file_of(j, 0, role)->path,
                         file_of(j, s, role)->path,
                         strcmp(role, ".model") == 0
                             ? "shards of different models (identify would compare embeddings "
                               "of two networks)"
                             : "the shards do not share one column set");
    for (size_t s = 0; s < j->count && !st; s++)
        st = check_size(file_of(j, s, role));
    size_t row0 = 0;
    for (size_t s = 0; s < shards && !st; s++) {
        reader r;
        st = reader_open(&r, file_of(j, s, role), j->buffer);
        int csv_header = kind == JOIN_RENUMBER || kind == JOIN_INPUTS ||
                         (kind == JOIN_TABLE &&
                          fr_table_format_for(r.expect->path, 0) == FR_TABLE_CSV);
        if (!st && csv_header) {
            st = read_line(&r, header, sizeof header);
            if (!st && s == 0) {
                snprintf(first, sizeof first, "%s", header);
                fprintf(out, "%s\n", header);
            } else if (!st && strcmp(header, first) != 0) {
                st = fr_fail(FR_E_FORMAT, "%s: its header is not %s's", r.expect->path,
                             file_of(j, 0, role)->path);
            }
        }
        if (!st && kind == JOIN_RENUMBER) {
            /* records: "<row>,<fields>\n", a quoted field may hold ',' '"' or '\n' */
            size_t expect = 0;
            int c;
            while (!st && (c = reader_getc(&r)) != EOF) {
                size_t row = 0;
                int digits = 0;
                for (; c >= '0' && c <= '9'; c = reader_getc(&r), digits++)
                    row = row * 10 + (size_t)(c - '0');
                if (!digits || c != ',' || row != expect || expect >= j->rows[s]) {
                    st = fr_fail(FR_E_FORMAT, "%s: record %zu does not start with its row "
                                 "number", r.expect->path, expect + 1);
                    break;
                }
                fprintf(out, "%zu,", row0 + row);
                int quoted = 0;
                while ((c = reader_getc(&r)) != EOF) {
                    fputc(c, out);
                    if (c == '"')
                        quoted = !quoted;
                    else if (c == '\n' && !quoted)
                        break;
                }
                expect++;
            }
            if (!st && expect != j->rows[s])
                st = fr_fail(FR_E_FORMAT, "%s: %zu records for %zu rows", r.expect->path,
                             expect, j->rows[s]);
            row0 += j->rows[s];
        } else if (!st && kind == JOIN_INPUTS) {
            st = join_inputs(j, s, &r, row0, out);
            row0 += j->rows[s];
        } else if (!st) {
            st = copy_rest(&r, out);
        }
        fr_status closed = st ? FR_OK : reader_close(&r);
        if (!st)
            st = closed;
        reader_abort(&r);
    }
    if (!st && ferror(out))
        st = fr_fail(FR_E_IO, "write failed: %s", strerror(errno));
    return st;
}

/* ---- checking the set of shards -------------------------------------------------------------- */

static int compare_index(const void *a, const void *b)
{
    const fr_shard_manifest *x = a, *y = b;
    return x->shard.index < y->shard.index ? -1 : x->shard.index > y->shard.index;
}

static const command_rule *rule_for(const char *command)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].command, command) == 0)
            return &rules[i];
    return NULL;
}

static const role_rule *role_for(const command_rule *c, const char *role)
{
    for (size_t i = 0; i < MAX_ROLES && c->roles[i].role; i++)
        if (strcmp(c->roles[i].role, role) == 0)
            return &c->roles[i];
    return NULL;
}

/* Exit code: FR_EXIT_OK when the shards are one whole job. */
static int check_job(job *j, const command_rule **rule)
{
    const fr_shard_manifest *a = &j->shards[0];
    for (size_t s = 1; s < j->count; s++) {
        const fr_shard_manifest *b = &j->shards[s];
        char in_a[600], in_b[600];
        if (strcmp(a->command, b->command) != 0)
            fr_cli_error("merge", "%s is a shard of `%s`, %s of `%s`: not one job", a->output,
                         a->command, b->output, b->command);
        else if (strcmp(a->facerec, b->facerec) != 0)
            fr_cli_error("merge", "%s was written by facerec %s, %s by %s: their results may "
                         "differ", a->output, a->facerec, b->output, b->facerec);
        else if (a->shard.count != b->shard.count)
            fr_cli_error("merge", "%s is shard %zu of %zu, %s shard %zu of %zu: not one job",
                         a->output, a->shard.index, a->shard.count, b->output, b->shard.index,
                         b->shard.count);
        else if (a->total != b->total || strcmp(a->inputs_sha256, b->inputs_sha256) != 0)
            fr_cli_error("merge", "%s and %s list different inputs (%zu, SHA-256 %.12s... and "
                         "%zu, %.12s...): shards of different runs", a->output, b->output,
                         a->total, a->inputs_sha256, b->total, b->inputs_sha256);
        else if (strcmp(a->model, b->model) != 0)
            fr_cli_error("merge", "%s was made with the model %s, %s with %s", a->output,
                         a->model, b->output, b->model);
        else if (fr_manifest_option_difference(a, b, in_a, in_b, sizeof in_a))
            fr_cli_error("merge", "%s was made with %s, %s with %s: their results differ",
                         a->output, in_a, b->output, in_b);
        else if (a->unit != b->unit)
            fr_cli_error("merge", "%s cuts its inputs in units of %zu, %s of %zu (another "
                         "distance engine?)", a->output, a->unit, b->output, b->unit);
        else if (a->file_count != b->file_count)
            fr_cli_error("merge", "%s has %zu output files, %s %zu", a->output, a->file_count,
                         b->output, b->file_count);
        else
            continue;
        return FR_EXIT_USAGE;
    }
    qsort(j->shards, j->count, sizeof *j->shards, compare_index);
    for (size_t s = 1; s < j->count; s++)
        if (j->shards[s].shard.index == j->shards[s - 1].shard.index) {
            fr_cli_error("merge", "%s and %s are both shard %zu of %zu", j->shards[s - 1].output,
                         j->shards[s].output, j->shards[s].shard.index, a->shard.count);
            return FR_EXIT_USAGE;
        }
    size_t n = j->shards[0].shard.count;
    if (j->count != n) {
        char list[512] = "";
        size_t used = 0, missing = 0, given = 0;
        for (size_t i = 0; i < n; i++) {
            if (given < j->count && j->shards[given].shard.index == i) {
                given++;
                continue;
            }
            if (missing++ < 20 && used + 24 < sizeof list)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%zu",
                                         missing > 1 ? ", " : "", i);
        }
        fr_cli_error("merge", "shard%s %s%s of %zu missing (%zu given)", missing > 1 ? "s" : "",
                     list, missing > 20 ? ", ..." : "", n, j->count);
        return FR_EXIT_USAGE;
    }
    *rule = rule_for(a->command);
    if (!*rule) {
        fr_cli_error("merge", "%s: shards of `%s` have nothing to merge", a->output, a->command);
        return FR_EXIT_USAGE;
    }
    for (size_t s = 0; s < j->count; s++)
        for (size_t f = 0; f < j->shards[s].file_count; f++) {
            const char *role = j->shards[s].files[f].role;
            if (!role_for(*rule, role) || !file_of(j, 0, role)) {
                fr_cli_error("merge", "%s: an output `%s` that %s does not have", j->shards[s].path,
                             role, j->shards[0].path);
                return FR_EXIT_FATAL;
            }
        }
    return FR_EXIT_OK;
}

/* ---- the command ------------------------------------------------------------------------------ */

static fr_status merge(job *j, const command_rule *rule, const char *output)
{
    fr_output outs[MAX_ROLES];
    memset(outs, 0, sizeof outs);
    const role_rule *roles[MAX_ROLES];
    size_t count = 0;
    for (size_t i = 0; i < MAX_ROLES && rule->roles[i].role; i++)
        if (file_of(j, 0, rule->roles[i].role))
            roles[count++] = &rule->roles[i];
    fr_status st = FR_OK;
    for (size_t i = 0; i < count && !st; i++) {
        int main_file = strcmp(roles[i]->role, "main") == 0;
        char *name = main_file ? NULL : fr_side_path(output, roles[i]->role);
        if (!main_file && !name)
            st = FR_E_NOMEM;
        if (!st)
            st = fr_output_open(&outs[i], main_file ? output : name, FR_OUTPUT_REGULAR);
        free(name);
    }
    /* the main output first: its row counts shift the rows of the faces table */
    for (size_t i = 0; i < count && !st; i++) {
        if (roles[i]->kind == JOIN_NPY_ROWS)
            st = join_npy(j, roles[i]->role, outs[i].file);
        else if (roles[i]->kind == JOIN_TABLE && i == 0)
            st = join_text(j, roles[i]->role, roles[i]->kind, outs[i].file);
    }
    for (size_t i = 1; i < count && !st; i++)
        st = join_text(j, roles[i]->role, roles[i]->kind, outs[i].file);
    if (!st && strcmp(rule->command, "embed") == 0 && j->total_rows == 0)
        st = fr_fail(FR_E_IO, "no shard holds an embedding: one run over these inputs writes "
                     "nothing either; %s not written", output);
    /* as the command commits them: files that go together (embed's, distmat's, a cluster
     * graph's) as one set with its record (OUT.sha256, core/file.h), a table alone */
    if (!st && (count > 1 || rule->roles[0].kind == JOIN_NPY_ROWS)) {
        char *record = fr_side_path(output, ".sha256");
        st = record ? fr_output_commit_set(outs, count, record) : FR_E_NOMEM;
        free(record);
    } else if (!st && count) {
        st = fr_output_commit(&outs[0]);
    }
    for (size_t i = 0; i < count; i++)
        fr_output_abort(&outs[i]);
    return st;
}

int fr_cmd_merge(int argc, char **argv)
{
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *output = NULL;
    int quiet = 0, c;
    fr_cli_options_begin(options);
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return FR_EXIT_OK;
        default: fr_cli_bad_option(); return FR_EXIT_USAGE;
        }
    }
    if (!output || optind >= argc) {
        fr_cli_error("merge", "give the shards' outputs and -o OUT (see --help)");
        return FR_EXIT_USAGE;
    }
    if (strcmp(output, "-") == 0) {
        fr_cli_error("merge", "-o -: a merge writes OUT and the files beside it; give a file");
        return FR_EXIT_USAGE;
    }
    double started = fr_seconds();
    job j;
    memset(&j, 0, sizeof j);
    j.count = (size_t)(argc - optind);
    j.shards = fr_calloc(j.count, sizeof *j.shards, "the shards");
    j.rows = fr_calloc(j.count, sizeof *j.rows, "the shards");
    j.buffer = fr_malloc(BUFFER_BYTES, "a copy buffer");
    int code = j.shards && j.rows && j.buffer ? FR_EXIT_OK : fr_cli_fail("merge", FR_E_NOMEM);
    for (size_t s = 0; s < j.count && !code; s++) {
        fr_status st = fr_manifest_load(argv[optind + (int)s], &j.shards[s]);
        if (st)
            code = fr_cli_fail("merge", st == FR_E_INVALID ? FR_E_FORMAT : st);
    }
    const command_rule *rule = NULL;
    if (!code)
        code = check_job(&j, &rule);
    const char *shard_main = code ? NULL : file_of(&j, 0, "main")->path;
    if (!code && rule->roles[0].kind == JOIN_TABLE &&
        fr_table_format_for(output, 0) != fr_table_format_for(shard_main, 0)) {
        fr_cli_error("merge", "%s: the shards are %s (%s): name the output to match", output,
                     fr_table_format_for(shard_main, 0) == FR_TABLE_CSV ? "CSV" : "JSON Lines",
                     shard_main);
        code = FR_EXIT_USAGE;
    }
    fr_status st = FR_OK;
    if (!code && (st = merge(&j, rule, output)))
        code = fr_cli_fail("merge", st == FR_E_INVALID ? FR_E_FORMAT : st);
    size_t failures = 0;
    for (size_t s = 0; !code && s < j.count; s++)
        failures += j.shards[s].failures;
    if (!code)
        failures += j.shards[0].list_errors;
    if (!code && !quiet)
        fprintf(stderr, "merge: %zu shards of `%s` over %zu inputs in %.2f s -> %s\n", j.count,
                rule->command, j.shards[0].total, fr_seconds() - started, output);
    if (!code && failures) {
        fr_cli_error("merge", "%zu inputs failed in the shards (unreadable, or without a "
                     "face: each is named in its shard's log); the rest is merged", failures);
        code = FR_EXIT_PARTIAL;
    }
    for (size_t s = 0; j.shards && s < j.count; s++)
        fr_shard_manifest_free(&j.shards[s]);
    free(j.shards);
    free(j.rows);
    free(j.buffer);
    return code;
}
