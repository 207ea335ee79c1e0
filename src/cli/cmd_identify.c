/*
 * cmd_identify.c: `facerec identify`: the seed's who_is_it(), over whole folders: the nearest
 * people in the identity database for every image, and "unknown" when even the nearest is
 * not under the threshold.
 *
 * The k nearest people come from the library's matcher (match/identity.h: the distance
 * engine's nearest-distinct-labels search), so a person with many images counts once, at
 * their nearest image; with --aggregate mean the gallery is one mean embedding per person.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/matching.h"
#include "core/alloc.h"
#include "core/error.h"

#define MAX_K 1000

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec identify --db FILE IMG|DIR... [-k K] [-o OUT] [--threshold D]\n"
            "                        [--aggregate min|mean]\n\n"
            "For one image: prints \"it's NAME, the distance is D\" or \"Not in the database.\";\n"
            "exit 0 when identified, 1 when not. For directories or several images: one row per\n"
            "image to OUT or standard output, CSV (path,identity,distance, then name_i,distance_i\n"
            "for the K nearest when K > 1) or JSON Lines (.jsonl or --json). identity is empty\n"
            "(null) when the nearest person is not under the threshold. Unreadable images are\n"
            "named on stderr and left out (exit 3).\n\n"
            "  --db FILE              the identity database\n"
            "  -k K                   the K nearest people (default 1)\n"
            "  -o, --output FILE      where the rows go (default: standard output)\n"
            "  --aggregate min|mean   a person's distance: to their nearest embedding (default),\n"
            "                         or to the mean of their embeddings\n");
    fr_global_help(out);
}

typedef struct match_context {
    const fr_gallery *gallery;
    size_t k;
} match_context;

static const char *person_name(const match_context *m, const fr_match *match)
{
    return m->gallery->names[match->person];
}

static void write_row(FILE *f, fr_table_format format, const match_context *m, const char *path,
                      const fr_match *list)
{
    int known = list[0].accepted;
    if (format == FR_TABLE_CSV) {
        fr_csv_field(f, path);
        fputc(',', f);
        if (known)
            fr_csv_field(f, person_name(m, &list[0]));
        fprintf(f, ",%.6f", list[0].distance);
        for (size_t q = 0; m->k > 1 && q < m->k; q++) {
            fputc(',', f);
            if (list[q].person >= 0) {
                fr_csv_field(f, person_name(m, &list[q]));
                fprintf(f, ",%.6f", list[q].distance);
            } else {
                fputc(',', f);
            }
        }
        fputc('\n', f);
        return;
    }
    fputs("{\"path\": ", f);
    fr_json_string(f, path);
    fputs(", \"identity\": ", f);
    fr_json_string(f, known ? person_name(m, &list[0]) : NULL);
    fprintf(f, ", \"distance\": %.6f", list[0].distance);
    if (m->k > 1) {
        fputs(", \"candidates\": [", f);
        for (size_t q = 0; q < m->k && list[q].person >= 0; q++) {
            fputs(q ? ", {\"name\": " : "{\"name\": ", f);
            fr_json_string(f, person_name(m, &list[q]));
            fprintf(f, ", \"distance\": %.6f", list[q].distance);
            if (list[q].image >= 0) {
                fputs(", \"image\": ", f);
                fr_json_string(f, m->gallery->sources[list[q].image]);
            }
            fputc('}', f);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
}

static int parse_k(const char *text, size_t *k)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < 1 || v > MAX_K) {
        fprintf(stderr, "facerec: -k %s: give a number from 1 to %d\n", text, MAX_K);
        return 0;
    }
    *k = (size_t)v;
    return 1;
}

int fr_cmd_identify(int argc, char **argv)
{
    static const struct option own[] = {
        {"db", required_argument, NULL, 'd'}, {"output", required_argument, NULL, 'o'},
        {"aggregate", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    const char *db = NULL, *output = NULL;
    match_context m = {NULL, 1};
    fr_aggregate aggregate = FR_AGGREGATE_MIN;
    int c;
    while (options && (c = getopt_long(argc, argv, "k:o:h", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': output = optarg; break;
        case 'k':
            if (!parse_k(optarg, &m.k)) {
                free(options);
                return FR_EXIT_USAGE;
            }
            break;
        case 'a':
            if (!fr_cli_parse_aggregate(optarg, &aggregate)) {
                free(options);
                return FR_EXIT_USAGE;
            }
            break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_cli_common_option(&g, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (!db || optind >= argc) {
        fr_cli_error("identify", "give --db FILE and images or directories (see --help)");
        return FR_EXIT_USAGE;
    }
    /* the seed's who_is_it(): one image file, answered in words */
    struct stat sb;
    int single = !output && argc - optind == 1 && stat(argv[optind], &sb) == 0 &&
                 S_ISREG(sb.st_mode);

    fr_run_options ro;
    fr_run_defaults(&ro);
    fr_run *run = NULL;
    fr_cli_identities ids;
    memset(&ids, 0, sizeof ids);
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    fr_match *found = NULL;
    fr_status st = FR_OK;
    int code = fr_run_open("identify", &g, &ro, argv + optind, (size_t)(argc - optind), &run);
    const fr_model_info *model = code ? NULL : fr_model_get_info(fr_run_model(run));
    if (!code)
        code = fr_cli_identities_open("identify", &g, db, model, aggregate, &ids);
    if (!code)
        code = fr_cli_embed_all("identify", run, &e);
    if (!code) {
        m.gallery = &ids.gallery;
        found = fr_calloc(e.count * m.k + 1, sizeof *found, "nearest people");
        st = found ? FR_OK : FR_E_NOMEM;
        if (!st)
            st = fr_matcher_identify(ids.matcher, e.rows, e.count, m.k, found);
        if (st)
            code = fr_cli_fail("identify", st);
    }
    if (!code && single) {
        if (!e.ok[0]) {
            code = FR_EXIT_PARTIAL;
        } else if (g.json) {
            write_row(stdout, FR_TABLE_JSONL, &m, fr_run_paths(run)[0], found);
            code = found[0].accepted ? FR_EXIT_OK : FR_EXIT_NO;
        } else {
            if (found[0].accepted)
                printf("it's %s, the distance is %.3f\n", person_name(&m, &found[0]),
                       found[0].distance);
            else
                printf("Not in the database.\n");
            for (size_t q = 1; q < m.k && found[q].person >= 0; q++)
                printf("  %zu. %s, distance %.3f\n", q + 1, person_name(&m, &found[q]),
                       found[q].distance);
            code = found[0].accepted ? FR_EXIT_OK : FR_EXIT_NO;
        }
    } else if (!code) {
        fr_cli_table t;
        code = fr_cli_table_open("identify", output, g.json, &t);
        if (!code && t.format == FR_TABLE_CSV) {
            fputs("path,identity,distance", t.file);
            for (size_t q = 1; m.k > 1 && q <= m.k; q++)
                fprintf(t.file, ",name_%zu,distance_%zu", q, q);
            fputc('\n', t.file);
        }
        for (size_t i = 0; !code && i < e.count; i++)
            if (e.ok[i])
                write_row(t.file, t.format, &m, fr_run_paths(run)[i], found + i * m.k);
        if (!code)
            code = fr_cli_table_close("identify", &t);
        if (!code)
            fr_run_summary(run, e.count - e.failures + fr_run_path_errors(run), e.failures,
                           output);
        if (!code && e.failures)
            code = FR_EXIT_PARTIAL;
    }
    free(found);
    fr_cli_embeddings_free(&e);
    fr_cli_identities_close(&ids);
    fr_run_close(run);
    return code;
}
