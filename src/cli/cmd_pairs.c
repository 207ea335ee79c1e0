/*
 * cmd_pairs.c: `facerec pairs PAIRS --root DIR -o scores.csv`: bulk verification of listed
 * pairs, the input of `facerec eval`. Each image is embedded once however many pairs it is
 * in (LFW's 2200 DevTrain pairs hold 3,443 distinct images).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/matching.h"
#include "core/error.h"
#include "match/pairs.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec pairs PAIRS [--root DIR] -o SCORES.csv\n\n"
            "PAIRS is LFW's pairs.txt / pairsDevTrain.txt (images at DIR/name/name_0001.jpg) or a\n"
            "TSV of path1<TAB>path2<TAB>label (1/0 or same/different; relative paths under DIR).\n"
            "Writes one CSV row per pair: path1,path2,same,distance,fold (the fold pairs.txt\n"
            "gives; empty for files without folds, which eval then assigns). Pairs with an\n"
            "unreadable image are named on stderr and left out (exit 3).\n\n"
            "  --root DIR          where the images are\n"
            "  -o, --output FILE   the scores (CSV; - for standard output)\n");
    fr_global_help(out);
}

static double l2(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t d = 0; d < dim; d++)
        s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return sqrt(s);
}

int fr_cmd_pairs(int argc, char **argv)
{
    static const struct option own[] = {{"output", required_argument, NULL, 'o'},
                                        {"root", required_argument, NULL, 'r'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    const char *output = NULL, *root = NULL;
    int c;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'r': root = optarg; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_cli_common_option(&g, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (!output || optind + 1 != argc) {
        fr_cli_error("pairs", "give one pairs file and -o SCORES.csv (see --help)");
        return FR_EXIT_USAGE;
    }
    fr_pair_list pairs;
    fr_status st = fr_pairs_load(argv[optind], root, &pairs);
    if (st)
        return fr_cli_fail("pairs", st);
    char **all = malloc((2 * pairs.count) * sizeof *all), **unique = NULL;
    size_t images = 0;
    st = all ? FR_OK : fr_fail(FR_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < pairs.count; i++) {
        all[2 * i] = pairs.first[i];
        all[2 * i + 1] = pairs.second[i];
    }
    if (!st)
        st = fr_cli_sorted_unique(all, 2 * pairs.count, &unique, &images);
    int code = st ? fr_cli_fail("pairs", st) : FR_EXIT_OK;

    fr_run_options ro;
    fr_run_defaults(&ro);
    fr_run *run = NULL;
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    if (!code)
        code = fr_run_open_paths("pairs", &g, &ro, unique, images, &run);
    if (!code)
        code = fr_cli_embed_all("pairs", run, &e);
    size_t left_out = 0;
    if (!code) {
        fr_cli_table t;
        code = fr_cli_table_open("pairs", output, 0, &t);
        if (!code)
            fputs("path1,path2,same,distance,fold\n", t.file);
        for (size_t i = 0; !code && i < pairs.count; i++) {
            long a = fr_cli_find_sorted(unique, images, pairs.first[i]);
            long b = fr_cli_find_sorted(unique, images, pairs.second[i]);
            if (!e.ok[a] || !e.ok[b]) {
                left_out++;
                continue;
            }
            fr_csv_field(t.file, pairs.first[i]);
            fputc(',', t.file);
            fr_csv_field(t.file, pairs.second[i]);
            fprintf(t.file, ",%d,%.6f,", pairs.same[i],
                    l2(e.rows + (size_t)a * e.dim, e.rows + (size_t)b * e.dim, e.dim));
            if (pairs.fold[i] >= 0)
                fprintf(t.file, "%d", pairs.fold[i]);
            fputc('\n', t.file);
        }
        if (!code)
            code = fr_cli_table_close("pairs", &t);
        if (!code)
            fr_run_summary(run, images - e.failures, e.failures, output);
        if (!code && left_out) {
            fr_cli_error("pairs", "%zu of %zu pairs left out: an image could not be read",
                         left_out, pairs.count);
            code = FR_EXIT_PARTIAL;
        }
    }
    fr_cli_embeddings_free(&e);
    fr_run_close(run);
    free(unique);
    free(all);
    fr_pairs_free(&pairs);
    return code;
}
