/* guard.c: refusing outputs that would replace inputs or the database (guard.h). */
#include "cli/guard.h"

#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int refuse(const fr_cli_guard *g, const char *option, const char *output, const char *what,
                  const char *name)
{
    fr_cli_error(g->command, "%s %s %s %s; nothing done: choose another name, or give --force",
                 option, output, what, name);
    return FR_EXIT_USAGE;
}

int fr_cli_guard_output(const fr_cli_guard *g, const char *option, const char *output)
{
    struct stat out, st;
    if (g->force || !output || strcmp(output, "-") == 0 || stat(output, &out) != 0 ||
        !S_ISREG(out.st_mode))
        return FR_EXIT_OK; /* nothing there yet, or a stream: nothing to replace */
    for (size_t i = 0; i < g->db_count; i++)
        if (stat(g->dbs[i], &st) == 0 && same_file(&out, &st))
            return refuse(g, option, output, "would overwrite the identity database", g->dbs[i]);
    for (size_t i = 0; i < g->arg_count; i++)
        if (stat(g->args[i], &st) == 0 && same_file(&out, &st))
            return refuse(g, option, output, "would overwrite the input", g->args[i]);
    for (size_t i = 0; i < g->input_count; i++)
        if (stat(g->inputs[i], &st) == 0 && same_file(&out, &st))
            return refuse(g, option, output, "would overwrite the input", g->inputs[i]);
    return FR_EXIT_OK;
}

/* Whether folder (resolved) is dir or below it (resolved). */
static int inside(const char *folder, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return 1;
    return strncmp(folder, dir, n) == 0 && (folder[n] == 0 || folder[n] == '/');
}

/* The folder's absolute name, "." and ".." and links resolved, also where it (or its parents)
 * does not exist yet: the nearest existing ancestor resolved, the rest appended. */
static int resolve(const char *folder, char out[PATH_MAX])
{
    char head[PATH_MAX], tail[PATH_MAX] = "";
    snprintf(head, sizeof head, "%s", folder);
    while (!realpath(head, out)) {
        char copy[PATH_MAX], rest[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", head);
        const char *base = basename(copy);
        if (strcmp(base, "..") == 0 || strcmp(base, ".") == 0 || strcmp(head, "/") == 0)
            return 0; /* not worth guessing through a missing "..": no verdict */
        if (snprintf(rest, sizeof rest, "/%s%s", base, tail) >= (int)sizeof rest)
            return 0; /* longer than a path can be: no verdict */
        snprintf(tail, sizeof tail, "%s", rest);
        snprintf(copy, sizeof copy, "%s", head);
        snprintf(head, sizeof head, "%s", dirname(copy));
    }
    size_t n = strlen(out);
    return snprintf(out + n, PATH_MAX - n, "%s", strcmp(out, "/") == 0 ? tail + 1 : tail) <
           (int)(PATH_MAX - n);
}

int fr_cli_guard_folder(const fr_cli_guard *g, const char *option, const char *folder)
{
    char real[PATH_MAX], other[PATH_MAX];
    struct stat dir, st;
    if (g->force || !folder || !resolve(folder, real))
        return FR_EXIT_OK;
    int exists = stat(folder, &dir) == 0;
    for (size_t i = 0; i < g->arg_count; i++)
        if (stat(g->args[i], &st) == 0 && S_ISDIR(st.st_mode) && realpath(g->args[i], other) &&
            inside(real, other))
            return refuse(g, option, folder,
                          exists && same_file(&dir, &st) ? "is the folder of inputs"
                                                         : "is inside the folder of inputs",
                          g->args[i]);
    if (!exists)
        return FR_EXIT_OK; /* a new folder holds no input */
    /* the folder of each input file; consecutive inputs mostly share one */
    char last[PATH_MAX] = "";
    for (size_t i = 0; i < g->input_count; i++) {
        char copy[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", g->inputs[i]);
        const char *parent = dirname(copy);
        if (strcmp(parent, last) == 0)
            continue;
        snprintf(last, sizeof last, "%s", parent);
        if (stat(parent, &st) == 0 && same_file(&dir, &st))
            return refuse(g, option, folder, "is the folder of the input", g->inputs[i]);
    }
    return FR_EXIT_OK;
}
