/* cmd_embed.c: `facerec embed IMG|DIR... -o emb.npy`: embeddings and the list of their paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/guard.h"
#include "cli/matching.h"
#include "cli/run.h"
#include "cli/signals.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"
#include "match/table.h"
#include "store/store.h"

#define PATHS_SUFFIX ".paths"
#define FACES_SUFFIX ".faces.csv"
#define INPUTS_SUFFIX ".inputs.csv"
#define MODEL_SUFFIX ".model"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec embed [options] IMG|DIR... -o OUT.npy\n\n"
            "Writes one embedding per readable image to OUT.npy (float32, N x 128, L2-normalized)\n"
            "and the image paths, one per line in row order, to OUT.npy's name with .paths in\n"
            "place of .npy ('\\' and newlines in names written as \\\\ and \\n). Directories are\n"
            "read recursively (.jpg .jpeg .png, sorted; other files are counted on stderr).\n"
            "Faces are found and aligned first (see --align); an image without a face, like an\n"
            "unreadable one, is named on stderr and the rest go on; the exit code is then 3.\n"
            "With --all-faces every face is a row, and OUT.npy's name with .faces.csv in place\n"
            "of .npy lists them: row,path,face,score, box x1,y1,x2,y2, landmarks (as `facerec\n"
            "detect` writes them). OUT.inputs.csv has a row for every image read, in order,\n"
            "embedded or not: input,path,status (ok, no_face, unreadable),faces (found),\n"
            "rows (its rows in OUT.npy),first_row,error; OUT.model names the model (its key,\n"
            "as identity databases record it: identify refuses a database of another model).\n"
            "The files appear together when the run completes, with OUT.sha256 listing their\n"
            "digests (`sha256sum -c OUT.sha256` checks that they belong together).\n\n"
            "  -o, --output FILE   the .npy to write (required; a file, not standard output)\n"
            "  --raw               the network's output without L2 normalization\n"
            "  --full-decode       never decode large JPEGs at reduced (DCT) scale\n"
            "  --force             write the outputs even where one is an input\n");
    fr_run_help(out);
    fr_global_help_except(out, "threshold json");
}

/* What became of one input image: its row of OUT.inputs.csv. */
typedef struct embed_input {
    size_t index;      /* in the run's input list */
    const char *path;
    unsigned char status; /* fr_cli_status */
    int faces;
    size_t rows, first_row;
    char *error;
} embed_input;

typedef struct embed_sink {
    embed_input *inputs;
    size_t input_count, input_capacity;
    float *rows;
    size_t count, capacity, dim;
    char **paths;
    int all_faces;
    size_t images;     /* images embedded (rows: one per face with all_faces) */
    int *face;         /* with all_faces: per row, the face index in its image */
    fr_face *boxes;    /* with all_faces: per row */
    size_t failures;
    int quiet;
} embed_sink;

/* The input r belongs to, a new one when r is the first result of its image. */
static embed_input *input_of(embed_sink *s, const fr_embed_result *r)
{
    if (s->input_count && s->inputs[s->input_count - 1].index == r->index)
        return &s->inputs[s->input_count - 1];
    if (s->input_count == s->input_capacity) {
        size_t cap = s->input_capacity ? 2 * s->input_capacity : 1024;
        embed_input *grown = realloc(s->inputs, cap * sizeof *grown);
        if (!grown) {
            fr_fail(FR_E_NOMEM, "out of memory holding %zu inputs", s->input_count);
            return NULL;
        }
        s->inputs = grown;
        s->input_capacity = cap;
    }
    embed_input *in = &s->inputs[s->input_count++];
    memset(in, 0, sizeof *in);
    in->index = r->index;
    in->path = r->path;
    in->faces = r->face_count;
    in->first_row = s->count;
    return in;
}

static int collect(void *ctx, const fr_embed_result *r)
{
    embed_sink *s = ctx;
    embed_input *in = input_of(s, r);
    if (!in)
        return 1;
    if (r->status != FR_OK) {
        s->failures++;
        fr_cli_error("embed", "%s", r->error);
        in->status = r->status == FR_E_NO_FACE ? FR_CLI_NO_FACE : FR_CLI_UNREADABLE;
        if (!in->error && r->error && !(in->error = fr_strdup(r->error)))
            return 1;
        return 0;
    }
    in->status = FR_CLI_OK;
    in->rows++;
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? 2 * s->capacity : 1024;
        float *rows = realloc(s->rows, cap * s->dim * sizeof *rows);
        char **paths = rows ? realloc(s->paths, cap * sizeof *paths) : NULL;
        if (rows)
            s->rows = rows;
        if (paths)
            s->paths = paths;
        int *face = paths && s->all_faces ? realloc(s->face, cap * sizeof *face) : s->face;
        if (face)
            s->face = face;
        fr_face *boxes = face && s->all_faces ? realloc(s->boxes, cap * sizeof *boxes) : s->boxes;
        if (boxes)
            s->boxes = boxes;
        if (!rows || !paths || (s->all_faces && (!face || !boxes))) {
            fr_fail(FR_E_NOMEM, "out of memory holding %zu embeddings", s->count);
            return 1;
        }
        s->capacity = cap;
    }
    memcpy(s->rows + s->count * s->dim, r->embedding, s->dim * sizeof(float));
    if (s->count == 0 || s->paths[s->count - 1] != r->path)
        s->images++;
    if (s->all_faces) {
        s->face[s->count] = r->face;
        if (r->box)
            s->boxes[s->count] = *r->box;
    }
    s->paths[s->count++] = (char *)r->path;
    return 0;
}

/* OUT.npy, OUT.paths and with --all-faces OUT.faces.csv: opened before any image is read
 * (a folder that is missing or read-only fails at once), committed as one set with OUT.sha256
 * (core/file.h). */
enum { OUT_NPY, OUT_PATHS, OUT_INPUTS, OUT_MODEL, OUT_FACES, OUT_COUNT };
typedef struct embed_outputs {
    fr_output files[OUT_COUNT];
    size_t count;
    char *record;
} embed_outputs;

static void outputs_abort(embed_outputs *o)
{
    for (size_t i = 0; i < o->count; i++)
        fr_output_abort(&o->files[i]);
    free(o->record);
    o->record = NULL;
    o->count = 0;
}

/* Checks each name against the inputs (guard.h), then opens it: an exit code. */
static int outputs_open(embed_outputs *o, const char *output, int all_faces,
                        const fr_cli_guard *guard)
{
    memset(o, 0, sizeof *o);
    static const char *const suffixes[OUT_COUNT] = {NULL, PATHS_SUFFIX, INPUTS_SUFFIX,
                                                    MODEL_SUFFIX, FACES_SUFFIX};
    size_t want = all_faces ? OUT_COUNT : OUT_FACES;
    o->record = fr_side_path(output, ".sha256");
    int code = o->record ? fr_cli_guard_output(guard, "-o", o->record)
                         : fr_cli_fail("embed", FR_E_NOMEM);
    for (size_t i = 0; i < want && !code; i++) {
        char *name = i == OUT_NPY ? fr_strdup(output) : fr_side_path(output, suffixes[i]);
        fr_status st = name ? FR_OK : FR_E_NOMEM;
        code = name ? fr_cli_guard_output(guard, "-o", name) : FR_EXIT_OK;
        if (!code && !st)
            st = fr_output_open(&o->files[i], name, FR_OUTPUT_REGULAR);
        free(name);
        if (st == FR_E_INVALID)
            st = fr_fail(FR_E_INVALID, "%s (embed writes OUT.npy, and OUT.paths, OUT.inputs.csv, "
                         "OUT.model and OUT.sha256 beside it)", fr_error_message());
        if (st)
            code = fr_cli_fail("embed", st);
        else if (!code)
            o->count++;
    }
    if (code)
        outputs_abort(o);
    return code;
}

/* With --all-faces: which face of which image each row is. */
static void write_faces(FILE *f, const embed_sink *s)
{
    fprintf(f, "row,path,face,score,x1,y1,x2,y2,left_eye_x,left_eye_y,right_eye_x,"
               "right_eye_y,nose_x,nose_y,mouth_left_x,mouth_left_y,mouth_right_x,"
               "mouth_right_y\n");
    for (size_t i = 0; i < s->count; i++) {
        fprintf(f, "%zu,", i);
        fr_csv_field(f, s->paths[i]);
        fprintf(f, ",%d", s->face[i]);
        if (s->face[i] < 0) {
            fputs(",,,,,,,,,,,,,,,\n", f); /* a chip embedded as it is: no detection */
            continue;
        }
        const fr_face *face = &s->boxes[i];
        fprintf(f, ",%.6f,%.2f,%.2f,%.2f,%.2f", face->score, face->box[0], face->box[1],
                face->box[2], face->box[3]);
        for (int k = 0; k < 5; k++)
            if (isnan(face->landmarks[k][0])) /* --detector tiny finds none: empty fields */
                fputs(",,", f);
            else
                fprintf(f, ",%.2f,%.2f", face->landmarks[k][0], face->landmarks[k][1]);
        fputc('\n', f);
    }
}

/* A row for every image read, embedded or not: a table that joins back to the inputs. */
static void write_inputs(FILE *f, const embed_sink *s)
{
    fputs("input,path,status,faces,rows,first_row,error\n", f);
    for (size_t i = 0; i < s->input_count; i++) {
        const embed_input *in = &s->inputs[i];
        fprintf(f, "%zu,", in->index);
        fr_csv_field(f, in->path);
        fprintf(f, ",%s,%d,%zu,", fr_cli_status_name((fr_cli_status)in->status), in->faces,
                in->rows);
        if (in->rows)
            fprintf(f, "%zu", in->first_row);
        fputc(',', f);
        if (in->error)
            fr_csv_field(f, in->error);
        fputc('\n', f);
    }
}

/* Fills the outputs and commits them as one set (a commit section: signals.h). */
static fr_status outputs_write(embed_outputs *o, const embed_sink *s, const char *model_key)
{
    size_t shape[2] = {s->count, s->dim};
    fr_status st = fr_npy_write(o->files[OUT_NPY].file, o->files[OUT_NPY].path, FR_NPY_F32, 2,
                                shape, s->rows);
    for (size_t i = 0; i < s->count && !st; i++)
        fr_cli_write_path_line(o->files[OUT_PATHS].file, s->paths[i]);
    if (!st) {
        write_inputs(o->files[OUT_INPUTS].file, s);
        fprintf(o->files[OUT_MODEL].file, "%s\n", model_key);
    }
    if (!st && s->all_faces)
        write_faces(o->files[OUT_FACES].file, s);
    if (!st) {
        fr_cli_commit_begin();
        st = fr_output_commit_set(o->files, o->count, o->record);
        fr_cli_commit_end(st == FR_OK);
    }
    if (st)
        outputs_abort(o);
    free(o->record);
    o->record = NULL;
    return st;
}

int fr_cmd_embed(int argc, char **argv)
{
    static const struct option own[] = {
        {"output", required_argument, NULL, 'o'}, {"raw", no_argument, NULL, 'r'},
        {"full-decode", no_argument, NULL, 'F'}, {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_options_refuse(options, "threshold");
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options run;
    fr_run_defaults(&run);
    const char *output = NULL;
    int c, force = 0;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'f': force = 1; break;
        case 'r': run.raw = 1; break;
        case 'F': run.full_decode = 1; break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_run_option(&g, &run, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (g.json) { /* accepted and ignored before */
        fr_cli_error("embed", "--json: embed writes a .npy and its .paths (JSON rows: identify "
                     "or detect)");
        return FR_EXIT_USAGE;
    }
    if (!output) {
        fr_cli_error("embed", "give images or directories and -o OUT.npy (see --help)");
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_inputs("embed", &run, optind < argc))
        return FR_EXIT_USAGE;
    if (strcmp(output, "-") == 0) { /* it wrote the rows to stdout and "-.paths" beside */
        fr_cli_error("embed", "-o -: the embeddings need a file name, with their paths in "
                     "NAME.paths beside it");
        return FR_EXIT_USAGE;
    }

    fr_run *session;
    int code = fr_run_open("embed", &g, &run, argv + optind, (size_t)(argc - optind), &session);
    if (code != FR_EXIT_OK)
        return code;
    /* before the first image is read: names that would replace an input, missing or
     * read-only folders */
    char *list[1] = {(char *)run.list};
    fr_cli_guard guard = {"embed", run.list ? list : argv + optind,
                          run.list ? 1 : (size_t)(argc - optind), fr_run_paths(session),
                          fr_run_count(session), NULL, 0, force};
    embed_outputs outputs;
    code = outputs_open(&outputs, output, g.all_faces, &guard);
    if (code) {
        fr_run_close(session);
        return code;
    }
    embed_sink sink = {0};
    sink.dim = (size_t)fr_model_get_info(fr_run_model(session))->embedding_size;
    sink.quiet = g.quiet;
    sink.all_faces = g.all_faces;
    fr_status st = fr_run_embed(session, collect, &sink);
    /* a shard writes its part however small: the merge needs every part */
    fr_manifest *manifest = fr_run_manifest(session);
    if (!st && sink.count == 0 && !manifest)
        st = fr_fail(FR_E_IO, "no image could be read; %s not written", output);
    char model_key[512];
    fr_store_model_key(fr_model_get_info(fr_run_model(session)), model_key, sizeof model_key);
    if (!st)
        st = outputs_write(&outputs, &sink, model_key);
    else
        outputs_abort(&outputs);
    size_t failures = sink.failures + fr_run_path_errors(session);
    if (!st && manifest) {
        /* every file of the set, so that `merge` writes the whole set one run writes */
        static const char *const roles[] = {"main", PATHS_SUFFIX, INPUTS_SUFFIX, MODEL_SUFFIX,
                                            FACES_SUFFIX};
        st = fr_run_manifest_commit(manifest, output, roles, g.all_faces ? 5 : 4,
                                    sink.failures);
    }
    if (!st)
        fr_run_summary(session, sink.images, failures, output);
    code = st ? fr_cli_fail("embed", st) : failures ? FR_EXIT_PARTIAL : FR_EXIT_OK;
    for (size_t i = 0; i < sink.input_count; i++)
        free(sink.inputs[i].error);
    free(sink.inputs);
    free(sink.rows);
    free(sink.paths);
    free(sink.face);
    free(sink.boxes);
    fr_run_close(session);
    return code;
}
