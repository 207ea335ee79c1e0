/* people.c: a folder of people (one subdirectory or image per person) as labeled paths. */
#include "engine/people.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"

static fr_status name_paths(fr_people *p, size_t from, const char *name)
{
    if (p->paths.count > p->capacity) {
        size_t cap = p->paths.count * 2;
        char **grown = realloc(p->names, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory listing images");
        p->names = grown;
        p->capacity = cap;
    }
    for (size_t i = from; i < p->paths.count; i++) {
        p->names[i] = fr_strdup(name);
        if (!p->names[i])
            return FR_E_NOMEM;
        p->named = i + 1;
    }
    return FR_OK;
}

static void report(fr_people *p, fr_path_error_fn on_error, void *ctx, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void report(fr_people *p, fr_path_error_fn on_error, void *ctx, const char *format, ...)
{
    char message[4400];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    p->errors++;
    if (on_error)
        on_error(ctx, message);
}

fr_status fr_people_add(fr_people *p, char *const *args, size_t count, const char *name,
                        fr_path_error_fn on_error, void *ctx)
{
    size_t before = p->paths.count, errors = p->paths.errors;
    fr_status st = fr_paths_collect(args, count, &p->paths, on_error, ctx);
    p->errors += p->paths.errors - errors;
    if (!st && p->paths.count == before)
        report(p, on_error, ctx, "no images for '%s' in %s%s", name, args[0],
               count > 1 ? " and the rest" : "");
    return st ? st : name_paths(p, before, name);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fr_status fr_people_collect(const char *dir, fr_people *p, fr_path_error_fn on_error, void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return fr_fail(FR_E_IO, "%s: cannot read directory: %s", dir, strerror(errno));
    char **entries = NULL;
    size_t count = 0, cap = 0;
    fr_status st = FR_OK;
    struct dirent *entry;
    while (!st && (entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(entries, cap * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory listing %s", dir);
                break;
            }
            entries = grown;
        }
        entries[count] = fr_strdup(entry->d_name);
        if (!entries[count])
            st = FR_E_NOMEM;
        else
            count++;
    }
    closedir(d);
    if (!st)
        qsort(entries, count, sizeof *entries, compare_names);
    size_t before = p->paths.count, errors = p->errors;
    for (size_t i = 0; i < count && !st; i++) {
        size_t n = strlen(dir) + strlen(entries[i]) + 2;
        char *path = fr_malloc(n, "a path");
        if (!path) {
            st = FR_E_NOMEM;
            break;
        }
        snprintf(path, n, "%s/%s", dir, entries[i]);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            report(p, on_error, ctx, "%s: %s", path, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = fr_people_add(p, &path, 1, entries[i], on_error, ctx);
        } else if (S_ISREG(sb.st_mode) && fr_path_is_image_name(entries[i])) {
            char *dot = strrchr(entries[i], '.');
            *dot = 0; /* the person's name: the file name without its extension */
            st = fr_people_add(p, &path, 1, entries[i], on_error, ctx);
        } else if (S_ISREG(sb.st_mode)) {
            fr_paths_skip_file(&p->paths, entries[i]);
        }
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(entries[i]);
    free(entries);
    if (!st && p->paths.count == before && p->errors == errors)
        st = fr_fail(FR_E_INVALID, "%s: no people (subdirectories or images) in it", dir);
    return st;
}

void fr_people_free(fr_people *p)
{
    for (size_t i = 0; i < p->named; i++)
        free(p->names[i]);
    free(p->names);
    fr_paths_free(&p->paths);
    memset(p, 0, sizeof *p);
}
