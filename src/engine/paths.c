/* paths.c: collecting image paths from files and directory trees, in a stable order. */
#include "engine/paths.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"

#define MAX_DEPTH 64

fr_status fr_paths_add(fr_path_list *l, const char *path)
{
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 256;
        char **grown = realloc(l->paths, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory listing files");
        l->paths = grown;
        l->capacity = cap;
    }
    char *copy = fr_strdup(path);
    if (!copy)
        return FR_E_NOMEM;
    l->paths[l->count++] = copy;
    return FR_OK;
}

void fr_paths_free(fr_path_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

int fr_path_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
                   strcasecmp(dot, ".png") == 0);
}

void fr_paths_skip_file(fr_path_list *l, const char *name)
{
    if (name[0] == '.')
        return;
    l->skipped++;
    const char *dot = strrchr(name, '.');
    char extension[sizeof l->skip[0].extension] = "";
    if (dot) {
        size_t n = strlen(dot);
        if (n >= sizeof extension)
            return; /* among the others */
        for (size_t i = 0; i <= n; i++)
            extension[i] = (char)(dot[i] >= 'A' && dot[i] <= 'Z' ? dot[i] - 'A' + 'a' : dot[i]);
    }
    for (size_t i = 0; i < l->skip_kinds; i++)
        if (strcmp(l->skip[i].extension, extension) == 0) {
            l->skip[i].count++;
            return;
        }
    if (l->skip_kinds == FR_PATHS_SKIP_KINDS)
        return;
    fr_path_skip *k = &l->skip[l->skip_kinds++];
    memcpy(k->extension, extension, sizeof extension);
    k->count = 1;
}

static int compare_skips(const void *a, const void *b)
{
    const fr_path_skip *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    if (!x->extension[0] || !y->extension[0]) /* "no extension" after the extensions */
        return !x->extension[0] - !y->extension[0];
    return strcmp(x->extension, y->extension);
}

void fr_paths_describe_skipped(const fr_path_list *l, char *buffer, size_t size)
{
    if (size)
        buffer[0] = 0;
    if (!l->skipped || !size)
        return;
    fr_path_skip kinds[FR_PATHS_SKIP_KINDS];
    memcpy(kinds, l->skip, l->skip_kinds * sizeof kinds[0]);
    if (l->skip_kinds > 1)
        qsort(kinds, l->skip_kinds, sizeof kinds[0], compare_skips);
    size_t shown = l->skip_kinds < 8 ? l->skip_kinds : 8, named = 0;
    for (size_t i = 0; i < shown; i++)
        named += kinds[i].count;
    size_t n = (size_t)snprintf(buffer, size, "%zu %s", l->skipped,
                                l->skipped == 1 ? "file with an unsupported extension"
                                                : "files with unsupported extensions");
    for (size_t i = 0; i < shown && n < size; i++)
        n += (size_t)snprintf(buffer + n, size - n, "%s%s (%zu)", i ? ", " : ": ",
                              kinds[i].extension[0] ? kinds[i].extension : "no extension",
                              kinds[i].count);
    if (named < l->skipped && n < size)
        snprintf(buffer + n, size - n, "%s%zu other%s", shown ? ", " : ": ",
                 l->skipped - named, l->skipped - named == 1 ? "" : "s");
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void report(fr_path_list *l, fr_path_error_fn on_error, void *ctx, const char *format,
                   const char *path, int e)
{
    char message[4200];
    snprintf(message, sizeof message, format, path, strerror(e));
    l->errors++;
    if (on_error)
        on_error(ctx, message);
}

/* The directories one argument's walk has entered (device, inode): symbolic links are
 * followed, but a directory reached twice (a link to an ancestor, two links to one folder) is
 * walked once, so a loop ends and no image is listed twice. */
typedef struct visited {
    dev_t *dev;
    ino_t *ino;
    size_t count, cap;
} visited;

/* 1: first visit (recorded), 0: seen before, -1: out of memory */
static int visit(visited *v, const struct stat *sb)
{
    for (size_t i = 0; i < v->count; i++)
        if (v->dev[i] == sb->st_dev && v->ino[i] == sb->st_ino)
            return 0;
    if (v->count == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        dev_t *dev = realloc(v->dev, cap * sizeof *dev);
        if (dev)
            v->dev = dev;
        ino_t *ino = dev ? realloc(v->ino, cap * sizeof *ino) : NULL;
        if (!ino)
            return -1;
        v->ino = ino;
        v->cap = cap;
    }
    v->dev[v->count] = sb->st_dev;
    v->ino[v->count++] = sb->st_ino;
    return 1;
}

static fr_status walk(const char *dir, int depth, visited *seen, fr_path_list *l,
                      fr_path_error_fn on_error, void *ctx)
{
    if (depth > MAX_DEPTH) {
        report(l, on_error, ctx, "%s: directories nested too deeply (%s)", dir, ELOOP);
        return FR_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        report(l, on_error, ctx, "%s: cannot read directory: %s", dir, errno);
        return FR_OK;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    fr_status st = FR_OK;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown) {
                st = fr_fail(FR_E_NOMEM, "out of memory listing %s", dir);
                break;
            }
            names = grown;
        }
        if (!(names[count] = fr_strdup(entry->d_name))) {
            st = FR_E_NOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (!st && count > 1)
        qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count && !st; i++) {
        size_t n = strlen(dir) + strlen(names[i]) + 2;
        char *path = fr_malloc(n, "a path");
        if (!path) {
            st = FR_E_NOMEM;
            break;
        }
        snprintf(path, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            report(l, on_error, ctx, "%s: %s", path, errno);
        } else if (S_ISDIR(sb.st_mode)) {
            int first = visit(seen, &sb);
            if (first < 0)
                st = fr_fail(FR_E_NOMEM, "out of memory listing %s", path);
            else if (first)
                st = walk(path, depth + 1, seen, l, on_error, ctx);
        } else if (S_ISREG(sb.st_mode)) {
            if (fr_path_is_image_name(names[i]))
                st = fr_paths_add(l, path);
            else
                fr_paths_skip_file(l, names[i]);
        }
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return st;
}

fr_status fr_paths_collect(char *const *args, size_t count, fr_path_list *out,
                           fr_path_error_fn on_error, void *ctx)
{
    fr_status st = FR_OK;
    for (size_t i = 0; i < count && !st; i++) {
        struct stat sb;
        if (stat(args[i], &sb) != 0)
            report(out, on_error, ctx, "%s: %s", args[i], errno);
        else if (S_ISDIR(sb.st_mode)) {
            visited seen = {0};
            if (visit(&seen, &sb) < 0)
                st = fr_fail(FR_E_NOMEM, "out of memory listing %s", args[i]);
            else
                st = walk(args[i], 0, &seen, out, on_error, ctx);
            free(seen.dev);
            free(seen.ino);
        }
        else
            st = fr_paths_add(out, args[i]);
    }
    return st;
}

void fr_paths_keep(fr_path_list *l, size_t first, size_t end)
{
    if (end > l->count)
        end = l->count;
    if (first > end)
        first = end;
    for (size_t i = 0; i < l->count; i++)
        if (i < first || i >= end)
            free(l->paths[i]);
    if (end > first)
        memmove(l->paths, l->paths + first, (end - first) * sizeof *l->paths);
    l->count = end - first;
}
