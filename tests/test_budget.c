/*
 * test_budget.c: the decode memory budget (core/budget.h) and its use by the pipeline: takes
 * wait for room and never over-commit (many threads), a request over the whole budget runs
 * alone, the size probe (fr_image_decode_pixels) matches what decoding produces, and an
 * embedder given a budget never holds more decoded images than it allows while still
 * answering every input. FACEREC_DECODE_MEMORY is parsed strictly.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/budget.h"
#include "core/file.h"
#include "detect/draw.h"
#include "engine/embedder.h"
#include "image/decode.h"
#include "testutil.h"

static void basics(void)
{
    fr_budget *b;
    CHECK_OK(fr_budget_new(100, &b));
    CHECK(fr_budget_capacity(b) == 100);
    fr_budget_take(b, 60);
    CHECK(!fr_budget_fits(b, 50));
    CHECK(fr_budget_fits(b, 40));
    fr_budget_take(b, 40);
    CHECK(!fr_budget_fits(b, 1));
    fr_budget_give(b, 60);
    fr_budget_give(b, 40);
    /* over the whole budget: granted when nothing else is taken, and only then */
    CHECK(fr_budget_fits(b, 500));
    fr_budget_take(b, 500);
    CHECK(!fr_budget_fits(b, 1));
    fr_budget_give(b, 500);
    CHECK(fr_budget_peak(b) == 500);
    fr_budget_free(b);
}

typedef struct shared {
    fr_budget *budget;
    pthread_mutex_t lock;
    size_t in_use, holders, worst; /* worst: in use by two or more holders at once */
    uint64_t seed;
} shared;

static void *taker(void *arg)
{
    shared *s = arg;
    pthread_mutex_lock(&s->lock);
    uint64_t state = s->seed++;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < 300; i++) {
        size_t bytes = 1 + fr_test_rand(&state) % 120; /* some over half the budget */
        fr_budget_take(s->budget, bytes);
        pthread_mutex_lock(&s->lock);
        s->in_use += bytes;
        if (++s->holders > 1 && s->in_use > s->worst)
            s->worst = s->in_use;
        pthread_mutex_unlock(&s->lock);
        sched_yield();
        pthread_mutex_lock(&s->lock);
        s->in_use -= bytes;
        s->holders--;
        pthread_mutex_unlock(&s->lock);
        fr_budget_give(s->budget, bytes);
    }
    return NULL;
}

static void threads(void)
{
    shared s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    s.seed = 14;
    CHECK_OK(fr_budget_new(150, &s.budget));
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, taker, &s);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    CHECK(s.worst <= 150);
    CHECK(fr_budget_peak(s.budget) <= 150);
    CHECK(s.in_use == 0);
    fr_budget_free(s.budget);
    pthread_mutex_destroy(&s.lock);
}

typedef struct waiter {
    fr_budget *budget;
    volatile int got;
} waiter;

static void *wait_for_room(void *arg)
{
    waiter *w = arg;
    fr_budget_take(w->budget, 80);
    w->got = 1;
    fr_budget_give(w->budget, 80);
    return NULL;
}

/* a taker without room waits until room is given back, then proceeds */
static void waits(void)
{
    waiter w = {NULL, 0};
    CHECK_OK(fr_budget_new(100, &w.budget));
    fr_budget_take(w.budget, 80);
    pthread_t t;
    pthread_create(&t, NULL, wait_for_room, &w);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(!w.got); /* 80 + 80 > 100: it must still be waiting */
    fr_budget_give(w.budget, 80);
    pthread_join(t, NULL);
    CHECK(w.got);
    fr_budget_free(w.budget);
}

static void environment(void)
{
    size_t bytes;
    setenv("FACEREC_DECODE_MEMORY", "512", 1);
    CHECK_OK(fr_budget_default_capacity(&bytes));
    CHECK(bytes == (size_t)512 << 20);
    const char *bad[] = {"0", "-5", "abc", "12k", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("FACEREC_DECODE_MEMORY", bad[i], 1);
        CHECK(fr_budget_default_capacity(&bytes) == FR_E_INVALID);
        CHECK(strstr(fr_error_message(), "FACEREC_DECODE_MEMORY") != NULL);
    }
    unsetenv("FACEREC_DECODE_MEMORY");
    CHECK_OK(fr_budget_default_capacity(&bytes));
    CHECK(bytes > 0 && bytes <= (size_t)1 << 30);
}

/* The probe's pixels against the decoder's, for every fixture that decodes. */
static void probe(const char *source)
{
    const char *files[] = {"rgb422.jpg", "rgb_odd420.jpg", "gray.jpg", "cmyk.jpg", "ycck.jpg",
                           "gray.png", "rgba16.png", "palette4.png", "interlaced.png",
                           "bomb.png", "bomb.jpg", "tiny.gif", "random.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/data/images/%s", source, files[i]);
        void *data;
        size_t size;
        CHECK_OK(fr_file_read(path, FR_MAX_FILE_BYTES, &data, &size));
        for (int min_side = 0; min_side <= 16; min_side += 16) {
            fr_decode_options o = {0, min_side};
            int64_t pixels = fr_image_decode_pixels(data, size, &o);
            fr_image im;
            if (fr_image_decode(data, size, path, &o, &im) == FR_OK) {
                int64_t decoded = (int64_t)im.width * im.height;
                int cmyk = strstr(files[i], "cmyk") || strstr(files[i], "ycck");
                CHECK(cmyk ? pixels >= decoded * 7 / 3 && pixels <= decoded * 7 / 3 + 7
                           : pixels == decoded);
                fr_image_free(&im);
            } else if (strstr(files[i], "bomb")) {
                CHECK(pixels == FR_DEFAULT_MAX_PIXELS); /* over the cap: the cap */
            } else {
                CHECK(pixels == 0); /* GIF, random bytes */
            }
        }
        free(data);
    }
}

typedef struct counts {
    int ok, failed;
} counts;

static int count_result(void *ctx, const fr_embed_result *r)
{
    counts *c = ctx;
    if (r->status == FR_OK)
        c->ok++;
    else
        c->failed++;
    return 0;
}

/* Eight 600 x 600 PNGs (1.08 MB decoded each) through 4 decode threads: with a budget for
 * two at a time, never more are held (peak), every image is answered; with one byte, each
 * runs alone. */
static void embedder(void)
{
    const char *tmp = fr_test_tmpdir();
    char names[8][512];
    const char *paths[8];
    fr_image im = {600, 600, malloc(600 * 600 * 3)};
    uint64_t state = 7;
    for (size_t i = 0; i < 600 * 600 * 3; i++)
        im.pixels[i] = (uint8_t)fr_test_rand(&state);
    size_t file_size = 0;
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof names[i], "%s/img%d.png", tmp, i);
        CHECK_OK(fr_image_save_png(&im, names[i]));
        paths[i] = names[i];
        struct stat st;
        if (stat(names[i], &st) == 0)
            file_size = (size_t)st.st_size;
    }
    fr_image_free(&im);
    size_t one = file_size + 600 * 600 * 3; /* align none: 3 bytes a pixel */
    fr_model *model;
    CHECK_OK(fr_model_new_pixels(64, &model));
    size_t capacities[] = {2 * one + one / 2, 1};
    for (int k = 0; k < 2; k++) {
        fr_budget *budget;
        CHECK_OK(fr_budget_new(capacities[k], &budget));
        fr_embedder_options options;
        memset(&options, 0, sizeof options);
        options.runner.device = FR_DEVICE_CPU;
        options.align = FR_ALIGN_NONE;
        options.decode_threads = 4;
        options.full_decode = 1;
        options.decode_budget = budget;
        fr_embedder *e = NULL;
        CHECK_OK(fr_embedder_new(model, &options, &e));
        counts c = {0, 0};
        if (e)
            CHECK_OK(fr_embed_files(e, paths, 8, count_result, &c));
        CHECK(c.ok == 8 && c.failed == 0);
        size_t peak = fr_budget_peak(budget);
        if (k == 0)
            CHECK(peak >= one && peak <= 2 * one);
        else
            CHECK(peak == one);
        fr_embedder_free(e);
        fr_budget_free(budget);
    }
    fr_model_free(model);
}

int main(void)
{
    const char *source = fr_test_env("FACEREC_SOURCE_DIR");
    basics();
    threads();
    waits();
    environment();
    if (source)
        probe(source);
    embedder();
    return fr_test_finish("test_budget");
}
