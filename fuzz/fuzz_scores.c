/*
 * fuzz_scores.c: the scores CSV `facerec eval` reads (what `facerec pairs` writes: columns
 * same/label, distance, optional fold), through match/table.c's CSV reader and cmd_eval.c's
 * own read_scores (the harness includes that file to reach it), then the evaluation over
 * what was read. A refusal is one line naming the file.
 */
#include "fuzz_util.h"

#include "cli/cmd_eval.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, "scores.csv", data, size);
    scores s;
    memset(&s, 0, sizeof s);
    s.path = path;
    fr_status status = read_scores(&s);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
    } else {
        for (size_t i = 0; i < s.count; i++)
            if ((s.pairs[i].same != 0 && s.pairs[i].same != 1) || s.pairs[i].fold < -1 ||
                s.pairs[i].fold >= FR_EVAL_MAX_FOLDS)
                abort();
        fr_eval eval;
        status = fr_eval_assign_folds(s.pairs, s.count, 2);
        if (status == FR_OK)
            status = fr_eval_run(s.pairs, s.count, 2, 0.001, &eval);
        if (status == FR_OK) {
            double *far, *tar;
            size_t points;
            status = fr_eval_roc(s.pairs, s.count, &far, &tar, &points);
            if (status == FR_OK) {
                free(far);
                free(tar);
            }
        }
        if (status != FR_OK)
            fuzz_check_error(status, NULL);
    }
    free(s.pairs);
    return 0;
}
