/*
 * cpu_primitives.h: the network on the CPU through oneDNN's primitives (cpu_primitives.c),
 * the CPU backend's main path; cpu_backend.c's im2col + sgemm path is the reference it is
 * tested against and the fallback for a graph this path cannot plan.
 */
#ifndef FR_CPU_PRIMITIVES_H
#define FR_CPU_PRIMITIVES_H

#include "facerec.h"
#include "model/graph.h"

typedef struct fr_cpu_primitives fr_cpu_primitives;

/* Plans graph g for batches up to max_batch on `threads` OpenMP threads, in fp32 or bf16
 * (FR_PRECISION_BF16; refused with FR_E_UNSUPPORTED where the CPU has no AVX512-BF16 or
 * AMX). Every primitive of the largest batch is created and every convolution's weights
 * reordered into the layout it chose here; other batch sizes are built when first run.
 * FR_E_UNSUPPORTED also names an operation no primitive takes (the caller may fall back). */
fr_status fr_cpu_primitives_plan(const fr_graph *g, int max_batch, int threads,
                                 fr_precision precision, fr_cpu_primitives **out);
/* n <= max_batch uint8 inputs -> n raw outputs (h * w * c floats each, NHWC). */
fr_status fr_cpu_primitives_run(fr_cpu_primitives *p, const uint8_t *inputs, int n,
                                float *outputs);
void fr_cpu_primitives_free(fr_cpu_primitives *p);
fr_precision fr_cpu_primitives_precision(const fr_cpu_primitives *p);
/* One line: precision, ISA, batch sizes built, and which implementation each primitive got. */
const char *fr_cpu_primitives_describe(fr_cpu_primitives *p);

/* Whether oneDNN may use native bf16 instructions on this CPU (AVX512-BF16 or AMX). */
int fr_cpu_has_bf16(void);
/* Whether oneDNN has fp32 Winograd convolution kernels on this CPU (AVX-512: FACEREC_CPU_WINOGRAD
 * has an effect only there). */
int fr_cpu_has_winograd(void);

#endif
