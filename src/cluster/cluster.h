/*
 * cluster.h: grouping unlabeled faces by person from their embeddings (FaceNet section 4.4,
 * dlib's face clustering), in memory bounded by the distance engine's tiles and the graph:
 * no N x N matrix is ever held.
 *
 * The threshold graph joins every pair of faces closer than the threshold (the model's
 * verification threshold: "the same person"). It is built from the distance engine's
 * all-pairs tiles (match/distance.h, GPU when present), each tile scanned for close pairs
 * and dropped. Three ways to cut it into people:
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

fr_status fr_cluster_graph_build(fr_distance_engine *engine, const float *rows, size_t n,
                                 size_t dim, float threshold, fr_cluster_graph *out);
void fr_cluster_graph_free(fr_cluster_graph *graph);

typedef enum fr_cluster_method {
    FR_CLUSTER_WHISPERS = 0,
    FR_CLUSTER_COMPONENTS,
    FR_CLUSTER_AVERAGE
} fr_cluster_method;

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
