/*
 * nvjpeg_api.h: the part of nvJPEG's C interface that cuda/jpeg_decoder.c calls, declared
 * here because the library is loaded at run time (dlopen) and its header is not part of
 * every CUDA installation (the pip-based toolkits have neither). Values and signatures are
 * those of nvJPEG's public header (CUDA 11.x to 13.x, where they did not change); our names
 * carry an nvj_ prefix so that this file can never be mistaken for, or collide with, that
 * header. Only what the decoder uses is here.
 */
#ifndef FR_CUDA_NVJPEG_API_H
#define FR_CUDA_NVJPEG_API_H

#include <cuda_runtime_api.h>
#include <library_types.h>
#include <stddef.h>

typedef int nvj_status;            /* nvjpegStatus_t */
enum {
    NVJ_SUCCESS = 0,
    NVJ_NOT_INITIALIZED = 1,
    NVJ_INVALID_PARAMETER = 2,
    NVJ_BAD_JPEG = 3,
    NVJ_JPEG_NOT_SUPPORTED = 4,
    NVJ_ALLOCATOR_FAILURE = 5,
    NVJ_EXECUTION_FAILED = 6,
    NVJ_ARCH_MISMATCH = 7,
    NVJ_INTERNAL_ERROR = 8,
    NVJ_IMPLEMENTATION_NOT_SUPPORTED = 9,
    NVJ_INCOMPLETE_BITSTREAM = 10
};

typedef int nvj_backend;           /* nvjpegBackend_t */
enum {
    NVJ_BACKEND_DEFAULT = 0,
    NVJ_BACKEND_HYBRID = 1,        /* Huffman on the host */
    NVJ_BACKEND_GPU_HYBRID = 2,    /* Huffman on the GPU for large batches */
    NVJ_BACKEND_HARDWARE = 3       /* the JPEG engines */
};

typedef int nvj_subsampling;       /* nvjpegChromaSubsampling_t */
typedef int nvj_output_format;     /* nvjpegOutputFormat_t */
enum { NVJ_OUTPUT_RGBI = 5 };      /* interleaved RGB into channel[0] */
typedef int nvj_scale;             /* nvjpegScaleFactor_t: 0 none, 1 1/2, 2 1/4, 3 1/8 */

#define NVJ_MAX_COMPONENT 4
#define NVJ_FLAGS_BITSTREAM_STRICT (1u << 2)          /* report bitstream errors */
#define NVJ_FLAGS_UPSAMPLING_WITH_INTERPOLATION (1u << 5) /* chroma: not pixel replication */

typedef struct nvj_image {         /* nvjpegImage_t */
    unsigned char *channel[NVJ_MAX_COMPONENT];
    size_t pitch[NVJ_MAX_COMPONENT];
} nvj_image;

typedef struct nvj_handle_s *nvj_handle;               /* nvjpegHandle_t */
typedef struct nvj_state_s *nvj_state;                 /* nvjpegJpegState_t */
typedef struct nvj_stream_s *nvj_jpeg_stream;          /* nvjpegJpegStream_t */
typedef struct nvj_params_s *nvj_params;               /* nvjpegDecodeParams_t */

/* The entry points, as function pointers filled by dlsym. */
typedef struct nvj_api {
    nvj_status (*GetProperty)(libraryPropertyType type, int *value);
    nvj_status (*CreateEx)(nvj_backend backend, void *dev_allocator, void *pinned_allocator,
                           unsigned int flags, nvj_handle *handle);
    nvj_status (*Destroy)(nvj_handle handle);
    nvj_status (*GetHardwareDecoderInfo)(nvj_handle handle, unsigned int *engines,
                                         unsigned int *cores_per_engine);
    nvj_status (*JpegStateCreate)(nvj_handle handle, nvj_state *state);
    nvj_status (*JpegStateDestroy)(nvj_state state);
    nvj_status (*GetImageInfo)(nvj_handle handle, const unsigned char *data, size_t length,
                               int *components, nvj_subsampling *subsampling, int *widths,
                               int *heights);
    nvj_status (*DecodeBatchedInitialize)(nvj_handle handle, nvj_state state, int batch_size,
                                          int max_cpu_threads, nvj_output_format format);
    nvj_status (*DecodeBatched)(nvj_handle handle, nvj_state state,
                                const unsigned char *const *data, const size_t *lengths,
                                nvj_image *destinations, cudaStream_t stream);
    nvj_status (*DecodeBatchedEx)(nvj_handle handle, nvj_state state,
                                  const unsigned char *const *data, const size_t *lengths,
                                  nvj_image *destinations, nvj_params *params,
                                  cudaStream_t stream);
    nvj_status (*JpegStreamCreate)(nvj_handle handle, nvj_jpeg_stream *stream);
    nvj_status (*JpegStreamDestroy)(nvj_jpeg_stream stream);
    nvj_status (*JpegStreamParseHeader)(nvj_handle handle, const unsigned char *data,
                                        size_t length, nvj_jpeg_stream stream);
    nvj_status (*DecodeBatchedSupported)(nvj_handle handle, nvj_jpeg_stream stream,
                                         int *is_supported);
    nvj_status (*DecodeParamsCreate)(nvj_handle handle, nvj_params *params);
    nvj_status (*DecodeParamsDestroy)(nvj_params params);
    nvj_status (*DecodeParamsSetOutputFormat)(nvj_params params, nvj_output_format format);
    nvj_status (*DecodeParamsSetScaleFactor)(nvj_params params, nvj_scale scale);
} nvj_api;

#endif
