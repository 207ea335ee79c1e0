/*
 * fuzz_util.h: what the file-reading harnesses share: the input written to a file of this
 * process's own folder (the parsers under test take paths, as the CLI gives them), and the
 * error contract every facerec parser keeps: a failure names the file and is never
 * FR_E_INTERNAL (which would mean facerec's own invariant broke, not the input). A message
 * may quote the input's own bytes (a tensor or dtype name with a newline): the CLI prints
 * every error on one line, escaping them (fr_cli_error), so that is not checked here.
 */
#ifndef FR_FUZZ_UTIL_H
#define FR_FUZZ_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "facerec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[512];

static inline int fuzz_remove_one(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void fuzz_remove_dir(void)
{
    nftw(fuzz_dir_path, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh folder for this process (under $TMPDIR or /tmp), made on first use and removed at
 * exit (a crash leaves it: the reproducer is what matters then). */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/facerec-fuzz.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir_path))
            abort();
        atexit(fuzz_remove_dir);
    }
    return fuzz_dir_path;
}

/* dir/name holding the bytes; the path, in a static buffer per name slot (0..3). */
static inline const char *fuzz_file(int slot, const char *name, const uint8_t *data, size_t size)
{
    static char paths[4][600];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return paths[slot];
}

/* The error contract: aborts (a finding) unless the message names `path`. */
static inline void fuzz_check_error(fr_status status, const char *path)
{
    const char *message = fr_error_message();
    if (status == FR_E_INTERNAL || !message || !*message || (path && !strstr(message, path))) {
        fprintf(stderr, "fuzz: bad error (status %d) for %s: %s\n", (int)status,
                path ? path : "-", message ? message : "(null)");
        abort();
    }
}

#endif
