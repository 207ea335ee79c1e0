/*
 * run.h: what the image-reading commands (embed, enroll, identify, verify, pairs, distmat,
 * detect) share: collecting the inputs, --shard and its manifest (cli/shard.h), loading the
 * model, starting the batch engine, and the one-line summary on stderr. (Interrupts:
 * signals.h.)
 */
#ifndef FR_CLI_RUN_H
#define FR_CLI_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/shard.h"
#include "engine/embedder.h"
#include "engine/paths.h"

typedef struct fr_run_options {
    int raw;                /* network output without L2 normalization */
    fr_model *model;        /* a model already loaded (the run owns it from then on, even when
                               opening fails), or NULL: the global options' */
    int full_decode;        /* no JPEG DCT scaling */
    fr_shard shard;         /* --shard I/N (count 0: the whole list) */
    const char *list;       /* --list FILE: the inputs' paths (NULL: the arguments) */
    size_t unit_multiple;   /* the shard's unit is also a multiple of this (0: of the batch
                               alone): e.g. the distance engine's probe block */
    int names_groups;       /* the command names the images with several faces itself (enroll
                               refusing them): no notice from the run */
} fr_run_options;

void fr_run_defaults(fr_run_options *options);

/* getopt_long entries of the options every bulk command takes besides the global ones
 * (--shard, --list), and the table of a bulk command: its own entries, these, the global
 * ones. */
#define FR_RUN_OPTION_COUNT 2
struct option *fr_run_options_merge(const struct option *own, size_t own_count);
/* The default branch of a bulk command's option loop: 1 if CODE was a bulk or global option
 * (and valid), 0 after a usage error. */
int fr_run_option(fr_global_options *g, fr_run_options *options, int code, const char *arg,
                  void (*help)(FILE *));
/* Help lines for the bulk options. */
void fr_run_help(FILE *out);
/* With --shard, the output must be a file (its manifest goes beside it): 1 if fine, else 0
 * after a usage error. */
int fr_run_check_output(const char *command, const fr_run_options *options, const char *output);

/* The shard manifest of a bulk command, created where its input list is cut (NULL when not
 * sharded); the command adds its own result-changing options, then commits it once its
 * outputs are: ROLES are "main" (OUTPUT itself) and suffixes beside it (fr_side_path). */
fr_status fr_run_manifest_commit(fr_manifest *manifest, const char *output,
                                 const char *const *roles, size_t role_count, size_t failures);
/* A bulk command's inputs: the paths of args (directories walked) or of --list FILE. Every
 * path of the whole list goes into the manifest's digest and through each (when not NULL:
 * e.g. detect's common folder); list keeps the shard's part, cut in units of unit (all of it
 * without a shard; *manifest then NULL). No input at all is a usage error (fatal when some
 * argument could not be read). Exit code. */
int fr_run_inputs(const char *command, const fr_run_options *options, char *const *args,
                  size_t count, size_t unit, void (*each)(void *ctx, const char *path),
                  void *ctx, fr_path_list *list, fr_manifest **manifest);
/* Arguments or --list, one of the two: 1, or 0 after a usage error. */
int fr_run_check_inputs(const char *command, const fr_run_options *options, int arguments);

/* fr_paths_collect's error callback for a command: COMMAND (its name) and MESSAGE on stderr. */
void fr_cli_path_error(void *command, const char *message);
/* Once per command, on stderr, the files its folder walks skipped for their extension
 * ("skipped 3 files with unsupported extensions: .webp (2), .bmp (1)"); nothing when none. */
void fr_cli_paths_skipped(const char *command, const fr_path_list *list);
/* A path on one line: '\' and newline escaped as \\ and \n. */
void fr_cli_write_path_line(FILE *out, const char *path);

typedef struct fr_run fr_run;

/* Loads the model (global options), plans the engine, and collects the inputs
 * (fr_run_inputs: args or --list; unreadable arguments reported on stderr and counted), cut to
 * the shard in units of the engine's batch (so each batch holds what it holds in a single
 * run). Returns an exit code: FR_EXIT_OK means *out is ready. */
int fr_run_open(const char *command, const fr_global_options *g, const fr_run_options *options,
                char *const *args, size_t count, fr_run **out);
/* The same for an exact list of image paths (no directory walking, no shard: a command that
 * cuts its own list, e.g. pairs). */
int fr_run_open_paths(const char *command, const fr_global_options *g,
                      const fr_run_options *options, char *const *paths, size_t count,
                      fr_run **out);
const fr_model *fr_run_model(const fr_run *run);
size_t fr_run_count(const fr_run *run);
char *const *fr_run_paths(const fr_run *run);
size_t fr_run_path_errors(const fr_run *run);
/* 1 when the run embeds every face of an image (--all-faces), not its main face only. */
int fr_run_all_faces(const fr_run *run);
/* Images per network batch (B). */
int fr_run_batch(const fr_run *run);
/* The shard's manifest, holding the run's model key and result-changing options (NULL when
 * not sharded). */
fr_manifest *fr_run_manifest(fr_run *run);
/* Records the run's model key and result-changing options (backend, precision, batch,
 * alignment, ...) in a manifest: fr_run_open does for its own shard; commands that cut
 * another list (pairs, distmat) call it for theirs. */
void fr_run_describe(const fr_run *run, fr_manifest *manifest);
/* The face detector (--detector as fr_chip_spec_detector resolves it for spec's chips, NULL:
 * none; its size and threshold) and the SHA-256 of its weights (and the 68-point landmark
 * net's, with landmarks) as options: shards of one job must find and cut faces the same way. */
void fr_run_describe_detection(fr_manifest *manifest, const fr_global_options *global,
                               const fr_chip_spec *spec, int landmarks);
/* Embeds every collected path; the sink sees each in order. */
fr_status fr_run_embed(fr_run *run, fr_embed_sink sink, void *ctx);
/* Embeds another list with the run's engine (a command that works in blocks, e.g. pairs). */
fr_status fr_run_embed_paths(fr_run *run, char *const *paths, size_t count, fr_embed_sink sink,
                             void *ctx);
/* "embedded 120 images (2 unreadable) with dlib on cpu (fp32) in 3.1 s, 38.7 images/s -> out" */
void fr_run_summary(const fr_run *run, size_t done, size_t failed, const char *output);
void fr_run_close(fr_run *run);

#endif
