/*
 * chips.c: which chip a model takes, and cutting it (see chips.h); the geometry and the
 * samplers are detect/align.c's, the 68 landmarks detect/landmarks.c's.
 */
#include "detect/chips.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/vision.h"
#include "detect/align.h"

struct fr_chipper {
    fr_chip_spec spec;
    fr_exec *exec;
    int own_exec;
    fr_landmarker *landmarker;  /* chips from 68 landmarks only */
    fr_chip_template template;  /* their fit */
    /* context memory */
    fr_exec_buffer inputs, outputs; /* the landmark network's */
    fr_exec_buffer m;               /* chip-to-image mappings, 6 doubles per face */
    fr_exec_buffer pixels, chips;   /* fr_chipper_cut's images (GPU only) and chips */
    /* host tables, per face of a call */
    fr_crop_job *regions;
    fr_landmark_frame *frames;
    int *image_of;
    double *host_m;
    fr_vision_image *images;
    fr_chip_face *faces;
    size_t capacity;
};

const char *fr_align_name(fr_align_mode mode)
{
    switch (mode) {
    case FR_ALIGN_NONE: return "none";
    case FR_ALIGN_AUTO: return "auto";
    case FR_ALIGN_MTCNN: return "mtcnn";
    case FR_ALIGN_LANDMARKS68: return "landmarks68";
    }
    return "?";
}

/* `auto` for an architecture, and the one check of a mode against it. */
static fr_status resolve(const fr_arch *arch, fr_align_mode requested, fr_align_mode *out)
{
    fr_align_mode mode = requested;
    if (mode == FR_ALIGN_AUTO)
        mode = arch->landmarks68 ? FR_ALIGN_LANDMARKS68 : FR_ALIGN_MTCNN;
    if (mode == FR_ALIGN_LANDMARKS68 && arch->chip == FR_CHIP_FACENET)
        return fr_fail(FR_E_INVALID, "--align landmarks68 cuts chips from landmarks; the %s "
                       "model takes FaceNet's crop of the MTCNN box (--align mtcnn or auto)",
                       arch->name);
    *out = mode;
    return FR_OK;
}

fr_status fr_align_resolve(const fr_model *model, fr_align_mode requested, fr_align_mode *out)
{
    return resolve(model->entry, requested, out);
}

fr_status fr_align_parse(const char *name, fr_align_mode *out)
{
    static const fr_align_mode modes[] = {FR_ALIGN_NONE, FR_ALIGN_AUTO, FR_ALIGN_MTCNN,
                                          FR_ALIGN_LANDMARKS68};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(name, fr_align_name(modes[i])) == 0) {
            *out = modes[i];
            return FR_OK;
        }
    return fr_fail(FR_E_INVALID, "unknown alignment '%s' (none, auto, mtcnn, landmarks68)", name);
}

fr_status fr_chip_spec_check_detector(const fr_chip_spec *spec, fr_detector_kind detector)
{
    if (detector == FR_DETECTOR_MTCNN || detector == FR_DETECTOR_AUTO || spec->landmarks68)
        return FR_OK;
    return fr_fail(FR_E_INVALID, "--detector %s does not give MTCNN's own boxes and landmarks, "
                   "and a %s needs them (use --detector mtcnn, or --align landmarks68 for chips "
                   "from the 68 landmarks)", fr_detector_kind_name(detector),
                   fr_chip_spec_name(spec));
}

const char *fr_chip_spec_name(const fr_chip_spec *spec)
{
    if (spec->kind == FR_CHIP_FACENET)
        return "FaceNet crop of the MTCNN box";
    if (spec->kind == FR_CHIP_ARCFACE)
        return spec->landmarks68 ? "ArcFace chip from 5 of the 68 landmarks"
                                 : "ArcFace chip from MTCNN's 5 landmarks";
    return spec->landmarks68 ? "dlib chip from 68 landmarks" : "dlib chip from MTCNN's 5 landmarks";
}

fr_status fr_chip_spec_for(const fr_arch *arch, fr_align_mode mode, fr_chip_spec *out)
{
    if (mode == FR_ALIGN_NONE)
        return fr_fail(FR_E_INVALID, "--align none cuts no chip");
    fr_status st = resolve(arch, mode, &mode);
    if (st)
        return st;
    memset(out, 0, sizeof *out);
    out->kind = arch->chip;
    out->landmarks68 = arch->chip != FR_CHIP_FACENET && mode == FR_ALIGN_LANDMARKS68;
    out->size = arch->input_size;
    out->padding = FR_DLIB_CHIP_PADDING;
    /* FaceNet's margin is 32 at 160 pixels */
    out->margin = FR_FACENET_MARGIN * arch->input_size / 160;
    out->auto_tiny_size = out->landmarks68 ? arch->auto_tiny_size : 0;
    return FR_OK;
}

void fr_chip_spec_detector(const fr_chip_spec *spec, fr_detector_kind requested,
                           int requested_size, fr_detector_kind *kind, int *size)
{
    int auto_size = spec ? spec->auto_tiny_size : 0;
    *kind = requested != FR_DETECTOR_AUTO ? requested
            : auto_size > 0               ? FR_DETECTOR_TINY_MTCNN
                                          : FR_DETECTOR_MTCNN;
    *size = *kind == FR_DETECTOR_MTCNN ? 0
            : requested_size > 0       ? requested_size
            : requested == FR_DETECTOR_AUTO ? auto_size
                                            : FR_TINY_SIZE_DEFAULT;
}

fr_status fr_chip_load_landmarks(const fr_chip_spec *spec, const char *path, fr_model **out)
{
    *out = NULL;
    if (!spec->landmarks68)
        return FR_OK;
    char buffer[4096];
    if (!path) {
        fr_status st = fr_model_default_path("landmark68", buffer, sizeof buffer);
        if (st)
            return fr_fail(st, "chips from 68 landmarks need face-api's landmark network "
                           "(or --align mtcnn): %s", fr_error_message());
        path = buffer;
    }
    return fr_landmark68_load(path, out);
}

void fr_chip_transform(const fr_chip_spec *spec, const fr_face *face,
                       const fr_landmarks68 *landmarks, double m[6])
{
    if (spec->kind == FR_CHIP_ARCFACE) {
        double points[5][2];
        fr_face_points5(face, spec->landmarks68 ? landmarks : NULL, points);
        fr_arcface_chip_transform(points, spec->size, m);
    } else if (spec->landmarks68)
        fr_dlib_chip_transform68(landmarks, spec->size, spec->padding, m);
    else
        fr_dlib_chip_transform(face, spec->size, spec->padding, m);
}

void fr_chip_jitter(int size, const uint8_t *chip, uint64_t input, int face, int copy,
                    uint8_t *out)
{
    fr_jitter_chip(chip, size, fr_jitter_seed(input, face, copy), out);
}

void fr_chipper_free(fr_chipper *c)
{
    if (!c)
        return;
    fr_landmarker_free(c->landmarker);
    if (c->exec) {
        fr_exec_buffer *buffers[] = {&c->inputs, &c->outputs, &c->m, &c->pixels, &c->chips};
        for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
            fr_exec_buffer_free(c->exec, buffers[i]);
        if (c->own_exec)
            fr_exec_free(c->exec);
    }
    free(c->regions);
    free(c->frames);
    free(c->image_of);
    free(c->host_m);
    free(c->images);
    free(c->faces);
    free(c);
}

fr_status fr_chipper_new(const fr_chip_spec *spec, const fr_model *landmark_net,
                         const fr_runner_options *runner, fr_exec *exec, fr_chipper **out)
{
    if (spec->landmarks68 && !landmark_net)
        return fr_fail(FR_E_INVALID, "a %s needs the landmark network", fr_chip_spec_name(spec));
    if (spec->size < 8 || spec->size > 4096 || !(spec->padding >= 0 && spec->padding <= 4) ||
        spec->margin < 0 || spec->margin > 4096)
        return fr_fail(FR_E_INVALID, "face chip: bad geometry (size %d)", spec->size);
    fr_chipper *c = fr_calloc(1, sizeof *c, "a chip cutter");
    if (!c)
        return FR_E_NOMEM;
    c->spec = *spec;
    c->exec = exec;
    fr_status st = FR_OK;
    if (!exec) {
        st = fr_exec_new(FR_DEVICE_CPU, 1, &c->exec);
        c->own_exec = 1;
    }
    if (!st && spec->landmarks68) {
        st = fr_landmarker_new(landmark_net, runner, c->exec, &c->landmarker);
        c->template.size = spec->size;
        if (spec->kind == FR_CHIP_ARCFACE) { /* five of the 68, from all of them */
            c->template.fit = FR_FIT_ARCFACE;
            c->template.count = FR_LANDMARK68_COUNT;
            for (int k = 0; k < FR_LANDMARK68_COUNT; k++)
                c->template.index[k] = k;
        } else {
            c->template.fit = FR_FIT_DLIB;
            c->template.count = fr_dlib_template68(spec->size, spec->padding, c->template.index,
                                                   c->template.points);
        }
    }
    if (st) {
        fr_chipper_free(c);
        return st;
    }
    *out = c;
    return FR_OK;
}

const fr_chip_spec *fr_chipper_spec(const fr_chipper *c)
{
    return &c->spec;
}

static fr_status ensure(fr_chipper *c, size_t n)
{
    if (n <= c->capacity)
        return FR_OK;
    void **tables[] = {(void **)&c->regions, (void **)&c->frames, (void **)&c->image_of,
                       (void **)&c->host_m, (void **)&c->images, (void **)&c->faces};
    size_t elems[] = {sizeof(fr_crop_job), sizeof(fr_landmark_frame), sizeof(int),
                      6 * sizeof(double), sizeof(fr_vision_image), sizeof(fr_chip_face)};
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++) {
        void *p = realloc(*tables[i], n * elems[i]);
        if (!p)
            return fr_fail(FR_E_NOMEM, "out of memory for the chips of %zu faces", n);
        *tables[i] = p;
    }
    c->capacity = n;
    return FR_OK;
}

fr_status fr_chipper_cut_on(fr_chipper *c, const fr_vision_image *images, int nimages,
                            const fr_chip_face *faces, int n, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    const fr_vision_ops *ops = fr_exec_ops(c->exec);
    void *vs = fr_exec_state(c->exec);
    const fr_chip_spec *spec = &c->spec;
    fr_status st = ensure(c, (size_t)n);
    for (int i = 0; i < n && !st; i++) {
        const fr_vision_image *im = &images[faces[i].image];
        if (faces[i].image < 0 || faces[i].image >= nimages || !im->pixels || im->width <= 0 ||
            im->height <= 0)
            return fr_fail(FR_E_INVALID, "face chip: bad arguments");
        c->image_of[i] = faces[i].image;
        if (spec->kind == FR_CHIP_FACENET)
            st = fr_facenet_region(im->width, im->height, &faces[i].face, spec->margin,
                                   &c->regions[i]);
        else if (spec->landmarks68)
            st = fr_landmark68_region(im->width, im->height, &faces[i].face, &c->regions[i],
                                      &c->frames[i]);
        else /* from MTCNN's five: the mapping on the host, a few doubles */
            fr_chip_transform(spec, &faces[i].face, NULL, c->host_m + 6 * i);
        c->regions[i].image = faces[i].image;
    }
    if (st)
        return st;
    if (spec->kind == FR_CHIP_FACENET)
        return ops->facenet_crops(vs, images, nimages, c->regions, n, spec->size, out);
    size_t lm_in = (size_t)FR_LANDMARK68_SIZE * FR_LANDMARK68_SIZE * 3;
    st = fr_exec_reserve(c->exec, &c->m, (size_t)n * 6 * sizeof(double), "chip mappings");
    if (!st && spec->landmarks68) {
        st = fr_exec_reserve(c->exec, &c->inputs, (size_t)n * lm_in, "landmark inputs");
        if (!st)
            st = fr_exec_reserve(c->exec, &c->outputs,
                                 (size_t)n * FR_LANDMARK68_OUTPUTS * sizeof(float),
                                 "landmark outputs");
        if (!st)
            st = ops->landmark_crops(vs, images, nimages, c->regions, n, FR_LANDMARK68_SIZE,
                                     c->inputs.data);
        if (!st)
            st = fr_landmarker_forward(c->landmarker, c->inputs.data, n, c->outputs.data);
        if (!st)
            st = ops->landmark_transforms(vs, c->outputs.data, FR_LANDMARK68_SIZE, c->frames, n,
                                          &c->template, c->m.data);
    } else if (!st) {
        st = fr_exec_upload(c->exec, c->m.data, c->host_m, (size_t)n * 6 * sizeof(double));
    }
    fr_chip_sampler sampler = spec->kind == FR_CHIP_ARCFACE ? FR_SAMPLE_AFFINE : FR_SAMPLE_DLIB;
    if (!st)
        st = ops->warp_chips(vs, images, nimages, c->image_of, c->m.data, n, spec->size, sampler,
                             out);
    return st;
}

fr_status fr_chipper_cut(fr_chipper *c, const fr_image *const *images,
                         const fr_face *const *faces, int n, uint8_t *const *out)
{
    if (n <= 0)
        return FR_OK;
    size_t chip = (size_t)c->spec.size * c->spec.size * 3, bytes = 0;
    fr_status st = ensure(c, (size_t)n);
    int host = strcmp(fr_exec_backend(c->exec), "cpu") == 0;
    for (int i = 0; i < n && !st; i++) {
        const fr_image *im = images[i];
        if (!im || !im->pixels || im->width <= 0 || im->height <= 0)
            return fr_fail(FR_E_INVALID, "face chip: bad arguments");
        c->images[i] = (fr_vision_image){im->pixels, im->width, im->height};
        c->faces[i] = (fr_chip_face){i, *faces[i]};
        bytes += (size_t)im->width * im->height * 3;
    }
    /* on a GPU the images go up first (each face's own: this is the host API) */
    if (!st && !host)
        st = fr_exec_reserve(c->exec, &c->pixels, bytes, "images");
    for (size_t i = 0, at = 0; i < (size_t)n && !st && !host; i++) {
        size_t size = (size_t)images[i]->width * images[i]->height * 3;
        st = fr_exec_upload(c->exec, (uint8_t *)c->pixels.data + at, images[i]->pixels, size);
        c->images[i].pixels = (uint8_t *)c->pixels.data + at;
        at += size;
    }
    if (!st)
        st = fr_exec_reserve(c->exec, &c->chips, (size_t)n * chip, "face chips");
    if (!st)
        st = fr_chipper_cut_on(c, c->images, n, c->faces, n, c->chips.data);
    for (int i = 0; i < n && !st; i++)
        st = fr_exec_download(c->exec, out[i], (uint8_t *)c->chips.data + (size_t)i * chip, chip);
    return st;
}
