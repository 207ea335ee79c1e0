/* topk.c: insertion into a k-best list, with at most one row per label when labels are given. */
#include "match/topk.h"

#include <math.h>

void fr_topk_clear(fr_neighbor *list, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        list[i].index = -1;
        list[i].distance = INFINITY;
    }
}

void fr_topk_insert(fr_neighbor *list, size_t k, const int32_t *labels, int64_t index,
                    float value)
{
    if (!fr_topk_before(value, index, &list[k - 1]))
        return;
    /* The slot that leaves the list: the last one, or the row this label already has there
     * (a label appears once). */
    size_t leaving = k - 1;
    if (labels) {
        int32_t label = labels[index];
        for (size_t j = 0; j < k && list[j].index >= 0; j++)
            if (labels[list[j].index] == label) {
                if (!fr_topk_before(value, index, &list[j]))
                    return;
                leaving = j;
                break;
            }
    }
    size_t pos = leaving;
    while (pos > 0 && fr_topk_before(value, index, &list[pos - 1])) {
        list[pos] = list[pos - 1];
        pos--;
    }
    list[pos].index = index;
    list[pos].distance = value;
}
