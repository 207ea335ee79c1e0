/*
 * landmarks.c: face-api's 68-point landmarks on detected faces (see landmarks.h): the crop,
 * its network input, the network (model/landmark68.c through a runner, so either backend)
 * and the mapping back, each transcribed from face-api 1.7.15: Box.clipAtImageBorders,
 * extractFaceTensors, NetInput.toBatchTensor, FaceLandmark68NetBase.postProcess,
 * FaceLandmarks.shiftBy.
 */
#include "detect/landmarks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "image/resize.h"
#include "model/model_internal.h"

#define DEFAULT_BATCH 16

struct fr_landmarker {
    fr_runner *runner;
    int batch;
    uint8_t *inputs;             /* batch x 112 x 112 x 3 */
    float *outputs;              /* batch x 136 */
    fr_landmark68_frame *frames; /* batch */
};

fr_status fr_landmark68_load(const char *path, fr_model **out)
{
    fr_model *m;
    fr_status st = fr_model_load(path, &m);
    if (st)
        return st;
    if (strcmp(fr_model_get_info(m)->arch, "landmark68") != 0) {
        st = fr_fail(FR_E_MODEL_MISMATCH, "%s: holds a %s model, not the 68-point landmark network",
                     path, fr_model_get_info(m)->arch);
        fr_model_free(m);
        return st;
    }
    *out = m;
    return FR_OK;
}

/* Box.clipAtImageBorders(width, height) then .floor(), and extractFaceTensors's slice. */
static int clip_box(const fr_image *im, const fr_face *face, int *x, int *y, int *w, int *h)
{
    double bx = face->box[0], by = face->box[1];
    double right = bx + ((double)face->box[2] - bx), bottom = by + ((double)face->box[3] - by);
    double cx = fmax(bx, 0), cy = fmax(by, 0);
    double cw = fmin(right - cx, im->width - cx), ch = fmin(bottom - cy, im->height - cy);
    double fx = floor(cx), fy = floor(cy), fw = floor(cw), fh = floor(ch);
    /* extractFaceTensors drops regions without pixels; a box past the far edge has none */
    if (!(fw > 0 && fh > 0) || fx >= im->width || fy >= im->height)
        return 0;
    *x = (int)fx;
    *y = (int)fy;
    *w = (int)fw;
    *h = (int)fh;
    return 1;
}

fr_status fr_landmark68_input(const fr_image *im, const fr_face *face, uint8_t *out,
                              fr_landmark68_frame *frame)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0)
        return fr_fail(FR_E_INVALID, "landmarks: empty image");
    int x, y, w, h;
    if (!clip_box(im, face, &x, &y, &w, &h))
        return fr_fail(FR_E_NO_FACE, "landmarks: the face box (%.1f, %.1f, %.1f, %.1f) is outside "
                       "the image", face->box[0], face->box[1], face->box[2], face->box[3]);
    frame->box_x = face->box[0];
    frame->box_y = face->box[1];
    frame->crop_w = w;
    frame->crop_h = h;
    uint8_t *crop = fr_malloc((size_t)w * (size_t)h * 3, "a face crop");
    if (!crop)
        return FR_E_NOMEM;
    for (int r = 0; r < h; r++)
        memcpy(crop + (size_t)r * w * 3, im->pixels + ((size_t)(y + r) * im->width + (size_t)x) * 3,
               (size_t)w * 3);
    fr_status st = fr_resize_faceapi(crop, w, h, out, FR_LANDMARK68_SIZE);
    free(crop);
    return st;
}

void fr_landmark68_map(const fr_landmark68_frame *f, const float *o, fr_landmarks68 *out)
{
    /* postProcess: the crop's dimensions scaled to the input, and half their difference as
     * the padding of the shorter side (face-api's figure, even where padToSquare put the odd
     * pixel at the end); then FaceLandmarks: relative position x (w, h) + the box's corner */
    double size = FR_LANDMARK68_SIZE, w = f->crop_w, h = f->crop_h;
    double scale = size / fmax(w, h), ws = w * scale, hs = h * scale;
    double pad_x = ws < hs ? fabs(ws - hs) / 2 : 0, pad_y = hs < ws ? fabs(ws - hs) / 2 : 0;
    for (int k = 0; k < FR_LANDMARK68_COUNT; k++) {
        double rx = ((double)o[2 * k] * size - pad_x) / ws;
        double ry = ((double)o[2 * k + 1] * size - pad_y) / hs;
        out->points[k][0] = (float)(rx * w + f->box_x);
        out->points[k][1] = (float)(ry * h + f->box_y);
    }
}

void fr_landmarker_free(fr_landmarker *lm)
{
    if (!lm)
        return;
    fr_runner_free(lm->runner);
    free(lm->inputs);
    free(lm->outputs);
    free(lm->frames);
    free(lm);
}

fr_status fr_landmarker_new(const fr_model *net, const fr_runner_options *options,
                            fr_landmarker **out)
{
    if (strcmp(fr_model_get_info(net)->arch, "landmark68") != 0)
        return fr_fail(FR_E_INVALID, "landmarker: a %s model is not the landmark network",
                       fr_model_get_info(net)->arch);
    fr_landmarker *lm = fr_calloc(1, sizeof *lm, "a landmark detector");
    if (!lm)
        return FR_E_NOMEM;
    fr_runner_options o = options ? *options : (fr_runner_options){0};
    if (o.max_batch <= 0)
        o.max_batch = DEFAULT_BATCH;
    fr_status st = fr_runner_new(net, &o, &lm->runner);
    /* On the CPU one face a run: a face's landmarks then never depend on the faces it came
     * with (the GEMMs' blocking follows the batch, moving points by ~3e-5 px, enough to flip a
     * truncated chip pixel), so `detect --chips` and `embed` cut the same chip; it costs ~5%
     * (the 56x56 maps keep the GEMMs large). A GPU takes the batch. */
    if (!st && strcmp(fr_runner_backend(lm->runner), "cpu") == 0 && o.max_batch > 1) {
        fr_runner_free(lm->runner);
        lm->runner = NULL;
        o.max_batch = 1;
        st = fr_runner_new(net, &o, &lm->runner);
    }
    if (!st) {
        lm->batch = fr_runner_max_batch(lm->runner);
        size_t image = (size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3;
        lm->inputs = fr_malloc((size_t)lm->batch * image, "landmark inputs");
        lm->outputs = fr_malloc((size_t)lm->batch * FR_LANDMARK68_OUTPUTS * sizeof(float),
                                "landmark outputs");
        lm->frames = fr_calloc((size_t)lm->batch, sizeof *lm->frames, "landmark inputs");
        if (!lm->inputs || !lm->outputs || !lm->frames)
            st = FR_E_NOMEM;
    }
    if (st) {
        fr_landmarker_free(lm);
        return st;
    }
    *out = lm;
    return FR_OK;
}

fr_status fr_landmarker_run(fr_landmarker *lm, const fr_image *const *images,
                            const fr_face *const *faces, int n, fr_landmarks68 *out)
{
    size_t image = (size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3;
    for (int first = 0; first < n; first += lm->batch) {
        int k = n - first < lm->batch ? n - first : lm->batch;
        for (int i = 0; i < k; i++) {
            fr_status st = fr_landmark68_input(images[first + i], faces[first + i],
                                               lm->inputs + (size_t)i * image, &lm->frames[i]);
            if (st)
                return st;
        }
        fr_status st = fr_runner_run(lm->runner, lm->inputs, k, lm->outputs);
        if (st)
            return st;
        for (int i = 0; i < k; i++)
            fr_landmark68_map(&lm->frames[i], lm->outputs + (size_t)i * FR_LANDMARK68_OUTPUTS,
                              &out[first + i]);
    }
    return FR_OK;
}
