/*
 * test_store.c: the identity database. What users rely on: people and embeddings come back
 * as enrolled; another model's embeddings are refused with both models named; every failed
 * change (a bad row in the middle of an enrolment, an unknown name among several to remove,
 * a rename onto an existing name) leaves the file exactly as it was, checked by comparing a
 * dump of every table before and after; files that are missing, not SQLite, or SQLite but not
 * ours give one clear line naming the file.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "store/store.h"
#include "testutil.h"

#define DIM 8

/* Every row of every table, as text: equal dumps mean an unchanged database. */
static char *dump(const char *path)
{
    sqlite3 *db;
    char *text = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return strdup("(cannot open)");
    sqlite3_stmt *q;
    const char *sql =
        "SELECT 'meta', key, value, '' FROM meta UNION ALL "
        "SELECT 'people', id, name, created FROM people UNION ALL "
        "SELECT 'embedding', id, person, hex(vector) || source || created FROM embeddings";
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        while (sqlite3_step(q) == SQLITE_ROW)
            fprintf(out, "%s|%s|%s|%s\n", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
                    sqlite3_column_text(q, 2), sqlite3_column_text(q, 3));
        fclose(out);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return text ? text : strdup("(no tables)");
}

static fr_model_info model_info(const char *arch, const char *sha)
{
    fr_model_info m;
    memset(&m, 0, sizeof m);
    m.arch = arch;
    m.input_size = 150;
    m.embedding_size = DIM;
    m.preprocess = FR_PREPROCESS_FACEAPI;
    m.threshold = 0.4f;
    m.source = "face-api/model/face_recognition_model-weights_manifest.json";
    m.source_sha256 = sha;
    return m;
}

static void vector(float *v, float seed)
{
    for (int i = 0; i < DIM; i++)
        v[i] = sinf(seed * (float)(i + 1));
    fr_l2_normalize(v, 1, DIM);
}

int main(void)
{
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/office.db", fr_test_tmpdir());
    fr_model_info dlib = model_info("dlib", "aaaa1111bbbb2222cccc3333dddd4444");
    fr_model_info dlib2 = model_info("dlib", "ffff9999eeee8888dddd7777cccc6666");
    fr_store *s = NULL;

    /* a missing database is not created by readers */
    CHECK(fr_store_open(path, FR_STORE_READ, &s) == FR_E_NOT_FOUND);
    CHECK(strstr(fr_error_message(), "office.db: no such database") != NULL);
    CHECK(fr_store_open(path, FR_STORE_WRITE, &s) == FR_E_NOT_FOUND);
    CHECK(access(path, F_OK) != 0);

    CHECK_OK(fr_store_open(path, FR_STORE_CREATE, &s));
    if (!s)
        return fr_test_finish("test_store");
    CHECK(strcmp(fr_store_model(s), "") == 0);
    fr_gallery g;
    CHECK(fr_store_load(s, &dlib, &g) == FR_E_NOT_FOUND);
    CHECK(strstr(fr_error_message(), "empty") != NULL);

    float v[4][DIM];
    for (int i = 0; i < 4; i++)
        vector(v[i], 0.3f + (float)i);
    fr_enrollment first[] = {{"younes", "db/younes.jpg", v[0]},
                             {"kian", "db/kian.jpg", v[1]},
                             {"younes", "db/younes_2.jpg", v[2]}};
    CHECK_OK(fr_store_enroll(s, &dlib, first, 3));
    char key[512];
    fr_store_model_key(&dlib, key, sizeof key);
    CHECK(strcmp(fr_store_model(s), key) == 0);
    CHECK(strcmp(key, "dlib/faceapi/8/aaaa1111bbbb2222cccc3333dddd4444") == 0);

    fr_person *people = NULL;
    size_t count = 0;
    CHECK_OK(fr_store_people(s, &people, &count));
    CHECK(count == 2);
    if (count == 2) {
        CHECK(strcmp(people[0].name, "kian") == 0 && people[0].embeddings == 1);
        CHECK(strcmp(people[1].name, "younes") == 0 && people[1].embeddings == 2);
        CHECK(strlen(people[0].created) == 20 && people[0].created[19] == 'Z');
    }
    fr_store_people_free(people, count);

    CHECK_OK(fr_store_load(s, &dlib, &g));
    CHECK(g.people == 2 && g.count == 3 && g.dim == DIM);
    if (g.count == 3) {
        /* sorted by name, then by enrolment */
        CHECK(strcmp(g.names[g.person[0]], "kian") == 0);
        CHECK(memcmp(g.vectors, v[1], sizeof v[1]) == 0);
        CHECK(strcmp(g.sources[1], "db/younes.jpg") == 0 && g.person[1] == 1);
        CHECK(memcmp(g.vectors + 2 * DIM, v[2], sizeof v[2]) == 0);
        CHECK(fr_gallery_find(&g, "younes") == 1 && fr_gallery_find(&g, "kian") == 0);
        CHECK(fr_gallery_find(&g, "benoit") == -1);
        float *means = NULL;
        CHECK_OK(fr_gallery_means(&g, &means));
        double norm = 0, expect[DIM], enorm = 0;
        for (int d = 0; d < DIM; d++) {
            expect[d] = (double)v[0][d] + v[2][d];
            enorm += expect[d] * expect[d];
        }
        for (int d = 0; means && d < DIM; d++) {
            norm += (double)means[DIM + d] * means[DIM + d];
            CHECK_NEAR(means[DIM + d], expect[d] / sqrt(enorm), 1e-6);
            CHECK_NEAR(means[d], v[1][d], 1e-6);
        }
        CHECK_NEAR(norm, 1.0, 1e-6);
        free(means);
    }
    fr_gallery_free(&g);

    /* another model: refused, both named, nothing changed */
    char *before = dump(path);
    fr_enrollment more[] = {{"benoit", "db/benoit.jpg", v[3]}};
    CHECK(fr_store_enroll(s, &dlib2, more, 1) == FR_E_MODEL_MISMATCH);
    CHECK(strstr(fr_error_message(), "aaaa1111bbbb") && strstr(fr_error_message(), "ffff9999eeee"));
    CHECK(fr_store_load(s, &dlib2, &g) == FR_E_MODEL_MISMATCH);
    fr_model_info irv1 = model_info("irv1", "aaaa1111bbbb2222cccc3333dddd4444");
    irv1.preprocess = FR_PREPROCESS_SEED;
    CHECK(fr_store_load(s, &irv1, &g) == FR_E_MODEL_MISMATCH);
    CHECK(strstr(fr_error_message(), "dlib") && strstr(fr_error_message(), "irv1"));
    char *after = dump(path);
    CHECK(strcmp(before, after) == 0);
    free(after);

    /* a failure in the middle of an enrolment (a row the database rejects: no source) rolls
     * back the rows before it, the new person included */
    fr_enrollment broken[] = {{"benoit", "db/benoit.jpg", v[3]}, {"kian", NULL, v[3]}};
    CHECK(fr_store_enroll(s, &dlib, broken, 2) == FR_E_IO);
    fr_enrollment bad_name[] = {{"benoit", "db/benoit.jpg", v[3]}, {"ki\nan", "x.jpg", v[3]}};
    CHECK(fr_store_enroll(s, &dlib, bad_name, 2) == FR_E_INVALID);
    CHECK(strstr(fr_error_message(), "control character") != NULL);
    fr_enrollment empty_name[] = {{"", "x.jpg", v[3]}};
    CHECK(fr_store_enroll(s, &dlib, empty_name, 1) == FR_E_INVALID);
    after = dump(path);
    CHECK(strcmp(before, after) == 0);
    free(after);

    /* remove: an unknown name among known ones removes none */
    const char *names[] = {"kian", "nobody"};
    CHECK(fr_store_remove(s, names, 2) == FR_E_NOT_FOUND);
    CHECK(strstr(fr_error_message(), "'nobody'") != NULL);
    /* rename: onto an existing name, or from an unknown one: refused */
    CHECK(fr_store_rename(s, "kian", "younes") == FR_E_INVALID);
    CHECK(fr_store_rename(s, "nobody", "somebody") == FR_E_NOT_FOUND);
    after = dump(path);
    CHECK(strcmp(before, after) == 0);
    free(after);
    free(before);

    CHECK_OK(fr_store_rename(s, "kian", "kian_katanforoosh"));
    CHECK_OK(fr_store_remove(s, names + 0, 0));
    const char *gone[] = {"younes"};
    CHECK_OK(fr_store_remove(s, gone, 1));
    CHECK_OK(fr_store_load(s, &dlib, &g));
    CHECK(g.people == 1 && g.count == 1); /* younes's two embeddings went with him */
    if (g.people == 1)
        CHECK(strcmp(g.names[0], "kian_katanforoosh") == 0);
    fr_gallery_free(&g);
    fr_store_close(s);

    /* reopened read-only: the same content */
    CHECK_OK(fr_store_open(path, FR_STORE_READ, &s));
    CHECK(s && strcmp(fr_store_model(s), key) == 0);
    fr_store_close(s);

    /* files that are not our databases */
    snprintf(other, sizeof other, "%s/notes.db", fr_test_tmpdir());
    FILE *f = fopen(other, "w");
    fputs("this is a text file, long enough to have an SQLite header's size or more.........\n", f);
    fclose(f);
    CHECK(fr_store_open(other, FR_STORE_READ, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "notes.db: not an SQLite database") != NULL);
    snprintf(other, sizeof other, "%s/foreign.db", fr_test_tmpdir());
    sqlite3 *db;
    sqlite3_open(other, &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(fr_store_open(other, FR_STORE_CREATE, &s) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "foreign.db: not a facerec identity database") != NULL);
    CHECK(fr_store_open(fr_test_tmpdir(), FR_STORE_READ, &s) == FR_E_IO);

    CHECK_OK(fr_store_check_name("Zoë O'Brien, Jr."));
    return fr_test_finish("test_store");
}
