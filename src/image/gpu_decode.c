/*
 * gpu_decode.c: image/gpu_decode.h in a build without the CUDA backend, where there is no GPU
 * decoder to make (cuda/jpeg_decoder.c is the implementation where there is).
 */
#include "image/gpu_decode.h"

#ifndef FACEREC_HAVE_CUDA

#include "core/error.h"

fr_status fr_gpu_decoder_new(const fr_gpu_decoder_options *options, fr_gpu_decoder **out)
{
    (void)options;
    (void)out;
    return fr_fail(FR_E_UNSUPPORTED, "GPU JPEG decoding: this build of facerec has no CUDA "
                   "backend (rebuild with the CUDA toolkit and cuDNN installed)");
}

void fr_gpu_decoder_free(fr_gpu_decoder *decoder)
{
    (void)decoder;
}

const char *fr_gpu_decoder_describe(fr_gpu_decoder *decoder)
{
    (void)decoder;
    return "no GPU decoder in this build";
}

fr_status fr_gpu_decode_device(fr_gpu_decoder *decoder, const fr_encoded *inputs, int n,
                               fr_gpu_image *out)
{
    (void)decoder;
    (void)inputs;
    (void)n;
    (void)out;
    return fr_fail(FR_E_UNSUPPORTED, "GPU JPEG decoding: no CUDA backend in this build");
}

fr_status fr_gpu_decode_host(fr_gpu_decoder *decoder, const fr_encoded *inputs, int n,
                             fr_image *out, fr_gpu_image *info)
{
    (void)decoder;
    (void)inputs;
    (void)n;
    (void)out;
    (void)info;
    return fr_fail(FR_E_UNSUPPORTED, "GPU JPEG decoding: no CUDA backend in this build");
}

#endif
