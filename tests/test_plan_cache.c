/*
 * test_plan_cache.c: the cuDNN plan cache's file, keys and distrust (cuda/plan_cache.h), all
 * of which work without a GPU: records survive a save and reopen bit for bit (JSON with any
 * bytes); a file of another device key or format version is stale and starts empty; every
 * single-byte change, every truncation and any appended byte is caught as corruption (the
 * checksum); a re-signed file with lengths or counts past its end or past the bounds is
 * refused without reading past the buffer (run under ASan in CI); two writers of one file
 * merge instead of dropping each other's records, and a forgotten record stays forgotten;
 * the directory comes from FACEREC_PLAN_CACHE, XDG_CACHE_HOME or HOME, or none (off); and the
 * convolution key (cuda/conv.h) changes with every shape, precision and policy field and with
 * pointer alignment, but not with the pointers themselves.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conv.h"
#include "core/file.h"
#include "core/sha256.h"
#include "plan_cache.h"
#include "testutil.h"

static const char *device = "gpu=Test GPU sm=9.0 sms=132 driver=13000 runtime=13000 cudnn=91900";

static fr_plan_record record(int64_t engine, int knobs, const char *json)
{
    fr_plan_record r;
    memset(&r, 0, sizeof r);
    r.engine = engine;
    r.knob_count = knobs; /* may be over the bound, to be refused: only the array is filled */
    for (int k = 0; k < knobs && k < FR_PLAN_MAX_KNOBS; k++) {
        r.knobs[k][0] = k + 1;
        r.knobs[k][1] = engine * 100 + k - 7; /* negative values too */
    }
    r.json = (char *)json;
    r.json_size = json ? strlen(json) : 0;
    return r;
}

static int same_record(const fr_plan_record *a, const fr_plan_record *b)
{
    if (!a || !b || a->engine != b->engine || a->knob_count != b->knob_count ||
        a->json_size != b->json_size)
        return 0;
    if (memcmp(a->knobs, b->knobs, sizeof a->knobs[0] * (size_t)a->knob_count) != 0)
        return 0;
    return a->json_size == 0 || memcmp(a->json, b->json, a->json_size) == 0;
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, size, f) == size);
        fclose(f);
    }
}

/* Opens path and returns the record count; *corrupt, *stale from the note. */
static size_t reopen(const char *path, const char *key, int *corrupt)
{
    fr_plan_cache *c = NULL;
    CHECK_OK(fr_plan_cache_open(path, key, &c));
    if (!c)
        return (size_t)-1;
    size_t n = fr_plan_cache_count(c);
    *corrupt = fr_plan_cache_was_corrupt(c);
    fr_plan_cache_free(c);
    return n;
}

static void test_round_trip(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sub/dir/plans.bin", dir); /* directories are created */
    fr_plan_cache *c;
    CHECK_OK(fr_plan_cache_open(path, device, &c));
    CHECK(fr_plan_cache_count(c) == 0);
    CHECK(strstr(fr_plan_cache_note(c), "no cache yet") != NULL);
    CHECK(!fr_plan_cache_was_corrupt(c));
    static const char json_with_zero[] = {'{', '"', 'a', 0, '"', '}'};
    fr_plan_record a = record(12, 3, "{\"engine\": 12, \"knobs\": [1, 2, 3]}");
    fr_plan_record b = record(-1, 0, NULL);
    fr_plan_record z = record(7, FR_PLAN_MAX_KNOBS, NULL);
    z.json = (char *)json_with_zero;
    z.json_size = sizeof json_with_zero;
    CHECK_OK(fr_plan_cache_put(c, "conv1 graph-fused n=8 a", &a));
    CHECK_OK(fr_plan_cache_put(c, "conv1 graph-fused n=8 b", &b));
    CHECK_OK(fr_plan_cache_put(c, "conv1 graph n=16 z", &z));
    /* replacing a record keeps one */
    CHECK_OK(fr_plan_cache_put(c, "conv1 graph-fused n=8 b", &b));
    CHECK(fr_plan_cache_count(c) == 3);
    /* out-of-bounds records are refused */
    fr_plan_record bad = record(1, FR_PLAN_MAX_KNOBS + 1, NULL);
    CHECK(fr_plan_cache_put(c, "too many knobs", &bad) == FR_E_INVALID);
    CHECK(fr_plan_cache_put(c, "", &a) == FR_E_INVALID);
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);

    CHECK_OK(fr_plan_cache_open(path, device, &c));
    CHECK(fr_plan_cache_count(c) == 3);
    CHECK(strstr(fr_plan_cache_note(c), "3 plans from") != NULL);
    CHECK(same_record(fr_plan_cache_find(c, "conv1 graph-fused n=8 a"), &a));
    CHECK(same_record(fr_plan_cache_find(c, "conv1 graph-fused n=8 b"), &b));
    CHECK(same_record(fr_plan_cache_find(c, "conv1 graph n=16 z"), &z));
    CHECK(fr_plan_cache_find(c, "conv1 graph-fused n=8") == NULL); /* whole keys only */
    fr_plan_cache_free(c);

    /* no temporary file is left beside it */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "ls -a '%s/sub/dir' | grep -q tmp", dir);
    CHECK(fr_test_system(tmp) != 0);
}

static void test_stale(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/stale.bin", dir);
    fr_plan_cache *c;
    CHECK_OK(fr_plan_cache_open(path, device, &c));
    fr_plan_record a = record(3, 1, "{}");
    CHECK_OK(fr_plan_cache_put(c, "k", &a));
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);

    /* another cuDNN version: the file is sound but not ours */
    const char *other = "gpu=Test GPU sm=9.0 sms=132 driver=13000 runtime=13000 cudnn=92000";
    CHECK_OK(fr_plan_cache_open(path, other, &c));
    CHECK(fr_plan_cache_count(c) == 0);
    CHECK(strstr(fr_plan_cache_note(c), "stale") != NULL);
    CHECK(!fr_plan_cache_was_corrupt(c));
    CHECK(fr_plan_cache_find(c, "k") == NULL);
    /* saving rebuilds it for the new key, even with nothing planned yet */
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);
    int corrupt = 0;
    CHECK(reopen(path, device, &corrupt) == 0 && !corrupt);
    CHECK(reopen(path, other, &corrupt) == 0 && !corrupt);

    /* another format version, correctly signed: stale too */
    CHECK_OK(fr_plan_cache_open(path, device, &c));
    CHECK_OK(fr_plan_cache_put(c, "k", &a));
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);
    void *data;
    size_t size;
    CHECK_OK(fr_file_read(path, 1 << 20, &data, &size));
    uint8_t *bytes = data;
    bytes[8] = FR_PLAN_CACHE_VERSION + 1;
    char hex[65];
    fr_sha256_hex(bytes, size - 64, hex);
    memcpy(bytes + size - 64, hex, 64);
    write_bytes(path, bytes, size);
    free(data);
    fr_plan_cache *v;
    CHECK_OK(fr_plan_cache_open(path, device, &v));
    CHECK(fr_plan_cache_count(v) == 0 && !fr_plan_cache_was_corrupt(v));
    CHECK(strstr(fr_plan_cache_note(v), "another format version") != NULL);
    fr_plan_cache_free(v);
}

static void test_corruption(const char *dir)
{
    char path[512], good[512];
    snprintf(good, sizeof good, "%s/good.bin", dir);
    snprintf(path, sizeof path, "%s/bad.bin", dir);
    fr_plan_cache *c;
    CHECK_OK(fr_plan_cache_open(good, device, &c));
    fr_plan_record a = record(5, 2, "{\"plan\": 5}"), b = record(6, 0, NULL);
    CHECK_OK(fr_plan_cache_put(c, "first", &a));
    CHECK_OK(fr_plan_cache_put(c, "second", &b));
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);
    void *data;
    size_t size;
    CHECK_OK(fr_file_read(good, 1 << 20, &data, &size));
    uint8_t *bytes = data;
    int corrupt = 0;
    CHECK(reopen(good, device, &corrupt) == 2 && !corrupt);

    /* every byte changed in turn: never a record, always "corrupt" */
    int missed = 0;
    for (size_t i = 0; i < size; i++) {
        bytes[i] ^= 0x20;
        write_bytes(path, bytes, size);
        bytes[i] ^= 0x20;
        if (reopen(path, device, &corrupt) != 0 || !corrupt)
            missed++;
    }
    CHECK(missed == 0);
    /* every truncation, and a byte appended */
    missed = 0;
    for (size_t n = 0; n < size; n++) {
        write_bytes(path, bytes, n);
        if (reopen(path, device, &corrupt) != 0 || !corrupt)
            missed++;
    }
    CHECK(missed == 0);
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, bytes, size);
    longer[size] = '\n';
    write_bytes(path, longer, size + 1);
    CHECK(reopen(path, device, &corrupt) == 0 && corrupt);
    free(longer);

    /* a corrupt file is replaced by the next save */
    bytes[20] ^= 1;
    write_bytes(path, bytes, size);
    bytes[20] ^= 1;
    CHECK_OK(fr_plan_cache_open(path, device, &c));
    CHECK(fr_plan_cache_was_corrupt(c));
    CHECK(strstr(fr_plan_cache_note(c), "corrupt (checksum mismatch), rebuilt") != NULL);
    CHECK_OK(fr_plan_cache_put(c, "first", &a));
    CHECK_OK(fr_plan_cache_save(c));
    fr_plan_cache_free(c);
    CHECK(reopen(path, device, &corrupt) == 1 && !corrupt);
    free(data);
}

/* Files whose checksum is right but whose lengths lie: the reader's bounds, not the checksum,
 * must stop them (a file written by a broken or hostile writer). */
static void test_bounds(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bounds.bin", dir);
    size_t key_len = strlen(device);
    struct {
        const char *what;
        uint32_t count, key_len, knobs, json_len;
    } cases[] = {
        {"record count past the end", 0x7fffffffu, 3, 0, 0},
        {"key length past the end", 1, 0x7ffffff0u, 0, 0},
        {"knob count over the bound", 1, 3, FR_PLAN_MAX_KNOBS + 1, 0},
        {"json length past the end", 1, 3, 0, 0xfffffff0u},
        {"empty key", 1, 0, 0, 0},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        uint8_t buf[512];
        size_t n = 0;
#define PUT32(v)                                                                               \
    do {                                                                                       \
        uint32_t v_ = (v);                                                                     \
        for (int b_ = 0; b_ < 4; b_++)                                                         \
            buf[n++] = (uint8_t)(v_ >> (8 * b_));                                              \
    } while (0)
        memcpy(buf, "FRPLANS", 8);
        n = 8;
        PUT32(FR_PLAN_CACHE_VERSION);
        PUT32((uint32_t)key_len);
        memcpy(buf + n, device, key_len);
        n += key_len;
        PUT32(cases[t].count);
        PUT32(cases[t].key_len);
        size_t real_key = cases[t].key_len < 4 ? cases[t].key_len : 3;
        memcpy(buf + n, "abc", real_key);
        n += real_key;
        memset(buf + n, 0, 8); /* engine */
        n += 8;
        PUT32(cases[t].knobs);
        PUT32(cases[t].json_len);
#undef PUT32
        char hex[65];
        fr_sha256_hex(buf, n, hex);
        memcpy(buf + n, hex, 64);
        n += 64;
        write_bytes(path, buf, n);
        int corrupt = 0;
        size_t got = reopen(path, device, &corrupt);
        if (got != 0 || !corrupt)
            fprintf(stderr, "bounds case '%s' was not refused\n", cases[t].what);
        CHECK(got == 0 && corrupt);
    }
}

static void test_merge(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/merge.bin", dir);
    fr_plan_cache *one, *two;
    CHECK_OK(fr_plan_cache_open(path, device, &one));
    CHECK_OK(fr_plan_cache_open(path, device, &two));
    fr_plan_record a = record(1, 1, "{\"a\": 1}"), b = record(2, 2, NULL), c = record(3, 0, "{}");
    CHECK_OK(fr_plan_cache_put(one, "a", &a));
    CHECK_OK(fr_plan_cache_put(one, "shared", &c));
    CHECK_OK(fr_plan_cache_put(two, "b", &b));
    CHECK_OK(fr_plan_cache_save(one));
    CHECK_OK(fr_plan_cache_save(two)); /* two never saw a: it must not drop it */
    fr_plan_cache_free(one);
    fr_plan_cache_free(two);
    fr_plan_cache *all;
    CHECK_OK(fr_plan_cache_open(path, device, &all));
    CHECK(fr_plan_cache_count(all) == 3);
    CHECK(same_record(fr_plan_cache_find(all, "a"), &a));
    CHECK(same_record(fr_plan_cache_find(all, "b"), &b));
    /* a record that failed is forgotten, and another writer's older copy does not bring it
     * back */
    fr_plan_cache *stale_writer;
    CHECK_OK(fr_plan_cache_open(path, device, &stale_writer));
    fr_plan_cache_forget(all, "shared");
    CHECK(fr_plan_cache_find(all, "shared") == NULL);
    CHECK_OK(fr_plan_cache_save(all));
    fr_plan_cache_free(all);
    int corrupt = 0;
    CHECK(reopen(path, device, &corrupt) == 2);
    fr_plan_cache_free(stale_writer); /* never saved: nothing to merge */
}

static void test_location(void)
{
    char path[4096];
    setenv("FACEREC_PLAN_CACHE", "/tmp/fr-plans", 1);
    CHECK_OK(fr_plan_cache_default_path(device, path, sizeof path));
    CHECK(strncmp(path, "/tmp/fr-plans/cudnn-plans-", 26) == 0);
    char other[4096];
    CHECK_OK(fr_plan_cache_default_path("gpu=Other", other, sizeof other));
    CHECK(strcmp(path, other) != 0); /* one file per device key */
    setenv("FACEREC_PLAN_CACHE", "off", 1);
    CHECK(fr_plan_cache_default_path(device, path, sizeof path) == FR_E_UNSUPPORTED);
    unsetenv("FACEREC_PLAN_CACHE");
    setenv("XDG_CACHE_HOME", "/var/cache/x", 1);
    CHECK_OK(fr_plan_cache_default_path(device, path, sizeof path));
    CHECK(strncmp(path, "/var/cache/x/facerec/", 21) == 0);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/someone", 1);
    CHECK_OK(fr_plan_cache_default_path(device, path, sizeof path));
    CHECK(strncmp(path, "/home/someone/.cache/facerec/", 29) == 0);
    unsetenv("HOME");
    CHECK(fr_plan_cache_default_path(device, path, sizeof path) == FR_E_UNSUPPORTED);

    char k1[256], k2[256];
    fr_plan_device_key("NVIDIA H200", 9, 0, 132, 13000, 13000, 91900, k1, sizeof k1);
    fr_plan_device_key("NVIDIA H100 80GB HBM3", 9, 0, 132, 13000, 13000, 91900, k2, sizeof k2);
    CHECK(strcmp(k1, k2) != 0);
    fr_plan_device_key("NVIDIA H200", 9, 0, 132, 13000, 13000, 92000, k2, sizeof k2);
    CHECK(strcmp(k1, k2) != 0);
    fr_plan_device_key("NVIDIA H200", 9, 0, 132, 13010, 13000, 91900, k2, sizeof k2);
    CHECK(strcmp(k1, k2) != 0);
}

static void test_conv_key(void)
{
    static _Alignas(256) uint8_t arena[4096];
    fr_conv_spec base;
    memset(&base, 0, sizeof base);
    base.n = 64;
    base.dtype = FR_CU_F16;
    base.precision = FR_PRECISION_FP16;
    base.x = (fr_cu_view){arena, 35, 35, 32, 32};
    base.y = (fr_cu_view){arena + 256, 35, 35, 64, 256};
    base.w = arena + 512;
    base.bias = arena + 768;
    base.kh = base.kw = 3;
    base.sh = base.sw = 1;
    base.pt = base.pl = base.pb = base.pr = 1;
    base.act = FR_ACT_RELU;
    char ref[FR_PLAN_MAX_KEY], key[FR_PLAN_MAX_KEY];
    fr_conv_plan_key(&base, FR_CONV_GRAPH_FUSED, 512u << 20, 1, ref, sizeof ref);
    CHECK(strlen(ref) < sizeof ref - 1); /* never cut short */

    /* other pointers with the same alignment: the same plan */
    fr_conv_spec s = base;
    s.x.data = arena + 1024;
    s.w = arena + 2048;
    fr_conv_plan_key(&s, FR_CONV_GRAPH_FUSED, 512u << 20, 1, key, sizeof key);
    CHECK(strcmp(ref, key) == 0);

    int changed = 0, cases = 0;
#define VARY(stmt)                                                                             \
    do {                                                                                       \
        s = base;                                                                              \
        stmt;                                                                                  \
        fr_conv_plan_key(&s, FR_CONV_GRAPH_FUSED, 512u << 20, 1, key, sizeof key);             \
        cases++;                                                                               \
        if (strcmp(ref, key) != 0)                                                             \
            changed++;                                                                         \
        else                                                                                   \
            fprintf(stderr, "key unchanged by: %s\n", #stmt);                                  \
    } while (0)
    VARY(s.n = 128);
    VARY(s.dtype = FR_CU_F32);
    VARY(s.precision = FR_PRECISION_TF32);
    VARY(s.x.h = 36);
    VARY(s.x.w = 36);
    VARY(s.x.c = 24);
    VARY(s.x.ld = 64);
    VARY(s.y.c = 32);
    VARY(s.y.ld = 320);
    VARY(s.y.h = 17);
    VARY(s.kh = 1);
    VARY(s.kw = 7);
    VARY(s.sh = 2);
    VARY(s.sw = 2);
    VARY(s.pt = 0);
    VARY(s.pb = 2);
    VARY(s.pl = 0);
    VARY(s.pr = 2);
    VARY(s.act = FR_ACT_NONE);
    VARY(s.accumulate = 1);
    VARY(s.x.data = arena + 2);   /* 2-byte aligned input */
    VARY(s.y.data = arena + 264); /* 8-byte aligned output view */
    VARY(s.w = arena + 516);
    VARY(s.bias = arena + 770);
#undef VARY
    CHECK(changed == cases);
    fr_conv_plan_key(&base, FR_CONV_GRAPH, 512u << 20, 1, key, sizeof key);
    CHECK(strcmp(ref, key) != 0);
    fr_conv_plan_key(&base, FR_CONV_GRAPH_FUSED, 256u << 20, 1, key, sizeof key);
    CHECK(strcmp(ref, key) != 0);
    fr_conv_plan_key(&base, FR_CONV_GRAPH_FUSED, 512u << 20, 0, key, sizeof key);
    CHECK(strcmp(ref, key) != 0);
}

int main(void)
{
    const char *dir = fr_test_tmpdir();
    test_round_trip(dir);
    test_stale(dir);
    test_corruption(dir);
    test_bounds(dir);
    test_merge(dir);
    test_location();
    test_conv_key();
    return fr_test_finish("test_plan_cache");
}
