/* cluster.c: connected components, Chinese whispers and exact average linkage on the graph. */
#include "cluster/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/random.h"

const char *fr_cluster_method_name(fr_cluster_method m)
{
    return m == FR_CLUSTER_COMPONENTS ? "components"
           : m == FR_CLUSTER_AVERAGE  ? "average"
                                      : "whispers";
}

fr_status fr_cluster_method_parse(const char *name, fr_cluster_method *out)
{
    if (strcmp(name, "whispers") == 0 || strcmp(name, "chinese-whispers") == 0)
        *out = FR_CLUSTER_WHISPERS;
    else if (strcmp(name, "components") == 0)
        *out = FR_CLUSTER_COMPONENTS;
    else if (strcmp(name, "average") == 0)
        *out = FR_CLUSTER_AVERAGE;
    else
        return fr_fail(FR_E_INVALID, "--method %s: choose whispers, components or average",
                       name);
    return FR_OK;
}

/* ---- numbering: by size, largest first; small clusters -1 ------------------------------- */

typedef struct cluster_size {
    int32_t label;
    size_t size, first;
} cluster_size;

static int compare_sizes(const void *x, const void *y)
{
    const cluster_size *a = x, *b = y;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* labels hold arbitrary ids in [0, n): renumbered in place. */
static fr_status renumber(int32_t *labels, size_t n, size_t min_size, size_t *clusters)
{
    cluster_size *s = fr_calloc(n ? n : 1, sizeof *s, "cluster sizes");
    int32_t *map = fr_malloc((n ? n : 1) * sizeof *map, "cluster sizes");
    if (!s || !map) {
        free(s);
        free(map);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        s[i].label = (int32_t)i;
    for (size_t i = n; i-- > 0;) {
        s[labels[i]].size++;
        s[labels[i]].first = i;
    }
    qsort(s, n, sizeof *s, compare_sizes);
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        int keep = s[k].size > 0 && s[k].size >= (min_size ? min_size : 1);
        map[s[k].label] = keep ? (int32_t)kept : -1;
        kept += (size_t)keep;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = map[labels[i]];
    *clusters = kept;
    free(s);
    free(map);
    return FR_OK;
}

/* ---- connected components (union-find) ----------------------------------------------------- */

static int32_t find(int32_t *parent, int32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void components(const fr_cluster_graph *g, int32_t *labels)
{
    for (size_t i = 0; i < g->nodes; i++)
        labels[i] = (int32_t)i;
    for (size_t i = 0; i < g->nodes; i++)
        for (size_t e = g->offsets[i]; e < g->offsets[i + 1]; e++) {
            int32_t a = find(labels, (int32_t)i), b = find(labels, g->neighbors[e]);
            if (a != b)
                labels[a > b ? a : b] = a < b ? a : b;
        }
    for (size_t i = 0; i < g->nodes; i++)
        labels[i] = find(labels, (int32_t)i);
}

/* ---- Chinese whispers ---------------------------------------------------------------------- */

static fr_status whispers(const fr_cluster_graph *g, int iterations, uint64_t seed,
                          int32_t *labels)
{
    size_t n = g->nodes;
    double *weight = fr_calloc(n ? n : 1, sizeof *weight, "Chinese whispers");
    int32_t *seen = fr_malloc((n ? n : 1) * sizeof *seen, "Chinese whispers");
    if (!weight || !seen) {
        free(weight);
        free(seen);
        return FR_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)i;
    fr_random rng;
    fr_random_seed(&rng, seed);
    size_t steps = n * (size_t)(iterations > 0 ? iterations : FR_CLUSTER_WHISPERS_ITERATIONS);
    for (size_t step = 0; n && step < steps; step++) {
        size_t v = (size_t)fr_random_below(&rng, n);
        if (g->offsets[v] == g->offsets[v + 1])
            continue; /* a face alone keeps its label */
        /* the face itself counts as a neighbour at weight 1 (dlib's example lists the pair
         * (i, i) among its edges) */
        size_t touched = 0;
        seen[touched++] = labels[v];
        weight[labels[v]] = 1;
        for (size_t e = g->offsets[v]; e < g->offsets[v + 1]; e++) {
            int32_t l = labels[g->neighbors[e]];
            if (weight[l] == 0)
                seen[touched++] = l;
            weight[l] += 1;
        }
        int32_t best = labels[v];
        double best_weight = -1;
        for (size_t k = 0; k < touched; k++) {
            int32_t l = seen[k];
            if (weight[l] > best_weight || (weight[l] == best_weight && l < best)) {
                best_weight = weight[l];
                best = l;
            }
        }
        for (size_t k = 0; k < touched; k++)
            weight[seen[k]] = 0;
        labels[v] = best;
    }
    free(weight);
    free(seen);
    return FR_OK;
}

/* ---- average linkage ------------------------------------------------------------------------ */

typedef struct link {
    int32_t other;
    double sum; /* the sum of distances over all pairs of the two clusters' faces */
} link;

typedef struct node_links {
    link *items;
    size_t count, capacity;
} node_links;

typedef struct candidate {
    double mean;
    int32_t a, b;
    uint32_t version_a, version_b;
} candidate;

typedef struct heap {
    candidate *items;
    size_t count, capacity;
} heap;

static int heap_less(const candidate *x, const candidate *y)
{
    if (x->mean != y->mean)
        return x->mean < y->mean;
    if (x->a != y->a)
        return x->a < y->a;
    return x->b < y->b;
}

static fr_status heap_push(heap *h, candidate c)
{
    if (h->count == h->capacity) {
        size_t cap = h->capacity ? 2 * h->capacity : 1024;
        candidate *grown = realloc(h->items, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory in average linkage");
        h->items = grown;
        h->capacity = cap;
    }
    size_t i = h->count++;
    while (i > 0 && heap_less(&c, &h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = c;
    return FR_OK;
}

static candidate heap_pop(heap *h)
{
    candidate top = h->items[0], last = h->items[--h->count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const candidate *best = &last;
        if (l < h->count && heap_less(&h->items[l], best))
            m = l, best = &h->items[l];
        if (r < h->count && heap_less(&h->items[r], best))
            m = r;
        if (m == i)
            break;
        h->items[i] = h->items[m];
        i = m;
    }
    if (h->count)
        h->items[i] = last;
    return top;
}

static fr_status links_put(node_links *l, int32_t other, double sum)
{
    for (size_t k = 0; k < l->count; k++)
        if (l->items[k].other == other) {
            l->items[k].sum = sum;
            return FR_OK;
        }
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 4;
        link *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return fr_fail(FR_E_NOMEM, "out of memory in average linkage");
        l->items = grown;
        l->capacity = cap;
    }
    l->items[l->count++] = (link){other, sum};
    return FR_OK;
}

static void links_remove(node_links *l, int32_t other)
{
    for (size_t k = 0; k < l->count; k++)
        if (l->items[k].other == other) {
            l->items[k] = l->items[--l->count];
            return;
        }
}

typedef struct linkage {
    const float *rows;
    size_t dim;
    int32_t *next;      /* members of a cluster as a list through next[], from head[] */
    int32_t *head, *tail;
    size_t *size;
    uint32_t *version;  /* bumped when a cluster changes: older candidates are stale */
    node_links *links;
    heap queue;
} linkage;

/* The exact sum of distances between the faces of clusters a and b, from their embeddings. */
static double brute_sum(const linkage *k, int32_t a, int32_t b)
{
    double sum = 0;
    for (int32_t i = k->head[a]; i >= 0; i = k->next[i])
        for (int32_t j = k->head[b]; j >= 0; j = k->next[j]) {
            const float *x = k->rows + (size_t)i * k->dim, *y = k->rows + (size_t)j * k->dim;
            double s = 0;
            for (size_t d = 0; d < k->dim; d++) {
                double t = (double)x[d] - y[d];
                s += t * t;
            }
            sum += sqrt(s);
        }
    return sum;
}

static fr_status offer(linkage *k, int32_t a, int32_t b, double sum, float threshold)
{
    double mean = sum / ((double)k->size[a] * (double)k->size[b]);
    if (!(mean < threshold))
        return FR_OK;
    int32_t lo = a < b ? a : b, hi = a < b ? b : a;
    return heap_push(&k->queue, (candidate){mean, lo, hi, k->version[lo], k->version[hi]});
}

/* Merges b into a: a's links become the union, each sum exact. */
static fr_status merge(linkage *k, int32_t a, int32_t b, float threshold, double *scratch,
                       int32_t *mark)
{
    node_links *la = &k->links[a], *lb = &k->links[b];
    /* known sums of a's and b's links, by the other cluster */
    for (size_t i = 0; i < la->count; i++) {
        scratch[la->items[i].other] = la->items[i].sum;
        mark[la->items[i].other] = 1;
    }
    for (size_t i = 0; i < lb->count; i++) {
        int32_t c = lb->items[i].other;
        mark[c] |= 2;
        scratch[c] = (mark[c] & 1 ? scratch[c] : 0) + lb->items[i].sum;
    }
    /* the merged list, in a's order then b's new ones */
    int32_t *others = fr_malloc((la->count + lb->count + 1) * sizeof *others, "average linkage");
    if (!others)
        return FR_E_NOMEM;
    size_t count = 0;
    for (size_t i = 0; i < la->count; i++)
        if (la->items[i].other != b)
            others[count++] = la->items[i].other;
    for (size_t i = 0; i < lb->count; i++)
        if (lb->items[i].other != a && !(mark[lb->items[i].other] & 1))
            others[count++] = lb->items[i].other;
    /* a cluster linked to only one of them: the missing half of its sum from embeddings */
    for (size_t i = 0; i < count; i++) {
        int32_t c = others[i];
        if (mark[c] == 1)
            scratch[c] += brute_sum(k, b, c);
        else if (mark[c] == 2)
            scratch[c] += brute_sum(k, a, c);
    }
    /* join the member lists */
    k->next[k->tail[a]] = k->head[b];
    k->tail[a] = k->tail[b];
    k->size[a] += k->size[b];
    k->size[b] = 0;
    k->version[a]++;
    k->version[b]++;
    fr_status st = FR_OK;
    la->count = 0;
    for (size_t i = 0; i < count && !st; i++) {
        int32_t c = others[i];
        st = links_put(la, c, scratch[c]);
        links_remove(&k->links[c], b);
        if (!st)
            st = links_put(&k->links[c], a, scratch[c]);
        if (!st)
            st = offer(k, a, c, scratch[c], threshold);
    }
    for (size_t i = 0; i < la->count; i++)
        mark[la->items[i].other] = 0;
    for (size_t i = 0; i < lb->count; i++)
        mark[lb->items[i].other] = 0;
    mark[a] = mark[b] = 0;
    free(lb->items);
    memset(lb, 0, sizeof *lb);
    free(others);
    return st;
}

static fr_status average(const fr_cluster_graph *g, const float *rows, size_t dim,
                         float threshold, int32_t *labels)
{
    size_t n = g->nodes;
    linkage k;
    memset(&k, 0, sizeof k);
    k.rows = rows;
    k.dim = dim;
    size_t slots = n ? n : 1;
    k.next = fr_malloc(slots * sizeof *k.next, "average linkage");
    k.head = fr_malloc(slots * sizeof *k.head, "average linkage");
    k.tail = fr_malloc(slots * sizeof *k.tail, "average linkage");
    k.size = fr_malloc(slots * sizeof *k.size, "average linkage");
    k.version = fr_calloc(slots, sizeof *k.version, "average linkage");
    k.links = fr_calloc(slots, sizeof *k.links, "average linkage");
    double *scratch = fr_calloc(slots, sizeof *scratch, "average linkage");
    int32_t *mark = fr_calloc(slots, sizeof *mark, "average linkage");
    fr_status st = k.next && k.head && k.tail && k.size && k.version && k.links && scratch &&
                           mark
                       ? FR_OK
                       : FR_E_NOMEM;
    for (size_t i = 0; !st && i < n; i++) {
        k.next[i] = -1;
        k.head[i] = k.tail[i] = (int32_t)i;
        k.size[i] = 1;
    }
    for (size_t i = 0; !st && i < n; i++) {
        for (size_t e = g->offsets[i]; !st && e < g->offsets[i + 1]; e++) {
            st = links_put(&k.links[i], g->neighbors[e], g->distances[e]);
            if (!st && (size_t)g->neighbors[e] > i)
                st = offer(&k, (int32_t)i, g->neighbors[e], g->distances[e], threshold);
        }
    }
    while (!st && k.queue.count) {
        candidate c = heap_pop(&k.queue);
        if (c.version_a != k.version[c.a] || c.version_b != k.version[c.b])
            continue; /* one of them has merged since */
        st = merge(&k, c.a, c.b, threshold, scratch, mark);
    }
    for (size_t i = 0; !st && i < n; i++)
        if (k.size[i])
            for (int32_t j = k.head[i]; j >= 0; j = k.next[j])
                labels[j] = (int32_t)i;
    for (size_t i = 0; k.links && i < n; i++)
        free(k.links[i].items);
    free(k.links);
    free(k.next);
    free(k.head);
    free(k.tail);
    free(k.size);
    free(k.version);
    free(k.queue.items);
    free(scratch);
    free(mark);
    return st;
}

fr_status fr_cluster_run(const fr_cluster_graph *g, const float *rows, size_t dim,
                         const fr_cluster_options *o, int32_t *labels, size_t *clusters)
{
    fr_status st = FR_OK;
    switch (o->method) {
    case FR_CLUSTER_COMPONENTS:
        components(g, labels);
        break;
    case FR_CLUSTER_WHISPERS:
        st = whispers(g, o->iterations, o->seed, labels);
        break;
    case FR_CLUSTER_AVERAGE:
        st = rows ? average(g, rows, dim, o->threshold, labels)
                  : fr_fail(FR_E_INVALID, "average linkage needs the embeddings");
        break;
    }
    return st ? st : renumber(labels, g->nodes, o->min_size, clusters);
}
