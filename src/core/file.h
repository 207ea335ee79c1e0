/*
 * file.h: whole-file reads, read-only mappings, and outputs that appear atomically.
 *
 * Outputs are written to "<path>.tmp.<pid>" and renamed over <path> on commit, so an
 * interrupted run never leaves a half-written file under the name a user asked for.
 */
#ifndef FR_CORE_FILE_H
#define FR_CORE_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "facerec.h"

/* Reads a whole regular file (refusing files over max_size bytes). *data is malloc'ed. */
fr_status fr_file_read(const char *path, size_t max_size, void **data, size_t *size);

/* The next line of a text read into memory, cut in place at its '\n' (a '\r' before it
 * dropped too); *cursor moves past it, NULL once the text is used up. */
char *fr_next_line(char **cursor);

typedef struct fr_mapping {
    const void *data;
    size_t size;
} fr_mapping;

fr_status fr_file_map(const char *path, fr_mapping *out);
void fr_file_unmap(fr_mapping *mapping);

typedef struct fr_output {
    FILE *file;
    char *path;     /* the final name */
    char *tmp_path; /* where it is written until committed */
} fr_output;

/* Opens a temporary file beside path. "-" means stdout (committed as is). */
fr_status fr_output_open(fr_output *out, const char *path, int binary);
/* Flushes, syncs and renames into place; reports a write error naming the path. */
fr_status fr_output_commit(fr_output *out);
/* Removes the temporary file; safe after a commit and on a never-opened output. */
void fr_output_abort(fr_output *out);

#endif
