/*
 * vision_kernels.h: the CUDA twins of the vision operations (runtime/vision.h), behind a C
 * interface for cuda/vision.c. Every table argument (images, jobs, segments, copies, frames)
 * is already in device memory; each launcher enqueues on `stream` and returns the launch
 * status (check.h).
 */
#ifndef FR_CUDA_VISION_KERNELS_H
#define FR_CUDA_VISION_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec.h"
#include "runtime/vision.h"

#ifdef __cplusplus
extern "C" {
#endif

fr_status fr_cv_resize_area(cudaStream_t stream, const fr_vision_image *images,
                            const fr_resize_job *jobs, int n, int max_pixels, uint8_t *dst);
/* counts: device, per job */
fr_status fr_cv_pnet_cells(cudaStream_t stream, const float *outputs, const fr_pnet_job *jobs,
                           int n, double threshold, fr_cand *cands, int *counts);

/* The NMS in four launches over n segments whose candidates lie within [0, span) of cands:
 * filter and step (into work, keys and positions), a segmented sort by score, the gather
 * of each segment in that order (into sorted), the greedy suppression writing the picks back
 * to cands; kept: device, per segment. scratch: device memory of fr_cv_nms_scratch(span, n)
 * bytes. */
size_t fr_cv_nms_scratch(size_t span, int n);
fr_status fr_cv_nms(cudaStream_t stream, fr_cand *cands, size_t span, const fr_segment *segments,
                    int n, const fr_nms_spec *spec, void *scratch, size_t scratch_bytes, int *kept);

fr_status fr_cv_gather(cudaStream_t stream, const fr_cand *src, const fr_copy *copies, int n,
                       fr_cand *dst);
fr_status fr_cv_crop_resize(cudaStream_t stream, const fr_vision_image *images,
                            const fr_cand *cands, int n, int size, uint8_t *out);
fr_status fr_cv_read_net(cudaStream_t stream, fr_cand *cands, int n, const float *outputs,
                         int stride, int points);
fr_status fr_cv_landmark_crops(cudaStream_t stream, const fr_vision_image *images,
                               const fr_crop_job *jobs, int n, int size, uint8_t *out);
/* the whole images jobs[k] (x = y = 0, the image's size), padded after the image */
fr_status fr_cv_tiny_inputs(cudaStream_t stream, const fr_vision_image *images,
                            const fr_crop_job *jobs, int n, int size, uint8_t *out);
/* counts: device, per job */
fr_status fr_cv_tiny_boxes(cudaStream_t stream, const float *outputs, const fr_tiny_job *jobs,
                           int n, double threshold, fr_cand *cands, int *counts);
fr_status fr_cv_facenet_crops(cudaStream_t stream, const fr_vision_image *images,
                              const fr_crop_job *jobs, int n, int size, uint8_t *out);
fr_status fr_cv_landmark_transforms(cudaStream_t stream, const float *outputs, int input_size,
                                    const fr_landmark_frame *frames, int n,
                                    const fr_chip_template *chip, double *m);
/* degenerate: set to 1 (device int) when a mapping is degenerate (its chip is black) */
fr_status fr_cv_warp_chips(cudaStream_t stream, const fr_vision_image *images,
                           const int *image_of, const double *m, int n, int size, int sampler,
                           uint8_t *out, int *degenerate);

#ifdef __cplusplus
}
#endif

#endif
