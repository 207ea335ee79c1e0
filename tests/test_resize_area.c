/*
 * test_resize_area.c: image/resize_area.c against OpenCV itself (cv2.resize, INTER_AREA;
 * tests/ref/opencv/area.py) on random images and sizes: shrinking by non-integer factors
 * (the MTCNN pyramid's 1 / 0.6, 1 / 0.709^k), by integer ones, enlarging (crops of small
 * boxes), one axis only, to 1 pixel.
 *
 *   8-bit: equal bytes where both axes shrink (OpenCV's own float sums, in its order);
 *          within 1 level where an axis enlarges (OpenCV's fixed-point bilinear there,
 *          computed here in float: a case MTCNN's 8-bit pyramid never meets)
 *   float: within 1e-3 of OpenCV's float64 result (facerec sums in float, as OpenCV does for
 *          8-bit images, where the reference's float64 crops sum in double)
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "image/resize_area.h"
#include "testutil.h"
#include "vision_cases.h"

#define CASES 48

int main(void)
{
    const char *source = fr_test_env("FACEREC_SOURCE_DIR");
    const char *python = fr_test_env("FACEREC_PYTHON");
    const char *dir = fr_test_tmpdir();
    uint64_t rng = 2024;
    int sizes[CASES][4];
    cJSON *cases = cJSON_CreateArray();
    for (int i = 0; i < CASES; i++) {
        int sw = 2 + (int)(fr_test_rand(&rng) % 400), sh = 2 + (int)(fr_test_rand(&rng) % 300);
        int dw, dh;
        switch (i % 6) {
        case 0: dw = (int)ceil(sw * 0.6), dh = (int)ceil(sh * 0.6); break;
        case 1:
            dw = (int)ceil(sw * 0.6 * pow(0.709, 1 + i % 7));
            dh = (int)ceil(sh * 0.6 * pow(0.709, 1 + i % 7));
            break;
        case 2: sw = sw / 2 * 2 + 2, sh = sh / 3 * 3 + 3, dw = sw / 2, dh = sh / 3; break;
        case 3: dw = 24, dh = 24; break;
        case 4: dw = 48, dh = sh; break;
        default: dw = 1 + (int)(fr_test_rand(&rng) % (unsigned)sw), dh = 1; break;
        }
        dw = dw < 1 ? 1 : dw;
        dh = dh < 1 ? 1 : dh;
        sizes[i][0] = sw, sizes[i][1] = sh, sizes[i][2] = dw, sizes[i][3] = dh;
        fr_image im = fr_case_image(&rng, sw, sh);
        char path[4200];
        size_t shape[3] = {(size_t)sh, (size_t)sw, 3};
        snprintf(path, sizeof path, "%s/case_%03d_src.npy", dir, i);
        CHECK_OK(fr_npy_save(path, FR_NPY_U8, 3, shape, im.pixels));
        fr_image_free(&im);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(dw));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(dh));
        cJSON_AddItemToArray(cases, pair);
    }
    char *text = cJSON_PrintUnformatted(cases);
    char path[4200], cmd[9000];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    free(text);
    cJSON_Delete(cases);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/opencv/area.py' '%s'", python, source, dir);
    int rc = fr_test_system(cmd);
    if (rc == 77)
        fr_test_skip("OpenCV's reference needs numpy and python3-opencv");
    CHECK(rc == 0);
    fr_scratch scratch = {0};
    int exact_bad = 0, enlarge_bad = 0;
    double worst_float = 0;
    for (int i = 0; i < CASES && rc == 0; i++) {
        int sw = sizes[i][0], sh = sizes[i][1], dw = sizes[i][2], dh = sizes[i][3];
        fr_npy src, cv, cv64;
        snprintf(path, sizeof path, "%s/case_%03d_src.npy", dir, i);
        CHECK_OK(fr_npy_load(path, &src));
        snprintf(path, sizeof path, "%s/case_%03d_cv.npy", dir, i);
        CHECK_OK(fr_npy_load(path, &cv));
        snprintf(path, sizeof path, "%s/case_%03d_cv64.npy", dir, i);
        CHECK_OK(fr_npy_load(path, &cv64));
        size_t n = (size_t)dw * dh * 3;
        uint8_t *ours = malloc(n);
        float *ours_f = malloc(n * sizeof *ours_f);
        CHECK_OK(fr_resize_area_u8(src.data, sw, sh, ours, dw, dh, &scratch));
        CHECK_OK(fr_resize_area_f32(src.data, (size_t)sw * 3, sw, sh, ours_f, dw, dh, &scratch));
        int enlarges = dw > sw || dh > sh;
        const uint8_t *want = cv.data;
        const float *want_f = cv64.data;
        for (size_t k = 0; k < n; k++) {
            int d = abs((int)ours[k] - (int)want[k]);
            if (enlarges ? d > 1 : d != 0) {
                if (enlarges)
                    enlarge_bad++;
                else
                    exact_bad++;
            }
            worst_float = fmax(worst_float, fabs(ours_f[k] - want_f[k]));
        }
        free(ours);
        free(ours_f);
        fr_npy_free(&src);
        fr_npy_free(&cv);
        fr_npy_free(&cv64);
    }
    printf("%d cases against cv2.resize(INTER_AREA): %d bytes differ where shrinking, %d by more "
           "than 1 where enlarging; float: worst %.2g against float64\n",
           CASES, exact_bad, enlarge_bad, worst_float);
    CHECK(exact_bad == 0 && enlarge_bad == 0 && worst_float <= 1e-3);
    fr_scratch_free(&scratch);
    return fr_test_finish("test_resize_area");
}
