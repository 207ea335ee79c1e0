/* budget.c: the shared memory budget (budget.h). */
#include "core/budget.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

struct fr_budget {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    size_t capacity, taken, peak;
};

fr_status fr_budget_new(size_t capacity, fr_budget **out)
{
    fr_budget *b = fr_calloc(1, sizeof *b, "a memory budget");
    if (!b)
        return FR_E_NOMEM;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->freed, NULL);
    b->capacity = capacity;
    *out = b;
    return FR_OK;
}

void fr_budget_free(fr_budget *budget)
{
    if (!budget)
        return;
    pthread_mutex_destroy(&budget->lock);
    pthread_cond_destroy(&budget->freed);
    free(budget);
}

size_t fr_budget_capacity(const fr_budget *budget)
{
    return budget->capacity;
}

static int room(const fr_budget *b, size_t bytes)
{
    return b->taken == 0 || (bytes <= b->capacity && b->taken <= b->capacity - bytes);
}

int fr_budget_fits(fr_budget *budget, size_t bytes)
{
    pthread_mutex_lock(&budget->lock);
    int fits = room(budget, bytes);
    pthread_mutex_unlock(&budget->lock);
    return fits;
}

void fr_budget_take(fr_budget *budget, size_t bytes)
{
    pthread_mutex_lock(&budget->lock);
    while (!room(budget, bytes))
        pthread_cond_wait(&budget->freed, &budget->lock);
    budget->taken += bytes;
    if (budget->taken > budget->peak)
        budget->peak = budget->taken;
    pthread_mutex_unlock(&budget->lock);
}

void fr_budget_give(fr_budget *budget, size_t bytes)
{
    pthread_mutex_lock(&budget->lock);
    budget->taken -= bytes < budget->taken ? bytes : budget->taken;
    pthread_cond_broadcast(&budget->freed);
    pthread_mutex_unlock(&budget->lock);
}

size_t fr_budget_peak(fr_budget *budget)
{
    pthread_mutex_lock(&budget->lock);
    size_t peak = budget->peak;
    pthread_mutex_unlock(&budget->lock);
    return peak;
}

fr_status fr_budget_default_capacity(size_t *bytes)
{
    const char *text = getenv("FACEREC_DECODE_MEMORY");
    if (text && *text) {
        char *end;
        errno = 0;
        unsigned long long mib = strtoull(text, &end, 10);
        if (errno || *end || mib == 0 || text[0] == '-' || mib > ((size_t)-1 >> 20))
            return fr_fail(FR_E_INVALID, "FACEREC_DECODE_MEMORY=%s: expected a size in MiB "
                           "(a positive integer)", text);
        *bytes = (size_t)mib << 20;
        return FR_OK;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t cap = (size_t)1 << 30;
    if (pages > 0 && page > 0 && (size_t)pages / 4 < cap / (size_t)page)
        cap = (size_t)pages / 4 * (size_t)page;
    *bytes = cap;
    return FR_OK;
}
