/*
 * backend.h: what a backend is: plan a graph for a largest batch, run batches, free.
 *
 * Backends see only the graph (model/graph.h) and uint8 inputs; they return raw network
 * outputs. The CPU backend always exists; the CUDA backend (cuda/) exists where the toolkit
 * was found at build time and is usable where a GPU is present at run time.
 *
 * A backend may also take batches asynchronously (submit / collect): the CUDA backend
 * uploads, computes and downloads one batch while the engine decodes the next. Where a
 * backend has no submit, the runner emulates it with run(), so the engine has one code path.
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

    /* Optional (NULL where absent). submit starts a batch of n <= max_batch inputs and may
     * return before it is done (inputs can be reused as soon as it returns); collect waits for
     * the oldest batch submitted and not yet collected and writes its outputs. At most
     * FR_BACKEND_IN_FLIGHT batches are submitted and not collected at any time. */
    fr_status (*submit)(void *state, const uint8_t *inputs, int n);
    fr_status (*collect)(void *state, float *outputs);
    /* A warning for the user (e.g. a smaller batch than asked for), or NULL. */
    const char *(*warning)(const void *state);
    /* One line on how the model runs (precision, batch, library paths taken), or NULL. */
    const char *(*describe)(void *state);
    /* Seconds per batch of n for the forward pass alone, on the inputs of the last batch
     * submitted, already on the device: the median of `iterations` timed runs after warm-up. */
    fr_status (*benchmark)(void *state, int n, int iterations, double *seconds);
    /* Optional: n <= max_batch inputs already in an execution context's memory (vision.h:
     * exec_state is that context's backend state) -> outputs in its memory, ordered after the
     * context's earlier work and before its later work; may return before it is done. NULL:
     * run() serves, the backend's context memory being host memory (the CPU). */
    fr_status (*run_on)(void *state, void *exec_state, const uint8_t *inputs, int n,
                        float *outputs);
} fr_backend;

#define FR_BACKEND_IN_FLIGHT 2

/* The engine's side of a runner (engine/embedder.c, benchmarks): batches in flight, in the
 * order submitted, at most FR_BACKEND_IN_FLIGHT at a time; n may be 0 (nothing to run). collect
 * writes the outputs of the oldest batch and its n. */
fr_status fr_runner_submit(fr_runner *runner, const uint8_t *inputs, int n);
fr_status fr_runner_collect(fr_runner *runner, float *outputs, int *n);
/* A batch in an execution context's memory, on that context (the runner's device must be
 * the context's): the detector's and the aligner's networks between their vision
 * operations, with nothing copied to the host. */
struct fr_exec;
fr_status fr_runner_run_on(fr_runner *runner, struct fr_exec *exec, const uint8_t *inputs, int n,
                           float *outputs);
/* The backend's benchmark(), or FR_E_UNSUPPORTED where it has none. */
fr_status fr_runner_benchmark(fr_runner *runner, int n, int iterations, double *seconds);

extern const fr_backend fr_cpu_backend;
#ifdef FACEREC_HAVE_CUDA
extern const fr_backend fr_cuda_backend;
#endif

#endif
