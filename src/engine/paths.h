/*
 * paths.h: turning command-line arguments into the ordered list of image files to read.
 * Directories are walked recursively; their entries are sorted (byte order) and filtered to
 * image extensions (.jpg .jpeg .png, any case); files named explicitly are taken as they are.
 */
#ifndef FR_ENGINE_PATHS_H
#define FR_ENGINE_PATHS_H

#include <stddef.h>

#include "facerec.h"

typedef struct fr_path_list {
    char **paths;
    size_t count, capacity;
    size_t errors; /* unreadable directories or arguments, each reported through the callback */
} fr_path_list;

/* Called for each argument or directory that cannot be read (the message names it). */
typedef void (*fr_path_error_fn)(void *ctx, const char *message);

fr_status fr_paths_collect(char *const *args, size_t count, fr_path_list *out,
                           fr_path_error_fn on_error, void *ctx);
/* Keeps paths [first, end) (a shard's part of the list: cli/shard.h), freeing the others. */
void fr_paths_keep(fr_path_list *list, size_t first, size_t end);
fr_status fr_paths_add(fr_path_list *list, const char *path);
void fr_paths_free(fr_path_list *list);
int fr_path_is_image_name(const char *name);

#endif
