/*
 * backend.h: where a training step runs. The trainer (train.c) picks batches and triplets and
 * keeps the schedule; a backend holds the training features, the head and the optimizer state
 * on its device and runs what is arithmetic:
 *
 *   open(head, features, count, max_batch, optimizer, threads, &state)
 *             features: count x head->inputs floats in host memory (copied to the device or
 *             referenced: they must outlive the state)
 *   forward(state, rows, n, squared)
 *             the head in training mode over features[rows[0..n)]; squared (n x n, host)
 *             receives the squared L2 distances between the batch's embeddings
 *   step(state, triplets, count, alpha, lr, &loss, &active)
 *             the triplet loss over the last forward's embeddings (a sum; the gradient is
 *             taken of its mean over the count triplets), backpropagation into the head and
 *             one optimizer update at rate lr
 *   embed(state, rows, n, out)        inference embeddings (n x outputs, host)
 *   statistics(state, rows, n)        batch norm's population statistics over those rows
 *   read(state, head) / write(state, head)   parameters and statistics to / from the host
 *   close(state)
 *
 * The CPU backend (learn_cpu.c: head.c, triplet.c, optimizer.c) is the reference; the CUDA
 * backend (cuda/learn.c) is tested against it op by op (tests/test_cuda_learn.c).
 */
#ifndef FR_LEARN_BACKEND_H
#define FR_LEARN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"
#include "learn/head.h"
#include "learn/optimizer.h"
#include "learn/triplet.h"

typedef struct fr_learn_backend {
    const char *name;
    fr_status (*open)(const fr_head *head, const float *features, size_t count,
                      size_t max_batch, const fr_optimizer_options *optimizer, int threads,
                      void **state);
    fr_status (*forward)(void *state, const int32_t *rows, size_t n, float *squared);
    fr_status (*step)(void *state, const fr_triplet *triplets, size_t count, float alpha,
                      double lr, double *loss, size_t *active);
    fr_status (*embed)(void *state, const int32_t *rows, size_t n, float *out);
    fr_status (*statistics)(void *state, const int32_t *rows, size_t n);
    fr_status (*read)(void *state, fr_head *head);
    fr_status (*write)(void *state, const fr_head *head);
    void (*close)(void *state);
} fr_learn_backend;

extern const fr_learn_backend fr_cpu_learn_backend;
#ifdef FACEREC_HAVE_CUDA
extern const fr_learn_backend fr_cuda_learn_backend;
#endif

/* The backend for a device (auto: CUDA where a GPU is present). */
fr_status fr_learn_backend_for(fr_device device, const fr_learn_backend **out);

#endif
