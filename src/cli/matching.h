/*
 * matching.h: what the matching commands (enroll, verify, identify, distmat, pairs) share:
 * embedding a list of images into memory, the identity database opened for matching with the
 * threshold in force (the rules themselves are the library's: match/identity.h), the
 * distance engine, and the result tables.
 */
#ifndef FR_CLI_MATCHING_H
#define FR_CLI_MATCHING_H

#include <stddef.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/file.h"
#include "match/distance.h"
#include "match/identity.h"
#include "match/table.h"
#include "store/store.h"

/* Parses --aggregate min|mean; prints a usage error and returns 0 when neither. */
int fr_cli_parse_aggregate(const char *text, fr_aggregate *out);

/* What became of one input image: its row in the result tables' status column. */
typedef enum fr_cli_status {
    FR_CLI_UNREADABLE = 0, /* not decoded: missing, not an image, truncated, ... */
    FR_CLI_OK,
    FR_CLI_NO_FACE         /* decoded, but no face (or not the face --face asked for) */
} fr_cli_status;

/* Every image of a run, embedded: row i belongs to path image[i] (i itself, but with
 * --all-faces, where an image has a row per face, in input order); ok[i] says whether it could
 * be embedded (the rows of failed images stay zero, their errors are printed). */
typedef struct fr_cli_embeddings {
    size_t count, dim;
    size_t *image;         /* the path each row belongs to */
    size_t capacity;       /* rows allocated */
    int all_faces;         /* the run's --all-faces: a row per face */
    float *rows;
    unsigned char *ok;
    unsigned char *status; /* fr_cli_status of each image */
    char **errors;         /* why an image has no row (NULL when ok) */
    fr_face *boxes;        /* the face embedded, when has_box[i] */
    int *face;             /* its index in the detector's order (as `facerec detect` numbers) */
    unsigned char *has_box;
    int *faces; /* the faces found in each image (0 without detection) */
    size_t failures;
} fr_cli_embeddings;

/* The columns that follow a row's own in identify's and verify's tables (docs/outputs.md):
 * what became of the input, the faces found in it, the face used (its index and box) and why
 * there is no answer. */
#define FR_CLI_STATUS_COLUMNS "status,faces,face,x1,y1,x2,y2,error"
const char *fr_cli_status_name(fr_cli_status status);
/* ",status,faces,face,x1,y1,x2,y2,error" of image i; a status and error given (verify's claim of
 * an unknown name: unknown_name) replace the image's. */
void fr_cli_status_csv(FILE *f, const fr_cli_embeddings *e, size_t i, const char *status,
                       const char *error);
/* The same as JSON members: status, faces, face and box ([x1, y1, x2, y2]; null without a
 * detected face), error (or null). */
void fr_cli_status_json(FILE *f, const fr_cli_embeddings *e, size_t i, const char *status,
                        const char *error);

/* Returns FR_EXIT_OK, or the exit code of a fatal failure after printing it. failures
 * counts the run's unreadable arguments too. */
int fr_cli_embed_all(const char *command, fr_run *run, fr_cli_embeddings *out);
/* The same for another list of paths, embedded with the run's engine. */
int fr_cli_embed_list(const char *command, fr_run *run, char *const *paths, size_t count,
                      fr_cli_embeddings *out);
void fr_cli_embeddings_free(fr_cli_embeddings *e);

/* The threshold in force: --threshold, else the model's default; a model without one
 * (pixels) needs the option (exit code; the error printed). */
int fr_cli_threshold(const char *command, const fr_global_options *g, const fr_model_info *model,
                     float *out);

/* What verify and identify match against: the database, loaded read-only for the run's
 * model, and a matcher over it with the threshold in force (--threshold, else the one the
 * database stores, `db set --threshold`, else the model's default; a model without one,
 * pixels, needs one of the first two) on the distance engine. */
typedef struct fr_cli_identities {
    fr_gallery gallery;
    fr_distance_engine *engine;
    int engine_borrowed; /* attached to the caller's engine: close leaves it open */
    fr_matcher *matcher;
} fr_cli_identities;

/* Returns an exit code (errors printed); close also what a failed open left. */
int fr_cli_identities_open(const char *command, const fr_global_options *g, const char *db,
                           const fr_model_info *model, fr_aggregate aggregate,
                           fr_cli_identities *out);
/* The same on the caller's engine, which close leaves open: a gallery in several databases
 * (gallery shards) is matched one database at a time on one engine. */
int fr_cli_identities_attach(const char *command, const fr_global_options *g, const char *db,
                             const fr_model_info *model, fr_aggregate aggregate,
                             fr_distance_engine *engine, fr_cli_identities *out);
void fr_cli_identities_close(fr_cli_identities *identities);

int fr_cli_distance_engine(const char *command, const fr_global_options *g,
                           fr_distance_engine **out);

/* A result table: -o FILE (written atomically) or standard output. */
typedef struct fr_cli_table {
    fr_output output;
    fr_table_format format;
    FILE *file;
} fr_cli_table;

/* Opened before the work, so that an output that cannot be written fails at once. */
int fr_cli_table_open(const char *command, const char *path, int json, fr_cli_table *out);
/* Commits the file, in a commit section (signals.h), as a command's last step (exit code; an
 * error is printed). */
int fr_cli_table_close(const char *command, fr_cli_table *table);
/* Removes the file being written; safe on a closed or zeroed table. */
void fr_cli_table_abort(fr_cli_table *table);

/* Strings (paths, names) sorted and without duplicates, e.g. to embed each image once: *out
 * holds pointers into strings, not copies. */
fr_status fr_cli_sorted_unique(char *const *strings, size_t count, char ***out, size_t *unique);
/* Index of a string in a list made by fr_cli_sorted_unique, or -1. */
long fr_cli_find_sorted(char *const *unique, size_t count, const char *text);

#endif
