/* cmd_embed.c: `facerec embed IMG|DIR... -o emb.npy`: embeddings and the list of their paths. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"
#include "match/table.h"

#define PATHS_SUFFIX ".paths"
#define FACES_SUFFIX ".faces.csv"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec embed [options] IMG|DIR... -o OUT.npy\n\n"
            "Writes one embedding per readable image to OUT.npy (float32, N x 128, L2-normalized)\n"
            "and the image paths, one per line in row order, to OUT.npy's name with .paths in\n"
            "place of .npy ('\\' and newlines in names written as \\\\ and \\n). Directories are\n"
            "read recursively (.jpg .jpeg .png, sorted). Faces are found and aligned first (see\n"
            "--align); an image without a face, like an unreadable one, is named on stderr and\n"
            "the rest go on; the exit code is then 3. With --all-faces every face is a row, and\n"
            "OUT.npy's name with .faces.csv in place of .npy lists them: row,path,face,score,\n"
            "box x1,y1,x2,y2, landmarks (as `facerec detect` writes them).\n\n"
            "  -o, --output FILE   the .npy to write (required; not standard output)\n"
            "  --raw               the network's output without L2 normalization\n"
            "  --full-decode       never decode large JPEGs at reduced (DCT) scale\n");
    fr_run_help(out);
    fr_global_help(out);
}

typedef struct embed_sink {
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

static int collect(void *ctx, const fr_embed_result *r)
{
    embed_sink *s = ctx;
    if (fr_cli_interrupted())
        return 1;
    if (r->status != FR_OK) {
        s->failures++;
        fr_cli_error("embed", "%s", r->error);
        return 0;
    }
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

/* With --all-faces: which face of which image each row is. */
static fr_status write_faces(const char *output, const embed_sink *s)
{
    char *name = fr_cli_side_name(output, FACES_SUFFIX);
    if (!name)
        return fr_fail(FR_E_NOMEM, "out of memory");
    fr_output out;
    fr_status st = fr_output_open(&out, name, 0);
    free(name);
    if (st)
        return st;
    fprintf(out.file, "row,path,face,score,x1,y1,x2,y2,left_eye_x,left_eye_y,right_eye_x,"
                      "right_eye_y,nose_x,nose_y,mouth_left_x,mouth_left_y,mouth_right_x,"
                      "mouth_right_y\n");
    for (size_t i = 0; i < s->count; i++) {
        fprintf(out.file, "%zu,", i);
        fr_csv_field(out.file, s->paths[i]);
        fprintf(out.file, ",%d", s->face[i]);
        if (s->face[i] < 0) {
            fputs(",,,,,,,,,,,,,,,\n", out.file); /* a chip embedded as it is: no detection */
            continue;
        }
        const fr_face *f = &s->boxes[i];
        fprintf(out.file, ",%.6f,%.2f,%.2f,%.2f,%.2f", f->score, f->box[0], f->box[1], f->box[2],
                f->box[3]);
        for (int k = 0; k < 5; k++)
            fprintf(out.file, ",%.2f,%.2f", f->landmarks[k][0], f->landmarks[k][1]);
        fputc('\n', out.file);
    }
    return fr_output_commit(&out);
}

static fr_status write_outputs(const char *output, const embed_sink *s)
{
    size_t shape[2] = {s->count, s->dim};
    char *paths_name = fr_cli_side_name(output, PATHS_SUFFIX);
    if (!paths_name)
        return fr_fail(FR_E_NOMEM, "out of memory");
    fr_output out;
    fr_status st = fr_output_open(&out, paths_name, 0);
    for (size_t i = 0; i < s->count && !st; i++)
        fr_cli_write_path_line(out.file, s->paths[i]);
    if (!st)
        st = fr_output_commit(&out);
    else
        fr_output_abort(&out);
    if (!st && s->all_faces)
        st = write_faces(output, s);
    if (!st)
        st = fr_npy_save(output, FR_NPY_F32, 2, shape, s->rows);
    free(paths_name);
    return st;
}

int fr_cmd_embed(int argc, char **argv)
{
    static const struct option own[] = {
        {"output", required_argument, NULL, 'o'}, {"raw", no_argument, NULL, 'r'},
        {"full-decode", no_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options run;
    fr_run_defaults(&run);
    const char *output = NULL;
    int c;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
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
    if (!fr_run_check_output("embed", &run, output))
        return FR_EXIT_USAGE;

    fr_run *session;
    int code = fr_run_open("embed", &g, &run, argv + optind, (size_t)(argc - optind), &session);
    if (code != FR_EXIT_OK)
        return code;
    embed_sink sink = {0};
    sink.dim = (size_t)fr_model_get_info(fr_run_model(session))->embedding_size;
    sink.quiet = g.quiet;
    sink.all_faces = g.all_faces;
    fr_status st = fr_run_embed(session, collect, &sink);
    if (!st && fr_cli_interrupted())
        st = fr_fail(FR_E_INVALID, "interrupted");
    /* a shard writes its part however small: the merge needs every part */
    fr_manifest *manifest = fr_run_manifest(session);
    if (!st && sink.count == 0 && !manifest)
        st = fr_fail(FR_E_IO, "no image could be read; %s not written", output);
    if (!st)
        st = write_outputs(output, &sink);
    size_t failures = sink.failures + fr_run_path_errors(session);
    if (!st && manifest) {
        static const char *const roles[] = {"main", PATHS_SUFFIX, FACES_SUFFIX};
        st = fr_run_manifest_commit(manifest, output, roles, g.all_faces ? 3 : 2,
                                    sink.failures);
    }
    if (!st)
        fr_run_summary(session, sink.images, failures, output);
    code = st ? fr_cli_fail("embed", st) : failures ? FR_EXIT_PARTIAL : FR_EXIT_OK;
    free(sink.rows);
    free(sink.paths);
    free(sink.face);
    free(sink.boxes);
    fr_run_close(session);
    return code;
}
