/*
 * testutil.h: a minimal test harness. CHECK records a failure and goes on; a test's main()
 * returns fr_test_finish(), which prints a summary and exits 1 on any failure (77 = skipped,
 * which CTest reports as such).
 */
#ifndef FR_TESTUTIL_H
#define FR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facerec.h"

extern int fr_test_failures;
extern int fr_test_checks;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        fr_test_checks++;                                                                      \
        if (!(cond)) {                                                                         \
            fr_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

#define CHECK_OK(expr)                                                                         \
    do {                                                                                       \
        fr_status check_status_ = (expr);                                                      \
        fr_test_checks++;                                                                      \
        if (check_status_ != FR_OK) {                                                          \
            fr_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #expr,          \
                    fr_status_name(check_status_), fr_error_message());                        \
        }                                                                                      \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double check_a_ = (a), check_b_ = (b);                                                 \
        fr_test_checks++;                                                                      \
        if (!(check_a_ - check_b_ <= (tol) && check_b_ - check_a_ <= (tol))) {                 \
            fr_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, |diff| > %g\n", __FILE__, __LINE__,  \
                    #a, check_a_, #b, check_b_, (double)(tol));                                \
        }                                                                                      \
    } while (0)

int fr_test_finish(const char *name);
/* Exits with 77 (skipped) after printing why. */
void fr_test_skip(const char *why);

/* Environment paths set by CTest (abort the test with a message when missing). */
const char *fr_test_env(const char *name);
/* A fresh temporary directory for this test, removed by fr_test_finish(). */
const char *fr_test_tmpdir(void);
/* Deterministic random numbers (xorshift). */
uint64_t fr_test_rand(uint64_t *state);
float fr_test_uniform(uint64_t *state, float lo, float hi);
/* The L2 distance of two vectors of n floats, summed in double. */
double fr_test_l2(const float *a, const float *b, size_t n);
/* Runs a shell command, returns its exit status (or -1). */
int fr_test_system(const char *command);

#endif
