/*
 * device.c: what `facerec info` and --device auto know about GPUs: how many are usable and
 * one line on each (or on why none is). The CUDA runtime is linked statically and finds the
 * driver (libcuda.so.1) at run time, so on a machine with no driver or no GPU these return
 * 0 / the runtime's reason instead of failing to start.
 */
#include <stdio.h>

#include "check.h"
#include "core/error.h"

int fr_cuda_runtime_device_count(void);
fr_status fr_cuda_runtime_describe(int index, char *buffer, size_t size);

int fr_cuda_runtime_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError(); /* clear it: the next caller must not see this one */
        return 0;
    }
    return count;
}

/* "9.19.0" from cudnnGetVersion()'s 91900 (cuDNN 9 encodes major*10000 + minor*100 + patch). */
static void version_text(size_t version, char *out, size_t size)
{
    int n = snprintf(out, size, "%zu.%zu.%zu", version / 10000, version / 100 % 100,
                     version % 100);
    (void)n;
}

fr_status fr_cuda_runtime_describe(int index, char *buffer, size_t size)
{
    int count = 0;
    cudaError_t error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess || index < 0 || index >= count) {
        cudaGetLastError();
        const char *why = error != cudaSuccess ? cudaGetErrorString(error) : "no such GPU";
        int n = snprintf(buffer, size, "%s", why);
        (void)n;
        return fr_fail(FR_E_DEVICE, "GPU %d: %s", index, why);
    }
    struct cudaDeviceProp prop;
    error = cudaGetDeviceProperties(&prop, index);
    if (error != cudaSuccess) {
        cudaGetLastError();
        int n = snprintf(buffer, size, "%s", cudaGetErrorString(error));
        (void)n;
        return fr_fail(FR_E_DEVICE, "GPU %d: %s", index, cudaGetErrorString(error));
    }
    int driver = 0, runtime = 0, blas = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cublasGetProperty(MAJOR_VERSION, &blas);
    int blas_minor = 0, blas_patch = 0;
    cublasGetProperty(MINOR_VERSION, &blas_minor);
    cublasGetProperty(PATCH_LEVEL, &blas_patch);
    char dnn[32];
    version_text(cudnnGetVersion(), dnn, sizeof dnn);
    int n = snprintf(buffer, size,
                     "%s, %.1f GiB, compute capability %d.%d, %d SMs; driver CUDA %d.%d, runtime "
                     "%d.%d, cuDNN %s, cuBLAS %d.%d.%d",
                     prop.name, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
                     prop.major, prop.minor, prop.multiProcessorCount, driver / 1000,
                     driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10, dnn, blas,
                     blas_minor, blas_patch);
    (void)n;
    return FR_OK;
}
