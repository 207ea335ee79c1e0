/*
 * test_align_arcface.c: ArcFace chips against InsightFace's norm_crop (tests/ref/arcface:
 * scikit-image's Umeyama estimate, transcribed, and OpenCV's own warpAffine).
 *
 * Faces of real LFW images are found by MTCNN; their five landmarks go to both sides, and the
 * 112 x 112 chips must agree: OpenCV interpolates with coordinates rounded to 1/32 pixel and
 * 15-bit weights, so a pixel may differ where the image is steep; the bound is a mean
 * absolute difference under 0.25 levels and no pixel more than 4 apart (measured 0.096 and
 * 2). The chip-to-image mapping must take the template onto the landmarks up to the
 * least-squares residual (under 6 chip pixels on average per face; measured 3.8 at worst).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "detect/align.h"
#include "detect/mtcnn.h"
#include "testutil.h"

#define SIZE 112
#define FACES 5

static const double TEMPLATE[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014},
                                      {56.0252, 71.7366}, {41.5493, 92.3655},
                                      {70.7299, 92.2041}};

int main(void)
{
    static const char *files[FACES] = {"Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
                                       "Boris_Becker/Boris_Becker_0002.jpg",
                                       "Monica_Seles/Monica_Seles_0001.jpg",
                                       "Li_Ka-shing/Li_Ka-shing_0001.jpg",
                                       "Teresa_Worbis/Teresa_Worbis_0001.jpg"};
    const char *data = fr_test_env("FACEREC_DATA");
    const char *py = fr_test_env("FACEREC_PYTHON");
    const char *src = fr_test_env("FACEREC_SOURCE_DIR");
    const char *tmp = fr_test_tmpdir();
    char cmd[16384], path[4096];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, cv2, PIL' 2>/dev/null", py);
    if (fr_test_system(cmd) != 0)
        fr_test_skip("FACEREC_PYTHON lacks numpy, OpenCV or Pillow (scripts/setup.sh --tests)");
    snprintf(path, sizeof path, "%s/mtcnn.frw", fr_test_env("FACEREC_WEIGHTS"));
    fr_mtcnn *mtcnn;
    CHECK_OK(fr_mtcnn_load(path, &mtcnn));
    fr_detect_options opt = {0};
    opt.runner.device = FR_DEVICE_CPU;
    fr_detector *det = NULL;
    if (!fr_test_failures)
        CHECK_OK(fr_detector_new(mtcnn, &opt, &det));
    if (fr_test_failures)
        return fr_test_finish("test_align_arcface");
    fr_image chip = {SIZE, SIZE, malloc(SIZE * SIZE * 3)};
    double worst_mean = 0, worst_pixel = 0, worst_point = 0;
    for (int f = 0; f < FACES; f++) {
        snprintf(path, sizeof path, "%s/lfw_devtrain/images/%s", data, files[f]);
        fr_image im;
        fr_faces faces;
        CHECK_OK(fr_image_load(path, NULL, &im));
        CHECK_OK(fr_detector_run(det, &im, 1, &faces));
        int k = fr_faces_main(&faces, im.width, im.height, FR_FACE_CENTRAL);
        CHECK(k >= 0);
        if (k < 0) {
            fr_image_free(&im);
            continue;
        }
        double points[5][2];
        fr_face_points5(&faces.faces[k], NULL, points);
        CHECK_OK(fr_align_arcface(&im, points, SIZE, chip.pixels));
        fr_image_free(&im);

        char lm[4096], out[4096];
        snprintf(lm, sizeof lm, "%s/points%d.npy", tmp, f);
        snprintf(out, sizeof out, "%s/chip%d.npy", tmp, f);
        float pts[10];
        for (int i = 0; i < 10; i++)
            pts[i] = (float)points[i / 2][i % 2];
        size_t shape[3] = {1, 5, 2};
        CHECK_OK(fr_npy_save(lm, FR_NPY_F32, 3, shape, pts));
        snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/arcface/norm_crop.py' '%s' '%s' '%s'", py,
                 src, path, lm, out);
        CHECK(fr_test_system(cmd) == 0);
        fr_npy ref;
        CHECK_OK(fr_npy_load(out, &ref));
        if (fr_test_failures)
            break;
        CHECK(ref.count == (size_t)SIZE * SIZE * 3);
        double sum = 0, peak = 0;
        const uint8_t *r = ref.data;
        for (size_t i = 0; i < ref.count && i < (size_t)SIZE * SIZE * 3; i++) {
            double d = fabs((double)chip.pixels[i] - r[i]);
            sum += d;
            peak = fmax(peak, d);
        }
        worst_mean = fmax(worst_mean, sum / ((double)SIZE * SIZE * 3));
        worst_pixel = fmax(worst_pixel, peak);
        fr_npy_free(&ref);

        /* the chip-to-image mapping takes the template onto the landmarks, up to the
         * least-squares residual of five real points */
        double m[6], residual = 0;
        fr_arcface_chip_transform(points, SIZE, m);
        for (int i = 0; i < 5; i++)
            residual += hypot(m[0] * TEMPLATE[i][0] + m[1] * TEMPLATE[i][1] + m[2] - points[i][0],
                              m[3] * TEMPLATE[i][0] + m[4] * TEMPLATE[i][1] + m[5] -
                                  points[i][1]) / 5;
        worst_point = fmax(worst_point, residual / hypot(m[0], m[3]));
    }
    printf("arcface chips vs norm_crop (OpenCV): mean |diff| %.3f levels (worst face), worst "
           "pixel %.0f; template points mapped within %.2f px (mean, chip pixels) of the landmarks\n",
           worst_mean, worst_pixel, worst_point);
    CHECK(worst_mean < 0.25);
    CHECK(worst_pixel <= 4);
    CHECK(worst_point < 6);
    free(chip.pixels);
    fr_detector_free(det);
    fr_mtcnn_free(mtcnn);
    return fr_test_finish("test_align_arcface");
}
