/*
 * kernels.cu: the memory-bound operations of the network on the GPU (see kernels.h), each one
 * pass over its tensors. Arithmetic is fp32 whatever the storage type; where channel counts,
 * channel strides and addresses allow, each thread moves 16 bytes at a time (8 halves or 4
 * floats), which is what the memory system delivers best. Semantics follow the CPU reference
 * (src/cpu/cpu_ops.c) exactly: TensorFlow padding, averages over the in-bounds part of a
 * window, zero-extended adds, FaceNet's per-image standardization computed in double.
 * Depthwise convolutions are here too rather than in cuDNN: one input channel per output
 * channel makes them memory-bound like the rest, and a direct kernel's arithmetic is the
 * CPU's, tap by tap.
 */
#include <cuda_fp16.h>
#include <float.h>
#include <stdint.h>

#include "check.h"
#include "kernels.h"

#define THREADS 256

namespace {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v)
{
    return __float2half_rn(v);
}

/* V consecutive elements, loaded or stored as one access of V * sizeof(T) bytes. */
template <typename T, int V> struct alignas(sizeof(T) * V) pack {
    T v[V];
};

template <typename T, int V> __device__ __forceinline__ void load(const T *p, float *out)
{
    pack<T, V> q = *reinterpret_cast<const pack<T, V> *>(p);
#pragma unroll
    for (int i = 0; i < V; i++)
        out[i] = to_float(q.v[i]);
}

template <typename T, int V> __device__ __forceinline__ void store(T *p, const float *in)
{
    pack<T, V> q;
#pragma unroll
    for (int i = 0; i < V; i++)
        q.v[i] = from_float<T>(in[i]);
    *reinterpret_cast<pack<T, V> *>(p) = q;
}

__device__ __forceinline__ float activate(float v, int act, float alpha)
{
    if (act == FR_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act == FR_ACT_PRELU)
        return v > 0.0f ? v : v * alpha;
    return v;
}

struct dview {
    char *data;
    int h, w, c, ld;
};

dview device_view(const fr_cu_view *v)
{
    dview d = {static_cast<char *>(v->data), v->h, v->w, v->c, v->ld};
    return d;
}

template <typename T>
__device__ __forceinline__ T *at(const dview &v, long long img, int y, int x, int k)
{
    return reinterpret_cast<T *>(v.data) + ((img * v.h + y) * v.w + x) * v.ld + k;
}

unsigned blocks_for(long long items)
{
    long long b = (items + THREADS - 1) / THREADS;
    if (b > 1048576)
        b = 1048576; /* grid-stride loops cover the rest */
    return b > 0 ? static_cast<unsigned>(b) : 1u;
}

/* The widest access every view allows: 16 bytes when channel counts, strides and addresses
 * are multiples of it. */
int vector_width(fr_cu_dtype dtype, const fr_cu_view *const *views, int count)
{
    int v = dtype == FR_CU_F16 ? 8 : 4;
    for (int i = 0; i < count; i++) {
        const fr_cu_view *x = views[i];
        if (x->c % v || x->ld % v || reinterpret_cast<uintptr_t>(x->data) % 16)
            return 1;
    }
    return v;
}

/* ---- normalize ------------------------------------------------------------------------------ */

/* Per-image sums of the uint8 values (exact in 64-bit integers), then mean and 1/std in double
 * as the CPU does. One block per image. */
__global__ void image_stats(const uint8_t *input, long long pixels3, float *stats)
{
    const uint8_t *x = input + blockIdx.x * pixels3;
    unsigned long long sum = 0, sum2 = 0;
    for (long long i = threadIdx.x; i < pixels3; i += blockDim.x) {
        unsigned v = x[i];
        sum += v;
        sum2 += v * v;
    }
    __shared__ unsigned long long s1[THREADS], s2[THREADS];
    s1[threadIdx.x] = sum;
    s2[threadIdx.x] = sum2;
    __syncthreads();
    for (int step = blockDim.x / 2; step > 0; step /= 2) {
        if (threadIdx.x < step) {
            s1[threadIdx.x] += s1[threadIdx.x + step];
            s2[threadIdx.x] += s2[threadIdx.x + step];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        double n = (double)pixels3, m = (double)s1[0] / n;
        double var = (double)s2[0] / n - m * m;
        double sd = sqrt(var > 0 ? var : 0), floor_sd = 1.0 / sqrt(n);
        stats[2 * blockIdx.x] = (float)m;
        stats[2 * blockIdx.x + 1] = (float)(1.0 / (sd > floor_sd ? sd : floor_sd));
    }
}

struct norm_params {
    float mean[3], scale[3];
    int standardize, transpose;
};

template <typename T, int V>
__global__ void normalize(const uint8_t *input, int in_h, int in_w, long long n, norm_params p,
                          const float *stats, dview out)
{
    long long total = n * in_h * in_w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long img = i / ((long long)in_h * in_w);
        int rem = (int)(i % ((long long)in_h * in_w));
        int yy = rem / in_w, xx = rem % in_w;
        const uint8_t *px = input + i * 3;
        float mean[3], scale[3];
        for (int c = 0; c < 3; c++) {
            mean[c] = p.standardize ? stats[2 * img] : p.mean[c];
            scale[c] = p.standardize ? stats[2 * img + 1] : p.scale[c];
        }
        /* transposed: output pixel (xx, yy) of a (w, h) tensor */
        T *q = p.transpose ? at<T>(out, img, xx, yy, 0) : at<T>(out, img, yy, xx, 0);
        float v[V > 3 ? V : 3];
        for (int c = 0; c < (V > 3 ? V : 3); c++)
            v[c] = c < 3 ? ((float)px[c] - mean[c]) * scale[c] : 0.0f;
        if (V > 1) {
            store<T, V>(q, v);
        } else {
            for (int c = 0; c < out.c; c++)
                q[c] = from_float<T>(c < 3 ? v[c] : 0.0f);
        }
    }
}

/* ---- pooling, add, global average, epilogue ---------------------------------------------- */

struct window {
    int kh, kw, sh, sw, pt, pl, is_max;
};

template <typename T, int V>
__global__ void pool(dview in, dview out, long long n, window win)
{
    int cv = out.c / V;
    long long total = n * out.h * out.w * cv;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int k = (int)(i % cv) * V;
        long long p = i / cv;
        int ox = (int)(p % out.w);
        int oy = (int)(p / out.w % out.h);
        long long img = p / ((long long)out.w * out.h);
        float acc[V];
        for (int j = 0; j < V; j++)
            acc[j] = win.is_max ? -FLT_MAX : 0.0f;
        int count = 0;
        int y0 = oy * win.sh - win.pt, x0 = ox * win.sw - win.pl;
        for (int ky = 0; ky < win.kh; ky++) {
            int iy = y0 + ky;
            if (iy < 0 || iy >= in.h)
                continue;
            for (int kx = 0; kx < win.kw; kx++) {
                int ix = x0 + kx;
                if (ix < 0 || ix >= in.w)
                    continue;
                float v[V];
                load<T, V>(at<T>(in, img, iy, ix, k), v);
                count++;
                for (int j = 0; j < V; j++)
                    acc[j] = win.is_max ? fmaxf(acc[j], v[j]) : acc[j] + v[j];
            }
        }
        if (!win.is_max && count > 0)
            for (int j = 0; j < V; j++)
                acc[j] *= 1.0f / (float)count;
        store<T, V>(at<T>(out, img, oy, ox, k), acc);
    }
}

template <typename T, int V>
__global__ void add(dview a, dview b, dview out, long long n, int act)
{
    int cv = out.c / V;
    long long total = n * out.h * out.w * cv;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int k = (int)(i % cv) * V;
        long long p = i / cv;
        int x = (int)(p % out.w);
        int y = (int)(p / out.w % out.h);
        long long img = p / ((long long)out.w * out.h);
        float va[V], vb[V], r[V];
        for (int j = 0; j < V; j++)
            va[j] = vb[j] = 0.0f;
        /* V divides both operands' channel counts, so a vector is all in or all out */
        if (y < a.h && x < a.w && k < a.c)
            load<T, V>(at<T>(a, img, y, x, k), va);
        if (y < b.h && x < b.w && k < b.c)
            load<T, V>(at<T>(b, img, y, x, k), vb);
        for (int j = 0; j < V; j++)
            r[j] = activate(va[j] + vb[j], act, 0.0f);
        store<T, V>(at<T>(out, img, y, x, k), r);
    }
}

template <typename T, int V> __global__ void global_avg(dview in, dview out, long long n)
{
    int cv = in.c / V;
    long long total = n * cv;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int k = (int)(i % cv) * V;
        long long img = i / cv;
        float acc[V];
        for (int j = 0; j < V; j++)
            acc[j] = 0.0f;
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++) {
                float v[V];
                load<T, V>(at<T>(in, img, y, x, k), v);
                for (int j = 0; j < V; j++)
                    acc[j] += v[j];
            }
        float inv = 1.0f / (float)(in.h * in.w);
        for (int j = 0; j < V; j++)
            acc[j] *= inv;
        store<T, V>(at<T>(out, img, 0, 0, k), acc);
    }
}

template <typename T, int V>
__global__ void epilogue(const T *conv, const T *bias, const T *alpha, dview out, long long n,
                         int act, int accumulate)
{
    int cv = out.c / V;
    long long total = n * out.h * out.w * cv;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int k = (int)(i % cv) * V;
        long long p = i / cv;
        int x = (int)(p % out.w);
        int y = (int)(p / out.w % out.h);
        long long img = p / ((long long)out.w * out.h);
        float c[V], b[V], a[V], r[V];
        load<T, V>(conv + p * out.c + k, c);
        load<T, V>(bias + k, b);
        for (int j = 0; j < V; j++)
            a[j] = 0.0f;
        if (alpha)
            load<T, V>(alpha + k, a);
        T *q = at<T>(out, img, y, x, k);
        if (accumulate)
            load<T, V>(q, r);
        for (int j = 0; j < V; j++)
            r[j] = activate((accumulate ? r[j] : 0.0f) + c[j] + b[j], act, a[j]);
        store<T, V>(q, r);
    }
}

/* One thread per output pixel and V channels: the taps of a window in turn, each one vector
 * load of input and of weights; padding contributes nothing (TensorFlow's zeros). */
template <typename T, int V>
__global__ void depthwise(dview in, dview out, const T *taps, const T *bias, const T *alpha,
                          long long n, window win, int act, int accumulate)
{
    int cv = out.c / V;
    long long total = n * out.h * out.w * cv;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int k = (int)(i % cv) * V;
        long long p = i / cv;
        int ox = (int)(p % out.w);
        int oy = (int)(p / out.w % out.h);
        long long img = p / ((long long)out.w * out.h);
        float acc[V];
        load<T, V>(bias + k, acc);
        int y0 = oy * win.sh - win.pt, x0 = ox * win.sw - win.pl;
        for (int ky = 0; ky < win.kh; ky++) {
            int iy = y0 + ky;
            if (iy < 0 || iy >= in.h)
                continue;
            for (int kx = 0; kx < win.kw; kx++) {
                int ix = x0 + kx;
                if (ix < 0 || ix >= in.w)
                    continue;
                float x[V], w[V];
                load<T, V>(at<T>(in, img, iy, ix, k), x);
                load<T, V>(taps + (size_t)(ky * win.kw + kx) * out.c + k, w);
                for (int j = 0; j < V; j++)
                    acc[j] += x[j] * w[j];
            }
        }
        float a[V], r[V];
        for (int j = 0; j < V; j++)
            a[j] = 0.0f;
        if (alpha)
            load<T, V>(alpha + k, a);
        T *q = at<T>(out, img, oy, ox, k);
        if (accumulate)
            load<T, V>(q, r);
        for (int j = 0; j < V; j++)
            r[j] = activate((accumulate ? r[j] : 0.0f) + acc[j], act, a[j]);
        store<T, V>(q, r);
    }
}

template <typename T> __global__ void output_to_float(dview in, float *out, long long n)
{
    long long per_image = (long long)in.h * in.w * in.c, total = n * per_image;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long img = i / per_image;
        int rem = (int)(i % per_image), k = rem % in.c, p = rem / in.c;
        out[i] = to_float(*at<T>(in, img, p / in.w, p % in.w, k));
    }
}

template <typename T> __global__ void convert(const float *in, T *out, long long count)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x)
        out[i] = from_float<T>(in[i]);
}

} // namespace

/* Launches kernel<T, V> for the storage type and the vector width chosen at run time. */
#define DISPATCH(dtype, width, kernel, grid, stream, ...)                                      \
    do {                                                                                       \
        if ((dtype) == FR_CU_F16) {                                                            \
            if ((width) == 8)                                                                  \
                kernel<__half, 8><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__);              \
            else                                                                               \
                kernel<__half, 1><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__);              \
        } else {                                                                               \
            if ((width) == 4)                                                                  \
                kernel<float, 4><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__);               \
            else                                                                               \
                kernel<float, 1><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__);               \
        }                                                                                      \
    } while (0)

extern "C" fr_status fr_cu_normalize(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                                     const uint8_t *input, int in_h, int in_w, int n,
                                     float *stats, const fr_cu_view *out)
{
    norm_params p;
    for (int c = 0; c < 3; c++) {
        p.mean[c] = node->mean[c];
        p.scale[c] = node->scale[c];
    }
    p.standardize = node->norm == FR_NORM_STANDARDIZE;
    p.transpose = node->transpose;
    long long pixels3 = (long long)in_h * in_w * 3;
    if (p.standardize) {
        image_stats<<<n, THREADS, 0, stream>>>(input, pixels3, stats);
        FR_CUDA_LAUNCHED("image_stats");
    }
    /* one 16-byte store per pixel when the output is exactly one vector wide */
    const fr_cu_view *views[1] = {out};
    int v = vector_width(dtype, views, 1);
    if (out->c != v)
        v = 1;
    DISPATCH(dtype, v, normalize, blocks_for((long long)n * in_h * in_w), stream, input, in_h,
             in_w, (long long)n, p, stats, device_view(out));
    FR_CUDA_LAUNCHED("normalize");
    return FR_OK;
}

extern "C" fr_status fr_cu_pool(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                                const fr_cu_view *in, const fr_cu_view *out, int n)
{
    window win = {node->kh, node->kw, node->stride_h, node->stride_w, node->pad_top,
                  node->pad_left, node->kind == FR_OP_MAX_POOL};
    const fr_cu_view *views[2] = {in, out};
    int v = vector_width(dtype, views, 2);
    DISPATCH(dtype, v, pool, blocks_for((long long)n * out->h * out->w * (out->c / v)), stream,
             device_view(in), device_view(out), (long long)n, win);
    FR_CUDA_LAUNCHED("pool");
    return FR_OK;
}

extern "C" fr_status fr_cu_add(cudaStream_t stream, fr_cu_dtype dtype, fr_activation act,
                               const fr_cu_view *a, const fr_cu_view *b, const fr_cu_view *out,
                               int n)
{
    const fr_cu_view *views[3] = {a, b, out};
    int v = vector_width(dtype, views, 3);
    DISPATCH(dtype, v, add, blocks_for((long long)n * out->h * out->w * (out->c / v)), stream,
             device_view(a), device_view(b), device_view(out), (long long)n, (int)act);
    FR_CUDA_LAUNCHED("add");
    return FR_OK;
}

extern "C" fr_status fr_cu_global_avg(cudaStream_t stream, fr_cu_dtype dtype,
                                      const fr_cu_view *in, const fr_cu_view *out, int n)
{
    const fr_cu_view *views[2] = {in, out};
    int v = vector_width(dtype, views, 2);
    DISPATCH(dtype, v, global_avg, blocks_for((long long)n * (in->c / v)), stream,
             device_view(in), device_view(out), (long long)n);
    FR_CUDA_LAUNCHED("global_avg");
    return FR_OK;
}

extern "C" fr_status fr_cu_epilogue(cudaStream_t stream, fr_cu_dtype dtype, fr_activation act,
                                    int accumulate, const void *conv, const void *bias,
                                    const void *alpha, const fr_cu_view *out, int n)
{
    /* the packed conv output and the parameters are aligned allocations of out->c channels */
    fr_cu_view packed = {const_cast<void *>(conv), out->h, out->w, out->c, out->c};
    fr_cu_view params = {const_cast<void *>(bias), 1, 1, out->c, out->c};
    fr_cu_view slopes = {const_cast<void *>(alpha ? alpha : bias), 1, 1, out->c, out->c};
    const fr_cu_view *views[4] = {out, &packed, &params, &slopes};
    int v = vector_width(dtype, views, 4);
    long long grid_items = (long long)n * out->h * out->w * (out->c / v);
    if (dtype == FR_CU_F16) {
        const __half *c = static_cast<const __half *>(conv), *b = static_cast<const __half *>(bias),
                     *a = static_cast<const __half *>(alpha);
        if (v == 8)
            epilogue<__half, 8><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                c, b, a, device_view(out), (long long)n, (int)act, accumulate);
        else
            epilogue<__half, 1><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                c, b, a, device_view(out), (long long)n, (int)act, accumulate);
    } else {
        const float *c = static_cast<const float *>(conv), *b = static_cast<const float *>(bias),
                    *a = static_cast<const float *>(alpha);
        if (v == 4)
            epilogue<float, 4><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                c, b, a, device_view(out), (long long)n, (int)act, accumulate);
        else
            epilogue<float, 1><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                c, b, a, device_view(out), (long long)n, (int)act, accumulate);
    }
    FR_CUDA_LAUNCHED("epilogue");
    return FR_OK;
}

extern "C" fr_status fr_cu_depthwise(cudaStream_t stream, fr_cu_dtype dtype, const fr_node *node,
                                     const fr_cu_view *in, const fr_cu_view *out,
                                     const void *taps, const void *bias, const void *alpha, int n)
{
    window win = {node->kh, node->kw, node->stride_h, node->stride_w, node->pad_top,
                  node->pad_left, 0};
    /* taps (one row of out->c per tap), bias and slopes are aligned allocations of out->c */
    fr_cu_view tap_rows = {const_cast<void *>(taps), 1, 1, out->c, out->c};
    fr_cu_view params = {const_cast<void *>(bias), 1, 1, out->c, out->c};
    fr_cu_view slopes = {const_cast<void *>(alpha ? alpha : bias), 1, 1, out->c, out->c};
    const fr_cu_view *views[5] = {in, out, &tap_rows, &params, &slopes};
    int v = vector_width(dtype, views, 5);
    long long grid_items = (long long)n * out->h * out->w * (out->c / v);
    if (dtype == FR_CU_F16) {
        const __half *t = static_cast<const __half *>(taps), *b = static_cast<const __half *>(bias),
                     *a = static_cast<const __half *>(alpha);
        if (v == 8)
            depthwise<__half, 8><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                device_view(in), device_view(out), t, b, a, (long long)n, win, (int)node->act,
                node->accumulate);
        else
            depthwise<__half, 1><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                device_view(in), device_view(out), t, b, a, (long long)n, win, (int)node->act,
                node->accumulate);
    } else {
        const float *t = static_cast<const float *>(taps), *b = static_cast<const float *>(bias),
                    *a = static_cast<const float *>(alpha);
        if (v == 4)
            depthwise<float, 4><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                device_view(in), device_view(out), t, b, a, (long long)n, win, (int)node->act,
                node->accumulate);
        else
            depthwise<float, 1><<<blocks_for(grid_items), THREADS, 0, stream>>>(
                device_view(in), device_view(out), t, b, a, (long long)n, win, (int)node->act,
                node->accumulate);
    }
    FR_CUDA_LAUNCHED("depthwise");
    return FR_OK;
}

extern "C" fr_status fr_cu_to_float(cudaStream_t stream, fr_cu_dtype dtype, const fr_cu_view *in,
                                    float *out, int n)
{
    unsigned grid = blocks_for((long long)n * in->h * in->w * in->c);
    if (dtype == FR_CU_F16)
        output_to_float<__half><<<grid, THREADS, 0, stream>>>(device_view(in), out, (long long)n);
    else
        output_to_float<float><<<grid, THREADS, 0, stream>>>(device_view(in), out, (long long)n);
    FR_CUDA_LAUNCHED("output_to_float");
    return FR_OK;
}

extern "C" fr_status fr_cu_convert(cudaStream_t stream, fr_cu_dtype dtype, const float *in,
                                   void *out, size_t count)
{
    unsigned grid = blocks_for((long long)count);
    if (dtype == FR_CU_F16)
        convert<__half><<<grid, THREADS, 0, stream>>>(in, static_cast<__half *>(out),
                                                       (long long)count);
    else
        convert<float><<<grid, THREADS, 0, stream>>>(in, static_cast<float *>(out),
                                                      (long long)count);
    FR_CUDA_LAUNCHED("convert");
    return FR_OK;
}
