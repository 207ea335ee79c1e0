/*
 * cmd_pairs.c: `facerec pairs PAIRS --root DIR -o scores.csv`: bulk verification of listed
 * pairs, the input of `facerec eval`.
 *
 * The pairs go in blocks of PAIR_BLOCK: each block's distinct images are embedded once (LFW's
 * 2200 DevTrain pairs, one block, hold 3,443), scored and written, so memory holds one block
 * whatever the length of the list, and --shard cuts the list at block boundaries: a block's
 * images form the same network batches in a shard as in one run, so its scores are the same.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/guard.h"
#include "cli/matching.h"
#include "core/error.h"
#include "match/pairs.h"

/* Pairs embedded together: their distinct images (at most twice as many) are in memory. */
#define PAIR_BLOCK 4096

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
            "  -o, --output FILE   the scores (CSV; - for standard output)\n"
            "  --force             write -o even where it is one of the images or PAIRS\n");
    fr_run_help(out);
    fr_global_help_except(out, "threshold json all-faces");
}

static double l2(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t d = 0; d < dim; d++)
        s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return sqrt(s);
}

/* The scores of pairs [first, end): their distinct images embedded, then one row a pair. */
static int score_block(fr_run *run, const fr_pair_list *pairs, size_t first, size_t end,
                       FILE *out, size_t *images, size_t *failures, size_t *left_out)
{
    char **all = malloc((2 * (end - first) + 1) * sizeof *all), **unique = NULL;
    size_t count = 0;
    fr_status st = all ? FR_OK : fr_fail(FR_E_NOMEM, "out of memory");
    for (size_t i = first; !st && i < end; i++) {
        all[2 * (i - first)] = pairs->first[i];
        all[2 * (i - first) + 1] = pairs->second[i];
    }
    if (!st)
        st = fr_cli_sorted_unique(all, 2 * (end - first), &unique, &count);
    int code = st ? fr_cli_fail("pairs", st) : FR_EXIT_OK;
    fr_cli_embeddings e;
    memset(&e, 0, sizeof e);
    if (!code)
        code = fr_cli_embed_list("pairs", run, unique, count, &e);
    for (size_t i = first; !code && i < end; i++) {
        long a = fr_cli_find_sorted(unique, count, pairs->first[i]);
        long b = fr_cli_find_sorted(unique, count, pairs->second[i]);
        if (!e.ok[a] || !e.ok[b]) {
            (*left_out)++;
            continue;
        }
        fr_csv_field(out, pairs->first[i]);
        fputc(',', out);
        fr_csv_field(out, pairs->second[i]);
        fprintf(out, ",%d,%.6f,", pairs->same[i],
                l2(e.rows + (size_t)a * e.dim, e.rows + (size_t)b * e.dim, e.dim));
        if (pairs->fold[i] >= 0)
            fprintf(out, "%d", pairs->fold[i]);
        fputc('\n', out);
    }
    *images += count;
    *failures += e.failures;
    fr_cli_embeddings_free(&e);
    free(unique);
    free(all);
    return code;
}

/* The shard's manifest: the pair list is the input list. */
static int pairs_manifest(const fr_run_options *ro, const fr_pair_list *pairs, fr_run *run,
                          size_t first, size_t end, fr_manifest **out)
{
    *out = NULL;
    if (!ro->shard.count)
        return FR_EXIT_OK;
    fr_list_digest *d;
    fr_status st = fr_list_digest_new(&d);
    for (size_t i = 0; !st && i < pairs->count; i++) {
        char label[32];
        snprintf(label, sizeof label, "%d %d", pairs->same[i], pairs->fold[i]);
        fr_list_digest_add(d, pairs->first[i]);
        fr_list_digest_add(d, pairs->second[i]);
        fr_list_digest_add(d, label);
    }
    char hex[65];
    if (!st) {
        fr_list_digest_finish(d, hex);
        st = fr_manifest_new("pairs", &ro->shard, pairs->count, hex, PAIR_BLOCK, first, end,
                             out);
    }
    if (st)
        return fr_cli_fail("pairs", st);
    fr_run_describe(run, *out);
    return FR_EXIT_OK;
}

int fr_cmd_pairs(int argc, char **argv)
{
    static const struct option own[] = {{"output", required_argument, NULL, 'o'},
                                        {"root", required_argument, NULL, 'r'},
                                        {"force", no_argument, NULL, 'f'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_options_refuse(options, "threshold json");
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options ro;
    fr_run_defaults(&ro);
    const char *output = NULL, *root = NULL;
    int c, force = 0;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'r': root = optarg; break;
        case 'f': force = 1; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_run_option(&g, &ro, c, optarg, help)) {
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
    if (!fr_run_check_output("pairs", &ro, output))
        return FR_EXIT_USAGE;
    if (ro.list) {
        fr_cli_error("pairs", "--list: pairs reads its images from the pairs file");
        return FR_EXIT_USAGE;
    }
    fr_pair_list pairs;
    fr_status st = fr_pairs_load(argv[optind], root, &pairs);
    if (st)
        return fr_cli_fail("pairs", st);
    size_t first, end;
    fr_shard_range(&ro.shard, pairs.count, PAIR_BLOCK, &first, &end);
    /* the run embeds the blocks' lists; the shard is cut here, in pairs */
    fr_run_options whole = ro;
    whole.shard.count = 0;
    fr_run *run = NULL;
    fr_manifest *manifest = NULL;
    int code = fr_run_open_paths("pairs", &g, &whole, NULL, 0, &run);
    if (!code)
        code = pairs_manifest(&ro, &pairs, run, first, end, &manifest);
    size_t images = 0, failures = 0, left_out = 0;
    /* before the first image is read: an output that would replace PAIRS or an image */
    fr_cli_guard first_images = {"pairs", argv + optind, 1, pairs.first, pairs.count,
                                 NULL, 0, force};
    fr_cli_guard second_images = first_images;
    second_images.inputs = pairs.second;
    if (!code)
        code = fr_cli_guard_output(&first_images, "-o", output);
    if (!code)
        code = fr_cli_guard_output(&second_images, "-o", output);
    fr_cli_table t;
    if (!code)
        code = fr_cli_table_open("pairs", output, 0, &t);
    if (!code) {
        fputs("path1,path2,same,distance,fold\n", t.file);
        for (size_t b = first; !code && b < end; b += PAIR_BLOCK)
            code = score_block(run, &pairs, b, end - b < PAIR_BLOCK ? end : b + PAIR_BLOCK,
                               t.file, &images, &failures, &left_out);
        if (code)
            fr_cli_table_abort(&t);
        else
            code = fr_cli_table_close("pairs", &t);
    }
    if (!code && manifest) {
        static const char *const roles[] = {"main"};
        st = fr_run_manifest_commit(manifest, output, roles, 1, failures);
        if (st)
            code = fr_cli_fail("pairs", st);
    }
    if (!code)
        fr_run_summary(run, images - failures, failures, output);
    if (!code && left_out) {
        fr_cli_error("pairs", "%zu of %zu pairs left out: an image could not be read", left_out,
                     end - first);
        code = FR_EXIT_PARTIAL;
    }
    fr_manifest_free(manifest);
    fr_run_close(run);
    fr_pairs_free(&pairs);
    return code;
}
