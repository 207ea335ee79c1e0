/*
 * test_cuda_device.c: device choice as a user meets it, on whatever machine runs it.
 *
 * Without a usable GPU (this build machine, CI): --device cuda is refused with FR_E_DEVICE and
 * a message naming the reason, by the library and by the CLI (exit code 4, one line on
 * stderr), and --device auto runs on the CPU. With a GPU: auto picks CUDA, and cuda works.
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "testutil.h"

int main(void)
{
    char weights[4096], image[4096], cmd[20000], err[4200], out[4200];
    snprintf(weights, sizeof weights, "%s/dlib.frw", fr_test_env("FACEREC_WEIGHTS"));
    snprintf(image, sizeof image, "%s/happyhouse/database/younes.jpg", fr_test_env("FACEREC_DATA"));
    fr_model *model;
    CHECK_OK(fr_model_load(weights, &model));
    if (fr_test_failures)
        return fr_test_finish("test_cuda_device");
    int gpus = fr_cuda_device_count();
    char why[512];
    fr_status described = fr_cuda_describe(0, why, sizeof why);
    printf("GPUs: %d (%s)\n", gpus, why);
    CHECK(why[0] != '\0');

    fr_runner_options opt = {FR_DEVICE_AUTO, FR_PRECISION_DEFAULT, 4, 0};
    fr_runner *r = NULL;
    CHECK_OK(fr_runner_new(model, &opt, &r));
    if (r) {
        printf("--device auto: %s\n", fr_runner_backend(r));
        CHECK(strcmp(fr_runner_backend(r), gpus > 0 ? "cuda" : "cpu") == 0);
        fr_runner_free(r);
    }
    opt.device = FR_DEVICE_CUDA;
    r = NULL;
    fr_status st = fr_runner_new(model, &opt, &r);
    snprintf(err, sizeof err, "%s/err.txt", fr_test_tmpdir());
    snprintf(out, sizeof out, "%s/out.npy", fr_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' embed --device cuda --weights '%s' '%s' -o '%s' 2>'%s'",
             fr_test_env("FACEREC_BIN"), weights, image, out, err);
    int code = fr_test_system(cmd);
    void *data = NULL;
    size_t size = 0;
    CHECK_OK(fr_file_read(err, 1 << 20, &data, &size));
    char *text = calloc(size + 1, 1);
    if (text && data)
        memcpy(text, data, size);
    free(data);
    if (gpus > 0) {
        CHECK_OK(st);
        CHECK(described == FR_OK);
        if (code != 0)
            printf("facerec embed --device cuda: exit %d, stderr: %s", code, text ? text : "");
        CHECK(code == 0);
    } else {
        printf("--device cuda: %s\n", fr_error_message());
        CHECK(st == FR_E_DEVICE);
        CHECK(strstr(fr_error_message(), "no usable GPU") != NULL ||
              strstr(fr_error_message(), "no CUDA backend") != NULL);
        CHECK(described != FR_OK);
        printf("facerec embed --device cuda: exit %d, stderr: %s", code, text ? text : "");
        CHECK(code == 4);
        CHECK(text && (strstr(text, "no usable GPU") || strstr(text, "no CUDA backend")));
        CHECK(text && strchr(text, '\n') == text + strlen(text) - 1); /* one line */
    }
    free(text);
    fr_runner_free(r);
    fr_model_free(model);
    return fr_test_finish("test_cuda_device");
}
