/*
 * vision.h (cuda/): what the CUDA backend's runners need of a CUDA execution context
 * (runtime/vision.h): its stream, to order a network run between the context's operations.
 */
#ifndef FR_CUDA_VISION_H
#define FR_CUDA_VISION_H

#include <cuda_runtime_api.h>

cudaStream_t fr_cuda_vision_stream(void *state);

#endif
