/*
 * gpu_decode.h: JPEG decoding on the GPU with nvJPEG, batched, beside libjpeg-turbo.
 *
 * A decoder takes a batch of encoded files (bytes already read) and returns each as 8-bit
 * interleaved RGB, on the device (fr_gpu_decode_device: for pipelines whose next stage runs
 * there) or in host memory (fr_gpu_decode_host: fr_image, as fr_image_decode gives). Which
 * decoder handles an image is chosen per image:
 *
 *   nvJPEG hardware   the GPU's JPEG engines (A100, A30, H100, H200: NVJPG), baseline
 *                     single-scan 4:4:4 / 4:2:2 / 4:2:0 / 4:4:0 colour JPEGs, with
 *                     reduced-scale decoding (1/2, 1/4, 1/8) where min_side allows, as the
 *                     CPU path does with DCT scaling
 *   nvJPEG hybrid     the CUDA decoder (Huffman on the host, IDCT and colour on the GPU) for
 *                     what the hardware does not take, and on GPUs without JPEG engines; full
 *                     size only
 *   libjpeg-turbo     everything else, on the calling thread: PNG, grayscale and CMYK JPEGs
 *                     (their conversions are the CPU path's, Pillow's), images that would be
 *                     reduced where the hybrid decoder cannot reduce (DCT scaling on the CPU
 *                     gives the CPU path's exact pixels), images with fewer pixels than
 *                     cpu_below_pixels, and every image nvJPEG refused or failed
 *
 * The error discipline is the CPU path's: nvJPEG's failure only sends an image to
 * libjpeg-turbo, whose verdict is final, so a bad file gets exactly the one line naming it
 * that fr_image_decode writes, whichever device decoded the others.
 *
 * nvJPEG is loaded at run time (dlopen: $FACEREC_NVJPEG, else libnvjpeg.so.13, .12, .11):
 * it is an optional part of a CUDA installation, and a missing one must not keep facerec
 * from starting; fr_gpu_decoder_new then fails with FR_E_UNSUPPORTED and one line saying what
 * was looked for. FACEREC_NVJPEG=off disables it. Pixels differ from libjpeg-turbo's by its
 * integer IDCT against nvJPEG's and by the chroma upsampling filter: tests/test_cuda_jpeg.c
 * states and checks the tolerance.
 *
 * A decoder is used by one thread at a time.
 */
#ifndef FR_IMAGE_GPU_DECODE_H
#define FR_IMAGE_GPU_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

typedef enum fr_gpu_backend {
    FR_GPU_BACKEND_AUTO = 0, /* hardware where the GPU has JPEG engines, else hybrid */
    FR_GPU_BACKEND_HARDWARE, /* insist on the JPEG engines (fails where there are none) */
    FR_GPU_BACKEND_HYBRID    /* the CUDA decoder only */
} fr_gpu_backend;

typedef enum fr_decoded_by {
    FR_DECODED_NONE = 0, /* failed */
    FR_DECODED_HARDWARE,
    FR_DECODED_HYBRID,
    FR_DECODED_CPU
} fr_decoded_by;

typedef struct fr_gpu_decoder_options {
    int max_batch;               /* images per call (0: 64) */
    fr_gpu_backend backend;
    fr_decode_options limits;    /* max_pixels and min_side, as for fr_image_decode */
    int64_t cpu_below_pixels;    /* images with fewer pixels go to libjpeg-turbo (0: none) */
} fr_gpu_decoder_options;

/* One encoded input: its bytes and the name its messages carry. */
typedef struct fr_encoded {
    const void *data;
    size_t size;
    const char *name;
} fr_encoded;

/* One decoded image on the device. */
typedef struct fr_gpu_image {
    uint8_t *pixels;     /* device memory, (height, width, 3) RGB rows of width * 3 bytes,
                            owned by the decoder, valid until its next decode or free */
    int width, height;   /* as decoded (reduced scale included) */
    int file_width, file_height; /* the file's own size, for boxes in file pixels */
    fr_decoded_by by;
    fr_status status;    /* FR_OK, or why this input has no image */
    char error[256];     /* the one line, when status != FR_OK */
} fr_gpu_image;

typedef struct fr_gpu_decoder fr_gpu_decoder;

/* A decoder on GPU 0. FR_E_UNSUPPORTED: no CUDA backend in this build, no nvJPEG library, or
 * no JPEG engines where the hardware backend was insisted on; FR_E_DEVICE: no usable GPU. */
fr_status fr_gpu_decoder_new(const fr_gpu_decoder_options *options, fr_gpu_decoder **out);
void fr_gpu_decoder_free(fr_gpu_decoder *decoder);

/* One line: the nvJPEG version and backend, hardware engines, and images per decoder so far. */
const char *fr_gpu_decoder_describe(fr_gpu_decoder *decoder);

/* Decodes n <= max_batch inputs into out[0..n): every one gets an image or its own status.
 * Returns FR_OK unless the decoder itself broke (a GPU fault: the decoder is then unusable). */
fr_status fr_gpu_decode_device(fr_gpu_decoder *decoder, const fr_encoded *inputs, int n,
                               fr_gpu_image *out);

/* The same, with the images copied back into host memory: out[i] is owned by the caller
 * (fr_image_free) when info[i].status == FR_OK; info[i] says everything else (who decoded
 * it, the file's size, the error), its pixels NULL. */
fr_status fr_gpu_decode_host(fr_gpu_decoder *decoder, const fr_encoded *inputs, int n,
                             fr_image *out, fr_gpu_image *info);

#endif
