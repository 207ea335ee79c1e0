/* model.c: loading a weights file into a model: the architecture table, preprocessing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"
#include "model/model_internal.h"

#define BIT(p) (1u << (p))

/* Default thresholds are distances between L2-normalized embeddings. dlib: 0.428, the best
 * threshold `facerec eval` finds on LFW DevTrain's pairs with the default alignment (dlib
 * chips from 68 landmarks; FaceNet's central face, LFW's protocol): 0.4279, 99.14% of all
 * pairs right, 98.73% at the 0.417 it had before (chosen on 110x110 centre crops, and still
 * the best for 5-point chips, --align mtcnn: 0.4166); docs/alignment.md. irv1 keeps the
 * seed's 0.7 (the seed's verify() used it; there are no irv1 weights here to measure with). */
static const fr_arch ARCHS[] = {
    {.name = "dlib", .input_size = 150, .embedding_size = 128, .preprocess = FR_PREPROCESS_FACEAPI,
     .preprocess_allowed = BIT(FR_PREPROCESS_FACEAPI), .threshold = 0.428f,
     .chip = FR_CHIP_DLIB, .landmarks68 = 1, .auto_tiny_size = 192, .build = fr_dlib_build,
     .obtain = "run weights/fetch.sh", .head = &fr_dlib_head},
    {.name = "irv1", .input_size = 160, .embedding_size = 128, .preprocess = FR_PREPROCESS_SEED,
     .preprocess_allowed = BIT(FR_PREPROCESS_SEED) | BIT(FR_PREPROCESS_FACENET),
     .threshold = 0.7f, .chip = FR_CHIP_FACENET, .landmarks68 = 0, .build = fr_irv1_build,
     .obtain = "convert your Keras .h5 with `facerec convert --from keras-h5 model.h5 -o "
               "<dir>/irv1.frw`",
     .head = &fr_irv1_head},
    /* InsightFace's recognition networks imported from ONNX (model/onnx.h): the graph comes
     * from the file, the embedding size from its output. Threshold: not measured here (no
     * trained ArcFace weights are obtainable on this project's registries); 1.13 is the L2
     * threshold the deepface library uses for its ArcFace model (cosine similarity 0.36):
     * choose your own with `facerec eval`, or store it with `convert --threshold`. */
    {.name = "arcface", .input_size = 112, .embedding_size = 0,
     .preprocess = FR_PREPROCESS_ARCFACE,
     .preprocess_allowed = BIT(FR_PREPROCESS_ARCFACE) | BIT(FR_PREPROCESS_RAW),
     .threshold = 1.13f, .chip = FR_CHIP_ARCFACE, .landmarks68 = 0, .build = fr_onnx_build,
     .obtain = "convert an InsightFace ONNX model with `facerec convert --from onnx model.onnx "
               "-o <dir>/arcface.frw`"},
    /* @vladmandic/human's faceres (HSE FaceRes: a MobileNet trained on VGGFace2, 1024-d), imported
     * from its TF.js graph model (`convert --from tfjs faceres.json`, the program of onnx.h).
     * human feeds it the detector's box, enlarged and resized to 224 x 224, as RGB 0..255
     * (faceres.ts: crop * 255 of a 0..1 image), unaligned: here MTCNN's box with FaceNet's
     * margin (96.09 % on LFW DevTrain; dlib's 68-point chips at padding 0.4: 95.73 %).
     * Threshold 0.983: the best `facerec eval` finds on DevTrain's pairs (bench/RESULTS.md
     * "Models"). Not the default: dlib's 99.09 % is better. */
    {.name = "faceres", .input_size = 224, .embedding_size = 1024,
     .preprocess = FR_PREPROCESS_RAW, .preprocess_allowed = BIT(FR_PREPROCESS_RAW),
     .threshold = 0.983f, .chip = FR_CHIP_FACENET, .landmarks68 = 0,
     .build = fr_onnx_build, .obtain = "run weights/fetch.sh --faceres"},
    /* the seed's naive baseline: the chip's pixels are the embedding; no meaningful default
     * threshold (choose one with `facerec eval`) */
    {.name = "pixels", .input_size = 64, .embedding_size = 64 * 64 * 3,
     .preprocess = FR_PREPROCESS_PIXELS, .preprocess_allowed = BIT(FR_PREPROCESS_PIXELS),
     .threshold = 0.0f, .chip = FR_CHIP_FACENET, .landmarks68 = 0, .build = NULL},
    /* face-api's FaceFeatureExtractor normalizes like its recognition net: mean RGB, /255 */
    {.name = "landmark68", .input_size = FR_LANDMARK68_SIZE,
     .embedding_size = FR_LANDMARK68_OUTPUTS, .preprocess = FR_PREPROCESS_FACEAPI,
     .preprocess_allowed = BIT(FR_PREPROCESS_FACEAPI), .threshold = 0.0f,
     .chip = FR_CHIP_DLIB, .landmarks68 = 0, .build = fr_landmark68_build,
     .obtain = "run weights/fetch.sh", .auxiliary = 1},
    /* face-api's TinyFaceDetector (model/tinyface.c): the --detector tiny network; its input
     * side is the detector's choice (fr_model_load_sized), 416 is face-api's default; its
     * normalization (the detector's own mean RGB, /255) is set by the builder */
    {.name = "tinyface", .input_size = FR_TINYFACE_SIZE, .embedding_size = 0,
     .preprocess = FR_PREPROCESS_FACEAPI, .preprocess_allowed = BIT(FR_PREPROCESS_FACEAPI),
     .threshold = 0.0f, .chip = FR_CHIP_DLIB, .landmarks68 = 0, .build = fr_tinyface_build,
     .obtain = "run weights/fetch.sh", .auxiliary = 1},
};

#define ARCH_COUNT (sizeof ARCHS / sizeof ARCHS[0])

const fr_arch *fr_arch_find(const char *name)
{
    for (size_t i = 0; i < ARCH_COUNT; i++)
        if (strcmp(ARCHS[i].name, name) == 0)
            return &ARCHS[i];
    return NULL;
}

const fr_arch *fr_arch_at(size_t index)
{
    return index < ARCH_COUNT ? &ARCHS[index] : NULL;
}

const char *fr_arch_names(char *buffer, size_t size, const char *separator, fr_arch_set set)
{
    size_t used = 0;
    buffer[0] = 0;
    for (size_t i = 0; i < ARCH_COUNT; i++) {
        const fr_arch *a = &ARCHS[i];
        if (set == FR_ARCHS_RECOGNITION ? a->auxiliary : !a->build)
            continue;
        int n = snprintf(buffer + used, size - used, "%s%s", used ? separator : "", a->name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buffer;
}

static const char *PREPROCESS_NAMES[] = {"default", "seed",    "facenet", "faceapi",
                                         "pixels",  "arcface", "raw"};

const char *fr_preprocess_name(fr_preprocess p)
{
    return (unsigned)p < sizeof PREPROCESS_NAMES / sizeof PREPROCESS_NAMES[0] ? PREPROCESS_NAMES[p]
                                                                               : "?";
}

fr_status fr_preprocess_parse(const char *name, fr_preprocess *out)
{
    for (size_t i = 0; i < sizeof PREPROCESS_NAMES / sizeof PREPROCESS_NAMES[0]; i++)
        if (strcmp(PREPROCESS_NAMES[i], name) == 0) {
            *out = (fr_preprocess)i;
            return FR_OK;
        }
    return fr_fail(FR_E_INVALID, "unknown preprocessing '%s' (seed, facenet, faceapi, pixels, "
                   "arcface, raw)", name);
}

void fr_preprocess_normalization(fr_preprocess p, fr_norm_kind *kind, float mean[3],
                                 float scale[3])
{
    /* face-api's FaceRecognitionNet: normalize(x, [122.782, 117.001, 104.298]).div(255) */
    static const float FACEAPI_MEAN[3] = {122.782f, 117.001f, 104.298f};
    *kind = p == FR_PREPROCESS_FACENET ? FR_NORM_STANDARDIZE : FR_NORM_AFFINE;
    for (int c = 0; c < 3; c++) {
        mean[c] = p == FR_PREPROCESS_FACEAPI ? FACEAPI_MEAN[c] : 0.0f;
        scale[c] = 1.0f / 255.0f;
        /* InsightFace's (x - 127.5) / 128 (its MXNet-era models' own constants) */
        if (p == FR_PREPROCESS_ARCFACE) {
            mean[c] = 127.5f;
            scale[c] = 1.0f / 128.0f;
        } else if (p == FR_PREPROCESS_RAW) {
            scale[c] = 1.0f;
        }
    }
}

void fr_model_free(fr_model *m)
{
    if (!m)
        return;
    fr_graph_free(m->graph);
    free(m->arch);
    free(m->source);
    free(m->source_sha256);
    free(m);
}

static fr_status build(fr_model *m, const fr_weights *w, const fr_arch *arch, int size)
{
    fr_graph *g = fr_graph_new(size, size);
    if (!g)
        return FR_E_NOMEM;
    fr_norm_kind kind;
    float mean[3], scale[3];
    fr_preprocess_normalization(m->info.preprocess, &kind, mean, scale);
    int input = fr_graph_normalize(g, kind, mean, scale, 0);
    int output = arch->build(w, g, input);
    fr_status st = output >= 0 ? fr_graph_finalize(g, output) : g->status;
    if (!st && arch->embedding_size == 0)
        /* the imported network's own; a detector's whole (h, w, c) map */
        m->info.embedding_size = g->tensors[output].h * g->tensors[output].w * g->tensors[output].c;
    else if (!st && g->tensors[output].c != arch->embedding_size)
        st = fr_fail(FR_E_INTERNAL, "%s: network output has %d values, not %d", arch->name,
                     g->tensors[output].c, arch->embedding_size);
    if (st) {
        fr_graph_free(g);
        return st ? st : fr_fail(FR_E_INTERNAL, "graph build failed");
    }
    m->graph = g;
    return FR_OK;
}

fr_status fr_model_load(const char *path, fr_model **out)
{
    return fr_model_load_sized(path, 0, out);
}

fr_status fr_model_load_sized(const char *path, int size, fr_model **out)
{
    fr_weights *w;
    fr_status st = fr_weights_open(path, &w);
    if (st)
        return st;
    const char *arch_name = fr_weights_meta_string(w, "arch");
    const fr_arch *arch = arch_name ? fr_arch_find(arch_name) : NULL;
    if (!arch || !arch->build) {
        char names[256];
        st = fr_fail(FR_E_UNSUPPORTED, "%s: unknown architecture '%s' (this build knows %s)",
                     path, arch_name ? arch_name : "(none)",
                     fr_arch_names(names, sizeof names, ", ", FR_ARCHS_IN_FILES));
        fr_weights_close(w);
        return st;
    }
    fr_model *m = fr_calloc(1, sizeof *m, "a model");
    if (!m) {
        fr_weights_close(w);
        return FR_E_NOMEM;
    }
    const char *source = fr_weights_meta_string(w, "source");
    const char *sha = fr_weights_meta_string(w, "source_sha256");
    const char *pre = fr_weights_meta_string(w, "preprocess");
    m->entry = arch;
    m->arch = fr_strdup(arch->name);
    m->source = fr_strdup(source ? source : "");
    m->source_sha256 = fr_strdup(sha ? sha : "");
    m->info.arch = m->arch;
    m->info.input_size = size > 0 ? size : arch->input_size;
    m->info.embedding_size = arch->embedding_size;
    m->info.preprocess = arch->preprocess;
    m->info.threshold = arch->threshold;
    m->info.source = m->source;
    m->info.source_sha256 = m->source_sha256;
    double threshold;
    if (fr_weights_meta_float(w, "threshold", &threshold) && threshold > 0)
        m->info.threshold = (float)threshold;
    st = (!m->arch || !m->source || !m->source_sha256) ? FR_E_NOMEM : FR_OK;
    if (!st && pre) {
        fr_preprocess p;
        st = fr_preprocess_parse(pre, &p);
        if (!st && !(arch->preprocess_allowed & BIT(p)))
            st = fr_fail(FR_E_FORMAT, "%s: preprocessing '%s' does not fit a %s model", path, pre,
                         arch->name);
        if (!st)
            m->info.preprocess = p;
    }
    if (!st)
        st = build(m, w, arch, m->info.input_size);
    if (st && st != FR_E_NOMEM && !strstr(fr_error_message(), path))
        fr_error_prefix(path);
    fr_weights_close(w);
    if (st) {
        fr_model_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

fr_status fr_model_default_path(const char *arch, char *buffer, size_t size)
{
    const char *env = getenv("FACEREC_WEIGHTS_DIR");
    const char *dirs[] = {FACEREC_SOURCE_DIR "/weights", FACEREC_INSTALL_DATADIR "/weights"};
    if (env && *env) {
        snprintf(buffer, size, "%s/%s.frw", env, arch);
        return access(buffer, R_OK) == 0
                   ? FR_OK
                   : fr_fail(FR_E_NOT_FOUND, "%s: no weights (FACEREC_WEIGHTS_DIR is set)", buffer);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(buffer, size, "%s/%s.frw", dirs[i], arch);
        if (access(buffer, R_OK) == 0)
            return FR_OK;
    }
    const fr_arch *entry = fr_arch_find(arch);
    const char *hint = entry && entry->obtain ? entry->obtain : "run weights/fetch.sh";
    return fr_fail(FR_E_NOT_FOUND, "no weights for model %s (looked in %s and %s): %s, or give "
                   "--weights FILE", arch, dirs[0], dirs[1], hint);
}

fr_status fr_model_open(const char *name, const char *weights, fr_model **out)
{
    if (!name && !weights)
        name = FR_ARCH_DEFAULT;
    const fr_arch *named = name ? fr_arch_find(name) : NULL;
    if (name && (!named || named->auxiliary)) {
        char names[256];
        return fr_fail(FR_E_INVALID, "unknown model '%s' (choose %s)", name,
                       fr_arch_names(names, sizeof names, ", ", FR_ARCHS_RECOGNITION));
    }
    if (named && !named->build && !weights)
        return fr_model_new_pixels(named->input_size, out);
    char path[4096];
    if (!weights) {
        fr_status st = fr_model_default_path(name, path, sizeof path);
        if (st)
            return st;
        weights = path;
    }
    fr_model *m;
    fr_status st = fr_model_load(weights, &m);
    if (st)
        return st;
    if (m->entry->auxiliary)
        st = fr_fail(FR_E_MODEL_MISMATCH, "%s holds the %s network (face alignment), not a "
                     "face-recognition model", weights, m->entry->name);
    else if (named && m->entry != named)
        st = fr_fail(FR_E_MODEL_MISMATCH, "%s holds a %s model, not %s", weights,
                     m->entry->name, named->name);
    if (st) {
        fr_model_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

fr_status fr_model_new_pixels(int input_size, fr_model **out)
{
    if (input_size < 8 || input_size > 512)
        return fr_fail(FR_E_INVALID, "pixels model: input size %d outside 8..512", input_size);
    const fr_arch *arch = fr_arch_find("pixels");
    fr_model *m = fr_calloc(1, sizeof *m, "a model");
    if (!m)
        return FR_E_NOMEM;
    m->entry = arch;
    m->arch = fr_strdup(arch->name);
    m->source = fr_strdup("");
    m->source_sha256 = fr_strdup("");
    if (!m->arch || !m->source || !m->source_sha256) {
        fr_model_free(m);
        return FR_E_NOMEM;
    }
    m->info.arch = m->arch;
    m->info.input_size = input_size;
    m->info.embedding_size = input_size * input_size * 3;
    m->info.preprocess = arch->preprocess;
    m->info.threshold = arch->threshold;
    m->info.source = m->source;
    m->info.source_sha256 = m->source_sha256;
    *out = m;
    return FR_OK;
}

const fr_model_info *fr_model_get_info(const fr_model *m)
{
    return &m->info;
}

fr_status fr_model_set_preprocess(fr_model *m, fr_preprocess p)
{
    if (p == FR_PREPROCESS_DEFAULT)
        return FR_OK;
    const fr_arch *arch = m->entry;
    if (!(arch->preprocess_allowed & BIT(p)))
        return fr_fail(FR_E_INVALID, "preprocessing '%s' does not fit the %s model",
                       fr_preprocess_name(p), arch->name);
    m->info.preprocess = p;
    if (m->graph) {
        fr_node *n = &m->graph->nodes[0];
        fr_preprocess_normalization(p, &n->norm, n->mean, n->scale);
    }
    return FR_OK;
}

fr_status fr_model_prepare_image(const fr_model *m, const fr_image *image, uint8_t *out)
{
    int s = m->info.input_size;
    if (!image || !image->pixels || image->width <= 0 || image->height <= 0)
        return fr_fail(FR_E_INVALID, "empty image");
    switch (m->info.preprocess) {
    case FR_PREPROCESS_SEED:
        fr_resize_nearest_pil(image->pixels, image->width, image->height, out, s, s);
        return FR_OK;
    case FR_PREPROCESS_FACENET:
    case FR_PREPROCESS_PIXELS:
    case FR_PREPROCESS_ARCFACE:
    case FR_PREPROCESS_RAW:
        return fr_resize_bilinear_pil(image->pixels, image->width, image->height, out, s, s);
    case FR_PREPROCESS_FACEAPI:
        return fr_resize_faceapi(image->pixels, image->width, image->height, out, s);
    case FR_PREPROCESS_DEFAULT:
        break;
    }
    return fr_fail(FR_E_INTERNAL, "model without a preprocessing mode");
}

void fr_l2_normalize(float *rows, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        float *r = rows + i * dim;
        double sum = 0;
        for (size_t j = 0; j < dim; j++)
            sum += (double)r[j] * r[j];
        if (sum > 0) {
            float inv = (float)(1.0 / sqrt(sum));
            for (size_t j = 0; j < dim; j++)
                r[j] *= inv;
        }
    }
}
