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
#include "runtime/backend.h"
#include "runtime/vision_math.h"

#define DEFAULT_BATCH 16
#define INPUT_BYTES ((size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3)

struct fr_landmarker {
    fr_exec *exec;
    int own_exec;
    fr_runner *runner;
    int batch;
    /* fr_landmarker_run's: per face of a call */
    fr_exec_buffer pixels, inputs, outputs; /* context memory (images only on a GPU) */
    fr_vision_image *images;
    fr_crop_job *regions;
    fr_landmark_frame *frames;
    float *host_outputs;
    size_t capacity;
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
fr_status fr_landmark68_region(int width, int height, const fr_face *face, fr_crop_job *region,
                               fr_landmark_frame *frame)
{
    double bx = face->box[0], by = face->box[1];
    double right = bx + ((double)face->box[2] - bx), bottom = by + ((double)face->box[3] - by);
    double cx = fmax(bx, 0), cy = fmax(by, 0);
    double cw = fmin(right - cx, width - cx), ch = fmin(bottom - cy, height - cy);
    double fx = floor(cx), fy = floor(cy), fw = floor(cw), fh = floor(ch);
    /* extractFaceTensors drops regions without pixels; a box past the far edge has none */
    if (!(fw > 0 && fh > 0) || fx >= width || fy >= height)
        return fr_fail(FR_E_NO_FACE, "landmarks: the face box (%.1f, %.1f, %.1f, %.1f) is outside "
                       "the image", face->box[0], face->box[1], face->box[2], face->box[3]);
    *region = (fr_crop_job){0, (int)fx, (int)fy, (int)fw, (int)fh};
    frame->box_x = face->box[0];
    frame->box_y = face->box[1];
    frame->crop_w = (int)fw;
    frame->crop_h = (int)fh;
    return FR_OK;
}

fr_status fr_landmark68_input(const fr_image *im, const fr_face *face, uint8_t *out,
                              fr_landmark_frame *frame)
{
    if (!im || !im->pixels || im->width <= 0 || im->height <= 0)
        return fr_fail(FR_E_INVALID, "landmarks: empty image");
    fr_crop_job r;
    fr_status st = fr_landmark68_region(im->width, im->height, face, &r, frame);
    if (st)
        return st;
    uint8_t *crop = fr_malloc((size_t)r.width * (size_t)r.height * 3, "a face crop");
    if (!crop)
        return FR_E_NOMEM;
    for (int y = 0; y < r.height; y++)
        memcpy(crop + (size_t)y * r.width * 3,
               im->pixels + ((size_t)(r.y + y) * im->width + (size_t)r.x) * 3, (size_t)r.width * 3);
    st = fr_resize_faceapi(crop, r.width, r.height, out, FR_LANDMARK68_SIZE);
    free(crop);
    return st;
}

void fr_landmark68_map(const fr_landmark_frame *f, const float *o, fr_landmarks68 *out)
{
    for (int k = 0; k < FR_LANDMARK68_COUNT; k++)
        fr_vm_landmark_point(f, o, k, FR_LANDMARK68_SIZE, &out->points[k][0], &out->points[k][1]);
}

void fr_landmarker_free(fr_landmarker *lm)
{
    if (!lm)
        return;
    fr_runner_free(lm->runner);
    if (lm->exec) {
        fr_exec_buffer_free(lm->exec, &lm->pixels);
        fr_exec_buffer_free(lm->exec, &lm->inputs);
        fr_exec_buffer_free(lm->exec, &lm->outputs);
        if (lm->own_exec)
            fr_exec_free(lm->exec);
    }
    free(lm->images);
    free(lm->regions);
    free(lm->frames);
    free(lm->host_outputs);
    free(lm);
}

fr_status fr_landmarker_new(const fr_model *net, const fr_runner_options *options, fr_exec *exec,
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
    fr_status st = FR_OK;
    lm->exec = exec;
    if (!exec) {
        st = fr_exec_new(FR_DEVICE_CPU, 1, &lm->exec);
        lm->own_exec = 1;
    }
    int cpu = !st && strcmp(fr_exec_backend(lm->exec), "cpu") == 0;
    o.device = cpu ? FR_DEVICE_CPU : FR_DEVICE_CUDA;
    /* On the CPU one face a run: a face's landmarks then never depend on the faces it came
     * with (the GEMMs' blocking follows the batch, moving points by ~3e-5 px, enough to flip a
     * truncated chip pixel), so `detect --chips` and `embed` cut the same chip; it costs ~5%
     * (the 56x56 maps keep the GEMMs large). A GPU takes the batch. */
    if (cpu)
        o.max_batch = 1;
    if (!st)
        st = fr_runner_new(net, &o, &lm->runner);
    if (st) {
        fr_landmarker_free(lm);
        return st;
    }
    lm->batch = fr_runner_max_batch(lm->runner);
    *out = lm;
    return FR_OK;
}

fr_status fr_landmarker_forward(fr_landmarker *lm, const uint8_t *inputs, int n, float *outputs)
{
    for (int first = 0; first < n; first += lm->batch) {
        int k = n - first < lm->batch ? n - first : lm->batch;
        fr_status st = fr_runner_run_on(lm->runner, lm->exec, inputs + (size_t)first * INPUT_BYTES,
                                        k, outputs + (size_t)first * FR_LANDMARK68_OUTPUTS);
        if (st)
            return st;
    }
    return FR_OK;
}

static fr_status ensure(fr_landmarker *lm, size_t n)
{
    if (n <= lm->capacity)
        return FR_OK;
    fr_vision_image *im = realloc(lm->images, n * sizeof *im);
    if (im)
        lm->images = im;
    fr_crop_job *r = realloc(lm->regions, n * sizeof *r);
    if (r)
        lm->regions = r;
    fr_landmark_frame *f = realloc(lm->frames, n * sizeof *f);
    if (f)
        lm->frames = f;
    float *o = realloc(lm->host_outputs, n * FR_LANDMARK68_OUTPUTS * sizeof *o);
    if (o)
        lm->host_outputs = o;
    if (!im || !r || !f || !o)
        return fr_fail(FR_E_NOMEM, "out of memory for the landmarks of %zu faces", n);
    lm->capacity = n;
    return FR_OK;
}

fr_status fr_landmarker_run(fr_landmarker *lm, const fr_image *const *images,
                            const fr_face *const *faces, int n, fr_landmarks68 *out)
{
    if (n <= 0)
        return FR_OK;
    fr_status st = ensure(lm, (size_t)n);
    int host = strcmp(fr_exec_backend(lm->exec), "cpu") == 0;
    size_t bytes = 0;
    for (int i = 0; i < n && !st; i++) {
        const fr_image *im = images[i];
        if (!im || !im->pixels || im->width <= 0 || im->height <= 0)
            return fr_fail(FR_E_INVALID, "landmarks: empty image");
        st = fr_landmark68_region(im->width, im->height, faces[i], &lm->regions[i], &lm->frames[i]);
        lm->regions[i].image = i;
        lm->images[i] = (fr_vision_image){im->pixels, im->width, im->height};
        bytes += (size_t)im->width * im->height * 3;
    }
    /* on a GPU the images go up first (each face's own: this is the host API) */
    if (!st && !host)
        st = fr_exec_reserve(lm->exec, &lm->pixels, bytes, "images");
    for (size_t i = 0, at = 0; i < (size_t)n && !st && !host; i++) {
        size_t size = (size_t)lm->images[i].width * lm->images[i].height * 3;
        st = fr_exec_upload(lm->exec, (uint8_t *)lm->pixels.data + at, images[i]->pixels, size);
        lm->images[i].pixels = (uint8_t *)lm->pixels.data + at;
        at += size;
    }
    if (!st)
        st = fr_exec_reserve(lm->exec, &lm->inputs, (size_t)n * INPUT_BYTES, "landmark inputs");
    if (!st)
        st = fr_exec_reserve(lm->exec, &lm->outputs,
                             (size_t)n * FR_LANDMARK68_OUTPUTS * sizeof(float), "landmark outputs");
    if (!st)
        st = fr_exec_ops(lm->exec)->landmark_crops(fr_exec_state(lm->exec), lm->images, n,
                                                   lm->regions, n, FR_LANDMARK68_SIZE,
                                                   lm->inputs.data);
    if (!st)
        st = fr_landmarker_forward(lm, lm->inputs.data, n, lm->outputs.data);
    if (!st)
        st = fr_exec_download(lm->exec, lm->host_outputs, lm->outputs.data,
                              (size_t)n * FR_LANDMARK68_OUTPUTS * sizeof(float));
    for (int i = 0; i < n && !st; i++)
        fr_landmark68_map(&lm->frames[i], lm->host_outputs + (size_t)i * FR_LANDMARK68_OUTPUTS,
                          &out[i]);
    return st;
}
