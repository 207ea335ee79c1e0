/*
 * random.h: a seeded pseudo-random generator, so that a run given the same seed makes the
 * same choices on every machine (training's batches and negatives, Chinese whispers' visiting
 * order). xoshiro256** (Blackman and Vigna 2018), its state filled from the seed by
 * splitmix64 as its authors recommend; not for cryptography.
 */
#ifndef FR_CORE_RANDOM_H
#define FR_CORE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_random {
    uint64_t s[4];
} fr_random;

void fr_random_seed(fr_random *rng, uint64_t seed);
uint64_t fr_random_next(fr_random *rng);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t fr_random_below(fr_random *rng, uint64_t n);
/* Uniform in [0, 1), 53 bits. */
double fr_random_uniform(fr_random *rng);
/* Fisher-Yates over count int32 values. */
void fr_random_shuffle(fr_random *rng, int32_t *values, size_t count);

#endif
