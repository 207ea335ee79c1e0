/*
 * test_api.c: the public API (facerec.h) as a service would use it, with the shipped dlib
 * model on the seed's office images (../shared/data/happyhouse), checked against the
 * command-line tool and against the rules written out here:
 *
 *   - fr_model_open: names, files, and the files it must refuse;
 *   - the engine: files give what `facerec embed` writes (bit for bit), decoded pixels give
 *     what their files give, every input gets a row (failed ones with a message naming it),
 *     every face of a two-face mosaic with FR_FACES_ALL, detection with and without a model;
 *   - the detector choice: tiny, and tiny with MTCNN where tiny finds no face;
 *   - distances: the matrix and the k nearest against float64;
 *   - the database: the seed's answers (camera_0 is younes, camera_2 is not kian), unknown
 *     names, a change made through another handle seen without reopening, refusals.
 *
 * Tolerances: embeddings are compared bit for bit where the same pixels go through the same
 * pipeline; distances to float64 within test_distance.c's bound (2.5e-3 near 0, 1e-5 at face
 * distances).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/npy.h"
#include "facerec.h"
#include "testutil.h"

static const char *PEOPLE[] = {"andrew", "arnaud",  "benoit",     "bertrand", "dan",  "danielle",
                               "felix",  "kevin",   "kian",       "sebastiano", "tian", "younes"};
#define NPEOPLE 12

static char paths[NPEOPLE + 6][512];
static const char *inputs[NPEOPLE + 6];

static void check_models(const char *weights)
{
    char path[1024];
    fr_model *m = NULL;
    CHECK_OK(fr_model_open(NULL, NULL, &m));
    CHECK(m && strcmp(fr_model_get_info(m)->arch, "dlib") == 0);
    fr_model_free(m);
    m = NULL;
    CHECK(fr_model_open("dlib2", NULL, &m) == FR_E_INVALID && !m);
    CHECK(strstr(fr_error_message(), "'dlib2'") && strstr(fr_error_message(), "irv1"));
    CHECK_OK(fr_model_open("pixels", NULL, &m));
    CHECK(m && fr_model_get_info(m)->embedding_size == 64 * 64 * 3);
    fr_model_free(m);
    m = NULL;
    snprintf(path, sizeof path, "%s/mtcnn.frw", weights);
    CHECK(fr_model_open("dlib", path, &m) != FR_OK && !m && strstr(fr_error_message(), path));
    snprintf(path, sizeof path, "%s/landmark68.frw", weights);
    CHECK(fr_model_open(NULL, path, &m) == FR_E_MODEL_MISMATCH && !m);
    CHECK(strstr(fr_error_message(), "not a face-recognition model") != NULL);
    snprintf(path, sizeof path, "%s/dlib.frw", weights);
    CHECK_OK(fr_model_open(NULL, path, &m));
    fr_model_free(m);
    CHECK(strcmp(fr_version(), FR_VERSION_STRING) == 0);
}

/* `facerec embed` of the same files, read back. */
static float *cli_embeddings(size_t count, size_t dim)
{
    char command[16384], out[600];
    snprintf(out, sizeof out, "%s/cli.npy", fr_test_tmpdir());
    int n = snprintf(command, sizeof command, "'%s' embed --quiet -o '%s'",
                     fr_test_env("FACEREC_BIN"), out);
    for (size_t i = 0; i < count; i++)
        n += snprintf(command + n, sizeof command - (size_t)n, " '%s'", inputs[i]);
    CHECK(fr_test_system(command) == 0);
    fr_npy a;
    if (fr_npy_load(out, &a) != FR_OK) {
        CHECK(!"the CLI's embeddings load");
        return NULL;
    }
    CHECK(a.ndim == 2 && a.shape[0] == count && a.shape[1] == dim);
    return a.data;
}

/* A 2w x h image: left and right side by side. */
static fr_image mosaic(const fr_image *left, const fr_image *right)
{
    fr_image m = {left->width + right->width, left->height, NULL};
    m.pixels = calloc((size_t)m.width * (size_t)m.height * 3, 1);
    for (int y = 0; y < m.height; y++) {
        memcpy(m.pixels + (size_t)y * m.width * 3, left->pixels + (size_t)y * left->width * 3,
               (size_t)left->width * 3);
        if (y < right->height)
            memcpy(m.pixels + ((size_t)y * m.width + left->width) * 3,
                   right->pixels + (size_t)y * right->width * 3, (size_t)right->width * 3);
    }
    return m;
}

static void check_engine(fr_model *model, fr_results **gallery)
{
    size_t dim = (size_t)fr_model_get_info(model)->embedding_size;
    fr_engine *e = NULL;
    CHECK_OK(fr_engine_new(model, NULL, &e));
    if (!e)
        return;
    CHECK(strcmp(fr_engine_backend(e), "cpu") == 0);
    size_t n = NPEOPLE + 6; /* 12 people, camera_0..3, a missing file, a text file */
    fr_results *r = NULL;
    CHECK_OK(fr_engine_embed_files(e, inputs, n, &r));
    if (!r) {
        fr_engine_free(e);
        return;
    }
    CHECK(r->count == n && r->dim == dim);
    for (size_t i = 0; i < r->count && r->count == n; i++) {
        const fr_result *row = &r->rows[i];
        CHECK(row->input == i);
        if (i < NPEOPLE + 4) {
            CHECK(row->status == FR_OK && row->error[0] == 0);
            CHECK(row->face == 0 || row->face_count > 1);
            CHECK(row->box.x1 < row->box.x2 && row->box.y1 < row->box.y2 && row->box.score > 0.9f);
            CHECK_NEAR(fr_test_l2(r->embeddings + i * dim, (float[128]){0}, dim), 1.0, 1e-5);
        } else {
            CHECK(row->status != FR_OK && strstr(row->error, inputs[i]) != NULL);
            CHECK(r->embeddings[i * dim] == 0.0f);
        }
    }
    /* the CLI's embeddings, bit for bit */
    float *cli = r->count == n ? cli_embeddings(NPEOPLE + 4, dim) : NULL;
    if (cli)
        CHECK(memcmp(cli, r->embeddings, (NPEOPLE + 4) * dim * sizeof *cli) == 0);
    free(cli);

    /* the same images decoded by the caller (these are small: no DCT scaling on either side);
     * one without pixels */
    fr_image images[NPEOPLE + 5];
    memset(images, 0, sizeof images);
    for (size_t i = 0; i < NPEOPLE + 4; i++)
        CHECK_OK(fr_image_load(inputs[i], NULL, &images[i]));
    images[NPEOPLE + 4].width = images[NPEOPLE + 4].height = 10;
    fr_results *ri = NULL;
    CHECK_OK(fr_engine_embed_images(e, images, NPEOPLE + 5, &ri));
    if (ri && ri->count == NPEOPLE + 5 && r->count == n) {
        CHECK(memcmp(ri->embeddings, r->embeddings, (NPEOPLE + 4) * dim * sizeof(float)) == 0);
        CHECK(memcmp(&ri->rows[5].box, &r->rows[5].box, sizeof r->rows[5].box) == 0);
        CHECK(ri->rows[NPEOPLE + 4].status == FR_E_INVALID);
        CHECK(strstr(ri->rows[NPEOPLE + 4].error, "image 16") != NULL);
    } else {
        CHECK(!"embedding decoded images");
    }
    fr_results_free(ri);

    /* two faces side by side: with FR_FACES_ALL one row each, each near its own image's */
    fr_image two = mosaic(&images[11], &images[8]); /* younes | kian */
    fr_engine_options o;
    memset(&o, 0, sizeof o);
    o.faces = FR_FACES_ALL;
    fr_engine *all = NULL;
    CHECK_OK(fr_engine_new(model, &o, &all));
    fr_results *ra = NULL;
    if (all)
        CHECK_OK(fr_engine_embed_images(all, &two, 1, &ra));
    if (ra && ra->count == 2) {
        for (int f = 0; f < 2; f++)
            CHECK(ra->rows[f].status == FR_OK && ra->rows[f].face == f &&
                  ra->rows[f].face_count == 2 && ra->rows[f].input == 0);
        int younes = ra->rows[0].box.x1 < 96 ? 0 : 1;
        double dy = fr_test_l2(ra->embeddings + (size_t)younes * dim, r->embeddings + 11 * dim, dim);
        double dk = fr_test_l2(ra->embeddings + (size_t)(1 - younes) * dim, r->embeddings + 8 * dim, dim);
        printf("mosaic: younes %.4f, kian %.4f from their own images\n", dy, dk);
        CHECK(dy < 0.1 && dk < 0.1);
    } else {
        CHECK(!"two faces in the mosaic");
    }
    fr_results_free(ra);

    /* detection: the same boxes from a detecting engine, and the mosaic's two */
    fr_engine *finder = NULL;
    CHECK_OK(fr_engine_new(NULL, NULL, &finder));
    fr_results *rd = NULL;
    if (finder) {
        CHECK(fr_engine_embed_files(finder, inputs, 1, &rd) == FR_E_INVALID && !rd);
        CHECK_OK(fr_engine_detect_images(finder, &two, 1, &rd));
        CHECK(rd && rd->count == 2 && rd->dim == 0 && rd->rows[1].face == 1);
        fr_results_free(rd);
        rd = NULL;
        CHECK_OK(fr_engine_detect_files(finder, inputs + NPEOPLE, 6, &rd));
    }
    if (rd) {
        size_t ok = 0;
        for (size_t i = 0; i < rd->count; i++) {
            const fr_result *row = &rd->rows[i];
            if (row->input < 4 && row->face == 0) {
                /* the embedding engine's main face is the largest, face 0 here the best
                 * score: on these one-face images the same box (the embedder detects four
                 * images at once, here one: GEMM blocking may round differently) */
                const fr_face_box *a = &row->box, *b = &r->rows[NPEOPLE + row->input].box;
                CHECK_NEAR(a->x1, b->x1, 1e-3);
                CHECK_NEAR(a->y2, b->y2, 1e-3);
                CHECK_NEAR(a->landmarks[4][1], b->landmarks[4][1], 1e-3);
                ok++;
            }
            if (row->input >= 4)
                CHECK(row->status != FR_OK && strstr(row->error, inputs[NPEOPLE + row->input]));
        }
        CHECK(ok == 4);
    }
    fr_results_free(rd);
    fr_engine_free(finder);
    free(two.pixels);
    for (size_t i = 0; i < NPEOPLE + 4; i++)
        fr_image_free(&images[i]);
    fr_engine_free(all);
    fr_engine_free(e);
    *gallery = r;
}

static void check_distances(void)
{
    enum { N = 70, M = 45, D = 128, K = 4 };
    static float a[N * D], b[M * D], d[N * M], self[N * N], dist[N * K];
    static int64_t idx[N * K];
    static int32_t labels[M];
    uint64_t rng = 3;
    for (size_t i = 0; i < N * D; i++)
        a[i] = fr_test_uniform(&rng, -1, 1);
    for (size_t i = 0; i < M * D; i++)
        b[i] = fr_test_uniform(&rng, -1, 1);
    fr_l2_normalize(a, N, D);
    fr_l2_normalize(b, M, D);
    for (int j = 0; j < M; j++)
        labels[j] = j % 7;
    fr_distances_options o = {FR_DEVICE_CPU, 2};
    fr_distances *dd = NULL;
    CHECK_OK(fr_distances_new(&o, &dd));
    if (!dd)
        return;
    CHECK(strcmp(fr_distances_backend(dd), "cpu") == 0);
    CHECK_OK(fr_distances_matrix(dd, a, N, b, M, D, d));
    CHECK_OK(fr_distances_matrix(dd, a, N, NULL, 0, D, self));
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < M; j++)
            CHECK_NEAR(d[i * M + j], fr_test_l2(a + i * D, b + j * D, D), 1e-5);
        CHECK(self[i * N + i] == 0.0f);
        for (int j = 0; j < N; j++)
            CHECK(self[i * N + j] == self[j * N + i]);
    }
    CHECK_OK(fr_distances_nearest(dd, a, N, b, M, D, labels, K, idx, dist));
    for (int i = 0; i < N; i++) {
        /* the nearest row of each label, by float64, then the K best labels */
        double best[7];
        for (int l = 0; l < 7; l++)
            best[l] = INFINITY;
        for (int j = 0; j < M; j++)
            best[labels[j]] = fmin(best[labels[j]], fr_test_l2(a + i * D, b + j * D, D));
        for (int q = 0; q < K; q++) {
            CHECK(idx[i * K + q] >= 0 && idx[i * K + q] < M);
            CHECK_NEAR(dist[i * K + q], best[labels[idx[i * K + q]]], 1e-5);
            if (q)
                CHECK(dist[i * K + q] >= dist[i * K + q - 1]);
        }
        int beaten = 0; /* labels strictly nearer than the K-th answer: fewer than K */
        for (int l = 0; l < 7; l++)
            beaten += best[l] < dist[i * K + K - 1] - 1e-5;
        CHECK(beaten < K);
    }
    CHECK(fr_distances_nearest(dd, a, 1, b, M, D, NULL, 0, idx, dist) == FR_E_INVALID);
    fr_distances_free(dd);
}

static void check_database(const fr_model *model, const fr_results *r)
{
    size_t dim = r->dim;
    char path[600];
    snprintf(path, sizeof path, "%s/office.db", fr_test_tmpdir());
    fr_database *db = NULL;
    CHECK(fr_database_open(path, FR_DATABASE_READ, &db) == FR_E_NOT_FOUND && !db);
    CHECK_OK(fr_database_open(path, FR_DATABASE_CREATE, &db));
    if (!db)
        return;
    CHECK_OK(fr_database_enroll(db, model, NPEOPLE, PEOPLE, r->embeddings, inputs));
    const fr_person_entry *people = NULL;
    size_t count = 0;
    CHECK_OK(fr_database_people(db, &people, &count));
    CHECK(count == NPEOPLE && strcmp(people[11].name, "younes") == 0 &&
          people[11].embeddings == 1);

    /* the seed's verify(): camera_0 as younes let in, camera_2 as kian refused */
    const float *cam = r->embeddings + NPEOPLE * dim;
    const char *claims[] = {"younes", "kian", "benoit"};
    float probes[3 * 128];
    memcpy(probes, cam, dim * sizeof(float));
    memcpy(probes + dim, cam + 2 * dim, dim * sizeof(float));
    memcpy(probes + 2 * dim, cam + 2 * dim, dim * sizeof(float));
    fr_candidate v[3];
    CHECK_OK(fr_database_verify(db, model, NULL, probes, 3, claims, v));
    CHECK(v[0].accepted && !v[1].accepted && v[2].accepted);
    CHECK(strcmp(v[1].name, "kian") == 0 && strstr(v[1].image, "kian.jpg"));
    CHECK_NEAR(v[0].distance, fr_test_l2(cam, r->embeddings + 11 * dim, dim), 1e-5);
    printf("verify: camera_0 as younes %.3f, camera_2 as kian %.3f, as benoit %.3f\n",
           v[0].distance, v[1].distance, v[2].distance);
    const char *unknown[] = {"younes", "nobody"};
    CHECK(fr_database_verify(db, model, NULL, probes, 2, unknown, v) == FR_E_NOT_FOUND);
    CHECK(strstr(fr_error_message(), "'nobody'") != NULL);
    fr_match_options strict = {0.15f, FR_AGGREGATION_MIN, FR_DEVICE_CPU, 1};
    CHECK_OK(fr_database_verify(db, model, &strict, probes, 1, claims, v));
    CHECK(!v[0].accepted);

    /* the seed's who_is_it(): camera_0..2 are younes, bertrand, benoit */
    fr_candidate found[4 * 3];
    CHECK_OK(fr_database_identify(db, model, NULL, cam, 4, 3, found));
    CHECK(found[0].accepted && strcmp(found[0].name, "younes") == 0);
    CHECK(found[3].accepted && strcmp(found[3].name, "bertrand") == 0);
    CHECK(found[6].accepted && strcmp(found[6].name, "benoit") == 0);
    for (int i = 0; i < 4; i++)
        CHECK(found[i * 3].distance <= found[i * 3 + 1].distance &&
              strcmp(found[i * 3].name, found[i * 3 + 1].name) != 0);

    /* another handle (another process, say) enrols camera_2 as "visitor": this handle's next
     * question sees it without reopening */
    fr_database *other = NULL;
    CHECK_OK(fr_database_open(path, FR_DATABASE_WRITE, &other));
    const char *visitor[] = {"visitor"};
    if (other)
        CHECK_OK(fr_database_enroll(other, model, 1, visitor, cam + 2 * dim, NULL));
    fr_database_close(other);
    CHECK_OK(fr_database_identify(db, model, NULL, cam + 2 * dim, 1, 1, found));
    CHECK(strcmp(found[0].name, "visitor") == 0 && found[0].distance < 1e-3);

    /* mean aggregation with two embeddings of benoit: farther than the nearest */
    const char *benoit[] = {"benoit"};
    CHECK_OK(fr_database_enroll(db, model, 1, benoit, cam + 3 * dim, NULL));
    fr_match_options mean = {0, FR_AGGREGATION_MEAN, FR_DEVICE_AUTO, 0};
    fr_candidate vm, vmin;
    CHECK_OK(fr_database_verify(db, model, &mean, cam + 2 * dim, 1, benoit, &vm));
    CHECK_OK(fr_database_verify(db, model, NULL, cam + 2 * dim, 1, benoit, &vmin));
    CHECK(vm.image == NULL && vmin.image != NULL && vm.distance > vmin.distance);

    /* refusals: nothing changes */
    float bad[128];
    memcpy(bad, cam, sizeof bad);
    bad[5] = NAN;
    CHECK(fr_database_enroll(db, model, 1, visitor, bad, NULL) == FR_E_INVALID);
    const char *control[] = {"a\nb"};
    CHECK(fr_database_enroll(db, model, 1, control, cam, NULL) == FR_E_INVALID);
    fr_model *pixels = NULL;
    CHECK_OK(fr_model_open("pixels", NULL, &pixels));
    float zeros[64 * 64 * 3] = {0};
    if (pixels) {
        CHECK(fr_database_enroll(db, pixels, 1, visitor, zeros, NULL) == FR_E_MODEL_MISMATCH);
        fr_match_options t = {0.5f, FR_AGGREGATION_MIN, FR_DEVICE_AUTO, 0};
        CHECK(fr_database_identify(db, pixels, &t, zeros, 1, 1, found) == FR_E_MODEL_MISMATCH);
    }
    fr_model_free(pixels);
    const char *gone[] = {"visitor", "nobody"};
    CHECK(fr_database_remove(db, gone, 2) != FR_OK);
    CHECK_OK(fr_database_remove(db, gone, 1));
    CHECK_OK(fr_database_rename(db, "younes", "younes_m"));
    CHECK_OK(fr_database_identify(db, model, NULL, cam, 1, 1, found));
    CHECK(strcmp(found[0].name, "younes_m") == 0);
    CHECK_OK(fr_database_people(db, &people, &count));
    CHECK(count == NPEOPLE);
    fr_database_close(db);
}

/* The detector choice: tiny+MTCNN detects with tiny (boxes, NaN landmarks) and falls back to
 * MTCNN where tiny finds no face (Al_Sharpton_0006 at 192: MTCNN's face, landmarks and all, as
 * an MTCNN engine finds it); the default (auto) with dlib, and without a model, is tiny+MTCNN
 * at 192; a bad choice, size or threshold is refused. */
static void check_detector_choice(const char *weights)
{
    char tiny[1024];
    snprintf(tiny, sizeof tiny, "%s/tinyface.frw", weights);
    if (access(tiny, R_OK) != 0) {
        printf("no tinyface.frw: the detector choice not checked\n");
        return;
    }
    const char *data = fr_test_env("FACEREC_DATA");
    char hit[1024], miss[1024];
    snprintf(hit, sizeof hit, "%s/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
             data);
    snprintf(miss, sizeof miss, "%s/lfw_devtrain/images/Al_Sharpton/Al_Sharpton_0006.jpg", data);
    const char *both[] = {hit, miss};
    fr_engine_options o;
    memset(&o, 0, sizeof o);
    o.face_detector = FR_FACE_DETECTOR_TINY;
    o.detector_size = 192;
    fr_engine *t = NULL, *tm = NULL, *m = NULL;
    fr_results *rt = NULL, *rtm = NULL, *rm = NULL;
    CHECK_OK(fr_engine_new(NULL, &o, &t));
    if (t)
        CHECK_OK(fr_engine_detect_files(t, both, 2, &rt));
    /* tiny alone: a face without landmarks in the first, none in the second */
    CHECK(rt && rt->count == 2 && rt->rows[0].status == FR_OK && rt->rows[0].input == 0 &&
          isnan(rt->rows[0].box.landmarks[0][0]) && rt->rows[1].input == 1 &&
          rt->rows[1].status == FR_OK && rt->rows[1].face_count == 0 && rt->rows[1].face == -1);
    o.face_detector = FR_FACE_DETECTOR_TINY_MTCNN;
    CHECK_OK(fr_engine_new(NULL, &o, &tm));
    if (tm)
        CHECK_OK(fr_engine_detect_files(tm, both, 2, &rtm));
    fr_engine_options om;
    memset(&om, 0, sizeof om);
    om.face_detector = FR_FACE_DETECTOR_MTCNN;
    CHECK_OK(fr_engine_new(NULL, &om, &m));
    if (m)
        CHECK_OK(fr_engine_detect_files(m, both + 1, 1, &rm));
    CHECK(rtm && rtm->count == 2 && rm && rm->count == 1 && rm->rows[0].status == FR_OK);
    /* the default (auto) with the dlib model is tiny+mtcnn at 192: the same faces */
    fr_model *dlib = NULL;
    fr_engine *da = NULL;
    fr_results *ra = NULL;
    CHECK_OK(fr_model_open("dlib", NULL, &dlib));
    if (dlib)
        CHECK_OK(fr_engine_new(dlib, NULL, &da));
    if (da)
        CHECK_OK(fr_engine_detect_files(da, both, 2, &ra));
    CHECK(ra && rtm && ra->count == rtm->count);
    for (size_t i = 0; ra && rtm && i < ra->count && i < rtm->count; i++)
        CHECK(ra->rows[i].status == rtm->rows[i].status &&
              memcmp(&ra->rows[i].box, &rtm->rows[i].box, sizeof ra->rows[i].box) == 0);
    fr_results_free(ra);
    fr_engine_free(da);
    da = NULL;
    ra = NULL;
    CHECK_OK(fr_engine_new(NULL, NULL, &da));
    if (da)
        CHECK_OK(fr_engine_detect_files(da, both, 2, &ra));
    CHECK(ra && rtm && ra->count == rtm->count);
    for (size_t i = 0; ra && rtm && i < ra->count && i < rtm->count; i++)
        CHECK(memcmp(&ra->rows[i].box, &rtm->rows[i].box, sizeof ra->rows[i].box) == 0);
    fr_results_free(ra);
    fr_engine_free(da);
    fr_model_free(dlib);
    if (rt && rtm && rm && rtm->count == 2 && rm->count == 1) {
        /* tiny's face refined by O-Net: near tiny's box, with five landmarks */
        const fr_face_box *a = &rtm->rows[0].box, *b = &rt->rows[0].box;
        CHECK(rtm->rows[0].status == FR_OK && rtm->rows[0].face_count >= 1 &&
              !isnan(a->landmarks[0][0]) && a->x1 < b->x2 && b->x1 < a->x2 && a->y1 < b->y2 &&
              b->y1 < a->y2);
        CHECK(rtm->rows[1].input == 1 && rtm->rows[1].status == FR_OK &&
              memcmp(&rtm->rows[1].box, &rm->rows[0].box, sizeof rm->rows[0].box) == 0 &&
              !isnan(rtm->rows[1].box.landmarks[0][0]));
    }
    fr_results_free(rt);
    fr_results_free(rtm);
    fr_results_free(rm);
    fr_engine_free(t);
    fr_engine_free(tm);
    fr_engine_free(m);
    fr_engine *bad = NULL;
    o.face_detector = (fr_face_detector)4;
    CHECK(fr_engine_new(NULL, &o, &bad) == FR_E_INVALID && !bad &&
          strstr(fr_error_message(), "unknown face detector 4"));
    o.face_detector = FR_FACE_DETECTOR_TINY;
    o.detector_size = 200;
    CHECK(fr_engine_new(NULL, &o, &bad) == FR_E_INVALID && !bad &&
          strstr(fr_error_message(), "multiple of 32"));
    o.detector_size = 0;
    o.detector_threshold = 1.5;
    CHECK(fr_engine_new(NULL, &o, &bad) == FR_E_INVALID && !bad &&
          strstr(fr_error_message(), "threshold 1.5"));
}

int main(void)
{
    const char *weights = fr_test_env("FACEREC_WEIGHTS");
    char dlib[1024];
    snprintf(dlib, sizeof dlib, "%s/dlib.frw", weights);
    if (access(dlib, R_OK) != 0)
        fr_test_skip("no dlib weights (weights/fetch.sh)");
    const char *data = fr_test_env("FACEREC_DATA");
    for (int i = 0; i < NPEOPLE; i++)
        snprintf(paths[i], sizeof paths[i], "%s/happyhouse/database/%s.%s", data, PEOPLE[i],
                 strcmp(PEOPLE[i], "danielle") == 0 ? "png" : "jpg");
    for (int i = 0; i < 4; i++)
        snprintf(paths[NPEOPLE + i], sizeof paths[0], "%s/happyhouse/camera/camera_%d.jpg",
                 data, i);
    snprintf(paths[NPEOPLE + 4], sizeof paths[0], "%s/missing.jpg", fr_test_tmpdir());
    snprintf(paths[NPEOPLE + 5], sizeof paths[0], "%s/tests/data/images/text.jpg",
             fr_test_env("FACEREC_SOURCE_DIR"));
    for (int i = 0; i < NPEOPLE + 6; i++)
        inputs[i] = paths[i];

    check_models(weights);
    fr_model *model = NULL;
    CHECK_OK(fr_model_open("dlib", NULL, &model));
    fr_results *gallery = NULL;
    if (model)
        check_engine(model, &gallery);
    check_distances();
    check_detector_choice(weights);
    if (gallery)
        check_database(model, gallery);
    fr_results_free(gallery);
    fr_model_free(model);
    return fr_test_finish("test_api");
}
