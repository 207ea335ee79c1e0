/* testutil.c: the test harness behind testutil.h. */
#include "testutil.h"
#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int fr_test_failures;
int fr_test_checks;
static char tmpdir[256];

int fr_test_finish(const char *name)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    printf("%s: %d checks, %d failed\n", name, fr_test_checks, fr_test_failures);
    return fr_test_failures ? 1 : 0;
}

void fr_test_skip(const char *why)
{
    printf("SKIPPED: %s\n", why);
    exit(77);
}

const char *fr_test_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "environment variable %s is not set (run the tests through ctest)\n", name);
        exit(1);
    }
    return v;
}

const char *fr_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/facerec-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return tmpdir;
}

uint64_t fr_test_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

float fr_test_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)((fr_test_rand(s) >> 11) * (1.0 / 9007199254740992.0));
}

double fr_test_l2(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

int fr_test_system(const char *command)
{
    int r = system(command);
    if (r == -1)
        return -1;
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}
