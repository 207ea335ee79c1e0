/*
 * backend.h: what a backend is: plan a graph for a largest batch, run batches, free.
 *
 * Backends see only the graph (model/graph.h) and uint8 inputs; they return raw network
 * outputs. The CPU backend always exists; the CUDA backend (cuda/) exists where the toolkit
 * was found at build time and is usable where a GPU is present at run time.
 */
#ifndef FR_ENGINE_BACKEND_H
#define FR_ENGINE_BACKEND_H

#include "facerec.h"
#include "model/graph.h"

typedef struct fr_backend {
    const char *name;
    /* Plans memory and kernels once for batches up to options->max_batch. */
    fr_status (*plan)(const fr_graph *graph, const fr_runner_options *options, void **state);
    /* n <= max_batch inputs of (input_h, input_w, 3) uint8 -> n x output channels floats. */
    fr_status (*run)(void *state, const uint8_t *inputs, int n, float *outputs);
    void (*release)(void *state);
    /* The precision actually in use, and the largest batch actually planned (a GPU may plan
     * less than asked for when memory is short). */
    fr_precision (*precision)(const void *state);
    int (*max_batch)(const void *state);
} fr_backend;

extern const fr_backend fr_cpu_backend;
#ifdef FACEREC_HAVE_CUDA
extern const fr_backend fr_cuda_backend;
#endif

#endif
