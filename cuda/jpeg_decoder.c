/*
 * jpeg_decoder.c: image/gpu_decode.h on nvJPEG, loaded at run time (see nvjpeg_api.h).
 *
 * A call sorts its inputs by who decodes them (gpu_decode.h), decodes the libjpeg-turbo share
 * on the host first (so every output size is known), then lays all outputs out in one device
 * arena (grown when a batch needs more, never per image), enqueues one batched nvJPEG call
 * for the hardware share (with each image's reduced scale) and one for the hybrid share on
 * the decoder's stream, uploads the host-decoded images into their places, and waits. A
 * batched nvJPEG call that fails sends its whole share to libjpeg-turbo, whose verdict on
 * each file is final; the share's decoder is re-initialized for the next call.
 *
 * Reduced scale: the CPU path's own choice (fr_jpeg_reduction: the largest of 1/2, 1/4, 1/8
 * whose shorter side stays >= min_side), with the same output size, ceil(side / 2^k). The hardware
 * decoder reduces in its IDCT; the hybrid one cannot, so such images go to libjpeg-turbo's
 * DCT scaling, which is also what keeps a 24 MP photo from being decoded whole.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/error.h"
#include "image/decode.h"
#include "image/gpu_decode.h"
#include "nvjpeg_api.h"

#define ARENA_ALIGN 256

/* ---- the library, loaded once per process ------------------------------------------------ */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static nvj_api api;
static int api_ready;
static char api_error[512];
static char api_source[300];

static void load_library(void)
{
    const char *env = getenv("FACEREC_NVJPEG");
    if (env && (!strcmp(env, "off") || !strcmp(env, "0"))) {
        snprintf(api_error, sizeof api_error, "nvJPEG is off (FACEREC_NVJPEG=%s)", env);
        return;
    }
    const char *names[] = {env && *env ? env : NULL, "libnvjpeg.so.13", "libnvjpeg.so.12",
                           "libnvjpeg.so.11", "libnvjpeg.so"};
    void *lib = NULL;
    char tried[400] = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
        if (!names[i])
            continue;
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            snprintf(api_source, sizeof api_source, "%s", names[i]);
        } else {
            size_t len = strlen(tried);
            snprintf(tried + len, sizeof tried - len, "%s%s", len ? ", " : "", names[i]);
            if (env && *env && i == 0) /* the user's own path: say exactly why */
                snprintf(api_error, sizeof api_error, "FACEREC_NVJPEG=%s: %s", env, dlerror());
        }
    }
    if (!lib) {
        if (!api_error[0])
            snprintf(api_error, sizeof api_error, "no nvJPEG library found (tried %s; set "
                     "FACEREC_NVJPEG to its path)", tried);
        return;
    }
    struct {
        void **slot;
        const char *name;
        int optional;
    } symbols[] = {
        {(void **)&api.GetProperty, "nvjpegGetProperty", 0},
        {(void **)&api.CreateEx, "nvjpegCreateEx", 0},
        {(void **)&api.Destroy, "nvjpegDestroy", 0},
        {(void **)&api.GetHardwareDecoderInfo, "nvjpegGetHardwareDecoderInfo", 1},
        {(void **)&api.JpegStateCreate, "nvjpegJpegStateCreate", 0},
        {(void **)&api.JpegStateDestroy, "nvjpegJpegStateDestroy", 0},
        {(void **)&api.GetImageInfo, "nvjpegGetImageInfo", 0},
        {(void **)&api.DecodeBatchedInitialize, "nvjpegDecodeBatchedInitialize", 0},
        {(void **)&api.DecodeBatched, "nvjpegDecodeBatched", 0},
        {(void **)&api.DecodeBatchedEx, "nvjpegDecodeBatchedEx", 1},
        {(void **)&api.JpegStreamCreate, "nvjpegJpegStreamCreate", 0},
        {(void **)&api.JpegStreamDestroy, "nvjpegJpegStreamDestroy", 0},
        {(void **)&api.JpegStreamParseHeader, "nvjpegJpegStreamParseHeader", 0},
        {(void **)&api.DecodeBatchedSupported, "nvjpegDecodeBatchedSupported", 1},
        {(void **)&api.DecodeParamsCreate, "nvjpegDecodeParamsCreate", 1},
        {(void **)&api.DecodeParamsDestroy, "nvjpegDecodeParamsDestroy", 1},
        {(void **)&api.DecodeParamsSetOutputFormat, "nvjpegDecodeParamsSetOutputFormat", 1},
        {(void **)&api.DecodeParamsSetScaleFactor, "nvjpegDecodeParamsSetScaleFactor", 1},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot && !symbols[i].optional) {
            snprintf(api_error, sizeof api_error, "%s has no %s (too old an nvJPEG)",
                     api_source, symbols[i].name);
            dlclose(lib);
            return;
        }
    }
    api_ready = 1; /* the library stays loaded for the life of the process */
}

static const char *status_name(nvj_status s)
{
    static const char *names[] = {"success", "not initialized", "invalid parameter", "bad JPEG",
                                  "JPEG not supported", "allocator failure", "execution failed",
                                  "architecture mismatch", "internal error",
                                  "implementation not supported", "incomplete bitstream"};
    return s >= 0 && s < (int)(sizeof names / sizeof names[0]) ? names[s] : "unknown status";
}

/* ---- the decoder ------------------------------------------------------------------------- */

typedef enum route { ROUTE_CPU = 0, ROUTE_HARDWARE, ROUTE_HYBRID } route;

struct fr_gpu_decoder {
    fr_gpu_decoder_options opt;
    nvj_handle hw, hy;          /* the hardware backend's handle, the hybrid one's (or NULL) */
    nvj_state hw_state, hy_state;
    int hw_batch, hy_batch;     /* the batch size each state is initialized for (0: none) */
    unsigned engines, cores;
    nvj_jpeg_stream header;     /* a parsed header: may the hardware take this image? */
    nvj_params *params;         /* per hardware slot: output format and scale */
    int hw_scales;              /* the hardware share can be reduced (DecodeBatchedEx) */
    cudaStream_t stream;
    uint8_t *arena;             /* every output of a call, ARENA_ALIGN apart */
    size_t arena_bytes;
    /* per call, max_batch entries each */
    route *routes;
    int *scale;                 /* log2 of the reduction */
    size_t *offset;             /* into the arena */
    fr_image *host;             /* libjpeg-turbo's outputs */
    const unsigned char **data;
    size_t *lengths;
    nvj_image *dest;
    nvj_params *dest_params;
    int *which;
    long decoded[4], fallbacks;
    char text[768];
};

static fr_status nvj_fail(nvj_status s, const char *what)
{
    return fr_fail(FR_E_DEVICE, "nvJPEG %s failed: %s (%d)", what, status_name(s), s);
}

void fr_gpu_decoder_free(fr_gpu_decoder *d)
{
    if (!d)
        return;
    if (d->stream)
        cudaStreamSynchronize(d->stream);
    for (int i = 0; d->params && i < d->opt.max_batch; i++)
        if (d->params[i])
            api.DecodeParamsDestroy(d->params[i]);
    if (d->header)
        api.JpegStreamDestroy(d->header);
    if (d->hw_state)
        api.JpegStateDestroy(d->hw_state);
    if (d->hy_state)
        api.JpegStateDestroy(d->hy_state);
    if (d->hw)
        api.Destroy(d->hw);
    if (d->hy)
        api.Destroy(d->hy);
    if (d->arena)
        cudaFree(d->arena);
    if (d->stream)
        cudaStreamDestroy(d->stream);
    free(d->params);
    free(d->routes);
    free(d->scale);
    free(d->offset);
    free(d->host);
    free(d->data);
    free(d->lengths);
    free(d->dest);
    free(d->dest_params);
    free(d->which);
    free(d);
}

/* A handle of `backend` with the flags that bring it closest to libjpeg-turbo (strict
 * bitstream checks, interpolated chroma), dropping those this nvJPEG does not know. */
static nvj_status create_handle(nvj_backend backend, nvj_handle *out)
{
    static const unsigned flags[] = {
        NVJ_FLAGS_BITSTREAM_STRICT | NVJ_FLAGS_UPSAMPLING_WITH_INTERPOLATION,
        NVJ_FLAGS_BITSTREAM_STRICT, 0};
    nvj_status s = NVJ_NOT_INITIALIZED;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        *out = NULL;
        s = api.CreateEx(backend, NULL, NULL, flags[i], out);
        if (s == NVJ_SUCCESS)
            return s;
        if (s == NVJ_ARCH_MISMATCH || s == NVJ_JPEG_NOT_SUPPORTED ||
            s == NVJ_IMPLEMENTATION_NOT_SUPPORTED)
            return s; /* not this GPU's: no flag will change that */
    }
    return s;
}

fr_status fr_gpu_decoder_new(const fr_gpu_decoder_options *options, fr_gpu_decoder **out)
{
    fr_gpu_decoder_options opt = options ? *options : (fr_gpu_decoder_options){0};
    if (opt.max_batch <= 0)
        opt.max_batch = 64;
    if (opt.max_batch > 4096 || opt.limits.max_pixels < 0 || opt.limits.min_side < 0 ||
        opt.cpu_below_pixels < 0)
        return fr_fail(FR_E_INVALID, "GPU decoder: batch 1..4096 and non-negative limits");
    if (opt.limits.max_pixels == 0)
        opt.limits.max_pixels = FR_DEFAULT_MAX_PIXELS;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
        cudaError_t e = cudaGetLastError();
        return fr_fail(FR_E_DEVICE, "GPU JPEG decoding: no usable GPU (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    }
    pthread_once(&load_once, load_library);
    if (!api_ready)
        return fr_fail(FR_E_UNSUPPORTED, "GPU JPEG decoding: %s", api_error);

    fr_gpu_decoder *d = fr_calloc(1, sizeof *d, "the GPU JPEG decoder");
    if (!d)
        return FR_E_NOMEM;
    d->opt = opt;
    size_t n = (size_t)opt.max_batch;
    d->params = fr_calloc(n, sizeof *d->params, "the GPU JPEG decoder");
    d->routes = fr_calloc(n, sizeof *d->routes, "the GPU JPEG decoder");
    d->scale = fr_calloc(n, sizeof *d->scale, "the GPU JPEG decoder");
    d->offset = fr_calloc(n, sizeof *d->offset, "the GPU JPEG decoder");
    d->host = fr_calloc(n, sizeof *d->host, "the GPU JPEG decoder");
    d->data = fr_calloc(n, sizeof *d->data, "the GPU JPEG decoder");
    d->lengths = fr_calloc(n, sizeof *d->lengths, "the GPU JPEG decoder");
    d->dest = fr_calloc(n, sizeof *d->dest, "the GPU JPEG decoder");
    d->dest_params = fr_calloc(n, sizeof *d->dest_params, "the GPU JPEG decoder");
    d->which = fr_calloc(n, sizeof *d->which, "the GPU JPEG decoder");
    fr_status st = FR_OK;
    if (!d->params || !d->routes || !d->scale || !d->offset || !d->host || !d->data ||
        !d->lengths || !d->dest || !d->dest_params || !d->which)
        st = FR_E_NOMEM;
    if (!st) {
        cudaError_t e = cudaSetDevice(0);
        if (e == cudaSuccess)
            e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
        if (e != cudaSuccess)
            st = fr_cuda_fail_runtime(e, "creating the decoder's stream", __FILE__, __LINE__);
    }
    char no_hardware[160] = "";
    if (!st && opt.backend != FR_GPU_BACKEND_HYBRID) {
        nvj_status s = create_handle(NVJ_BACKEND_HARDWARE, &d->hw);
        if (s == NVJ_SUCCESS && api.DecodeBatchedSupported &&
            api.JpegStateCreate(d->hw, &d->hw_state) == NVJ_SUCCESS &&
            api.JpegStreamCreate(d->hw, &d->header) == NVJ_SUCCESS) {
            if (api.GetHardwareDecoderInfo)
                api.GetHardwareDecoderInfo(d->hw, &d->engines, &d->cores);
            d->hw_scales = api.DecodeBatchedEx && api.DecodeParamsCreate &&
                           api.DecodeParamsSetOutputFormat && api.DecodeParamsSetScaleFactor &&
                           api.DecodeParamsDestroy;
            for (size_t i = 0; d->hw_scales && i < n; i++)
                if (api.DecodeParamsCreate(d->hw, &d->params[i]) != NVJ_SUCCESS ||
                    api.DecodeParamsSetOutputFormat(d->params[i], NVJ_OUTPUT_RGBI) !=
                        NVJ_SUCCESS)
                    d->hw_scales = 0;
        } else {
            snprintf(no_hardware, sizeof no_hardware, "%s",
                     s != NVJ_SUCCESS ? status_name(s) : "no batched hardware decoding");
            if (d->header)
                api.JpegStreamDestroy(d->header);
            if (d->hw_state)
                api.JpegStateDestroy(d->hw_state);
            if (d->hw)
                api.Destroy(d->hw);
            d->header = NULL;
            d->hw_state = NULL;
            d->hw = NULL;
        }
        if (!d->hw && opt.backend == FR_GPU_BACKEND_HARDWARE)
            st = fr_fail(FR_E_UNSUPPORTED, "GPU JPEG decoding: this GPU has no JPEG engines "
                         "nvJPEG can use (%s)", no_hardware);
    }
    if (!st) {
        nvj_status s = create_handle(NVJ_BACKEND_DEFAULT, &d->hy);
        if (s == NVJ_SUCCESS)
            s = api.JpegStateCreate(d->hy, &d->hy_state);
        if (s != NVJ_SUCCESS) {
            if (d->hy)
                api.Destroy(d->hy);
            d->hy = NULL;
            d->hy_state = NULL;
            if (!d->hw)
                st = nvj_fail(s, "creating the hybrid decoder");
        }
    }
    if (st) {
        fr_gpu_decoder_free(d);
        return st;
    }
    int major = 0, minor = 0, patch = 0;
    api.GetProperty(MAJOR_VERSION, &major);
    api.GetProperty(MINOR_VERSION, &minor);
    api.GetProperty(PATCH_LEVEL, &patch);
    int len = snprintf(d->text, sizeof d->text, "nvJPEG %d.%d.%d (%s): ", major, minor, patch,
                       api_source);
    if (d->hw)
        len += snprintf(d->text + len, sizeof d->text - (size_t)len,
                        "hardware decoder, %u engines x %u cores%s", d->engines, d->cores,
                        d->hw_scales ? ", reduced scale" : "");
    else
        len += snprintf(d->text + len, sizeof d->text - (size_t)len, "no hardware decoder%s%s%s",
                        no_hardware[0] ? " (" : "", no_hardware, no_hardware[0] ? ")" : "");
    snprintf(d->text + len, sizeof d->text - (size_t)len, "%s", d->hy ? " + hybrid" : "");
    *out = d;
    return FR_OK;
}

const char *fr_gpu_decoder_describe(fr_gpu_decoder *d)
{
    char *end = strstr(d->text, "; decoded ");
    size_t len = end ? (size_t)(end - d->text) : strlen(d->text);
    snprintf(d->text + len, sizeof d->text - len,
             "; decoded %ld hardware, %ld hybrid, %ld libjpeg-turbo (%ld after an nvJPEG failure)",
             d->decoded[FR_DECODED_HARDWARE], d->decoded[FR_DECODED_HYBRID],
             d->decoded[FR_DECODED_CPU], d->fallbacks);
    return d->text;
}

/* Whether the file's end-of-image marker is among its last bytes. A file cut short has none,
 * and nvJPEG may decode what is there without complaint where libjpeg-turbo refuses it: such
 * files (and those with long trailing data, which are rare) go to libjpeg-turbo. */
static int ends_with_eoi(const unsigned char *p, size_t size)
{
    size_t from = size > 64 ? size - 64 : 0;
    for (size_t i = size - 1; i > from; i--)
        if (p[i - 1] == 0xFF && p[i] == 0xD9)
            return 1;
    return 0;
}

/* Where input i goes, and its output size. */
static void route_input(fr_gpu_decoder *d, const fr_encoded *in, int i, int *w, int *h)
{
    const unsigned char *p = in->data;
    d->routes[i] = ROUTE_CPU;
    d->scale[i] = 0;
    *w = *h = 0;
    if (!p || in->size < 3 || p[0] != 0xFF || p[1] != 0xD8 || p[2] != 0xFF)
        return; /* PNG, other formats, garbage: the CPU path's messages */
    if (!ends_with_eoi(p, in->size))
        return; /* truncated (or long trailing data): libjpeg-turbo says which */
    nvj_handle handle = d->hw ? d->hw : d->hy;
    int components = 0, widths[NVJ_MAX_COMPONENT] = {0}, heights[NVJ_MAX_COMPONENT] = {0};
    nvj_subsampling css;
    if (api.GetImageInfo(handle, p, in->size, &components, &css, widths, heights) != NVJ_SUCCESS ||
        components != 3 || widths[0] <= 0 || heights[0] <= 0)
        return; /* grayscale and CMYK convert the CPU path's way; bad headers get its errors */
    int64_t pixels = (int64_t)widths[0] * heights[0];
    if (pixels > d->opt.limits.max_pixels || pixels < d->opt.cpu_below_pixels)
        return; /* too large: refused with the CPU path's message */
    *w = widths[0];
    *h = heights[0];
    int k = fr_jpeg_reduction(*w, *h, d->opt.limits.min_side);
    int hardware = 0;
    if (d->hw && (k == 0 || d->hw_scales)) {
        int unsupported = 1;
        if (api.JpegStreamParseHeader(d->hw, p, in->size, d->header) == NVJ_SUCCESS &&
            api.DecodeBatchedSupported(d->hw, d->header, &unsupported) == NVJ_SUCCESS)
            hardware = unsupported == 0;
    }
    if (hardware) {
        d->routes[i] = ROUTE_HARDWARE;
        d->scale[i] = k;
    } else if (d->hy && k == 0) {
        d->routes[i] = ROUTE_HYBRID;
    }
}

static fr_status grow_arena(fr_gpu_decoder *d, size_t need)
{
    if (need <= d->arena_bytes)
        return FR_OK;
    FR_CUDA_CHECK(cudaStreamSynchronize(d->stream));
    if (d->arena)
        cudaFree(d->arena);
    d->arena = NULL;
    d->arena_bytes = 0;
    size_t bytes = need + need / 4; /* some room, so that a slightly larger batch fits */
    cudaError_t e = cudaMalloc((void **)&d->arena, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        d->arena = NULL;
        return fr_fail(FR_E_NOMEM, "GPU out of memory for %.1f MiB of decoded images",
                       (double)bytes / (1 << 20));
    }
    d->arena_bytes = bytes;
    return FR_OK;
}

/* One batched nvJPEG call over the inputs routed to r; FR_OK, or the share must go to the CPU. */
static int decode_share(fr_gpu_decoder *d, const fr_encoded *in, int n, route r,
                        fr_gpu_image *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (d->routes[i] != r)
            continue;
        d->which[m] = i;
        d->data[m] = in[i].data;
        d->lengths[m] = in[i].size;
        memset(&d->dest[m], 0, sizeof d->dest[m]);
        d->dest[m].channel[0] = d->arena + d->offset[i];
        d->dest[m].pitch[0] = (size_t)out[i].width * 3;
        if (r == ROUTE_HARDWARE && d->hw_scales) {
            d->dest_params[m] = d->params[m];
            if (api.DecodeParamsSetScaleFactor(d->params[m], d->scale[i]) != NVJ_SUCCESS)
                return 0;
        }
        m++;
    }
    if (m == 0)
        return 1;
    nvj_handle h = r == ROUTE_HARDWARE ? d->hw : d->hy;
    nvj_state state = r == ROUTE_HARDWARE ? d->hw_state : d->hy_state;
    int *initialized = r == ROUTE_HARDWARE ? &d->hw_batch : &d->hy_batch;
    if (*initialized != m) {
        if (api.DecodeBatchedInitialize(h, state, m, 1, NVJ_OUTPUT_RGBI) != NVJ_SUCCESS) {
            *initialized = 0;
            return 0;
        }
        *initialized = m;
    }
    nvj_status s = r == ROUTE_HARDWARE && d->hw_scales
                       ? api.DecodeBatchedEx(h, state, d->data, d->lengths, d->dest,
                                             d->dest_params, d->stream)
                       : api.DecodeBatched(h, state, d->data, d->lengths, d->dest, d->stream);
    if (s != NVJ_SUCCESS) {
        *initialized = 0; /* "also used to reset failed batches" */
        return 0;
    }
    return 1;
}

/* The shared body: outputs on the device; with `keep`, libjpeg-turbo's outputs stay on the
 * host in keep[i] (the caller wants host images) instead of being uploaded. */
static fr_status decode(fr_gpu_decoder *d, const fr_encoded *in, int n, fr_gpu_image *out,
                        fr_image *keep)
{
    if (n < 0 || n > d->opt.max_batch || (n > 0 && (!in || !out)))
        return fr_fail(FR_E_INVALID, "GPU decoder: batch of %d (planned for 1..%d)", n,
                       d->opt.max_batch);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        fr_gpu_image *o = &out[i];
        memset(o, 0, sizeof *o);
        d->host[i] = (fr_image){0};
        route_input(d, &in[i], i, &o->file_width, &o->file_height);
        int k = d->scale[i], div = 1 << k;
        o->width = (o->file_width + div - 1) / div;
        o->height = (o->file_height + div - 1) / div;
    }
    /* libjpeg-turbo's share first: its sizes are known only once decoded */
    for (int i = 0; i < n; i++) {
        if (d->routes[i] != ROUTE_CPU)
            continue;
        fr_gpu_image *o = &out[i];
        o->status = fr_image_decode(in[i].data, in[i].size, in[i].name, &d->opt.limits,
                                    &d->host[i]);
        if (o->status) {
            snprintf(o->error, sizeof o->error, "%s", fr_error_message());
            continue;
        }
        o->by = FR_DECODED_CPU;
        o->width = d->host[i].width;
        o->height = d->host[i].height;
        if (!o->file_width) { /* PNG, or a header nvJPEG would not read */
            o->file_width = o->width;
            o->file_height = o->height;
        }
    }
    for (int i = 0; i < n; i++) {
        if (out[i].status)
            continue;
        d->offset[i] = total;
        size_t bytes = (size_t)out[i].width * (size_t)out[i].height * 3;
        total += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    fr_status st = grow_arena(d, total ? total : ARENA_ALIGN);
    if (st)
        goto done;
    for (int i = 0; i < n; i++)
        if (!out[i].status)
            out[i].pixels = d->arena + d->offset[i];
    route shares[2] = {ROUTE_HARDWARE, ROUTE_HYBRID};
    for (int s = 0; s < 2; s++) {
        if (decode_share(d, in, n, shares[s], out))
            continue;
        for (int i = 0; i < n; i++) /* the whole share to libjpeg-turbo */
            if (d->routes[i] == shares[s]) {
                d->routes[i] = ROUTE_CPU;
                d->fallbacks++;
                fr_gpu_image *o = &out[i];
                o->status = fr_image_decode(in[i].data, in[i].size, in[i].name, &d->opt.limits,
                                            &d->host[i]);
                if (o->status) {
                    snprintf(o->error, sizeof o->error, "%s", fr_error_message());
                    o->pixels = NULL;
                } else if (d->host[i].width != o->width || d->host[i].height != o->height) {
                    st = fr_fail(FR_E_INTERNAL, "%s: decoded %d x %d, expected %d x %d",
                                 in[i].name, d->host[i].width, d->host[i].height, o->width,
                                 o->height);
                    goto done;
                }
            }
    }
    for (int i = 0; i < n; i++) {
        fr_gpu_image *o = &out[i];
        if (o->status)
            continue;
        if (d->routes[i] == ROUTE_CPU) {
            o->by = FR_DECODED_CPU;
            if (!keep) {
                size_t bytes = (size_t)o->width * (size_t)o->height * 3;
                cudaError_t e = cudaMemcpyAsync(o->pixels, d->host[i].pixels, bytes,
                                                cudaMemcpyHostToDevice, d->stream);
                if (e != cudaSuccess) {
                    st = fr_cuda_fail_runtime(e, "uploading a decoded image", __FILE__,
                                              __LINE__);
                    goto done;
                }
            }
        } else {
            o->by = d->routes[i] == ROUTE_HARDWARE ? FR_DECODED_HARDWARE : FR_DECODED_HYBRID;
        }
    }
    {
        cudaError_t e = cudaStreamSynchronize(d->stream);
        if (e != cudaSuccess) {
            st = fr_cuda_fail_runtime(e, "nvJPEG decoding", __FILE__, __LINE__);
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        d->decoded[out[i].by]++;
        if (keep) {
            keep[i] = d->host[i];
            d->host[i] = (fr_image){0};
        }
    }
done:
    for (int i = 0; i < n; i++)
        fr_image_free(&d->host[i]);
    return st;
}

fr_status fr_gpu_decode_device(fr_gpu_decoder *d, const fr_encoded *inputs, int n,
                               fr_gpu_image *out)
{
    return decode(d, inputs, n, out, NULL);
}

fr_status fr_gpu_decode_host(fr_gpu_decoder *d, const fr_encoded *inputs, int n, fr_image *out,
                             fr_gpu_image *info)
{
    if (n < 0 || n > d->opt.max_batch || (n > 0 && (!out || !info)))
        return fr_fail(FR_E_INVALID, "GPU decoder: batch of %d (planned for 1..%d)", n,
                       d->opt.max_batch);
    fr_image *kept = fr_calloc((size_t)(n ? n : 1), sizeof *kept, "decoded images");
    if (!kept)
        return FR_E_NOMEM;
    fr_status st = decode(d, inputs, n, info, kept);
    char why[256] = "";
    if (st)
        snprintf(why, sizeof why, "%s", fr_error_message());
    for (int i = 0; i < n; i++) {
        fr_gpu_image *o = &info[i];
        const uint8_t *device_pixels = o->pixels;
        o->pixels = NULL;
        out[i] = (fr_image){0};
        if (st) { /* the decoder broke: every input says so */
            o->status = st;
            o->by = FR_DECODED_NONE;
            snprintf(o->error, sizeof o->error, "%s", why);
        }
        if (o->status) {
            fr_image_free(&kept[i]);
            continue;
        }
        if (kept[i].pixels) { /* decoded on the host: handed over as is */
            out[i] = kept[i];
            continue;
        }
        size_t bytes = (size_t)o->width * (size_t)o->height * 3;
        uint8_t *pixels = fr_malloc(bytes, inputs[i].name);
        cudaError_t e = pixels ? cudaMemcpy(pixels, device_pixels, bytes, cudaMemcpyDeviceToHost)
                               : cudaErrorMemoryAllocation;
        if (e != cudaSuccess) {
            free(pixels);
            o->status = pixels ? fr_cuda_fail_runtime(e, "downloading a decoded image", __FILE__,
                                                      __LINE__)
                               : FR_E_NOMEM;
            snprintf(o->error, sizeof o->error, "%s: %s", inputs[i].name, fr_error_message());
            o->by = FR_DECODED_NONE;
            continue;
        }
        out[i] = (fr_image){o->width, o->height, pixels};
    }
    free(kept);
    return st;
}
