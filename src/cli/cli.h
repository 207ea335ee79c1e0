/*
 * cli.h: what the commands share: exit codes, global options, error reporting.
 *
 * Exit codes (documented in the README and in `facerec --help`):
 *   0 success; 1 "no": not verified / not in the database; 2 usage error (an unknown name
 *   included);
 *   3 partial failure (some inputs unreadable, each named on stderr); 4 fatal failure;
 *   130 interrupted (SIGINT, SIGTERM or SIGHUP: nothing of the run committed; signals.h).
 */
#ifndef FR_CLI_H
#define FR_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "engine/embedder.h"
#include "facerec.h"

enum {
    FR_EXIT_OK = 0,
    FR_EXIT_NO = 1,
    FR_EXIT_USAGE = 2,
    FR_EXIT_PARTIAL = 3,
    FR_EXIT_FATAL = 4,
    FR_EXIT_INTERRUPTED = 130
};

typedef struct fr_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} fr_command;

int fr_cmd_embed(int argc, char **argv);
int fr_cmd_convert(int argc, char **argv);
int fr_cmd_info(int argc, char **argv);
int fr_cmd_detect(int argc, char **argv);
int fr_cmd_enroll(int argc, char **argv);
int fr_cmd_db(int argc, char **argv);
int fr_cmd_verify(int argc, char **argv);
int fr_cmd_identify(int argc, char **argv);
int fr_cmd_distmat(int argc, char **argv);
int fr_cmd_pairs(int argc, char **argv);
int fr_cmd_eval(int argc, char **argv);
int fr_cmd_train(int argc, char **argv);
int fr_cmd_cluster(int argc, char **argv);
int fr_cmd_merge(int argc, char **argv);

/* Options every model-running command takes. */
typedef struct fr_global_options {
    const char *model;    /* --model irv1|dlib|pixels (NULL: the --weights file's, else dlib) */
    const char *weights;  /* --weights FILE (default: the model's file in the weights dir) */
    fr_device device;     /* --device auto|cpu|cuda */
    fr_precision precision; /* --precision fp32|tf32|fp16|bf16 */
    fr_preprocess preprocess; /* --preprocess */
    int batch;            /* --batch N */
    int threads;          /* --threads N */
    float threshold;      /* --threshold D (<= 0: the model's default) */
    int json;             /* --json */
    int quiet;            /* --quiet */
    fr_align_mode align;  /* --align none|auto|mtcnn|landmarks68 (default auto) */
    int all_faces;        /* --all-faces: one result per detected face */
    fr_face_rule face;    /* --face largest|central: an image's main face (default largest) */
    int face_index;       /* --face INDEX: 1 + the face's index in the detector's order (0: by
                             the rule) */
    int face_given;       /* --face was given: a group photo's face was chosen (enroll) */
    int flip;             /* --flip: each face's embedding averaged with its mirror image's */
    int jitter;           /* --jitter N: the mean of N jittered copies (0: none) */
    fr_pipeline pipeline; /* --pipeline auto|threads|batched: where faces are found and cut */
    const char *decode;   /* --decode cpu|nvjpeg (NULL: $FACEREC_DECODE, else cpu) */
    fr_detector_kind detector; /* --detector mtcnn|tiny|tiny+mtcnn (default mtcnn) */
    int detector_size;    /* --detector-size N: the tiny detector's input side (0: 416) */
    double detector_threshold; /* --detector-threshold P: the tiny detector's score (0: 0.5) */
    /* without --model and --weights: the model a database records and its weights file
     * (fr_cli_model_of_database), which model and weights then point at */
    char database_model[64];
    char database_weights[4096];
} fr_global_options;

/* getopt_long entries for the global options; commands append their own. Codes >= 1000. */
#define FR_GLOBAL_OPTION_COUNT 20
extern const struct option fr_global_long_options[FR_GLOBAL_OPTION_COUNT];
void fr_global_defaults(fr_global_options *g);
/* Handles a global option code: 1 if it was one (and valid), 0 if not a global option,
 * -1 after printing a usage error. */
int fr_global_option(fr_global_options *g, int code, const char *arg);
/* The default branch of every command's option loop: 1 if CODE was a valid global option;
 * 0 after a usage error: an unknown option or a missing value is one line naming it, with the
 * nearest option of the command's table ("did you mean --threshold?"), not the whole HELP
 * (kept in the signature for the commands' loops). */
int fr_cli_common_option(fr_global_options *g, int code, const char *arg, void (*help)(FILE *));
/* For a command parsing its own table (without the global options): fr_cli_options_begin
 * before the getopt_long loop, fr_cli_bad_option in its default branch (the same one line). */
void fr_cli_options_begin(const struct option *options);
void fr_cli_bad_option(void);
/* The command line a command parses (argv[0]: the command's name), for those messages: main
 * sets it before running the command. */
void fr_cli_set_args(int argc, char **argv);
/* The name among NAMES nearest to WORD by edit distance (a prefix counts as near), or NULL
 * when none is near enough to be a likely typo. */
const char *fr_cli_nearest(const char *word, const char *const *names, size_t count);
/* Help text lines for the global options. */
void fr_global_help(FILE *out);
/* The same without the options named in except (space-separated names, no dashes): a command
 * lists only the options it takes. */
void fr_global_help_except(FILE *out, const char *except);
/* Makes the global options named in names (space-separated, no dashes) in a merged table
 * parse as refused: fr_cli_common_option says "--NAME: COMMAND does not take it" (exit 2)
 * instead of accepting and ignoring them. */
void fr_options_refuse(struct option *options, const char *names);

/* Builds the long-option table: the command's own entries then the global ones (remembered
 * for fr_cli_common_option's messages; getopt's own are turned off). */
struct option *fr_options_merge(const struct option *own, size_t own_count);

/* The weights file --model / --weights name: --weights, else the model's file in the weights
 * directory (dlib's when neither is given); NULL for the pixels baseline, which has none. */
fr_status fr_cli_weights_file(const fr_global_options *g, char *buffer, size_t size,
                              const char **file);
/* Resolves the weights file of --model / --weights and loads the model (messages printed).
 * The model fr_cli_model_of_database loaded to check a weights file is handed over instead of
 * loading that file a second time, when g names that very file and preprocessing. */
fr_status fr_cli_load_model(const fr_global_options *g, fr_model **out);
/* Frees that kept model if no command took it (main, after the command). */
void fr_cli_release_checked_model(void);
/* Without --model and --weights, a command reading or extending the database DB runs the
 * model DB records (its architecture, preprocessing and weights: the weights directory's file
 * of that architecture when its provenance digest is the one recorded), not the built-in
 * default. Returns 0, or an exit code after one line naming the recorded model and how to
 * pass it (--model ARCH --weights FILE) when its weights are not found. A database that does
 * not exist or records no model yet leaves g as it is (opening errors are the command's to
 * report). */
int fr_cli_model_of_database(const char *command, fr_global_options *g, const char *db);
/* The directory holding fetched weights: $FACEREC_WEIGHTS_DIR, <source>/weights, or the
 * installed share/facerec/weights. */
const char *fr_cli_weights_dir(void);

/* An embeddings .npy a command reads (and the .paths beside it, with_paths, when there is
 * one): refused, naming the file and the record, when the .sha256 record beside it says they
 * were not written together (an embed killed between its renames; core/file.h). */
fr_status fr_cli_check_npy_set(const char *npy, int with_paths);

/* text on one line: '\' and newline written as \\ and \n (the escaping of .paths files);
 * with controls, also '\r' as \r and the other control bytes but tab as \xHH. */
void fr_cli_write_escaped(FILE *out, const char *text, int controls);
/* "facerec CMD: message" on stderr, prefixed by the command name, on one line (escaped as
 * fr_cli_write_escaped with controls). */
/* --quiet was given: notices that are not errors (the files a folder walk skipped) stay off
 * stderr, as progress and the summary do. */
extern int fr_cli_quiet;
void fr_cli_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Prints fr_error_message() for a failed status and returns the exit code for it. */
int fr_cli_fail(const char *command, fr_status status);

#endif
