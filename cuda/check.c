/* check.c: the failure side of check.h: one line naming the statement, place and cause. */
#include "check.h"

#include <string.h>

#include "core/error.h"

/* "cuda/conv.c" rather than the build machine's absolute path. */
static const char *short_path(const char *file)
{
    const char *tail = file;
    for (const char *p = strstr(file, "/cuda/"); p; p = strstr(p + 1, "/cuda/"))
        tail = p + 1;
    return tail;
}

fr_status fr_cuda_fail_runtime(cudaError_t error, const char *statement, const char *file,
                               int line)
{
    return fr_fail(FR_E_DEVICE, "%s failed at %s:%d: %s (%s)", statement, short_path(file), line,
                   cudaGetErrorString(error), cudaGetErrorName(error));
}

fr_status fr_cuda_fail_cudnn(cudnnStatus_t status, const char *statement, const char *file,
                             int line)
{
    char detail[256];
    cudnnGetLastErrorString(detail, sizeof detail);
    return fr_fail(FR_E_DEVICE, "%s failed at %s:%d: %s%s%s", statement, short_path(file), line,
                   cudnnGetErrorString(status), detail[0] ? ": " : "", detail);
}

fr_status fr_cuda_fail_cublas(cublasStatus_t status, const char *statement, const char *file,
                              int line)
{
    return fr_fail(FR_E_DEVICE, "%s failed at %s:%d: %s (%s)", statement, short_path(file), line,
                   cublasGetStatusString(status), cublasGetStatusName(status));
}

fr_status fr_cuda_launched(const char *kernel, const char *file, int line)
{
    cudaError_t error = cudaGetLastError();
#ifdef FACEREC_CUDA_SYNC_CHECK
    if (error == cudaSuccess)
        error = cudaDeviceSynchronize();
#endif
    if (error == cudaSuccess)
        return FR_OK;
    return fr_fail(FR_E_DEVICE, "kernel %s failed at %s:%d: %s (%s)", kernel, short_path(file),
                   line, cudaGetErrorString(error), cudaGetErrorName(error));
}
