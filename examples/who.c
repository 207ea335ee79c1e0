/*
 * who.c: a small service's worth of libfacerec: enrol people from their photos into an
 * identity database, then say who is in other photos (every face of each).
 *
 *   who DB NAME=PHOTO... PHOTO...
 *
 * Each NAME=PHOTO argument enrols PHOTO's face as NAME; every other argument is a photo to
 * identify: one line per face found, "PHOTO face F: NAME (distance D)" or "... unknown".
 * Build it against an installed libfacerec with pkg-config or CMake (examples/README.md).
 */
#include <facerec.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "who: %s: %s\n", what, fr_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: who DB NAME=PHOTO... PHOTO...\n");
        return 2;
    }
    printf("libfacerec %s (header %s)\n", fr_version(), FR_VERSION_STRING);
    const char **names = calloc((size_t)argc, sizeof *names);
    const char **enrol = calloc((size_t)argc, sizeof *enrol);
    const char **probes = calloc((size_t)argc, sizeof *probes);
    if (!names || !enrol || !probes)
        return 1;
    size_t people = 0, photos = 0;
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq) {
            *eq = 0;
            names[people] = argv[i];
            enrol[people++] = eq + 1;
        } else {
            probes[photos++] = argv[i];
        }
    }

    fr_model *model;
    if (fr_model_open(NULL, NULL, &model) != FR_OK) /* the default model, dlib */
        return fail("model");
    fr_engine *engine, *every_face;
    fr_engine_options options;
    memset(&options, 0, sizeof options); /* defaults: detect, align the model's way */
    if (fr_engine_new(model, &options, &engine) != FR_OK)
        return fail("engine");
    options.faces = FR_FACES_ALL;
    if (fr_engine_new(model, &options, &every_face) != FR_OK)
        return fail("engine");
    fr_database *db;
    if (fr_database_open(argv[1], FR_DATABASE_CREATE, &db) != FR_OK)
        return fail(argv[1]);

    fr_results *r;
    if (people) {
        if (fr_engine_embed_files(engine, enrol, people, &r) != FR_OK)
            return fail("embedding");
        for (size_t i = 0; i < r->count; i++)
            if (r->rows[i].status != FR_OK) {
                fprintf(stderr, "who: %s\n", r->rows[i].error);
                return 1;
            }
        if (fr_database_enroll(db, model, people, names, r->embeddings, enrol) != FR_OK)
            return fail("enrolling");
        printf("enrolled %zu\n", people);
        fr_results_free(r);
    }

    if (photos) {
        if (fr_engine_embed_files(every_face, probes, photos, &r) != FR_OK)
            return fail("embedding");
        for (size_t i = 0; i < r->count; i++) {
            const fr_result *row = &r->rows[i];
            if (row->status != FR_OK) {
                printf("%s: %s\n", probes[row->input], row->error);
                continue;
            }
            fr_candidate who;
            if (fr_database_identify(db, model, NULL, r->embeddings + i * r->dim, 1, 1, &who) !=
                FR_OK)
                return fail("identifying");
            printf("%s face %d: %s (distance %.3f)\n", probes[row->input], row->face,
                   who.accepted ? who.name : "unknown", who.distance);
        }
        fr_results_free(r);
    }
    fr_database_close(db);
    fr_engine_free(every_face);
    fr_engine_free(engine);
    fr_model_free(model);
    free(names);
    free(enrol);
    free(probes);
    return 0;
}
