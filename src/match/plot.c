/* plot.c: hand-written SVG for ROC curves and distance histograms. */
#include "match/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

/* Canvas and plot area, in SVG user units (pixels). The legend sits in a band between the
 * title and the plot, one line per entry, so that it never hides a curve. */
#define WIDTH 760
#define LEFT 78
#define RIGHT 28
#define PLOT_W (WIDTH - LEFT - RIGHT)
#define PLOT_H 380
#define BOTTOM 70
#define LEGEND_LINE 20

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define INK "#333333"
#define GRID "#ebebeb"
#define MAJOR_GRID "#d0d0d0"

/* colour-blind-safe (Okabe-Ito) */
static const char *PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"};
#define PALETTE_SIZE (sizeof PALETTE / sizeof PALETTE[0])
#define SAME_COLOUR "#009E73"
#define DIFFERENT_COLOUR "#D55E00"

typedef struct frame {
    int top;    /* of the plot area */
    int height; /* of the canvas */
} frame;

static frame frame_for(size_t legend_lines)
{
    frame fr;
    fr.top = 52 + LEGEND_LINE * (int)legend_lines + 10;
    fr.height = fr.top + PLOT_H + BOTTOM;
    return fr;
}

static void text_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void begin(FILE *f, const frame *fr, const char *title)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"" FONT "\" fill=\"" INK "\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"30\" font-size=\"17\" font-weight=\"bold\">",
            WIDTH, fr->height, WIDTH, fr->height, LEFT);
    text_escaped(f, title);
    fputs("</text>\n", f);
}

/* Legend entry `line` under the title: a swatch (a line or a filled box) and the text. */
static void legend_entry(FILE *f, int line, const char *colour, int filled, const char *text)
{
    double y = 52 + LEGEND_LINE * line + 13;
    if (filled)
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"22\" height=\"12\" fill=\"%s\" "
                   "fill-opacity=\"0.45\" stroke=\"%s\"/>\n", LEFT, y - 10, colour, colour);
    else
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/>\n", LEFT, y - 4, LEFT + 22, y - 4, colour);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"13\">", LEFT + 30, y);
    text_escaped(f, text);
    fputs("</text>\n", f);
}

static void axis_labels(FILE *f, const frame *fr, const char *x_label, const char *y_label)
{
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#999999\"/>\n", LEFT, fr->top, PLOT_W, PLOT_H);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
            LEFT + PLOT_W / 2, fr->height - 22, x_label);
    fprintf(f, "<text transform=\"translate(24 %d) rotate(-90)\" font-size=\"13\" "
               "text-anchor=\"middle\">%s</text>\n", fr->top + PLOT_H / 2, y_label);
}

static fr_status finish(fr_output *out, const char *path)
{
    fputs("</svg>\n", out->file);
    if (ferror(out->file)) {
        fr_output_abort(out);
        return fr_fail(FR_E_IO, "%s: write failed", path);
    }
    return fr_output_commit(out);
}

static void vertical(FILE *f, const frame *fr, double x, const char *stroke, const char *extra)
{
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"%s/>\n", x, fr->top,
            x, fr->top + PLOT_H, stroke, extra);
}

static void horizontal(FILE *f, double y, const char *stroke)
{
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", LEFT, y,
            LEFT + PLOT_W, y, stroke);
}

/* ---- ROC ------------------------------------------------------------------------------------ */

/* x: log10(FAR) from lo (the left edge) to 0; FAR 0 is drawn on the left edge */
static double roc_x(double lo, double far)
{
    double l = far > 0 ? log10(far) : lo;
    if (l < lo)
        l = lo;
    return LEFT + (l - lo) / -lo * PLOT_W;
}

static double roc_y(const frame *fr, double tar)
{
    return fr->top + (1.0 - tar) * PLOT_H;
}

fr_status fr_plot_roc(const char *path, const fr_roc_curve *curves, size_t count)
{
    /* the left edge: the decade under the smallest FAR any curve can resolve (1 / pairs) */
    double smallest = 1;
    for (size_t c = 0; c < count; c++)
        if (curves[c].eval && curves[c].eval->different)
            smallest = fmin(smallest, 1.0 / (double)curves[c].eval->different);
    double lo = floor(log10(smallest) - 1e-9);
    lo = lo < -6 ? -6 : lo > -1 ? -1 : lo;
    frame fr = frame_for(count);
    fr_output out;
    fr_status st = fr_output_open(&out, path, 0);
    if (st)
        return st;
    FILE *f = out.file;
    begin(f, &fr, "ROC: same-person pairs accepted vs different-person pairs accepted");
    /* grid: decades and their 2..9 multiples; TAR every 0.1 */
    for (int e = (int)lo; e <= 0; e++) {
        double x = roc_x(lo, pow(10, e));
        vertical(f, &fr, x, MAJOR_GRID, "");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%.*f"
                   "</text>\n", x, fr.top + PLOT_H + 18, e < 0 ? -e : 0, pow(10, e));
        for (int m = 2; m <= 9 && e < 0; m++)
            vertical(f, &fr, roc_x(lo, m * pow(10, e)), GRID, "");
    }
    for (int i = 0; i <= 10; i++) {
        double y = roc_y(&fr, i / 10.0);
        horizontal(f, y, i % 2 ? GRID : MAJOR_GRID);
        if (i % 2 == 0)
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.1f"
                       "</text>\n", LEFT - 8, y + 4, i / 10.0);
    }
    /* chance (TAR = FAR, dashed), and the FAR the TAR figure is read at */
    fputs("<polyline fill=\"none\" stroke=\"#aaaaaa\" stroke-dasharray=\"4 4\" points=\"", f);
    for (int i = 0; i <= 60; i++) {
        double far = pow(10, lo * (1 - i / 60.0));
        fprintf(f, "%.1f,%.1f ", roc_x(lo, far), roc_y(&fr, far));
    }
    fputs("\"/>\n", f);
    if (count && curves[0].eval && curves[0].eval->far_target > pow(10, lo)) {
        double x = roc_x(lo, curves[0].eval->far_target);
        vertical(f, &fr, x, "#888888", " stroke-dasharray=\"2 3\"");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#666666\">FAR %g</text>\n",
                x + 4, fr.top + 14, curves[0].eval->far_target);
    }
    for (size_t c = 0; c < count; c++) {
        const char *colour = PALETTE[c % PALETTE_SIZE];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" "
                   "stroke-linejoin=\"round\" points=\"", colour);
        for (size_t i = 0; i < curves[c].points; i++)
            fprintf(f, "%.1f,%.1f ", roc_x(lo, curves[c].far[i]), roc_y(&fr, curves[c].tar[i]));
        fputs("\"/>\n", f);
        const fr_eval *e = curves[c].eval;
        char text[512];
        if (e) {
            double x = roc_x(lo, e->far_at_threshold), y = roc_y(&fr, e->tar_at_threshold);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"white\" stroke=\"%s\" "
                       "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                       "fill=\"%s\">threshold %.3f</text>\n", x, y, colour, x + 8, y + 15, colour,
                    e->threshold);
            snprintf(text, sizeof text, "%s: accuracy %.2f%% \xc2\xb1 %.2f (%d-fold), AUC %.4f, "
                     "TAR %.3f at FAR %g", curves[c].label, 100 * e->accuracy_mean,
                     100 * e->accuracy_std, e->folds, e->auc, e->tar_at_far, e->far_target);
        } else {
            snprintf(text, sizeof text, "%s", curves[c].label);
        }
        legend_entry(f, (int)c, colour, 0, text);
    }
    axis_labels(f, &fr, "false accept rate: different-person pairs accepted (log scale)",
                "true accept rate: same-person pairs accepted");
    return finish(&out, path);
}

/* ---- histograms ------------------------------------------------------------------------------ */

#define BINS 60

/* 1, 2 or 5 times a power of ten, at least x */
static double nice_ceiling(double x)
{
    if (!(x > 0))
        return 1;
    double p = pow(10, floor(log10(x)));
    return x <= p ? p : x <= 2 * p ? 2 * p : x <= 5 * p ? 5 * p : 10 * p;
}

static void step_area(FILE *f, const frame *fr, const double *share, double y_max,
                      const char *colour)
{
    double bin_w = (double)PLOT_W / BINS, base = fr->top + PLOT_H;
    fprintf(f, "<path fill=\"%s\" fill-opacity=\"0.45\" stroke=\"%s\" stroke-width=\"1.5\" "
               "stroke-linejoin=\"round\" d=\"M%d,%.1f", colour, colour, LEFT, base);
    for (int b = 0; b < BINS; b++) {
        double y = base - share[b] / y_max * PLOT_H;
        fprintf(f, " L%.1f,%.1f L%.1f,%.1f", LEFT + b * bin_w, y, LEFT + (b + 1) * bin_w, y);
    }
    fprintf(f, " L%d,%.1f Z\"/>\n", LEFT + PLOT_W, base);
}

fr_status fr_plot_histograms(const char *path, const char *label, const fr_scored_pair *pairs,
                             size_t count, const fr_eval *eval)
{
    double largest = 0;
    for (size_t i = 0; i < count; i++)
        largest = fmax(largest, pairs[i].distance);
    /* x to a round number past the largest distance */
    double step = nice_ceiling(largest / 8);
    double x_max = ceil(largest / step + 1e-9) * step;
    double share[2][BINS] = {{0}};
    size_t total[2] = {0, 0};
    for (size_t i = 0; i < count; i++) {
        int kind = pairs[i].same != 0, b = (int)(pairs[i].distance / x_max * BINS);
        share[kind][b < BINS ? b : BINS - 1] += 1;
        total[kind]++;
    }
    double y_top = 0;
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < BINS; b++) {
            share[k][b] /= total[k] ? (double)total[k] : 1;
            y_top = fmax(y_top, share[k][b]);
        }
    double y_step = nice_ceiling(y_top / 5), y_max = ceil(y_top / y_step + 1e-9) * y_step;
    frame fr = frame_for(2);
    fr_output out;
    fr_status st = fr_output_open(&out, path, 0);
    if (st)
        return st;
    FILE *f = out.file;
    char text[512];
    snprintf(text, sizeof text, "%s: distances of same-person and different-person pairs", label);
    begin(f, &fr, text);
    for (double y = 0; y <= y_max + 1e-12; y += y_step) {
        double py = fr.top + PLOT_H - y / y_max * PLOT_H;
        horizontal(f, py, GRID);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%g%%</text>\n",
                LEFT - 8, py + 4, round(y * 1000) / 10);
    }
    for (double x = 0; x <= x_max + 1e-12; x += step) {
        double px = LEFT + x / x_max * PLOT_W;
        vertical(f, &fr, px, GRID, "");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%g</text>\n",
                px, fr.top + PLOT_H + 18, round(x * 1000) / 1000);
    }
    step_area(f, &fr, share[0], y_max, DIFFERENT_COLOUR);
    step_area(f, &fr, share[1], y_max, SAME_COLOUR);
    if (eval && eval->threshold <= x_max) {
        double px = LEFT + eval->threshold / x_max * PLOT_W;
        vertical(f, &fr, px, INK, " stroke-width=\"1.5\" stroke-dasharray=\"6 4\"");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">threshold %.3f</text>\n"
                   "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%.1f%% of pairs right</text>\n",
                px + 6, fr.top + 16, eval->threshold, px + 6, fr.top + 32,
                100 * eval->accuracy);
    }
    snprintf(text, sizeof text, "same person: %zu pairs", total[1]);
    legend_entry(f, 0, SAME_COLOUR, 1, text);
    snprintf(text, sizeof text, "different people: %zu pairs", total[0]);
    legend_entry(f, 1, DIFFERENT_COLOUR, 1, text);
    axis_labels(f, &fr, "L2 distance between the two embeddings", "share of that kind of pair");
    return finish(&out, path);
}
