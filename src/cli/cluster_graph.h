/*
 * cluster_graph.h: the threshold graph of `facerec cluster` on disk, so that its expensive
 * part (every pair of faces, tile by tile) can be split over machines.
 *
 * `cluster --shard I/N -o G.csv` computes the I-th of N contiguous parts of the distance
 * engine's tiles on and above the diagonal (cluster/cluster.h: fr_cluster_edges_find; the
 * tiles, not rows, are shared out, so every part is about the same work) and writes
 *
 *   G.csv             its edges: a header "a,b,distance", then one line per pair of faces
 *                     closer than the threshold, "a,b,d" with a < b the rows of the faces and
 *                     d the float32 distance in the fewest digits that read back as the same
 *                     float, in the engine's tile order;
 *   G.csv.graph.json  what the graph is of: the faces (count, dimensions, the SHA-256 of
 *                     their embeddings' float32 bytes), the threshold, the distance backend
 *                     and its tile. The same in every part of one job;
 *   G.csv.sha256      the two as one output set (core/file.h), and the shard manifest.
 *
 * `facerec merge` joins the parts (the edges in part order, the description once) into the
 * file `cluster --shard 0/1` writes, byte for byte, and `cluster ... --graph G.csv` clusters
 * from it: it checks that the graph is of the faces it was given (and at the threshold asked
 * for), and the partition is then the one a single run gives, because the edges, their
 * distances' bits and so the graph are the same.
 */
#ifndef FR_CLI_CLUSTER_GRAPH_H
#define FR_CLI_CLUSTER_GRAPH_H

#include <stddef.h>
#include <stdio.h>

#include "cluster/cluster.h"

#define FR_GRAPH_SIDE ".graph.json"

typedef struct fr_graph_identity {
    size_t faces, dim;
    char embeddings_sha256[65];
    float threshold;
    char distances[32]; /* the distance backend's name */
    size_t tile, tiles;  /* its tile side; the tiles of the upper triangle */
} fr_graph_identity;

/* The identity of the graph of rows (n x dim) at threshold on engine. */
void fr_graph_identity_of(const float *rows, size_t n, size_t dim, float threshold,
                          const fr_distance_engine *engine, fr_graph_identity *out);

/* The shortest decimal text that reads back as value (at most 9 significant digits): how
 * the file writes distances and the threshold. */
#define FR_GRAPH_FLOAT_CHARS 24
void fr_graph_format_float(float value, char out[FR_GRAPH_FLOAT_CHARS]);

/* The edges as CSV (G.csv) and the identity as JSON (G.csv.graph.json), to open files. */
void fr_graph_write_edges(FILE *out, const fr_cluster_edges *edges);
fr_status fr_graph_write_identity(FILE *out, const fr_graph_identity *identity);

/* Reads a whole graph of the faces rows (expect->faces x expect->dim): PATH's description
 * beside it must be of those faces (count, dim, embeddings' SHA-256; the graph may come from
 * another distance backend: its edges are what they are); its threshold goes to *threshold.
 * Every edge is checked: a < b < faces, a distance under the threshold, and that distance the
 * two faces' own (recomputed in float64, within float32 rounding of the engine's GEMM), so an
 * edited distance is refused even without the record beside the file. A graph of other faces
 * or a malformed file fails naming the file, the line and what differs. */
fr_status fr_graph_read(const char *path, const fr_graph_identity *expect, const float *rows,
                        float *threshold, fr_cluster_edges *out);

#endif
