/*
 * test_align.c: the geometry of face chips and crops.
 *
 *   dlib chips: five landmarks placed by a known similarity transform (scaled 0.7, 1.3 and
 *     3.1 times, the last through the downsampled path, rotated, shifted) are drawn one at a
 *     time as Gaussian spots; in the chip each spot's centroid must land on its template
 *     point within 1 px, and mapping the landmarks through the chip transform must too.
 *     Outside the image the chip is black, as dlib's.
 *   Real faces: on LFW images, the landmarks MTCNN finds again on the chip lie where the
 *     chip transform took the original ones (a loose bound: two detections of one face).
 *   FaceNet crops: the box grown by margin / 2, clipped and truncated as numpy does it, then
 *     Pillow's bilinear resize.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/align.h"
#include "detect/detect.h"
#include "image/resize.h"
#include "testutil.h"

#define SIZE 150
#define PAD FR_DLIB_CHIP_PADDING

/* chip (c, r) -> image */
static void apply(const double m[6], double c, double r, double *x, double *y)
{
    *x = m[0] * c + m[1] * r + m[2];
    *y = m[3] * c + m[4] * r + m[5];
}

static void invert(const double m[6], double x, double y, double *c, double *r)
{
    double det = m[0] * m[4] - m[1] * m[3];
    double dx = x - m[2], dy = y - m[5];
    *c = (m[4] * dx - m[1] * dy) / det;
    *r = (-m[3] * dx + m[0] * dy) / det;
}

/* The landmarks of a face whose chip template is moved by scale, angle, shift. */
static fr_face placed_face(double scale, double angle, double tx, double ty)
{
    double t[5][2];
    fr_dlib_template(SIZE, PAD, t);
    fr_face f;
    memset(&f, 0, sizeof f);
    double co = cos(angle), si = sin(angle);
    for (int i = 0; i < 5; i++) {
        f.landmarks[i][0] = (float)(scale * (co * t[i][0] - si * t[i][1]) + tx);
        f.landmarks[i][1] = (float)(scale * (si * t[i][0] + co * t[i][1]) + ty);
    }
    f.score = 1;
    return f;
}

static void synthetic(double scale, double angle, double tx, double ty, int w, int h)
{
    fr_face face = placed_face(scale, angle, tx, ty);
    double t[5][2], m[6];
    fr_dlib_template(SIZE, PAD, t);
    fr_dlib_chip_transform(&face, SIZE, PAD, m);
    double worst_map = 0, worst_spot = 0;
    for (int i = 0; i < 5; i++) {
        double c, r;
        invert(m, face.landmarks[i][0], face.landmarks[i][1], &c, &r);
        worst_map = fmax(worst_map, hypot(c - t[i][0], r - t[i][1]));
    }
    fr_image im = {w, h, calloc((size_t)w * h, 3)};
    uint8_t *chip = malloc(SIZE * SIZE * 3);
    fr_align_scratch scratch = {0};
    double sigma = 1.5 * scale;
    for (int i = 0; i < 5; i++) {
        memset(im.pixels, 0, (size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double dx = x - face.landmarks[i][0], dy = y - face.landmarks[i][1];
                im.pixels[((size_t)y * w + x) * 3] =
                    (uint8_t)lrint(250 * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)));
            }
        CHECK_OK(fr_align_dlib(&im, &face, SIZE, PAD, &scratch, chip));
        double sum = 0, sc = 0, sr = 0;
        for (int r = 0; r < SIZE; r++)
            for (int c = 0; c < SIZE; c++) {
                double v = chip[((size_t)r * SIZE + c) * 3];
                sum += v;
                sc += v * c;
                sr += v * r;
            }
        CHECK(sum > 0);
        if (sum > 0)
            worst_spot = fmax(worst_spot, hypot(sc / sum - t[i][0], sr / sum - t[i][1]));
    }
    printf("scale %.1f, angle %.0f deg: landmarks map onto the template within %.3f px, spots "
           "land within %.3f px\n", scale, angle * 180 / M_PI, worst_map, worst_spot);
    CHECK(worst_map <= 1.0);
    CHECK(worst_spot <= 1.0);
    fr_align_scratch_free(&scratch);
    free(chip);
    fr_image_free(&im);
}

static void outside_is_black(void)
{
    /* a face in the top-left corner: the chip's top-left lies outside the image */
    fr_face face = placed_face(1.0, 0.0, -40, -40);
    fr_image im = {200, 200, malloc(200 * 200 * 3)};
    memset(im.pixels, 200, 200 * 200 * 3);
    uint8_t chip[SIZE * SIZE * 3];
    fr_align_scratch scratch = {0};
    CHECK_OK(fr_align_dlib(&im, &face, SIZE, PAD, &scratch, chip));
    double m[6], x, y;
    fr_dlib_chip_transform(&face, SIZE, PAD, m);
    apply(m, 0, 0, &x, &y);
    CHECK(x < 0 && y < 0);
    CHECK(chip[0] == 0 && chip[1] == 0 && chip[2] == 0);
    size_t centre = ((size_t)(SIZE - 1) * SIZE + SIZE - 1) * 3;
    CHECK(chip[centre] == 200);
    fr_align_scratch_free(&scratch);
    fr_image_free(&im);
}

static void real_faces(const char *data, const fr_mtcnn *mtcnn)
{
    static const char *files[] = {"Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
                                  "Boris_Becker/Boris_Becker_0002.jpg",
                                  "Monica_Seles/Monica_Seles_0001.jpg",
                                  "Li_Ka-shing/Li_Ka-shing_0001.jpg",
                                  "Teresa_Worbis/Teresa_Worbis_0001.jpg"};
    fr_detect_options opt = {0};
    opt.runner.device = FR_DEVICE_CPU;
    fr_detector *det;
    CHECK_OK(fr_detector_new(mtcnn, &opt, &det));
    if (fr_test_failures)
        return;
    fr_align_scratch scratch = {0};
    fr_image chip = {SIZE, SIZE, malloc(SIZE * SIZE * 3)};
    double worst = 0, mean = 0;
    int n = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/lfw_devtrain/images/%s", data, files[f]);
        fr_image im;
        fr_faces faces;
        CHECK_OK(fr_image_load(path, NULL, &im));
        CHECK_OK(fr_detector_run(det, &im, 1, &faces));
        int main_face = fr_faces_main(&faces, im.width, im.height);
        CHECK(main_face >= 0);
        if (main_face < 0) {
            fr_image_free(&im);
            continue;
        }
        fr_face face = faces.faces[main_face];
        double m[6];
        fr_dlib_chip_transform(&face, SIZE, PAD, m);
        CHECK_OK(fr_align_dlib(&im, &face, SIZE, PAD, &scratch, chip.pixels));
        fr_image_free(&im);
        fr_faces again;
        CHECK_OK(fr_detector_run(det, &chip, 1, &again));
        int k = fr_faces_main(&again, SIZE, SIZE);
        CHECK(k >= 0);
        if (k < 0)
            continue;
        for (int i = 0; i < 5; i++) {
            double c, r;
            invert(m, face.landmarks[i][0], face.landmarks[i][1], &c, &r);
            double d = hypot(again.faces[k].landmarks[i][0] - c, again.faces[k].landmarks[i][1] - r);
            worst = fmax(worst, d);
            mean += d;
            n++;
        }
    }
    mean /= n ? n : 1;
    printf("real faces: landmarks found again on the chip lie %.2f px (mean), %.2f px (worst) "
           "from where the transform took them\n", mean, worst);
    CHECK(n == 25);
    CHECK(mean <= 2.0);
    CHECK(worst <= 8.0);
    fr_image_free(&chip);
    fr_align_scratch_free(&scratch);
    fr_detector_free(det);
}

static void facenet_crop(void)
{
    fr_image im = {200, 180, malloc(200 * 180 * 3)};
    for (size_t i = 0; i < 200 * 180 * 3; i++)
        im.pixels[i] = (uint8_t)(i * 7 % 251);
    fr_face face;
    memset(&face, 0, sizeof face);
    float box[4] = {-10.7f, 20.2f, 150.9f, 190.5f};
    memcpy(face.box, box, sizeof box);
    /* numpy: int32(max(x1 - 16, 0)) = 0, int32(max(y1 - 16, 0)) = 4, int32(min(x2 + 16, 200)) =
     * 166, int32(min(y2 + 16, 180)) = 180: the crop img[4:180, 0:166] */
    int x0 = 0, y0 = 4, x1 = 166, y1 = 180, w = x1 - x0, h = y1 - y0;
    uint8_t *crop = malloc((size_t)w * h * 3), ours[160 * 160 * 3], expect[160 * 160 * 3];
    for (int y = 0; y < h; y++)
        memcpy(crop + (size_t)y * w * 3, im.pixels + ((size_t)(y0 + y) * 200 + x0) * 3, (size_t)w * 3);
    CHECK_OK(fr_resize_bilinear_pil(crop, w, h, expect, 160, 160));
    fr_align_scratch scratch = {0};
    CHECK_OK(fr_align_facenet(&im, &face, 160, 32, &scratch, ours));
    CHECK(memcmp(ours, expect, sizeof ours) == 0);
    /* a box that leaves nothing of the image */
    float gone[4] = {300, 300, 400, 400};
    memcpy(face.box, gone, sizeof gone);
    CHECK(fr_align_facenet(&im, &face, 160, 32, &scratch, ours) == FR_E_INVALID);
    fr_align_scratch_free(&scratch);
    free(crop);
    fr_image_free(&im);
}

int main(void)
{
    synthetic(1.3, 15 * M_PI / 180, 40, 25, 320, 300);
    synthetic(0.7, -20 * M_PI / 180, 60, 90, 240, 240);
    synthetic(3.1, 8 * M_PI / 180, 30, 20, 560, 560);
    outside_is_black();
    facenet_crop();
    char path[4096];
    snprintf(path, sizeof path, "%s/mtcnn.frw", fr_test_env("FACEREC_WEIGHTS"));
    fr_mtcnn *mtcnn;
    CHECK_OK(fr_mtcnn_load(path, &mtcnn));
    if (!fr_test_failures)
        real_faces(fr_test_env("FACEREC_DATA"), mtcnn);
    fr_mtcnn_free(mtcnn);
    return fr_test_finish("test_align");
}
