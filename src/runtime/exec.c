/*
 * exec.c: an execution context (vision.h): a backend's vision table bound to its state, the
 * same device choice as a runner's (runner.c), and growable buffers in its memory.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "runtime/vision.h"

struct fr_exec {
    const fr_vision_ops *ops;
    void *state;
};

fr_status fr_exec_new(fr_device device, int threads, fr_exec **out)
{
    const fr_vision_ops *ops = &fr_cpu_vision;
    if (device != FR_DEVICE_CPU) {
#ifdef FACEREC_HAVE_CUDA
        if (fr_cuda_device_count() > 0)
            ops = &fr_cuda_vision;
        else if (device == FR_DEVICE_CUDA)
            return fr_fail(FR_E_DEVICE, "--device cuda: no usable GPU");
#else
        if (device == FR_DEVICE_CUDA)
            return fr_fail(FR_E_DEVICE, "--device cuda: this build of facerec has no CUDA "
                           "backend (rebuild with the CUDA toolkit and cuDNN installed)");
#endif
    }
    fr_exec *e = fr_calloc(1, sizeof *e, "an execution context");
    if (!e)
        return FR_E_NOMEM;
    e->ops = ops;
    fr_status st = ops->open(threads, &e->state);
    if (st) {
        free(e);
        return st;
    }
    *out = e;
    return FR_OK;
}

void fr_exec_free(fr_exec *e)
{
    if (!e)
        return;
    e->ops->close(e->state);
    free(e);
}

const fr_vision_ops *fr_exec_ops(const fr_exec *e)
{
    return e->ops;
}

void *fr_exec_state(const fr_exec *e)
{
    return e->state;
}

const char *fr_exec_backend(const fr_exec *e)
{
    return e->ops->name;
}

fr_status fr_exec_reserve(fr_exec *e, fr_exec_buffer *buf, size_t bytes, const char *what)
{
    if (bytes <= buf->capacity && buf->data)
        return FR_OK;
    size_t cap = buf->capacity ? buf->capacity : 4096;
    while (cap < bytes) {
        if (cap > ((size_t)1 << 62))
            return fr_fail(FR_E_TOO_LARGE, "%zu bytes for %s", bytes, what);
        cap *= 2;
    }
    /* the old contents may still be read by work in flight */
    fr_status st = buf->data ? e->ops->sync(e->state) : FR_OK;
    if (st)
        return st;
    e->ops->release(e->state, buf->data);
    buf->data = NULL;
    buf->capacity = 0;
    st = e->ops->alloc(e->state, cap, &buf->data);
    if (st)
        return fr_fail(st, "%s: %s", what, fr_error_message());
    buf->capacity = cap;
    return FR_OK;
}

void fr_exec_buffer_free(fr_exec *e, fr_exec_buffer *buf)
{
    if (buf->data) {
        e->ops->sync(e->state);
        e->ops->release(e->state, buf->data);
    }
    buf->data = NULL;
    buf->capacity = 0;
}

fr_status fr_exec_upload(fr_exec *e, void *dst, const void *src, size_t bytes)
{
    return bytes ? e->ops->upload(e->state, dst, src, bytes) : FR_OK;
}

fr_status fr_exec_download(fr_exec *e, void *dst, const void *src, size_t bytes)
{
    return bytes ? e->ops->download(e->state, dst, src, bytes) : e->ops->sync(e->state);
}

fr_status fr_exec_sync(fr_exec *e)
{
    return e->ops->sync(e->state);
}
