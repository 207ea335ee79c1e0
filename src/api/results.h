/*
 * results.h: building an fr_results (facerec.h) row by row, for the facade's engine.
 *
 * The rows, the embeddings and the error lines live in three growable arrays owned by one
 * allocation behind the public struct; the error pointers are fixed once the rows are
 * complete, so growing never leaves a row pointing at freed memory.
 */
#ifndef FR_API_RESULTS_H
#define FR_API_RESULTS_H

#include <stddef.h>

#include "facerec.h"

typedef struct fr_results_builder {
    struct results_store *store;
    fr_status failed; /* the first failure to keep a row (the run is then stopped) */
} fr_results_builder;

/* dim: floats per embedding (0: detection rows); expected: a first guess of the rows. */
fr_status fr_results_begin(fr_results_builder *builder, size_t dim, size_t expected);
/* Appends a row (its error: the line when row->status != FR_OK; embedding: dim floats, or
 * NULL for zeros). */
fr_status fr_results_add(fr_results_builder *builder, const fr_result *row, const char *error,
                         const float *embedding);
/* status == FR_OK: hands the rows over in *out; otherwise frees them and returns status. */
fr_status fr_results_end(fr_results_builder *builder, fr_status status, fr_results **out);

/* "image 0", "image 1", ...: what errors call the caller's decoded images. */
fr_status fr_results_image_names(size_t count, char ***out);
void fr_results_names_free(char **names, size_t count);

#endif
