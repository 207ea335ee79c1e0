/*
 * test_store_hostile.c: the identity database as untrusted input. Files someone else made or
 * changed: NULL in NOT NULL columns (identify, verify and `db list` crashed in fr_strdup), a
 * trigger planted in the file (it ran inside an enrolment that reported success, and deleted
 * every person), a case-insensitive collation on names (verify missed people), duplicate or
 * unordered names, vectors of another type or with NaN; each refused with one line naming the
 * file and what is wrong, never a crash. And a database whose last commit was killed half way
 * (a hot journal): a read-only open rolls it back instead of refusing a healthy file.
 *
 * The files are made with SQLite directly: a table is created with the constraint left out,
 * filled, and its schema text then set back to facerec's (writable_schema), which is what a
 * hand-edited or crafted file looks like to the reader.
 */
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "store/store.h"
#include "testutil.h"

#define DIM 4

static const char *PEOPLE_SQL = "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL "
                                "UNIQUE, created TEXT NOT NULL)";
static const char *EMBEDDINGS_SQL =
    "CREATE TABLE embeddings(id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES "
    "people(id) ON DELETE CASCADE, vector BLOB NOT NULL, source TEXT NOT NULL, created TEXT NOT "
    "NULL)";

/* people without NOT NULL (its UNIQUE keeps the automatic index facerec's schema has) */
static const char *LOOSE_PEOPLE = "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
                                  "created TEXT)";

static fr_model_info model(void)
{
    fr_model_info m;
    memset(&m, 0, sizeof m);
    m.arch = "dlib";
    m.input_size = 150;
    m.embedding_size = DIM;
    m.preprocess = FR_PREPROCESS_FACEAPI;
    m.source_sha256 = "aaaa1111bbbb2222cccc3333dddd4444";
    return m;
}

/* A good database: kian (2 embeddings) and younes (1). */
static void make_good(const char *path)
{
    unlink(path);
    fr_model_info m = model();
    static const float v[3][DIM] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
    fr_enrollment items[] = {{"kian", "kian.jpg", v[0]},
                             {"kian", "kian_2.jpg", v[1]},
                             {"younes", "younes.jpg", v[2]}};
    fr_store *s = NULL;
    CHECK_OK(fr_store_open(path, FR_STORE_CREATE, &s));
    if (s)
        CHECK_OK(fr_store_enroll(s, &m, items, 3));
    fr_store_close(s);
}

/* SQL run on the file by SQLite itself, schema writes allowed (as by a hand or a tool). */
static void tamper(const char *path, const char *sql)
{
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        fprintf(stderr, "tamper: %s: %s\n", sql, message);
        CHECK(0);
    }
    sqlite3_free(message);
    sqlite3_close(db);
}

/* The table rebuilt without its constraints, filled by fill, its schema text set back. */
static void rebuild(const char *path, const char *table, const char *loose, const char *fill,
                    const char *strict)
{
    char sql[4096];
    snprintf(sql, sizeof sql,
             "PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON; "
             "ALTER TABLE %s RENAME TO old_rows; %s; "
             "INSERT INTO %s SELECT * FROM old_rows; DROP TABLE old_rows; %s; "
             "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = '%s' WHERE name = '%s';"
             " PRAGMA writable_schema = OFF;",
             table, loose, table, fill, strict, table);
    tamper(path, sql);
    if (strcmp(table, "embeddings") == 0) /* its index went with the old table */
        tamper(path, "CREATE INDEX embeddings_person ON embeddings(person)");
}

/* Every reader refuses the file with FR_E_FORMAT and a message holding want. */
static void refused_by_readers(const char *path, const char *want, const char *what)
{
    fr_model_info m = model();
    fr_store *s = NULL;
    fr_status st = fr_store_open(path, FR_STORE_READ, &s);
    if (st == FR_OK) {
        fr_person *people = NULL;
        size_t count = 0;
        st = fr_store_people(s, &people, &count);
        if (st == FR_OK)
            fr_store_people_free(people, count);
        fr_status listed = st;
        char listed_message[1024];
        fr_error_save(listed_message, sizeof listed_message);
        fr_gallery g;
        st = fr_store_load(s, &m, &g);
        if (st == FR_OK)
            fr_gallery_free(&g);
        /* the list and the gallery must both refuse (or, for what only the gallery reads,
         * the list may pass) */
        if (listed != FR_OK && st == FR_OK) {
            st = listed;
            fr_error_restore(listed_message);
        }
        fr_store_close(s);
    }
    if (st != FR_E_FORMAT || !strstr(fr_error_message(), want) ||
        !strstr(fr_error_message(), path)) {
        fprintf(stderr, "%s: got %s: %s (want '%s')\n", what, fr_status_name(st),
                fr_error_message(), want);
        CHECK(0);
    }
    CHECK(strchr(fr_error_message(), '\n') == NULL);
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *size = n;
    return data;
}

/* from's bytes written to `to`; returns them (free) */
static unsigned char *copy_file(const char *from, const char *to, size_t *size)
{
    unsigned char *data = read_all(from, size);
    FILE *f = data ? fopen(to, "wb") : NULL;
    if (!f || fwrite(data, 1, *size, f) != *size) {
        if (f)
            fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    return data;
}

/* A commit killed half way: a child writes enough rows to spill them into the file before
 * COMMIT, then dies by SIGKILL with its journal hot. */
static void kill_inside_commit(const char *path)
{
    pid_t child = fork();
    if (child == 0) {
        sqlite3 *db;
        if (sqlite3_open(path, &db) != SQLITE_OK)
            _exit(1);
        sqlite3_exec(db, "PRAGMA cache_size = 1; BEGIN IMMEDIATE;", NULL, NULL, NULL);
        for (int i = 0; i < 400; i++)
            sqlite3_exec(db,
                         "INSERT INTO people(name, created) VALUES(hex(randomblob(16)), 'x');"
                         "INSERT INTO embeddings(person, vector, source, created) VALUES("
                         "last_insert_rowid(), zeroblob(16), hex(randomblob(400)), 'x')",
                         NULL, NULL, NULL);
        raise(SIGKILL);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

int main(void)
{
    char path[512], journal[600];
    snprintf(path, sizeof path, "%s/hostile.db", fr_test_tmpdir());
    snprintf(journal, sizeof journal, "%s-journal", path);
    fr_model_info m = model();
    fr_store *s = NULL;

    /* NULL where the schema says NOT NULL */
    make_good(path);
    rebuild(path, "people", LOOSE_PEOPLE, "UPDATE people SET name = NULL WHERE name = 'kian'",
            PEOPLE_SQL);
    refused_by_readers(path, "name of person 1 is NULL", "a NULL name");
    make_good(path);
    rebuild(path, "people", LOOSE_PEOPLE, "UPDATE people SET created = NULL", PEOPLE_SQL);
    refused_by_readers(path, "creation time of person 1 is NULL", "a NULL creation time");
    make_good(path);
    rebuild(path, "embeddings",
            "CREATE TABLE embeddings(id INTEGER PRIMARY KEY, person, vector, source, created)",
            "UPDATE embeddings SET source = NULL WHERE id = 3", EMBEDDINGS_SQL);
    refused_by_readers(path, "source of embedding 3 is NULL", "a NULL source");
    make_good(path);
    rebuild(path, "embeddings",
            "CREATE TABLE embeddings(id INTEGER PRIMARY KEY, person, vector, source, created)",
            "UPDATE embeddings SET vector = NULL WHERE id = 2", EMBEDDINGS_SQL);
    refused_by_readers(path, "embedding 2 of 'kian' has 0 bytes", "a NULL vector");

    /* names facerec never stores: a control character, a duplicate */
    make_good(path);
    tamper(path, "UPDATE people SET name = 'ki' || char(10) || 'an' WHERE name = 'kian'");
    refused_by_readers(path, "control character", "a newline in a name");
    make_good(path);
    /* names in case-insensitive order behind facerec's schema text (the automatic index built
     * COLLATE NOCASE): the gallery would not be in strcmp order, which lookups rely on */
    rebuild(path, "people",
            "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT UNIQUE COLLATE NOCASE, created TEXT)",
            "UPDATE people SET name = 'Younes' WHERE name = 'younes'", PEOPLE_SQL);
    refused_by_readers(path, "out of name order", "names in another order");

    /* vectors: text instead of a BLOB, a NaN */
    make_good(path);
    tamper(path, "UPDATE embeddings SET vector = 'abcdefghijklmnop' WHERE id = 1");
    refused_by_readers(path, "embedding 1 of 'kian' has 16 bytes", "a text vector");
    make_good(path);
    tamper(path, "UPDATE embeddings SET vector = x'0000c07f000000000000000000000000' WHERE id = 3");
    refused_by_readers(path, "embedding 3 of 'younes' (from younes.jpg) holds a non-finite",
                       "a NaN in a vector");

    /* an embedding whose person is gone (foreign keys were off for the writer) */
    make_good(path);
    tamper(path, "PRAGMA foreign_keys = OFF; DELETE FROM people WHERE name = 'younes'");
    refused_by_readers(path, "3 embeddings, of which 2 belong to a person", "an orphan row");

    /* a planted trigger: the file is refused before anything runs in it */
    make_good(path);
    tamper(path, "CREATE TRIGGER wipe AFTER INSERT ON embeddings BEGIN DELETE FROM people; END");
    CHECK(fr_store_open(path, FR_STORE_CREATE, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "holds a trigger 'wipe' that facerec does not create"));
    CHECK(fr_store_open(path, FR_STORE_READ, &s) == FR_E_FORMAT);
    tamper(path, "DROP TRIGGER wipe; CREATE VIEW everyone AS SELECT name FROM people");
    CHECK(fr_store_open(path, FR_STORE_WRITE, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "holds a view 'everyone'"));

    /* a case-insensitive collation on names: verify's lookups and the gallery's name order
     * would differ from facerec's (strcmp) */
    make_good(path);
    rebuild(path, "people",
            "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
            " created TEXT NOT NULL)",
            "SELECT 1", "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE "
                        "COLLATE NOCASE, created TEXT NOT NULL)");
    CHECK(fr_store_open(path, FR_STORE_READ, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "its table 'people' is not defined as facerec defines it"));
    /* an index of another collation, and a missing one */
    make_good(path);
    tamper(path, "DROP INDEX embeddings_person");
    CHECK(fr_store_open(path, FR_STORE_READ, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "the index 'embeddings_person' is missing"));

    /* the good file still opens (ANALYZE's statistics are let be), and a non-finite
     * embedding is never stored */
    make_good(path);
    tamper(path, "ANALYZE");
    CHECK_OK(fr_store_open(path, FR_STORE_WRITE, &s));
    if (s) {
        float bad[DIM] = {0.5f, NAN, 0.5f, 0.5f};
        fr_enrollment nan_row[] = {{"benoit", "benoit.jpg", bad}};
        CHECK(fr_store_enroll(s, &m, nan_row, 1) == FR_E_INVALID);
        CHECK(strstr(fr_error_message(), "benoit.jpg: its embedding holds a non-finite value"));
        bad[1] = INFINITY;
        CHECK(fr_store_enroll(s, &m, nan_row, 1) == FR_E_INVALID);
        fr_store_close(s);
    }

    /* killed inside a commit: the journal is hot; a read-only open rolls the change back
     * (it has write access here) and reads exactly the database before it */
    make_good(path);
    kill_inside_commit(path);
    CHECK(access(journal, F_OK) == 0);
    CHECK_OK(fr_store_open(path, FR_STORE_READ, &s));
    if (s) {
        fr_gallery g;
        CHECK_OK(fr_store_load(s, &m, &g));
        CHECK(g.people == 2 && g.count == 3);
        if (g.count == 3)
            fr_gallery_free(&g);
        fr_store_close(s);
    }

    /* the images table (format version 2, store.h): a version 1 file that has one, a
     * version 2 file without it, a version from the future, and records that are not a hash,
     * a face index and a box */
    make_good(path);
    tamper(path, "UPDATE meta SET value = '1' WHERE key = 'version'");
    refused_by_readers(path, "a version 1 database holding the table 'images' of version 2",
                       "a version 1 file with an images table");
    make_good(path);
    tamper(path, "DROP TABLE images");
    refused_by_readers(path, "the table 'images' is missing", "a version 2 file without images");
    make_good(path);
    tamper(path, "UPDATE meta SET value = '3' WHERE key = 'version'");
    CHECK(fr_store_open(path, FR_STORE_READ, &s) == FR_E_UNSUPPORTED);
    CHECK(strstr(fr_error_message(), "version 3; this facerec reads versions 1 to 2") != NULL);
    static const char *bad_records[][2] = {
        {"INSERT INTO images VALUES(1, 'abc', 0, NULL, NULL, NULL, NULL)", "a short hash"},
        {"INSERT INTO images VALUES(1, upper(hex(randomblob(32))), 0, NULL, NULL, NULL, NULL)",
         "an upper-case hash"},
        {"INSERT INTO images VALUES(1, lower(hex(randomblob(32))), 'one', NULL, NULL, NULL, "
         "NULL)", "a face that is text"},
        {"INSERT INTO images VALUES(1, lower(hex(randomblob(32))), -7, NULL, NULL, NULL, NULL)",
         "a negative face"},
        {"INSERT INTO images VALUES(1, lower(hex(randomblob(32))), 0, 1.0, NULL, NULL, NULL)",
         "a box of one number"},
        {"INSERT INTO images VALUES(1, lower(hex(randomblob(32))), 0, 'a', 'b', 'c', 'd')",
         "a box of text"},
        {"INSERT INTO images VALUES(1, lower(hex(randomblob(32))), 0, 1e999, 0, 1, 1)",
         "a box with infinity"},
    };
    for (size_t i = 0; i < sizeof bad_records / sizeof bad_records[0]; i++) {
        make_good(path);
        tamper(path, bad_records[i][0]);
        fr_image_row *rows = NULL;
        size_t count = 0;
        CHECK_OK(fr_store_open(path, FR_STORE_READ, &s));
        fr_status listed = s ? fr_store_images(s, &rows, &count) : FR_E_INTERNAL;
        if (listed == FR_OK)
            fr_store_images_free(rows, count);
        if (listed != FR_E_FORMAT ||
            !strstr(fr_error_message(), "the image record of embedding 1 is not a SHA-256") ||
            strchr(fr_error_message(), '\n')) {
            fprintf(stderr, "%s: got %s: %s\n", bad_records[i][1], fr_status_name(listed),
                    fr_error_message());
            CHECK(0);
        }
        fr_store_close(s);
    }
    /* a trigger on the images table would run inside the dedupe of every enrolment */
    make_good(path);
    tamper(path, "CREATE TRIGGER wipe AFTER INSERT ON images BEGIN DELETE FROM people; END");
    refused_by_readers(path, "holds a trigger 'wipe' that facerec does not create",
                       "a trigger on images");

    /* damaged pages (a b-tree out of order: fuzz_store's finding, kept in tests/data/store):
     * an enrolment into it was reported done and left a file that no longer opened; a write
     * open now refuses it, naming the damage, and the file is left byte for byte as it was */
    char damaged[600], original[1024];
    snprintf(damaged, sizeof damaged, "%s/damaged.db", fr_test_tmpdir());
    snprintf(original, sizeof original, "%s/tests/data/store/damaged_btree.db",
             getenv("FACEREC_SOURCE_DIR") ? getenv("FACEREC_SOURCE_DIR") : ".");
    size_t before_size = 0, after_size = 0;
    unsigned char *before = copy_file(original, damaged, &before_size);
    CHECK(before != NULL);
    CHECK(fr_store_open(damaged, FR_STORE_WRITE, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "damaged.db: the file is damaged (SQLite: ") != NULL);
    CHECK(strchr(fr_error_message(), '\n') == NULL);
    CHECK(fr_store_open(damaged, FR_STORE_CREATE, &s) == FR_E_FORMAT);
    unsigned char *after = read_all(damaged, &after_size);
    CHECK(after && after_size == before_size && memcmp(before, after, before_size) == 0);
    free(before);
    free(after);
    return fr_test_finish("test_store_hostile");
}
