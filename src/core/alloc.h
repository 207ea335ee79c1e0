/*
 * alloc.h: size arithmetic that cannot overflow silently, and allocation that reports.
 * Every size computed from file contents or user input goes through fr_mul_size().
 */
#ifndef FR_CORE_ALLOC_H
#define FR_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

/* *out = a * b; returns 0 on overflow (out untouched), 1 otherwise. */
static inline int fr_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* Allocations that set the error message ("out of memory allocating N bytes for what"). */
void *fr_malloc(size_t size, const char *what);
void *fr_calloc(size_t count, size_t size, const char *what);
/* 64-byte aligned (cache lines, AVX-512 loads); release with free(). */
void *fr_aligned_alloc(size_t size, const char *what);
char *fr_strdup(const char *text);

/* A buffer reused across calls (crops, resize tables): grows, never shrinks. */
typedef struct fr_scratch {
    void *data;
    size_t size;
} fr_scratch;

/* At least SIZE bytes (contents not kept when it grows), or NULL with the error set. */
void *fr_scratch_get(fr_scratch *scratch, size_t size, const char *what);
void fr_scratch_free(fr_scratch *scratch);

#endif
