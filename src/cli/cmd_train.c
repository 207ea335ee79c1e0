/*
 * cmd_train.c: `facerec train`: learns the model's last layer from labeled faces with the
 * triplet loss (learn/train.h) and writes a new weights file (learn/trained.h).
 *
 *   people (a folder of them, or an identity database's people and source images)
 *   -> frozen features through the normal pipeline (detection, alignment, the network up to
 *      its head), from the cache where the image is unchanged (learn/features.h)
 *   -> training -> OUT.frw, written only once it loads
 *
 * Nothing is written when the input is unusable: one person, nobody with two images, an
 * unreadable image or one without a face (unless --skip-unreadable), a model without a layer
 * to train, a database of another model.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/matching.h"
#include "cli/signals.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/sha256.h"
#include "engine/people.h"
#include "learn/backend.h"
#include "learn/features.h"
#include "learn/trained.h"
#include "learn/train.h"
#include "runtime/device.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec train --dir PEOPLE -o OUT.frw [options]\n"
            "       facerec train --db FILE -o OUT.frw [options]\n\n"
            "Learns the last layer of the model given by --model/--weights (the base: dlib's\n"
            "final fully connected layer, irv1's bottleneck and its batch norm) with FaceNet's\n"
            "triplet loss, and writes OUT.frw: the base with that layer replaced, usable with\n"
            "--weights by every command. Its provenance (the base's SHA-256, the training set's,\n"
            "the hyperparameters) is in the file (`facerec info --weights OUT.frw`). It is a new\n"
            "model: databases enrolled with the base refuse it.\n\n"
            "The faces are the images of --dir PEOPLE (one subfolder per person, or one image per\n"
            "person) or the people and source images of an identity database of the base model.\n"
            "The rest of the network is frozen: its output on every face (through the usual\n"
            "detection and alignment) is computed once and cached (--cache). A seeded fraction of\n"
            "the people (--val) is held out whole; after each epoch their faces' verification\n"
            "accuracy is measured, the best epoch is kept (epoch 0: the base) and training stops\n"
            "after --patience epochs without a better one. Progress goes to stderr.\n\n"
            "  -o, --output FILE     the trained weights to write (required)\n"
            "  --dir PEOPLE          the people to learn from\n"
            "  --db FILE             ... or an identity database's people and images\n"
            "  --cache DIR|none      where features are kept (default $XDG_CACHE_HOME/facerec/\n"
            "                        features, else ~/.cache/facerec/features)\n"
            "  --epochs N            at most N epochs (30)\n"
            "  --batches N           batches per epoch (default: about one draw of every face)\n"
            "  --people P            people per batch (30)\n"
            "  --faces K             faces per person and batch (8)\n"
            "  --margin A            the triplet loss's alpha (0.2)\n"
            "  --negatives semi-hard|hardest\n"
            "                        semi-hard: farther than the positive, inside the margin\n"
            "                        (default); hardest: the nearest other person's face\n"
            "  --optimizer adam|sgd  (adam)\n"
            "  --lr R                learning rate (adam 0.001, sgd 0.01)\n"
            "  --momentum M          sgd's momentum (0.9)\n"
            "  --weight-decay W      L2 penalty (0)\n"
            "  --schedule constant|step|cosine\n"
            "                        learning rate by epoch (constant; step: x --lr-gamma every\n"
            "                        --lr-step epochs, 0.1 and 10)\n"
            "  --lr-step E, --lr-gamma G\n"
            "  --val F               fraction of the people held out for validation (0.1;\n"
            "                        0: none, every epoch runs and the last is kept)\n"
            "  --patience N          epochs without improvement before stopping (5; 0: never)\n"
            "  --seed N              the same seed, data and options give the same weights (1)\n"
            "  --skip-unreadable     train without images that cannot be read or have no face\n"
            "                        (each is still named; exit 3); default: refuse them\n");
    fr_global_help_except(out, "threshold all-faces flip");
}

enum {
    OPT_DIR = 2000, OPT_DB, OPT_CACHE, OPT_EPOCHS, OPT_BATCHES, OPT_PEOPLE, OPT_FACES,
    OPT_MARGIN, OPT_NEGATIVES, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_DECAY, OPT_SCHEDULE,
    OPT_LR_STEP, OPT_LR_GAMMA, OPT_VAL, OPT_PATIENCE, OPT_SEED, OPT_SKIP
};

static int parse_number(const char *option, const char *text, double lo, double hi,
                        double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*text == 0 || *end != 0 || !(v >= lo && v <= hi)) {
        fprintf(stderr, "facerec train: %s %s: give a number from %g to %g\n", option, text, lo,
                hi);
        return 0;
    }
    *out = v;
    return 1;
}

/* The labeled images: paths and the person of each (index into names, sorted). */
typedef struct dataset {
    const char *root;     /* the folder (paths are shown relative to it) or database */
    fr_people people;
    char **names;         /* distinct, sorted (pointers into people.names) */
    size_t name_count;
    int32_t *label;
} dataset;

static void dataset_free(dataset *d)
{
    fr_people_free(&d->people);
    free(d->names);
    free(d->label);
}

static fr_status label_people(dataset *d)
{
    fr_status st = fr_cli_sorted_unique(d->people.names, d->people.paths.count, &d->names,
                                        &d->name_count);
    d->label = st ? NULL : fr_malloc((d->people.paths.count + 1) * sizeof *d->label, "labels");
    if (!st && !d->label)
        st = FR_E_NOMEM;
    for (size_t i = 0; !st && i < d->people.paths.count; i++)
        d->label[i] = (int32_t)fr_cli_find_sorted(d->names, d->name_count, d->people.names[i]);
    return st;
}

/* An identity database's people and the images they were enrolled from. */
static fr_status read_database(const char *db, const fr_model_info *model, dataset *d)
{
    fr_store *store;
    fr_status st = fr_store_open(db, FR_STORE_READ, &store);
    if (st)
        return st;
    fr_gallery gallery;
    st = fr_store_load(store, model, &gallery);
    fr_store_close(store);
    if (st)
        return st;
    for (size_t i = 0; !st && i < gallery.count; i++) {
        st = fr_paths_add(&d->people.paths, gallery.sources[i]);
        if (!st && d->people.paths.count > d->people.capacity) {
            size_t cap = d->people.paths.count * 2;
            char **grown = realloc(d->people.names, cap * sizeof *grown);
            if (!grown)
                st = fr_fail(FR_E_NOMEM, "out of memory listing images");
            else {
                d->people.names = grown;
                d->people.capacity = cap;
            }
        }
        if (!st) {
            d->people.names[i] = fr_strdup(gallery.names[gallery.person[i]]);
            if (!d->people.names[i])
                st = FR_E_NOMEM;
            else
                d->people.named = i + 1;
        }
    }
    fr_gallery_free(&gallery);
    return st;
}

/* What shapes a feature besides the image: the cache key. */
static void feature_key(const fr_trained_base *base, const fr_global_options *g, char *out,
                        size_t size)
{
    const fr_model_info *m = fr_model_get_info(base->trunk);
    fr_device device = FR_DEVICE_CPU;
    if (fr_device_resolve(g->device, &device) != FR_OK)
        device = FR_DEVICE_CPU; /* the run that follows reports it */
    int cuda = device == FR_DEVICE_CUDA;
    fr_align_mode align = g->align;
    if (fr_align_resolve(base->trunk, g->align, &align) != FR_OK)
        align = g->align; /* the run that follows reports the conflict */
    snprintf(out, size, "facerec features 1|%s|%s|%s|align %s as %s|face %d|device %s|"
             "precision %s", m->arch, base->sha256, fr_preprocess_name(m->preprocess),
             fr_align_name(g->align), fr_align_name(align),
             (int)g->face, cuda ? "cuda" : "cpu",
             cuda ? fr_precision_name(g->precision) : "fp32");
}

/* The cache directory: --cache, $XDG_CACHE_HOME/facerec/features or ~/.cache/...; NULL for
 * none. */
static const char *cache_dir(const char *option, char *buffer, size_t size)
{
    if (option)
        return strcmp(option, "none") == 0 ? NULL : option;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buffer, size, "%s/facerec/features", xdg);
    else if (home && *home)
        snprintf(buffer, size, "%s/.cache/facerec/features", home);
    else
        return NULL;
    return buffer;
}

typedef struct extraction {
    fr_feature_entry *fresh; /* one per image still to compute, in order */
    size_t count, dim;
} extraction;

static int keep_features(void *ctx, const fr_embed_result *r)
{
    extraction *x = ctx;
    fr_feature_entry *e = &x->fresh[r->index];
    e->status = r->status;
    if (r->status != FR_OK) {
        e->message = fr_strdup(r->error ? r->error : fr_status_name(r->status));
        return 0;
    }
    e->features = fr_malloc(x->dim * sizeof(float), "features");
    if (!e->features) {
        e->status = FR_E_NOMEM;
        return 1;
    }
    memcpy(e->features, r->embedding, x->dim * sizeof(float));
    return 0;
}

/* The features of every image: from the cache, or computed. entries[i] is image i's. */
static int extract(const fr_global_options *g, fr_trained_base *base, const dataset *d,
                   const char *cache_option, fr_feature_cache *cache, extraction *x,
                   const fr_feature_entry ***entries)
{
    size_t n = d->people.paths.count, dim = (size_t)base->head.inputs;
    char key[1024], dir_buffer[4096];
    feature_key(base, g, key, sizeof key);
    fr_status st = fr_feature_cache_open(cache_dir(cache_option, dir_buffer, sizeof dir_buffer),
                                         d->root, key, dim, cache);
    if (st)
        return fr_cli_fail("train", st);
    if (cache->warning[0] && !g->quiet)
        fr_cli_error("train", "note: %s", cache->warning);
    const fr_feature_entry **all = fr_calloc(n, sizeof *all, "the features");
    x->fresh = fr_calloc(n, sizeof *x->fresh, "the features");
    char **missing = fr_malloc(n * sizeof *missing, "the features");
    size_t *where = fr_malloc(n * sizeof *where, "the features");
    if (!all || !x->fresh || !missing || !where) {
        free(all);
        free(missing);
        free(where);
        return fr_cli_fail("train", FR_E_NOMEM);
    }
    x->dim = dim;
    for (size_t i = 0; i < n; i++) {
        const char *path = d->people.paths.paths[i];
        struct stat info;
        int found = stat(path, &info) == 0;
        all[i] = found ? fr_feature_cache_find(cache, path, &info) : NULL;
        if (all[i])
            continue;
        fr_feature_entry *e = &x->fresh[x->count];
        e->path = fr_strdup(path);
        if (found) {
            e->size = (uint64_t)info.st_size;
            e->mtime_sec = (int64_t)info.st_mtim.tv_sec;
            e->mtime_nsec = (int64_t)info.st_mtim.tv_nsec;
        }
        memset(e->sha256, '0', 64);
        missing[x->count] = (char *)path;
        where[x->count++] = i;
    }
    int code = FR_EXIT_OK;
    if (!x->count && !g->quiet)
        fprintf(stderr, "train: features of all %zu images from the cache\n", n);
    if (x->count) {
        if (!g->quiet)
            fprintf(stderr, "train: features of %zu images to compute, %zu from the cache\n",
                    x->count, n - x->count);
        fr_run_options ro;
        fr_run_defaults(&ro);
        ro.raw = 1;
        ro.model = base->trunk;
        base->trunk = NULL; /* the run owns it now */
        fr_run *run;
        code = fr_run_open_paths("train", g, &ro, missing, x->count, &run);
        if (!code) {
            st = fr_run_embed(run, keep_features, x);
            if (!st)
                fr_run_summary(run, x->count, 0, NULL);
            fr_run_close(run);
            if (st)
                code = fr_cli_fail("train", st);
        }
    }
    for (size_t k = 0; !code && k < x->count; k++) {
        fr_feature_entry *e = &x->fresh[k];
        if (!e->path || (e->status == FR_OK && !e->features))
            code = fr_cli_fail("train", FR_E_NOMEM);
        else if (e->status == FR_OK && fr_sha256_file(e->path, e->sha256) != FR_OK)
            code = fr_cli_fail("train", FR_E_IO);
        all[where[k]] = e;
    }
    free(missing);
    free(where);
    if (code) {
        free(all);
        return code;
    }
    *entries = all;
    return FR_EXIT_OK;
}

static void extraction_free(extraction *x)
{
    for (size_t i = 0; x->fresh && i < x->count; i++) {
        free(x->fresh[i].path);
        free(x->fresh[i].message);
        free(x->fresh[i].features);
    }
    free(x->fresh);
}

/* "<image sha256>  <person>/<path below the root>" lines, sorted: the training set's digest. */
static fr_status training_set_digest(const dataset *d, const fr_feature_entry *const *entries,
                                     const unsigned char *used, char hex[65])
{
    size_t n = d->people.paths.count, root = strlen(d->root);
    char **lines = fr_malloc((n ? n : 1) * sizeof *lines, "the training set's digest");
    if (!lines)
        return FR_E_NOMEM;
    size_t count = 0;
    fr_status st = FR_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (!used[i])
            continue;
        const char *path = d->people.paths.paths[i];
        if (strncmp(path, d->root, root) == 0 && path[root] == '/')
            path += root + 1;
        size_t size = 64 + 2 + strlen(d->people.names[i]) + 1 + strlen(path) + 1;
        lines[count] = fr_malloc(size, "the training set's digest");
        if (!lines[count]) {
            st = FR_E_NOMEM;
            break;
        }
        snprintf(lines[count++], size, "%s  %s/%s", entries[i]->sha256, d->people.names[i],
                 path);
    }
    char **sorted = NULL;
    size_t unique = 0;
    if (!st)
        st = fr_cli_sorted_unique(lines, count, &sorted, &unique);
    fr_sha256_list list = {NULL, 0};
    for (size_t i = 0; !st && i < unique; i++) {
        char sha[65];
        memcpy(sha, sorted[i], 64);
        sha[64] = 0;
        st = fr_sha256_list_add(&list, sha, sorted[i] + 66);
    }
    fr_sha256_list_finish(&list, hex);
    for (size_t i = 0; i < count; i++)
        free(lines[i]);
    free(lines);
    free(sorted);
    return st;
}

static const char *backend_name(fr_device device)
{
    const fr_learn_backend *b;
    return fr_learn_backend_for(device, &b) == FR_OK ? b->name : fr_device_name(device);
}

typedef struct progress_ctx {
    int quiet;
} progress_ctx;

static int report_epoch(void *ctx, const fr_epoch_report *r)
{
    progress_ctx *p = ctx;
    if (p->quiet)
        return 0;
    if (r->epoch == 0) {
        if (r->has_validation)
            fprintf(stderr, "train: epoch 0 (base): validation accuracy %.2f%% +- %.2f, "
                    "threshold %.3f\n", 100 * r->accuracy, 100 * r->accuracy_std, r->threshold);
        return 0;
    }
    fprintf(stderr, "train: epoch %d/%d: lr %.3g, loss %.4f, active triplets %.1f%%, %.0f "
            "triplets/batch", r->epoch, r->epochs, r->lr, r->loss, 100 * r->active,
            r->triplets);
    if (r->has_validation)
        fprintf(stderr, ", validation accuracy %.2f%% +- %.2f (best: epoch %d)",
                100 * r->accuracy, 100 * r->accuracy_std, r->best_epoch);
    fprintf(stderr, ", %.1f s\n", r->seconds);
    return 0;
}

/* The hyperparameters and results, as the file's `training` metadata and --json's output. */
static cJSON *describe(const fr_train_options *o, const fr_train_result *r, size_t faces,
                       size_t people, size_t skipped)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddNumberToObject(h, "epochs", o->epochs);
    cJSON_AddNumberToObject(h, "batches_per_epoch", o->batches);
    cJSON_AddNumberToObject(h, "people_per_batch", o->people_per_batch);
    cJSON_AddNumberToObject(h, "faces_per_person", o->faces_per_person);
    cJSON_AddNumberToObject(h, "margin", floor(o->alpha * 1e6 + 0.5) / 1e6); /* not 0.2000000030 */
    cJSON_AddStringToObject(h, "negatives", fr_negatives_name(o->negatives));
    cJSON_AddStringToObject(h, "optimizer", fr_optimizer_name(o->optimizer.kind));
    cJSON_AddNumberToObject(h, "lr", o->lr);
    if (o->optimizer.kind == FR_OPTIMIZER_SGD)
        cJSON_AddNumberToObject(h, "momentum", o->optimizer.momentum);
    else {
        cJSON_AddNumberToObject(h, "beta1", o->optimizer.beta1);
        cJSON_AddNumberToObject(h, "beta2", o->optimizer.beta2);
        cJSON_AddNumberToObject(h, "epsilon", o->optimizer.epsilon);
    }
    cJSON_AddNumberToObject(h, "weight_decay", o->optimizer.weight_decay);
    cJSON_AddStringToObject(h, "schedule", fr_schedule_name(o->schedule));
    if (o->schedule == FR_SCHEDULE_STEP) {
        cJSON_AddNumberToObject(h, "lr_step", o->lr_step);
        cJSON_AddNumberToObject(h, "lr_gamma", o->lr_gamma);
    }
    cJSON_AddNumberToObject(h, "validation_fraction", o->val_fraction);
    cJSON_AddNumberToObject(h, "patience", o->patience);
    cJSON_AddNumberToObject(h, "seed", (double)o->seed);
    cJSON *s = cJSON_AddObjectToObject(j, "data");
    cJSON_AddNumberToObject(s, "faces", (double)faces);
    cJSON_AddNumberToObject(s, "people", (double)people);
    cJSON_AddNumberToObject(s, "skipped_images", (double)skipped);
    cJSON_AddNumberToObject(s, "train_people", (double)r->train_people);
    cJSON_AddNumberToObject(s, "train_faces", (double)r->train_faces);
    cJSON_AddNumberToObject(s, "people_with_one_face_unused", (double)r->unused_people);
    cJSON_AddNumberToObject(s, "validation_people", (double)r->val_people);
    cJSON_AddNumberToObject(s, "validation_faces", (double)r->val_faces);
    cJSON_AddNumberToObject(s, "validation_pairs", (double)(r->val_same + r->val_different));
    cJSON *x = cJSON_AddObjectToObject(j, "result");
    cJSON_AddNumberToObject(x, "epochs_run", r->epochs_run);
    cJSON_AddNumberToObject(x, "best_epoch", r->best_epoch);
    cJSON_AddBoolToObject(x, "stopped_early", r->stopped_early);
    if (r->val_people) {
        cJSON_AddNumberToObject(x, "validation_accuracy_base", r->base_accuracy);
        cJSON_AddNumberToObject(x, "validation_accuracy_best", r->best_accuracy);
    }
    if (r->threshold > 0)
        cJSON_AddNumberToObject(x, "threshold", r->threshold);
    return j; /* no timings: the same seed and data must give the same file */
}

typedef struct train_args {
    const char *output, *dir, *db, *cache;
    int skip;
} train_args;

static int parse(int argc, char **argv, fr_global_options *g, fr_train_options *t,
                 train_args *a)
{
    static const struct option own[] = {
        {"output", required_argument, NULL, 'o'},    {"dir", required_argument, NULL, OPT_DIR},
        {"db", required_argument, NULL, OPT_DB},     {"cache", required_argument, NULL, OPT_CACHE},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"batches", required_argument, NULL, OPT_BATCHES},
        {"people", required_argument, NULL, OPT_PEOPLE},
        {"faces", required_argument, NULL, OPT_FACES},
        {"margin", required_argument, NULL, OPT_MARGIN},
        {"negatives", required_argument, NULL, OPT_NEGATIVES},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"lr", required_argument, NULL, OPT_LR},
        {"momentum", required_argument, NULL, OPT_MOMENTUM},
        {"weight-decay", required_argument, NULL, OPT_DECAY},
        {"schedule", required_argument, NULL, OPT_SCHEDULE},
        {"lr-step", required_argument, NULL, OPT_LR_STEP},
        {"lr-gamma", required_argument, NULL, OPT_LR_GAMMA},
        {"val", required_argument, NULL, OPT_VAL},
        {"patience", required_argument, NULL, OPT_PATIENCE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"skip-unreadable", no_argument, NULL, OPT_SKIP},
        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_options_refuse(options, "threshold");
    double v, lr = 0, momentum = -1;
    int kind_given = 0, ok = options != NULL, c;
    fr_optimizer_kind kind = FR_OPTIMIZER_ADAM;
    while (ok && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': a->output = optarg; break;
        case OPT_DIR: a->dir = optarg; break;
        case OPT_DB: a->db = optarg; break;
        case OPT_CACHE: a->cache = optarg; break;
        case OPT_SKIP: a->skip = 1; break;
        case OPT_EPOCHS:
            ok = parse_number("--epochs", optarg, 1, 100000, &v);
            t->epochs = (int)v;
            break;
        case OPT_BATCHES:
            ok = parse_number("--batches", optarg, 1, 1e7, &v);
            t->batches = (int)v;
            break;
        case OPT_PEOPLE:
            ok = parse_number("--people", optarg, 2, 1000, &v);
            t->people_per_batch = (int)v;
            break;
        case OPT_FACES:
            ok = parse_number("--faces", optarg, 2, 100, &v);
            t->faces_per_person = (int)v;
            break;
        case OPT_MARGIN:
            ok = parse_number("--margin", optarg, 1e-6, 4, &v);
            t->alpha = (float)v;
            break;
        case OPT_LR: ok = parse_number("--lr", optarg, 1e-12, 100, &lr); break;
        case OPT_MOMENTUM: ok = parse_number("--momentum", optarg, 0, 0.999999, &momentum); break;
        case OPT_DECAY:
            ok = parse_number("--weight-decay", optarg, 0, 1, &t->optimizer.weight_decay);
            break;
        case OPT_LR_STEP:
            ok = parse_number("--lr-step", optarg, 1, 100000, &v);
            t->lr_step = (int)v;
            break;
        case OPT_LR_GAMMA: ok = parse_number("--lr-gamma", optarg, 1e-9, 1, &t->lr_gamma); break;
        case OPT_VAL: ok = parse_number("--val", optarg, 0, 0.9, &t->val_fraction); break;
        case OPT_PATIENCE:
            ok = parse_number("--patience", optarg, 0, 100000, &v);
            t->patience = (int)v;
            break;
        case OPT_SEED:
            ok = parse_number("--seed", optarg, 0, 9007199254740992.0, &v);
            t->seed = (uint64_t)v;
            break;
        case OPT_NEGATIVES:
        case OPT_OPTIMIZER:
        case OPT_SCHEDULE: {
            fr_status st = c == OPT_NEGATIVES   ? fr_negatives_parse(optarg, &t->negatives)
                           : c == OPT_OPTIMIZER ? fr_optimizer_parse(optarg, &kind)
                                                : fr_schedule_parse(optarg, &t->schedule);
            kind_given |= c == OPT_OPTIMIZER;
            if (st) {
                fprintf(stderr, "facerec train: %s\n", fr_error_message());
                ok = 0;
            }
            break;
        }
        case 'h': help(stdout); free(options); return -1;
        default: ok = fr_cli_common_option(g, c, optarg, help);
        }
    }
    free(options);
    if (!ok)
        return 0;
    if (kind_given || kind != t->optimizer.kind) {
        double decay = t->optimizer.weight_decay;
        fr_optimizer_defaults(kind, &t->optimizer);
        t->optimizer.weight_decay = decay;
        t->lr = kind == FR_OPTIMIZER_SGD ? 0.01 : 1e-3;
    }
    if (lr > 0)
        t->lr = lr;
    if (momentum >= 0)
        t->optimizer.momentum = momentum;
    t->device = g->device;
    t->threads = g->threads;
    if (!a->output || !!a->dir == !!a->db || optind < argc) {
        fr_cli_error("train", "give --dir PEOPLE or --db FILE, and -o OUT.frw (see --help)");
        return 0;
    }
    if (g->flip || g->all_faces) {
        fr_cli_error("train", "%s: training learns from one chip per image (leave it out)",
                     g->flip ? "--flip" : "--all-faces");
        return 0;
    }
    return 1;
}

/* The counts a bad input is judged by, before any image is read. */
static int check_people(const dataset *d)
{
    size_t *faces = fr_calloc(d->name_count ? d->name_count : 1, sizeof *faces, "a count");
    if (!faces)
        return fr_cli_fail("train", FR_E_NOMEM);
    for (size_t i = 0; i < d->people.paths.count; i++)
        faces[d->label[i]]++;
    size_t two = 0;
    for (size_t p = 0; p < d->name_count; p++)
        two += faces[p] >= 2;
    free(faces);
    if (d->name_count < 2) {
        fr_cli_error("train", "%s: %s: a triplet's negative is someone else's face, so training "
                     "needs two people or more; nothing written", d->root,
                     d->name_count ? "only one person" : "no people");
        return FR_EXIT_USAGE;
    }
    if (two < 2) {
        fr_cli_error("train", "%s: %zu people, %zu of them with two images or more: a triplet "
                     "needs two images of one person, and training two such people; nothing "
                     "written", d->root, d->name_count, two);
        return FR_EXIT_USAGE;
    }
    return FR_EXIT_OK;
}

int fr_cmd_train(int argc, char **argv)
{
    fr_global_options g;
    fr_global_defaults(&g);
    fr_train_options t;
    fr_train_defaults(&t);
    train_args a;
    memset(&a, 0, sizeof a);
    int parsed = parse(argc, argv, &g, &t, &a);
    if (parsed <= 0)
        return parsed < 0 ? FR_EXIT_OK : FR_EXIT_USAGE;

    /* the base model, split into trunk and head */
    char path[4096];
    const char *file;
    fr_status st = fr_cli_weights_file(&g, path, sizeof path, &file);
    if (!st && !file)
        st = fr_fail(FR_E_UNSUPPORTED, "the pixels baseline has no network to train");
    fr_trained_base base;
    memset(&base, 0, sizeof base);
    if (!st)
        st = fr_trained_open(file, &base);
    if (!st && g.model && strcmp(base.arch, g.model) != 0)
        st = fr_fail(FR_E_MODEL_MISMATCH, "%s holds a %s model, not %s", file, base.arch,
                     g.model);
    if (!st && g.preprocess != FR_PREPROCESS_DEFAULT)
        st = fr_model_set_preprocess(base.trunk, g.preprocess);
    if (st) {
        fr_trained_close(&base);
        return fr_cli_fail("train", st);
    }
    /* the identity database holds the full model's key, not the trunk's */
    fr_model_info full = *fr_model_get_info(base.trunk);
    full.embedding_size = base.head.outputs;

    dataset d;
    memset(&d, 0, sizeof d);
    d.root = a.dir ? a.dir : a.db;
    st = a.dir ? fr_people_collect(a.dir, &d.people, fr_cli_path_error, "train")
               : read_database(a.db, &full, &d);
    if (a.dir)
        fr_cli_paths_skipped("train", &d.people.paths);
    if (!st)
        st = label_people(&d);
    int code = st ? fr_cli_fail("train", st) : FR_EXIT_OK;
    if (!code && d.people.errors) {
        fr_cli_error("train", "nothing written: fix the %zu problem(s) above", d.people.errors);
        code = FR_EXIT_PARTIAL;
    }
    if (!code)
        code = check_people(&d);

    fr_feature_cache cache;
    memset(&cache, 0, sizeof cache);
    extraction x;
    memset(&x, 0, sizeof x);
    const fr_feature_entry **entries = NULL;
    if (!code)
        code = extract(&g, &base, &d, a.cache, &cache, &x, &entries);

    /* the usable faces */
    size_t n = d.people.paths.count, usable = 0, failed = 0;
    size_t dim = (size_t)base.head.inputs;
    float *features = NULL;
    int32_t *labels = NULL;
    unsigned char *used = NULL;
    if (!code) {
        features = fr_malloc((n ? n : 1) * dim * sizeof(float), "the features");
        labels = fr_malloc((n ? n : 1) * sizeof *labels, "the labels");
        used = fr_calloc(n ? n : 1, 1, "the labels");
        if (!features || !labels || !used)
            code = fr_cli_fail("train", FR_E_NOMEM);
    }
    for (size_t i = 0; !code && i < n; i++) {
        if (entries[i]->status != FR_OK) {
            fr_cli_error("train", "%s", entries[i]->message ? entries[i]->message
                                                            : entries[i]->path);
            failed++;
            continue;
        }
        memcpy(features + usable * dim, entries[i]->features, dim * sizeof(float));
        labels[usable++] = d.label[i];
        used[i] = 1;
    }
    if (!code && failed && !a.skip) {
        fr_cli_error("train", "nothing written: %zu of %zu images could not be used "
                     "(--skip-unreadable trains without them)", failed, n);
        code = FR_EXIT_PARTIAL;
    }
    if (!code) {
        st = fr_feature_cache_save(&cache, entries, n);
        if (st)
            code = fr_cli_fail("train", st);
    }
    char digest[65];
    if (!code) {
        st = training_set_digest(&d, entries, used, digest);
        if (st)
            code = fr_cli_fail("train", st);
    }

    fr_train_result result;
    memset(&result, 0, sizeof result);
    fr_head head;
    memset(&head, 0, sizeof head);
    if (!code) {
        fr_train_data data = {features, labels, usable, d.name_count};
        progress_ctx p = {g.quiet};
        if (!g.quiet)
            fprintf(stderr, "train: %zu faces of %zu people from %s; %s on %s, margin %.2f, "
                    "%s negatives, batches of %d x %d\n", usable, d.name_count, d.root,
                    fr_optimizer_name(t.optimizer.kind), backend_name(t.device), t.alpha,
                    fr_negatives_name(t.negatives), t.people_per_batch, t.faces_per_person);
        st = fr_head_copy(&head, &base.head);
        if (!st)
            st = fr_train(&data, &t, &head, report_epoch, &p, &result);
        if (st)
            code = fr_cli_fail("train", st);
    }
    if (!code) {
        cJSON *info = describe(&t, &result, usable, d.name_count, failed);
        char *text = info ? cJSON_PrintUnformatted(info) : NULL;
        char set[1200];
        snprintf(set, sizeof set, "%.900s (%zu faces of %zu people)", d.root, usable,
                 d.name_count);
        fr_trained_provenance prov = {set, digest, text ? text : "{}", result.threshold};
        fr_cli_commit_begin();
        st = text ? fr_trained_save(&base, &head, &prov, a.output) : FR_E_NOMEM;
        fr_cli_commit_end(st == FR_OK);
        if (st)
            code = fr_cli_fail("train", st);
        if (!code && g.json) {
            cJSON_AddNumberToObject(cJSON_GetObjectItem(info, "result"), "seconds",
                                    result.seconds);
            cJSON_AddStringToObject(info, "output", a.output);
            cJSON_AddStringToObject(info, "training_set_sha256", digest);
            char *out = cJSON_Print(info);
            if (out)
                printf("%s\n", out);
            free(out);
        }
        free(text);
        cJSON_Delete(info);
    }
    if (!code && !g.quiet) {
        fprintf(stderr, "train: %zu people trained on (%zu faces), %zu held out (%zu faces); "
                "epoch %d of %d kept%s", result.train_people, result.train_faces,
                result.val_people, result.val_faces, result.best_epoch, result.epochs_run,
                result.stopped_early ? " (stopped early)" : "");
        if (result.val_people)
            fprintf(stderr, ": validation accuracy %.2f%% -> %.2f%%", 100 * result.base_accuracy,
                    100 * result.best_accuracy);
        if (result.threshold > 0)
            fprintf(stderr, ", threshold %.3f", result.threshold);
        fprintf(stderr, "; %.1f s -> %s\n", result.seconds, a.output);
        if (result.val_people && result.best_epoch == 0)
            fr_cli_error("train", "note: no epoch beat the base model on the held-out people; "
                         "%s holds the base's layer", a.output);
        if (result.unused_people)
            fprintf(stderr, "train: %zu training people with one face were left out (a triplet "
                    "needs two faces of a person)\n", result.unused_people);
    }
    if (!code && failed)
        code = FR_EXIT_PARTIAL;
    fr_head_free(&head);
    free(features);
    free(labels);
    free(used);
    free(entries);
    extraction_free(&x);
    fr_feature_cache_close(&cache);
    dataset_free(&d);
    fr_trained_close(&base);
    return code;
}
