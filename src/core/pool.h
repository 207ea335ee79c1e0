/*
 * pool.h: a fixed set of worker threads running parallel-for loops.
 *
 * fr_pool_run(pool, n, fn, ctx) calls fn(ctx, task, worker) for task = 0..n-1 spread over the
 * workers (the calling thread is worker 0) and returns when all are done. `worker` indexes
 * per-thread scratch buffers planned ahead by the caller. Tasks are handed out one at a time
 * from an atomic counter, so uneven tasks balance themselves.
 */
#ifndef FR_CORE_POOL_H
#define FR_CORE_POOL_H

#include "facerec.h"

typedef struct fr_pool fr_pool;
typedef void (*fr_pool_fn)(void *ctx, int task, int worker);

/* threads <= 0: one per online CPU. */
fr_status fr_pool_new(int threads, fr_pool **out);
void fr_pool_free(fr_pool *pool);
int fr_pool_threads(const fr_pool *pool);
void fr_pool_run(fr_pool *pool, int tasks, fr_pool_fn fn, void *ctx);

/* The number of online CPUs (at least 1). */
int fr_cpu_count(void);

#endif
