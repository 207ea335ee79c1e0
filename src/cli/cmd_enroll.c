/*
 * cmd_enroll.c: `facerec enroll`: people into the identity database, all or nothing.
 *
 * Every image is embedded before the database is touched, and the embeddings go in as one
 * transaction: an unreadable image, a bad name or another model's database leaves the file
 * as it was (and a database this run would have created is not left behind).
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/matching.h"
#include "cli/signals.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/sha256.h"
#include "engine/paths.h"
#include "engine/people.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec enroll --db FILE --name NAME IMG|DIR...\n"
            "       facerec enroll --db FILE --dir PEOPLE\n\n"
            "Adds embeddings to the identity database FILE (created when missing). With --name,\n"
            "every image given (directories read recursively) is NAME's. With --dir, each\n"
            "subdirectory of PEOPLE is a person named after it, holding their images, and each\n"
            "image directly in PEOPLE is a person named after the file (without extension).\n"
            "People already in the database get the new images added to theirs.\n\n"
            "All or nothing: when any image cannot be read (each is named on stderr; exit 3),\n"
            "or the database holds another model's embeddings (exit 4), nothing is written.\n"
            "With --keep-going, the images that cannot be read, hold no face or several are\n"
            "skipped, each named, and the others enrolled (exit 3 when any was skipped).\n\n"
            "  --db FILE      the identity database (SQLite)\n"
            "  --name NAME    the person the images show\n"
            "  --dir PEOPLE   one person per subdirectory or image\n"
            "  --force        with --name, enrol a directory of two or more subdirectories\n"
            "                 holding images (the layout of --dir PEOPLE, refused without it)\n"
            "                 as that one person\n"
            "  --keep-going   enrol the good images of a batch, skipping (and naming) the\n"
            "                 ones that cannot be enrolled\n");
    fr_global_help_except(out, "threshold json all-faces");
}

/* Does dir look like a --dir PEOPLE folder: two or more subdirectories with images directly
 * in them? Their count, and the first one's name in first. */
static size_t person_folders(const char *dir, char *first, size_t size)
{
    DIR *d = opendir(dir);
    size_t found = 0;
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        struct stat sb;
        int fits = snprintf(sub, sizeof sub, "%s/%s", dir, entry->d_name) < (int)sizeof sub;
        DIR *inner = fits && stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) ? opendir(sub) : NULL;
        struct dirent *image;
        while (inner && (image = readdir(inner)) != NULL)
            if (fr_path_is_image_name(image->d_name)) {
                if (found++ == 0)
                    snprintf(first, size, "%s", entry->d_name);
                break;
            }
        if (inner)
            closedir(inner);
    }
    if (d)
        closedir(d);
    return found;
}

/* `enroll --name obama people/` where people/ is a folder of people: every one of them would
 * become obama. Refused (exit 2) unless --force. */
static int check_not_people(char *const *args, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        struct stat sb;
        char first[256];
        size_t n = stat(args[i], &sb) == 0 && S_ISDIR(sb.st_mode)
                       ? person_folders(args[i], first, sizeof first) : 0;
        if (n >= 2) {
            fr_cli_error("enroll", "%s holds %zu folders of images (%s, ...), the layout of "
                         "one person per folder: did you mean --dir %s? (--force enrols them "
                         "all as %s)", args[i], n, first, args[i], name);
            return FR_EXIT_USAGE;
        }
    }
    return 0;
}

/* Where an enrolment goes, settled before any image is read: the existing database (opened
 * read-write, of this run's model, in a folder where SQLite can write its journal), or a new
 * one built in a temporary file beside DB (core/file.h) and linked into place once complete,
 * so that a failure or an interrupt leaves nothing behind and a database that another run
 * created meanwhile is never replaced (link() refuses to). */
typedef struct target {
    int created;
    fr_temp staged;
} target;

static int target_open(const char *db, const fr_model_info *model, target *t)
{
    memset(t, 0, sizeof *t);
    t->staged.fd = -1;
    struct stat sb;
    fr_status st;
    if (stat(db, &sb) != 0 && errno == ENOENT) {
        t->created = 1;
        st = fr_temp_create(db, &t->staged);
        return st ? fr_cli_fail("enroll", st) : FR_EXIT_OK;
    }
    fr_store *store;
    st = fr_store_open(db, FR_STORE_WRITE, &store);
    if (!st) {
        st = fr_store_check_model(store, model);
        fr_store_close(store);
    }
    char *folder = st ? NULL : fr_strdup(db);
    if (!st && !folder)
        st = FR_E_NOMEM;
    if (!st && fr_folder_check_writable(dirname(folder)) != FR_OK)
        st = fr_fail(FR_E_IO, "%s: cannot be changed: SQLite writes a journal beside it and %s",
                     db, fr_error_message());
    free(folder);
    return st ? fr_cli_fail("enroll", st) : FR_EXIT_OK;
}

static void target_close(target *t)
{
    fr_temp_discard(&t->staged);
}

/* A message about the database under construction names the database, not its temporary. */
static void name_database(const char *staged, const char *db)
{
    char message[2048], *at = strstr(fr_error_message(), staged);
    if (!at)
        return;
    const char *text = fr_error_message();
    snprintf(message, sizeof message, "%.*s%s%s", (int)(at - text), text, db, at + strlen(staged));
    fr_error_restore(message);
}

/* The weights file this run's model came from, recorded with the model so that a command
 * without --model finds that very file again (cli/common.c fr_cli_model_of_database). */
typedef struct fr_weights_record {
    char path[PATH_MAX];
    char sha256[65];
} fr_weights_record;

static int weights_record(const fr_global_options *g, fr_weights_record *w)
{
    char buffer[PATH_MAX];
    const char *file = NULL;
    memset(w, 0, sizeof *w);
    fr_status st = fr_cli_weights_file(g, buffer, sizeof buffer, &file);
    if (!st && file && !realpath(file, w->path))
        st = fr_fail(FR_E_IO, "%s: %s", file, strerror(errno));
    if (!st && file)
        st = fr_sha256_file(w->path, w->sha256);
    if (st)
        w->path[0] = 0;
    return st ? fr_cli_fail("enroll", st) : FR_EXIT_OK;
}

static fr_status enroll_into(fr_store *store, const fr_model_info *model,
                             const fr_enrollment *items, const fr_image_record *images,
                             size_t count, const fr_weights_record *weights, char **found)
{
    fr_status st = weights->path[0] ? fr_store_set_weights(store, weights->path, weights->sha256)
                                    : FR_OK;
    return st ? st : fr_store_enroll_images(store, model, items, images, count, found);
}

/* The SHA-256 of each image to enrol (hashes: 65 bytes each), recorded with its embedding so
 * that enrolling it again is skipped (store.h). */
static int hash_images(const fr_people *p, const fr_cli_embeddings *e, const unsigned char *skip,
                       char *hashes)
{
    for (size_t i = 0; i < e->count; i++) {
        if (skip[i])
            continue;
        fr_status st = fr_sha256_file(p->paths.paths[i], hashes + 65 * i);
        if (st)
            return fr_cli_fail("enroll", st);
    }
    return FR_EXIT_OK;
}

/* The enrolment as one transaction, in a commit section (signals.h); already[i] gets the
 * person image i was already enrolled as (not enrolled again). */
static int store_all(const char *db, const fr_model_info *model, const fr_people *p,
                     const fr_cli_embeddings *e, const unsigned char *skip, target *t,
                     const fr_weights_record *weights, char **already)
{
    fr_enrollment *items = fr_calloc(e->count, sizeof *items, "an enrolment");
    fr_image_record *images = fr_calloc(e->count, sizeof *images, "image records");
    char *hashes = fr_calloc(e->count, 65, "image hashes");
    char **found = fr_calloc(e->count, sizeof *found, "image records");
    size_t *index = fr_calloc(e->count, sizeof *index, "image records");
    int code = items && images && hashes && found && index ? FR_EXIT_OK
                                                           : fr_cli_fail("enroll", FR_E_NOMEM);
    if (!code)
        code = hash_images(p, e, skip, hashes);
    if (code) {
        free(items);
        free(images);
        free(hashes);
        free(found);
        free(index);
        return code;
    }
    size_t count = 0;
    for (size_t i = 0; i < e->count; i++) {
        if (skip[i])
            continue;
        items[count].name = p->names[i];
        items[count].source = p->paths.paths[i];
        items[count].vector = e->rows + i * e->dim;
        images[count].sha256 = hashes + 65 * i;
        images[count].face = e->has_box[i] ? e->face[i] : -1;
        images[count].has_box = e->has_box[i];
        for (int k = 0; k < 4 && e->has_box[i]; k++)
            images[count].box[k] = e->boxes[i].box[k];
        index[count++] = i;
    }
    fr_cli_commit_begin();
    fr_store *store;
    fr_status st = FR_OK;
    int created = t->created;
    if (created) {
        st = fr_store_open(t->staged.path, FR_STORE_CREATE, &store);
        if (!st) {
            st = enroll_into(store, model, items, images, count, weights, found);
            fr_store_close(store);
        }
        if (!st && link(t->staged.path, db) != 0) {
            if (errno == EEXIST)
                created = 0; /* appeared meanwhile: enrol into it like any existing one */
            else
                st = fr_fail(FR_E_IO, "%s: %s", db, strerror(errno));
        }
        if (st)
            name_database(t->staged.path, db);
    }
    if (!created) {
        st = fr_store_open(db, FR_STORE_WRITE, &store);
        if (!st) {
            st = enroll_into(store, model, items, images, count, weights, found);
            fr_store_close(store);
        }
    }
    target_close(t);
    fr_cli_commit_end(st == FR_OK);
    for (size_t k = 0; k < count; k++)
        already[index[k]] = found[k];
    free(items);
    free(images);
    free(hashes);
    free(found);
    free(index);
    return st ? fr_cli_fail("enroll", st) : FR_EXIT_OK;
}

/* A photo with several faces would enrol whoever is largest under the person's name: refused
 * unless --face says which face is theirs (exit code). */
static int refuse_group_photos(const fr_people *p, const fr_cli_embeddings *e, int keep_going,
                               unsigned char *skip)
{
    size_t groups = 0;
    for (size_t i = 0; i < e->count; i++)
        if (e->ok[i] && e->faces[i] > 1) {
            fr_cli_error("enroll", "%s: %d faces: which one is %s? (--face largest|central|INDEX; "
                         "facerec detect lists them)%s", p->paths.paths[i], e->faces[i],
                         p->names[i], keep_going ? ": skipped" : "");
            skip[i] = 1;
            groups++;
        }
    if (!groups || keep_going)
        return FR_EXIT_OK;
    fr_cli_error("enroll", "nothing enrolled: %zu %s with several faces would enrol the "
                 "largest face under the person's name; crop %s, or choose the face with "
                 "--face", groups, groups == 1 ? "photo" : "photos", groups == 1 ? "it" : "them");
    return FR_EXIT_USAGE;
}

/* Without --face, --model and --weights, an image whose file (its SHA-256) the database
 * already holds is left out before anything is embedded (re-enrolling a folder costs a read of
 * each file, not the network); *repeated counts them. With --face the face decides, after detection
 * (fr_store_enroll_images). An exit code. */
static int drop_enrolled(const char *db, fr_people *p, size_t *repeated)
{
    *repeated = 0;
    struct stat sb;
    if (stat(db, &sb) != 0)
        return FR_EXIT_OK; /* a new database */
    fr_store *store;
    char saved[1024];
    fr_error_save(saved, sizeof saved);
    if (fr_store_open(db, FR_STORE_READ, &store) != FR_OK) {
        fr_error_restore(saved); /* the enrolment's own open says why */
        return FR_EXIT_OK;
    }
    fr_status st = FR_OK;
    size_t kept = 0;
    for (size_t i = 0; i < p->paths.count; i++) {
        char hex[65], name[300] = "";
        if (!st && fr_sha256_file(p->paths.paths[i], hex) == FR_OK)
            st = fr_store_find_image(store, hex, name, sizeof name);
        else
            fr_error_restore(saved); /* unreadable: the embedding says why */
        if (!st && name[0]) {
            if (strcmp(name, p->names[i]) != 0)
                fr_cli_error("enroll", "%s: already enrolled as '%s' (the same file content): "
                             "not added to '%s' (facerec db list --images shows it)",
                             p->paths.paths[i], name, p->names[i]);
            free(p->paths.paths[i]);
            free(p->names[i]);
            (*repeated)++;
            continue;
        }
        p->paths.paths[kept] = p->paths.paths[i];
        p->names[kept++] = p->names[i];
    }
    p->paths.count = kept;
    if (p->named > kept)
        p->named = kept;
    fr_store_close(store);
    return st ? fr_cli_fail("enroll", st) : FR_EXIT_OK;
}

static size_t count_people(const fr_people *p, const unsigned char *skip)
{
    char **unique = NULL, **names = fr_calloc(p->paths.count + 1, sizeof *names, "names");
    size_t people = 0, count = 0;
    for (size_t i = 0; names && i < p->paths.count; i++)
        if (!skip[i])
            names[count++] = p->names[i];
    fr_status st = names ? fr_cli_sorted_unique(names, count, &unique, &people) : FR_E_NOMEM;
    free(names);
    if (st != FR_OK)
        return 0;
    free(unique);
    return people;
}

int fr_cmd_enroll(int argc, char **argv)
{
    static const struct option own[] = {{"db", required_argument, NULL, 'd'},
                                        {"name", required_argument, NULL, 'n'},
                                        {"dir", required_argument, NULL, 'D'},
                                        {"force", no_argument, NULL, 'f'},
                                        {"keep-going", no_argument, NULL, 'k'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_options_refuse(options, "threshold");
    fr_global_options g;
    fr_global_defaults(&g);
    const char *db = NULL, *name = NULL, *people = NULL;
    int c, force = 0, keep_going = 0;
    while (options && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': name = optarg; break;
        case 'D': people = optarg; break;
        case 'f': force = 1; break;
        case 'k': keep_going = 1; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_cli_common_option(&g, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (g.json) { /* accepted and ignored before */
        fr_cli_error("enroll", "--json: enroll writes no rows (its summary goes to stderr; "
                     "facerec db list --json lists the database)");
        return FR_EXIT_USAGE;
    }
    if (!db || !!name == !!people || (name && optind >= argc) || (people && optind < argc)) {
        fr_cli_error("enroll", "give --db FILE and either --name NAME IMG... or --dir PEOPLE "
                     "(see --help)");
        return FR_EXIT_USAGE;
    }
    if (name && fr_store_check_name(name) != FR_OK) {
        fr_cli_error("enroll", "%s", fr_error_message());
        return FR_EXIT_USAGE;
    }
    int code = name && !force ? check_not_people(argv + optind, (size_t)(argc - optind), name) : 0;
    if (code)
        return code;

    fr_people p;
    memset(&p, 0, sizeof p);
    fr_status st = name ? fr_people_add(&p, argv + optind, (size_t)(argc - optind), name,
                                        fr_cli_path_error, "enroll")
                        : fr_people_collect(people, &p, fr_cli_path_error, "enroll");
    fr_cli_paths_skipped("enroll", &p.paths);
    for (size_t i = 0; !st && i < p.named; i++)
        if (fr_store_check_name(p.names[i]) != FR_OK) {
            fr_cli_error("enroll", "%s: %s", p.paths.paths[i], fr_error_message());
            p.errors++;
        }
    if (st) {
        fr_people_free(&p);
        return fr_cli_fail("enroll", st);
    }
    if (p.errors || p.paths.count == 0) {
        fr_cli_error("enroll", "nothing enrolled: fix the %zu problem(s) above", p.errors);
        code = p.errors ? FR_EXIT_PARTIAL : FR_EXIT_USAGE;
        fr_people_free(&p);
        return code;
    }

    size_t known = 0; /* images left out as already enrolled */
    /* only where the run's model will be the database's own (no --model, no --weights): with
     * another model, target_open's model check refuses the enrolment first */
    code = !g.face_given && !g.model && !g.weights && p.named == p.paths.count
               ? drop_enrolled(db, &p, &known)
               : 0;
    if (!code && p.paths.count == 0) { /* nothing new: no model to load, nothing to write */
        if (!g.quiet)
            fprintf(stderr, "enroll: skipped %zu %s already enrolled (the same file content)\n"
                    "enroll: nothing new added to %s\n", known, known == 1 ? "image" : "images",
                    db);
        fr_people_free(&p);
        return FR_EXIT_OK;
    }
    if (code) {
        fr_people_free(&p);
        return code;
    }
    fr_run_options ro;
    fr_run_defaults(&ro);
    ro.names_groups = !g.face_given;
    fr_run *run;
    code = fr_cli_model_of_database("enroll", &g, db);
    if (!code)
        code = fr_run_open_paths("enroll", &g, &ro, p.paths.paths, p.paths.count, &run);
    if (code) {
        fr_people_free(&p);
        return code;
    }
    const fr_model_info *model = fr_model_get_info(fr_run_model(run));
    /* an existing database of another model, or one that cannot be written: refused before
     * spending time on images */
    target t;
    code = target_open(db, model, &t);
    if (code) {
        fr_run_close(run);
        fr_people_free(&p);
        return code;
    }
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    code = fr_cli_embed_all("enroll", run, &e);
    unsigned char *skip = code ? NULL : fr_calloc(e.count + 1, 1, "skipped images");
    if (!code && !skip)
        code = fr_cli_fail("enroll", FR_E_NOMEM);
    if (!code && e.failures && !keep_going) {
        fr_cli_error("enroll", "nothing enrolled: %zu of %zu images could not be read "
                     "(--keep-going enrols the others)", e.failures, e.count);
        code = FR_EXIT_PARTIAL;
    }
    for (size_t i = 0; !code && i < e.count; i++)
        skip[i] = !e.ok[i];
    if (!code && !g.face_given)
        code = refuse_group_photos(&p, &e, keep_going, skip);
    size_t skipped = 0;
    for (size_t i = 0; !code && i < e.count; i++)
        skipped += skip[i];
    if (!code && skipped == e.count) {
        fr_cli_error("enroll", "nothing enrolled: not one of the %zu %s could be enrolled "
                     "(named above)", e.count, e.count == 1 ? "image" : "images");
        code = FR_EXIT_PARTIAL;
    }
    static fr_weights_record weights;
    char **already = code ? NULL : fr_calloc(e.count + 1, sizeof *already, "image records");
    if (!code && !already)
        code = fr_cli_fail("enroll", FR_E_NOMEM);
    if (!code)
        code = weights_record(&g, &weights);
    if (!code)
        code = store_all(db, model, &p, &e, skip, &t, &weights, already);
    target_close(&t);
    size_t repeated = known;
    for (size_t i = 0; !code && i < e.count; i++) {
        if (!already[i])
            continue;
        repeated++;
        skip[i] = 2; /* not added, but not a failure */
        if (strcmp(already[i], p.names[i]) != 0)
            fr_cli_error("enroll", "%s: already enrolled as '%s' (the same file content%s): "
                         "not added to '%s' (facerec db list --images shows it)",
                         p.paths.paths[i], already[i], e.has_box[i] ? " and face" : "",
                         p.names[i]);
    }
    if (!code && !g.quiet) {
        size_t added = e.count - skipped - (repeated - known);
        fr_run_summary(run, e.count, 0, db);
        if (repeated)
            fprintf(stderr, "enroll: skipped %zu %s already enrolled (the same file content)\n",
                    repeated, repeated == 1 ? "image" : "images");
        if (added) {
            size_t people_added = count_people(&p, skip);
            fprintf(stderr, "enroll: %zu %s of %zu %s added to %s\n", added,
                    added == 1 ? "image" : "images", people_added,
                    people_added == 1 ? "person" : "people", db);
        } else {
            fprintf(stderr, "enroll: nothing new added to %s\n", db);
        }
    }
    for (size_t i = 0; already && i < e.count; i++)
        free(already[i]);
    free(already);
    if (!code && skipped) {
        fr_cli_error("enroll", "--keep-going: skipped %zu of %zu images:", skipped, e.count);
        for (size_t i = 0; i < e.count; i++) {
            const char *path = p.paths.paths[i];
            const char *why = !e.ok[i] && e.errors && e.errors[i] ? e.errors[i] : "several faces";
            if (skip[i] != 1)
                continue;
            if (strncmp(why, path, strlen(path)) == 0) /* the reader's message names it */
                fr_cli_error("enroll", "  skipped %s", why);
            else
                fr_cli_error("enroll", "  skipped %s: %s", path, why);
        }
        code = FR_EXIT_PARTIAL;
    }
    free(skip);
    fr_cli_embeddings_free(&e);
    fr_run_close(run);
    fr_people_free(&p);
    return code;
}
