/*
 * test_pool.c: the thread pool under stress. Many short loops back to back (the pattern of a
 * network at batch 1, where workers spin between loops instead of sleeping), loops with fewer
 * tasks than workers, pauses long enough for every worker to fall asleep, and pools created
 * and freed while their workers spin: every task of every loop must run exactly once, on a
 * worker index in range, and fr_pool_run must return only after all of them.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/pool.h"
#include "testutil.h"

#define MAX_TASKS 64

typedef struct loop_ctx {
    atomic_int runs[MAX_TASKS];
    atomic_int bad_worker;
    int threads;
    int slow; /* a task that takes a little while, so others overtake it */
} loop_ctx;

static void task_fn(void *ctx, int task, int worker)
{
    loop_ctx *c = ctx;
    if (worker < 0 || worker >= c->threads)
        atomic_fetch_add(&c->bad_worker, 1);
    if (c->slow && task == 0) {
        volatile double x = 0;
        for (int i = 0; i < 20000; i++)
            x += i * 0.5;
    }
    atomic_fetch_add(&c->runs[task], 1);
}

static int run_loops(fr_pool *pool, int threads, int loops, unsigned seed, int pause_every)
{
    int wrong = 0;
    loop_ctx c;
    for (int l = 0; l < loops; l++) {
        int tasks = 1 + (int)(rand_r(&seed) % MAX_TASKS);
        for (int t = 0; t < MAX_TASKS; t++)
            atomic_init(&c.runs[t], 0);
        atomic_init(&c.bad_worker, 0);
        c.threads = threads;
        c.slow = (int)(rand_r(&seed) % 4 == 0);
        fr_pool_run(pool, tasks, task_fn, &c);
        /* every task done once by the time run returns, none beyond the count */
        for (int t = 0; t < MAX_TASKS; t++)
            if (atomic_load(&c.runs[t]) != (t < tasks ? 1 : 0))
                wrong++;
        if (atomic_load(&c.bad_worker))
            wrong++;
        if (pause_every && l % pause_every == pause_every - 1) {
            struct timespec ts = {0, 2000000}; /* 2 ms: longer than the spin */
            nanosleep(&ts, NULL);
        }
    }
    return wrong;
}

int main(void)
{
    for (int threads = 1; threads <= 5; threads++) {
        fr_pool *pool = NULL;
        CHECK_OK(fr_pool_new(threads, &pool));
        if (!pool)
            continue;
        CHECK(fr_pool_threads(pool) == threads);
        CHECK(run_loops(pool, threads, 20000, 17u + (unsigned)threads, 0) == 0);
        CHECK(run_loops(pool, threads, 60, 5u, 3) == 0);
        fr_pool_free(pool);
    }
    /* pools freed right after a loop (workers still spinning) and never used */
    for (int i = 0; i < 200; i++) {
        fr_pool *pool = NULL;
        CHECK_OK(fr_pool_new(1 + i % 4, &pool));
        if (!pool)
            continue;
        if (i % 2)
            CHECK(run_loops(pool, 1 + i % 4, 3, (unsigned)i, 0) == 0);
        fr_pool_free(pool);
    }
    return fr_test_finish("test_pool");
}
