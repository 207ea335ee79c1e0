/*
 * fuzz_detect.c: the MTCNN detector and the aligners on arbitrary decoded pixels: the first
 * two bytes give the image's width and height (12..139 pixels, so that one input stays a few
 * milliseconds), the rest its RGB bytes (repeated to fill). Every face must have a finite
 * box, score and landmarks, and every chip (dlib 150 px, FaceNet 160 px with a margin) must be
 * cut without error; the detector runs on the CPU with the repository's weights/mtcnn.frw.
 */
#include <math.h>

#include "core/alloc.h"
#include "detect/align.h"
#include "detect/detect.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static fr_mtcnn *mtcnn;
static fr_detector *detector;
static fr_scratch scratch;
static uint8_t chip[160 * 160 * 3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fr_detect_options options;
    memset(&options, 0, sizeof options);
    options.runner.device = FR_DEVICE_CPU;
    if (fr_mtcnn_load(FACEREC_SOURCE_DIR "/weights/mtcnn.frw", &mtcnn) != FR_OK ||
        fr_detector_new(mtcnn, &options, &detector) != FR_OK) {
        fprintf(stderr, "fuzz_detect: %s\n", fr_error_message());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int width = 12 + data[0] % 128, height = 12 + data[1] % 128;
    size_t bytes = (size_t)width * height * 3;
    fr_image image = {width, height, malloc(bytes)};
    if (!image.pixels)
        return 0;
    for (size_t i = 0; i < bytes; i++)
        image.pixels[i] = data[2 + i % (size - 2)];
    fr_faces faces;
    fr_status status = fr_detector_run(detector, &image, 1, &faces);
    if (status != FR_OK) {
        fuzz_check_error(status, NULL);
    } else {
        for (int f = 0; f < faces.count; f++) {
            const fr_face *face = &faces.faces[f];
            for (int k = 0; k < 4; k++)
                if (!isfinite(face->box[k]))
                    abort();
            for (int k = 0; k < 5; k++)
                if (!isfinite(face->landmarks[k][0]) || !isfinite(face->landmarks[k][1]))
                    abort();
            if (!(face->score >= 0 && face->score <= 1))
                abort();
            if (fr_align_dlib(&image, face, 150, 0.25, &scratch, chip) != FR_OK)
                abort();
            status = fr_align_facenet(&image, face, 160, 32, &scratch, chip);
            if (status != FR_OK && status != FR_E_INVALID)
                abort();
        }
        (void)fr_faces_main(&faces, width, height, FR_FACE_CENTRAL);
    }
    fr_image_free(&image);
    return 0;
}
