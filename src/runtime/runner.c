/*
 * runner.c: a model bound to a backend: device choice, planning, batches. Batches in flight
 * (submit / collect) go to the backend where it takes them; otherwise each submit runs at
 * once into one of FR_BACKEND_IN_FLIGHT held output buffers and collect hands it over.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "runtime/backend.h"
#include "runtime/device.h"
#include "runtime/vision.h"
#include "model/model_internal.h"

struct fr_runner {
    const fr_model *model;
    const fr_backend *backend; /* NULL for the pixels model, which needs no network */
    void *state;
    int max_batch;
    /* batches in flight, oldest first: their sizes, and outputs held where run() made them */
    int pending_n[FR_BACKEND_IN_FLIGHT];
    long submitted, collected;
    float *held[FR_BACKEND_IN_FLIGHT]; /* max_batch x embedding_size, when emulating */
};

#ifdef FACEREC_HAVE_CUDA
int fr_cuda_runtime_device_count(void);
fr_status fr_cuda_runtime_describe(int index, char *buffer, size_t size);
#endif

int fr_cuda_compiled(void)
{
#ifdef FACEREC_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int fr_cuda_device_count(void)
{
#ifdef FACEREC_HAVE_CUDA
    return fr_cuda_runtime_device_count();
#else
    return 0;
#endif
}

fr_status fr_cuda_describe(int index, char *buffer, size_t size)
{
#ifdef FACEREC_HAVE_CUDA
    return fr_cuda_runtime_describe(index, buffer, size);
#else
    (void)index;
    snprintf(buffer, size, "this build has no CUDA backend");
    return fr_fail(FR_E_UNSUPPORTED, "this build of facerec has no CUDA backend (rebuild with "
                   "the CUDA toolkit and cuDNN installed)");
#endif
}

const char *fr_device_name(fr_device device)
{
    switch (device) {
    case FR_DEVICE_AUTO: return "auto";
    case FR_DEVICE_CPU: return "cpu";
    case FR_DEVICE_CUDA: return "cuda";
    }
    return "?";
}

const char *fr_precision_name(fr_precision precision)
{
    switch (precision) {
    case FR_PRECISION_DEFAULT: return "default";
    case FR_PRECISION_FP32: return "fp32";
    case FR_PRECISION_TF32: return "tf32";
    case FR_PRECISION_FP16: return "fp16";
    case FR_PRECISION_BF16: return "bf16";
    }
    return "?";
}

fr_status fr_device_resolve(fr_device requested, fr_device *out)
{
    switch (requested) {
    case FR_DEVICE_CPU:
        *out = FR_DEVICE_CPU;
        return FR_OK;
    case FR_DEVICE_AUTO:
        *out = fr_cuda_device_count() > 0 ? FR_DEVICE_CUDA : FR_DEVICE_CPU;
        return FR_OK;
    case FR_DEVICE_CUDA:
#ifdef FACEREC_HAVE_CUDA
        if (fr_cuda_device_count() > 0) {
            *out = FR_DEVICE_CUDA;
            return FR_OK;
        }
        char why[256];
        fr_cuda_describe(0, why, sizeof why);
        return fr_fail(FR_E_DEVICE, "--device cuda: no usable GPU (%s)", why);
#else
        return fr_fail(FR_E_DEVICE, "--device cuda: this build of facerec has no CUDA backend "
                       "(rebuild with the CUDA toolkit and cuDNN installed)");
#endif
    }
    return fr_fail(FR_E_INVALID, "unknown device %d", (int)requested);
}

static fr_status choose_backend(fr_device requested, const fr_backend **out)
{
    fr_device device;
    fr_status st = fr_device_resolve(requested, &device);
    if (st)
        return st;
#ifdef FACEREC_HAVE_CUDA
    *out = device == FR_DEVICE_CUDA ? &fr_cuda_backend : &fr_cpu_backend;
#else
    *out = &fr_cpu_backend;
#endif
    return FR_OK;
}

fr_status fr_runner_new(const fr_model *model, const fr_runner_options *options, fr_runner **out)
{
    fr_runner_options opt = options ? *options : (fr_runner_options){0};
    if (opt.max_batch <= 0)
        opt.max_batch = 64;
    if (opt.max_batch > 65536)
        return fr_fail(FR_E_INVALID, "batch size %d is over 65536", opt.max_batch);
    fr_runner *r = fr_calloc(1, sizeof *r, "a runner");
    if (!r)
        return FR_E_NOMEM;
    r->model = model;
    r->max_batch = opt.max_batch;
    if (model->graph) {
        fr_status st = choose_backend(opt.device, &r->backend);
        if (!st && opt.precision == FR_PRECISION_BF16 && r->backend != &fr_cpu_backend)
            st = fr_fail(FR_E_INVALID, "--precision bf16 is for the CPU (the CUDA backend "
                         "computes in fp32, tf32 or fp16): add --device cpu");
        if (!st)
            st = r->backend->plan(model->graph, &opt, &r->state);
        if (st) {
            free(r);
            return st;
        }
        r->max_batch = r->backend->max_batch(r->state);
    }
    if (!r->backend || !r->backend->submit) {
        size_t floats = (size_t)r->max_batch * (size_t)model->info.embedding_size;
        for (int i = 0; i < FR_BACKEND_IN_FLIGHT; i++)
            if (!(r->held[i] = fr_malloc(floats * sizeof(float), "embeddings in flight"))) {
                fr_runner_free(r);
                return FR_E_NOMEM;
            }
    }
    *out = r;
    return FR_OK;
}

void fr_runner_free(fr_runner *r)
{
    if (!r)
        return;
    if (r->backend)
        r->backend->release(r->state);
    for (int i = 0; i < FR_BACKEND_IN_FLIGHT; i++)
        free(r->held[i]);
    free(r);
}

const char *fr_runner_warning(const fr_runner *r)
{
    return r->backend && r->backend->warning ? r->backend->warning(r->state) : NULL;
}

const char *fr_runner_describe(fr_runner *r)
{
    const char *text = r->backend && r->backend->describe ? r->backend->describe(r->state) : NULL;
    return text ? text : "";
}

const char *fr_runner_backend(const fr_runner *r)
{
    return r->backend ? r->backend->name : "cpu";
}

fr_precision fr_runner_precision(const fr_runner *r)
{
    return r->backend ? r->backend->precision(r->state) : FR_PRECISION_FP32;
}

int fr_runner_max_batch(const fr_runner *r)
{
    return r->max_batch;
}

fr_status fr_runner_run(fr_runner *r, const uint8_t *inputs, int n, float *outputs)
{
    if (n < 0 || n > r->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (at most %d)", n, r->max_batch);
    if (n == 0)
        return FR_OK;
    if (r->backend)
        return r->backend->run(r->state, inputs, n, outputs);
    /* pixels: the prepared image itself, scaled to [0, 1] */
    size_t count = (size_t)n * (size_t)r->model->info.embedding_size;
    for (size_t i = 0; i < count; i++)
        outputs[i] = inputs[i] * (1.0f / 255.0f);
    return FR_OK;
}

fr_status fr_runner_run_on(fr_runner *r, fr_exec *exec, const uint8_t *inputs, int n,
                           float *outputs)
{
    const char *where = fr_exec_backend(exec);
    if (strcmp(where, fr_runner_backend(r)) != 0)
        return fr_fail(FR_E_INTERNAL, "a %s runner on a %s execution context",
                       fr_runner_backend(r), where);
    if (n < 0 || n > r->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (at most %d)", n, r->max_batch);
    if (n == 0)
        return FR_OK;
    if (r->backend && r->backend->run_on)
        return r->backend->run_on(r->state, fr_exec_state(exec), inputs, n, outputs);
    return fr_runner_run(r, inputs, n, outputs);
}

fr_status fr_runner_submit(fr_runner *r, const uint8_t *inputs, int n)
{
    if (r->submitted - r->collected >= FR_BACKEND_IN_FLIGHT)
        return fr_fail(FR_E_INTERNAL, "more than %d batches in flight", FR_BACKEND_IN_FLIGHT);
    if (n < 0 || n > r->max_batch)
        return fr_fail(FR_E_INVALID, "batch of %d images (at most %d)", n, r->max_batch);
    int slot = (int)(r->submitted % FR_BACKEND_IN_FLIGHT);
    fr_status st = FR_OK;
    if (n > 0) {
        if (r->backend && r->backend->submit)
            st = r->backend->submit(r->state, inputs, n);
        else
            st = fr_runner_run(r, inputs, n, r->held[slot]);
    }
    if (st)
        return st;
    r->pending_n[slot] = n;
    r->submitted++;
    return FR_OK;
}

fr_status fr_runner_collect(fr_runner *r, float *outputs, int *n)
{
    if (r->collected == r->submitted)
        return fr_fail(FR_E_INTERNAL, "no batch in flight to collect");
    int slot = (int)(r->collected % FR_BACKEND_IN_FLIGHT);
    int count = r->pending_n[slot];
    fr_status st = FR_OK;
    if (count > 0) {
        if (r->backend && r->backend->submit)
            st = r->backend->collect(r->state, outputs);
        else
            memcpy(outputs, r->held[slot],
                   (size_t)count * (size_t)r->model->info.embedding_size * sizeof(float));
    }
    r->collected++;
    if (st)
        return st;
    *n = count;
    return FR_OK;
}

fr_status fr_runner_benchmark(fr_runner *r, int n, int iterations, double *seconds)
{
    if (!r->backend || !r->backend->benchmark)
        return fr_fail(FR_E_UNSUPPORTED, "the %s backend has no device-resident benchmark",
                       fr_runner_backend(r));
    if (n < 1 || n > r->max_batch || iterations < 1)
        return fr_fail(FR_E_INVALID, "benchmark of batch %d x %d runs (batch at most %d)", n,
                       iterations, r->max_batch);
    return r->backend->benchmark(r->state, n, iterations, seconds);
}
