/*
 * distance_kernels.cu: norms, the distance epilogue of a GEMM tile, and top-k selection per
 * probe row of a tile. Selection: a block per row; each thread keeps a sorted list of its
 * columns' k best in local memory (the same insertion rule as match/topk.c, distinct labels
 * included), then thread 0 merges the block's lists, which by topk.h's argument hold the k
 * best of the row. k is small (identification asks for 1..10), so insertion beats sorting.
 */
#include <math.h>

#include "check.h"
#include "distance_kernels.h"

#define TOPK_THREADS 64

namespace {

__global__ void row_norms(const float *rows, long long count, int dim, float *out)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x) {
        const float *r = rows + i * dim;
        float sum = 0.0f;
        for (int d = 0; d < dim; d++)
            sum += r[d] * r[d];
        out[i] = sum;
    }
}

__global__ void finish(float *tile, long long rows, long long cols, const float *na,
                       const float *nb, long long diagonal)
{
    long long total = rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long r = i / cols, c = i % cols;
        float v = tile[i] + na[r] + nb[c];
        tile[i] = diagonal >= 0 && c == diagonal + r ? 0.0f : sqrtf(v < 0.0f ? 0.0f : v); /* NaN stays NaN */
    }
}

__device__ __forceinline__ bool before(float value, long long index, const fr_cu_candidate &e)
{
    return value < e.value || (value == e.value && index < e.index);
}

/* match/topk.c's fr_topk_insert, on the device. */
__device__ void insert(fr_cu_candidate *list, int k, const int32_t *labels, long long index,
                       float value)
{
    if (!before(value, index, list[k - 1]))
        return;
    int leaving = k - 1;
    if (labels) {
        int32_t label = labels[index];
        for (int j = 0; j < k && list[j].index >= 0; j++)
            if (labels[list[j].index] == label) {
                if (!before(value, index, list[j]))
                    return;
                leaving = j;
                break;
            }
    }
    int pos = leaving;
    while (pos > 0 && before(value, index, list[pos - 1])) {
        list[pos] = list[pos - 1];
        pos--;
    }
    list[pos].index = index;
    list[pos].value = value;
}

__global__ void tile_topk(const float *dots, long long cols, const float *nb,
                          const int32_t *labels, long long col0, int k, fr_cu_candidate *out)
{
    __shared__ fr_cu_candidate lists[TOPK_THREADS * 8];
    fr_cu_candidate local[FR_CU_TOPK_MAX];
    for (int j = 0; j < k; j++) {
        local[j].index = -1;
        local[j].value = INFINITY;
    }
    const float *row = dots + blockIdx.x * cols;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = row[c] + nb[c];
        if (!(v > local[k - 1].value))
            insert(local, k, labels, col0 + c, v);
    }
    fr_cu_candidate *mine = out + (long long)blockIdx.x * k;
    /* merge through shared memory in rounds of 8 entries per thread */
    fr_cu_candidate merged[FR_CU_TOPK_MAX];
    if (threadIdx.x == 0)
        for (int j = 0; j < k; j++)
            merged[j] = local[j];
    for (int base = 0; base < k; base += 8) {
        __syncthreads();
        for (int j = 0; j < 8; j++)
            lists[threadIdx.x * 8 + j] = base + j < k ? local[base + j]
                                                      : fr_cu_candidate{-1, INFINITY};
        __syncthreads();
        if (threadIdx.x == 0)
            for (int t = 1; t < (int)blockDim.x; t++)
                for (int j = 0; j < 8; j++) {
                    fr_cu_candidate e = lists[t * 8 + j];
                    if (e.index >= 0)
                        insert(merged, k, labels, e.index, e.value);
                }
    }
    if (threadIdx.x == 0)
        for (int j = 0; j < k; j++)
            mine[j] = merged[j];
}

unsigned blocks_for(long long items)
{
    long long b = (items + 255) / 256;
    if (b > 1048576)
        b = 1048576;
    return b > 0 ? (unsigned)b : 1u;
}

} // namespace

extern "C" fr_status fr_cu_row_norms(cudaStream_t stream, const float *rows, size_t count,
                                     size_t dim, float *out)
{
    row_norms<<<blocks_for((long long)count), 256, 0, stream>>>(rows, (long long)count, (int)dim,
                                                                 out);
    FR_CUDA_LAUNCHED("row_norms");
    return FR_OK;
}

extern "C" fr_status fr_cu_finish_distances(cudaStream_t stream, float *tile, size_t rows,
                                            size_t cols, const float *na, const float *nb,
                                            long long diagonal)
{
    finish<<<blocks_for((long long)(rows * cols)), 256, 0, stream>>>(
        tile, (long long)rows, (long long)cols, na, nb, diagonal);
    FR_CUDA_LAUNCHED("finish_distances");
    return FR_OK;
}

extern "C" fr_status fr_cu_tile_topk(cudaStream_t stream, const float *dots, size_t rows,
                                     size_t cols, const float *nb, const int32_t *labels,
                                     int64_t col0, int k, fr_cu_candidate *out)
{
    if (k < 1 || k > FR_CU_TOPK_MAX)
        return FR_E_INVALID;
    tile_topk<<<(unsigned)rows, TOPK_THREADS, 0, stream>>>(dots, (long long)cols, nb, labels,
                                                            (long long)col0, k, out);
    FR_CUDA_LAUNCHED("tile_topk");
    return FR_OK;
}
