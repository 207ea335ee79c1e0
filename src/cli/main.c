/* main.c: `facerec COMMAND ...`: dispatch to the commands in cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const fr_command COMMANDS[] = {
    {"embed", "images -> N x 128 embeddings (.npy) and the list of paths", fr_cmd_embed},
    {"convert", "import weights: --from tfjs|keras-h5 SRC -o model.frw", fr_cmd_convert},
    {"info", "devices, backends and models", fr_cmd_info},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: facerec COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n`facerec COMMAND --help` describes a command and its options.\n"
                 "facerec %s\n", FR_VERSION_STRING);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FR_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return FR_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("facerec %s\n", FR_VERSION_STRING);
        return FR_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "facerec: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FR_EXIT_USAGE;
}
