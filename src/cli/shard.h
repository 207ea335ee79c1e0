/*
 * shard.h: one job split over machines. `--shard I/N` gives a bulk command the I-th of N
 * contiguous parts of its input list, and the part's outputs get a manifest beside them
 * (OUT.manifest.json) that `facerec merge` checks before it puts the parts back together.
 *
 * The split. The input list (the sorted directory walk, the pairs file, the rows of a
 * distance matrix) is cut into units of `unit` items and the units are shared out as evenly
 * as possible, the first shards taking one more: shard I of N over U units holds units
 * [I*q + min(I, r), (I+1)*q + min(I+1, r)) with q = U / N, r = U % N. It depends on nothing
 * but the list, the unit and I/N, so every machine that sees the same tree computes the same
 * part, and a shard may be empty (N above the number of units).
 *
 * Why units: the engine's results are not independent of how inputs are grouped: a network
 * batch's GEMMs give an image's embedding bits that depend on the rest of its batch (last-bit
 * differences, 2e-7), and so does the distance engine's probe block. A unit is a multiple of
 * every such group (the network batch; with a gallery search, the engine's probe block too),
 * so each group of a shard holds exactly the inputs it holds in a single run, and the merged
 * outputs are byte for byte the single run's.
 *
 * The manifest records what must be equal across the shards of one job (the full input list's
 * SHA-256 and count, the unit, the model key, the options that change results, the command
 * and the facerec version)
 * and what each shard holds (its range, each output file's size and SHA-256, the inputs it
 * could not read). It is written after the outputs are committed, so a manifest names complete
 * files; the sizes and digests let `merge` refuse a file that was truncated or replaced since.
 */
#ifndef FR_CLI_SHARD_H
#define FR_CLI_SHARD_H

#include <stddef.h>

#include "facerec.h"

typedef struct fr_shard {
    size_t index, count; /* I and N; count 0: not sharded (the whole list) */
} fr_shard;

/* "I/N" with 0 <= I < N <= 1000000, both plain decimal numbers. Prints a usage error naming
 * the text and returns 0 otherwise. */
int fr_shard_parse(const char *text, fr_shard *out);

/* The part [*first, *end) of total items, cut in units (see the top of this file). Without a
 * shard: [0, total). */
void fr_shard_range(const fr_shard *shard, size_t total, size_t unit, size_t *first,
                    size_t *end);

/* A digest of a list of strings (NUL-terminated each, so no two lists share one). */
typedef struct fr_list_digest fr_list_digest;
fr_status fr_list_digest_new(fr_list_digest **out);
void fr_list_digest_add(fr_list_digest *d, const char *item);
void fr_list_digest_add_bytes(fr_list_digest *d, const void *data, size_t size);
/* The hex digest; frees d. */
void fr_list_digest_finish(fr_list_digest *d, char hex[65]);
void fr_list_digest_free(fr_list_digest *d);

/* ---- writing a manifest ------------------------------------------------------------------ */

typedef struct fr_manifest fr_manifest;

/* A manifest for a shard of COMMAND over total inputs (digest: inputs_sha256), this shard
 * holding [first, end) of them in units of unit. */
fr_status fr_manifest_new(const char *command, const fr_shard *shard, size_t total,
                          const char inputs_sha256[65], size_t unit, size_t first, size_t end,
                          fr_manifest **out);
void fr_manifest_free(fr_manifest *m);

/* What must be equal in every shard of a job. Option names are the command line's (without
 * the dashes), so that a refusal can say "--batch 64 here, 256 there". */
void fr_manifest_model(fr_manifest *m, const char *model_key);
void fr_manifest_option(fr_manifest *m, const char *name, const char *value);
void fr_manifest_option_number(fr_manifest *m, const char *name, double value);
void fr_manifest_option_flag(fr_manifest *m, const char *name, int value);

/* Inputs of this shard that could not be read (named on stderr). */
void fr_manifest_failures(fr_manifest *m, size_t failures);
/* Arguments or directories that could not be read while listing the inputs: the same for
 * every shard of a job, since they all list the same tree. */
void fr_manifest_list_errors(fr_manifest *m, size_t errors);
/* An output already committed: ROLE is its suffix beside the main output ("main" for OUT
 * itself, ".paths", ...); its size and SHA-256 are read back from the file. */
fr_status fr_manifest_output(fr_manifest *m, const char *role, const char *path);
/* Writes MAIN_OUTPUT.manifest.json (atomically). */
fr_status fr_manifest_commit(fr_manifest *m, const char *main_output);

/* "<path>.manifest.json", malloc'ed. */
char *fr_manifest_name(const char *main_output);

/* ---- reading one --------------------------------------------------------------------------- */

typedef struct fr_manifest_file {
    char *role;
    char *path;     /* resolved beside the manifest */
    size_t bytes;
    char sha256[65];
} fr_manifest_file;

typedef struct fr_shard_manifest {
    char *path;       /* the manifest */
    char *output;     /* the main output it describes (path minus .manifest.json) */
    char *command;
    char *facerec;    /* the version that wrote it */
    fr_shard shard;
    size_t total, unit, first, end;
    char inputs_sha256[65];
    char *model;
    char *options;    /* the options object as canonical JSON text */
    size_t failures, list_errors;
    fr_manifest_file *files;
    size_t file_count;
} fr_shard_manifest;

/* Reads the manifest of a shard output: ARG is the output (its manifest beside it) or the
 * manifest itself. A missing, malformed or inconsistent manifest fails naming the file. */
fr_status fr_manifest_load(const char *arg, fr_shard_manifest *out);
void fr_shard_manifest_free(fr_shard_manifest *m);
const fr_manifest_file *fr_manifest_find(const fr_shard_manifest *m, const char *role);
/* The first option whose value differs between a and b, as "--name VALUE_A" and "VALUE_B"
 * into the buffers (1), or 0 when the options agree. */
int fr_manifest_option_difference(const fr_shard_manifest *a, const fr_shard_manifest *b,
                                  char *in_a, char *in_b, size_t size);

#endif
