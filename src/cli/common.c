/* common.c: the options, error reporting and model loading every command shares. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sha256.h"
#include "model/model_internal.h"
#include "store/store.h"

int fr_cli_quiet;

enum {
    OPT_MODEL = 1000,
    OPT_WEIGHTS,
    OPT_DEVICE,
    OPT_PRECISION,
    OPT_PREPROCESS,
    OPT_BATCH,
    OPT_THREADS,
    OPT_THRESHOLD,
    OPT_JSON,
    OPT_QUIET,
    OPT_ALIGN,
    OPT_ALL_FACES,
    OPT_FACE,
    OPT_FLIP,
    OPT_JITTER,
    OPT_PIPELINE,
    OPT_DECODE,
    OPT_DETECTOR,
    OPT_DETECTOR_SIZE,
    OPT_DETECTOR_THRESHOLD
};

const struct option fr_global_long_options[FR_GLOBAL_OPTION_COUNT] = {
    {"model", required_argument, NULL, OPT_MODEL},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"precision", required_argument, NULL, OPT_PRECISION},
    {"preprocess", required_argument, NULL, OPT_PREPROCESS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"align", required_argument, NULL, OPT_ALIGN},
    {"all-faces", no_argument, NULL, OPT_ALL_FACES},
    {"face", required_argument, NULL, OPT_FACE},
    {"flip", no_argument, NULL, OPT_FLIP},
    {"jitter", required_argument, NULL, OPT_JITTER},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"decode", required_argument, NULL, OPT_DECODE},
    {"detector", required_argument, NULL, OPT_DETECTOR},
    {"detector-size", required_argument, NULL, OPT_DETECTOR_SIZE},
    {"detector-threshold", required_argument, NULL, OPT_DETECTOR_THRESHOLD},
};

void fr_global_defaults(fr_global_options *g)
{
    memset(g, 0, sizeof *g);
    g->threshold = -1.0f;
    g->align = FR_ALIGN_AUTO;
}

static int parse_int(const char *text, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

int fr_global_option(fr_global_options *g, int code, const char *arg)
{
    switch (code) {
    case OPT_MODEL: {
        const fr_arch *arch = fr_arch_find(arg);
        if (!arch || arch->auxiliary) {
            char names[256];
            fprintf(stderr, "facerec: --model %s: choose %s\n", arg,
                    fr_arch_names(names, sizeof names, ", ", FR_ARCHS_RECOGNITION));
            return -1;
        }
        g->model = arg;
        return 1;
    }
    case OPT_WEIGHTS:
        g->weights = arg;
        return 1;
    case OPT_DEVICE:
        if (strcmp(arg, "auto") == 0)
            g->device = FR_DEVICE_AUTO;
        else if (strcmp(arg, "cpu") == 0)
            g->device = FR_DEVICE_CPU;
        else if (strcmp(arg, "cuda") == 0)
            g->device = FR_DEVICE_CUDA;
        else {
            fprintf(stderr, "facerec: --device %s: choose auto, cpu or cuda\n", arg);
            return -1;
        }
        return 1;
    case OPT_PRECISION:
        if (strcmp(arg, "fp32") == 0)
            g->precision = FR_PRECISION_FP32;
        else if (strcmp(arg, "tf32") == 0)
            g->precision = FR_PRECISION_TF32;
        else if (strcmp(arg, "fp16") == 0)
            g->precision = FR_PRECISION_FP16;
        else if (strcmp(arg, "bf16") == 0)
            g->precision = FR_PRECISION_BF16;
        else {
            fprintf(stderr, "facerec: --precision %s: choose fp32, tf32, fp16 (CUDA) or bf16 "
                            "(CPU)\n", arg);
            return -1;
        }
        return 1;
    case OPT_PREPROCESS:
        if (fr_preprocess_parse(arg, &g->preprocess) != FR_OK) {
            fprintf(stderr, "facerec: --preprocess: %s\n", fr_error_message());
            return -1;
        }
        return 1;
    case OPT_BATCH:
        if (!parse_int(arg, 1, 65536, &g->batch)) {
            fprintf(stderr, "facerec: --batch %s: give a number from 1 to 65536\n", arg);
            return -1;
        }
        return 1;
    case OPT_THREADS:
        if (!parse_int(arg, 1, 1024, &g->threads)) {
            fprintf(stderr, "facerec: --threads %s: give a number from 1 to 1024\n", arg);
            return -1;
        }
        return 1;
    case OPT_THRESHOLD: {
        char *end;
        double v = strtod(arg, &end);
        if (*arg == 0 || *end != 0 || !(v > 0) || v > 4) {
            fprintf(stderr, "facerec: --threshold %s: give a distance in (0, 4]\n", arg);
            return -1;
        }
        g->threshold = (float)v;
        return 1;
    }
    case OPT_JSON:
        g->json = 1;
        return 1;
    case OPT_QUIET:
        g->quiet = 1;
        fr_cli_quiet = 1;
        return 1;
    case OPT_ALIGN:
        if (fr_align_parse(arg, &g->align) != FR_OK) {
            fprintf(stderr, "facerec: --align: %s\n", fr_error_message());
            return -1;
        }
        return 1;
    case OPT_ALL_FACES:
        g->all_faces = 1;
        return 1;
    case OPT_DETECTOR:
        if (fr_detector_kind_parse(arg, &g->detector) != FR_OK) {
            fprintf(stderr, "facerec: --detector: %s\n", fr_error_message());
            return -1;
        }
        return 1;
    case OPT_DETECTOR_THRESHOLD: {
        char *end;
        double v = strtod(arg, &end);
        if (*arg == 0 || *end != 0 || !(v > 0 && v < 1)) {
            fprintf(stderr, "facerec: --detector-threshold %s: give a score in (0, 1)\n", arg);
            return -1;
        }
        g->detector_threshold = v;
        return 1;
    }
    case OPT_DETECTOR_SIZE:
        if (!parse_int(arg, 128, 608, &g->detector_size) || g->detector_size % 32) {
            fprintf(stderr, "facerec: --detector-size %s: give a multiple of 32 from 128 to 608\n",
                    arg);
            return -1;
        }
        return 1;
    case OPT_FACE:
        g->face_given = 1;
        g->face_index = 0;
        if (*arg >= '0' && *arg <= '9') {
            int index;
            if (!parse_int(arg, 0, 9999, &index)) {
                fprintf(stderr, "facerec: --face %s: give largest, central or a face's index "
                        "(0 for the first face detect lists)\n", arg);
                return -1;
            }
            g->face_index = index + 1;
            return 1;
        }
        if (fr_face_rule_parse(arg, &g->face) != FR_OK) {
            fprintf(stderr, "facerec: --face: %s, or a face's index\n", fr_error_message());
            return -1;
        }
        return 1;
    case OPT_FLIP:
        g->flip = 1;
        return 1;
    case OPT_JITTER:
        if (!parse_int(arg, 1, FR_MAX_JITTER, &g->jitter)) {
            fprintf(stderr, "facerec: --jitter %s: give a number of copies from 1 to %d\n", arg,
                    FR_MAX_JITTER);
            return -1;
        }
        return 1;
    case OPT_PIPELINE:
        if (fr_pipeline_parse(arg, &g->pipeline) != FR_OK) {
            fprintf(stderr, "facerec: --pipeline: %s\n", fr_error_message());
            return -1;
        }
        return 1;
    case OPT_DECODE:
        if (strcmp(arg, "cpu") != 0 && strcmp(arg, "nvjpeg") != 0) {
            fprintf(stderr, "facerec: --decode %s: expected cpu or nvjpeg\n", arg);
            return -1;
        }
        g->decode = arg;
        return 1;
    }
    return 0;
}

static int cli_argc;
static char **cli_argv;
static const struct option *cli_options; /* the table being parsed (fr_options_merge) */

void fr_cli_set_args(int argc, char **argv)
{
    cli_argc = argc;
    cli_argv = argv;
}

/* Levenshtein distance, capped at 255 (option names are short). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), row[64];
    if (n > 62 || m > 62)
        return 255;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = up;
        }
    }
    return row[m];
}

const char *fr_cli_nearest(const char *word, const char *const *names, size_t count)
{
    const char *best = NULL;
    size_t best_distance = 0, length = strlen(word);
    for (size_t i = 0; i < count; i++) {
        size_t d = strncmp(names[i], word, length) == 0 && length >= 2 ? 0
                   : edit_distance(word, names[i]);
        if (!best || d < best_distance) {
            best = names[i];
            best_distance = d;
        }
    }
    /* a typo: a letter or two (a third of a long name) */
    size_t allowed = length >= 9 ? 3 : length >= 4 ? 2 : 1;
    return best && best_distance <= allowed ? best : NULL;
}

/* The long option whose short code or value is VAL, or NULL. */
static const struct option *option_of(int val)
{
    for (const struct option *o = cli_options; o && o->name; o++)
        if (o->val == val)
            return o;
    return NULL;
}

void fr_cli_options_begin(const struct option *options)
{
    cli_options = options;
    opterr = 0;
}

/* One line for what getopt_long stopped at (opterr is off): the element at optind - 1. */
void fr_cli_bad_option(void)
{
    const char *command = cli_argv ? cli_argv[0] : "facerec";
    const char *given = cli_argv && optind >= 1 && optind <= cli_argc ? cli_argv[optind - 1] : "";
    if (strncmp(given, "--", 2) == 0) {
        char name[128];
        snprintf(name, sizeof name, "%s", given + 2);
        name[strcspn(name, "=")] = 0;
        const struct option *o = optopt ? option_of(optopt) : NULL;
        if (o && o->has_arg == required_argument) {
            fr_cli_error(command, "--%s needs a value (facerec %s --help)", o->name, command);
            return;
        }
        if (o) {
            fr_cli_error(command, "--%s takes no value (facerec %s --help)", o->name, command);
            return;
        }
        const char *names[256];
        size_t n = 0;
        for (const struct option *p = cli_options; p && p->name && n < 256; p++)
            names[n++] = p->name;
        const char *near = fr_cli_nearest(name, names, n);
        if (near)
            fr_cli_error(command, "unknown option --%s; did you mean --%s?", name, near);
        else
            fr_cli_error(command, "unknown option --%s (facerec %s --help lists the options)",
                         name, command);
        return;
    }
    const struct option *o = option_of(optopt);
    if (o && o->has_arg == required_argument)
        fr_cli_error(command, "-%c (--%s) needs a value", optopt, o->name);
    else
        fr_cli_error(command, "unknown option -%c (facerec %s --help lists the options)",
                     optopt ? optopt : '?', command);
}

static void global_help_text(FILE *out);

/* A global option a command does not take (fr_options_refuse) parses to this plus its index
 * in fr_global_long_options. */
#define OPT_REFUSED 5000

/* Is name (an option name) a word of the space-separated list? */
static int listed(const char *list, const char *name, size_t length)
{
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, " ");
        if (n == length && strncmp(p, name, n) == 0)
            return 1;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

void fr_options_refuse(struct option *options, const char *names)
{
    for (struct option *o = options; o && o->name; o++)
        for (size_t i = 0; i < FR_GLOBAL_OPTION_COUNT; i++)
            if (o->val == fr_global_long_options[i].val &&
                listed(names, o->name, strlen(o->name)))
                o->val = OPT_REFUSED + (int)i;
}

int fr_cli_common_option(fr_global_options *g, int code, const char *arg, void (*help)(FILE *))
{
    (void)help;
    if (code >= OPT_REFUSED && code < OPT_REFUSED + FR_GLOBAL_OPTION_COUNT) {
        const char *command = cli_argv ? cli_argv[0] : "facerec";
        fr_cli_error(command, "--%s: %s does not take it (facerec %s --help lists its options)",
                     fr_global_long_options[code - OPT_REFUSED].name, command, command);
        return 0;
    }
    int r = fr_global_option(g, code, arg);
    if (r == 0)
        fr_cli_bad_option();
    return r == 1;
}

void fr_global_help(FILE *out)
{
    fr_global_help_except(out, "");
}

/* The global options' help, without the entries of the options in except: an entry is a line
 * "  --NAME ..." and the more-indented lines after it. */
void fr_global_help_except(FILE *out, const char *except)
{
    char *text = NULL;
    size_t size = 0;
    FILE *all = open_memstream(&text, &size);
    if (!all) {
        global_help_text(out);
        return;
    }
    global_help_text(all);
    fclose(all);
    int skipping = 0;
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "  --", 4) == 0) {
            const char *name = line + 4;
            skipping = listed(except, name, strcspn(name, " \n"));
        } else if (strncmp(line, "    ", 4) != 0) {
            skipping = 0; /* a heading */
        }
        if (!skipping)
            fwrite(line, 1, n, out);
        line += n;
    }
    free(text);
}

static void global_help_text(FILE *out)
{
    fprintf(out,
            "model options:\n"
            "  --model dlib|irv1|arcface|faceres|pixels\n"
            "                            network (default: the one the --db database records,\n"
            "                            else dlib; arcface: an imported ONNX model,\n"
            "                            convert --from onnx; faceres: human's HSE FaceRes,\n"
            "                            weights/fetch.sh --faceres; pixels: raw-pixel\n"
            "                            baseline)\n"
            "  --weights FILE            weights file (default: <weights dir>/<model>.frw)\n"
            "  --preprocess MODE         seed|facenet (irv1), faceapi (dlib), arcface|raw\n"
            "                            (arcface), raw (faceres); default: the model's\n"
            "  --device auto|cpu|cuda    where to run (default auto: CUDA when a GPU is present)\n"
            "  --precision fp32|tf32|fp16|bf16\n"
            "                            arithmetic: on CUDA fp32, tf32 or fp16 (default fp16);\n"
            "                            on the CPU fp32 (default) or bf16 (CPUs with\n"
            "                            AVX512-BF16 or AMX; refused elsewhere)\n"
            "  --batch N                 images per batch (default 64 on CPU, 256 on CUDA)\n"
            "  --threads N               CPU threads (default: all cores)\n"
            "  --threshold D             distance threshold (default: the one the database\n"
            "                            stores, db set, else the model's)\n"
            "  --align none|auto|mtcnn|landmarks68\n"
            "                            find and align faces first (default auto: every image\n"
            "                            not already of the model's input size, e.g. 150x150\n"
            "                            dlib chips; dlib as landmarks68, irv1 and arcface as\n"
            "                            mtcnn); mtcnn: MTCNN's box and 5 landmarks (arcface:\n"
            "                            InsightFace's 5-point chip); landmarks68: chips from\n"
            "                            face-api's 68 landmarks (dlib's as dlib makes them;\n"
            "                            arcface's from the same five points of the 68);\n"
            "                            an image without a face is an error\n"
            );
    fprintf(out,
            "  --detector auto|mtcnn|tiny|tiny+mtcnn\n"
            "                            the face detector (default auto: the model's, tiny+mtcnn\n"
            "                            at 192 for dlib's chips from the 68 landmarks, MTCNN\n"
            "                            otherwise; docs/alignment.md): MTCNN (boxes and 5\n"
            "                            landmarks) or face-api's TinyFaceDetector (boxes only:\n"
            "                            chips from its box need the 68 landmarks, --align\n"
            "                            landmarks68 or auto for dlib); tiny+mtcnn: tiny's boxes\n"
            "                            refined by MTCNN's O-Net (5 landmarks), MTCNN for the\n"
            "                            images left without a face and for large photos\n"
            "  --detector-size N         the tiny detector's input side, a multiple of 32 from\n"
            "                            128 to 608 (default: auto's 192, else 416, face-api's)\n"
            "  --detector-threshold P    the tiny detector's score a face must pass, in (0, 1)\n"
            "                            (default 0.5, face-api's)\n"
            "  --all-faces               one result per face found (default: the main face)\n"
            "  --face largest|central|INDEX\n"
            "                            the main face: the largest (default), FaceNet's rule\n"
            "                            (the largest unless another is much nearer the middle:\n"
            "                            FaceNet's LFW protocol), or face INDEX as `facerec\n"
            "                            detect` numbers them (0: the best score); an image with\n"
            "                            several faces is named on stderr with the one used\n"
            "  --flip                    also run each face mirrored left-right and average the\n"
            "                            two embeddings (each L2-normalized, summed, normalized;\n"
            "                            with embed --raw: the mean of the two raw outputs); a\n"
            "                            second network pass per face; a batch of N holds N/2\n"
            "                            faces and their mirrors (docs/alignment.md)\n"
            "  --jitter N                each face's embedding is the mean of N randomly turned\n"
            "                            (+-3 deg), scaled, moved (+-2%%) and mirrored copies,\n"
            "                            dlib's num_jitters; deterministic; N network passes\n"
            "                            per face (a batch holds at least N); not with --flip\n"
            "  --pipeline auto|threads|batched\n"
            "                            with alignment, where faces are found and cut: threads\n"
            "                            (each decode thread detects and cuts its own images on\n"
            "                            the CPU), batched (decode threads only decode; each\n"
            "                            batch is detected, cut and embedded as a whole on the\n"
            "                            network's device, nothing but faces and embeddings\n"
            "                            back from a GPU); default auto: batched with a GPU,\n"
            "                            threads on the CPU; the same results either way\n"
            "  --decode cpu|nvjpeg       JPEG decoding: libjpeg-turbo on the decode threads\n"
            "                            (cpu, the default), or nvJPEG on the GPU, batched\n"
            "                            (with --pipeline batched the images stay there for\n"
            "                            detection); default: $FACEREC_DECODE, else cpu\n"
            "  --json                    machine-readable output\n"
            "  --quiet                   no progress or summary on stderr\n");
}

struct option *fr_options_merge(const struct option *own, size_t own_count)
{
    size_t n = own_count + FR_GLOBAL_OPTION_COUNT + 1;
    struct option *all = calloc(n, sizeof *all);
    if (!all)
        return NULL;
    memcpy(all, own, own_count * sizeof *own);
    memcpy(all + own_count, fr_global_long_options, sizeof fr_global_long_options);
    fr_cli_options_begin(all); /* fr_cli_common_option says it in one line, with the nearest
                                  option */
    return all; /* last entry stays zeroed */
}

void fr_cli_write_escaped(FILE *out, const char *text, int controls)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (controls && *p == '\r')
            fputs("\\r", out);
        else if (controls && (*p < 0x20 || *p == 0x7f) && *p != '\t')
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

void fr_cli_error(const char *command, const char *format, ...)
{
    /* formatted first, then escaped: a file name with a newline or a terminal escape in it
     * must not split the line or reach the terminal as a control */
    char line[2048];
    va_list args;
    va_start(args, format);
    if (vsnprintf(line, sizeof line, format, args) < 0)
        line[0] = 0;
    va_end(args);
    fprintf(stderr, "facerec %s: ", command);
    fr_cli_write_escaped(stderr, line, 1);
    fputc('\n', stderr);
}

int fr_cli_fail(const char *command, fr_status status)
{
    fr_cli_error(command, "%s", fr_error_message());
    return status == FR_E_INVALID ? FR_EXIT_USAGE : FR_EXIT_FATAL;
}

fr_status fr_cli_weights_file(const fr_global_options *g, char *buffer, size_t size,
                              const char **file)
{
    const char *model = g->model ? g->model : g->weights ? NULL : FR_ARCH_DEFAULT;
    const fr_arch *named = model ? fr_arch_find(model) : NULL;
    *file = NULL;
    if (named && !named->build)
        return FR_OK; /* the pixels baseline */
    if (g->weights) {
        *file = g->weights;
        return FR_OK;
    }
    fr_status st = fr_model_default_path(model, buffer, size);
    if (!st)
        *file = buffer;
    return st;
}

/* The model fr_cli_model_of_database loaded to see that a weights file holds the database's
 * model, kept for the command's own fr_cli_load_model of that file: loaded once, not twice. */
static struct {
    fr_model *model;            /* NULL: none kept */
    char arch[64];
    char path[4096];            /* "" for the pixels baseline (no file) */
    fr_preprocess preprocess;   /* the one it was set to (the database's) */
    fr_preprocess own;          /* the model's own */
} kept;

void fr_cli_release_checked_model(void)
{
    fr_model_free(kept.model);
    kept.model = NULL;
}

fr_status fr_cli_load_model(const fr_global_options *g, fr_model **out)
{
    if (kept.model) {
        /* the same architecture, file and preprocessing as the load would give: that model */
        fr_preprocess want = g->preprocess != FR_PREPROCESS_DEFAULT ? g->preprocess : kept.own;
        int same = g->model && strcmp(g->model, kept.arch) == 0 &&
                   strcmp(g->weights ? g->weights : "", kept.path) == 0 &&
                   want == kept.preprocess;
        if (same) {
            *out = kept.model;
            kept.model = NULL;
            return FR_OK;
        }
        fr_cli_release_checked_model(); /* a command runs one model */
    }
    fr_status st = fr_model_open(g->model, g->weights, out);
    if (!st && g->preprocess != FR_PREPROCESS_DEFAULT) {
        st = fr_model_set_preprocess(*out, g->preprocess);
        if (st) {
            fr_model_free(*out);
            *out = NULL;
        }
    }
    return st;
}

/* Does the file at path (NULL: the pixels baseline, which has none) hold the model a
 * database records as key (architecture, the preprocessing applied, embedding size and
 * provenance digest)? own: the model's own preprocessing. */
static int weights_match(const char *arch, const char *path, fr_preprocess preprocess,
                         const char *key, fr_preprocess *own)
{
    fr_model *model = NULL;
    char saved[1024], mine[512];
    fr_error_save(saved, sizeof saved);
    int same = fr_model_open(arch, path, &model) == FR_OK;
    if (same) {
        *own = fr_model_get_info(model)->preprocess;
        same = preprocess == *own || fr_model_set_preprocess(model, preprocess) == FR_OK;
    }
    if (same) {
        fr_store_model_key(fr_model_get_info(model), mine, sizeof mine);
        same = strcmp(mine, key) == 0 && strlen(arch) < sizeof kept.arch &&
               (!path || strlen(path) < sizeof kept.path);
    }
    if (same) { /* kept for the command's fr_cli_load_model */
        fr_cli_release_checked_model();
        kept.model = model;
        snprintf(kept.arch, sizeof kept.arch, "%s", arch);
        snprintf(kept.path, sizeof kept.path, "%s", path ? path : "");
        kept.preprocess = preprocess;
        kept.own = *own;
    } else {
        fr_model_free(model);
    }
    fr_error_restore(saved);
    return same;
}

int fr_cli_model_of_database(const char *command, fr_global_options *g, const char *db)
{
    if (g->model || g->weights || !db)
        return 0;
    fr_store *store = NULL;
    char saved[1024];
    fr_error_save(saved, sizeof saved);
    if (fr_store_open(db, FR_STORE_READ, &store) != FR_OK) {
        fr_error_restore(saved); /* a missing or bad file: the command's own open says why */
        return 0;
    }
    const char *arch = fr_store_arch(store), *key = fr_store_model(store);
    if (!key[0] || !arch[0]) {
        fr_store_close(store);
        return 0; /* nobody enrolled yet: the default model will be recorded */
    }
    const fr_arch *named = fr_arch_find(arch);
    fr_preprocess preprocess = FR_PREPROCESS_DEFAULT, own = FR_PREPROCESS_DEFAULT;
    if (!named || fr_preprocess_parse(fr_store_preprocess(store), &preprocess) != FR_OK) {
        fr_error_restore(saved);
        fr_cli_error(command, "%s holds embeddings of %s, a model this facerec does not know",
                     db, fr_store_model_text(store));
        fr_store_close(store);
        return FR_EXIT_FATAL;
    }
    char *path = named->build ? g->database_weights : NULL;
    /* the weights file recorded with the model: used as it is when its digest is the one
     * recorded (the very file: nothing to load to check it) */
    const char *recorded = "", *recorded_sha = "";
    char why[4096 + 200] = "";
    fr_status st = path ? fr_store_weights(store, &recorded, &recorded_sha) : FR_OK;
    if (st) {
        fr_cli_fail(command, st);
        fr_store_close(store);
        return FR_EXIT_FATAL;
    }
    if (path && recorded[0]) {
        char now[65];
        struct stat info;
        if (stat(recorded, &info) != 0)
            snprintf(why, sizeof why, "its recorded weights file %s is missing", recorded);
        else if (fr_sha256_file(recorded, now) != FR_OK)
            snprintf(why, sizeof why, "its recorded weights file %s cannot be read (%s)",
                     recorded, fr_error_message());
        else if (strcmp(now, recorded_sha) != 0)
            snprintf(why, sizeof why, "its recorded weights file %s has changed (sha256 %.12s..., "
                     "recorded %.12s...)", recorded, now, recorded_sha);
        if (!why[0]) {
            fr_error_restore(saved);
            snprintf(g->database_model, sizeof g->database_model, "%s", arch);
            snprintf(path, sizeof g->database_weights, "%s", recorded);
            g->model = g->database_model;
            g->weights = path;
            if (g->preprocess == FR_PREPROCESS_DEFAULT)
                g->preprocess = preprocess; /* the model's own, or the one enrolled with */
            fr_store_close(store);
            return 0;
        }
    }
    /* else the model's file in the weights directory, when it holds the recorded model */
    int found = !path || fr_model_default_path(arch, path, sizeof g->database_weights) == FR_OK;
    if (!found && path)
        path[0] = 0;
    if (!found || !weights_match(arch, path, preprocess, key, &own)) {
        if (why[0])
            fr_cli_error(command, "%s holds embeddings of %s: %s, and %s does not hold that model "
                         "(pass its file: --model %s --weights FILE)", db,
                         fr_store_model_text(store), why,
                         path && path[0] ? path : "the weights directory", arch);
        else
            fr_cli_error(command, "%s holds embeddings of %s, whose weights are not %s (pass its "
                         "file: --model %s --weights FILE)", db, fr_store_model_text(store),
                         path && path[0] ? path : "in the weights directory", arch);
        fr_store_close(store);
        return FR_EXIT_FATAL;
    }
    if (why[0] && !g->quiet)
        fr_cli_error(command, "%s: %s; using %s, which holds the same model", db, why, path);
    snprintf(g->database_model, sizeof g->database_model, "%s", arch);
    g->model = g->database_model;
    g->weights = path;
    if (g->preprocess == FR_PREPROCESS_DEFAULT && preprocess != own)
        g->preprocess = preprocess;
    fr_store_close(store);
    return 0;
}

fr_status fr_cli_check_npy_set(const char *npy, int with_paths)
{
    char *record = fr_side_path(npy, ".sha256"), *paths = fr_side_path(npy, ".paths");
    const char *members[2] = {npy, paths};
    int checked;
    struct stat st;
    size_t count = with_paths && paths && stat(paths, &st) == 0 ? 2 : 1;
    fr_status status = record && paths ? fr_output_set_check(record, members, count, &checked)
                                       : FR_E_NOMEM;
    free(record);
    free(paths);
    return status;
}
