/* trained.c: splitting a model into trunk and head, and writing the trained weights file. */
#include "learn/trained.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/sha256.h"
#include "model/convert.h"
#include "model/model_internal.h"
#include "model/weights.h"

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The architectures with a head and the layer of each, for the message of those without. */
static void trainable_names(char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = 0;
    for (size_t i = 0; fr_arch_at(i); i++) {
        const fr_arch *a = fr_arch_at(i);
        if (!a->head)
            continue;
        int n = snprintf(buffer + used, size - used, "%s%s (%s)", used ? ", " : "", a->name,
                         a->head->node);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static fr_status read_head(const fr_weights *w, const fr_head_spec *spec, fr_head *h)
{
    const float *kernel, *beta = NULL, *mean = NULL, *variance = NULL;
    int64_t kdims[2] = {h->inputs, h->outputs}, vdims[1] = {h->outputs};
    fr_status st = fr_weights_require(w, spec->kernel, 2, kdims, &kernel);
    if (!st && spec->bn_beta)
        st = fr_weights_require(w, spec->bn_beta, 1, vdims, &beta);
    if (!st && spec->bn_mean)
        st = fr_weights_require(w, spec->bn_mean, 1, vdims, &mean);
    if (!st && spec->bn_variance)
        st = fr_weights_require(w, spec->bn_variance, 1, vdims, &variance);
    if (st)
        return st;
    memcpy(fr_head_kernel(h), kernel, (size_t)h->inputs * h->outputs * sizeof(float));
    if (h->batch_norm) {
        memcpy(fr_head_beta(h), beta, (size_t)h->outputs * sizeof(float));
        memcpy(h->mean, mean, (size_t)h->outputs * sizeof(float));
        memcpy(h->variance, variance, (size_t)h->outputs * sizeof(float));
    }
    return FR_OK;
}

fr_status fr_trained_open(const char *path, fr_trained_base *out)
{
    memset(out, 0, sizeof *out);
    if (snprintf(out->path, sizeof out->path, "%s", path) >= (int)sizeof out->path)
        return fr_fail(FR_E_INVALID, "%s: path too long", path);
    fr_model *m;
    fr_status st = fr_model_load(path, &m);
    if (st)
        return st;
    const fr_arch *arch = fr_arch_find(m->info.arch);
    const fr_head_spec *spec = arch ? arch->head : NULL;
    fr_graph *g = m->graph;
    const fr_node *last = g ? &g->nodes[g->node_count - 1] : NULL;
    if (!spec) {
        char names[256];
        trainable_names(names, sizeof names);
        fr_model_free(m);
        return fr_fail(FR_E_UNSUPPORTED, "%s holds a %s network, which has no layer facerec "
                       "can train (it trains the last layer of %s)", path,
                       arch ? arch->name : "unknown", names);
    }
    if (last->kind != FR_OP_CONV || strcmp(last->name, spec->node) != 0 ||
        g->tensors[last->in].h != 1 || g->tensors[last->in].w != 1) {
        fr_model_free(m);
        return fr_fail(FR_E_INTERNAL, "%s: the %s graph does not end in its %s layer", path,
                       arch->name, spec->node);
    }
    int inputs = g->tensors[last->in].c, outputs = g->tensors[last->out].c;
    st = fr_head_init(&out->head, inputs, outputs, spec->bn_beta != NULL, spec->bn_epsilon);
    fr_weights *w = NULL;
    if (!st)
        st = fr_weights_open(path, &w);
    if (!st)
        st = read_head(w, spec, &out->head);
    fr_weights_close(w);
    if (!st)
        st = fr_sha256_file(path, out->sha256);
    if (!st) {
        /* the trunk: the same graph without its last node, ending at the pooled features */
        int features = last->in;
        g->node_count--;
        st = fr_graph_finalize(g, features);
        m->info.embedding_size = inputs;
    }
    if (st) {
        fr_head_free(&out->head);
        fr_model_free(m);
        return st;
    }
    out->trunk = m;
    out->arch = arch->name;
    out->head_name = spec->node;
    return FR_OK;
}

void fr_trained_close(fr_trained_base *b)
{
    if (!b)
        return;
    fr_model_free(b->trunk);
    fr_head_free(&b->head);
    memset(b, 0, sizeof *b);
}

static fr_status check_model(const char *path)
{
    fr_model *m;
    fr_status st = fr_model_load(path, &m);
    if (!st)
        fr_model_free(m);
    return st;
}

fr_status fr_trained_save(const fr_trained_base *base, const fr_head *head,
                          const fr_trained_provenance *prov, const char *output)
{
    const fr_head_spec *spec = fr_arch_find(base->arch)->head;
    const char *replaced[] = {spec->kernel, spec->bn_beta, spec->bn_mean, spec->bn_variance,
                              NULL};
    fr_weights *w;
    fr_status st = fr_weights_open(base->path, &w);
    if (st)
        return st;
    fr_weights_writer *wr = fr_weights_writer_new();
    if (!wr) {
        fr_weights_close(w);
        return FR_E_NOMEM;
    }
    char base_source[1024], base_source_sha[80];
    const char *src = fr_weights_meta_string(w, "source");
    const char *src_sha = fr_weights_meta_string(w, "source_sha256");
    snprintf(base_source, sizeof base_source, "%s", src ? src : "");
    snprintf(base_source_sha, sizeof base_source_sha, "%s", src_sha ? src_sha : "");
    st = fr_weights_writer_copy(wr, w, replaced);
    fr_weights_close(w);

    int64_t kdims[2] = {head->inputs, head->outputs}, vdims[1] = {head->outputs};
    if (!st)
        st = fr_weights_writer_tensor(wr, spec->kernel, 2, kdims, fr_head_kernel(head));
    if (!st && spec->bn_beta)
        st = fr_weights_writer_tensor(wr, spec->bn_beta, 1, vdims, fr_head_beta(head));
    if (!st && spec->bn_mean)
        st = fr_weights_writer_tensor(wr, spec->bn_mean, 1, vdims, head->mean);
    if (!st && spec->bn_variance)
        st = fr_weights_writer_tensor(wr, spec->bn_variance, 1, vdims, head->variance);

    /* the new model's key: what it came from, what it learned from, and what it learned */
    fr_sha256_list key = {NULL, 0};
    char hex[65];
    if (!st)
        st = fr_sha256_list_add(&key, base->sha256, "base_weights");
    if (!st)
        st = fr_sha256_list_add(&key, prov->training_set_sha256, "training_set");
    if (!st) {
        fr_sha256_hex(head->params, head->param_count * sizeof(float), hex);
        st = fr_sha256_list_add(&key, hex, spec->node);
    }
    if (!st && head->batch_norm) {
        fr_sha256_hex(head->mean, (size_t)head->outputs * sizeof(float), hex);
        st = fr_sha256_list_add(&key, hex, "mean");
        fr_sha256_hex(head->variance, (size_t)head->outputs * sizeof(float), hex);
        if (!st)
            st = fr_sha256_list_add(&key, hex, "variance");
    }
    char model_sha[65];
    fr_sha256_list_finish(&key, model_sha);

    char source[1400];
    int n = snprintf(source, sizeof source, "%.300s trained by facerec train on %.1000s",
                     base_name(base->path), prov->training_set);
    (void)n;
    if (!st)
        st = fr_weights_writer_string(wr, "source", source);
    if (!st)
        st = fr_weights_writer_string(wr, "source_sha256", model_sha);
    if (!st)
        st = fr_weights_writer_string(wr, "base_weights", base_name(base->path));
    if (!st)
        st = fr_weights_writer_string(wr, "base_weights_sha256", base->sha256);
    if (!st)
        st = fr_weights_writer_string(wr, "base_source", base_source);
    if (!st)
        st = fr_weights_writer_string(wr, "base_source_sha256", base_source_sha);
    if (!st)
        st = fr_weights_writer_string(wr, "training_set", prov->training_set);
    if (!st)
        st = fr_weights_writer_string(wr, "training_set_sha256", prov->training_set_sha256);
    if (!st)
        st = fr_weights_writer_string(wr, "training", prov->training);
    if (!st)
        st = fr_weights_writer_string(wr, "trainer", "facerec " FR_VERSION_STRING " train");
    if (!st && prov->threshold > 0)
        st = fr_weights_writer_float(wr, "threshold", prov->threshold);
    if (!st) {
        char what[96];
        snprintf(what, sizeof what, "a %s network", base->arch);
        st = fr_convert_save_checked(wr, output, check_model, what, base->path);
    }
    fr_weights_writer_free(wr);
    return st;
}
