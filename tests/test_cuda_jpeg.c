/*
 * test_cuda_jpeg.c: nvJPEG decoding (image/gpu_decode.h) against libjpeg-turbo, the CPU path
 * and the reference, on the same bytes:
 *
 *   - random images encoded here by TurboJPEG (smooth gradients plus noise, never flat):
 *     4:4:4, 4:2:2, 4:2:0, 4:4:0, qualities 50..97, odd sizes from 9 x 17 to 1920 x 1080,
 *     restart markers; progressive (the hardware decoder refuses it: hybrid or CPU) and
 *     grayscale (always libjpeg-turbo: its gray-to-RGB is the CPU path's);
 *   - 48 real LFW photos, and the test images (CMYK, gray, PNG, empty, bombs);
 *   - damaged files: truncated at several points, bytes changed inside the scan, garbage
 *     (status and message must agree; where both decoders accept a changed scan, its
 *     pixels are not compared: what a bad code decodes to is neither decoder's contract);
 *   - a 4000 x 3000 (12 MP) photo-sized image decoded at reduced scale (min_side 600 -> 1/4),
 *     checked against libjpeg-turbo's DCT-scaled decode;
 *   - batches that mix all of these, through both entry points (device and host memory).
 *
 * Every input must get the CPU path's status, and on failure its exact one-line message
 * (nvJPEG's failures only hand an image to libjpeg-turbo). Images libjpeg-turbo decoded must be
 * bit-identical to fr_image_decode's. Images nvJPEG decoded differ by its IDCT (libjpeg-turbo's
 * accurate integer IDCT against nvJPEG's own) and chroma upsampling (libjpeg's "fancy"
 * triangle filter against nvJPEG's interpolation, or pixel replication where that flag is
 * unknown); the tolerance, per image, over all channels:
 *
 *   full scale     PSNR >= 34 dB and mean |difference| <= 2.0 (of 255)
 *   reduced scale  PSNR >= 28 dB (libjpeg-turbo's scaled IDCT against the hardware's)
 *
 * 34 dB is a root-mean-square difference of 5.1 levels: what a different upsampling filter
 * produces along sharp chroma edges of real photos, and far below JPEG's own error at quality
 * 75 (about 30-35 dB against the original). What matters to a user is checked too: the dlib
 * embedding of each LFW photo decoded by nvJPEG is within 0.02 (L2, normalized embeddings) of
 * the one decoded by libjpeg-turbo, below the fp16 network tolerance (docs/cuda.md, 3e-2).
 * Skipped (exit 77) without a GPU or without an nvJPEG library.
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/file.h"
#include "image/decode.h"
#include "image/gpu_decode.h"
#include "model/model_internal.h"
#include "testutil.h"

#define MAX_INPUTS 160
#define BATCH 24

typedef struct input {
    char name[96];
    uint8_t *data;
    size_t size;
    int reduced;    /* decoded with min_side (reduced scale expected) */
    int lfw;        /* a real photo: embeddings compared too */
    int damaged;    /* status and message must agree; pixels of a damaged scan need not */
} input;

static input inputs[MAX_INPUTS];
static int input_count;
static uint64_t rng = 77;

static void add(const char *name, uint8_t *data, size_t size, int reduced, int lfw)
{
    if (input_count == MAX_INPUTS) {
        free(data);
        return;
    }
    input *in = &inputs[input_count++];
    snprintf(in->name, sizeof in->name, "%s", name);
    in->data = data;
    in->size = size;
    in->reduced = reduced;
    in->lfw = lfw;
}

static void add_copy(const char *name, const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    add(name, copy, size, 0, 0);
}

/* Random smooth content: per-channel gradients and blobs plus noise. */
static uint8_t *random_image(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    float a[3], b[3], c[3], cx = fr_test_uniform(&rng, 0, (float)w),
                             cy = fr_test_uniform(&rng, 0, (float)h);
    for (int k = 0; k < 3; k++) {
        a[k] = fr_test_uniform(&rng, -1.5f, 1.5f);
        b[k] = fr_test_uniform(&rng, -1.5f, 1.5f);
        c[k] = fr_test_uniform(&rng, 40, 200);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                float r2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (float)(w * h + 1);
                float v = c[k] + a[k] * 120.0f * x / w + b[k] * 120.0f * y / h +
                          60.0f * expf(-8 * r2) + fr_test_uniform(&rng, -12, 12);
                p[((size_t)y * w + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static void add_encoded(const char *what, int w, int h, int subsamp, int quality, int flags,
                        int reduced)
{
    uint8_t *rgb = random_image(w, h);
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    int rc = tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &size, subsamp, quality, flags);
    CHECK(rc == 0);
    if (rc == 0) {
        uint8_t *copy = malloc(size);
        memcpy(copy, jpeg, size);
        char name[96];
        snprintf(name, sizeof name, "random %s %dx%d q%d", what, w, h, quality);
        add(name, copy, size, reduced, 0);
    }
    tjFree(jpeg);
    tjDestroy(tj);
    free(rgb);
}

static void add_file(const char *path, const char *name, int lfw)
{
    void *data;
    size_t size;
    if (fr_file_read(path, 1 << 28, &data, &size) != FR_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, fr_error_message());
        CHECK(0);
        return;
    }
    add(name, data, size, 0, lfw);
}

static void build_inputs(const char *data_dir)
{
    static const int sizes[][2] = {{250, 250}, {251, 187}, {17, 9}, {640, 480}, {1920, 1080},
                                   {33, 65}, {1023, 767}};
    static const int samps[] = {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440};
    static const char *samp_names[] = {"444", "422", "420", "440"};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int k = 0; k < 4; k++)
            add_encoded(samp_names[k], sizes[s][0], sizes[s][1], samps[k],
                        50 + (int)((s * 4 + (size_t)k) * 47 % 48), TJFLAG_ACCURATEDCT, 0);
    add_encoded("progressive 420", 320, 240, TJSAMP_420, 85, TJFLAG_PROGRESSIVE, 0);
    add_encoded("progressive 444", 99, 101, TJSAMP_444, 90, TJFLAG_PROGRESSIVE, 0);
    add_encoded("gray", 200, 150, TJSAMP_GRAY, 80, 0, 0);
    add_encoded("12 MP 420", 4000, 3000, TJSAMP_420, 88, 0, 1);
    add_encoded("12 MP 444", 3000, 4000, TJSAMP_444, 92, 0, 1);

    /* real photos: the first 48 LFW DevTrain images in name order */
    char list[600];
    snprintf(list, sizeof list, "%s/lfw_devtrain/images", data_dir);
    char command[800];
    snprintf(command, sizeof command, "find '%s' -name '*.jpg' | sort | head -n 48 > '%s/lfw.txt'",
             list, fr_test_tmpdir());
    CHECK(fr_test_system(command) == 0);
    snprintf(command, sizeof command, "%s/lfw.txt", fr_test_tmpdir());
    void *text;
    size_t size;
    if (fr_file_read(command, 1 << 20, &text, &size) == FR_OK) {
        char *cursor = text, *line;
        int lfw = 0;
        while ((line = fr_next_line(&cursor)) != NULL)
            if (*line) {
                const char *base = strrchr(line, '/');
                add_file(line, base ? base + 1 : line, 1);
                lfw++;
            }
        CHECK(lfw == 48);
        free(text);
    }
    static const char *test_images[] = {"gray.jpg", "cmyk.jpg", "empty.jpg", "gray.png",
                                        "bomb.jpg", "bomb.png"};
    for (size_t i = 0; i < sizeof test_images / sizeof test_images[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/tests/data/images/%s", fr_test_env("FACEREC_SOURCE_DIR"),
                 test_images[i]);
        add_file(path, test_images[i], 0);
    }
    /* damage: an LFW photo cut at several points, bytes changed in its scan, garbage */
    const input *photo = &inputs[input_count - (int)(sizeof test_images / sizeof test_images[0]) - 1];
    size_t cuts[] = {2, 200, photo->size / 3, photo->size / 2, photo->size - 2};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        char name[96];
        snprintf(name, sizeof name, "truncated at %zu", cuts[c]);
        add_copy(name, photo->data, cuts[c]);
    }
    for (int m = 0; m < 6; m++) {
        uint8_t *copy = malloc(photo->size);
        memcpy(copy, photo->data, photo->size);
        size_t at = photo->size / 2 + (size_t)m * 97;
        for (int b = 0; b < 4; b++)
            copy[at + (size_t)b * 13] ^= (uint8_t)(0x5a + m);
        char name[96];
        snprintf(name, sizeof name, "scan bytes changed at %zu", at);
        add(name, copy, photo->size, 0, 0);
        inputs[input_count - 1].damaged = 1;
    }
    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)fr_test_rand(&rng);
    garbage[0] = 0xFF, garbage[1] = 0xD8, garbage[2] = 0xFF;
    add_copy("garbage after a JPEG signature", garbage, sizeof garbage);
}

typedef struct stats {
    double psnr, mean_abs;
    int max_abs;
} stats;

static stats compare(const fr_image *a, const fr_image *b)
{
    size_t n = (size_t)a->width * a->height * 3;
    double sq = 0, abs_sum = 0;
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a->pixels[i] - (int)b->pixels[i];
        sq += (double)d * d;
        abs_sum += d < 0 ? -d : d;
        if (abs(d) > worst)
            worst = abs(d);
    }
    double mse = sq / (double)n;
    stats s = {mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99.0, abs_sum / (double)n, worst};
    return s;
}

static fr_model *dlib_model(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/dlib.frw", fr_test_env("FACEREC_WEIGHTS"));
    fr_model *m = NULL;
    if (fr_model_load(path, &m) != FR_OK) {
        fprintf(stderr, "dlib weights not loaded (%s): embedding check skipped\n",
                fr_error_message());
        return NULL;
    }
    return m;
}

/* The L2 distance between the normalized dlib embeddings of two decodes of one photo. */
static double embedding_distance(fr_model *m, fr_runner *r, const fr_image *a, const fr_image *b)
{
    size_t bytes = (size_t)m->info.input_size * m->info.input_size * 3;
    uint8_t *in = malloc(2 * bytes);
    float out[2 * 128];
    double d = 1e9;
    if (fr_model_prepare_image(m, a, in) == FR_OK && fr_model_prepare_image(m, b, in + bytes) == FR_OK &&
        fr_runner_run(r, in, 2, out) == FR_OK) {
        fr_l2_normalize(out, 2, 128);
        double s = 0;
        for (int i = 0; i < 128; i++)
            s += (double)(out[i] - out[128 + i]) * (out[i] - out[128 + i]);
        d = sqrt(s);
    }
    free(in);
    return d;
}

static void run_batches(int device_mode, fr_model *model, fr_runner *runner)
{
    static const char *by_name[] = {"failed", "hardware", "hybrid", "libjpeg-turbo"};
    int counts[4] = {0}, checked_embeddings = 0;
    double worst_psnr = 99, worst_reduced = 99, worst_embedding = 0, worst_mean = 0;
    /* one decoder per min_side setting: reduced inputs are decoded by their own */
    fr_gpu_decoder *decoders[2] = {NULL, NULL};
    for (int reduced = 0; reduced < 2; reduced++) {
        fr_gpu_decoder_options opt = {BATCH, FR_GPU_BACKEND_AUTO, {0, reduced ? 600 : 0}, 0};
        CHECK_OK(fr_gpu_decoder_new(&opt, &decoders[reduced]));
        if (!decoders[reduced]) {
            fr_gpu_decoder_free(decoders[0]);
            return;
        }
    }
    for (int first = 0; first < input_count; first += BATCH) {
        int n = input_count - first < BATCH ? input_count - first : BATCH;
        for (int reduced = 0; reduced < 2; reduced++) {
            fr_encoded enc[BATCH];
            int idx[BATCH], m = 0;
            for (int i = 0; i < n; i++)
                if (inputs[first + i].reduced == reduced) {
                    idx[m] = first + i;
                    enc[m++] = (fr_encoded){inputs[first + i].data, inputs[first + i].size,
                                            inputs[first + i].name};
                }
            if (!m)
                continue;
            fr_decode_options limits = {0, reduced ? 600 : 0};
            fr_image got[BATCH];
            fr_status status[BATCH];
            char errors[BATCH][256];
            fr_decoded_by by[BATCH];
            fr_gpu_decoder *d = decoders[reduced];
            if (device_mode) {
                fr_gpu_image dev[BATCH];
                CHECK_OK(fr_gpu_decode_device(d, enc, m, dev));
                for (int i = 0; i < m; i++) {
                    status[i] = dev[i].status;
                    by[i] = dev[i].by;
                    snprintf(errors[i], sizeof errors[i], "%s", dev[i].error);
                    got[i] = (fr_image){0};
                    if (!dev[i].status) {
                        size_t bytes = (size_t)dev[i].width * dev[i].height * 3;
                        got[i] = (fr_image){dev[i].width, dev[i].height, malloc(bytes)};
                        CHECK(cudaMemcpy(got[i].pixels, dev[i].pixels, bytes,
                                         cudaMemcpyDeviceToHost) == cudaSuccess);
                    }
                }
            } else {
                fr_gpu_image info[BATCH];
                CHECK_OK(fr_gpu_decode_host(d, enc, m, got, info));
                for (int i = 0; i < m; i++) {
                    status[i] = info[i].status;
                    by[i] = info[i].by;
                    snprintf(errors[i], sizeof errors[i], "%s", info[i].error);
                    CHECK(info[i].pixels == NULL);
                    if (!info[i].status)
                        CHECK(info[i].width == got[i].width && info[i].height == got[i].height);
                }
            }
            for (int i = 0; i < m; i++) {
                const input *in = &inputs[idx[i]];
                fr_image want;
                fr_status ws = fr_image_decode(in->data, in->size, in->name, &limits, &want);
                counts[by[i]]++;
                CHECK(status[i] == ws);
                if (status[i] != ws || ws != FR_OK) {
                    if (ws != FR_OK && strcmp(errors[i], fr_error_message()) != 0) {
                        fprintf(stderr, "%s: message '%s', CPU path '%s'\n", in->name, errors[i],
                                fr_error_message());
                        CHECK(0);
                    }
                    if (status[i] != ws)
                        fprintf(stderr, "%s: status %s (%s), CPU path %s\n", in->name,
                                fr_status_name(status[i]), by_name[by[i]], fr_status_name(ws));
                    if (!ws)
                        fr_image_free(&want);
                    fr_image_free(&got[i]);
                    continue;
                }
                CHECK(got[i].width == want.width && got[i].height == want.height);
                if (got[i].width == want.width && got[i].height == want.height) {
                    stats s = compare(&got[i], &want);
                    if (by[i] == FR_DECODED_CPU) {
                        CHECK(s.max_abs == 0);
                    } else if (in->damaged) {
                        /* decoded by both: which garbage a bad code yields is unspecified */
                    } else if (in->reduced) {
                        CHECK(s.psnr >= 28.0);
                        if (s.psnr < worst_reduced)
                            worst_reduced = s.psnr;
                    } else {
                        if (s.psnr < 34.0 || s.mean_abs > 2.0)
                            fprintf(stderr, "%s (%s): PSNR %.1f dB, mean |d| %.2f, max %d\n",
                                    in->name, by_name[by[i]], s.psnr, s.mean_abs, s.max_abs);
                        CHECK(s.psnr >= 34.0);
                        CHECK(s.mean_abs <= 2.0);
                        if (s.psnr < worst_psnr)
                            worst_psnr = s.psnr;
                        if (s.mean_abs > worst_mean)
                            worst_mean = s.mean_abs;
                    }
                    if (in->lfw && model && by[i] != FR_DECODED_CPU) {
                        double e = embedding_distance(model, runner, &got[i], &want);
                        CHECK(e <= 0.02);
                        if (e > worst_embedding)
                            worst_embedding = e;
                        checked_embeddings++;
                    }
                }
                fr_image_free(&want);
                fr_image_free(&got[i]);
            }
        }
    }
    printf("%s: %d inputs: %d hardware, %d hybrid, %d libjpeg-turbo, %d failed as on the CPU; "
           "nvJPEG vs libjpeg-turbo: worst PSNR %.1f dB (mean |d| <= %.2f), reduced scale %.1f "
           "dB; dlib embeddings of %d photos within %.4f\n",
           device_mode ? "device" : "host", input_count, counts[1], counts[2], counts[3],
           counts[0], worst_psnr, worst_mean, worst_reduced, checked_embeddings, worst_embedding);
    /* the test must have exercised the GPU, not only the fallback */
    CHECK(counts[FR_DECODED_HARDWARE] + counts[FR_DECODED_HYBRID] >= 40);
    printf("%s\n%s\n", fr_gpu_decoder_describe(decoders[0]), fr_gpu_decoder_describe(decoders[1]));
    fr_gpu_decoder_free(decoders[0]);
    fr_gpu_decoder_free(decoders[1]);
}

/* The inputs as the CPU path sees them, with or without a GPU: the set this test stands on is
 * what it says (so the run on a GPU machine cannot find it broken). */
static void check_inputs(void)
{
    int ok = 0, failed = 0, reduced = 0;
    for (int i = 0; i < input_count; i++) {
        fr_decode_options limits = {0, inputs[i].reduced ? 600 : 0};
        fr_image im;
        if (fr_image_decode(inputs[i].data, inputs[i].size, inputs[i].name, &limits, &im) == FR_OK) {
            ok++;
            reduced += inputs[i].reduced && im.width <= 1000 && im.height <= 1000;
            fr_image_free(&im);
        } else {
            failed++;
        }
    }
    /* the GPU decoder sizes its outputs by fr_jpeg_reduction: it must be the CPU path's */
    static const int min_sides[] = {0, 5, 100, 300, 600, 1500, 5000};
    int size_mismatches = 0;
    for (int i = 0; i < input_count; i++) {
        tjhandle tj = tjInitDecompress();
        int w = 0, h = 0, sub, cs;
        int header = tjDecompressHeader3(tj, inputs[i].data, (unsigned long)inputs[i].size, &w,
                                         &h, &sub, &cs) == 0 && w > 0 && h > 0;
        tjDestroy(tj);
        if (!header || (int64_t)w * h > 64 * 1024 * 1024 || strncmp(inputs[i].name, "random", 6))
            continue;
        for (size_t m = 0; m < sizeof min_sides / sizeof min_sides[0]; m++) {
            fr_decode_options o = {0, min_sides[m]};
            fr_image im;
            if (fr_image_decode(inputs[i].data, inputs[i].size, inputs[i].name, &o, &im))
                continue;
            int k = fr_jpeg_reduction(w, h, min_sides[m]), d = 1 << k;
            size_mismatches += im.width != (w + d - 1) / d || im.height != (h + d - 1) / d;
            fr_image_free(&im);
        }
    }
    CHECK(size_mismatches == 0);
    printf("%d inputs: %d decode on the CPU path (%d at reduced scale), %d fail there\n",
           input_count, ok, reduced, failed);
    CHECK(input_count == 28 + 5 + 48 + 6 + 5 + 6 + 1);
    CHECK(reduced == 2);
    CHECK(failed >= 5 + 2 + 1); /* truncations, empty and bombs, garbage */
}

int main(void)
{
    build_inputs(fr_test_env("FACEREC_DATA"));
    check_inputs();
    fr_gpu_decoder_options opt = {BATCH, FR_GPU_BACKEND_AUTO, {0, 0}, 0};
    fr_gpu_decoder *dec = NULL;
    fr_status st = fr_gpu_decoder_new(&opt, &dec);
    if (st == FR_E_DEVICE || st == FR_E_UNSUPPORTED) {
        char why[600];
        snprintf(why, sizeof why, "%s", fr_error_message());
        for (int i = 0; i < input_count; i++)
            free(inputs[i].data);
        if (fr_test_failures)
            return fr_test_finish("test_cuda_jpeg");
        fr_test_skip(why);
    }
    CHECK_OK(st);
    if (!dec)
        return fr_test_finish("test_cuda_jpeg");
    printf("%s\n", fr_gpu_decoder_describe(dec));
    fr_gpu_decoder_free(dec);
    dec = NULL;
    fr_model *model = dlib_model();
    fr_runner *runner = NULL;
    fr_runner_options ro = {FR_DEVICE_CPU, FR_PRECISION_FP32, 2, 0};
    if (model)
        CHECK_OK(fr_runner_new(model, &ro, &runner));
    run_batches(0, model, runner);
    run_batches(1, model, runner);

    /* a bad batch size is refused, not overrun */
    CHECK_OK(fr_gpu_decoder_new(&opt, &dec));
    if (dec) {
        fr_gpu_image img[1];
        CHECK(fr_gpu_decode_device(dec, NULL, BATCH + 1, img) == FR_E_INVALID);
        fr_gpu_decoder_free(dec);
    }
    fr_runner_free(runner);
    fr_model_free(model);
    for (int i = 0; i < input_count; i++)
        free(inputs[i].data);
    return fr_test_finish("test_cuda_jpeg");
}
