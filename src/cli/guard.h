/*
 * guard.h: outputs never replace what a command reads. Before any work, an output that is one
 * of the run's input files or the identity database (the same file, by device and inode, under
 * whatever name), and a folder of drawings or chips that holds inputs (the folder of an input,
 * or inside a folder given as input: the next run would read the drawings as photos), are
 * refused with a message naming both, unless the user says --force.
 */
#ifndef FR_CLI_GUARD_H
#define FR_CLI_GUARD_H

#include <stddef.h>

/* What an output must not be. args: the command's input arguments (files, such as a list of
 * pairs or --list, and folders); inputs: the image files they gave; dbs: the databases. */
typedef struct fr_cli_guard {
    const char *command;
    char *const *args;
    size_t arg_count;
    char *const *inputs;
    size_t input_count;
    char *const *dbs;
    size_t db_count;
    int force; /* --force: the checks pass */
} fr_cli_guard;

/* FR_EXIT_OK, or FR_EXIT_USAGE after a message naming OPTION (e.g. "-o") and the file. */
int fr_cli_guard_output(const fr_cli_guard *guard, const char *option, const char *output);
/* The same for a folder receiving files (--draw, --chips). */
int fr_cli_guard_folder(const fr_cli_guard *guard, const char *option, const char *folder);

#endif
