/*
 * cmd_eval.c: `facerec eval SCORES.csv...`: how well a model's distances separate same-person
 * from different-person pairs (match/eval.h: the LFW 10-fold protocol), with a ROC picture of
 * every score file given (several models on one plot) and the distance histograms of each.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/matching.h"
#include "core/alloc.h"
#include "core/error.h"
#include "match/eval.h"
#include "match/plot.h"

#define MAX_FILES 6
#define MAX_COLUMNS 64

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec eval SCORES.csv... [--folds N] [--far F] [--plots PREFIX] [--json]\n\n"
            "Reads the scores `facerec pairs` writes (CSV with columns same, distance and\n"
            "optionally fold) and reports, per file:\n"
            "  accuracy        the LFW protocol: for each of N folds (default 10) the threshold\n"
            "                  with the most pairs right on the other folds, applied to it;\n"
            "                  mean +- standard deviation over folds. A pair is accepted as the\n"
            "                  same person when its distance is under the threshold. Folds come\n"
            "                  from the fold column, else the i-th of S same pairs goes to fold\n"
            "                  floor(i*N/S), likewise the different ones.\n"
            "  best threshold  the best on all pairs (what a model's default should be)\n"
            "  TAR at FAR      same pairs accepted at the threshold that accepts at most a\n"
            "                  fraction F (default 0.001) of different pairs\n"
            "  ROC AUC         area under the ROC curve\n"
            "Pictures (SVG): PREFIX.roc.svg, the ROC curves of all files (log FAR axis), and\n"
            "per file the distance histograms of same and different pairs with the threshold:\n"
            "SCORES.hist.svg (with --plots: PREFIX.hist.svg for one file, PREFIX.NAME.hist.svg\n"
            "for several, PREFIX.NAME-I.hist.svg for the I-th file of a name already used).\n"
            "PREFIX defaults to the first file's name without .csv.\n\n"
            "  --folds N        folds (2..%d, default 10)\n"
            "  --far F          the FAR for the TAR figure (default 0.001)\n"
            "  --plots PREFIX   where the pictures go\n"
            "  --no-plots       no pictures\n"
            "  --json           one JSON object per file on standard output\n",
            FR_EVAL_MAX_FOLDS);
}

typedef struct scores {
    const char *path;
    char *label; /* the file name without directory and .csv */
    fr_scored_pair *pairs;
    size_t count;
    fr_eval eval;
    double *far, *tar;
    size_t points;
} scores;

static int column(char **fields, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i], a) == 0 || (b && strcmp(fields[i], b) == 0))
            return (int)i;
    return -1;
}

static fr_status read_scores(scores *s)
{
    fr_csv csv;
    fr_status st = fr_csv_open(s->path, &csv);
    if (st)
        return st;
    char *fields[MAX_COLUMNS];
    size_t n = 0, capacity = 0;
    int r = fr_csv_next(&csv, fields, MAX_COLUMNS, &n, &st);
    int same = -1, distance = -1, fold = -1;
    if (r == 1) {
        same = column(fields, n, "same", "label");
        distance = column(fields, n, "distance", NULL);
        fold = column(fields, n, "fold", NULL);
        if (same < 0 || distance < 0)
            st = fr_fail(FR_E_FORMAT, "%s: the first line needs columns 'same' and 'distance' "
                         "(as facerec pairs writes)", s->path);
    } else if (r == 0) {
        st = fr_fail(FR_E_FORMAT, "%s: empty", s->path);
    }
    size_t columns = n;
    while (!st && (r = fr_csv_next(&csv, fields, MAX_COLUMNS, &n, &st)) == 1) {
        if (n != columns) {
            st = fr_fail(FR_E_FORMAT, "%s:%zu: %zu fields, the header has %zu", s->path,
                         csv.line, n, columns);
            break;
        }
        if (s->count == capacity) {
            capacity = capacity ? 2 * capacity : 4096;
            fr_scored_pair *grown = realloc(s->pairs, capacity * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory reading %s", s->path);
                break;
            }
            s->pairs = grown;
        }
        fr_scored_pair *p = &s->pairs[s->count];
        char *end;
        const char *label = fields[same];
        p->same = strcmp(label, "1") == 0 || strcmp(label, "true") == 0 ||
                  strcmp(label, "True") == 0;
        int is_different = strcmp(label, "0") == 0 || strcmp(label, "false") == 0 ||
                           strcmp(label, "False") == 0;
        errno = 0;
        p->distance = strtod(fields[distance], &end);
        int bad = (!p->same && !is_different) || *fields[distance] == 0 || *end != 0 || errno;
        p->fold = -1;
        if (fold >= 0 && *fields[fold]) {
            long f = strtol(fields[fold], &end, 10);
            bad |= *end != 0 || f < 0 || f >= FR_EVAL_MAX_FOLDS;
            p->fold = (int)f;
        }
        if (bad) {
            st = fr_fail(FR_E_FORMAT, "%s:%zu: expected same 1/0, a distance and a fold "
                         "number", s->path, csv.line);
            break;
        }
        s->count++;
    }
    if (st && !strstr(fr_error_message(), s->path))
        fr_error_prefix(s->path);
    fr_csv_close(&csv);
    return st;
}

static char *label_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *label = fr_strdup(base);
    size_t n = label ? strlen(label) : 0;
    if (n > 4 && strcmp(label + n - 4, ".csv") == 0)
        label[n - 4] = 0;
    return label;
}

/* "<path minus .csv><suffix>" */
static char *beside(const char *path, const char *suffix)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".csv") == 0)
        n -= 4;
    size_t size = n + strlen(suffix) + 1;
    char *name = fr_malloc(size, "a file name");
    if (name)
        snprintf(name, size, "%.*s%s", (int)n, path, suffix);
    return name;
}

static void report_text(const scores *s)
{
    const fr_eval *e = &s->eval;
    printf("%s: %zu pairs (%zu same, %zu different), %d folds\n", s->path, e->pairs, e->same,
           e->different, e->folds);
    printf("  accuracy          %.4f \xc2\xb1 %.4f  (threshold chosen on the other %d fold%s)\n",
           e->accuracy_mean, e->accuracy_std, e->folds - 1, e->folds == 2 ? "" : "s");
    printf("  best threshold    %.4f  (on all pairs: accuracy %.4f, TAR %.4f, FAR %.4f)\n",
           e->threshold, e->accuracy, e->tar_at_threshold, e->far_at_threshold);
    printf("  TAR at FAR %-6g %.4f  (threshold %.4f, FAR %.4f", e->far_target, e->tar_at_far,
           e->far_threshold, e->far_achieved);
    if (e->far_target * (double)e->different < 1)
        printf("; %zu different pairs cannot measure a FAR under %.2g", e->different,
               1.0 / (double)e->different);
    printf(")\n  ROC AUC           %.4f\n", e->auc);
}

/* PREFIX, then V as a JSON number, or null where it is not finite (no threshold reaches
 * the FAR asked for, say): JSON has no inf or nan. */
static void json_number(const char *prefix, double v)
{
    if (isfinite(v))
        printf("%s%.6f", prefix, v);
    else
        printf("%snull", prefix);
}

static void report_json(const scores *s)
{
    const fr_eval *e = &s->eval;
    fputs("{\"file\": ", stdout);
    fr_json_string(stdout, s->path);
    printf(", \"pairs\": %zu, \"same\": %zu, \"different\": %zu, \"folds\": %d, "
           "\"accuracy_mean\": %.6f, \"accuracy_std\": %.6f, \"fold_accuracy\": [",
           e->pairs, e->same, e->different, e->folds, e->accuracy_mean, e->accuracy_std);
    for (int f = 0; f < e->folds; f++)
        json_number(f ? ", " : "", e->fold_accuracy[f]);
    fputs("], \"fold_threshold\": [", stdout);
    for (int f = 0; f < e->folds; f++)
        json_number(f ? ", " : "", e->fold_threshold[f]);
    json_number("], \"threshold\": ", e->threshold);
    json_number(", \"accuracy\": ", e->accuracy);
    json_number(", \"tar_at_threshold\": ", e->tar_at_threshold);
    json_number(", \"far_at_threshold\": ", e->far_at_threshold);
    printf(", \"far_target\": %g", e->far_target);
    json_number(", \"tar_at_far\": ", e->tar_at_far);
    json_number(", \"far_threshold\": ", e->far_threshold);
    json_number(", \"far_achieved\": ", e->far_achieved);
    json_number(", \"auc\": ", e->auc);
    fputs("}\n", stdout);
}

static int parse_number(const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*text == 0 || *end != 0 || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

int fr_cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {{"folds", required_argument, NULL, 'f'},
                                            {"far", required_argument, NULL, 'F'},
                                            {"plots", required_argument, NULL, 'p'},
                                            {"no-plots", no_argument, NULL, 'n'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    double folds_value = 10, far = 1e-3;
    const char *prefix = NULL;
    int json = 0, plots = 1, folds_given = 0, c;
    fr_cli_options_begin(options);
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!parse_number(optarg, 2, FR_EVAL_MAX_FOLDS, &folds_value) ||
                folds_value != (int)folds_value) {
                fr_cli_error("eval", "--folds %s: give a whole number from 2 to %d", optarg,
                             FR_EVAL_MAX_FOLDS);
                return FR_EXIT_USAGE;
            }
            folds_given = 1;
            break;
        case 'F':
            if (!parse_number(optarg, 1e-9, 1, &far)) {
                fr_cli_error("eval", "--far %s: give a rate in (0, 1]", optarg);
                return FR_EXIT_USAGE;
            }
            break;
        case 'p': prefix = optarg; break;
        case 'n': plots = 0; break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return FR_EXIT_OK;
        default: fr_cli_bad_option(); return FR_EXIT_USAGE;
        }
    }
    int files = argc - optind;
    if (files < 1 || files > MAX_FILES) {
        fr_cli_error("eval", "give 1 to %d score files (see --help)", MAX_FILES);
        return FR_EXIT_USAGE;
    }
    scores s[MAX_FILES];
    memset(s, 0, sizeof s);
    fr_status st = FR_OK;
    for (int i = 0; i < files && !st; i++) {
        s[i].path = argv[optind + i];
        s[i].label = label_of(s[i].path);
        st = s[i].label ? read_scores(&s[i]) : FR_E_NOMEM;
        /* folds named in the file (LFW's pairs.txt) decide how many there are */
        int folds = (int)folds_value, largest = -1;
        for (size_t j = 0; !st && j < s[i].count; j++)
            if (s[i].pairs[j].fold > largest)
                largest = s[i].pairs[j].fold;
        if (!st && largest >= 0 && folds_given && largest + 1 != folds)
            st = fr_fail(FR_E_INVALID, "the file names %d folds; --folds %d differs",
                         largest + 1, folds);
        if (largest >= 0)
            folds = largest + 1;
        if (!st)
            st = fr_eval_run(s[i].pairs, s[i].count, folds, far, &s[i].eval);
        if (st && !strstr(fr_error_message(), s[i].path))
            fr_error_prefix(s[i].path);
        if (!st && plots)
            st = fr_eval_roc(s[i].pairs, s[i].count, &s[i].far, &s[i].tar, &s[i].points);
    }
    for (int i = 0; i < files && !st; i++) {
        if (json)
            report_json(&s[i]);
        else
            report_text(&s[i]);
    }
    fflush(stdout);
    char *roc = NULL;
    if (!st && plots) {
        fr_roc_curve curves[MAX_FILES];
        for (int i = 0; i < files; i++) {
            curves[i].label = s[i].label;
            curves[i].far = s[i].far;
            curves[i].tar = s[i].tar;
            curves[i].points = s[i].points;
            curves[i].eval = &s[i].eval;
        }
        roc = prefix ? beside(prefix, ".roc.svg") : beside(s[0].path, ".roc.svg");
        st = roc ? fr_plot_roc(roc, curves, (size_t)files) : FR_E_NOMEM;
        if (!st && !json)
            printf("plots: %s", roc);
        for (int i = 0; i < files && !st; i++) {
            char *hist = NULL;
            if (!prefix) {
                hist = beside(s[i].path, ".hist.svg");
            } else if (files == 1) {
                hist = beside(prefix, ".hist.svg");
            } else {
                /* files of the same name from different folders: numbered, not overwritten */
                int same = 0;
                for (int j = 0; j < i; j++)
                    same |= strcmp(s[j].label, s[i].label) == 0;
                size_t n = strlen(prefix) + strlen(s[i].label) + 32;
                hist = fr_malloc(n, "a file name");
                if (hist && same)
                    snprintf(hist, n, "%s.%s-%d.hist.svg", prefix, s[i].label, i + 1);
                else if (hist)
                    snprintf(hist, n, "%s.%s.hist.svg", prefix, s[i].label);
            }
            st = hist ? fr_plot_histograms(hist, s[i].label, s[i].pairs, s[i].count, &s[i].eval)
                      : FR_E_NOMEM;
            if (!st && !json)
                printf(", %s", hist);
            free(hist);
        }
        if (!json)
            printf("\n");
    }
    free(roc);
    for (int i = 0; i < files; i++) {
        free(s[i].label);
        free(s[i].pairs);
        free(s[i].far);
        free(s[i].tar);
    }
    return st ? fr_cli_fail("eval", st) : FR_EXIT_OK;
}
