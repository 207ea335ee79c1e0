/* train.c: the training loop: the split by person, batches, selection, validation, stopping. */
#include "learn/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/random.h"
#include "learn/backend.h"
#include "match/eval.h"
#include "runtime/device.h"

#define VAL_FOLDS 10

void fr_train_defaults(fr_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 30;
    o->people_per_batch = 30;
    o->faces_per_person = 8;
    o->alpha = FR_TRIPLET_ALPHA;
    o->negatives = FR_NEGATIVES_SEMIHARD;
    fr_optimizer_defaults(FR_OPTIMIZER_ADAM, &o->optimizer);
    o->lr = 1e-3;
    o->schedule = FR_SCHEDULE_CONSTANT;
    o->lr_step = 10;
    o->lr_gamma = 0.1;
    o->val_fraction = 0.1;
    o->patience = 5;
    o->seed = 1;
}

fr_status fr_learn_backend_for(fr_device requested, const fr_learn_backend **out)
{
    fr_device device;
    fr_status st = fr_device_resolve(requested, &device);
    if (st)
        return st;
#ifdef FACEREC_HAVE_CUDA
    *out = device == FR_DEVICE_CUDA ? &fr_cuda_learn_backend : &fr_cpu_learn_backend;
#else
    *out = &fr_cpu_learn_backend;
#endif
    return FR_OK;
}

/* The faces of each person, and the people split into training and validation. */
typedef struct split {
    int32_t *order;     /* faces grouped by person: person p's are order[first[p] .. first[p+1]) */
    size_t *first;      /* people + 1 */
    int32_t *train;     /* training people with >= 2 faces */
    size_t train_count, train_faces, unused;
    int32_t *val;       /* validation people */
    size_t val_count, val_faces;
} split;

static void split_free(split *s)
{
    free(s->order);
    free(s->first);
    free(s->train);
    free(s->val);
}

static fr_status make_split(const fr_train_data *d, const fr_train_options *o, fr_random *rng,
                            split *s)
{
    memset(s, 0, sizeof *s);
    s->order = fr_malloc((d->count ? d->count : 1) * sizeof *s->order, "the training split");
    s->first = fr_calloc(d->people + 1, sizeof *s->first, "the training split");
    s->train = fr_malloc((d->people ? d->people : 1) * sizeof *s->train, "the training split");
    s->val = fr_malloc((d->people ? d->people : 1) * sizeof *s->val, "the training split");
    int32_t *people = fr_malloc((d->people ? d->people : 1) * sizeof *people, "the split");
    if (!s->order || !s->first || !s->train || !s->val || !people) {
        free(people);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < d->count; i++) {
        if (d->labels[i] < 0 || (size_t)d->labels[i] >= d->people) {
            free(people);
            return fr_fail(FR_E_INTERNAL, "label %d of %zu people", d->labels[i], d->people);
        }
        s->first[d->labels[i] + 1]++;
    }
    for (size_t p = 0; p < d->people; p++)
        s->first[p + 1] += s->first[p];
    size_t *fill = fr_malloc((d->people ? d->people : 1) * sizeof *fill, "the split");
    if (!fill) {
        free(people);
        return FR_E_NOMEM;
    }
    memcpy(fill, s->first, d->people * sizeof *fill);
    for (size_t i = 0; i < d->count; i++)
        s->order[fill[d->labels[i]]++] = (int32_t)i;
    free(fill);

    for (size_t p = 0; p < d->people; p++)
        people[p] = (int32_t)p;
    fr_random_shuffle(rng, people, d->people);
    size_t val = (size_t)llround(o->val_fraction * (double)d->people);
    if (o->val_fraction > 0 && val < 2)
        val = 2;
    if (val > d->people)
        val = d->people;
    for (size_t i = 0; i < d->people; i++) {
        int32_t p = people[i];
        size_t faces = s->first[p + 1] - s->first[p];
        if (i < val) {
            s->val[s->val_count++] = p;
            s->val_faces += faces;
        } else if (faces >= 2) {
            s->train[s->train_count++] = p;
            s->train_faces += faces;
        } else {
            s->unused++;
        }
    }
    free(people);
    if (s->train_count < 2)
        return fr_fail(FR_E_INVALID, "triplets need at least two people with two or more "
                       "faces each to train on; %zu of the %zu people (%zu held out for "
                       "validation) have that", s->train_count, d->people, s->val_count);
    return FR_OK;
}

/* Pairs of faces of the given people: up to FR_TRAIN_VAL_PAIRS same-person pairs drawn from
 * all of them, and as many pairs of two different people. */
typedef struct pair_set {
    fr_scored_pair *pairs;
    int32_t (*rows)[2];   /* indices into faces */
    size_t count, same;
    int32_t *faces;       /* the feature rows involved */
    size_t face_count;
} pair_set;

static void pairs_free(pair_set *p)
{
    free(p->pairs);
    free(p->rows);
    free(p->faces);
    memset(p, 0, sizeof *p);
}

static fr_status make_pairs(const split *s, const int32_t *people, size_t count, fr_random *rng,
                            pair_set *out)
{
    memset(out, 0, sizeof *out);
    size_t faces = 0, total_same = 0;
    for (size_t i = 0; i < count; i++) {
        size_t k = s->first[people[i] + 1] - s->first[people[i]];
        faces += k;
        total_same += k * (k - 1) / 2;
    }
    size_t same = total_same < FR_TRAIN_VAL_PAIRS ? total_same : FR_TRAIN_VAL_PAIRS;
    if (same == 0 || count < 2)
        return FR_OK; /* nothing to validate on */
    out->faces = fr_malloc(faces * sizeof *out->faces, "validation pairs");
    int32_t *owner = fr_malloc(faces * sizeof *owner, "validation pairs");
    out->pairs = fr_malloc(2 * same * sizeof *out->pairs, "validation pairs");
    out->rows = fr_malloc(2 * same * sizeof *out->rows, "validation pairs");
    size_t *start = fr_malloc((count + 1) * sizeof *start, "validation pairs");
    if (!out->faces || !owner || !out->pairs || !out->rows || !start) {
        free(owner);
        free(start);
        pairs_free(out);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        start[i] = out->face_count;
        for (size_t j = s->first[people[i]]; j < s->first[people[i] + 1]; j++) {
            owner[out->face_count] = (int32_t)i;
            out->faces[out->face_count++] = s->order[j];
        }
    }
    start[count] = out->face_count;
    /* same pairs: a uniform sample of `same` of the total_same (selection sampling, Knuth's
     * algorithm S, in the order the pairs are enumerated) */
    size_t seen = 0;
    for (size_t i = 0; i < count && out->count < same; i++)
        for (size_t a = start[i]; a < start[i + 1]; a++)
            for (size_t b = a + 1; b < start[i + 1]; b++, seen++)
                if ((double)(total_same - seen) * fr_random_uniform(rng) <
                    (double)(same - out->count)) {
                    out->rows[out->count][0] = (int32_t)a;
                    out->rows[out->count][1] = (int32_t)b;
                    out->count++;
                }
    out->same = out->count;
    while (out->count < 2 * out->same) {
        size_t a = (size_t)fr_random_below(rng, out->face_count);
        size_t b = (size_t)fr_random_below(rng, out->face_count);
        if (owner[a] == owner[b])
            continue;
        out->rows[out->count][0] = (int32_t)a;
        out->rows[out->count][1] = (int32_t)b;
        out->count++;
    }
    for (size_t i = 0; i < out->count; i++) {
        out->pairs[i].same = i < out->same;
        out->pairs[i].fold = -1;
    }
    free(owner);
    free(start);
    return fr_eval_assign_folds(out->pairs, out->count, VAL_FOLDS);
}

/* Scores the pairs with the backend's current head; too few pairs for the folds (a small
 * training set without validation) leave *out zeroed, its threshold NaN. */
static fr_status score(const fr_learn_backend *b, void *state, pair_set *p, int dim,
                       float *embeddings, fr_eval *out)
{
    memset(out, 0, sizeof *out);
    out->threshold = NAN;
    if (p->count < VAL_FOLDS)
        return FR_OK;
    fr_status st = b->embed(state, p->faces, p->face_count, embeddings);
    for (size_t i = 0; !st && i < p->count; i++) {
        const float *x = embeddings + (size_t)p->rows[i][0] * dim;
        const float *y = embeddings + (size_t)p->rows[i][1] * dim;
        double sum = 0;
        for (int k = 0; k < dim; k++) {
            double diff = (double)x[k] - y[k];
            sum += diff * diff;
        }
        p->pairs[i].distance = sqrt(sum);
    }
    return st ? st : fr_eval_run(p->pairs, p->count, VAL_FOLDS, 1e-3, out);
}

/* One batch: P people from the shuffled list (reshuffled when used up), up to K faces each. */
static size_t draw_batch(const split *s, const fr_train_options *o, fr_random *rng,
                         size_t *cursor, int32_t *rows, int32_t *labels, int32_t *pool)
{
    size_t n = 0;
    size_t people = (size_t)o->people_per_batch < s->train_count ? (size_t)o->people_per_batch
                                                                 : s->train_count;
    for (size_t i = 0; i < people; i++) {
        if (*cursor == s->train_count) {
            fr_random_shuffle(rng, s->train, s->train_count);
            *cursor = 0;
        }
        int32_t p = s->train[(*cursor)++];
        size_t k = s->first[p + 1] - s->first[p];
        memcpy(pool, s->order + s->first[p], k * sizeof *pool);
        size_t take = k < (size_t)o->faces_per_person ? k : (size_t)o->faces_per_person;
        for (size_t j = 0; j < take; j++) { /* a partial Fisher-Yates: take faces at random */
            size_t r = j + (size_t)fr_random_below(rng, k - j);
            int32_t t = pool[j];
            pool[j] = pool[r];
            pool[r] = t;
            rows[n] = pool[j];
            labels[n] = (int32_t)i;
            n++;
        }
    }
    return n;
}

fr_status fr_train(const fr_train_data *d, const fr_train_options *o, fr_head *head,
                   fr_train_progress progress, void *ctx, fr_train_result *result)
{
    double started = fr_seconds();
    memset(result, 0, sizeof *result);
    if (o->epochs < 1 || o->people_per_batch < 2 || o->faces_per_person < 2 || !(o->lr > 0) ||
        !(o->alpha > 0) || o->val_fraction < 0 || o->val_fraction >= 1)
        return fr_fail(FR_E_INVALID, "training options out of range (epochs >= 1, P >= 2, "
                       "K >= 2, lr > 0, margin > 0, 0 <= validation fraction < 1)");
    fr_random rng;
    fr_random_seed(&rng, o->seed);
    split s;
    fr_status st = make_split(d, o, &rng, &s);
    pair_set val;
    memset(&val, 0, sizeof val);
    if (!st) {
        /* without validation people, the threshold comes from training pairs */
        int has_val = s.val_count >= 2;
        st = has_val ? make_pairs(&s, s.val, s.val_count, &rng, &val)
                     : make_pairs(&s, s.train, s.train_count, &rng, &val);
        if (!st && has_val && val.count < VAL_FOLDS)
            st = fr_fail(FR_E_INVALID, "the %zu people held out for validation give %zu pairs "
                         "of faces, fewer than the %d folds need: hold out more (--val) or none "
                         "(--val 0)", s.val_count, val.count, VAL_FOLDS);
    }
    if (st) {
        split_free(&s);
        pairs_free(&val);
        return st;
    }
    int validate = s.val_count >= 2;
    result->train_people = s.train_count;
    result->train_faces = s.train_faces;
    result->unused_people = s.unused;
    result->val_people = s.val_count;
    result->val_faces = s.val_faces;
    result->val_same = val.same;
    result->val_different = val.count - val.same;

    size_t max_batch = (size_t)o->people_per_batch * (size_t)o->faces_per_person;
    int batches = o->batches > 0 ? o->batches
                                 : (int)((s.train_faces + max_batch - 1) / max_batch);
    const fr_learn_backend *backend = NULL;
    void *state = NULL;
    fr_head best;
    memset(&best, 0, sizeof best);
    int32_t *rows = fr_malloc(max_batch * sizeof *rows, "a batch");
    int32_t *labels = fr_malloc(max_batch * sizeof *labels, "a batch");
    int32_t *pool = NULL, *train_rows = NULL;
    float *squared = fr_malloc(max_batch * max_batch * sizeof *squared, "a batch");
    fr_triplet *triplets = fr_malloc(max_batch * max_batch / 2 * sizeof *triplets, "triplets");
    float *embeddings = val.face_count ? fr_malloc(val.face_count * (size_t)head->outputs *
                                                       sizeof(float), "validation embeddings")
                                       : NULL;
    size_t largest = 0;
    for (size_t p = 0; p < d->people; p++)
        if (s.first[p + 1] - s.first[p] > largest)
            largest = s.first[p + 1] - s.first[p];
    pool = fr_malloc((largest ? largest : 1) * sizeof *pool, "a batch");
    train_rows = fr_malloc(s.train_faces * sizeof *train_rows, "the training faces");
    if (!rows || !labels || !squared || !triplets || !pool || !train_rows ||
        (val.face_count && !embeddings))
        st = FR_E_NOMEM;
    size_t t = 0;
    for (size_t i = 0; !st && i < s.train_count; i++)
        for (size_t j = s.first[s.train[i]]; j < s.first[s.train[i] + 1]; j++)
            train_rows[t++] = s.order[j];
    if (!st)
        st = fr_learn_backend_for(o->device, &backend);
    if (!st)
        st = backend->open(head, d->features, d->count, max_batch, &o->optimizer, o->threads,
                           &state);
    if (!st)
        st = fr_head_copy(&best, head);

    fr_eval eval;
    double best_accuracy = -1;
    int best_epoch = 0, since_best = 0;
    if (!st) {
        st = score(backend, state, &val, head->outputs, embeddings, &eval);
        if (!st) {
            best_accuracy = eval.accuracy_mean;
            result->base_accuracy = validate ? eval.accuracy_mean : 0;
            result->threshold = eval.threshold;
        }
        if (!st && progress) {
            fr_epoch_report r = {0, o->epochs, o->lr, 0, 0, 0, validate, eval.accuracy_mean,
                                 eval.accuracy_std, eval.threshold, 0, fr_seconds() - started};
            if (progress(ctx, &r))
                st = fr_fail(FR_E_INVALID, "interrupted");
        }
    }
    size_t cursor = s.train_count; /* shuffle before the first batch */
    int epoch = 0;
    for (epoch = 1; !st && epoch <= o->epochs; epoch++) {
        double epoch_started = fr_seconds();
        double lr = fr_schedule_rate(o->schedule, o->lr, epoch - 1, o->epochs, o->lr_step,
                                     o->lr_gamma);
        double loss = 0;
        size_t selected = 0, valid = 0, active = 0;
        for (int b = 0; !st && b < batches; b++) {
            size_t n = draw_batch(&s, o, &rng, &cursor, rows, labels, pool);
            st = backend->forward(state, rows, n, squared);
            size_t count = 0;
            fr_selection_stats stats;
            if (!st)
                st = fr_triplets_select(squared, labels, n, o->alpha, o->negatives, &rng,
                                        triplets, &count, &stats);
            if (st)
                break;
            valid += stats.valid;
            active += stats.active;
            if (count == 0)
                continue; /* no semi-hard negative in this batch: nothing to learn from */
            double batch_loss;
            size_t open;
            st = backend->step(state, triplets, count, o->alpha, lr, &batch_loss, &open);
            loss += batch_loss;
            selected += count;
        }
        if (!st)
            st = backend->statistics(state, train_rows, s.train_faces);
        if (!st)
            st = score(backend, state, &val, head->outputs, embeddings, &eval);
        if (st)
            break;
        int better = validate ? eval.accuracy_mean > best_accuracy : 1;
        if (better) {
            best_accuracy = eval.accuracy_mean;
            best_epoch = epoch;
            since_best = 0;
            result->threshold = eval.threshold;
            st = backend->read(state, &best);
        } else {
            since_best++;
        }
        if (progress) {
            fr_epoch_report r = {epoch, o->epochs, lr, selected ? loss / (double)selected : 0,
                                 valid ? (double)active / (double)valid : 0,
                                 (double)selected / batches, validate, eval.accuracy_mean,
                                 eval.accuracy_std, eval.threshold, best_epoch,
                                 fr_seconds() - epoch_started};
            if (progress(ctx, &r)) {
                st = fr_fail(FR_E_INVALID, "interrupted");
                break;
            }
        }
        if (validate && o->patience > 0 && since_best >= o->patience && epoch < o->epochs) {
            result->stopped_early = 1;
            epoch++;
            break;
        }
    }
    if (!st) {
        result->epochs_run = epoch - 1;
        result->best_epoch = best_epoch;
        result->best_accuracy = validate ? best_accuracy : 0;
        memcpy(head->params, best.params, head->param_count * sizeof(float));
        if (head->batch_norm) {
            memcpy(head->mean, best.mean, (size_t)head->outputs * sizeof(float));
            memcpy(head->variance, best.variance, (size_t)head->outputs * sizeof(float));
        }
    }
    result->seconds = fr_seconds() - started;
    if (state)
        backend->close(state);
    fr_head_free(&best);
    free(rows);
    free(labels);
    free(pool);
    free(train_rows);
    free(squared);
    free(triplets);
    free(embeddings);
    pairs_free(&val);
    split_free(&s);
    return st;
}
