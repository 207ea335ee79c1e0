/* cmd_info.c: `facerec info`: backends, devices, models and their weights files. */
#include <dnnl.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "model/model_internal.h"
#include "model/weights.h"

static void help(FILE *out)
{
    fprintf(out, "usage: facerec info [--json] [--graph] [--model M | --weights FILE]\n\n"
                 "Shows the backends this build has, the GPUs it can use, which device\n"
                 "--device auto picks, and the models with their weights files.\n"
                 "  --graph   print the network of --model / --weights, one line per operation\n"
                 "  --json    machine-readable output\n");
}

/* A float as the double of its shortest decimal (0.428f is 0.428, not 0.42800000309944153). */
static double float_as_written(float value)
{
    char text[32];
    for (int digits = 1; digits < 10; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (strtof(text, NULL) == value)
            break;
    }
    return strtod(text, NULL);
}

/* arch NULL: whatever the weights file holds */
static cJSON *describe_model(const char *arch, const char *weights)
{
    cJSON *m = cJSON_CreateObject();
    char path[4096];
    fr_status st = FR_OK;
    if (weights)
        snprintf(path, sizeof path, "%s", weights);
    else
        st = fr_model_default_path(arch, path, sizeof path);
    cJSON_AddStringToObject(m, "weights", path);
    fr_model *model = NULL;
    if (!st)
        st = fr_model_load(path, &model);
    cJSON_AddStringToObject(m, "model", arch ? arch : model ? fr_model_get_info(model)->arch : "?");
    if (st) {
        cJSON_AddStringToObject(m, "status", fr_error_message());
        return m;
    }
    const fr_model_info *info = fr_model_get_info(model);
    cJSON_AddStringToObject(m, "status", "ok");
    cJSON_AddStringToObject(m, "arch", info->arch);
    const fr_arch *a = fr_arch_find(info->arch);
    cJSON_AddStringToObject(m, "role", a && a->auxiliary ? "alignment" : "recognition");
    cJSON_AddNumberToObject(m, "input_size", info->input_size);
    cJSON_AddNumberToObject(m, "embedding_size", info->embedding_size);
    cJSON_AddStringToObject(m, "preprocess", fr_preprocess_name(info->preprocess));
    cJSON_AddNumberToObject(m, "threshold", float_as_written(info->threshold));
    cJSON_AddStringToObject(m, "source", info->source);
    cJSON_AddStringToObject(m, "source_sha256", info->source_sha256);
    cJSON_AddNumberToObject(m, "gflops_per_image", fr_graph_flops(model->graph) * 1e-9);
    fr_model_free(model);
    fr_weights *w = NULL; /* it loaded: it opens */
    if (fr_weights_open(path, &w) == FR_OK) {
        cJSON_AddNumberToObject(m, "format", fr_weights_version(w));
        if (fr_weights_checksum(w))
            cJSON_AddStringToObject(m, "checksum", fr_weights_checksum(w));
        else
            cJSON_AddNullToObject(m, "checksum");
        fr_weights_close(w);
    }
    return m;
}

int fr_cmd_info(int argc, char **argv)
{
    static const struct option own[] = {{"graph", no_argument, NULL, 'g'},
                                        {"help", no_argument, NULL, 'h'}};
    struct option *options = fr_options_merge(own, sizeof own / sizeof own[0]);
    fr_global_options g;
    fr_global_defaults(&g);
    int graph = 0, c;
    while (options && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'g') {
            graph = 1;
        } else if (c == 'h') {
            help(stdout);
            free(options);
            return FR_EXIT_OK;
        } else if (!fr_cli_common_option(&g, c, optarg, help)) {
            free(options);
            return FR_EXIT_USAGE;
        }
    }
    free(options);
    if (optind != argc) {
        help(stderr);
        return FR_EXIT_USAGE;
    }
    if (graph) {
        fr_model *model;
        /* a weights file shows its network whatever it is (the landmark net included) */
        fr_status st = g.weights && !g.model ? fr_model_load(g.weights, &model)
                                             : fr_cli_load_model(&g, &model);
        if (st)
            return fr_cli_fail("info", st);
        if (!model->graph) {
            fr_model_free(model);
            fr_cli_error("info", "the pixels model has no network");
            return FR_EXIT_USAGE;
        }
        fr_graph_dump(model->graph, stdout);
        printf("# %d operations, %.3f GFLOP per image, %.1f MB of activations per image, "
               "%zu parameters\n", model->graph->node_count, fr_graph_flops(model->graph) * 1e-9,
               model->graph->arena_size * 4e-6, model->graph->param_count);
        fr_model_free(model);
        return FR_EXIT_OK;
    }

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", FR_VERSION_STRING);
    cJSON *cpu = cJSON_AddObjectToObject(root, "cpu");
    cJSON_AddNumberToObject(cpu, "threads", fr_cpu_count());
    char blas[128];
    const dnnl_version_t *v = dnnl_version();
    snprintf(blas, sizeof blas, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch,
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime");
    cJSON_AddStringToObject(cpu, "gemm", blas);
    cJSON *cuda = cJSON_AddObjectToObject(root, "cuda");
    cJSON_AddBoolToObject(cuda, "compiled", fr_cuda_compiled());
    int devices = fr_cuda_device_count();
    cJSON *list = cJSON_AddArrayToObject(cuda, "devices");
    char line[512];
    if (devices > 0) {
        for (int i = 0; i < devices; i++) {
            fr_cuda_describe(i, line, sizeof line);
            cJSON_AddItemToArray(list, cJSON_CreateString(line));
        }
    } else {
        fr_cuda_describe(0, line, sizeof line);
        cJSON_AddStringToObject(cuda, "unavailable", line);
    }
    cJSON_AddStringToObject(root, "auto_device", devices > 0 ? "cuda" : "cpu");
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    size_t n_archs = 0;
    if (g.weights || g.model) {
        cJSON_AddItemToArray(models,
                             describe_model(g.model  ? g.model
                                            : g.weights ? NULL
                                                        : FR_ARCH_DEFAULT,
                                            g.weights));
    } else {
        for (const fr_arch *a; (a = fr_arch_at(n_archs)) != NULL; n_archs++)
            if (a->build) /* the pixels baseline has no weights to describe */
                cJSON_AddItemToArray(models, describe_model(a->name, NULL));
    }

    if (g.json) {
        char *text = cJSON_Print(root);
        puts(text);
        free(text);
    } else {
        printf("facerec %s\n", FR_VERSION_STRING);
        printf("cpu:   %d threads, GEMM by %s\n", fr_cpu_count(), blas);
        if (!fr_cuda_compiled())
            printf("cuda:  not compiled in (no CUDA toolkit with cuDNN at build time)\n");
        else if (devices <= 0)
            printf("cuda:  compiled, no usable GPU (%s)\n", line);
        else
            for (int i = 0; i < devices; i++) {
                fr_cuda_describe(i, line, sizeof line);
                printf("cuda:  GPU %d: %s\n", i, line);
            }
        printf("--device auto uses: %s\n", devices > 0 ? "cuda" : "cpu");
        const cJSON *m;
        cJSON_ArrayForEach(m, models)
        {
            const char *status = cJSON_GetObjectItem(m, "status")->valuestring;
            printf("model %-6s %s\n", cJSON_GetObjectItem(m, "model")->valuestring,
                   cJSON_GetObjectItem(m, "weights")->valuestring);
            if (strcmp(status, "ok") != 0) {
                printf("       unavailable: %s\n", status);
                continue;
            }
            const cJSON *sum = cJSON_GetObjectItem(m, "checksum");
            if (cJSON_IsString(sum))
                printf("       file format %d, checksum verified (sha256 %.16s...)\n",
                       cJSON_GetObjectItem(m, "format")->valueint, sum->valuestring);
            else if (sum)
                printf("       file format %d, no checksum (`facerec convert --from frw %s -o "
                       "NEW.frw` adds one)\n", cJSON_GetObjectItem(m, "format")->valueint,
                       cJSON_GetObjectItem(m, "weights")->valuestring);
            if (strcmp(cJSON_GetObjectItem(m, "role")->valuestring, "alignment") == 0) {
                printf("       %dx%d input, %d outputs (face alignment landmarks), %.2f "
                       "GFLOP/image\n       from %s (sha256 %.16s...)\n",
                       cJSON_GetObjectItem(m, "input_size")->valueint,
                       cJSON_GetObjectItem(m, "input_size")->valueint,
                       cJSON_GetObjectItem(m, "embedding_size")->valueint,
                       cJSON_GetObjectItem(m, "gflops_per_image")->valuedouble,
                       cJSON_GetObjectItem(m, "source")->valuestring,
                       cJSON_GetObjectItem(m, "source_sha256")->valuestring);
                continue;
            }
            printf("       %dx%d input, %d-d embedding, preprocessing %s, threshold %.3f, "
                   "%.2f GFLOP/image\n       from %s (sha256 %.16s...)\n",
                   cJSON_GetObjectItem(m, "input_size")->valueint,
                   cJSON_GetObjectItem(m, "input_size")->valueint,
                   cJSON_GetObjectItem(m, "embedding_size")->valueint,
                   cJSON_GetObjectItem(m, "preprocess")->valuestring,
                   cJSON_GetObjectItem(m, "threshold")->valuedouble,
                   cJSON_GetObjectItem(m, "gflops_per_image")->valuedouble,
                   cJSON_GetObjectItem(m, "source")->valuestring,
                   cJSON_GetObjectItem(m, "source_sha256")->valuestring);
        }
    }
    cJSON_Delete(root);
    return FR_EXIT_OK;
}
