/*
 * distance_kernels.h: the GPU kernels of the CUDA distance engine (distance.c), behind C.
 * Matrices are row-major float32 on the device; dots tiles hold -2 a.b (cuBLAS's GEMM).
 */
#ifndef FR_CUDA_DISTANCE_KERNELS_H
#define FR_CUDA_DISTANCE_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest k selected on the GPU; larger k is refused by the engine's caller side. */
#define FR_CU_TOPK_MAX 64

/* A candidate as the GPU leaves it: gallery row and |b|^2 - 2 a.b (-1, +inf: empty). */
typedef struct fr_cu_candidate {
    int64_t index;
    float value;
} fr_cu_candidate;

/* out[i] = |rows[i]|^2 */
fr_status fr_cu_row_norms(cudaStream_t stream, const float *rows, size_t count, size_t dim,
                          float *out);
/* tile (rows x cols, ld cols) of -2 a.b -> distances sqrt(max(0, t + na[i] + nb[j])); with
 * diagonal >= 0, element (i, diagonal + i) is set to exactly 0 (a set against itself). */
fr_status fr_cu_finish_distances(cudaStream_t stream, float *tile, size_t rows, size_t cols,
                                 const float *na, const float *nb, long long diagonal);
/* For each of the tile's rows, its k best (|b|^2 - 2 a.b, ascending; ties: lower row) among
 * columns col0.., at most one per label when labels != NULL (device, indexed by gallery row):
 * out (rows x k). */
fr_status fr_cu_tile_topk(cudaStream_t stream, const float *dots, size_t rows, size_t cols,
                          const float *nb, const int32_t *labels, int64_t col0, int k,
                          fr_cu_candidate *out);

#ifdef __cplusplus
}
#endif

#endif
