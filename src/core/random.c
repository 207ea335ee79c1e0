/* random.c: xoshiro256** seeded by splitmix64 (reference code at prng.di.unimi.it). */
#include "core/random.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fr_random_seed(fr_random *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fr_random_next(fr_random *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t fr_random_below(fr_random *r, uint64_t n)
{
    /* reject the lowest 2^64 mod n values, so every residue is equally likely */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = fr_random_next(r);
        if (x >= threshold)
            return x % n;
    }
}

double fr_random_uniform(fr_random *r)
{
    return (double)(fr_random_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void fr_random_shuffle(fr_random *r, int32_t *values, size_t count)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)fr_random_below(r, i);
        int32_t t = values[i - 1];
        values[i - 1] = values[j];
        values[j] = t;
    }
}
