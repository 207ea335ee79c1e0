/*
 * distmat.h: a distance matrix written straight to a .npy file, tile by tile, so that a
 * matrix larger than memory never has to be held: each tile row goes to its place in the
 * file with pwrite (tiles arrive in any order, from several threads), an output opened with
 * FR_OUTPUT_REGULAR that the caller commits (with the row and column paths: core/file.h).
 */
#ifndef FR_MATCH_DISTMAT_H
#define FR_MATCH_DISTMAT_H

#include <stddef.h>

#include "core/file.h"
#include "match/distance.h"

/* Writes D (n x m float32), D[i][j] = d(a_i, b_j), into out; b == NULL: a against itself. */
fr_status fr_distmat_write(fr_distance_engine *engine, const float *a, size_t n, const float *b,
                           size_t m, size_t dim, fr_output *out);
/* Rows [row0, row1) of D as a (row1 - row0) x m array: the same bits as those rows of the
 * whole matrix (a row block of a matrix computed by several machines). */
fr_status fr_distmat_write_rows(fr_distance_engine *engine, const float *a, size_t n,
                                const float *b, size_t m, size_t dim, size_t row0, size_t row1,
                                fr_output *out);

#endif
