/*
 * topk.h: the k best candidates of one probe, kept in a small sorted array.
 *
 * A list holds k slots sorted ascending by (value, index); empty slots are {-1, INFINITY} and
 * sort last. With labels, the list keeps at most one row per label (its best), so it holds
 * the k best distinct labels. Inserting the entries of several partial lists (each the k best
 * of a part of the gallery) into a fresh one gives the k best of the whole gallery, labels
 * or not: a label's best row is in the partial list of the part that holds it, since fewer
 * than k labels of that part can beat it. That is how tiles and splits are merged.
 *
 * The list's values may be any monotone stand-in for the distance (the CPU backend keeps
 * |b|^2 - 2 a.b, the squared distance less the probe's constant |a|^2).
 */
#ifndef FR_MATCH_TOPK_H
#define FR_MATCH_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "match/distance.h"

/* Sets the k slots to empty. */
void fr_topk_clear(fr_neighbor *list, size_t k);

/* Whether (value, index) sorts before the entry. */
static inline int fr_topk_before(float value, int64_t index, const fr_neighbor *entry)
{
    return value < entry->distance || (value == entry->distance && index < entry->index);
}

/* Offers gallery row `index` with `value`; labels (NULL: none) are indexed by row. */
void fr_topk_insert(fr_neighbor *list, size_t k, const int32_t *labels, int64_t index,
                    float value);

#endif
