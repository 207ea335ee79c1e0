/*
 * exec.c: an execution context (vision.h): a backend's vision table bound to its state, the
 * device resolved as everywhere (device.h), and growable buffers in its memory.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "runtime/device.h"
#include "runtime/vision.h"

struct fr_exec {
    const fr_vision_ops *ops;
    void *state;
};

fr_status fr_exec_new(fr_device device, int threads, fr_exec **out)
{
    fr_device resolved;
    fr_status st = fr_device_resolve(device, &resolved);
    if (st)
        return st;
    const fr_vision_ops *ops = &fr_cpu_vision;
#ifdef FACEREC_HAVE_CUDA
    if (resolved == FR_DEVICE_CUDA)
        ops = &fr_cuda_vision;
#endif
    fr_exec *e = fr_calloc(1, sizeof *e, "an execution context");
    if (!e)
        return FR_E_NOMEM;
    e->ops = ops;
    st = ops->open(threads, &e->state);
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
