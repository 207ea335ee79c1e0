/*
 * bench_match.c: the distance engine on the CPU against a numpy peer (bench/numpy_match.py),
 * both run by this one program on the same data:
 *   - identification: P probes (default 10k) against galleries of 10k, 100k and 1M synthetic
 *     L2-normalized 128-d embeddings, top-5 (fr_distance_nearest);
 *   - distmat: N x N (default 20k) distances written to a .npy (fr_distmat_write, synced),
 *     and the same distances computed and dropped, to show the arithmetic apart from the disk.
 * Every case runs in its own child process, so that its peak memory (ru_maxrss, from wait4)
 * is its own; the data is written once to .npy files that both sides memory-map, so loading
 * costs neither side time. The numpy results are checked against facerec's (top-1 agreement
 * of the neighbours, largest difference of the matrices).
 *
 * usage: bench_match [--probes P] [--galleries 10000,100000,1000000] [--k 5] [--distmat N]
 *                    [--threads T] [--python PY] [--dir TMP] [--no-numpy]
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "core/npy.h"
#include "match/distance.h"
#include "match/distmat.h"

#define DIM 128
#define MAX_GALLERIES 8

typedef struct config {
    size_t probes, galleries[MAX_GALLERIES], gallery_count, k, distmat;
    int threads, numpy;
    const char *python, *dir;
    char script[4096];
} config;

/* Uniform rows scaled to unit length (xorshift64*). */
static int write_rows(const char *path, size_t n, uint64_t seed)
{
    float *rows = malloc(n * DIM * sizeof *rows);
    if (!rows)
        return -1;
    uint64_t s = seed;
    for (size_t i = 0; i < n * DIM; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        rows[i] = (float)((double)((s * 2685821657736338717ull) >> 11) / 9007199254740992.0) -
                  0.5f;
    }
    fr_l2_normalize(rows, n, DIM);
    size_t shape[2] = {n, DIM};
    fr_status st = fr_npy_save(path, FR_NPY_F32, 2, shape, rows);
    free(rows);
    if (st)
        fprintf(stderr, "bench_match: %s\n", fr_error_message());
    return st ? -1 : 0;
}

/* The float32 rows of a .npy written by write_rows, mapped (header length from the file). */
static const float *map_rows(const char *path, fr_mapping *m)
{
    if (fr_file_map(path, m) != FR_OK) {
        fprintf(stderr, "bench_match: %s\n", fr_error_message());
        exit(1);
    }
    const unsigned char *b = m->data;
    size_t header = 10 + (size_t)(b[8] | b[9] << 8);
    return (const float *)(b + header);
}

typedef struct outcome {
    double seconds;
    double peak_mib;
    char line[256]; /* the child's last line of output */
    int ok;
} outcome;

/* Runs fn in a child (or argv when fn is NULL), capturing its stdout and its peak memory. */
static outcome run_child(int (*fn)(const config *, void *), const config *c, void *arg,
                        char *const *argv)
{
    outcome o;
    memset(&o, 0, sizeof o);
    int fds[2];
    if (pipe(fds) != 0)
        return o;
    double t0 = fr_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        if (fn)
            _exit(fn(c, arg));
        execvp(argv[0], argv);
        fprintf(stderr, "bench_match: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[256];
    while (in && fgets(line, sizeof line, in))
        snprintf(o.line, sizeof o.line, "%s", line);
    if (in)
        fclose(in);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    wait4(pid, &status, 0, &ru);
    o.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    o.peak_mib = (double)ru.ru_maxrss / 1024.0;
    o.seconds = atof(o.line);
    if (o.seconds <= 0)
        o.seconds = fr_seconds() - t0;
    return o;
}

/* ---- the facerec side (child processes) -------------------------------------------------- */

typedef struct nearest_case {
    size_t m;
    char out[4096];
} nearest_case;

static int child_nearest(const config *c, void *arg)
{
    nearest_case *nc = arg;
    char path[4200];
    fr_mapping pm, gm;
    snprintf(path, sizeof path, "%s/probes.npy", c->dir);
    const float *a = map_rows(path, &pm);
    snprintf(path, sizeof path, "%s/gallery.npy", c->dir);
    const float *b = map_rows(path, &gm);
    fr_distance_options o = {FR_DEVICE_CPU, c->threads, 0};
    fr_distance_engine *e;
    fr_neighbor *out = malloc(c->probes * c->k * sizeof *out);
    if (!out || fr_distance_new(&o, &e) != FR_OK) {
        fprintf(stderr, "bench_match: %s\n", fr_error_message());
        return 1;
    }
    double t0 = fr_seconds();
    fr_status st = fr_distance_nearest(e, a, c->probes, b, nc->m, DIM, NULL, c->k, out);
    double seconds = fr_seconds() - t0;
    if (st) {
        fprintf(stderr, "bench_match: %s\n", fr_error_message());
        return 1;
    }
    FILE *f = fopen(nc->out, "wb");
    for (size_t i = 0; f && i < c->probes * c->k; i++)
        fwrite(&out[i].index, sizeof out[i].index, 1, f);
    if (f)
        fclose(f);
    printf("%.4f\n", seconds);
    fr_distance_free(e);
    free(out);
    return 0;
}

static fr_status discard(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                         const float *tile, size_t ld)
{
    (void)ctx, (void)row0, (void)col0, (void)rows, (void)cols, (void)tile, (void)ld;
    return FR_OK;
}

/* The distances alone, no file: what the GEMM tiles cost. */
static int child_all_pairs(const config *c, void *arg)
{
    (void)arg;
    char path[4200];
    fr_mapping gm;
    snprintf(path, sizeof path, "%s/gallery.npy", c->dir);
    const float *a = map_rows(path, &gm);
    fr_distance_options o = {FR_DEVICE_CPU, c->threads, 0};
    fr_distance_engine *e;
    if (fr_distance_new(&o, &e) != FR_OK)
        return 1;
    double t0 = fr_seconds();
    fr_status st = fr_distance_all_pairs(e, a, c->distmat, NULL, 0, DIM, discard, NULL);
    printf("%.4f\n", fr_seconds() - t0);
    fr_distance_free(e);
    return st != FR_OK;
}

static int child_distmat(const config *c, void *arg)
{
    const char *out = arg;
    char path[4200];
    fr_mapping gm;
    snprintf(path, sizeof path, "%s/gallery.npy", c->dir);
    const float *a = map_rows(path, &gm);
    fr_distance_options o = {FR_DEVICE_CPU, c->threads, 0};
    fr_distance_engine *e;
    if (fr_distance_new(&o, &e) != FR_OK)
        return 1;
    double t0 = fr_seconds();
    fr_output file;
    fr_status st = fr_output_open(&file, out, FR_OUTPUT_REGULAR);
    if (!st)
        st = fr_distmat_write(e, a, c->distmat, NULL, 0, DIM, &file);
    if (!st)
        st = fr_output_commit(&file);
    else
        fr_output_abort(&file);
    double seconds = fr_seconds() - t0;
    if (st) {
        fprintf(stderr, "bench_match: %s\n", fr_error_message());
        return 1;
    }
    printf("%.4f\n", seconds);
    fr_distance_free(e);
    return 0;
}

/* ---- comparing the answers ------------------------------------------------------------------ */

/* Share of probes whose nearest gallery row is the same on both sides. */
static double top1_agreement(const char *a, const char *b, size_t probes, size_t k)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    size_t same = 0;
    int64_t *ra = malloc(k * sizeof *ra), *rb = malloc(k * sizeof *rb);
    for (size_t i = 0; fa && fb && ra && rb && i < probes; i++) {
        if (fread(ra, sizeof *ra, k, fa) != k || fread(rb, sizeof *rb, k, fb) != k)
            break;
        same += ra[0] == rb[0];
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    free(ra);
    free(rb);
    return (double)same / (double)probes;
}

static void print_row(const char *name, const outcome *mine, const outcome *peer,
                      const char *check)
{
    printf("%-26s %9.3f %9.0f", name, mine->ok ? mine->seconds : NAN, mine->peak_mib);
    if (peer)
        printf(" %9.3f %9.0f %8.2fx  %s", peer->ok ? peer->seconds : NAN, peer->peak_mib,
               peer->seconds / mine->seconds, check);
    printf("\n");
    fflush(stdout);
}

static void parse_sizes(const char *text, config *c)
{
    c->gallery_count = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && c->gallery_count < MAX_GALLERIES;
         t = strtok_r(NULL, ",", &save))
        c->galleries[c->gallery_count++] = (size_t)strtoull(t, NULL, 10);
    free(copy);
}

int main(int argc, char **argv)
{
    config c;
    memset(&c, 0, sizeof c);
    c.probes = 10000;
    parse_sizes("10000,100000,1000000", &c);
    c.k = 5;
    c.distmat = 20000;
    c.numpy = 1;
    c.python = "/usr/bin/python3";
    snprintf(c.script, sizeof c.script, "%s/bench/numpy_match.py", FACEREC_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--probes"))
            c.probes = (size_t)strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--galleries"))
            parse_sizes(v, &c), i++;
        else if (!strcmp(argv[i], "--k"))
            c.k = (size_t)strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--distmat"))
            c.distmat = (size_t)strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--threads"))
            c.threads = atoi(v), i++;
        else if (!strcmp(argv[i], "--python"))
            c.python = v, i++;
        else if (!strcmp(argv[i], "--dir"))
            c.dir = v, i++;
        else if (!strcmp(argv[i], "--no-numpy"))
            c.numpy = 0;
        else {
            fprintf(stderr, "usage: bench_match [--probes P] [--galleries A,B,...] [--k K] "
                            "[--distmat N] [--threads T] [--python PY] [--dir TMP] "
                            "[--no-numpy]\n");
            return 2;
        }
    }
    char tmp[256];
    if (!c.dir) {
        snprintf(tmp, sizeof tmp, "/tmp/bench_match.XXXXXX");
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        c.dir = tmp;
    }
    size_t largest = c.distmat;
    for (size_t i = 0; i < c.gallery_count; i++)
        largest = c.galleries[i] > largest ? c.galleries[i] : largest;
    char probes[4200], gallery[4200];
    snprintf(probes, sizeof probes, "%s/probes.npy", c.dir);
    snprintf(gallery, sizeof gallery, "%s/gallery.npy", c.dir);
    double t0 = fr_seconds();
    if (write_rows(probes, c.probes, 1) || write_rows(gallery, largest, 2))
        return 1;
    printf("bench_match: %zu probes, galleries up to %zu, %d-d unit rows, top-%zu; data "
           "written in %.1f s to %s\n", c.probes, largest, DIM, c.k, fr_seconds() - t0, c.dir);
    printf("%-26s %9s %9s %9s %9s %9s  %s\n", "case", "facerec s", "peak MiB", "numpy s",
           "peak MiB", "ratio", "agreement");

    char mine_out[4200], peer_out[4200], m_text[32], k_text[32], n_text[32];
    for (size_t g = 0; g < c.gallery_count; g++) {
        nearest_case nc;
        nc.m = c.galleries[g];
        snprintf(nc.out, sizeof nc.out, "%s/mine.bin", c.dir);
        outcome mine = run_child(child_nearest, &c, &nc, NULL);
        char name[64];
        snprintf(name, sizeof name, "nearest %zuk x %zuk", c.probes / 1000, nc.m / 1000);
        if (!c.numpy) {
            print_row(name, &mine, NULL, "");
            continue;
        }
        snprintf(peer_out, sizeof peer_out, "%s/peer.bin", c.dir);
        snprintf(m_text, sizeof m_text, "%zu", nc.m);
        snprintf(k_text, sizeof k_text, "%zu", c.k);
        char *args[] = {(char *)c.python, c.script, "nearest", probes, gallery, m_text, k_text,
                        peer_out, NULL};
        outcome peer = run_child(NULL, &c, NULL, args);
        char check[64];
        snprintf(check, sizeof check, "top-1 %.4f",
                 top1_agreement(nc.out, peer_out, c.probes, c.k));
        print_row(name, &mine, &peer, check);
        unlink(nc.out);
        unlink(peer_out);
    }
    if (c.distmat) {
        outcome mine = run_child(child_all_pairs, &c, NULL, NULL);
        char name[64];
        snprintf(name, sizeof name, "distmat %zuk x %zuk, no file", c.distmat / 1000,
                 c.distmat / 1000);
        if (c.numpy) {
            snprintf(n_text, sizeof n_text, "%zu", c.distmat);
            char *args[] = {(char *)c.python, c.script, "distances", gallery, n_text, NULL};
            outcome peer = run_child(NULL, &c, NULL, args);
            print_row(name, &mine, &peer, "");
        } else {
            print_row(name, &mine, NULL, "");
        }
    }
    if (c.distmat) {
        snprintf(mine_out, sizeof mine_out, "%s/d_facerec.npy", c.dir);
        outcome mine = run_child(child_distmat, &c, mine_out, NULL);
        char name[64];
        snprintf(name, sizeof name, "distmat %zuk x %zuk -> .npy", c.distmat / 1000,
                 c.distmat / 1000);
        if (c.numpy) {
            snprintf(peer_out, sizeof peer_out, "%s/d_numpy.npy", c.dir);
            snprintf(n_text, sizeof n_text, "%zu", c.distmat);
            char *args[] = {(char *)c.python, c.script, "distmat", gallery, n_text, peer_out,
                            NULL};
            outcome peer = run_child(NULL, &c, NULL, args);
            char *cmp[] = {(char *)c.python, c.script, "compare", mine_out, peer_out, NULL};
            outcome diff = run_child(NULL, &c, NULL, cmp);
            char check[64];
            snprintf(check, sizeof check, "max |diff| %.3g", atof(diff.line));
            print_row(name, &mine, &peer, check);
            unlink(peer_out);
        } else {
            print_row(name, &mine, NULL, "");
        }
        unlink(mine_out);
    }
    unlink(probes);
    unlink(gallery);
    if (c.dir == tmp)
        rmdir(tmp);
    return 0;
}
