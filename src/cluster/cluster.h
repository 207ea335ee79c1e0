/*
 * cluster.h: grouping unlabeled faces by person from their embeddings (FaceNet section 4.4,
 * dlib's face clustering), in memory bounded by the distance engine's tiles and the graph:
 * no N x N matrix is ever held.
 *
 * The threshold graph joins every pair of faces closer than the threshold. It is built from
 * the distance engine's tiles on and above the diagonal (match/distance.h, GPU when
 * present), each tile scanned for close pairs and dropped. Three ways to cut it into people:
 *
 *   components   connected components: a face joins a cluster when it is close to any face
 *                of it (single linkage at the threshold; scikit-learn's DBSCAN with
 *                min_samples=1 and eps=threshold gives the same partition)
 *   whispers     Chinese whispers (Biemann 2006), dlib's chinese_whispers() as its
 *                dnn_face_recognition example runs it: every face starts as its own label;
 *                `iterations` x N times a random face takes the label with the most weight
 *                among its neighbours and itself (each edge weight 1, ties to the smaller
 *                label). Splits the long chains that join two people in one component.
 *   average      average-linkage agglomerative clustering (UPGMA) cut at the threshold:
 *                the two clusters with the smallest mean distance between their faces merge
 *                while that mean is under the threshold. Exact without the full matrix: two
 *                clusters with no edge between them are at least the threshold apart on
 *                average, so only clusters the graph joins are candidates, and the sums of
 *                distances a merge needs and the graph lacks are computed from the two
 *                clusters' embeddings. scikit-learn's AgglomerativeClustering(linkage=
 *                'average', distance_threshold=t) gives the same partition.
 *
 * Labels come out numbered by cluster size, largest first (ties: the cluster whose first
 * face comes first); clusters smaller than min_size are labelled -1 (not clustered).
 */
#ifndef FR_CLUSTER_CLUSTER_H
#define FR_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"
#include "match/distance.h"

/* The graph, both directions of every edge, no self-loops (CSR). */
typedef struct fr_cluster_graph {
    size_t nodes, edges;  /* edges: undirected pairs */
    size_t *offsets;      /* nodes + 1: node i's neighbours are [offsets[i], offsets[i+1]) */
    int32_t *neighbors;
    float *distances;
} fr_cluster_graph;

/* At most this many edges (a threshold that joins nearly everything to nearly everything is
 * refused rather than filling memory). */
#define FR_CLUSTER_MAX_EDGES ((size_t)1 << 30)

/* The graph of rows (n x dim) at threshold: every pair closer than it. */
fr_status fr_cluster_graph_build(fr_distance_engine *engine, const float *rows, size_t n,
                                 size_t dim, float threshold, fr_cluster_graph *out);
void fr_cluster_graph_free(fr_cluster_graph *graph);

/* The same in parts, for a job split over machines (cluster --shard): the edges found in
 * tiles [first, end) of the engine's upper triangle (fr_distance_upper_tiles; all of them:
 * end = fr_distance_upper_tile_count(engine, n)), each pair a < b once, in tile order and by
 * (a, b) within a tile. That order depends neither on threads nor on how the tiles are
 * shared out, so the parts of a split job, concatenated in order, are the whole job's list
 * bit for bit. */
typedef struct fr_cluster_edge {
    int32_t a, b; /* a < b */
    float distance;
} fr_cluster_edge;

typedef struct fr_cluster_edges {
    fr_cluster_edge *items;
    size_t count;
} fr_cluster_edges;

fr_status fr_cluster_edges_find(fr_distance_engine *engine, const float *rows, size_t n,
                                size_t dim, float threshold, size_t first, size_t end,
                                fr_cluster_edges *out);
void fr_cluster_edges_free(fr_cluster_edges *edges);
/* The graph of n faces from edges in any order (sorted in place); an edge outside [0, n),
 * not a < b, or listed twice fails (FR_E_FORMAT, naming it). */
fr_status fr_cluster_graph_from_edges(fr_cluster_edges *edges, size_t n, fr_cluster_graph *out);

typedef enum fr_cluster_method {
    FR_CLUSTER_WHISPERS = 0,
    FR_CLUSTER_COMPONENTS,
    FR_CLUSTER_AVERAGE
} fr_cluster_method;

/* The default, chosen on LFW DevTrain's people at the model's verification threshold
 * (docs/learning.md): average linkage's pairwise F1 0.965 against Chinese whispers' 0.215,
 * which, like components, chains people through the few faces close to two of them. */
#define FR_CLUSTER_DEFAULT_METHOD FR_CLUSTER_AVERAGE

const char *fr_cluster_method_name(fr_cluster_method method);
fr_status fr_cluster_method_parse(const char *name, fr_cluster_method *out);

#define FR_CLUSTER_WHISPERS_ITERATIONS 100 /* dlib's default */

typedef struct fr_cluster_options {
    fr_cluster_method method;
    float threshold;
    int iterations;    /* whispers (0: dlib's 100) */
    uint64_t seed;     /* whispers */
    size_t min_size;   /* smaller clusters get label -1 (0 or 1: keep all) */
} fr_cluster_options;

/* labels (graph->nodes) receive the cluster of each face; *clusters how many there are (not
 * counting the -1 of small ones). rows (nodes x dim) are needed by FR_CLUSTER_AVERAGE only. */
fr_status fr_cluster_run(const fr_cluster_graph *graph, const float *rows, size_t dim,
                         const fr_cluster_options *options, int32_t *labels, size_t *clusters);

/* Agreement with the true labels: over pairs of faces (precision: of the pairs put together,
 * the fraction of the same person; recall: of the same-person pairs, the fraction put
 * together) and BCubed (Bagga and Baldwin 1998: the same per face, averaged over faces).
 * Predicted -1 counts as a cluster of its own for every face so labelled. */
typedef struct fr_cluster_scores {
    double pair_precision, pair_recall, pair_f1;
    double bcubed_precision, bcubed_recall, bcubed_f1;
} fr_cluster_scores;

fr_status fr_cluster_score(const int32_t *predicted, const int32_t *truth, size_t n,
                           fr_cluster_scores *out);

#endif
