/*
 * pool.c: the parallel-for thread pool (pthreads, a generation counter per loop).
 *
 * A network runs one loop per layer, some of them a few microseconds long at batch 1, so
 * both sides spin briefly before they sleep: a worker watches the generation counter, the
 * caller the count of workers still busy, for about SPIN_ROUNDS pause instructions (tens of
 * microseconds), and only then waits on the condition variable. Every change that a sleeper
 * waits for is made under the mutex and signalled, so a sleeper never misses one; the
 * spinners read the same fields as atomics.
 */
#include "core/pool.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ROUNDS 2000

#include "core/alloc.h"
#include "core/error.h"

struct fr_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    atomic_ulong generation;  /* bumped for every loop (under the lock) */
    atomic_int stopping;
    atomic_int active;        /* workers still inside the current loop */
    fr_pool_fn fn;
    void *ctx;
    int tasks;
    atomic_int next;
};

typedef struct worker_arg {
    fr_pool *pool;
    int index;
} worker_arg;

int fr_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void drain(fr_pool *p, int worker)
{
    for (;;) {
        int task = atomic_fetch_add(&p->next, 1);
        if (task >= p->tasks)
            break;
        p->fn(p->ctx, task, worker);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    fr_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    /* Libraries called from a task (oneDNN's GEMM) must not start OpenMP teams of their own:
     * the pool already keeps every core busy. */
    omp_set_num_threads(1);
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->generation) == seen &&
                        !atomic_load(&p->stopping);
             i++)
            CPU_RELAX();
        if (atomic_load(&p->generation) == seen && !atomic_load(&p->stopping)) {
            pthread_mutex_lock(&p->lock);
            while (!atomic_load(&p->stopping) && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->start, &p->lock);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stopping))
            break;
        seen = atomic_load(&p->generation);
        drain(p, index);
        if (atomic_fetch_sub(&p->active, 1) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

fr_status fr_pool_new(int threads, fr_pool **out)
{
    if (threads <= 0)
        threads = fr_cpu_count();
    if (threads > 1024)
        return fr_fail(FR_E_INVALID, "%d threads is too many", threads);
    fr_pool *p = fr_calloc(1, sizeof *p, "a thread pool");
    if (!p)
        return FR_E_NOMEM;
    p->threads = threads;
    omp_set_num_threads(1); /* the calling thread is worker 0 */
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = fr_calloc((size_t)threads, sizeof *p->workers, "a thread pool");
    if (!p->workers) {
        free(p);
        return FR_E_NOMEM;
    }
    for (int i = 1; i < threads; i++) {
        /* filled before the thread starts: it reads and frees its argument at once */
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->pool = p;
            wa->index = i;
        }
        if (!wa || pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->threads = i; /* those started so far are stopped by free */
            fr_pool_free(p);
            return fr_fail(FR_E_NOMEM, "cannot start thread %d of %d", i + 1, threads);
        }
    }
    *out = p;
    return FR_OK;
}

void fr_pool_free(fr_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stopping, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int fr_pool_threads(const fr_pool *p)
{
    return p->threads;
}

void fr_pool_run(fr_pool *p, int tasks, fr_pool_fn fn, void *ctx)
{
    if (tasks <= 0)
        return;
    if (p->threads == 1 || tasks == 1) {
        for (int t = 0; t < tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    /* The loop's fields are written before the generation moves: a worker that sees the new
     * generation (sequentially consistent atomics) sees them too. */
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->tasks = tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->active, p->threads - 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    drain(p, 0);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->active) > 0; i++)
        CPU_RELAX();
    if (atomic_load(&p->active) > 0) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->active) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}
