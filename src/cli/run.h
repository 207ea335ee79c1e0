/*
 * run.h: what the image-reading commands (embed, enroll, identify, verify, pairs) share:
 * collecting the inputs, loading the model, starting the batch engine, and the one-line
 * summary on stderr. (Interrupts: signals.h.)
 */
#ifndef FR_CLI_RUN_H
#define FR_CLI_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "engine/embedder.h"

typedef struct fr_run_options {
    int raw;                /* network output without L2 normalization */
    fr_model *model;        /* a model already loaded (the run owns it from then on, even when
                               opening fails), or NULL: the global options' */
    int full_decode;        /* no JPEG DCT scaling */
    size_t shard_index, shard_count;
} fr_run_options;

void fr_run_defaults(fr_run_options *options);
/* "I/N" with 0 <= I < N; prints a usage error and returns 0 when malformed. */
int fr_cli_parse_shard(const char *text, size_t *index, size_t *count);
/* fr_paths_collect's error callback for a command: COMMAND (its name) and MESSAGE on stderr. */
void fr_cli_path_error(void *command, const char *message);
/* A path on one line: '\' and newline escaped as \\ and \n. */
void fr_cli_write_path_line(FILE *out, const char *path);

typedef struct fr_run fr_run;

/* Loads the model (global options), collects image paths from args (files and directories;
 * unreadable ones are reported on stderr and counted), applies the shard, and plans the
 * engine. Returns an exit code: FR_EXIT_OK means *out is ready. */
int fr_run_open(const char *command, const fr_global_options *g, const fr_run_options *options,
                char *const *args, size_t count, fr_run **out);
/* The same for an exact list of image paths (no directory walking). */
int fr_run_open_paths(const char *command, const fr_global_options *g,
                      const fr_run_options *options, char *const *paths, size_t count,
                      fr_run **out);
const fr_model *fr_run_model(const fr_run *run);
size_t fr_run_count(const fr_run *run);
char *const *fr_run_paths(const fr_run *run);
size_t fr_run_path_errors(const fr_run *run);
/* Embeds every collected path; the sink sees each in order. */
fr_status fr_run_embed(fr_run *run, fr_embed_sink sink, void *ctx);
/* "embedded 120 images (2 unreadable) with dlib on cpu (fp32) in 3.1 s, 38.7 images/s -> out" */
void fr_run_summary(const fr_run *run, size_t done, size_t failed, const char *output);
void fr_run_close(fr_run *run);

#endif
