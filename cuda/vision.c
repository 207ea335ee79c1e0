/*
 * vision.c: the vision operations' table for CUDA (runtime/vision.h): an execution context is
 * one non-blocking stream on GPU 0. The host tables of an operation (images, jobs, segments,
 * copies, frames, the chip template) are packed into one of TABLE_SLOTS pinned staging slots
 * and uploaded on the stream just before the kernels that read them, each slot with a device
 * copy of its own, so the host can queue several operations ahead; a slot is rewritten only
 * after its last upload is done (an event). Counts come back through pinned memory after a
 * wait on the stream: the only round trips of the detector's chain.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/error.h"
#include "runtime/vision.h"
#include "vision.h"
#include "vision_kernels.h"

#define TABLE_SLOTS 8
#define TABLE_PARTS 3
#define TABLE_ALIGN 256

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fr_status try_status_ = (expr);                                                        \
        if (try_status_ != FR_OK)                                                              \
            return try_status_;                                                                \
    } while (0)

typedef struct table_slot {
    char *host, *device; /* pinned, and its device copy */
    size_t capacity;
    cudaEvent_t uploaded;
    int used;
} table_slot;

typedef struct cuda_vision {
    cudaStream_t stream;
    table_slot slots[TABLE_SLOTS];
    int next_slot;
    int *host_counts, *device_counts; /* counts (and the warp's degenerate flag) */
    size_t count_capacity;
    void *nms_scratch;
    size_t nms_bytes;
} cuda_vision;

cudaStream_t fr_cuda_vision_stream(void *state)
{
    return ((cuda_vision *)state)->stream;
}

static void cv_close(void *state)
{
    cuda_vision *v = state;
    if (!v)
        return;
    if (v->stream)
        cudaStreamSynchronize(v->stream);
    for (int i = 0; i < TABLE_SLOTS; i++) {
        table_slot *t = &v->slots[i];
        if (t->host)
            cudaFreeHost(t->host);
        if (t->device)
            cudaFree(t->device);
        if (t->uploaded)
            cudaEventDestroy(t->uploaded);
    }
    if (v->host_counts)
        cudaFreeHost(v->host_counts);
    if (v->device_counts)
        cudaFree(v->device_counts);
    if (v->nms_scratch)
        cudaFree(v->nms_scratch);
    if (v->stream)
        cudaStreamDestroy(v->stream);
    free(v);
}

static fr_status open_state(cuda_vision *v)
{
    FR_CUDA_CHECK(cudaSetDevice(0));
    FR_CUDA_CHECK(cudaStreamCreateWithFlags(&v->stream, cudaStreamNonBlocking));
    for (int i = 0; i < TABLE_SLOTS; i++)
        FR_CUDA_CHECK(cudaEventCreateWithFlags(&v->slots[i].uploaded, cudaEventDisableTiming));
    return FR_OK;
}

static fr_status cv_open(int threads, void **out)
{
    (void)threads;
    cuda_vision *v = fr_calloc(1, sizeof *v, "the CUDA vision operations");
    if (!v)
        return FR_E_NOMEM;
    fr_status st = open_state(v);
    if (st) {
        cv_close(v);
        return st;
    }
    *out = v;
    return FR_OK;
}

static fr_status cv_alloc(void *state, size_t bytes, void **ptr)
{
    (void)state;
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 256);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        *ptr = NULL;
        return fr_fail(FR_E_NOMEM, "GPU out of memory allocating %.1f MiB",
                       (double)bytes / (1 << 20));
    }
    FR_CUDA_CHECK(e);
    return FR_OK;
}

static void cv_release(void *state, void *ptr)
{
    (void)state;
    if (ptr)
        cudaFree(ptr);
}

static fr_status cv_sync(void *state)
{
    FR_CUDA_CHECK(cudaStreamSynchronize(((cuda_vision *)state)->stream));
    return FR_OK;
}

/* src may be reused once this returns: the copy is waited for */
static fr_status cv_upload(void *state, void *dst, const void *src, size_t bytes)
{
    cuda_vision *v = state;
    FR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, v->stream));
    return cv_sync(v);
}

static fr_status cv_download(void *state, void *dst, const void *src, size_t bytes)
{
    cuda_vision *v = state;
    FR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, v->stream));
    return cv_sync(v);
}

static size_t aligned(size_t bytes)
{
    return (bytes + TABLE_ALIGN - 1) / TABLE_ALIGN * TABLE_ALIGN;
}

/* Uploads up to TABLE_PARTS host tables through the next staging slot; device[i] gets where
 * part i lies on the device. */
static fr_status stage(cuda_vision *v, const void *const *parts, const size_t *sizes, int count,
                       void **device)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += aligned(sizes[i]);
    table_slot *t = &v->slots[v->next_slot];
    v->next_slot = (v->next_slot + 1) % TABLE_SLOTS;
    if (t->used)
        FR_CUDA_CHECK(cudaEventSynchronize(t->uploaded));
    if (total > t->capacity) {
        FR_CUDA_CHECK(cudaStreamSynchronize(v->stream)); /* its device copy may still be read */
        if (t->host)
            cudaFreeHost(t->host);
        if (t->device)
            cudaFree(t->device);
        t->host = t->device = NULL;
        t->capacity = 0;
        size_t cap = aligned(total > 65536 ? total * 2 : 65536);
        FR_CUDA_CHECK(cudaMallocHost((void **)&t->host, cap));
        FR_CUDA_CHECK(cudaMalloc((void **)&t->device, cap));
        t->capacity = cap;
    }
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        if (sizes[i])
            memcpy(t->host + at, parts[i], sizes[i]);
        device[i] = t->device + at;
        at += aligned(sizes[i]);
    }
    FR_CUDA_CHECK(cudaMemcpyAsync(t->device, t->host, at ? at : 1, cudaMemcpyHostToDevice,
                                  v->stream));
    FR_CUDA_CHECK(cudaEventRecord(t->uploaded, v->stream));
    t->used = 1;
    return FR_OK;
}

static fr_status ensure_counts(cuda_vision *v, size_t n)
{
    if (n <= v->count_capacity)
        return FR_OK;
    FR_CUDA_CHECK(cudaStreamSynchronize(v->stream));
    if (v->host_counts)
        cudaFreeHost(v->host_counts);
    if (v->device_counts)
        cudaFree(v->device_counts);
    v->host_counts = v->device_counts = NULL;
    v->count_capacity = 0;
    size_t cap = n < 1024 ? 1024 : n * 2;
    FR_CUDA_CHECK(cudaMallocHost((void **)&v->host_counts, cap * sizeof(int)));
    FR_CUDA_CHECK(cudaMalloc((void **)&v->device_counts, cap * sizeof(int)));
    v->count_capacity = cap;
    return FR_OK;
}

/* The device counts of n items back into the caller's array, after the work before. */
static fr_status read_counts(cuda_vision *v, int n, int *counts)
{
    FR_CUDA_CHECK(cudaMemcpyAsync(v->host_counts, v->device_counts, (size_t)n * sizeof(int),
                                  cudaMemcpyDeviceToHost, v->stream));
    FR_CUDA_CHECK(cudaStreamSynchronize(v->stream));
    memcpy(counts, v->host_counts, (size_t)n * sizeof(int));
    return FR_OK;
}

static fr_status images_and(cuda_vision *v, const fr_vision_image *images, int nimages,
                            const void *jobs, size_t job_bytes, void **d_images, void **d_jobs)
{
    const void *parts[2] = {images, jobs};
    size_t sizes[2] = {(size_t)nimages * sizeof *images, job_bytes};
    void *device[2];
    TRY(stage(v, parts, sizes, 2, device));
    *d_images = device[0];
    *d_jobs = device[1];
    return FR_OK;
}

/* ---- the operations ----------------------------------------------------------------------- */

static fr_status cv_resize_area(void *state, const fr_vision_image *images, int nimages,
                                const fr_resize_job *jobs, int n, uint8_t *dst)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    int max_pixels = 0;
    for (int i = 0; i < n; i++)
        if (jobs[i].width * jobs[i].height > max_pixels)
            max_pixels = jobs[i].width * jobs[i].height;
    void *d_images, *d_jobs;
    TRY(images_and(v, images, nimages, jobs, (size_t)n * sizeof *jobs,
                   &d_images, &d_jobs));
    return fr_cv_resize_area(v->stream, d_images, d_jobs, n, max_pixels, dst);
}

static fr_status cv_pnet_cells(void *state, const float *outputs, const fr_pnet_job *jobs, int n,
                               double threshold, fr_cand *cands, int *counts)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    const void *parts[1] = {jobs};
    size_t sizes[1] = {(size_t)n * sizeof *jobs};
    void *d_jobs;
    TRY(stage(v, parts, sizes, 1, &d_jobs));
    TRY(ensure_counts(v, (size_t)n));
    TRY(fr_cv_pnet_cells(v->stream, outputs, d_jobs, n, threshold, cands, v->device_counts));
    return read_counts(v, n, counts);
}

static fr_status cv_nms(void *state, fr_cand *cands, const fr_segment *segments, int n,
                        const fr_nms_spec *spec, int *kept)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    size_t span = 0;
    for (int i = 0; i < n; i++)
        if (segments[i].first + (size_t)segments[i].count > span)
            span = segments[i].first + (size_t)segments[i].count;
    if (span > (size_t)INT32_MAX)
        return fr_fail(FR_E_TOO_LARGE, "NMS over %zu candidates (at most 2^31 on the GPU)", span);
    size_t need = fr_cv_nms_scratch(span ? span : 1, n);
    if (need > v->nms_bytes) {
        FR_CUDA_CHECK(cudaStreamSynchronize(v->stream));
        cv_release(v, v->nms_scratch);
        v->nms_scratch = NULL;
        v->nms_bytes = 0;
        TRY(cv_alloc(v, need + need / 2, &v->nms_scratch));
        v->nms_bytes = need + need / 2;
    }
    const void *parts[1] = {segments};
    size_t sizes[1] = {(size_t)n * sizeof *segments};
    void *d_segments;
    TRY(stage(v, parts, sizes, 1, &d_segments));
    TRY(ensure_counts(v, (size_t)n));
    TRY(fr_cv_nms(v->stream, cands, span ? span : 1, d_segments, n, spec, v->nms_scratch,
                  v->nms_bytes, v->device_counts));
    return read_counts(v, n, kept);
}

static fr_status cv_gather(void *state, const fr_cand *src, const fr_copy *copies, int n,
                           fr_cand *dst)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    const void *parts[1] = {copies};
    size_t sizes[1] = {(size_t)n * sizeof *copies};
    void *d_copies;
    TRY(stage(v, parts, sizes, 1, &d_copies));
    return fr_cv_gather(v->stream, src, d_copies, n, dst);
}

static fr_status cv_crop_resize(void *state, const fr_vision_image *images, int nimages,
                                const fr_cand *cands, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    const void *parts[1] = {images};
    size_t sizes[1] = {(size_t)nimages * sizeof *images};
    void *d_images;
    TRY(stage(v, parts, sizes, 1, &d_images));
    return fr_cv_crop_resize(v->stream, d_images, cands, n, size, out);
}

static fr_status cv_read_net(void *state, fr_cand *cands, int n, const float *outputs, int stride,
                             int points)
{
    return fr_cv_read_net(((cuda_vision *)state)->stream, cands, n, outputs, stride, points);
}

static fr_status cv_landmark_crops(void *state, const fr_vision_image *images, int nimages,
                                   const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    void *d_images, *d_jobs;
    TRY(images_and(v, images, nimages, jobs, (size_t)n * sizeof *jobs,
                   &d_images, &d_jobs));
    return fr_cv_landmark_crops(v->stream, d_images, d_jobs, n, size, out);
}

static fr_status cv_tiny_inputs(void *state, const fr_vision_image *images, int n, int size,
                                uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    fr_crop_job *jobs = malloc((size_t)n * sizeof *jobs);
    if (!jobs)
        return fr_fail(FR_E_NOMEM, "out of memory for %d detector inputs", n);
    for (int i = 0; i < n; i++)
        jobs[i] = (fr_crop_job){i, 0, 0, images[i].width, images[i].height};
    void *d_images, *d_jobs;
    fr_status st = images_and(v, images, n, jobs, (size_t)n * sizeof *jobs, &d_images, &d_jobs);
    free(jobs);
    return st ? st : fr_cv_tiny_inputs(v->stream, d_images, d_jobs, n, size, out);
}

static fr_status cv_tiny_boxes(void *state, const float *outputs, const fr_tiny_job *jobs, int n,
                               double threshold, fr_cand *cands, int *counts)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    const void *parts[1] = {jobs};
    size_t sizes[1] = {(size_t)n * sizeof *jobs};
    void *d_jobs;
    TRY(stage(v, parts, sizes, 1, &d_jobs));
    TRY(ensure_counts(v, (size_t)n));
    TRY(fr_cv_tiny_boxes(v->stream, outputs, d_jobs, n, threshold, cands, v->device_counts));
    return read_counts(v, n, counts);
}

static fr_status cv_facenet_crops(void *state, const fr_vision_image *images, int nimages,
                                  const fr_crop_job *jobs, int n, int size, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    void *d_images, *d_jobs;
    TRY(images_and(v, images, nimages, jobs, (size_t)n * sizeof *jobs,
                   &d_images, &d_jobs));
    return fr_cv_facenet_crops(v->stream, d_images, d_jobs, n, size, out);
}

static fr_status cv_landmark_transforms(void *state, const float *outputs, int input_size,
                                        const fr_landmark_frame *frames, int n,
                                        const fr_chip_template *chip, double *m)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    const void *parts[2] = {frames, chip};
    size_t sizes[2] = {(size_t)n * sizeof *frames, sizeof *chip};
    void *device[2];
    TRY(stage(v, parts, sizes, 2, device));
    return fr_cv_landmark_transforms(v->stream, outputs, input_size, device[0], n, device[1], m);
}

static fr_status cv_warp_chips(void *state, const fr_vision_image *images, int nimages,
                               const int *image_of, const double *m, int n, int size,
                               fr_chip_sampler sampler, uint8_t *out)
{
    if (n <= 0)
        return FR_OK;
    cuda_vision *v = state;
    void *d_images, *d_image_of;
    TRY(images_and(v, images, nimages, image_of, (size_t)n * sizeof *image_of, &d_images,
                   &d_image_of));
    TRY(ensure_counts(v, 1));
    FR_CUDA_CHECK(cudaMemsetAsync(v->device_counts, 0, sizeof(int), v->stream));
    TRY(fr_cv_warp_chips(v->stream, d_images, d_image_of, m, n, size, (int)sampler, out,
                         v->device_counts));
    int degenerate = 0;
    TRY(read_counts(v, 1, &degenerate));
    if (degenerate)
        return fr_fail(FR_E_INVALID, "face chip: degenerate landmarks");
    return FR_OK;
}

const fr_vision_ops fr_cuda_vision = {
    .name = "cuda",
    .open = cv_open,
    .close = cv_close,
    .alloc = cv_alloc,
    .release = cv_release,
    .upload = cv_upload,
    .download = cv_download,
    .sync = cv_sync,
    .resize_area = cv_resize_area,
    .pnet_cells = cv_pnet_cells,
    .nms = cv_nms,
    .gather = cv_gather,
    .crop_resize = cv_crop_resize,
    .read_net = cv_read_net,
    .landmark_crops = cv_landmark_crops,
    .tiny_inputs = cv_tiny_inputs,
    .tiny_boxes = cv_tiny_boxes,
    .landmark_transforms = cv_landmark_transforms,
    .warp_chips = cv_warp_chips,
    .facenet_crops = cv_facenet_crops,
};
