/*
 * store.c: the identity database on SQLite.
 *
 * A database file is input like any other: it may come from someone else, be edited by hand
 * or be crafted. So every connection runs in SQLite's defensive mode with triggers, views and
 * untrusted schema functions off (a trigger planted in a file would otherwise run inside our
 * transactions: one that deleted every person ran during an enrolment that reported success),
 * opening checks that the schema is exactly the one this file creates (no trigger, no view, no
 * other collation on a name), and every value read is checked before it is used: NULL where
 * the schema says NOT NULL, names with control characters, vectors of the wrong size or with
 * non-finite values, names out of order. Rows and strings are bounded (MAX_VALUE_BYTES).
 */
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"

#define FORMAT_NAME "facerec-identities"
/* Version 2 added the images table (the SHA-256 of each embedding's image file, the face it
 * is and its box): a version 1 file opens as it is, and becomes version 2 in the transaction
 * of its first enrolment (migrate()), whose images are the first to have hashes. */
#define FORMAT_VERSION "2"
#define FORMAT_VERSION_NUMBER 2
#define MAX_NAME_BYTES 256
/* The longest string or BLOB a database may hold (SQLite's SQLITE_LIMIT_LENGTH): the
 * largest embedding (the pixels model's 12288 floats) is 48 KiB, a path a few KiB. */
#define MAX_VALUE_BYTES (1 << 20)

struct fr_store {
    sqlite3 *db;
    char *path;
    char model[512];       /* the recorded model key, "" when none yet */
    char model_text[512];  /* the same for people: "dlib (preprocess faceapi, weights ...)" */
    char threshold[64];    /* the threshold tuned for the database (db set), "" when none */
    char arch[64];         /* the recorded model's architecture and preprocessing ("" none) */
    char preprocess[64];
    int version;           /* the file's format version: 1 (no images table) or 2 */
    char weights[4096];    /* the weights file recorded with the model ("" none) */
    char weights_sha256[80];
    char *use_weights;     /* what the next enrolment records (fr_store_set_weights) */
    char use_weights_sha256[65];
};

/* The schema, one statement per object: created from this table, and checked against it
 * (SQLite keeps each CREATE statement's text; the automatic indexes of PRIMARY KEY and UNIQUE
 * have none). */
static const struct schema_object {
    const char *type, *name, *sql;
    int since; /* the format version that added it (1: the first) */
} SCHEMA[] = {
    {"table", "meta", "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", 1},
    {"index", "sqlite_autoindex_meta_1", NULL, 1},
    {"table", "people", "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                        " created TEXT NOT NULL)", 1},
    {"index", "sqlite_autoindex_people_1", NULL, 1},
    {"table", "embeddings", "CREATE TABLE embeddings(id INTEGER PRIMARY KEY,"
                            " person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,"
                            " vector BLOB NOT NULL, source TEXT NOT NULL, created TEXT NOT NULL)",
     1},
    {"index", "embeddings_person", "CREATE INDEX embeddings_person ON embeddings(person)", 1},
    /* one row per embedding enrolled with its image's hash: face is its index in the
     * detector's order (-1: the image was the face, no detection), the box NULL without one */
    {"table", "images", "CREATE TABLE images(embedding INTEGER PRIMARY KEY"
                        " REFERENCES embeddings(id) ON DELETE CASCADE, sha256 TEXT NOT NULL,"
                        " face INTEGER NOT NULL, x1 REAL, y1 REAL, x2 REAL, y2 REAL)", 2},
    {"index", "images_sha256", "CREATE INDEX images_sha256 ON images(sha256, face)", 2},
};
#define SCHEMA_OBJECTS (sizeof SCHEMA / sizeof SCHEMA[0])
static const char *FORMAT_ROWS =
    "INSERT INTO meta VALUES('format', '" FORMAT_NAME "'), ('version', '" FORMAT_VERSION "')";

#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

static int is_sha256_hex(const char *text);

static fr_status db_fail(fr_store *s, fr_status status, const char *doing)
{
    return fr_fail(status, "%s: %s: %s", s->path, doing, sqlite3_errmsg(s->db));
}

static fr_status exec(fr_store *s, const char *sql, const char *doing)
{
    char *message = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &message) == SQLITE_OK)
        return FR_OK;
    fr_status st = fr_fail(FR_E_IO, "%s: %s: %s", s->path, doing, message ? message : "failed");
    sqlite3_free(message);
    return st;
}

static fr_status prepare(fr_store *s, const char *sql, sqlite3_stmt **stmt)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return db_fail(s, FR_E_IO, "cannot prepare a query");
    return FR_OK;
}

/* Ends a transaction: commit when st is FR_OK, else roll back keeping st's message. */
static fr_status finish(fr_store *s, fr_status st)
{
    if (!st)
        return exec(s, "COMMIT", "cannot commit");
    char saved[1024];
    fr_error_save(saved, sizeof saved);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    fr_error_restore(saved);
    return st;
}

static const char *meta_value(fr_store *s, const char *key, char *buffer, size_t size)
{
    sqlite3_stmt *q;
    buffer[0] = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL) !=
        SQLITE_OK)
        return buffer;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(q, 0);
        snprintf(buffer, size, "%s", v ? (const char *)v : "");
    }
    sqlite3_finalize(q);
    return buffer;
}

/* "dlib (preprocess faceapi, weights sha256 5677...)"; a model made by `facerec train` (its
 * source says so) is named by its source too, which tells it from its base. */
static void describe(const char *arch, const char *preprocess, const char *sha,
                     const char *source, char *buffer, size_t size)
{
    int trained = strstr(source, " trained by facerec train ") != NULL;
    int n;
    if (sha[0])
        n = snprintf(buffer, size, "%s (preprocess %s, weights sha256 %.12s...%s%.200s)", arch,
                     preprocess, sha, trained ? ": " : "", trained ? source : "");
    else
        n = snprintf(buffer, size, "%s (preprocess %s)", arch, preprocess);
    (void)n;
}

static void load_model(fr_store *s)
{
    char sha[80], source[256];
    meta_value(s, "model", s->model, sizeof s->model);
    meta_value(s, "arch", s->arch, sizeof s->arch);
    meta_value(s, "preprocess", s->preprocess, sizeof s->preprocess);
    meta_value(s, "source_sha256", sha, sizeof sha);
    meta_value(s, "source", source, sizeof source);
    meta_value(s, "threshold", s->threshold, sizeof s->threshold);
    meta_value(s, "weights", s->weights, sizeof s->weights);
    meta_value(s, "weights_sha256", s->weights_sha256, sizeof s->weights_sha256);
    describe(s->arch, s->preprocess, sha, source, s->model_text, sizeof s->model_text);
}

/* Is this SQLite file one of ours? (An empty file is a new database to SQLite.) */
static fr_status check_format(fr_store *s)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'format'", -1, &q,
                                NULL);
    if (rc == SQLITE_NOTADB)
        return fr_fail(FR_E_FORMAT, "%s: not an SQLite database", s->path);
    if (rc != SQLITE_OK)
        return fr_fail(FR_E_FORMAT, "%s: not a facerec identity database (%s)", s->path,
                       sqlite3_errmsg(s->db));
    rc = sqlite3_step(q);
    int ok = rc == SQLITE_ROW && sqlite3_column_text(q, 0) &&
             strcmp((const char *)sqlite3_column_text(q, 0), FORMAT_NAME) == 0;
    sqlite3_finalize(q);
    if (!ok)
        return fr_fail(FR_E_FORMAT, "%s: not a facerec identity database", s->path);
    char version[32];
    meta_value(s, "version", version, sizeof version);
    s->version = strcmp(version, "1") == 0 ? 1 : strcmp(version, FORMAT_VERSION) == 0 ? 2 : 0;
    if (!s->version)
        return fr_fail(FR_E_UNSUPPORTED, "%s: identity database version %.20s; this facerec "
                       "reads versions 1 to " FORMAT_VERSION, s->path, version);
    return FR_OK;
}

/* Every object in the file is one SCHEMA creates, with the very statement it uses: a
 * trigger, a view, another column, collation or index is a database someone changed. (The
 * statistics tables of ANALYZE only steer query plans, and are let be.) */
static fr_status check_schema(fr_store *s)
{
    sqlite3_stmt *q;
    fr_status st = prepare(s, "SELECT type, name, sql FROM sqlite_schema", &q);
    if (st)
        return st;
    int seen[SCHEMA_OBJECTS] = {0};
    int rc;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(q, 0);
        const char *name = (const char *)sqlite3_column_text(q, 1);
        const char *sql = (const char *)sqlite3_column_text(q, 2);
        if (!type || !name)
            st = fr_fail(FR_E_FORMAT, "%s: corrupt schema (an object without a type or name)",
                         s->path);
        if (st || (strcmp(type, "table") == 0 && strncmp(name, "sqlite_stat", 11) == 0))
            continue;
        size_t i = 0;
        while (i < SCHEMA_OBJECTS && (strcmp(type, SCHEMA[i].type) != 0 ||
                                      strcmp(name, SCHEMA[i].name) != 0))
            i++;
        if (i < SCHEMA_OBJECTS && SCHEMA[i].since > s->version)
            st = fr_fail(FR_E_FORMAT, "%s: a version %d database holding the %s '%s' of version "
                         "%d: refused (a changed or crafted database)", s->path, s->version,
                         type, name, SCHEMA[i].since);
        else if (i == SCHEMA_OBJECTS)
            st = fr_fail(FR_E_FORMAT, "%s: holds a %s '%.60s' that facerec does not create: "
                         "refused (a changed or crafted database; `sqlite3 %s .schema` shows it)",
                         s->path, type, name, s->path);
        else if ((sql == NULL) != (SCHEMA[i].sql == NULL) ||
                 (sql && strcmp(sql, SCHEMA[i].sql) != 0))
            st = fr_fail(FR_E_FORMAT, "%s: its %s '%s' is not defined as facerec defines it: "
                         "refused (a changed or crafted database; `sqlite3 %s .schema` shows it)",
                         s->path, type, name, s->path);
        else
            seen[i] = 1;
    }
    if (!st && rc != SQLITE_DONE)
        st = db_fail(s, FR_E_FORMAT, "cannot read the schema");
    sqlite3_finalize(q);
    for (size_t i = 0; i < SCHEMA_OBJECTS && !st; i++)
        if (!seen[i] && SCHEMA[i].since <= s->version)
            st = fr_fail(FR_E_FORMAT, "%s: the %s '%s' is missing: not a complete facerec "
                         "identity database", s->path, SCHEMA[i].type, SCHEMA[i].name);
    return st;
}

/* The settings that make a file from elsewhere safe to open: defensive mode (no writes to
 * the schema or to shadow tables by SQL), no triggers, no views, no functions with side
 * effects in the schema, values bounded. */
static fr_status harden(fr_store *s)
{
    static const int off[][2] = {{SQLITE_DBCONFIG_DEFENSIVE, 1},
                                 {SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0},
                                 {SQLITE_DBCONFIG_ENABLE_TRIGGER, 0},
                                 {SQLITE_DBCONFIG_ENABLE_VIEW, 0},
                                 {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0}};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        int now = -1;
        if (sqlite3_db_config(s->db, off[i][0], off[i][1], &now) != SQLITE_OK || now != off[i][1])
            return fr_fail(FR_E_INTERNAL, "%s: SQLite %s cannot be made safe for a database from "
                           "elsewhere (option %d)", s->path, sqlite3_libversion(), off[i][0]);
    }
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES);
    sqlite3_busy_timeout(s->db, 10000);
    fr_status st = exec(s, "PRAGMA foreign_keys = ON", "cannot enable foreign keys");
    if (!st)
        st = exec(s, "PRAGMA cell_size_check = ON", "cannot enable page checks");
    return st;
}

static fr_status connect(fr_store *s, int flags)
{
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        fr_status st = fr_fail(FR_E_IO, "%s: cannot open: %s", s->path,
                               s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        s->db = NULL;
        return st;
    }
    sqlite3_extended_result_codes(s->db, 1);
    return harden(s);
}

/* A read-only open of a database whose last change was interrupted (killed in the middle of
 * a commit): SQLite must first roll the change back from its journal, which a read-only
 * connection cannot write. Where this process may write the file and its folder, a
 * read-write connection does that and closes; elsewhere the message says what happened. */
static fr_status roll_back_journal(fr_store *s)
{
    char *folder = fr_strdup(s->path);
    if (!folder)
        return FR_E_NOMEM;
    char *slash = strrchr(folder, '/');
    if (slash)
        slash[slash == folder] = 0;
    int writable = access(s->path, W_OK) == 0 && access(slash ? folder : ".", W_OK) == 0;
    free(folder);
    if (!writable)
        return fr_fail(FR_E_IO, "%s: its last change was interrupted and must be rolled back "
                       "from %s-journal before it can be read, which needs write access to "
                       "both files and their folder: the data is intact; run any facerec "
                       "command on it as a user who may write there (e.g. facerec db list)",
                       s->path, s->path);
    sqlite3_close(s->db);
    s->db = NULL;
    fr_status st = connect(s, SQLITE_OPEN_READWRITE);
    if (!st)
        st = exec(s, "SELECT count(*) FROM sqlite_schema", "cannot roll back the journal");
    sqlite3_close(s->db);
    s->db = NULL;
    return st ? st : connect(s, SQLITE_OPEN_READONLY);
}

/* Before a write: the file's pages are sound (SQLite's quick_check: b-tree structure, page
 * accounting, NOT NULL). A change written into a damaged file can make it worse, e.g. an
 * enrolment reported done into a file whose index was out of order (fuzz_store found one)
 * left a file that no longer opened; such a file is refused before anything is written. */
static fr_status check_pages(fr_store *s)
{
    sqlite3_stmt *q;
    fr_status st = prepare(s, "PRAGMA quick_check(1)", &q);
    if (st)
        return st;
    int rc = sqlite3_step(q);
    const unsigned char *verdict = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    if (verdict && strcmp((const char *)verdict, "ok") == 0) {
        sqlite3_finalize(q);
        return FR_OK;
    }
    char why[256];
    snprintf(why, sizeof why, "%s", verdict ? (const char *)verdict : sqlite3_errmsg(s->db));
    for (char *c = why; *c; c++) /* one line, whatever SQLite says */
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    sqlite3_finalize(q);
    return fr_fail(FR_E_FORMAT, "%s: the file is damaged (SQLite: %s); nothing was written to "
                   "it: restore it from a copy, or let sqlite3's .recover rebuild what it can",
                   s->path, why);
}

fr_status fr_store_open(const char *path, fr_store_mode mode, fr_store **out)
{
    struct stat info;
    int exists = stat(path, &info) == 0;
    if (!exists && mode != FR_STORE_CREATE)
        return fr_fail(FR_E_NOT_FOUND, "%s: no such database (facerec enroll --db %s creates "
                       "one)", path, path);
    if (exists && S_ISDIR(info.st_mode))
        return fr_fail(FR_E_IO, "%s: is a directory, not a database", path);
    /* a FIFO would block SQLite's open for ever, a device is not a database */
    if (exists && !S_ISREG(info.st_mode))
        return fr_fail(FR_E_IO, "%s: not a regular file (%s), not a database", path,
                       fr_file_kind(info.st_mode));
    /* an empty file made to be the database (enroll's temporary: core/file.h) is a new one */
    int fresh = !exists || (mode == FR_STORE_CREATE && info.st_size == 0);
    fr_store *s = fr_calloc(1, sizeof *s, "a database");
    if (!s)
        return FR_E_NOMEM;
    s->path = fr_strdup(path);
    if (!s->path) {
        free(s);
        return FR_E_NOMEM;
    }
    int flags = mode == FR_STORE_READ    ? SQLITE_OPEN_READONLY
                : mode == FR_STORE_WRITE ? SQLITE_OPEN_READWRITE
                                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    fr_status st = connect(s, flags);
    /* the first read finds out whether a hot journal must be rolled back */
    if (!st && exists && mode == FR_STORE_READ &&
        sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) ==
            SQLITE_READONLY_ROLLBACK)
        st = roll_back_journal(s);
    if (!st && fresh) {
        st = exec(s, "BEGIN", "cannot start a transaction");
        for (size_t i = 0; i < SCHEMA_OBJECTS && !st; i++)
            if (SCHEMA[i].sql)
                st = exec(s, SCHEMA[i].sql, "cannot create the tables");
        if (!st)
            st = exec(s, FORMAT_ROWS, "cannot create the tables");
        st = finish(s, st);
    }
    if (!st)
        st = check_format(s);
    if (!st)
        st = check_schema(s);
    if (!st && mode != FR_STORE_READ && !fresh)
        st = check_pages(s);
    if (st) {
        fr_store_close(s);
        return st;
    }
    load_model(s);
    *out = s;
    return FR_OK;
}

void fr_store_close(fr_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s->use_weights);
    free(s);
}

fr_status fr_store_set_weights(fr_store *s, const char *path, const char *sha256)
{
    free(s->use_weights);
    s->use_weights = NULL;
    s->use_weights_sha256[0] = 0;
    if (!path)
        return FR_OK;
    if (!is_sha256_hex(sha256) || strlen(path) >= sizeof s->weights)
        return fr_fail(FR_E_INVALID, "%.200s: not a weights file path and its SHA-256", path);
    s->use_weights = fr_strdup(path);
    if (!s->use_weights)
        return FR_E_NOMEM;
    snprintf(s->use_weights_sha256, sizeof s->use_weights_sha256, "%s", sha256);
    return FR_OK;
}

fr_status fr_store_weights(const fr_store *s, const char **path, const char **sha256)
{
    *path = s->weights;
    *sha256 = s->weights_sha256;
    if (!s->weights[0] && !s->weights_sha256[0])
        return FR_OK;
    int controls = 0;
    for (const unsigned char *c = (const unsigned char *)s->weights; *c; c++)
        controls |= *c < 0x20 || *c == 0x7f;
    if (!s->weights[0] || controls || !is_sha256_hex(s->weights_sha256))
        return fr_fail(FR_E_FORMAT, "%s: the recorded weights file is not a path and a SHA-256, "
                       "which facerec never writes (a changed database; --model and --weights "
                       "choose the model instead)", s->path);
    return FR_OK;
}

void fr_store_model_key(const fr_model_info *m, char *buffer, size_t size)
{
    snprintf(buffer, size, "%s/%s/%d/%s", m->arch, fr_preprocess_name(m->preprocess),
             m->embedding_size, m->source_sha256 && m->source_sha256[0] ? m->source_sha256 : "-");
}

const char *fr_store_model(const fr_store *s)
{
    return s->model;
}

const char *fr_store_model_text(const fr_store *s)
{
    return s->model_text;
}

const char *fr_store_arch(const fr_store *s)
{
    return s->arch;
}

const char *fr_store_preprocess(const fr_store *s)
{
    return s->preprocess;
}

fr_status fr_store_threshold(const fr_store *s, float *out)
{
    *out = 0;
    if (!s->threshold[0])
        return FR_OK;
    /* a value someone wrote into the file by hand is checked as --threshold is */
    char *end;
    double v = strtod(s->threshold, &end);
    if (*end != 0 || !(v > 0) || v > 4)
        return fr_fail(FR_E_FORMAT, "%s: the stored threshold '%.20s' is not a distance in "
                       "(0, 4] (facerec db set --db %s --threshold D replaces it)", s->path,
                       s->threshold, s->path);
    *out = (float)v;
    return FR_OK;
}

fr_status fr_store_set_threshold(fr_store *s, float threshold)
{
    char value[64];
    snprintf(value, sizeof value, "%.9g", threshold);
    sqlite3_stmt *q;
    fr_status st = prepare(s, threshold > 0 ? "INSERT OR REPLACE INTO meta VALUES('threshold', ?)"
                                            : "DELETE FROM meta WHERE key = 'threshold'",
                           &q);
    if (st)
        return st;
    if (threshold > 0)
        sqlite3_bind_text(q, 1, value, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, FR_E_IO, "cannot record the threshold");
    sqlite3_finalize(q);
    if (!st)
        snprintf(s->threshold, sizeof s->threshold, "%s", threshold > 0 ? value : "");
    return st;
}

fr_status fr_store_check_model(fr_store *s, const fr_model_info *m)
{
    char key[512];
    fr_store_model_key(m, key, sizeof key);
    if (!s->model[0] || strcmp(key, s->model) == 0)
        return FR_OK;
    char mine[512];
    describe(m->arch, fr_preprocess_name(m->preprocess), m->source_sha256 ? m->source_sha256 : "",
             m->source ? m->source : "", mine, sizeof mine);
    return fr_fail(FR_E_MODEL_MISMATCH, "%s holds embeddings of %s; this run uses %s: their "
                   "distances mean nothing together (use the database's model, or another "
                   "database)", s->path, s->model_text, mine);
}

fr_status fr_store_check_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return fr_fail(FR_E_INVALID, "a person's name cannot be empty");
    if (n > MAX_NAME_BYTES)
        return fr_fail(FR_E_INVALID, "name '%.40s...' is longer than %d bytes", name,
                       MAX_NAME_BYTES);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f) /* not echoed: it would break the one-line message */
            return fr_fail(FR_E_INVALID, "a name contains a control character (byte 0x%02x "
                           "after '%.*s')", *p, (int)(p - (const unsigned char *)name), name);
    return FR_OK;
}

static fr_status record_model(fr_store *s, const fr_model_info *m)
{
    char key[512], dim[32];
    fr_store_model_key(m, key, sizeof key);
    snprintf(dim, sizeof dim, "%d", m->embedding_size);
    const char *rows[][2] = {{"model", key},
                             {"arch", m->arch},
                             {"preprocess", fr_preprocess_name(m->preprocess)},
                             {"embedding_size", dim},
                             {"source", m->source ? m->source : ""},
                             {"source_sha256", m->source_sha256 ? m->source_sha256 : ""}};
    sqlite3_stmt *q;
    fr_status st = prepare(s, "INSERT OR REPLACE INTO meta VALUES(?, ?)", &q);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && !st; i++) {
        sqlite3_bind_text(q, 1, rows[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, rows[i][1], -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot record the model");
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return st;
}

static fr_status record_weights(fr_store *s)
{
    const char *rows[][2] = {{"weights", s->use_weights},
                             {"weights_sha256", s->use_weights_sha256}};
    sqlite3_stmt *q;
    fr_status st = prepare(s, "INSERT OR IGNORE INTO meta VALUES(?, ?)", &q);
    for (size_t i = 0; i < 2 && !st; i++) {
        sqlite3_bind_text(q, 1, rows[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, rows[i][1], -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot record the weights file");
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return st;
}

/* The id of a person, created when new. */
static fr_status person_id(fr_store *s, sqlite3_stmt *find, sqlite3_stmt *add, const char *name,
                           sqlite3_int64 *id)
{
    sqlite3_bind_text(find, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(find);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(find, 0);
    sqlite3_reset(find);
    if (rc == SQLITE_ROW)
        return FR_OK;
    if (rc != SQLITE_DONE)
        return db_fail(s, FR_E_IO, "cannot look up a person");
    sqlite3_bind_text(add, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(add);
    sqlite3_reset(add);
    if (rc != SQLITE_DONE)
        return db_fail(s, FR_E_IO, "cannot add a person");
    *id = sqlite3_last_insert_rowid(s->db);
    return FR_OK;
}

/* A version 1 file becomes version 2 (inside the caller's write transaction: rolled back with
 * it): the images table is added, empty, so the embeddings enrolled before have no hash. */
static fr_status migrate(fr_store *s)
{
    char version[32];
    if (strcmp(meta_value(s, "version", version, sizeof version), "1") != 0)
        return FR_OK; /* another process migrated it since this one opened it */
    fr_status st = FR_OK;
    for (size_t i = 0; i < SCHEMA_OBJECTS && !st; i++)
        if (SCHEMA[i].since == 2)
            st = exec(s, SCHEMA[i].sql, "cannot add the images table (format version 2)");
    if (!st)
        st = exec(s, "UPDATE meta SET value = '" FORMAT_VERSION "' WHERE key = 'version'",
                  "cannot record the format version");
    return st;
}

static int is_sha256_hex(const char *text)
{
    size_t n = 0;
    for (; text[n]; n++)
        if (!((text[n] >= '0' && text[n] <= '9') || (text[n] >= 'a' && text[n] <= 'f')))
            return 0;
    return n == 64;
}

/* The person an image (its hash) and face are already enrolled as, into name (or "" when
 * not enrolled). */
static fr_status enrolled_as(fr_store *s, sqlite3_stmt *q, const fr_image_record *image,
                             char *name, size_t size)
{
    name[0] = 0;
    sqlite3_bind_text(q, 1, image->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, image->face);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(q, 0);
        snprintf(name, size, "%s", text ? (const char *)text : "?");
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, FR_E_IO, "cannot look up an image's hash");
    return FR_OK;
}

static fr_status add_image(fr_store *s, sqlite3_stmt *q, sqlite3_int64 embedding,
                           const fr_image_record *image)
{
    sqlite3_bind_int64(q, 1, embedding);
    sqlite3_bind_text(q, 2, image->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, image->face);
    for (int k = 0; k < 4; k++)
        if (image->has_box)
            sqlite3_bind_double(q, 4 + k, (double)image->box[k]);
        else
            sqlite3_bind_null(q, 4 + k);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? FR_OK : db_fail(s, FR_E_IO, "cannot record an image's hash");
}

fr_status fr_store_find_image(fr_store *s, const char *sha256, char *name, size_t size)
{
    name[0] = 0;
    if (s->version < 2)
        return FR_OK;
    sqlite3_stmt *q;
    fr_status st = prepare(s, "SELECT p.name FROM images i JOIN embeddings e ON e.id = "
                              "i.embedding JOIN people p ON p.id = e.person WHERE i.sha256 = ? "
                              "ORDER BY i.embedding LIMIT 1", &q);
    if (st)
        return st;
    sqlite3_bind_text(q, 1, sha256, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(q, 0);
        snprintf(name, size, "%s", text ? (const char *)text : "?");
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FR_OK
                                                 : db_fail(s, FR_E_IO, "cannot look up an image");
}

fr_status fr_store_enroll(fr_store *s, const fr_model_info *m, const fr_enrollment *items,
                          size_t count)
{
    return fr_store_enroll_images(s, m, items, NULL, count, NULL);
}

fr_status fr_store_enroll_images(fr_store *s, const fr_model_info *m,
                                 const fr_enrollment *items, const fr_image_record *images,
                                 size_t count, char **already)
{
    for (size_t i = 0; i < count; i++) {
        fr_status st = fr_store_check_name(items[i].name);
        if (st)
            return st;
        for (int d = 0; d < m->embedding_size; d++)
            if (!isfinite(items[i].vector[d]))
                return fr_fail(FR_E_INVALID, "%s: its embedding holds a non-finite value; "
                               "nothing enrolled", items[i].source ? items[i].source : items[i].name);
        if (images && images[i].sha256 &&
            (!is_sha256_hex(images[i].sha256) || images[i].face < -1))
            return fr_fail(FR_E_INVALID, "%s: not a SHA-256 in hex and a face index; nothing "
                           "enrolled", items[i].source ? items[i].source : items[i].name);
        for (int k = 0; images && images[i].has_box && k < 4; k++)
            if (!isfinite(images[i].box[k]))
                return fr_fail(FR_E_INVALID, "%s: its face box holds a non-finite value; "
                               "nothing enrolled", items[i].source ? items[i].source : items[i].name);
    }
    for (size_t i = 0; already && i < count; i++)
        already[i] = NULL;
    /* IMMEDIATE: take the write lock now, so the model check below stays true until commit */
    fr_status st = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (st)
        return st;
    load_model(s);
    st = fr_store_check_model(s, m);
    if (!st && !s->model[0])
        st = record_model(s, m);
    if (!st && images)
        st = migrate(s);
    if (!st && s->use_weights) /* the weights file, where none is recorded yet */
        st = record_weights(s);
    sqlite3_stmt *find = NULL, *add = NULL, *insert = NULL, *seen = NULL, *hash = NULL;
    if (!st)
        st = prepare(s, "SELECT id FROM people WHERE name = ?", &find);
    if (!st)
        st = prepare(s, "INSERT INTO people(name, created) VALUES(?, " NOW ")", &add);
    if (!st)
        st = prepare(s, "INSERT INTO embeddings(person, vector, source, created) "
                        "VALUES(?, ?, ?, " NOW ")", &insert);
    if (!st && images)
        st = prepare(s, "SELECT p.name FROM images i JOIN embeddings e ON e.id = i.embedding "
                        "JOIN people p ON p.id = e.person WHERE i.sha256 = ? AND i.face = ? "
                        "LIMIT 1", &seen);
    if (!st && images)
        st = prepare(s, "INSERT INTO images VALUES(?, ?, ?, ?, ?, ?, ?)", &hash);
    int bytes = m->embedding_size * (int)sizeof(float);
    for (size_t i = 0; i < count && !st; i++) {
        const fr_image_record *image = images && images[i].sha256 ? &images[i] : NULL;
        if (image) {
            /* already enrolled (before, or earlier in this batch: the transaction sees its own
             * rows): not added again */
            char name[MAX_NAME_BYTES + 1];
            st = enrolled_as(s, seen, image, name, sizeof name);
            if (!st && name[0]) {
                if (already && !(already[i] = fr_strdup(name)))
                    st = FR_E_NOMEM;
                continue;
            }
        }
        sqlite3_int64 id = 0;
        if (!st)
            st = person_id(s, find, add, items[i].name, &id);
        if (st)
            break;
        sqlite3_bind_int64(insert, 1, id);
        sqlite3_bind_blob(insert, 2, items[i].vector, bytes, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, items[i].source, -1, SQLITE_STATIC);
        if (sqlite3_step(insert) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot add an embedding");
        sqlite3_reset(insert);
        if (!st && image)
            st = add_image(s, hash, sqlite3_last_insert_rowid(s->db), image);
    }
    sqlite3_finalize(find);
    sqlite3_finalize(add);
    sqlite3_finalize(insert);
    sqlite3_finalize(seen);
    sqlite3_finalize(hash);
    st = finish(s, st);
    if (st)
        for (size_t i = 0; already && i < count; i++) {
            free(already[i]);
            already[i] = NULL;
        }
    char version[32];
    s->version = strcmp(meta_value(s, "version", version, sizeof version), "1") == 0 ? 1 : 2;
    load_model(s);
    return st;
}

/* Column `column` of a row as text, refused when NULL (the schema says NOT NULL: only a
 * changed or damaged file has it) or holding a NUL byte; what and id name it in the message. */
static fr_status text_column(fr_store *s, sqlite3_stmt *q, int column, const char *what,
                             sqlite3_int64 id, const char **out)
{
    const char *text = (const char *)sqlite3_column_text(q, column);
    if (!text && sqlite3_errcode(s->db) == SQLITE_NOMEM)
        return fr_fail(FR_E_NOMEM, "%s: out of memory reading a row", s->path);
    if (!text || strlen(text) != (size_t)sqlite3_column_bytes(q, column))
        return fr_fail(FR_E_FORMAT, "%s: the %s %lld is %s, which facerec never writes "
                       "(a changed or damaged database)", s->path, what, (long long)id,
                       text ? "text with a NUL byte" : "NULL");
    *out = text;
    return FR_OK;
}

/* A person's name as read: text, and a name facerec could have stored. */
static fr_status name_column(fr_store *s, sqlite3_stmt *q, int column, sqlite3_int64 id,
                             const char **out)
{
    fr_status st = text_column(s, q, column, "name of person", id, out);
    if (!st && fr_store_check_name(*out) != FR_OK)
        st = fr_fail(FR_E_FORMAT, "%s: person %lld: %s, which facerec never stores (a changed "
                     "database)", s->path, (long long)id, fr_error_message());
    return st;
}

fr_status fr_store_people(fr_store *s, fr_person **people, size_t *count)
{
    sqlite3_stmt *q;
    fr_status st = prepare(s, "SELECT p.name, p.created, COUNT(e.id), p.id FROM people p "
                              "LEFT JOIN embeddings e ON e.person = p.id "
                              "GROUP BY p.id ORDER BY p.name COLLATE BINARY", &q);
    if (st)
        return st;
    fr_person *list = NULL;
    size_t n = 0, capacity = 0;
    int rc;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            fr_person *grown = realloc(list, capacity * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory listing people");
                break;
            }
            list = grown;
        }
        sqlite3_int64 id = sqlite3_column_int64(q, 3);
        const char *name = NULL, *created = NULL;
        st = name_column(s, q, 0, id, &name);
        if (!st)
            st = text_column(s, q, 1, "creation time of person", id, &created);
        if (st)
            break;
        list[n].name = fr_strdup(name);
        list[n].created = fr_strdup(created);
        list[n].embeddings = (size_t)sqlite3_column_int64(q, 2);
        n++;
        if (!list[n - 1].name || !list[n - 1].created)
            st = FR_E_NOMEM;
    }
    if (!st && rc != SQLITE_DONE)
        st = db_fail(s, rc == SQLITE_CORRUPT ? FR_E_FORMAT : FR_E_IO, "cannot list people");
    sqlite3_finalize(q);
    if (st) {
        fr_store_people_free(list, n);
        return st;
    }
    *people = list;
    *count = n;
    return FR_OK;
}

void fr_store_people_free(fr_person *people, size_t count)
{
    for (size_t i = 0; people && i < count; i++) {
        free(people[i].name);
        free(people[i].created);
    }
    free(people);
}

int fr_store_version(const fr_store *s)
{
    return s->version;
}

void fr_store_images_free(fr_image_row *rows, size_t count)
{
    for (size_t i = 0; rows && i < count; i++) {
        free(rows[i].person);
        free(rows[i].source);
        free(rows[i].created);
    }
    free(rows);
}

/* The image columns (sha256, face, x1..y2 from column first on) of a row, checked: NULL
 * throughout for an embedding without a record, else a hash, a face index, and a box of four
 * finite numbers or none. */
static fr_status image_columns(fr_store *s, sqlite3_stmt *q, int first, sqlite3_int64 id,
                               fr_image_row *row)
{
    row->sha256[0] = 0;
    row->face = -1;
    row->has_box = 0;
    if (sqlite3_column_type(q, first) == SQLITE_NULL)
        return FR_OK; /* enrolled before hashes were recorded (or the LEFT JOIN found none) */
    const char *sha = (const char *)sqlite3_column_text(q, first);
    int boxed = 0;
    for (int k = 0; k < 4; k++)
        boxed += sqlite3_column_type(q, first + 2 + k) != SQLITE_NULL;
    int ok = sha && is_sha256_hex(sha) &&
             sqlite3_column_type(q, first + 1) == SQLITE_INTEGER &&
             sqlite3_column_int64(q, first + 1) >= -1 &&
             sqlite3_column_int64(q, first + 1) <= 1000000 && (boxed == 0 || boxed == 4);
    for (int k = 0; ok && boxed && k < 4; k++) {
        int type = sqlite3_column_type(q, first + 2 + k);
        double v = sqlite3_column_double(q, first + 2 + k);
        ok = (type == SQLITE_FLOAT || type == SQLITE_INTEGER) && isfinite(v);
        row->box[k] = (float)v;
    }
    if (!ok)
        return fr_fail(FR_E_FORMAT, "%s: the image record of embedding %lld is not a SHA-256, a "
                       "face index and a box, which facerec never writes (a changed or damaged "
                       "database)", s->path, (long long)id);
    snprintf(row->sha256, sizeof row->sha256, "%s", sha);
    row->face = (int)sqlite3_column_int64(q, first + 1);
    row->has_box = boxed == 4;
    return FR_OK;
}

fr_status fr_store_images(fr_store *s, fr_image_row **rows, size_t *count)
{
    sqlite3_stmt *q;
    /* a version 1 file has no images table: the same columns, NULL */
    fr_status st = prepare(s, s->version >= 2
                                  ? "SELECT e.id, p.id, p.name, e.source, e.created, i.sha256, "
                                    "i.face, i.x1, i.y1, i.x2, i.y2 FROM embeddings e JOIN "
                                    "people p ON p.id = e.person LEFT JOIN images i ON "
                                    "i.embedding = e.id ORDER BY p.name COLLATE BINARY, e.id"
                                  : "SELECT e.id, p.id, p.name, e.source, e.created, NULL, NULL, "
                                    "NULL, NULL, NULL, NULL FROM embeddings e JOIN people p ON "
                                    "p.id = e.person ORDER BY p.name COLLATE BINARY, e.id",
                           &q);
    if (st)
        return st;
    fr_image_row *list = NULL;
    size_t n = 0, capacity = 0;
    int rc;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            fr_image_row *grown = realloc(list, capacity * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory listing embeddings");
                break;
            }
            list = grown;
        }
        fr_image_row *row = &list[n];
        memset(row, 0, sizeof *row);
        row->id = sqlite3_column_int64(q, 0);
        const char *name = NULL, *source = NULL, *created = NULL;
        st = name_column(s, q, 2, sqlite3_column_int64(q, 1), &name);
        if (!st)
            st = text_column(s, q, 3, "source of embedding", row->id, &source);
        if (!st)
            st = text_column(s, q, 4, "creation time of embedding", row->id, &created);
        if (!st)
            st = image_columns(s, q, 5, row->id, row);
        if (st)
            break;
        row->person = fr_strdup(name);
        row->source = fr_strdup(source);
        row->created = fr_strdup(created);
        n++;
        if (!row->person || !row->source || !row->created)
            st = FR_E_NOMEM;
    }
    if (!st && rc != SQLITE_DONE)
        st = db_fail(s, rc == SQLITE_CORRUPT ? FR_E_FORMAT : FR_E_IO, "cannot list embeddings");
    sqlite3_finalize(q);
    if (st) {
        fr_store_images_free(list, n);
        return st;
    }
    *rows = list;
    *count = n;
    return FR_OK;
}

/* The embedding a reference names: an id (digits) that exists, else the one embedding whose
 * source is the reference. *id and *person get it. */
static fr_status find_embedding(fr_store *s, sqlite3_stmt *by_id, sqlite3_stmt *by_source,
                                const char *ref, sqlite3_int64 *id, sqlite3_int64 *person)
{
    size_t digits = strspn(ref, "0123456789");
    if (digits > 0 && digits < 19 && ref[digits] == 0) {
        sqlite3_bind_int64(by_id, 1, strtoll(ref, NULL, 10));
        int rc = sqlite3_step(by_id);
        if (rc == SQLITE_ROW) {
            *id = sqlite3_column_int64(by_id, 0);
            *person = sqlite3_column_int64(by_id, 1);
        }
        sqlite3_reset(by_id);
        if (rc == SQLITE_ROW)
            return FR_OK;
        if (rc != SQLITE_DONE)
            return db_fail(s, FR_E_IO, "cannot look up an embedding");
    }
    sqlite3_bind_text(by_source, 1, ref, -1, SQLITE_STATIC);
    size_t found = 0;
    char ids[160] = "";
    size_t used = 0;
    int rc;
    while ((rc = sqlite3_step(by_source)) == SQLITE_ROW) {
        if (found++ == 0) {
            *id = sqlite3_column_int64(by_source, 0);
            *person = sqlite3_column_int64(by_source, 1);
        }
        if (used < sizeof ids - 24)
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%lld", found > 1 ? ", " : "",
                                     (long long)sqlite3_column_int64(by_source, 0));
    }
    sqlite3_reset(by_source);
    if (rc != SQLITE_DONE)
        return db_fail(s, FR_E_IO, "cannot look up an embedding");
    if (found == 0)
        return fr_fail(FR_E_NOT_FOUND, "%s: no embedding with the id or image path '%s' (facerec "
                       "db list --images shows them); nothing removed", s->path, ref);
    if (found > 1)
        return fr_fail(FR_E_INVALID, "%s: %zu embeddings come from '%s' (ids %s): give the id "
                       "of the one to remove; nothing removed", s->path, found, ref, ids);
    return FR_OK;
}

fr_status fr_store_remove_images(fr_store *s, const char *const *refs, size_t count,
                                 size_t *removed, size_t *people_removed)
{
    if (removed)
        *removed = 0;
    if (people_removed)
        *people_removed = 0;
    fr_status st = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (st)
        return st;
    sqlite3_stmt *by_id = NULL, *by_source = NULL, *drop = NULL, *left = NULL, *drop_person = NULL;
    st = prepare(s, "SELECT id, person FROM embeddings WHERE id = ?", &by_id);
    if (!st)
        st = prepare(s, "SELECT id, person FROM embeddings WHERE source = ? ORDER BY id", &by_source);
    if (!st)
        st = prepare(s, "DELETE FROM embeddings WHERE id = ?", &drop);
    if (!st)
        st = prepare(s, "SELECT COUNT(*) FROM embeddings WHERE person = ?", &left);
    if (!st)
        st = prepare(s, "DELETE FROM people WHERE id = ?", &drop_person);
    /* every reference resolved before anything is removed: an id and the path of one
     * embedding name it once */
    sqlite3_int64 *ids = fr_calloc(2 * count + 2, sizeof *ids, "embedding ids");
    if (!st && !ids)
        st = FR_E_NOMEM;
    for (size_t i = 0; i < count && !st; i++)
        st = find_embedding(s, by_id, by_source, refs[i], &ids[2 * i], &ids[2 * i + 1]);
    size_t gone = 0, people = 0;
    for (size_t i = 0; i < count && !st; i++) {
        int again = 0;
        for (size_t j = 0; j < i && !again; j++)
            again = ids[2 * j] == ids[2 * i];
        if (again)
            continue;
        sqlite3_bind_int64(drop, 1, ids[2 * i]);
        if (sqlite3_step(drop) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot remove an embedding");
        sqlite3_reset(drop);
        gone++;
    }
    for (size_t i = 0; i < count && !st; i++) {
        int again = 0;
        for (size_t j = 0; j < i && !again; j++)
            again = ids[2 * j + 1] == ids[2 * i + 1];
        if (again)
            continue;
        sqlite3_bind_int64(left, 1, ids[2 * i + 1]);
        if (sqlite3_step(left) != SQLITE_ROW)
            st = db_fail(s, FR_E_IO, "cannot count a person's embeddings");
        int empty = !st && sqlite3_column_int64(left, 0) == 0;
        sqlite3_reset(left);
        if (empty) {
            sqlite3_bind_int64(drop_person, 1, ids[2 * i + 1]);
            if (sqlite3_step(drop_person) != SQLITE_DONE)
                st = db_fail(s, FR_E_IO, "cannot remove a person");
            sqlite3_reset(drop_person);
            people++;
        }
    }
    free(ids);
    sqlite3_finalize(by_id);
    sqlite3_finalize(by_source);
    sqlite3_finalize(drop);
    sqlite3_finalize(left);
    sqlite3_finalize(drop_person);
    st = finish(s, st);
    if (!st && removed)
        *removed = gone;
    if (!st && people_removed)
        *people_removed = people;
    return st;
}

fr_status fr_store_remove(fr_store *s, const char *const *names, size_t count)
{
    fr_status st = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (st)
        return st;
    sqlite3_stmt *q;
    st = prepare(s, "DELETE FROM people WHERE name = ?", &q);
    for (size_t i = 0; i < count && !st; i++) {
        int repeated = 0; /* a name given twice is removed once */
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = strcmp(names[j], names[i]) == 0;
        if (repeated)
            continue;
        sqlite3_bind_text(q, 1, names[i], -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot remove a person");
        else if (sqlite3_changes(s->db) == 0)
            st = fr_fail(FR_E_NOT_FOUND, "%s: no person named '%s'; nothing removed", s->path,
                         names[i]);
        sqlite3_reset(q);
    }
    if (q)
        sqlite3_finalize(q);
    return finish(s, st);
}

fr_status fr_store_rename(fr_store *s, const char *from, const char *to)
{
    fr_status st = fr_store_check_name(to);
    if (st)
        return st;
    st = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (st)
        return st;
    sqlite3_stmt *q;
    st = prepare(s, "SELECT COUNT(*) FROM people WHERE name = ?", &q);
    if (!st) {
        sqlite3_bind_text(q, 1, to, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_ROW)
            st = db_fail(s, FR_E_IO, "cannot look up a person");
        else if (sqlite3_column_int64(q, 0) > 0 && strcmp(from, to) != 0)
            st = fr_fail(FR_E_INVALID, "%s: '%s' already exists (remove it first, or enroll "
                         "its images under the other name)", s->path, to);
        sqlite3_finalize(q);
    }
    if (!st)
        st = prepare(s, "UPDATE people SET name = ? WHERE name = ?", &q);
    if (!st) {
        sqlite3_bind_text(q, 1, to, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, from, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_fail(s, FR_E_IO, "cannot rename");
        else if (sqlite3_changes(s->db) == 0)
            st = fr_fail(FR_E_NOT_FOUND, "%s: no person named '%s'", s->path, from);
        sqlite3_finalize(q);
    }
    return finish(s, st);
}

static fr_status count_rows(fr_store *s, const char *sql, size_t *out)
{
    sqlite3_stmt *q;
    fr_status st = prepare(s, sql, &q);
    if (st)
        return st;
    if (sqlite3_step(q) == SQLITE_ROW)
        *out = (size_t)sqlite3_column_int64(q, 0);
    else
        st = db_fail(s, FR_E_IO, "cannot count rows");
    sqlite3_finalize(q);
    return st;
}

fr_status fr_store_load(fr_store *s, const fr_model_info *m, fr_gallery *out)
{
    fr_status st = fr_store_check_model(s, m);
    if (st)
        return st;
    fr_gallery g;
    memset(&g, 0, sizeof g);
    g.dim = (size_t)m->embedding_size;
    /* one read transaction: the counts and the rows agree */
    st = exec(s, "BEGIN", "cannot start a transaction");
    if (st)
        return st;
    st = count_rows(s, "SELECT COUNT(*) FROM embeddings", &g.count);
    if (!st)
        st = count_rows(s, "SELECT COUNT(*) FROM people", &g.people);
    if (!st && g.count == 0)
        st = fr_fail(FR_E_NOT_FOUND, "%s: the database is empty (facerec enroll adds people)",
                     s->path);
    if (!st) {
        g.names = fr_calloc(g.people, sizeof *g.names, "names");
        g.sources = fr_calloc(g.count, sizeof *g.sources, "sources");
        g.person = fr_calloc(g.count, sizeof *g.person, "labels");
        size_t bytes;
        g.vectors = fr_mul_size(g.count, g.dim * sizeof(float), &bytes)
                        ? fr_malloc(bytes, "the gallery's embeddings")
                        : NULL;
        if (!g.names || !g.sources || !g.person || !g.vectors)
            st = FR_E_NOMEM;
    }
    sqlite3_stmt *q = NULL;
    if (!st)
        st = prepare(s, "SELECT p.id, p.name, e.vector, e.source, e.id FROM embeddings e "
                        "JOIN people p ON p.id = e.person ORDER BY p.name COLLATE BINARY, e.id",
                     &q);
    size_t row = 0, person = 0;
    sqlite3_int64 last = -1;
    int rc = SQLITE_DONE;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (row == g.count)
            break;
        sqlite3_int64 id = sqlite3_column_int64(q, 0), embedding = sqlite3_column_int64(q, 4);
        const char *name = NULL, *source = NULL;
        st = name_column(s, q, 1, id, &name);
        if (!st)
            st = text_column(s, q, 3, "source of embedding", embedding, &source);
        if (st)
            break;
        if (id != last) {
            /* fr_gallery_find and the matcher need names in strictly increasing strcmp
             * order: a second person of one name, or another order, is not ours */
            if (person == g.people || (person > 0 && strcmp(g.names[person - 1], name) >= 0)) {
                st = fr_fail(FR_E_FORMAT, "%s: person %lld ('%s') %s, which facerec never "
                             "stores (a changed database)", s->path, (long long)id, name,
                             person == g.people ? "is one person too many"
                                                : "repeats a name or is out of name order");
                break;
            }
            g.names[person++] = fr_strdup(name);
            last = id;
            if (!g.names[person - 1]) {
                st = FR_E_NOMEM;
                break;
            }
        }
        int type = sqlite3_column_type(q, 2); /* before the value is read: not converted */
        const void *blob = sqlite3_column_blob(q, 2);
        size_t bytes = (size_t)sqlite3_column_bytes(q, 2);
        if (bytes != g.dim * sizeof(float) || !blob || type != SQLITE_BLOB) {
            st = fr_fail(FR_E_FORMAT, "%s: embedding %lld of '%s' has %zu bytes, not %zu", s->path,
                         (long long)embedding, name, bytes, g.dim * sizeof(float));
            break;
        }
        float *vector = g.vectors + row * g.dim;
        memcpy(vector, blob, bytes);
        for (size_t d = 0; d < g.dim && !st; d++)
            if (!isfinite(vector[d]))
                st = fr_fail(FR_E_FORMAT, "%s: embedding %lld of '%s' (from %s) holds a "
                             "non-finite value, which facerec never stores (a changed or damaged "
                             "database)", s->path, (long long)embedding, name, source);
        g.person[row] = (int32_t)(person - 1);
        g.sources[row] = st ? NULL : fr_strdup(source);
        row++;
        if (!st && !g.sources[row - 1])
            st = FR_E_NOMEM;
    }
    if (!st && rc != SQLITE_DONE && rc != SQLITE_ROW)
        st = db_fail(s, rc == SQLITE_CORRUPT ? FR_E_FORMAT : FR_E_IO, "cannot read the embeddings");
    else if (!st && row != g.count)
        st = fr_fail(FR_E_FORMAT, "%s: %zu embeddings, of which %zu belong to a person: a "
                     "changed database", s->path, g.count, row);
    g.people = person;
    if (q)
        sqlite3_finalize(q);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (st) {
        g.count = row;
        fr_gallery_free(&g);
        return st;
    }
    *out = g;
    return FR_OK;
}

fr_status fr_store_data_version(fr_store *s, int64_t *out)
{
    sqlite3_stmt *q;
    fr_status st = prepare(s, "PRAGMA data_version", &q);
    if (st)
        return st;
    if (sqlite3_step(q) == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    else
        st = db_fail(s, FR_E_IO, "cannot read the data version");
    sqlite3_finalize(q);
    return st;
}

void fr_gallery_free(fr_gallery *g)
{
    if (!g)
        return;
    for (size_t i = 0; g->names && i < g->people; i++)
        free(g->names[i]);
    for (size_t i = 0; g->sources && i < g->count; i++)
        free(g->sources[i]);
    free(g->names);
    free(g->sources);
    free(g->person);
    free(g->vectors);
    memset(g, 0, sizeof *g);
}

int32_t fr_gallery_find(const fr_gallery *g, const char *name)
{
    /* names are sorted (ORDER BY p.name: SQLite's BINARY collation, i.e. memcmp) */
    size_t lo = 0, hi = g->people;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->names[mid], name);
        if (c == 0)
            return (int32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

fr_status fr_gallery_means(const fr_gallery *g, float **out)
{
    float *means = fr_calloc(g->people * g->dim, sizeof *means, "mean embeddings");
    if (!means)
        return FR_E_NOMEM;
    for (size_t i = 0; i < g->count; i++) {
        float *mean = means + (size_t)g->person[i] * g->dim;
        for (size_t d = 0; d < g->dim; d++)
            mean[d] += g->vectors[i * g->dim + d];
    }
    fr_l2_normalize(means, g->people, g->dim);
    *out = means;
    return FR_OK;
}
