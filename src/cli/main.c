/* main.c: `facerec COMMAND ...`: dispatch to the commands in cmd_*.c. */
#include <stdio.h>
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
                 "or without a command, prints the version.\n"
                 "facerec %s\n", FR_VERSION_STRING);
}

int main(int argc, char **argv)
{
    fr_cli_signals_start(argc > 1 ? argv[1] : "");
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
    fprintf(stderr, "facerec: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FR_EXIT_USAGE;
}
