/*
 * test_store_images.c: what the database knows of each embedding's image (format version 2,
 * issue 9 item 8): an image (its file's SHA-256) and face enrolled once is not enrolled again,
 * not in a later run and not twice in one batch; single embeddings are listed and removed by
 * id or path, all or nothing; and a version 1 database (tests/data/store/v1_two_people.db,
 * written by facerec before hashes existed) still opens, is read and matched as it was, and
 * becomes version 2 only when an enrolment into it commits (a failed one leaves it as it was,
 * byte for byte).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "store/store.h"
#include "testutil.h"

#define DIM 128 /* the fixture's model: dlib */
#define DLIB_SHA "567752848708483b4cb94033e6b3bca879db3afceef0f8c0a1c820094f607406"
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static fr_model_info dlib(const char *sha)
{
    fr_model_info m;
    memset(&m, 0, sizeof m);
    m.arch = "dlib";
    m.input_size = 150;
    m.embedding_size = DIM;
    m.preprocess = FR_PREPROCESS_FACEAPI;
    m.threshold = 0.428f;
    m.source = "face_recognition_model-weights_manifest.json";
    m.source_sha256 = sha;
    return m;
}

static void vector(float *v, float seed)
{
    for (int i = 0; i < DIM; i++)
        v[i] = sinf(seed * (float)(i + 1));
    fr_l2_normalize(v, 1, DIM);
}

/* A whole file (fr_file_read, core/file.h), NULL when it cannot be read. */
static unsigned char *read_all(const char *path, size_t *size)
{
    void *data = NULL;
    *size = 0;
    return fr_file_read(path, SIZE_MAX, &data, size) == FR_OK ? data : NULL;
}

static void copy_fixture(const char *to)
{
    char from[1024];
    snprintf(from, sizeof from, "%s/tests/data/store/v1_two_people.db",
             getenv("FACEREC_SOURCE_DIR") ? getenv("FACEREC_SOURCE_DIR") : ".");
    size_t size = 0;
    unsigned char *data = read_all(from, &size);
    CHECK(data != NULL && size > 0);
    FILE *f = fopen(to, "wb");
    CHECK(f != NULL);
    if (f && data)
        CHECK(fwrite(data, 1, size, f) == size);
    if (f)
        fclose(f);
    free(data);
}

static size_t count_images(const char *path)
{
    fr_store *s = NULL;
    fr_image_row *rows = NULL;
    size_t count = 0;
    CHECK_OK(fr_store_open(path, FR_STORE_READ, &s));
    if (s)
        CHECK_OK(fr_store_images(s, &rows, &count));
    fr_store_images_free(rows, count);
    fr_store_close(s);
    return count;
}

int main(void)
{
    char old[512], fresh[512];
    snprintf(old, sizeof old, "%s/old.db", fr_test_tmpdir());
    snprintf(fresh, sizeof fresh, "%s/fresh.db", fr_test_tmpdir());
    fr_model_info model = dlib(DLIB_SHA), other = dlib("ffff9999eeee8888dddd7777cccc6666");
    float v[4][DIM];
    for (int i = 0; i < 4; i++)
        vector(v[i], 0.3f + (float)i);

    /* ---- a version 1 database: read as it was ---- */
    copy_fixture(old);
    fr_store *s = NULL;
    CHECK_OK(fr_store_open(old, FR_STORE_READ, &s));
    if (!s)
        return fr_test_finish("test_store_images");
    CHECK(fr_store_version(s) == 1);
    fr_gallery g;
    CHECK_OK(fr_store_load(s, &model, &g));
    CHECK(g.people == 2 && g.count == 3);
    CHECK(g.people == 2 && strcmp(g.names[0], "John_Salley") == 0 &&
          strcmp(g.names[1], "John_Savage") == 0);
    if (g.count == 3)
        fr_gallery_free(&g);
    fr_image_row *rows = NULL;
    size_t count = 0;
    CHECK_OK(fr_store_images(s, &rows, &count));
    CHECK(count == 3);
    for (size_t i = 0; i < count; i++)
        CHECK(rows[i].sha256[0] == 0 && rows[i].face == -1 && !rows[i].has_box);
    CHECK(count == 3 && rows[0].id == 1 &&
          strcmp(rows[0].source, "samples/johns/John_Salley/000179_02159509.jpg") == 0);
    fr_store_images_free(rows, count);
    fr_store_close(s);

    /* a failed enrolment (another model) does not migrate it: the file is byte for byte
     * the same */
    size_t size_before = 0, size_after = 0;
    unsigned char *before = read_all(old, &size_before);
    CHECK_OK(fr_store_open(old, FR_STORE_WRITE, &s));
    fr_enrollment one[] = {{"Kian", "kian.jpg", v[0]}};
    fr_image_record one_image[] = {{HASH_A, -1, 0, {0, 0, 0, 0}}};
    char *already[4] = {NULL, NULL, NULL, NULL};
    if (s) {
        CHECK(fr_store_enroll_images(s, &other, one, one_image, 1, already) ==
              FR_E_MODEL_MISMATCH);
        CHECK(fr_store_version(s) == 1);
        CHECK(already[0] == NULL);
        fr_store_close(s);
    }
    unsigned char *after = read_all(old, &size_after);
    CHECK(before && after && size_before == size_after &&
          memcmp(before, after, size_before) == 0);
    free(before);
    free(after);

    /* ---- its first enrolment adds the images table; the old embeddings stay unhashed ---- */
    CHECK_OK(fr_store_open(old, FR_STORE_WRITE, &s));
    if (s) {
        CHECK_OK(fr_store_enroll_images(s, &model, one, one_image, 1, already));
        CHECK(already[0] == NULL);
        CHECK(fr_store_version(s) == 2);
        fr_store_close(s);
    }
    CHECK_OK(fr_store_open(old, FR_STORE_READ, &s));
    if (s) {
        CHECK(fr_store_version(s) == 2);
        CHECK_OK(fr_store_images(s, &rows, &count));
        CHECK(count == 4);
        size_t hashed = 0;
        for (size_t i = 0; i < count; i++)
            if (rows[i].sha256[0]) {
                hashed++;
                CHECK(strcmp(rows[i].sha256, HASH_A) == 0 && strcmp(rows[i].person, "Kian") == 0);
            }
        CHECK(hashed == 1);
        fr_store_images_free(rows, count);
        CHECK_OK(fr_store_load(s, &model, &g));
        CHECK(g.people == 3 && g.count == 4);
        if (g.count == 4)
            fr_gallery_free(&g);
        fr_store_close(s);
    }

    /* ---- the same image again: skipped and said whose it is; a new one added ---- */
    CHECK_OK(fr_store_open(old, FR_STORE_WRITE, &s));
    if (s) {
        fr_enrollment again[] = {{"Kian", "copy/of/kian.jpg", v[1]},
                                 {"Benoit", "benoit.jpg", v[2]},
                                 {"Benoit", "benoit_copy.jpg", v[3]}};
        fr_image_record again_images[] = {{HASH_A, -1, 0, {0, 0, 0, 0}},
                                          {HASH_B, -1, 0, {0, 0, 0, 0}},
                                          {HASH_B, -1, 0, {0, 0, 0, 0}}}; /* twice in one batch */
        CHECK_OK(fr_store_enroll_images(s, &model, again, again_images, 3, already));
        CHECK(already[0] && strcmp(already[0], "Kian") == 0);
        CHECK(already[1] == NULL);
        CHECK(already[2] && strcmp(already[2], "Benoit") == 0);
        for (int i = 0; i < 3; i++)
            free(already[i]);
        fr_store_close(s);
    }
    CHECK(count_images(old) == 5);

    /* ---- one group photo, two faces: two people, each face once ---- */
    unlink(fresh);
    CHECK_OK(fr_store_open(fresh, FR_STORE_CREATE, &s));
    if (s) {
        CHECK(fr_store_version(s) == 2);
        fr_enrollment faces[] = {{"Peirsol", "group.jpg", v[0]}, {"Sorkin", "group.jpg", v[1]}};
        fr_image_record boxes[] = {{HASH_A, 1, 1, {76, 66, 167, 188}},
                                   {HASH_A, 0, 1, {332, 73, 413, 178}}};
        CHECK_OK(fr_store_enroll_images(s, &model, faces, boxes, 2, already));
        CHECK(already[0] == NULL && already[1] == NULL);
        fr_enrollment same[] = {{"Sorkin", "elsewhere/group.jpg", v[1]}};
        CHECK_OK(fr_store_enroll_images(s, &model, same, boxes + 1, 1, already));
        CHECK(already[0] && strcmp(already[0], "Sorkin") == 0);
        free(already[0]);
        /* a record that is not a hash, or a box with NaN: nothing enrolled */
        fr_image_record bad[] = {{"not a hash", 0, 0, {0, 0, 0, 0}}};
        CHECK(fr_store_enroll_images(s, &model, same, bad, 1, NULL) == FR_E_INVALID);
        fr_image_record nan_box[] = {{HASH_B, 0, 1, {0, NAN, 1, 1}}};
        CHECK(fr_store_enroll_images(s, &model, same, nan_box, 1, NULL) == FR_E_INVALID);
        CHECK_OK(fr_store_images(s, &rows, &count));
        CHECK(count == 2);
        CHECK(count == 2 && rows[0].face == 1 && rows[0].has_box && rows[0].box[2] == 167.0f &&
              strcmp(rows[1].person, "Sorkin") == 0 && rows[1].face == 0);
        fr_store_images_free(rows, count);

        /* ---- removing single embeddings: by path when it names one, else by id ---- */
        const char *ambiguous[] = {"group.jpg"};
        size_t removed = 9, people = 9;
        CHECK(fr_store_remove_images(s, ambiguous, 1, &removed, &people) == FR_E_INVALID);
        CHECK(strstr(fr_error_message(), "2 embeddings come from 'group.jpg' (ids 1, 2)") != NULL);
        CHECK(removed == 0 && people == 0);
        const char *unknown[] = {"1", "nowhere.jpg"};
        CHECK(fr_store_remove_images(s, unknown, 2, &removed, &people) == FR_E_NOT_FOUND);
        CHECK(strstr(fr_error_message(), "'nowhere.jpg'") != NULL &&
              strstr(fr_error_message(), "nothing removed") != NULL);
        CHECK(count_images(fresh) == 2); /* the known "1" was not removed either */
        const char *twice[] = {"2", "2"};
        CHECK_OK(fr_store_remove_images(s, twice, 2, &removed, &people));
        CHECK(removed == 1 && people == 1); /* Sorkin had no other embedding */
        fr_person *list = NULL;
        size_t n = 0;
        CHECK_OK(fr_store_people(s, &list, &n));
        CHECK(n == 1 && strcmp(list[0].name, "Peirsol") == 0);
        fr_store_people_free(list, n);
        /* now the path names one embedding */
        CHECK_OK(fr_store_remove_images(s, ambiguous, 1, &removed, &people));
        CHECK(removed == 1 && people == 1);
        /* its face may be enrolled again once removed */
        CHECK_OK(fr_store_enroll_images(s, &model, same, boxes + 1, 1, already));
        CHECK(already[0] == NULL);
        fr_store_close(s);
    }
    CHECK(count_images(fresh) == 1);
    return fr_test_finish("test_store_images");
}
