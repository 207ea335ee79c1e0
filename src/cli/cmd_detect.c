/*
 * cmd_detect.c: `facerec detect IMG|DIR... [-o faces.csv|faces.jsonl] [--draw DIR] [--chips DIR]`:
 * the faces the engine finds (MTCNN), for a person or a script to look at.
 *
 * Images are decoded at full size, so boxes and landmarks are in the file's pixels. The
 * work runs in chunks: the threads of a pool each take a few images (one detector per
 * thread, the images of a task detected together), draw and cut chips; then the main thread
 * writes the chunk's rows in input order.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/guard.h"
#include "cli/run.h"
#include "cli/signals.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/pool.h"
#include "detect/chips.h"
#include "detect/draw.h"
#include "detect/source.h"
#include "detect/tiny.h"
#include "engine/paths.h"
#include "match/table.h"
#include "model/model_internal.h"
#include "store/store.h"

#define GROUP 4            /* images detected together */
#define CHUNK_PER_THREAD 8 /* groups per thread between writes */

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec detect [options] IMG|DIR... [-o FACES.csv|FACES.jsonl]\n\n"
            "Finds the faces in images (MTCNN: boxes, scores, five landmarks) and writes them:\n"
            "CSV, one row per face: path,face,score,x1,y1,x2,y2, then x,y of the left eye, right\n"
            "eye, nose, left and right mouth corner (image left and right; pixels of the file,\n"
            "landmarks at pixel centres), and main (1 for the image's main face by --face, the\n"
            "one the other commands embed, else 0); or JSON Lines (for .jsonl/.json, or --json),\n"
            "one object per image with its size and faces (each with \"main\"), an image without\n"
            "a face included. Faces are in the detector's order (best score first); `face` is\n"
            "the index other commands report.\n"
            "An image without a face, like an unreadable one, is named on stderr and makes the\n"
            "exit code 3.\n\n"
            "  -o, --output FILE   where (default: standard output)\n"
            "  --draw DIR          copies of the images with the faces drawn, in the input's\n"
            "                      format under its own name (DIR/a/x.jpg for photos/a/x.jpg:\n"
            "                      the folders below the inputs' common one are kept); the\n"
            "                      main face by --face, the one other commands embed, in yellow;\n"
            "                      each box numbered as the face column (--face INDEX)\n"
            "  --chips DIR         each face as the model (--model) gets it, aligned as --align\n"
            "                      says (auto: the model's way): a PNG chip that `facerec\n"
            "                      embed` reads as it is, DIR/a/x.jpg.face0.png for face 0\n"
            "  --min-face N        smallest face searched, pixels (default 20)\n"
            "  --force             write -o, --draw and --chips even where they are inputs or\n"
            "                      folders of inputs\n");
    fr_run_help(out);
    fr_global_help_except(out, "threshold flip jitter");
}

typedef struct image_result {
    fr_status status;
    char *error;
    int width, height;
    fr_face *faces;
    int count;
} image_result;

typedef struct detect_job {
    const fr_path_list *paths;
    size_t first, count; /* the chunk */
    image_result *results;
    fr_detector **detectors;
    fr_chipper **chippers;       /* with --chips: per thread */
    fr_face_rule face;           /* the main face, drawn in yellow */
    const char *draw_dir, *chips_dir;
    char **names;        /* per path: absolute, "." and ".." resolved (for written names) */
    size_t strip;        /* their common folder, left out of written names */
} detect_job;

/* "<dir>/<the input's path below the inputs' common folder><suffix>", its folders created
 * under dir. Names keep every folder and the whole file name, so two inputs never share an
 * output (a/b.jpg and a_b.jpg, x.jpg and x.png were one name when '/' became '_' and the
 * extension was dropped). */
static fr_status out_name(const detect_job *j, const char *dir, size_t index, const char *suffix,
                          char *buf, size_t size)
{
    const char *path = j->paths->paths[index];
    if ((size_t)snprintf(buf, size, "%s/%s%s", dir, j->names[index] + j->strip, suffix) >= size)
        return fr_fail(FR_E_INVALID, "%s: name too long for %s", path, dir);
    for (char *p = buf + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; *p++ = '/') {
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return fr_fail(FR_E_IO, "%s: cannot create %s: %s", path, buf, strerror(errno));
    }
    return FR_OK;
}

/* Every face's chip, as the embedding commands cut it (detect/chips.h), one PNG each. */
static fr_status write_chips(const detect_job *j, size_t index, const fr_image *im,
                             const fr_faces *faces, fr_chipper *chipper)
{
    int size = fr_chipper_spec(chipper)->size, n = faces->count;
    size_t bytes = (size_t)size * size * 3;
    uint8_t *pixels = malloc((size_t)(n ? n : 1) * bytes);
    const fr_image **images = malloc((size_t)(n ? n : 1) * sizeof *images);
    const fr_face **list = malloc((size_t)(n ? n : 1) * sizeof *list);
    uint8_t **out = malloc((size_t)(n ? n : 1) * sizeof *out);
    fr_status st = pixels && images && list && out
                       ? FR_OK
                       : fr_fail(FR_E_NOMEM, "out of memory for %d chips", n);
    for (int f = 0; f < n && !st; f++) {
        images[f] = im;
        list[f] = &faces->faces[f];
        out[f] = pixels + (size_t)f * bytes;
    }
    if (!st)
        st = fr_chipper_cut(chipper, images, list, n, out);
    for (int f = 0; f < n && !st; f++) {
        char suffix[32], name[8192];
        fr_image chip = {size, size, out[f]};
        snprintf(suffix, sizeof suffix, ".face%d.png", f);
        st = out_name(j, j->chips_dir, index, suffix, name, sizeof name);
        if (!st)
            st = fr_image_save_png(&chip, name);
    }
    free(pixels);
    free(images);
    free(list);
    free(out);
    return st;
}

static fr_status write_extras(const detect_job *j, size_t index, fr_image *im,
                              const fr_faces *faces, fr_chipper *chipper)
{
    const char *path = j->paths->paths[index];
    fr_status st = FR_OK;
    if (j->chips_dir)
        st = write_chips(j, index, im, faces, chipper);
    if (!st && j->draw_dir) {
        char name[8192];
        fr_draw_faces(im, faces->faces, faces->count, j->face);
        st = out_name(j, j->draw_dir, index, "", name, sizeof name);
        /* in the input's own format (by its name): the drawing of x.png is x.png, a PNG */
        const char *dot = strrchr(path, '.');
        if (!st && dot && strcasecmp(dot, ".png") == 0)
            st = fr_image_save_png(im, name);
        else if (!st)
            st = fr_image_save_jpeg(im, name, 90);
    }
    return st;
}

static void detect_task(void *ctx, int task, int worker)
{
    const detect_job *j = ctx;
    size_t first = j->first + (size_t)task * GROUP;
    size_t end = first + GROUP < j->first + j->count ? first + GROUP : j->first + j->count;
    fr_image images[GROUP], ok[GROUP];
    int which[GROUP], n = 0;
    for (size_t i = first; i < end; i++) {
        image_result *r = &j->results[i - j->first];
        fr_source_scale scale;
        fr_image *im = &images[i - first];
        r->status = fr_source_load(j->paths->paths[i], NULL, im, &scale);
        if (r->status) {
            im->pixels = NULL;
            r->error = fr_strdup(fr_error_message());
            continue;
        }
        r->width = im->width;
        r->height = im->height;
        which[n] = (int)(i - first);
        ok[n++] = *im;
    }
    fr_faces faces[GROUP];
    fr_status st = n ? fr_detector_run(j->detectors[worker], ok, n, faces) : FR_OK;
    /* the group failed as a whole: each image on its own, so an error names its own file */
    int alone = st && n > 1;
    char group_error[512] = "";
    if (st)
        fr_error_save(group_error, sizeof group_error);
    for (int k = 0; k < n; k++) {
        size_t i = first + (size_t)which[k];
        image_result *r = &j->results[i - j->first];
        if (alone)
            r->status = fr_detector_run(j->detectors[worker], &ok[k], 1, &faces[k]);
        else if (st)
            fr_error_restore(group_error);
        if (!alone)
            r->status = st;
        if (!r->status && faces[k].count > 0) {
            r->faces = malloc((size_t)faces[k].count * sizeof *r->faces);
            if (r->faces) {
                memcpy(r->faces, faces[k].faces, (size_t)faces[k].count * sizeof *r->faces);
                r->count = faces[k].count;
            } else {
                r->status = fr_fail(FR_E_NOMEM, "out of memory for %d faces", faces[k].count);
            }
        }
        if (!r->status)
            r->status = write_extras(j, i, &images[which[k]], &faces[k],
                                     j->chippers ? j->chippers[worker] : NULL);
        if (r->status) {
            if (!strstr(fr_error_message(), j->paths->paths[i]))
                fr_error_prefix(j->paths->paths[i]);
            r->error = fr_strdup(fr_error_message());
        }
    }
    for (size_t i = first; i < end; i++)
        fr_image_free(&images[i - first]);
}

static void write_rows(FILE *out, fr_table_format format, const char *path, const image_result *r,
                       fr_face_rule rule)
{
    static const char *names[5] = {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"};
    /* the main face by --face: the one the other commands embed (drawn in yellow) */
    fr_faces all = {r->faces, r->count};
    int main_face = r->count > 0 ? fr_faces_main(&all, r->width, r->height, rule) : -1;
    if (format == FR_TABLE_JSONL) {
        fputs("{\"path\": ", out);
        fr_json_string(out, path);
        fprintf(out, ", \"width\": %d, \"height\": %d, \"faces\": [", r->width, r->height);
        for (int f = 0; f < r->count; f++) {
            const fr_face *x = &r->faces[f];
            fprintf(out, "%s{\"box\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.6f, \"landmarks\": ",
                    f ? ", " : "", x->box[0], x->box[1], x->box[2], x->box[3], x->score);
            if (isnan(x->landmarks[0][0])) { /* the tiny detector finds none */
                fprintf(out, "null, \"main\": %s}", f == main_face ? "true" : "false");
                continue;
            }
            fputc('{', out);
            for (int k = 0; k < 5; k++)
                fprintf(out, "%s\"%s\": [%.2f, %.2f]", k ? ", " : "", names[k], x->landmarks[k][0],
                        x->landmarks[k][1]);
            fprintf(out, "}, \"main\": %s}", f == main_face ? "true" : "false");
        }
        fputs("]}\n", out);
        return;
    }
    for (int f = 0; f < r->count; f++) {
        const fr_face *x = &r->faces[f];
        fr_csv_field(out, path);
        fprintf(out, ",%d,%.6f,%.2f,%.2f,%.2f,%.2f", f, x->score, x->box[0], x->box[1], x->box[2],
                x->box[3]);
        for (int k = 0; k < 5; k++)
            if (isnan(x->landmarks[k][0])) /* the tiny detector finds none: empty fields */
                fputs(",,", out);
            else
                fprintf(out, ",%.2f,%.2f", x->landmarks[k][0], x->landmarks[k][1]);
        fprintf(out, ",%d\n", f == main_face);
    }
}

/* path made absolute with "." and ".." resolved by name (not through symbolic links), so
 * that written names never climb out of --draw or --chips. */
static char *absolute_name(const char *path)
{
    char cwd[4096];
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        return NULL;
    size_t n = (path[0] == '/' ? 0 : strlen(cwd)) + strlen(path) + 2;
    char *joined = malloc(n), *out = malloc(n);
    if (!joined || !out) {
        free(joined);
        free(out);
        return NULL;
    }
    snprintf(joined, n, "%s/%s", path[0] == '/' ? "" : cwd, path);
    size_t len = 0;
    char *rest;
    for (char *part = strtok_r(joined, "/", &rest); part; part = strtok_r(NULL, "/", &rest)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            while (len > 0 && out[--len] != '/')
                ;
            continue;
        }
        out[len++] = '/';
        size_t k = strlen(part);
        memcpy(out + len, part, k);
        len += k;
    }
    out[len] = 0;
    free(joined);
    return out;
}

/* The folder every name shares (with its '/'), left out of written names: grown one
 * resolved name at a time, as the whole input list goes by (a shard names its outputs as the
 * single run does). */
typedef struct common_folder {
    char *first;  /* the first name, resolved */
    size_t length; /* of the prefix all names so far share */
    int failed;
} common_folder;

static void add_to_folder(void *ctx, const char *path)
{
    common_folder *c = ctx;
    char *name = absolute_name(path);
    if (!name) {
        c->failed = 1;
        return;
    }
    if (!c->first) {
        c->first = name;
        c->length = strlen(name);
        return;
    }
    size_t k = 0;
    while (k < c->length && name[k] == c->first[k])
        k++;
    c->length = k;
    free(name);
}

static size_t folder_length(const common_folder *c)
{
    size_t n = c->length;
    while (n > 0 && c->first[n - 1] != '/')
        n--;
    return n;
}

/* The folder, created when missing and checked to take files before any image is read. */
static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fr_cli_error("detect", "%s: cannot create: %s", dir, strerror(errno));
        return 0;
    }
    if (fr_folder_check_writable(dir) != FR_OK) {
        fr_cli_error("detect", "%s", fr_error_message());
        return 0;
    }
    return 1;
}

/* The shard's options besides the input list: what changes the rows or the chips. */
static void describe(fr_manifest *m, const fr_global_options *g, const fr_detect_options *dopt,
                     const fr_model *model, const fr_chip_spec *spec, int chips,
                     fr_table_format format)
{
    char key[512] = "(no chips)";
    if (chips)
        fr_store_model_key(fr_model_get_info(model), key, sizeof key);
    fr_manifest_model(m, key);
    fr_manifest_option_number(m, "min-face", dopt->min_face);
    fr_manifest_option(m, "face", fr_face_rule_name(g->face));
    fr_manifest_option(m, "align", fr_align_name(g->align));
    fr_manifest_option(m, "format", format == FR_TABLE_CSV ? "csv" : "jsonl");
    fr_run_describe_detection(m, g, spec, chips);
}

static int run(const fr_global_options *g, const fr_run_options *ro,
               const fr_detect_options *dopt, char *const *args, size_t nargs,
               const char *output, const char *draw_dir, const char *chips_dir, int force)
{
    fr_path_list list = {0};
    /* images are detected in groups of GROUP from the first: a shard cut at its multiples
     * detects in the single run's groups */
    fr_manifest *manifest = NULL;
    common_folder folder = {NULL, 0, 0};
    int naming = draw_dir || chips_dir;
    int code = fr_run_inputs("detect", ro, args, nargs, GROUP, naming ? add_to_folder : NULL,
                             &folder, &list, &manifest);
    if (!code && folder.failed)
        code = fr_cli_fail("detect", fr_fail(FR_E_NOMEM, "out of memory resolving names"));
    size_t strip = folder.first ? folder_length(&folder) : 0;
    free(folder.first);
    /* before any image is read: outputs that would replace inputs, folders that cannot
     * take the drawings and chips */
    char *list_file[1] = {(char *)ro->list};
    fr_cli_guard guard = {"detect", ro->list ? list_file : args, ro->list ? 1 : nargs,
                          list.paths, list.count, NULL, 0, force};
    if (!code)
        code = fr_cli_guard_output(&guard, "-o", output);
    if (!code)
        code = fr_cli_guard_folder(&guard, "--draw", draw_dir);
    if (!code)
        code = fr_cli_guard_folder(&guard, "--chips", chips_dir);
    if (!code && ((draw_dir && !make_dir(draw_dir)) || (chips_dir && !make_dir(chips_dir))))
        code = FR_EXIT_FATAL;
    if (code) {
        fr_manifest_free(manifest);
        fr_paths_free(&list);
        return code;
    }
    fr_status st = FR_OK;
    detect_job job;
    memset(&job, 0, sizeof job);
    job.paths = &list;
    job.draw_dir = draw_dir;
    job.chips_dir = chips_dir;
    job.face = g->face;
    job.strip = strip;
    fr_model *model = NULL, *landmark_net = NULL;
    fr_mtcnn *mtcnn = NULL;
    fr_pool *pool = NULL;
    char weights[4096];
    /* chips as the embedding commands cut them (detect/chips.h); without --chips, the
     * model's chip still says which detector auto is, so detect finds the faces embed does */
    fr_chip_spec spec;
    const fr_arch *arch = NULL;
    if (!chips_dir && !(g->weights && !g->model))
        arch = fr_arch_find(g->model ? g->model : FR_ARCH_DEFAULT);
    if (!arch || arch->auxiliary) {
        st = fr_cli_load_model(g, &model);
        arch = model ? model->entry : NULL;
    }
    int have_spec = 0;
    if (!st && (chips_dir || g->align != FR_ALIGN_NONE)) {
        st = fr_chip_spec_for(arch, g->align, &spec);
        have_spec = !st;
        if (!chips_dir)
            st = FR_OK; /* no chips: a mode the model cannot cut leaves auto MTCNN */
    }
    fr_detector_kind kind;
    int size;
    fr_chip_spec_detector(have_spec ? &spec : NULL, g->detector, g->detector_size, &kind, &size);
    if (!st && chips_dir)
        st = fr_chip_spec_check_detector(&spec, kind);
    if (!st && chips_dir)
        st = fr_chip_load_landmarks(&spec, NULL, &landmark_net);
    fr_model *tiny_net = NULL;
    fr_detect_options tiny_opt = *dopt;
    if (!st && kind != FR_DETECTOR_MTCNN) {
        st = fr_tiny_load(NULL, size, &tiny_net);
        tiny_opt.tiny = tiny_net;
        tiny_opt.tiny_threshold = g->detector_threshold;
        dopt = &tiny_opt;
    }
    if (!st && kind != FR_DETECTOR_TINY) { /* tiny+mtcnn: both */
        st = fr_model_default_path("mtcnn", weights, sizeof weights);
        if (!st)
            st = fr_mtcnn_load(weights, &mtcnn);
    }
    if (!st && (draw_dir || chips_dir)) {
        job.names = calloc(list.count, sizeof *job.names);
        for (size_t i = 0; job.names && i < list.count && !st; i++)
            if (!(job.names[i] = absolute_name(list.paths[i])))
                st = fr_fail(FR_E_NOMEM, "%s: cannot resolve the name", list.paths[i]);
        if (!job.names)
            st = fr_fail(FR_E_NOMEM, "out of memory");
    }
    if (!st)
        st = fr_pool_new(g->threads, &pool);
    int threads = pool ? fr_pool_threads(pool) : 0;
    job.detectors = calloc((size_t)threads + 1, sizeof *job.detectors);
    if (chips_dir)
        job.chippers = calloc((size_t)threads + 1, sizeof *job.chippers);
    size_t chunk = (size_t)threads * CHUNK_PER_THREAD * GROUP;
    job.results = calloc(chunk + 1, sizeof *job.results);
    if (!st && (!job.detectors || (chips_dir && !job.chippers) || !job.results))
        st = fr_fail(FR_E_NOMEM, "out of memory");
    for (int i = 0; i < threads && !st; i++) {
        st = fr_detector_new(mtcnn, dopt, &job.detectors[i]);
        if (!st && chips_dir)
            st = fr_chipper_new(&spec, landmark_net, &dopt->runner,
                                fr_detector_exec(job.detectors[i]), &job.chippers[i]);
    }
    double started = fr_seconds();
    fr_output out = {0};
    fr_table_format format = fr_table_format_for(output ? output : "-", g->json);
    if (!st)
        st = fr_output_open(&out, output ? output : "-", 0);
    if (!st && format == FR_TABLE_CSV)
        fprintf(out.file, "path,face,score,x1,y1,x2,y2,left_eye_x,left_eye_y,right_eye_x,"
                          "right_eye_y,nose_x,nose_y,mouth_left_x,mouth_left_y,mouth_right_x,"
                          "mouth_right_y,main\n");
    size_t failed = list.errors, faces = 0, faceless = 0;
    for (size_t first = 0; first < list.count && !st; first += chunk) {
        job.first = first;
        job.count = list.count - first < chunk ? list.count - first : chunk;
        memset(job.results, 0, job.count * sizeof *job.results);
        fr_pool_run(pool, (int)((job.count + GROUP - 1) / GROUP), detect_task, &job);
        for (size_t i = 0; i < job.count; i++) {
            image_result *r = &job.results[i];
            if (r->status) {
                fr_cli_error("detect", "%s", r->error ? r->error : fr_status_name(r->status));
                failed++;
            } else {
                write_rows(out.file, format, list.paths[first + i], r, job.face);
                faces += (size_t)r->count;
                faceless += r->count == 0;
                if (r->count == 0) /* as embed says it: CSV has no row to show it */
                    fr_cli_error("detect", "%s: no face found", list.paths[first + i]);
            }
            free(r->error);
            free(r->faces);
        }
    }
    if (out.file) {
        if (st) {
            fr_output_abort(&out);
        } else {
            fr_cli_commit_begin();
            st = fr_output_commit(&out);
            fr_cli_commit_end(st == FR_OK);
        }
    }
    if (!st && manifest) {
        static const char *const roles[] = {"main"};
        describe(manifest, g, dopt, model, have_spec ? &spec : NULL, chips_dir != NULL, format);
        st = fr_run_manifest_commit(manifest, output, roles, 1, failed - list.errors + faceless);
    }
    fr_manifest_free(manifest);
    double seconds = fr_seconds() - started;
    if (!st && !g->quiet)
        fprintf(stderr, "detect: %zu %s, %zu %s, %zu without a face, %zu unreadable, "
                "in %.2f s, %.1f images/s\n", list.count, list.count == 1 ? "image" : "images",
                faces, faces == 1 ? "face" : "faces", faceless, failed, seconds,
                seconds > 0 ? (double)list.count / seconds : 0.0);
    for (int i = 0; i < threads; i++) {
        if (job.chippers) /* first: it runs on the detector's context */
            fr_chipper_free(job.chippers[i]);
        if (job.detectors)
            fr_detector_free(job.detectors[i]);
    }
    free(job.detectors);
    free(job.chippers);
    free(job.results);
    for (size_t i = 0; job.names && i < list.count; i++)
        free(job.names[i]);
    free(job.names);
    fr_pool_free(pool);
    fr_mtcnn_free(mtcnn);
    fr_model_free(tiny_net);
    fr_model_free(model);
    fr_model_free(landmark_net);
    fr_paths_free(&list);
    if (st)
        return fr_cli_fail("detect", st);
    return failed || faceless ? FR_EXIT_PARTIAL : FR_EXIT_OK;
}

int fr_cmd_detect(int argc, char **argv)
{
    static const struct option own[] = {
        {"output", required_argument, NULL, 'o'}, {"draw", required_argument, NULL, 'd'},
        {"chips", required_argument, NULL, 'c'},  {"min-face", required_argument, NULL, 'm'},
        {"force", no_argument, NULL, 'f'},        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_run_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    fr_run_options ro;
    fr_run_defaults(&ro);
    fr_detect_options dopt;
    memset(&dopt, 0, sizeof dopt);
    const char *output = NULL, *draw_dir = NULL, *chips_dir = NULL;
    int c, force = 0;
    while (options && (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': output = optarg; break;
        case 'd': draw_dir = optarg; break;
        case 'c': chips_dir = optarg; break;
        case 'f': force = 1; break;
        case 'm':
            dopt.min_face = (int)strtol(optarg, &end, 10);
            if (*end || dopt.min_face < 12 || dopt.min_face > 100000) {
                fr_cli_error("detect", "--min-face %s: give a size from 12 to 100000 pixels", optarg);
                free(options);
                return FR_EXIT_USAGE;
            }
            break;
        case 'h': help(stdout); free(options); return FR_EXIT_OK;
        default:
            if (!fr_run_option(&g, &ro, c, optarg, help)) {
                free(options);
                return FR_EXIT_USAGE;
            }
        }
    }
    free(options);
    if (g.flip || g.jitter) { /* refused, not ignored: it would suggest altered chips */
        fr_cli_error("detect", "%s: detect runs no recognition network (embed, enroll, "
                     "verify, identify, distmat and pairs take it)", g.flip ? "--flip" : "--jitter");
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_inputs("detect", &ro, optind < argc))
        return FR_EXIT_USAGE;
    if (chips_dir && g.align == FR_ALIGN_NONE) { /* refused: --chips cuts aligned faces */
        fr_cli_error("detect", "--chips with --align none: a chip is an aligned face (give "
                     "--align auto, mtcnn or landmarks68)");
        return FR_EXIT_USAGE;
    }
    if (g.threshold > 0) { /* accepted and ignored before */
        fr_cli_error("detect", "--threshold: a distance threshold for matching faces; detect "
                     "matches none (--min-face sets the smallest face searched)");
        return FR_EXIT_USAGE;
    }
    if (g.face_index) { /* every face is reported: an index would choose nothing */
        fr_cli_error("detect", "--face %d: detect lists every face (its face column); "
                     "--face largest|central marks the main one on --draw", g.face_index - 1);
        return FR_EXIT_USAGE;
    }
    if (!fr_run_check_output("detect", &ro, output))
        return FR_EXIT_USAGE;
    /* the detector runs on the CPU threads whatever --device says: faster than on a GPU so
     * far (see src/engine/embedder.c) */
    dopt.runner.device = FR_DEVICE_CPU;
    dopt.runner.threads = 1;
    return run(&g, &ro, &dopt, argv + optind, (size_t)(argc - optind), output, draw_dir,
               chips_dir, force);
}
