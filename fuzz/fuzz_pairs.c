/*
 * fuzz_pairs.c: the pairs lists `facerec pairs` reads (match/pairs.c): LFW's pairs.txt and
 * pairsDevTrain.txt (counts, folds, name/index lines) and the plain TSV (header rule,
 * labels). A list must be complete (two paths, a 0/1 label and a fold in range per pair); a
 * refusal is one line naming the file.
 */
#include "fuzz_util.h"
#include "match/pairs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, "pairs.txt", data, size);
    fr_pair_list list;
    fr_status status = fr_pairs_load(path, fuzz_dir(), &list);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return 0;
    }
    for (size_t i = 0; i < list.count; i++)
        if (!list.first[i] || !list.second[i] || !*list.first[i] || !*list.second[i] ||
            (list.same[i] != 0 && list.same[i] != 1) || list.fold[i] < -1)
            abort();
    fr_pairs_free(&list);
    return 0;
}
