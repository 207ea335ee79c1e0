/*
 * fuzz_store.c: the identity database as untrusted input (store/store.c): any file opened
 * read-only is either refused with one line naming it, or yields people and a gallery whose
 * names are valid (fr_store_check_name), sorted and unique, whose rows all belong to a person
 * and whose vectors are finite. Then a read-write open and an enrolment into a copy, which
 * must leave it a database that opens again. Seeds (make_seeds): small facerec databases of
 * the harness's own 4-float model, empty and not.
 */
#include <math.h>

#include "fuzz_util.h"
#include "store/store.h"

fr_model_info fuzz_store_model(void);
fr_model_info fuzz_store_model(void)
{
    fr_model_info m;
    memset(&m, 0, sizeof m);
    m.arch = "dlib";
    m.input_size = 150;
    m.embedding_size = 4;
    m.preprocess = FR_PREPROCESS_FACEAPI;
    m.threshold = 0.6f;
    m.source = "fuzz";
    m.source_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    return m;
}

/* FACEREC_FUZZ_SEEDS=DIR fuzz_store: writes the seed databases to DIR and exits. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FACEREC_FUZZ_SEEDS");
    if (!dir)
        return 0;
    static const char *names[] = {"empty.db", "one.db", "three.db"};
    static const char *people[] = {"Ann", "bob"}; /* three rows: Ann twice */
    fr_model_info model = fuzz_store_model();
    for (int k = 0; k < 3; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unlink(path);
        fr_store *store;
        if (fr_store_open(path, FR_STORE_CREATE, &store) != FR_OK)
            abort();
        float vectors[3][4] = {{1, 0, 0, 0}, {0, 0.6f, 0.8f, 0}, {0.5f, 0.5f, 0.5f, 0.5f}};
        fr_enrollment items[3];
        size_t count = k == 2 ? 3 : (size_t)k;
        for (size_t i = 0; i < count; i++)
            items[i] = (fr_enrollment){people[i == 2 ? 0 : i], "a/b.jpg", vectors[i]};
        if (count && fr_store_enroll(store, &model, items, count) != FR_OK)
            abort();
        fr_store_close(store);
    }
    exit(0);
}

static void check_read(const char *path)
{
    fr_store *store;
    fr_status status = fr_store_open(path, FR_STORE_READ, &store);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return;
    }
    fr_person *people;
    size_t count;
    status = fr_store_people(store, &people, &count);
    if (status == FR_OK) {
        for (size_t i = 0; i < count; i++)
            if (fr_store_check_name(people[i].name) != FR_OK || !people[i].created ||
                (i && strcmp(people[i - 1].name, people[i].name) >= 0))
                abort();
        fr_store_people_free(people, count);
    } else {
        fuzz_check_error(status, path);
    }
    fr_model_info model = fuzz_store_model();
    fr_gallery gallery;
    status = fr_store_load(store, &model, &gallery);
    if (status == FR_OK) {
        if (gallery.dim != 4 || gallery.people == 0)
            abort();
        for (size_t i = 0; i < gallery.people; i++)
            if (fr_store_check_name(gallery.names[i]) != FR_OK ||
                (i && strcmp(gallery.names[i - 1], gallery.names[i]) >= 0))
                abort();
        for (size_t r = 0; r < gallery.count; r++) {
            if (gallery.person[r] < 0 || (size_t)gallery.person[r] >= gallery.people ||
                !gallery.sources[r] || (r && gallery.person[r] < gallery.person[r - 1]))
                abort();
            for (size_t k = 0; k < 4; k++)
                if (!isfinite(gallery.vectors[r * 4 + k]))
                    abort();
        }
        float *means;
        if (fr_gallery_means(&gallery, &means) == FR_OK)
            free(means);
        fr_gallery_free(&gallery);
    } else {
        fuzz_check_error(status, path);
    }
    fr_store_close(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, "in.db", data, size);
    unlink(fuzz_file(1, "in.db-journal", NULL, 0));
    check_read(path);

    /* a write: enrol one vector; the file must stay a readable database or be refused */
    fr_store *store;
    fr_status status = fr_store_open(path, FR_STORE_WRITE, &store);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return 0;
    }
    fr_model_info model = fuzz_store_model();
    float vector[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    fr_enrollment item = {"fuzz person", "fuzz.jpg", vector};
    status = fr_store_enroll(store, &model, &item, 1);
    fr_store_close(store);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return 0;
    }
    if (fr_store_open(path, FR_STORE_READ, &store) != FR_OK)
        abort(); /* an enrolment reported done left a file that does not open */
    fr_store_close(store);
    return 0;
}
