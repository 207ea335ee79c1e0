/* main.c: `facerec COMMAND ...`: dispatch to the commands in cmd_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/signals.h"

static const fr_command COMMANDS[] = {
    {"embed", "images -> N x 128 embeddings (.npy) and the list of paths", fr_cmd_embed},
    {"enroll", "add people's images to an identity database", fr_cmd_enroll},
    {"db", "list, remove, rename people; store a threshold; split a database", fr_cmd_db},
    {"verify", "is this the person claimed? (1:1, one image or a list of claims)", fr_cmd_verify},
    {"identify", "who is this? nearest people in the database (1:K, top-k)", fr_cmd_identify},
    {"distmat", "all-pairs distances between two sets of images or embeddings (.npy)", fr_cmd_distmat},
    {"pairs", "distances of listed image pairs (LFW pairs.txt or TSV) -> scores.csv", fr_cmd_pairs},
    {"eval", "accuracy, thresholds, ROC and histograms from scores.csv", fr_cmd_eval},
    {"cluster", "group unlabeled faces by person -> path,face,cluster CSV", fr_cmd_cluster},
    {"train", "learn the model's last layer from people's faces -> weights .frw", fr_cmd_train},
    {"detect", "find faces: boxes, scores, landmarks (CSV/JSON), drawings, chips", fr_cmd_detect},
    {"merge", "join the outputs of a job run in parts (--shard I/N) into one run's", fr_cmd_merge},
    {"convert", "import weights: --from tfjs|keras-h5|mtcnn-npy SRC -o model.frw", fr_cmd_convert},
    {"info", "devices, backends and models", fr_cmd_info},
};

static int run_command(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out, "usage: facerec COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\nexit status: 0 success; 1 \"no\" (not verified, not in the database); 2 usage\n"
                 "error (including an unknown name); 3 some inputs failed (each named on stderr,\n"
                 "the rest answered); 4 failure; 130 interrupted (SIGINT, SIGTERM: nothing\n"
                 "written, the database unchanged).\n"
                 "\nenvironment: FACEREC_WEIGHTS_DIR, the weights directory (default: the source\n"
                 "tree's weights/, then the installed share/facerec/weights). Progress (images/s,\n"
                 "ETA) goes to stderr only when stderr is a terminal; --quiet drops it and the\n"
                 "summary line. facerec never colours its output, so NO_COLOR needs nothing.\n"
                 "\n`facerec COMMAND --help` describes a command and its options; --version, with\n"
                 "or without a command, prints the version. The common options (--quiet,\n"
                 "--model, --device, ...) may come before the command too: `facerec --quiet\n"
                 "identify ...` is `facerec identify --quiet ...`.\n"
                 "facerec %s\n", FR_VERSION_STRING);
}

/* The index of the command in argv: after the common options given before it (`facerec
 * --quiet --device cpu identify ...`), 1 when there are none; 0 after a one-line usage error
 * (an option that is not a common one, or no command after them). */
static int command_index(int argc, char **argv)
{
    int a = 1;
    while (a < argc && strncmp(argv[a], "--", 2) == 0 && argv[a][2]) {
        const char *name = argv[a] + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *o = NULL;
        for (size_t i = 0; i < FR_GLOBAL_OPTION_COUNT && !o; i++)
            if (strlen(fr_global_long_options[i].name) == n &&
                strncmp(fr_global_long_options[i].name, name, n) == 0)
                o = &fr_global_long_options[i];
        if (!o) {
            if (a == 1)
                return 1; /* `facerec --bogus`: said as an unknown command */
            if (strcmp(argv[a], "--version") == 0 || strcmp(argv[a], "--help") == 0)
                return a; /* `facerec --quiet --version`: answered as `facerec --version` */
            fprintf(stderr, "facerec: %s before the command is not one of the common options "
                    "(give it after the command: facerec COMMAND --help lists its options)\n",
                    argv[a]);
            return 0;
        }
        a += o->has_arg == required_argument && !eq ? 2 : 1;
    }
    if (a >= argc) {
        fprintf(stderr, "facerec: no command after the options (facerec --help lists the "
                "commands)\n");
        return 0;
    }
    return a;
}

int main(int argc, char **argv)
{
    /* before any thread starts (the messages name the command, found below) */
    int at = argc > 1 ? command_index(argc, argv) : 1;
    fr_cli_signals_start(at && at < argc ? argv[at] : "");
    if (!at)
        return FR_EXIT_USAGE;
    if (argc < 2) {
        usage(stderr);
        return FR_EXIT_USAGE;
    }
    if (strcmp(argv[at], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return FR_EXIT_OK;
    }
    if (strcmp(argv[at], "--version") == 0) {
        printf("facerec %s\n", FR_VERSION_STRING);
        return FR_EXIT_OK;
    }
    char **moved = NULL;
    if (at > 1) {
        /* the options before the command go after its name, where it parses them */
        moved = malloc((size_t)(argc + 1) * sizeof *moved);
        if (!moved) {
            fprintf(stderr, "facerec: out of memory\n");
            return FR_EXIT_FATAL;
        }
        moved[0] = argv[0];
        moved[1] = argv[at];
        memcpy(moved + 2, argv + 1, (size_t)(at - 1) * sizeof *moved);
        memcpy(moved + at + 1, argv + at + 1, (size_t)(argc - at - 1) * sizeof *moved);
        moved[argc] = NULL;
        argv = moved;
    }
    int code = run_command(argc, argv);
    free(moved);
    return code;
}

static int run_command(int argc, char **argv)
{
    const char *names[sizeof COMMANDS / sizeof COMMANDS[0]];
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) == 0) {
            /* `facerec CMD --version`, for every command in one place (an option anywhere
             * before `--`, as getopt would read it) */
            for (int a = 2; a < argc && strcmp(argv[a], "--") != 0; a++)
                if (strcmp(argv[a], "--version") == 0) {
                    printf("facerec %s\n", FR_VERSION_STRING);
                    return FR_EXIT_OK;
                }
            fr_cli_set_args(argc - 1, argv + 1);
            int code = COMMANDS[i].run(argc - 1, argv + 1);
            fr_cli_release_checked_model();
            return code;
        }
        names[i] = COMMANDS[i].name;
    }
    const char *near = fr_cli_nearest(argv[1], names, sizeof names / sizeof names[0]);
    if (near) {
        fprintf(stderr, "facerec: unknown command '%s'; did you mean %s?\n", argv[1], near);
        return FR_EXIT_USAGE;
    }
    fprintf(stderr, "facerec: unknown command '%s' (facerec --help lists the commands)\n",
            argv[1]);
    return FR_EXIT_USAGE;
}
