/*
 * chips.c: which chip a model takes, and cutting it (see chips.h); the geometry and the
 * samplers are detect/align.c's, the 68 landmarks detect/landmarks.c's.
 */
#include "detect/chips.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/align.h"

struct fr_chipper {
    fr_chip_spec spec;
    fr_landmarker *landmarker; /* chips from 68 landmarks only */
    fr_scratch scratch;
    fr_landmarks68 *points;    /* per face of a call */
    size_t point_cap;
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
    return FR_OK;
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

fr_status fr_chip_cut(const fr_chip_spec *spec, const fr_image *image, const fr_face *face,
                      const fr_landmarks68 *landmarks, fr_scratch *scratch, uint8_t *out)
{
    if (spec->kind == FR_CHIP_FACENET)
        return fr_align_facenet(image, face, spec->size, spec->margin, scratch, out);
    if (spec->kind == FR_CHIP_ARCFACE) {
        double points[5][2];
        fr_face_points5(face, spec->landmarks68 ? landmarks : NULL, points);
        return fr_align_arcface(image, points, spec->size, out);
    }
    if (spec->landmarks68)
        return fr_align_dlib68(image, landmarks, spec->size, spec->padding, scratch, out);
    return fr_align_dlib(image, face, spec->size, spec->padding, scratch, out);
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
    fr_scratch_free(&c->scratch);
    free(c->points);
    free(c);
}

fr_status fr_chipper_new(const fr_chip_spec *spec, const fr_model *landmark_net,
                         const fr_runner_options *runner, fr_chipper **out)
{
    if (spec->landmarks68 && !landmark_net)
        return fr_fail(FR_E_INVALID, "a %s needs the landmark network", fr_chip_spec_name(spec));
    fr_chipper *c = fr_calloc(1, sizeof *c, "a chip cutter");
    if (!c)
        return FR_E_NOMEM;
    c->spec = *spec;
    fr_status st = FR_OK;
    if (spec->landmarks68)
        st = fr_landmarker_new(landmark_net, runner, &c->landmarker);
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

fr_status fr_chipper_cut(fr_chipper *c, const fr_image *const *images,
                         const fr_face *const *faces, int n, uint8_t *const *out)
{
    if (n <= 0)
        return FR_OK;
    if (c->landmarker) {
        if ((size_t)n > c->point_cap) {
            fr_landmarks68 *p = realloc(c->points, (size_t)n * sizeof *p);
            if (!p)
                return fr_fail(FR_E_NOMEM, "out of memory for the landmarks of %d faces", n);
            c->points = p;
            c->point_cap = (size_t)n;
        }
        fr_status st = fr_landmarker_run(c->landmarker, images, faces, n, c->points);
        if (st)
            return st;
    }
    for (int i = 0; i < n; i++) {
        fr_status st = fr_chip_cut(&c->spec, images[i], faces[i],
                                   c->landmarker ? &c->points[i] : NULL, &c->scratch, out[i]);
        if (st)
            return st;
    }
    return FR_OK;
}
