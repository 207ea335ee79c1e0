/*
 * paths.h: turning command-line arguments into the ordered list of image files to read.
 * Directories are walked recursively; their entries are sorted (byte order) and filtered to
 * image extensions (.jpg .jpeg .png, any case); files named explicitly are taken as they are.
 * The other files a walk meets are counted by extension (hidden files, names starting with a
 * dot, are not: .DS_Store is nobody's photo), so that a command can say once what it skipped.
 */
#ifndef FR_ENGINE_PATHS_H
#define FR_ENGINE_PATHS_H

#include <stddef.h>

#include "facerec.h"

#define FR_PATHS_SKIP_KINDS 32 /* extensions told apart; the rest are "others" */

/* Files of one unsupported extension a walk skipped: ".webp" (lowercased), "" for none. */
typedef struct fr_path_skip {
    char extension[16];
    size_t count;
} fr_path_skip;

typedef struct fr_path_list {
    char **paths;
    size_t count, capacity;
    size_t errors; /* unreadable directories or arguments, each reported through the callback */
    size_t skipped; /* regular files of other extensions inside walked directories */
    size_t skip_kinds; /* skip[0 .. skip_kinds): the first extensions met (later ones are
                          counted in skipped only) */
    fr_path_skip skip[FR_PATHS_SKIP_KINDS];
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
/* Counts a regular file that is not an image, met inside a walked directory (by its name). */
void fr_paths_skip_file(fr_path_list *list, const char *name);
/* "3 files with unsupported extensions: .webp (2), .bmp (1)": the 8 most frequent named, most
 * frequent first, the rest (and extensions longer than 15 bytes) as "N others"; "" when the
 * walks skipped nothing. */
void fr_paths_describe_skipped(const fr_path_list *list, char *buffer, size_t size);

#endif
