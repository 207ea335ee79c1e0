/* pairs.c: reading LFW pairs files and TSV pair lists. */
#include "match/pairs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

#define MAX_PAIRS_FILE ((size_t)1 << 30)
#define MAX_FIELDS 5

static fr_status grow(fr_pair_list *l, size_t *capacity)
{
    if (l->count < *capacity)
        return FR_OK;
    size_t cap = *capacity ? 2 * *capacity : 1024;
    char **first = realloc(l->first, cap * sizeof *first);
    if (first)
        l->first = first;
    char **second = first ? realloc(l->second, cap * sizeof *second) : NULL;
    if (second)
        l->second = second;
    int *same = second ? realloc(l->same, cap * sizeof *same) : NULL;
    if (same)
        l->same = same;
    int *fold = same ? realloc(l->fold, cap * sizeof *fold) : NULL;
    if (fold)
        l->fold = fold;
    if (!fold)
        return fr_fail(FR_E_NOMEM, "out of memory reading %zu pairs", l->count);
    *capacity = cap;
    return FR_OK;
}

static char *join(const char *root, const char *path)
{
    if (!root || path[0] == '/')
        return fr_strdup(path);
    size_t n = strlen(root) + strlen(path) + 2;
    char *s = fr_malloc(n, "a path");
    if (s)
        snprintf(s, n, "%s/%s", root, path);
    return s;
}

static char *lfw_path(const char *root, const char *name, long index)
{
    size_t n = 2 * strlen(name) + (root ? strlen(root) : 1) + 32;
    char *s = fr_malloc(n, "a path");
    if (s)
        snprintf(s, n, "%s/%s/%s_%04ld.jpg", root ? root : ".", name, name, index);
    return s;
}

/* Splits a line in place at runs of whitespace (LFW) or at tabs (TSV). */
static size_t split(char *line, int tabs, char **fields)
{
    size_t n = 0;
    char *p = line;
    if (tabs) {
        for (;;) {
            if (n == MAX_FIELDS)
                return n + 1;
            fields[n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = 0;
            p = tab + 1;
        }
        return n;
    }
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            *p++ = 0;
        if (!*p)
            return n;
        if (n == MAX_FIELDS)
            return n + 1;
        fields[n++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
    }
}

static int parse_index(const char *text, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < 0 || v > 99999999)
        return 0;
    *out = v;
    return 1;
}

static int parse_label(const char *text, int *same)
{
    if (!strcmp(text, "1") || !strcmp(text, "same") || !strcmp(text, "true")) {
        *same = 1;
        return 1;
    }
    if (!strcmp(text, "0") || !strcmp(text, "different") || !strcmp(text, "false")) {
        *same = 0;
        return 1;
    }
    return 0;
}

/* Which format a first line announces: 1 LFW (with its counts), 0 TSV, and for TSV whether
 * the line is a header. */
static int detect(const char *line, long *a, long *b, int *header)
{
    char *copy = fr_strdup(line);
    if (!copy)
        return -1;
    char *fields[MAX_FIELDS + 1];
    size_t n = split(copy, 0, fields);
    int lfw = (n == 1 && parse_index(fields[0], a)) ||
              (n == 2 && parse_index(fields[0], a) && parse_index(fields[1], b));
    strcpy(copy, line);
    int same;
    *header = !lfw && split(copy, 1, fields) == 3 && !parse_label(fields[2], &same) &&
              !strchr(fields[0], '.') && !strchr(fields[1], '.');
    free(copy);
    return lfw;
}

fr_status fr_pairs_load(const char *path, const char *root, fr_pair_list *out)
{
    char *data;
    size_t size;
    fr_status st = fr_file_read(path, MAX_PAIRS_FILE, (void **)&data, &size);
    if (st)
        return st;
    fr_pair_list l;
    memset(&l, 0, sizeof l);
    size_t capacity = 0, line_no = 0;
    int lfw = -1; /* unknown until the first line */
    long first = 0, second = 0;
    char *fields[MAX_FIELDS + 1];
    char *next = data;
    char *line;
    while (!st && (line = fr_next_line(&next)) != NULL) {
        line_no++;
        size_t len = strlen(line);
        if (len == 0)
            continue;
        if (lfw < 0) {
            int header = 0;
            lfw = detect(line, &first, &second, &header);
            if (lfw < 0)
                st = FR_E_NOMEM;
            if (lfw != 0 || header)
                continue;
        }
        st = grow(&l, &capacity);
        if (st)
            break;
        size_t n = split(line, !lfw, fields);
        char *a = NULL, *b = NULL;
        int same = 0;
        long i = 0, j = 0;
        if (lfw && n == 3 && parse_index(fields[1], &i) && parse_index(fields[2], &j)) {
            same = 1;
            a = lfw_path(root, fields[0], i);
            b = lfw_path(root, fields[0], j);
        } else if (lfw && n == 4 && parse_index(fields[1], &i) && parse_index(fields[3], &j)) {
            a = lfw_path(root, fields[0], i);
            b = lfw_path(root, fields[2], j);
        } else if (!lfw && n == 3 && fields[0][0] && fields[1][0] &&
                   parse_label(fields[2], &same)) {
            a = join(root, fields[0]);
            b = join(root, fields[1]);
        } else if (!lfw && n == 3 && fields[0][0] && fields[1][0]) {
            st = fr_fail(FR_E_FORMAT, "%s:%zu: label '%.40s' is not 1/0, same/different or "
                         "true/false", path, line_no, fields[2]);
            break;
        } else {
            st = fr_fail(FR_E_FORMAT, "%s:%zu: expected %s", path, line_no,
                         lfw ? "'name i j' or 'name1 i name2 j'"
                             : "path1<TAB>path2<TAB>label (1/0 or same/different)");
            break;
        }
        if (!a || !b) {
            free(a);
            free(b);
            st = FR_E_NOMEM;
            break;
        }
        l.first[l.count] = a;
        l.second[l.count] = b;
        l.same[l.count] = same;
        /* "F N": F folds of N same then N different pairs */
        l.fold[l.count] = lfw && second > 0 ? (int)(l.count / (2 * (size_t)second)) : -1;
        l.count++;
    }
    free(data);
    size_t promised = lfw != 1 ? l.count : second > 0 ? (size_t)(first * 2 * second)
                                                      : (size_t)(2 * first);
    if (!st && l.count != promised)
        st = fr_fail(FR_E_FORMAT, "%s: the first line promises %zu pairs, the file has %zu",
                     path, promised, l.count);
    if (!st && l.count == 0)
        st = fr_fail(FR_E_FORMAT, "%s: no pairs", path);
    if (st) {
        fr_pairs_free(&l);
        return st;
    }
    *out = l;
    return FR_OK;
}

void fr_pairs_free(fr_pair_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->first[i]);
        free(l->second[i]);
    }
    free(l->first);
    free(l->second);
    free(l->same);
    free(l->fold);
    memset(l, 0, sizeof *l);
}
