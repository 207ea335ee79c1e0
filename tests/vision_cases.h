/*
 * vision_cases.h: random inputs for the vision operations (runtime/vision.h), shared by the
 * CPU test (tests/test_vision.c: the operations against straightforward re-implementations)
 * and the GPU test (tests/test_cuda_vision.c: each CUDA twin against the CPU), so both check
 * the same kinds of case: images of mixed sizes with structure at every scale (gradients,
 * blocks and noise), boxes inside, across and outside the image borders, degenerate ones,
 * distinct scores.
 */
#ifndef FR_TEST_VISION_CASES_H
#define FR_TEST_VISION_CASES_H

#include <stdint.h>

#include "detect/detect.h"
#include "runtime/vision.h"

/* An image of w x h with gradients, blocks and noise (fr_image_free). */
fr_image fr_case_image(uint64_t *rng, int w, int h);
/* A candidate box over a (w, h) image: mostly inside, some across a border, a few outside or
 * degenerate; detect_face's 1-based corners, integral as the stages leave them. */
void fr_case_box(uint64_t *rng, int w, int h, double box[4]);
/* n candidates over images[0..nimages), distinct scores in (0, 1), regressions and points. */
void fr_case_cands(uint64_t *rng, const fr_image *images, int nimages, fr_cand *out, int n);
/* A face box (fr_face, 5 landmarks inside it) over a (w, h) image. */
fr_face fr_case_face(uint64_t *rng, int w, int h);

#endif
