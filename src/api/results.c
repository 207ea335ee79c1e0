/* results.c: fr_results, built row by row (results.h) and freed by fr_results_free. */
#include "api/results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

typedef struct results_store {
    fr_results public; /* first: fr_results_free gets this address back */
    size_t capacity;   /* rows the arrays hold */
    size_t *error_at;  /* per row: offset of its error line in text, or (size_t)-1 */
    char *text;
    size_t text_used, text_capacity;
} results_store;

static const char no_error[] = "";

static void store_free(results_store *s)
{
    if (!s)
        return;
    free(s->public.rows);
    free(s->public.embeddings);
    free(s->error_at);
    free(s->text);
    free(s);
}

void fr_results_free(fr_results *results)
{
    store_free((results_store *)results);
}

static fr_status grow(results_store *s, size_t rows)
{
    size_t cap = s->capacity ? s->capacity : 16;
    while (cap < rows)
        cap *= 2;
    size_t floats;
    if (!fr_mul_size(cap, s->public.dim, &floats) || !fr_mul_size(floats, sizeof(float), &floats))
        return fr_fail(FR_E_TOO_LARGE, "%zu results of %zu floats are too many", cap,
                       s->public.dim);
    fr_result *r = realloc(s->public.rows, cap * sizeof *r);
    if (r)
        s->public.rows = r;
    size_t *e = r ? realloc(s->error_at, cap * sizeof *e) : NULL;
    if (e)
        s->error_at = e;
    float *v = e && s->public.dim ? realloc(s->public.embeddings, floats) : NULL;
    if (v)
        s->public.embeddings = v;
    if (!r || !e || (s->public.dim && !v))
        return fr_fail(FR_E_NOMEM, "out of memory for %zu results", cap);
    s->capacity = cap;
    return FR_OK;
}

fr_status fr_results_begin(fr_results_builder *b, size_t dim, size_t expected)
{
    b->failed = FR_OK;
    b->store = fr_calloc(1, sizeof *b->store, "results");
    if (!b->store)
        return FR_E_NOMEM;
    b->store->public.dim = dim;
    fr_status st = grow(b->store, expected ? expected : 1);
    if (st) {
        store_free(b->store);
        b->store = NULL;
    }
    return st;
}

static fr_status add_text(results_store *s, const char *text, size_t *at)
{
    size_t n = strlen(text) + 1;
    if (s->text_used + n > s->text_capacity) {
        size_t cap = s->text_capacity ? s->text_capacity : 256;
        while (cap < s->text_used + n)
            cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t)
            return fr_fail(FR_E_NOMEM, "out of memory for result messages");
        s->text = t;
        s->text_capacity = cap;
    }
    memcpy(s->text + s->text_used, text, n);
    *at = s->text_used;
    s->text_used += n;
    return FR_OK;
}

fr_status fr_results_add(fr_results_builder *b, const fr_result *row, const char *error,
                         const float *embedding)
{
    results_store *s = b->store;
    size_t i = s->public.count;
    fr_status st = i == s->capacity ? grow(s, i + 1) : FR_OK;
    s->error_at[i] = (size_t)-1;
    if (!st && row->status != FR_OK)
        st = add_text(s, error && *error ? error : fr_status_name(row->status), &s->error_at[i]);
    if (st) {
        if (!b->failed)
            b->failed = st;
        return st;
    }
    s->public.rows[i] = *row;
    s->public.rows[i].error = no_error;
    size_t dim = s->public.dim;
    if (dim && embedding)
        memcpy(s->public.embeddings + i * dim, embedding, dim * sizeof(float));
    else if (dim)
        memset(s->public.embeddings + i * dim, 0, dim * sizeof(float));
    s->public.count++;
    return FR_OK;
}

fr_status fr_results_end(fr_results_builder *b, fr_status status, fr_results **out)
{
    results_store *s = b->store;
    b->store = NULL;
    if (status) {
        store_free(s);
        return status;
    }
    for (size_t i = 0; i < s->public.count; i++)
        if (s->error_at[i] != (size_t)-1)
            s->public.rows[i].error = s->text + s->error_at[i];
    *out = &s->public;
    return FR_OK;
}

fr_status fr_results_image_names(size_t count, char ***out)
{
    char **names = fr_calloc(count ? count : 1, sizeof *names, "image names");
    if (!names)
        return FR_E_NOMEM;
    for (size_t i = 0; i < count; i++) {
        char buffer[32];
        snprintf(buffer, sizeof buffer, "image %zu", i);
        names[i] = fr_strdup(buffer);
        if (!names[i]) {
            fr_results_names_free(names, i);
            return FR_E_NOMEM;
        }
    }
    *out = names;
    return FR_OK;
}

void fr_results_names_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}
