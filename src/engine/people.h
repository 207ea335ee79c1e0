/*
 * people.h: a folder of people, the labeled input of `enroll --dir` and `train --dir`: each
 * subdirectory of PEOPLE is a person named after it, holding their images (read recursively,
 * as engine/paths.h walks), and each image directly inside PEOPLE is a person named after the
 * file without its extension. Entries are taken in byte order; hidden ones (a leading '.')
 * are skipped.
 */
#ifndef FR_ENGINE_PEOPLE_H
#define FR_ENGINE_PEOPLE_H

#include <stddef.h>

#include "engine/paths.h"

typedef struct fr_people {
    fr_path_list paths; /* every image, person by person; .errors counts unreadable entries */
    char **names;       /* parallel to paths.paths: whose image it is (owned copies) */
    size_t named, capacity;
    size_t errors;      /* problems reported through the callback (paths.errors included) */
} fr_people;

/* Adds the images found in args (files or directories), all of them NAME's. A person without
 * an image is reported and counted as an error. */
fr_status fr_people_add(fr_people *people, char *const *args, size_t count, const char *name,
                        fr_path_error_fn on_error, void *ctx);
/* Adds every person of the folder DIR. A folder without people is FR_E_INVALID. */
fr_status fr_people_collect(const char *dir, fr_people *people, fr_path_error_fn on_error,
                            void *ctx);
void fr_people_free(fr_people *people);

#endif
