/*
 * identity.h: the two questions asked of an identity database, with one set of rules for
 * every caller (`facerec verify`, `facerec identify`, the public API):
 *
 *   - a person's distance from a probe embedding is the distance to the nearest of their
 *     embeddings (FR_AGGREGATE_MIN), or to the L2-normalized mean of their embeddings
 *     (FR_AGGREGATE_MEAN);
 *   - a probe matches a person when that distance is strictly under the threshold.
 *
 * Verification (1:1) asks it of the person claimed; identification (1:K) finds the K nearest
 * people, each counted once, and the probe is identified as the first when it matches.
 *
 * Both run on the distance engine (match/distance.h), so their distances for the same probe
 * and person agree (to float32 rounding of the GEMM): identification is the engine's nearest-distinct-labels
 * search over the whole gallery (labels = people), verification a k = 1 search of each
 * claimed person's own embeddings, with the claims grouped by person so that each person's
 * rows are one GEMM operand however many claims name them.
 */
#ifndef FR_MATCH_IDENTITY_H
#define FR_MATCH_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "match/distance.h"
#include "store/store.h"

typedef enum fr_aggregate {
    FR_AGGREGATE_MIN = 0, /* a person's distance: the nearest of their embeddings */
    FR_AGGREGATE_MEAN     /* the distance to the (normalized) mean of their embeddings */
} fr_aggregate;

/* "min", "mean" */
const char *fr_aggregate_name(fr_aggregate aggregate);
fr_status fr_aggregate_parse(const char *name, fr_aggregate *out);

typedef struct fr_match {
    int32_t person;  /* index into the gallery's names; -1: an empty slot (fewer people than k) */
    int64_t image;   /* gallery row of the person's nearest embedding (FR_AGGREGATE_MIN);
                        -1 with FR_AGGREGATE_MEAN and for an empty slot */
    float distance;  /* the person's distance; INFINITY for an empty slot */
    int accepted;    /* distance < threshold */
} fr_match;

/* A gallery ready to be matched against. It borrows the gallery (whose rows must be grouped
 * by person, as fr_store_load returns them) and the engine for its lifetime; with
 * FR_AGGREGATE_MEAN it computes the people's means once. One thread at a time. */
typedef struct fr_matcher fr_matcher;

fr_status fr_matcher_new(const fr_gallery *gallery, fr_aggregate aggregate, float threshold,
                         fr_distance_engine *engine, fr_matcher **out);
void fr_matcher_free(fr_matcher *matcher);
float fr_matcher_threshold(const fr_matcher *matcher);

/* Verification: probes (n x the gallery's dim) against persons[i], the person probe i claims
 * to be (an index into the gallery's names); out[i] is its answer. */
fr_status fr_matcher_verify(fr_matcher *matcher, const float *probes, size_t n,
                            const int32_t *persons, fr_match *out);

/* Identification: the k nearest people of each probe, ascending by distance (ties: the
 * person listed first), in out[i * k .. i * k + k - 1]; the probe is identified as
 * out[i * k] when that slot is accepted. */
fr_status fr_matcher_identify(fr_matcher *matcher, const float *probes, size_t n, size_t k,
                              fr_match *out);

#endif
