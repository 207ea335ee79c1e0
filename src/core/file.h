/*
 * file.h: reading inputs (whole or mapped) and writing outputs that appear atomically.
 *
 * Reading (file.c): only regular files are read. A path is opened non-blocking and checked
 * with fstat before the first read, so a FIFO or a device put where an image or a weights
 * file was expected is refused at once instead of blocking a thread in open() or read().
 *
 * Writing (output.c): an output is written to a temporary file beside its final name and
 * renamed over it on commit, so that an interrupted or failed run never leaves a
 * half-written file under the name a user asked for.
 *
 *   - Temporary files are "<final>.tmp.<host>.<pid>.<random>", created with
 *     O_CREAT | O_EXCL | O_NOFOLLOW (a file or symlink planted at that name is never opened)
 *     and locked (flock) for as long as they are open. The first output opened in a folder
 *     removes the stale temporaries of dead runs there: names of this pattern from this host,
 *     owned by this user, whose lock nobody holds (the lock is released by the kernel when a
 *     process dies, whatever its pid namespace). Temporaries of other hosts (a shared folder)
 *     are left alone: their locks may not be visible here.
 *   - An output whose name is a character device or a FIFO (/dev/null, /dev/stdout, a named
 *     pipe), or "-", is never renamed over: it is streamed to as it is written (so an
 *     interrupted run may have sent part of it). Outputs that must be regular files
 *     (FR_OUTPUT_REGULAR: written in place, or one of a set) refuse such names, as they
 *     refuse directories, block devices and sockets.
 *   - Outputs that are read together (embed's .npy and .paths, distmat's D.npy and
 *     D.rows.paths) commit as a set: their SHA-256 digests go to a record file beside them
 *     (sha256sum's format: `sha256sum -c RECORD` checks the set), which is renamed into place
 *     before the members are. From then until the last member is renamed, and after any
 *     mix-up (a run killed between two renames, two runs writing the same names, an edit),
 *     the files disagree with the record: fr_output_set_check refuses them, naming the file.
 *   - Every temporary file of the process is listed, so that an interrupt can remove them
 *     all from any thread (fr_temps_discard_all) before the process exits.
 */
#ifndef FR_CORE_FILE_H
#define FR_CORE_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "facerec.h"

/* ---- reading ------------------------------------------------------------------------------ */

/* Opens a regular file for reading (anything else is refused before it could block); *fd is
 * the descriptor, *st its fstat. */
fr_status fr_file_open_regular(const char *path, int *fd, struct stat *st);

/* "a directory", "a FIFO", "a character device", ...: what a non-regular file is, in words. */
const char *fr_file_kind(mode_t mode);

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

/* ---- temporary files ------------------------------------------------------------------------ */

typedef struct fr_temp {
    int fd;      /* open for writing and locked; -1 when none */
    char *path;  /* "<final>.tmp.<host>.<pid>.<random>" */
    long slot;   /* its entry in the process's list of temporaries */
} fr_temp;

/* Creates an empty temporary file beside final_path (same folder, so that a rename is
 * atomic), after removing the stale temporaries of that folder (see the top of this file).
 * An error names final_path, never the temporary. */
fr_status fr_temp_create(const char *final_path, fr_temp *out);
/* Renames the temporary over final_path; the descriptor stays open (the caller closes it or
 * its stream). On failure the temporary is left for fr_temp_discard. */
fr_status fr_temp_rename(fr_temp *temp, const char *final_path);
/* Closes and removes the temporary (and an SQLite journal beside it); safe on a committed or
 * never-created one. */
void fr_temp_discard(fr_temp *temp);
/* Removes every temporary file the process holds, from any thread (the interrupt path):
 * afterwards no new one can be created, and no temporary is ever renamed into place. */
void fr_temps_discard_all(void);

/* Whether files can be created in folder dir (a temporary is created there and removed):
 * an error says why, naming dir. */
fr_status fr_folder_check_writable(const char *dir);

/* ---- outputs -------------------------------------------------------------------------------- */

enum {
    FR_OUTPUT_REGULAR = 1 /* a regular file only: never streamed to a device, FIFO or "-" */
};

typedef struct fr_output {
    FILE *file;
    char *path;   /* the final name (NULL for standard output) */
    fr_temp temp; /* where it is written until committed (fd -1 when streaming) */
    int stream;   /* written straight to path or standard output as it goes */
} fr_output;

/* Opens an output: a temporary beside path, or a stream (see the top of this file). "-" means
 * standard output. The error names path and says why (a missing or read-only folder, a
 * directory, a device refused). */
fr_status fr_output_open(fr_output *out, const char *path, int flags);
/* Flushes, syncs and renames into place; reports a write error naming the path. */
fr_status fr_output_commit(fr_output *out);
/* Removes the temporary file; safe after a commit and on a never-opened output. */
void fr_output_abort(fr_output *out);

/* Commits count regular outputs (all in one folder) as one set: their digests to record
 * (replacing it), then each renamed into place. On failure none is left half-done in the
 * sense that matters: either nothing was renamed, or the record already disagrees. */
fr_status fr_output_commit_set(fr_output *outputs, size_t count, const char *record);
/* Checks that the files members (paths beside record) are the ones record lists, by size and
 * SHA-256. A missing record is not an error: *checked = 0 (files not written as a set by
 * facerec); otherwise *checked = 1 once they match. */
fr_status fr_output_set_check(const char *record, const char *const *members, size_t count,
                              int *checked);

/* "<output without a .npy ending><suffix>", malloc'ed: the name of a file written beside an
 * output (emb.npy -> emb.paths). */
char *fr_side_path(const char *output, const char *suffix);

#endif
