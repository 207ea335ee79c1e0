/*
 * check.h: every CUDA runtime, cuDNN and cuBLAS call in facerec goes through one of these.
 *
 * A failing call becomes fr_fail(FR_E_DEVICE, "<statement> failed at file:line: <library's
 * error string>") and the enclosing function returns that status, so the CLI prints the one
 * line that names what broke. Kernel launches are followed by FR_CUDA_LAUNCHED(), which reads
 * cudaGetLastError (cheap, no synchronization); builds with FACEREC_CUDA_SYNC_CHECK defined
 * also synchronize after each launch so an asynchronous fault is reported at its kernel.
 */
#ifndef FR_CUDA_CHECK_H
#define FR_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "facerec.h"

#ifdef __cplusplus
extern "C" {
#endif

fr_status fr_cuda_fail_runtime(cudaError_t error, const char *statement, const char *file,
                               int line);
fr_status fr_cuda_fail_cudnn(cudnnStatus_t status, const char *statement, const char *file,
                             int line);
fr_status fr_cuda_fail_cublas(cublasStatus_t status, const char *statement, const char *file,
                              int line);
/* After a kernel launch: the launch error, if any (and, with FACEREC_CUDA_SYNC_CHECK, the
 * kernel's own). */
fr_status fr_cuda_launched(const char *kernel, const char *file, int line);

#ifdef __cplusplus
}
#endif

/* In a function returning fr_status: return the failure of `call`. */
#define FR_CUDA_CHECK(call)                                                                    \
    do {                                                                                       \
        cudaError_t fr_check_error_ = (call);                                                  \
        if (fr_check_error_ != cudaSuccess)                                                    \
            return fr_cuda_fail_runtime(fr_check_error_, #call, __FILE__, __LINE__);           \
    } while (0)

#define FR_CUDNN_CHECK(call)                                                                   \
    do {                                                                                       \
        cudnnStatus_t fr_check_status_ = (call);                                               \
        if (fr_check_status_ != CUDNN_STATUS_SUCCESS)                                          \
            return fr_cuda_fail_cudnn(fr_check_status_, #call, __FILE__, __LINE__);            \
    } while (0)

#define FR_CUBLAS_CHECK(call)                                                                  \
    do {                                                                                       \
        cublasStatus_t fr_check_status_ = (call);                                              \
        if (fr_check_status_ != CUBLAS_STATUS_SUCCESS)                                         \
            return fr_cuda_fail_cublas(fr_check_status_, #call, __FILE__, __LINE__);           \
    } while (0)

#define FR_CUDA_LAUNCHED(kernel)                                                               \
    do {                                                                                       \
        fr_status fr_check_launch_ = fr_cuda_launched(kernel, __FILE__, __LINE__);             \
        if (fr_check_launch_ != FR_OK)                                                         \
            return fr_check_launch_;                                                           \
    } while (0)

#endif
