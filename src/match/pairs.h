/*
 * pairs.h: lists of image pairs to verify, in the two formats `facerec pairs` reads.
 *
 * LFW's pairs.txt / pairsDevTrain.txt: a first line "N" (pairsDevTrain: N same pairs, then N
 * different ones) or "F N" (pairs.txt: F folds of N same then N different), then one pair a
 * line, fields separated by whitespace:
 *     name  i  j          two images of one person
 *     name1 i  name2 j    images of two people
 * image i of a person being ROOT/name/name_%04d.jpg. With "F N" each pair's fold is known.
 *
 * A plain TSV: path1<TAB>path2<TAB>label, label 1/0 or same/different; relative paths are
 * taken under ROOT. A first line whose label is neither and whose two paths have no '.' (column
names such as "path1 path2 label", not files) is a header and skipped; any other line with
another label is an error, the first one too (a mistyped label is never taken for a header).
 */
#ifndef FR_MATCH_PAIRS_H
#define FR_MATCH_PAIRS_H

#include <stddef.h>

#include "facerec.h"

typedef struct fr_pair_list {
    size_t count;
    char **first, **second; /* image paths */
    int *same;              /* 1: the same person */
    int *fold;              /* 0-based, or -1 where the file does not say */
} fr_pair_list;

fr_status fr_pairs_load(const char *path, const char *root, fr_pair_list *out);
void fr_pairs_free(fr_pair_list *list);

#endif
