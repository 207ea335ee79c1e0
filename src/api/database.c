/*
 * database.c: the public identity database (facerec.h, fr_database_*), a facade over the
 * store (store/store.h) and the matching rules (match/identity.h) that `facerec verify` and
 * `facerec identify` use.
 *
 * A service asks many questions of one database, so the gallery is loaded once and kept
 * with its matcher and distance engine, and reloaded only when it may have changed: after a
 * change through this handle, when SQLite's data version says another connection committed
 * one, or for another model, rule, threshold or device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "facerec.h"
#include "match/distance.h"
#include "match/identity.h"
#include "store/store.h"

struct fr_database {
    fr_store *store;
    /* what matching uses, valid while loaded */
    int loaded;
    char model_key[512];
    int64_t version;             /* fr_store_data_version when loaded */
    fr_gallery gallery;
    fr_distance_engine *engine;
    fr_device device;            /* the engine's */
    int threads;
    fr_matcher *matcher;
    fr_aggregate aggregate;      /* the matcher's */
    float threshold;
    /* the last fr_database_people answer */
    fr_person *people;
    fr_person_entry *entries;
    size_t people_count;
};

fr_status fr_database_open(const char *path, fr_database_mode mode, fr_database **out)
{
    static const fr_store_mode modes[] = {FR_STORE_READ, FR_STORE_WRITE, FR_STORE_CREATE};
    if (!path)
        return fr_fail(FR_E_INVALID, "database: no path");
    if ((unsigned)mode >= sizeof modes / sizeof modes[0])
        return fr_fail(FR_E_INVALID, "%s: unknown database mode %d", path, (int)mode);
    fr_database *d = fr_calloc(1, sizeof *d, "a database");
    if (!d)
        return FR_E_NOMEM;
    fr_status st = fr_store_open(path, modes[mode], &d->store);
    if (st) {
        free(d);
        return st;
    }
    *out = d;
    return FR_OK;
}

static void forget_people(fr_database *d)
{
    fr_store_people_free(d->people, d->people_count);
    free(d->entries);
    d->people = NULL;
    d->entries = NULL;
    d->people_count = 0;
}

/* After a change, or before a reload: the gallery and its matcher go (the engine stays). */
static void unload(fr_database *d)
{
    fr_matcher_free(d->matcher);
    d->matcher = NULL;
    fr_gallery_free(&d->gallery);
    d->loaded = 0;
}

void fr_database_close(fr_database *d)
{
    if (!d)
        return;
    unload(d);
    fr_distance_free(d->engine);
    forget_people(d);
    fr_store_close(d->store);
    free(d);
}

fr_status fr_database_enroll(fr_database *d, const fr_model *model, size_t count,
                             const char *const *names, const float *embeddings,
                             const char *const *sources)
{
    if (!model || (count && (!names || !embeddings)))
        return fr_fail(FR_E_INVALID, "enroll: no model, names or embeddings");
    const fr_model_info *info = fr_model_get_info(model);
    size_t dim = (size_t)info->embedding_size;
    fr_enrollment *items = fr_malloc((count ? count : 1) * sizeof *items, "enrolments");
    if (!items)
        return FR_E_NOMEM;
    for (size_t i = 0; i < count; i++) {
        items[i].name = names[i] ? names[i] : "";
        items[i].source = sources && sources[i] ? sources[i] : "";
        items[i].vector = embeddings + i * dim;
    }
    unload(d);
    fr_status st = fr_store_enroll(d->store, info, items, count);
    free(items);
    return st;
}

fr_status fr_database_people(fr_database *d, const fr_person_entry **people, size_t *count)
{
    forget_people(d);
    fr_status st = fr_store_people(d->store, &d->people, &d->people_count);
    if (st)
        return st;
    d->entries = fr_calloc(d->people_count ? d->people_count : 1, sizeof *d->entries, "people");
    if (!d->entries) {
        forget_people(d);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < d->people_count; i++)
        d->entries[i] = (fr_person_entry){d->people[i].name, d->people[i].embeddings,
                                          d->people[i].created};
    *people = d->entries;
    *count = d->people_count;
    return FR_OK;
}

fr_status fr_database_remove(fr_database *d, const char *const *names, size_t count)
{
    if (count && !names)
        return fr_fail(FR_E_INVALID, "remove: no names");
    unload(d);
    return fr_store_remove(d->store, names, count);
}

fr_status fr_database_rename(fr_database *d, const char *from, const char *to)
{
    if (!from || !to)
        return fr_fail(FR_E_INVALID, "rename: no name");
    unload(d);
    return fr_store_rename(d->store, from, to);
}

/* The gallery, matcher and engine for a question: reused while nothing they depend on has
 * changed. */
static fr_status ready(fr_database *d, const fr_model *model, const fr_match_options *options)
{
    fr_match_options o = {0, FR_AGGREGATION_MIN, FR_DEVICE_AUTO, 0};
    if (options)
        o = *options;
    if (!model)
        return fr_fail(FR_E_INVALID, "matching: no model");
    const fr_model_info *info = fr_model_get_info(model);
    float threshold = o.threshold > 0 ? o.threshold : info->threshold;
    if (!(threshold > 0) || !isfinite(threshold))
        return fr_fail(FR_E_INVALID, "the %s model has no default threshold: give one in the "
                       "match options", info->arch);
    if (o.aggregation != FR_AGGREGATION_MIN && o.aggregation != FR_AGGREGATION_MEAN)
        return fr_fail(FR_E_INVALID, "matching: unknown aggregation %d", (int)o.aggregation);
    if (o.threads < 0)
        return fr_fail(FR_E_INVALID, "matching: negative threads (%d)", o.threads);
    fr_aggregate aggregate = o.aggregation == FR_AGGREGATION_MEAN ? FR_AGGREGATE_MEAN
                                                                   : FR_AGGREGATE_MIN;
    char key[512];
    fr_store_model_key(info, key, sizeof key);
    int64_t version = 0;
    fr_status st = fr_store_data_version(d->store, &version);
    if (st)
        return st;
    if (d->loaded && (strcmp(key, d->model_key) != 0 || version != d->version))
        unload(d);
    if (d->engine && (d->device != o.device || d->threads != o.threads)) {
        fr_matcher_free(d->matcher);
        d->matcher = NULL;
        fr_distance_free(d->engine);
        d->engine = NULL;
    }
    if (!d->loaded) {
        st = fr_store_load(d->store, info, &d->gallery);
        if (st)
            return st;
        d->loaded = 1;
        d->version = version;
        snprintf(d->model_key, sizeof d->model_key, "%s", key);
    }
    if (!d->engine) {
        fr_distance_options dopt = {o.device, o.threads, 0};
        if ((st = fr_distance_new(&dopt, &d->engine)))
            return st;
        d->device = o.device;
        d->threads = o.threads;
    }
    if (d->matcher && (d->aggregate != aggregate || d->threshold != threshold)) {
        fr_matcher_free(d->matcher);
        d->matcher = NULL;
    }
    if (!d->matcher) {
        if ((st = fr_matcher_new(&d->gallery, aggregate, threshold, d->engine, &d->matcher)))
            return st;
        d->aggregate = aggregate;
        d->threshold = threshold;
    }
    return FR_OK;
}

static fr_candidate candidate(const fr_database *d, const fr_match *m)
{
    fr_candidate c = {NULL, NULL, INFINITY, 0};
    if (m->person < 0)
        return c;
    c.name = d->gallery.names[m->person];
    c.image = m->image >= 0 ? d->gallery.sources[m->image] : NULL;
    c.distance = m->distance;
    c.accepted = m->accepted;
    return c;
}

fr_status fr_database_verify(fr_database *d, const fr_model *model,
                             const fr_match_options *options, const float *probes, size_t count,
                             const char *const *names, fr_candidate *out)
{
    if (count && (!probes || !names || !out))
        return fr_fail(FR_E_INVALID, "verify: no probes, names or room for the answers");
    fr_status st = ready(d, model, options);
    if (st)
        return st;
    int32_t *persons = fr_malloc((count ? count : 1) * sizeof *persons, "claims");
    fr_match *answers = fr_malloc((count ? count : 1) * sizeof *answers, "answers");
    if (!persons || !answers)
        st = FR_E_NOMEM;
    for (size_t i = 0; !st && i < count; i++) {
        persons[i] = names[i] ? fr_gallery_find(&d->gallery, names[i]) : -1;
        if (persons[i] < 0)
            st = fr_fail(FR_E_NOT_FOUND, "no person named '%s' in the database",
                         names[i] ? names[i] : "(null)");
    }
    if (!st)
        st = fr_matcher_verify(d->matcher, probes, count, persons, answers);
    for (size_t i = 0; !st && i < count; i++)
        out[i] = candidate(d, &answers[i]);
    free(persons);
    free(answers);
    return st;
}

fr_status fr_database_identify(fr_database *d, const fr_model *model,
                               const fr_match_options *options, const float *probes,
                               size_t count, size_t k, fr_candidate *out)
{
    size_t slots;
    if (k == 0 || !fr_mul_size(count, k, &slots) ||
        !fr_mul_size(slots, sizeof(fr_match), &slots))
        return fr_fail(FR_E_INVALID, "identify: k = %zu for %zu probes", k, count);
    if (count && (!probes || !out))
        return fr_fail(FR_E_INVALID, "identify: no probes or no room for the answers");
    fr_status st = ready(d, model, options);
    if (st)
        return st;
    fr_match *found = fr_malloc(slots ? slots : 1, "the nearest people");
    if (!found)
        return FR_E_NOMEM;
    st = fr_matcher_identify(d->matcher, probes, count, k, found);
    for (size_t i = 0; !st && i < count * k; i++)
        out[i] = candidate(d, &found[i]);
    free(found);
    return st;
}
