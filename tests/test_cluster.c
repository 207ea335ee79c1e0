/*
 * test_cluster.c: clustering (cluster/) against scikit-learn (tests/ref/sklearn/
 * cluster_ref.py) and against its definitions, on synthetic people: clusters of varied sizes
 * in 32-d, some close enough that single linkage chains two of them together.
 *
 *   graph        the edges from the tiled engine (tiles of 37 rows, so every kind of tile is
 *                crossed) are exactly the pairs a brute-force double loop finds under the
 *                threshold, with their distances within 1e-5
 *   components   the same partition as DBSCAN(eps = threshold, min_samples = 1)
 *   average      the same partition as AgglomerativeClustering(linkage='average',
 *                distance_threshold = threshold): the exact merges without a full matrix
 *   whispers     every cluster lies inside one connected component; the same seed gives the
 *                same labels
 *   numbering    labels by size, largest first; --min-size's -1
 *   scores       pairwise and BCubed precision, recall and F1 equal sklearn's
 *                pair_confusion_matrix and numpy's BCubed within 1e-6
 * Skipped when FACEREC_PYTHON lacks scikit-learn.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/npy.h"
#include "core/random.h"
#include "testutil.h"

#define DIM 32
static const char *tmp, *py, *src;

static void save(const char *name, const float *data, size_t n, size_t cols)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    size_t shape[2] = {n, cols};
    CHECK_OK(fr_npy_save(path, FR_NPY_F32, cols ? 2 : 1, shape, data));
}

static int32_t *load_labels(const char *name, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    fr_npy a;
    memset(&a, 0, sizeof a);
    CHECK_OK(fr_npy_load(path, &a));
    int32_t *l = calloc(n, sizeof *l);
    if (a.count == n)
        for (size_t i = 0; i < n; i++)
            l[i] = (int32_t)((float *)a.data)[i];
    CHECK(a.count == n);
    fr_npy_free(&a);
    return l;
}

static void reference(const char *what)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/sklearn/cluster_ref.py' %s '%s'", py, src,
             what, tmp);
    CHECK(fr_test_system(cmd) == 0);
}

/* a and b name the same partition (a bijection between their labels) */
static int same_partition(const int32_t *a, const int32_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if ((a[i] == a[j]) != (b[i] == b[j]))
                return 0;
    return 1;
}

static size_t count_labels(const int32_t *l, size_t n)
{
    int32_t top = -1;
    for (size_t i = 0; i < n; i++)
        if (l[i] > top)
            top = l[i];
    return (size_t)(top + 1);
}

int main(void)
{
    tmp = fr_test_tmpdir();
    py = fr_test_env("FACEREC_PYTHON");
    src = fr_test_env("FACEREC_SOURCE_DIR");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, sklearn' 2>/dev/null", py);
    if (fr_test_system(cmd) != 0)
        fr_test_skip("FACEREC_PYTHON lacks scikit-learn (apt install python3-sklearn)");

    /* people: centres on a sphere of radius 0.6, faces around them (sizes 1..14); every
     * fifth person's centre 0.3 from the one before, so that their faces chain */
    enum { PEOPLE = 45 };
    fr_random r;
    fr_random_seed(&r, 81);
    float *rows = malloc(PEOPLE * 14 * DIM * sizeof(float));
    int32_t *truth = malloc(PEOPLE * 14 * sizeof *truth);
    size_t n = 0;
    float centre[DIM], previous[DIM];
    for (int p = 0; p < PEOPLE; p++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++) {
            centre[d] = (float)(fr_random_uniform(&r) - 0.5);
            norm += centre[d] * centre[d];
        }
        double radius = p % 5 == 4 ? 0.3 : 0.6;
        for (int d = 0; d < DIM; d++)
            centre[d] = (float)(centre[d] * radius / sqrt(norm)) +
                        (p % 5 == 4 ? previous[d] : 0.0f);
        memcpy(previous, centre, sizeof centre);
        size_t faces = 1 + (size_t)fr_random_below(&r, 14);
        for (size_t k = 0; k < faces; k++, n++) {
            for (int d = 0; d < DIM; d++)
                rows[n * DIM + d] = centre[d] + (float)((fr_random_uniform(&r) - 0.5) * 0.09);
            truth[n] = p;
        }
    }
    float threshold = 0.3f;
    printf("%zu faces of %d people\n", n, PEOPLE);

    /* the graph against a double loop */
    fr_distance_options o = {FR_DEVICE_CPU, 2, 37};
    fr_distance_engine *engine;
    CHECK_OK(fr_distance_new(&o, &engine));
    fr_cluster_graph g;
    CHECK_OK(fr_cluster_graph_build(engine, rows, n, DIM, threshold, &g));
    size_t expected = 0, missing = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = 0;
            for (int d = 0; d < DIM; d++) {
                double t = (double)rows[i * DIM + d] - rows[j * DIM + d];
                s += t * t;
            }
            s = sqrt(s);
            if (fabs(s - threshold) < 1e-5)
                continue; /* too close to call in fp32 */
            if (s >= threshold)
                continue;
            expected++;
            int found = 0;
            for (size_t e = g.offsets[i]; e < g.offsets[i + 1]; e++)
                if ((size_t)g.neighbors[e] == j) {
                    found = 1;
                    if (fabs(g.distances[e] - s) > worst)
                        worst = fabs(g.distances[e] - s);
                }
            missing += !found;
        }
    printf("graph: %zu edges, %zu expected, %zu missing, distances within %.2e\n", g.edges,
           expected, missing, worst);
    CHECK(missing == 0 && g.edges >= expected && g.edges <= expected + 2);
    CHECK(worst <= 1e-5);
    CHECK(g.offsets[n] == 2 * g.edges);

    /* the methods */
    int32_t *cc = malloc(n * sizeof *cc), *av = malloc(n * sizeof *av);
    int32_t *cw = malloc(n * sizeof *cw), *cw2 = malloc(n * sizeof *cw2);
    size_t ncc, nav, ncw, ncw2;
    fr_cluster_options co = {FR_CLUSTER_COMPONENTS, threshold, 0, 1, 1};
    CHECK_OK(fr_cluster_run(&g, rows, DIM, &co, cc, &ncc));
    co.method = FR_CLUSTER_AVERAGE;
    CHECK_OK(fr_cluster_run(&g, rows, DIM, &co, av, &nav));
    co.method = FR_CLUSTER_WHISPERS;
    CHECK_OK(fr_cluster_run(&g, rows, DIM, &co, cw, &ncw));
    CHECK_OK(fr_cluster_run(&g, rows, DIM, &co, cw2, &ncw2));
    CHECK(memcmp(cw, cw2, n * sizeof *cw) == 0);

    save("rows.npy", rows, n, DIM);
    save("threshold.npy", &threshold, 1, 0);
    reference("cluster");
    int32_t *db = load_labels("dbscan.npy", n), *agg = load_labels("average.npy", n);
    printf("components: %zu clusters (DBSCAN %zu); average: %zu (sklearn %zu); whispers %zu\n",
           ncc, count_labels(db, n), nav, count_labels(agg, n), ncw);
    CHECK(same_partition(cc, db, n));
    CHECK(same_partition(av, agg, n));
    CHECK(ncc < (size_t)PEOPLE); /* some people chained together: a case that tells apart */
    CHECK(!same_partition(cc, av, n));
    int inside = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (cw[i] == cw[j] && cc[i] != cc[j])
                inside = 0;
    CHECK(inside);

    /* numbering: sizes descending from 0; min-size */
    size_t *size = calloc(ncw + 1, sizeof *size);
    for (size_t i = 0; i < n; i++)
        size[cw[i]]++;
    int descending = 1;
    for (size_t c = 1; c < ncw; c++)
        descending &= size[c] <= size[c - 1];
    CHECK(descending && size[ncw - 1] > 0);
    co.min_size = 3;
    size_t kept;
    CHECK_OK(fr_cluster_run(&g, rows, DIM, &co, cw2, &kept));
    size_t small = 0, unlabeled = 0;
    for (size_t c = 0; c < ncw; c++)
        small += size[c] < 3 ? size[c] : 0;
    for (size_t i = 0; i < n; i++)
        unlabeled += cw2[i] == -1;
    CHECK(unlabeled == small && kept < ncw);
    free(size);

    /* scores against sklearn, for each method (and with -1 labels) */
    int32_t *methods[4] = {cc, av, cw, cw2};
    const char *names[4] = {"components", "average", "whispers", "whispers, min-size 3"};
    for (int m = 0; m < 4; m++) {
        fr_cluster_scores s;
        CHECK_OK(fr_cluster_score(methods[m], truth, n, &s));
        float *pf = malloc(n * sizeof *pf), *tf = malloc(n * sizeof *tf);
        for (size_t i = 0; i < n; i++) {
            pf[i] = (float)methods[m][i];
            tf[i] = (float)truth[i];
        }
        save("predicted.npy", pf, n, 0);
        save("truth.npy", tf, n, 0);
        free(pf);
        free(tf);
        reference("score");
        char path[4096];
        snprintf(path, sizeof path, "%s/scores.npy", tmp);
        fr_npy ref;
        memset(&ref, 0, sizeof ref);
        CHECK_OK(fr_npy_load(path, &ref));
        double mine[6] = {s.pair_precision, s.pair_recall, s.pair_f1, s.bcubed_precision,
                          s.bcubed_recall, s.bcubed_f1};
        double diff = 0;
        for (int k = 0; k < 6 && ref.count == 6; k++)
            diff = fmax(diff, fabs(mine[k] - ((float *)ref.data)[k]));
        printf("%s: pairwise P %.4f R %.4f F1 %.4f, BCubed P %.4f R %.4f F1 %.4f "
               "(max |diff| from sklearn/numpy %.1e)\n", names[m], mine[0], mine[1], mine[2],
               mine[3], mine[4], mine[5], diff);
        CHECK(ref.count == 6 && diff <= 1e-6);
        fr_npy_free(&ref);
        if (m == 1) {
            fr_cluster_scores cs;
            CHECK_OK(fr_cluster_score(cc, truth, n, &cs));
            CHECK(s.pair_precision > cs.pair_precision); /* average splits chained people */
        }
    }
    /* perfect and trivial clusterings */
    fr_cluster_scores s;
    CHECK_OK(fr_cluster_score(truth, truth, n, &s));
    CHECK(s.pair_f1 == 1.0 && s.bcubed_f1 == 1.0);

    free(db);
    free(agg);
    free(cc);
    free(av);
    free(cw);
    free(cw2);
    fr_cluster_graph_free(&g);
    fr_distance_free(engine);
    free(rows);
    free(truth);
    return fr_test_finish("test_cluster");
}
