/*
 * plot.h: the pictures of an evaluation, as standalone SVG files (any browser shows them;
 * `rsvg-convert -o x.png x.svg` makes a PNG): ROC curves of one or several score files on a
 * log FAR axis, and the distance histograms of same-person and different-person pairs with
 * the chosen threshold.
 */
#ifndef FR_MATCH_PLOT_H
#define FR_MATCH_PLOT_H

#include <stddef.h>

#include "match/eval.h"

typedef struct fr_roc_curve {
    const char *label;
    const double *far, *tar; /* points, from fr_eval_roc */
    size_t points;
    const fr_eval *eval;     /* for the legend (AUC, accuracy) and the threshold's marker */
} fr_roc_curve;

fr_status fr_plot_roc(const char *path, const fr_roc_curve *curves, size_t count);

fr_status fr_plot_histograms(const char *path, const char *label, const fr_scored_pair *pairs,
                             size_t count, const fr_eval *eval);

#endif
