/* cmd_db.c: `facerec db list|remove|rename --db FILE`: looking after an identity database. */
#include <stdlib.h>
#include <string.h>

#include "cli/matching.h"
#include "core/error.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec db list --db FILE [--json]\n"
            "       facerec db remove --db FILE NAME...\n"
            "       facerec db rename --db FILE OLD NEW\n\n"
            "list: the model the database was made with, then one line per person: name,\n"
            "  number of embeddings, date enrolled (--json: one JSON object per line).\n"
            "remove: deletes people and all their embeddings; when any name is unknown,\n"
            "  nothing is removed.\n"
            "rename: gives a person another name (not one already in use).\n");
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
        printf("%s: %zu %s, %zu embedding%s, model %s\n", db, count,
               count == 1 ? "person" : "people", embeddings, embeddings == 1 ? "" : "s",
               fr_store_model(store)[0] ? fr_store_model(store) : "(none yet)");
        for (size_t i = 0; i < count; i++)
            printf("  %-24s %4zu  %s\n", people[i].name, people[i].embeddings,
                   people[i].created);
    }
    fr_store_people_free(people, count);
    return FR_EXIT_OK;
}

int fr_cmd_db(int argc, char **argv)
{
    static const struct option options[] = {{"db", required_argument, NULL, 'd'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *db = NULL;
    int json = 0, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return FR_EXIT_OK;
        default: help(stderr); return FR_EXIT_USAGE;
        }
    }
    const char *action = optind < argc ? argv[optind++] : NULL;
    size_t rest = (size_t)(argc - optind);
    int is_list = action && strcmp(action, "list") == 0;
    int is_remove = action && strcmp(action, "remove") == 0;
    int is_rename = action && strcmp(action, "rename") == 0;
    if (!db || !(is_list || is_remove || is_rename) || (is_list && rest != 0) ||
        (is_remove && rest == 0) || (is_rename && rest != 2)) {
        fr_cli_error("db", "give list, remove NAME... or rename OLD NEW, and --db FILE "
                     "(see --help)");
        return FR_EXIT_USAGE;
    }
    fr_store *store;
    fr_status st = fr_store_open(db, is_list ? FR_STORE_READ : FR_STORE_WRITE, &store);
    if (st)
        return fr_cli_fail("db", st);
    int code = FR_EXIT_OK;
    if (is_list) {
        code = list(db, store, json);
    } else if (is_remove) {
        st = fr_store_remove(store, (const char *const *)argv + optind, rest);
        if (!st && !quiet)
            fprintf(stderr, "db: removed %zu %s from %s\n", rest, rest == 1 ? "person" : "people",
                    db);
    } else {
        st = fr_store_rename(store, argv[optind], argv[optind + 1]);
        if (!st && !quiet)
            fprintf(stderr, "db: renamed '%s' to '%s' in %s\n", argv[optind], argv[optind + 1],
                    db);
    }
    fr_store_close(store);
    if (st == FR_E_NOT_FOUND) { /* an unknown name: a bad argument, like a bad option */
        fr_cli_error("db", "%s", fr_error_message());
        return FR_EXIT_USAGE;
    }
    return st ? fr_cli_fail("db", st) : code;
}
