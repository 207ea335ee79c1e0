/*
 * test_identity.c: verification and identification (match/identity.h) against the rules
 * written out naively in double precision: a person's distance is the minimum over their
 * embeddings or the distance to their normalized mean, a match is a distance strictly under
 * the threshold, identification lists the k nearest people, each once.
 *
 * Random unit embeddings for 37 people with 1 to 5 each, 300 probes of which some are
 * copies of gallery rows (distance ~0, where float32 GEMM cancellation is worst). Tolerance:
 * 2.4e-3 at distance 0 and err(d^2)/d away from it, as in test_distance.c, whose engine this
 * runs on; ranks are compared only where the reference's gaps are wider than that.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "match/identity.h"
#include "testutil.h"

#define DIM 128
#define PEOPLE 37
#define PROBES 300
#define K 6

static double ref_distance(const float *a, const float *b)
{
    double s = 0;
    for (size_t i = 0; i < DIM; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

static double tolerance(double d)
{
    return d < 1e-2 ? 2.5e-3 : 1.3e-5 / d + 1e-6;
}

/* The reference: person p's distance from probe q (double precision). */
static double person_distance(const fr_gallery *g, const double *means, fr_aggregate aggregate,
                              size_t p, const float *probe)
{
    if (aggregate == FR_AGGREGATE_MEAN) {
        double s = 0;
        for (size_t d = 0; d < DIM; d++)
            s += (probe[d] - means[p * DIM + d]) * (probe[d] - means[p * DIM + d]);
        return sqrt(s);
    }
    double best = INFINITY;
    for (size_t i = 0; i < g->count; i++)
        if ((size_t)g->person[i] == p)
            best = fmin(best, ref_distance(probe, g->vectors + i * DIM));
    return best;
}

static void make_gallery(uint64_t *rng, fr_gallery *g)
{
    memset(g, 0, sizeof *g);
    g->people = PEOPLE;
    g->dim = DIM;
    g->names = calloc(PEOPLE, sizeof *g->names);
    size_t per[PEOPLE];
    for (size_t p = 0; p < PEOPLE; p++) {
        per[p] = 1 + fr_test_rand(rng) % 5;
        g->count += per[p];
        g->names[p] = malloc(16);
        snprintf(g->names[p], 16, "person%02zu", p);
    }
    g->vectors = malloc(g->count * DIM * sizeof *g->vectors);
    g->person = malloc(g->count * sizeof *g->person);
    g->sources = calloc(g->count, sizeof *g->sources);
    size_t row = 0;
    for (size_t p = 0; p < PEOPLE; p++)
        for (size_t j = 0; j < per[p]; j++) {
            g->person[row] = (int32_t)p;
            g->sources[row] = strdup("x.jpg");
            for (size_t d = 0; d < DIM; d++)
                g->vectors[row * DIM + d] = fr_test_uniform(rng, -1.0f, 1.0f);
            row++;
        }
    fr_l2_normalize(g->vectors, g->count, DIM);
}

/* source[q]: the person whose row probe q copies, or -1 */
static void check_aggregate(const fr_gallery *g, const float *probes, const int32_t *source,
                            fr_distance_engine *engine, fr_aggregate aggregate, float threshold)
{
    double means[PEOPLE * DIM] = {0};
    for (size_t i = 0; i < g->count; i++)
        for (size_t d = 0; d < DIM; d++)
            means[(size_t)g->person[i] * DIM + d] += g->vectors[i * DIM + d];
    for (size_t p = 0; p < PEOPLE; p++) {
        double s = 0;
        for (size_t d = 0; d < DIM; d++)
            s += means[p * DIM + d] * means[p * DIM + d];
        for (size_t d = 0; d < DIM; d++)
            means[p * DIM + d] /= sqrt(s);
    }
    fr_matcher *m = NULL;
    CHECK_OK(fr_matcher_new(g, aggregate, threshold, engine, &m));
    if (!m)
        return;
    CHECK(fr_matcher_threshold(m) == threshold);

    /* verification: every probe claims someone (several probes claim each one), the copies
     * of a gallery row the person it belongs to */
    int32_t persons[PROBES];
    fr_match answers[PROBES];
    uint64_t rng = 99;
    for (size_t q = 0; q < PROBES; q++)
        persons[q] = source[q] >= 0 ? source[q] : (int32_t)(fr_test_rand(&rng) % PEOPLE);
    CHECK_OK(fr_matcher_verify(m, probes, PROBES, persons, answers));
    int accepted = 0, refused = 0;
    for (size_t q = 0; q < PROBES; q++) {
        double want = person_distance(g, means, aggregate, (size_t)persons[q], probes + q * DIM);
        CHECK(answers[q].person == persons[q]);
        CHECK_NEAR(answers[q].distance, want, tolerance(want));
        if (fabs(want - threshold) > tolerance(want)) {
            CHECK(answers[q].accepted == (want < threshold));
            accepted += want < threshold;
            refused += want >= threshold;
        }
        if (aggregate == FR_AGGREGATE_MEAN) {
            CHECK(answers[q].image == -1);
        } else {
            int64_t image = answers[q].image;
            CHECK(image >= 0 && (size_t)image < g->count && g->person[image] == persons[q]);
            if (image >= 0)
                CHECK_NEAR(ref_distance(probes + q * DIM, g->vectors + image * DIM), want,
                           tolerance(want));
        }
    }
    CHECK(accepted > 10 && refused > 10); /* the threshold splits the claims */

    /* identification: the K nearest people, each once, nearest first */
    fr_match found[PROBES * K];
    CHECK_OK(fr_matcher_identify(m, probes, PROBES, K, found));
    int ranked = 0;
    for (size_t q = 0; q < PROBES; q++) {
        double d[PEOPLE];
        int order[PEOPLE];
        for (size_t p = 0; p < PEOPLE; p++) {
            d[p] = person_distance(g, means, aggregate, p, probes + q * DIM);
            order[p] = (int)p;
        }
        for (int i = 1; i < PEOPLE; i++) /* insertion sort by reference distance */
            for (int j = i; j > 0 && d[order[j]] < d[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        const fr_match *list = found + q * K;
        for (int r = 0; r < K; r++) {
            double want = d[order[r]];
            CHECK_NEAR(list[r].distance, want, tolerance(want));
            CHECK(list[r].accepted == (list[r].distance < threshold));
            double gap_before = r ? want - d[order[r - 1]] : INFINITY;
            double gap_after = d[order[r + 1]] - want;
            if (fmin(gap_before, gap_after) > 2 * tolerance(want)) {
                CHECK(list[r].person == order[r]);
                ranked++;
            }
            /* identify and verify give one person one distance (to GEMM rounding) */
            if (list[r].person == persons[q])
                CHECK_NEAR(list[r].distance, answers[q].distance, tolerance(want));
            for (int s = 0; s < r; s++)
                CHECK(list[s].person != list[r].person);
        }
    }
    CHECK(ranked > PROBES * K / 2);
    fr_matcher_free(m);
}

int main(void)
{
    uint64_t rng = 7;
    fr_gallery g;
    make_gallery(&rng, &g);
    float *probes = malloc(PROBES * DIM * sizeof *probes);
    int32_t source[PROBES];
    for (size_t q = 0; q < PROBES; q++) {
        source[q] = -1;
        if (q % 5 == 0) { /* a copy of a gallery row, slightly moved or exact */
            size_t row = fr_test_rand(&rng) % g.count;
            source[q] = g.person[row];
            for (size_t d = 0; d < DIM; d++)
                probes[q * DIM + d] = g.vectors[row * DIM + d] +
                                      (q % 10 ? fr_test_uniform(&rng, -0.03f, 0.03f) : 0.0f);
        } else {
            for (size_t d = 0; d < DIM; d++)
                probes[q * DIM + d] = fr_test_uniform(&rng, -1.0f, 1.0f);
        }
    }
    fr_l2_normalize(probes, PROBES, DIM);

    fr_distance_options o = {FR_DEVICE_CPU, 2, 16}; /* small tiles: several per search */
    fr_distance_engine *engine = NULL;
    CHECK_OK(fr_distance_new(&o, &engine));
    if (!engine)
        return fr_test_finish("test_identity");
    /* random unit rows are ~1.41 apart, copies ~0-0.3: thresholds between split the claims */
    check_aggregate(&g, probes, source, engine, FR_AGGREGATE_MIN, 1.3f);
    check_aggregate(&g, probes, source, engine, FR_AGGREGATE_MEAN, 1.1f);

    /* fewer people than k: empty slots after them */
    fr_matcher *m = NULL;
    CHECK_OK(fr_matcher_new(&g, FR_AGGREGATE_MIN, 0.5f, engine, &m));
    fr_match many[PEOPLE + 3];
    if (m) {
        CHECK_OK(fr_matcher_identify(m, probes, 1, PEOPLE + 3, many));
        CHECK(many[PEOPLE - 1].person >= 0);
        for (int s = PEOPLE; s < PEOPLE + 3; s++)
            CHECK(many[s].person == -1 && many[s].image == -1 && isinf(many[s].distance) &&
                  !many[s].accepted);
        /* bad arguments: nothing written, a message */
        int32_t bad = PEOPLE;
        many[0].person = 12345;
        CHECK(fr_matcher_verify(m, probes, 1, &bad, many) == FR_E_INVALID);
        CHECK(many[0].person == 12345 && strstr(fr_error_message(), "person"));
        CHECK(fr_matcher_identify(m, probes, 1, 0, many) == FR_E_INVALID);
        CHECK_OK(fr_matcher_verify(m, NULL, 0, NULL, NULL));
        CHECK_OK(fr_matcher_identify(m, NULL, 0, 3, NULL));
    }
    fr_matcher_free(m);

    /* the rules need a threshold and rows grouped by person */
    m = NULL;
    CHECK(fr_matcher_new(&g, FR_AGGREGATE_MIN, 0.0f, engine, &m) == FR_E_INVALID && !m);
    int32_t saved = g.person[0];
    g.person[0] = g.person[g.count - 1];
    CHECK(fr_matcher_new(&g, FR_AGGREGATE_MIN, 0.5f, engine, &m) == FR_E_INVALID && !m);
    CHECK(strstr(fr_error_message(), "grouped by person") != NULL);
    g.person[0] = saved;

    fr_aggregate a;
    CHECK(fr_aggregate_parse("mean", &a) == FR_OK && a == FR_AGGREGATE_MEAN);
    CHECK(fr_aggregate_parse("median", &a) == FR_E_INVALID);
    CHECK(strcmp(fr_aggregate_name(FR_AGGREGATE_MIN), "min") == 0);

    fr_distance_free(engine);
    free(probes);
    fr_gallery_free(&g);
    return fr_test_finish("test_identity");
}
