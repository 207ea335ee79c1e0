/* cmd_db.c: `facerec db list|remove|rename|set|split --db FILE`: looking after an identity
 * database. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/matching.h"
#include "cli/shard.h"
#include "core/alloc.h"
#include "core/error.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec db list --db FILE [--images] [--json]\n"
            "       facerec db remove --db FILE NAME...\n"
            "       facerec db remove --db FILE --image PATH|ID...\n"
            "       facerec db rename --db FILE OLD NEW\n"
            "       facerec db set --db FILE --threshold D|default\n"
            "       facerec db split --db FILE [--model M | --weights W] N OUT\n\n"
            "list: the model the database was made with, then one line per person: name,\n"
            "  number of embeddings, date enrolled (--json: one JSON object per line).\n"
            "  --images: one line per embedding instead: its id, person, the image path it\n"
            "  was enrolled from, the first 12 hex digits of the image file's SHA-256 (\"-\"\n"
            "  for one enrolled before facerec recorded hashes), the face index and box.\n"
            "remove: deletes people and all their embeddings; when any name is unknown,\n"
            "  nothing is removed. --image: deletes single embeddings instead, each named by\n"
            "  its id or the image path it was enrolled from (a path that more than one\n"
            "  embedding came from is refused: give the id); a person left without\n"
            "  embeddings goes too; when any is unknown, nothing is removed.\n"
            "rename: gives a person another name (not one already in use).\n"
            "set --threshold D: stores the distance threshold tuned for this database (facerec\n"
            "  pairs + facerec eval choose one); verify and identify use it when --threshold\n"
            "  is not given, in place of the model's default. default: removes it.\n"
            "split: the people in N new databases OUT-0.db .. OUT-<N-1>.db (the name-sorted\n"
            "  list cut in N runs, each person whole, embeddings copied bit for bit with their\n"
            "  image records, so a shard knows the photos it holds; the stored threshold and\n"
            "  the recorded weights file in each): a gallery in shards for `facerec identify\n"
            "  --db OUT-0.db --db OUT-1.db ...`, whose answer is the database's. --model/\n"
            "  --weights: its model (default: the one it records). No output may exist.\n");
}

/* "<OUT minus .db>-<i>.db" */
static char *shard_name(const char *out, size_t i)
{
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".db") == 0)
        n -= 3;
    size_t size = n + 32;
    char *name = fr_malloc(size, "a file name");
    if (name)
        snprintf(name, size, "%.*s-%zu.db", (int)n, out, i);
    return name;
}

/* The database being split: its embeddings, their image records in the same order (one row
 * each: both are by person name, then embedding id) and what its meta table holds beside the
 * model, all copied to every shard. */
typedef struct split_source {
    fr_gallery gallery;
    fr_image_row *images;
    size_t image_count;
    float threshold;            /* 0: none stored */
    const char *weights, *weights_sha256; /* "": none recorded */
} split_source;

static fr_status split_into(const split_source *src, const fr_model_info *model, size_t index,
                            size_t count, const char *name)
{
    const fr_gallery *g = &src->gallery;
    fr_shard shard = {index, count};
    size_t first, end;
    fr_shard_range(&shard, g->people, 1, &first, &end);
    /* rows are grouped by person in name order (fr_store_load): the shard's are one run */
    size_t r0 = 0, r1;
    while (r0 < g->count && (size_t)g->person[r0] < first)
        r0++;
    for (r1 = r0; r1 < g->count && (size_t)g->person[r1] < end; r1++)
        ;
    size_t n = r1 - r0;
    fr_enrollment *items = fr_calloc(n + 1, sizeof *items, "the embeddings");
    fr_image_record *images = fr_calloc(n + 1, sizeof *images, "the image records");
    char **already = fr_calloc(n + 1, sizeof *already, "the image records");
    if (!items || !images || !already) {
        free(items);
        free(images);
        free(already);
        return FR_E_NOMEM;
    }
    for (size_t r = r0; r < r1; r++) {
        const fr_image_row *row = &src->images[r];
        items[r - r0] = (fr_enrollment){g->names[g->person[r]], g->sources[r],
                                        g->vectors + r * g->dim};
        /* an embedding enrolled before hashes were recorded has none in the shard either */
        images[r - r0] = (fr_image_record){row->sha256[0] ? row->sha256 : NULL, row->face,
                                           row->has_box,
                                           {row->box[0], row->box[1], row->box[2], row->box[3]}};
    }
    fr_store *store = NULL;
    fr_status st = fr_store_open(name, FR_STORE_CREATE, &store);
    if (!st && src->weights[0])
        st = fr_store_set_weights(store, src->weights, src->weights_sha256);
    if (!st && src->threshold > 0)
        st = fr_store_set_threshold(store, src->threshold);
    if (!st && n)
        st = fr_store_enroll_images(store, model, items, images, n, already);
    /* the source's image records are unique (enrolment refuses a repeat): a repeat that was
     * not copied is a changed database, and a shard short of an embedding is not a copy */
    for (size_t i = 0; i < n; i++) {
        if (already[i] && !st)
            st = fr_fail(FR_E_FORMAT, "embedding %lld of '%s' (from %s) has the image record of "
                         "another embedding of '%s', which facerec never writes (a changed "
                         "database): not split", (long long)src->images[r0 + i].id,
                         items[i].name, items[i].source, already[i]);
        free(already[i]);
    }
    fr_store_close(store);
    free(items);
    free(images);
    free(already);
    return st;
}

/* Reads what the shards copy, refusing a database that changed while it was read. */
static fr_status split_read(const char *db, const fr_model_info *model, fr_store *store,
                            split_source *src)
{
    int64_t before = 0, after = 0;
    fr_status st = fr_store_data_version(store, &before);
    if (!st)
        st = fr_store_load(store, model, &src->gallery);
    if (!st)
        st = fr_store_images(store, &src->images, &src->image_count);
    if (!st)
        st = fr_store_threshold(store, &src->threshold);
    if (!st)
        st = fr_store_weights(store, &src->weights, &src->weights_sha256);
    if (!st)
        st = fr_store_data_version(store, &after);
    int same = !st && before == after && src->image_count == src->gallery.count;
    for (size_t r = 0; same && r < src->gallery.count; r++)
        same = strcmp(src->images[r].person, src->gallery.names[src->gallery.person[r]]) == 0 &&
               strcmp(src->images[r].source, src->gallery.sources[r]) == 0;
    if (!st && !same)
        st = fr_fail(FR_E_IO, "%s changed while it was read (another facerec enrolling or "
                     "removing?): nothing written; run the split again", db);
    return st;
}

static int split(int argc, char **argv)
{
    static const struct option own[] = {{"db", required_argument, NULL, 'd'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    const char *db = NULL;
    int c;
    while (options && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_cli_common_option(&g, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    char *end = NULL;
    unsigned long n = optind + 2 == argc ? strtoul(argv[optind], &end, 10) : 0;
    if (!db || !end || *end || n < 2 || n > 100000) {
        fr_cli_error("db", "split: give --db FILE, a number of shards from 2 to 100000 and OUT "
                     "(see --help)");
        return FR_EXIT_USAGE;
    }
    const char *out = argv[optind + 1];
    char **names = fr_calloc(n, sizeof *names, "file names");
    int code = names ? FR_EXIT_OK : FR_EXIT_FATAL;
    for (size_t i = 0; !code && i < n; i++) {
        struct stat sb;
        if (!(names[i] = shard_name(out, i)))
            code = FR_EXIT_FATAL;
        else if (stat(names[i], &sb) == 0 || errno != ENOENT) {
            fr_cli_error("db", "split: %s exists: nothing written", names[i]);
            code = FR_EXIT_USAGE;
        }
    }
    fr_model *model = NULL;
    fr_store *store = NULL;
    split_source src;
    memset(&src, 0, sizeof src);
    fr_status st = FR_OK;
    if (!code)
        code = fr_cli_model_of_database("db", &g, db);
    if (!code && !(st = fr_cli_load_model(&g, &model)) &&
        !(st = fr_store_open(db, FR_STORE_READ, &store)))
        st = split_read(db, fr_model_get_info(model), store, &src);
    size_t done = 0;
    for (; !code && !st && done < n; done++)
        st = split_into(&src, fr_model_get_info(model), done, n, names[done]);
    fr_store_close(store); /* after the copies: the recorded weights file is its text */
    if (st) {
        /* all or nothing: the shards written so far go (the failed one too) */
        for (size_t i = 0; i < done; i++)
            unlink(names[i]);
        code = fr_cli_fail("db", st);
    }
    if (!code && !g.quiet)
        fprintf(stderr, "db: %zu people of %s in %lu databases %s .. %s\n", src.gallery.people,
                db, n, names[0], names[n - 1]);
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    fr_gallery_free(&src.gallery);
    fr_store_images_free(src.images, src.image_count);
    fr_model_free(model);
    return code;
}

static int list(const char *db, fr_store *store, int json)
{
    fr_person *people;
    size_t count;
    fr_status st = fr_store_people(store, &people, &count);
    if (st)
        return fr_cli_fail("db", st);
    size_t embeddings = 0;
    for (size_t i = 0; i < count; i++)
        embeddings += people[i].embeddings;
    if (json) {
        for (size_t i = 0; i < count; i++) {
            fputs("{\"name\": ", stdout);
            fr_json_string(stdout, people[i].name);
            printf(", \"embeddings\": %zu, \"created\": ", people[i].embeddings);
            fr_json_string(stdout, people[i].created);
            fputs("}\n", stdout);
        }
    } else {
        float threshold = 0;
        st = fr_store_threshold(store, &threshold);
        if (st) {
            fr_store_people_free(people, count);
            return fr_cli_fail("db", st);
        }
        printf("%s: %zu %s, %zu embedding%s, model %s", db, count,
               count == 1 ? "person" : "people", embeddings, embeddings == 1 ? "" : "s",
               fr_store_model(store)[0] ? fr_store_model(store) : "(none yet)");
        if (threshold > 0)
            printf(", threshold %g (db set)", (double)threshold);
        const char *weights = "", *weights_sha = "";
        if (fr_store_weights(store, &weights, &weights_sha) == FR_OK && weights[0]) {
            fputs(", weights ", stdout);
            fr_cli_write_escaped(stdout, weights, 1);
            printf(" (sha256 %.12s...)", weights_sha);
        }
        putchar('\n');
        for (size_t i = 0; i < count; i++)
            printf("  %-24s %4zu  %s\n", people[i].name, people[i].embeddings,
                   people[i].created);
    }
    fr_store_people_free(people, count);
    return FR_EXIT_OK;
}

/* db list --images: one line (or JSON object) per embedding. */
static int list_images(const char *db, fr_store *store, int json)
{
    fr_image_row *rows;
    size_t count;
    fr_status st = fr_store_images(store, &rows, &count);
    if (st)
        return fr_cli_fail("db", st);
    if (!json)
        printf("%s: %zu embedding%s\n  %6s  %-24s %-12s %4s  %-31s %s\n", db, count,
               count == 1 ? "" : "s", "id", "person", "sha256", "face", "box", "source");
    for (size_t i = 0; i < count; i++) {
        const fr_image_row *r = &rows[i];
        if (json) {
            printf("{\"id\": %lld, \"person\": ", (long long)r->id);
            fr_json_string(stdout, r->person);
            fputs(", \"source\": ", stdout);
            fr_json_string(stdout, r->source);
            if (r->sha256[0])
                printf(", \"sha256\": \"%s\", \"face\": %d", r->sha256, r->face);
            else
                fputs(", \"sha256\": null, \"face\": null", stdout);
            if (r->has_box)
                printf(", \"box\": [%.2f, %.2f, %.2f, %.2f]", (double)r->box[0],
                       (double)r->box[1], (double)r->box[2], (double)r->box[3]);
            else
                fputs(", \"box\": null", stdout);
            fputs(", \"created\": ", stdout);
            fr_json_string(stdout, r->created);
            fputs("}\n", stdout);
            continue;
        }
        char face[16] = "-", box[64] = "-";
        if (r->sha256[0] && r->face >= 0)
            snprintf(face, sizeof face, "%d", r->face);
        if (r->has_box)
            snprintf(box, sizeof box, "%.0f,%.0f,%.0f,%.0f", (double)r->box[0], (double)r->box[1],
                     (double)r->box[2], (double)r->box[3]);
        printf("  %6lld  %-24s %-12.12s %4s  %-31s %s\n", (long long)r->id, r->person,
               r->sha256[0] ? r->sha256 : "-", face, box, r->source);
    }
    fr_store_images_free(rows, count);
    return FR_EXIT_OK;
}

int fr_cmd_db(int argc, char **argv)
{
    static const struct option options[] = {{"db", required_argument, NULL, 'd'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"threshold", required_argument, NULL, 't'},
                                            {"images", no_argument, NULL, 'I'},
                                            {"image", no_argument, NULL, 'i'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    if (argc > 1 && strcmp(argv[1], "split") == 0)
        return split(argc - 1, argv + 1);
    const char *db = NULL, *threshold_text = NULL;
    int json = 0, quiet = 0, images = 0, image = 0, c;
    fr_cli_options_begin(options);
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 't': threshold_text = optarg; break;
        case 'I': images = 1; break;
        case 'i': image = 1; break;
        case 'h': help(stdout); return FR_EXIT_OK;
        default: fr_cli_bad_option(); return FR_EXIT_USAGE;
        }
    }
    const char *action = optind < argc ? argv[optind++] : NULL;
    size_t rest = (size_t)(argc - optind);
    int is_list = action && strcmp(action, "list") == 0;
    int is_remove = action && strcmp(action, "remove") == 0;
    int is_rename = action && strcmp(action, "rename") == 0;
    int is_set = action && strcmp(action, "set") == 0;
    if (action && strcmp(action, "split") == 0) {
        fr_cli_error("db", "split comes first: facerec db split --db FILE N OUT (see --help)");
        return FR_EXIT_USAGE;
    }
    if (!db || !(is_list || is_remove || is_rename || is_set) || (is_list && rest != 0) ||
        (is_remove && rest == 0) || (is_rename && rest != 2) ||
        (is_set && (rest != 0 || !threshold_text))) {
        fr_cli_error("db", "give list, remove NAME..., rename OLD NEW, set --threshold D or "
                     "split N OUT, and --db FILE (see --help)");
        return FR_EXIT_USAGE;
    }
    if (images && !is_list) {
        fr_cli_error("db", "--images: only db list takes it (db remove --image PATH|ID removes "
                     "one embedding)");
        return FR_EXIT_USAGE;
    }
    if (image && !is_remove) {
        fr_cli_error("db", "--image: only db remove takes it (db list --images lists the "
                     "embeddings)");
        return FR_EXIT_USAGE;
    }
    if (threshold_text && !is_set) {
        fr_cli_error("db", "--threshold: only db set stores one");
        return FR_EXIT_USAGE;
    }
    float threshold = 0; /* db set: 0 removes the stored one */
    if (is_set && strcmp(threshold_text, "default") != 0) {
        char *end;
        double v = strtod(threshold_text, &end);
        if (*threshold_text == 0 || *end != 0 || !(v > 0) || v > 4) {
            fr_cli_error("db", "--threshold %s: give a distance in (0, 4], or default",
                         threshold_text);
            return FR_EXIT_USAGE;
        }
        threshold = (float)v;
    }
    if (json && !is_list) { /* accepted and ignored before */
        fr_cli_error("db", "--json: only db list prints rows");
        return FR_EXIT_USAGE;
    }
    fr_store *store;
    fr_status st = fr_store_open(db, is_list ? FR_STORE_READ : FR_STORE_WRITE, &store);
    if (st)
        return fr_cli_fail("db", st);
    int code = FR_EXIT_OK;
    if (is_list) {
        code = images ? list_images(db, store, json) : list(db, store, json);
    } else if (is_remove && image) {
        size_t removed = 0, people = 0;
        st = fr_store_remove_images(store, (const char *const *)argv + optind, rest, &removed,
                                    &people);
        if (!st && !quiet) {
            fprintf(stderr, "db: removed %zu embedding%s from %s", removed,
                    removed == 1 ? "" : "s", db);
            if (people)
                fprintf(stderr, " (and %zu %s left without embeddings)", people,
                        people == 1 ? "person" : "people");
            fputc('\n', stderr);
        }
    } else if (is_remove) {
        st = fr_store_remove(store, (const char *const *)argv + optind, rest);
        if (!st && !quiet)
            fprintf(stderr, "db: removed %zu %s from %s\n", rest, rest == 1 ? "person" : "people",
                    db);
    } else if (is_set) {
        st = fr_store_set_threshold(store, threshold);
        if (!st && !quiet) {
            if (threshold > 0)
                fprintf(stderr, "db: %s: verify and identify use the threshold %g unless "
                        "--threshold is given\n", db, (double)threshold);
            else
                fprintf(stderr, "db: %s: no stored threshold; the model's default applies\n",
                        db);
        }
    } else {
        st = fr_store_rename(store, argv[optind], argv[optind + 1]);
        if (!st && !quiet)
            fprintf(stderr, "db: renamed '%s' to '%s' in %s\n", argv[optind], argv[optind + 1],
                    db);
    }
    fr_store_close(store);
    if (st == FR_E_NOT_FOUND || (st == FR_E_INVALID && image)) {
        /* an unknown name or embedding, an ambiguous path: a bad argument, like a bad option */
        fr_cli_error("db", "%s", fr_error_message());
        return FR_EXIT_USAGE;
    }
    return st ? fr_cli_fail("db", st) : code;
}
