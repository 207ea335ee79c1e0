/* alloc.c: allocation helpers that record why they failed. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void *fr_malloc(size_t size, const char *what)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        fr_fail(FR_E_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *fr_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        fr_fail(FR_E_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

void *fr_aligned_alloc(size_t size, const char *what)
{
    void *p = NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (rounded < size || posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
        fr_fail(FR_E_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
        return NULL;
    }
    return p;
}

char *fr_strdup(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = fr_malloc(n, "a string");
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

void *fr_scratch_get(fr_scratch *s, size_t size, const char *what)
{
    if (size > s->size) {
        void *grown = fr_malloc(size, what);
        if (!grown)
            return NULL;
        free(s->data);
        s->data = grown;
        s->size = size;
    }
    return s->data;
}

void fr_scratch_free(fr_scratch *s)
{
    free(s->data);
    s->data = NULL;
    s->size = 0;
}
