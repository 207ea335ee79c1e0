/*
 * test_output.c: the output core (core/file.h) from the outside: temporary files that cannot
 * be hijacked, stale ones of dead runs removed (and only those), names that are not regular
 * files streamed to or refused, sets of outputs committed with their digests and refused when
 * mixed up, inputs that are not regular files refused before they could block, and every
 * temporary removed at once on an interrupt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "testutil.h"

static char dir[1024];

static void path_in(char *out, size_t size, const char *sub, const char *name)
{
    snprintf(out, size, "%s/%s/%s", dir, sub, name);
}

static void make_folder(const char *sub)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    CHECK(mkdir(path, 0777) == 0);
}

/* Entries of folder sub whose name contains text. */
static int count_entries(const char *sub, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, text) != NULL;
    if (d)
        closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int file_is(const char *path, const char *text)
{
    void *data = NULL;
    size_t size = 0;
    if (fr_file_read(path, 1 << 20, &data, &size) != FR_OK)
        return 0;
    int same = size == strlen(text) && memcmp(data, text, size) == 0;
    free(data);
    return same;
}

static void host_token(char *out, size_t size)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    size_t n = 0;
    for (const char *p = host; *p && n < 32 && n + 1 < size; p++)
        out[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
                       ? *p : '-';
    out[n] = 0;
}

/* While open, an output lives under a temporary of the documented form; a commit renames it
 * into place; a symlink at the final name is replaced, never written through. */
static void check_temporaries(void)
{
    make_folder("t");
    char out_path[1200], victim[1200];
    path_in(out_path, sizeof out_path, "t", "out.csv");
    path_in(victim, sizeof victim, "t", "victim");
    write_file(victim, "precious\n");
    CHECK(symlink(victim, out_path) == 0);
    /* the old scheme's predictable temporary name, planted as a link to the victim */
    char planted[1300];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", out_path, (long)getpid());
    CHECK(symlink(victim, planted) == 0);
    fr_output out;
    CHECK_OK(fr_output_open(&out, out_path, 0));
    char host[64], prefix[200];
    host_token(host, sizeof host);
    snprintf(prefix, sizeof prefix, "out.csv.tmp.%s.%ld.", host, (long)getpid());
    CHECK(count_entries("t", prefix) == 1);
    CHECK(out.temp.path && strstr(out.temp.path, prefix));
    fputs("a,b\n", out.file);
    CHECK_OK(fr_output_commit(&out));
    CHECK(count_entries("t", prefix) == 0);
    struct stat st;
    CHECK(lstat(out_path, &st) == 0 && S_ISREG(st.st_mode));
    CHECK(file_is(out_path, "a,b\n"));
    CHECK(file_is(victim, "precious\n"));
    /* abort removes the temporary and leaves the old file */
    CHECK_OK(fr_output_open(&out, out_path, 0));
    fputs("new\n", out.file);
    fr_output_abort(&out);
    CHECK(count_entries("t", prefix) == 0);
    CHECK(file_is(out_path, "a,b\n"));
}

/* Stale temporaries of dead runs go when the next output opens in their folder; live ones,
 * other hosts' and other files stay. */
static void check_stale_cleanup(void)
{
    make_folder("s");
    char host[64], name[1300];
    host_token(host, sizeof host);
    const char *stale[] = {"e.npy.tmp.%s.999999.abcd1234", "e.npy.tmp.%s.999999.abcd1234-journal",
                           "office.db.tmp.%s.12.zzzz9999-journal"};
    const char *kept[] = {"e.npy.tmp.otherhost.999999.abcd1234", "notes.tmp.keep",
                          "e.npy.tmp.%s.999999.ABCD1234", "e.npy.tmp.%s.x.abcd1234"};
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        char n[200];
        snprintf(n, sizeof n, stale[i], host);
        path_in(name, sizeof name, "s", n);
        write_file(name, "stale");
    }
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char n[200];
        snprintf(n, sizeof n, kept[i], host);
        path_in(name, sizeof name, "s", n);
        write_file(name, "keep");
    }
    /* a live one: locked by its owner (another open file description here) */
    char live[1300], n[200];
    snprintf(n, sizeof n, "d.npy.tmp.%s.1.live0000", host);
    path_in(live, sizeof live, "s", n);
    write_file(live, "live");
    int held = open(live, O_RDONLY);
    CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
    char target[1300];
    path_in(target, sizeof target, "s", "other.csv");
    fr_output out;
    CHECK_OK(fr_output_open(&out, target, 0));
    fr_output_abort(&out);
    CHECK(count_entries("s", "abcd1234") == 2); /* the other host's and the upper-case one */
    CHECK(count_entries("s", "zzzz9999") == 0);
    CHECK(count_entries("s", "notes.tmp.keep") == 1);
    CHECK(count_entries("s", ".x.abcd1234") == 1);
    CHECK(count_entries("s", "live0000") == 1);
    close(held);
}

/* Devices and FIFOs are streamed to, never renamed over; directories and (for outputs that
 * must be files) devices are refused with a message naming them. */
static void check_special_names(void)
{
    /* /dev/null, unless something on this machine has already replaced it with a file */
    struct stat st;
    const char *device = stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) ? "/dev/null"
                                                                              : "/dev/zero";
    if (strcmp(device, "/dev/null") != 0)
        fprintf(stderr, "note: /dev/null is not a device on this machine; using /dev/zero\n");
    fr_output out;
    CHECK_OK(fr_output_open(&out, device, 0));
    CHECK(out.stream && out.temp.path == NULL);
    fputs("nothing\n", out.file);
    CHECK_OK(fr_output_commit(&out));
    CHECK(stat(device, &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(fr_output_open(&out, device, FR_OUTPUT_REGULAR) == FR_E_INVALID);
    CHECK(strstr(fr_error_message(), ": not a regular file (a character device)"));
    CHECK(fr_output_open(&out, "-", FR_OUTPUT_REGULAR) == FR_E_INVALID);
    CHECK(fr_output_open(&out, dir, 0) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "is a directory"));

    make_folder("f");
    char fifo[1200], got[1200];
    path_in(fifo, sizeof fifo, "f", "pipe");
    path_in(got, sizeof got, "f", "got");
    CHECK(mkfifo(fifo, 0600) == 0);
    pid_t reader = fork();
    if (reader == 0) {
        char command[3000];
        snprintf(command, sizeof command, "cat '%s' > '%s'", fifo, got);
        _exit(system(command) == 0 ? 0 : 1);
    }
    CHECK_OK(fr_output_open(&out, fifo, 0));
    CHECK(out.stream);
    fputs("through the pipe\n", out.file);
    CHECK_OK(fr_output_commit(&out));
    int status = 0;
    waitpid(reader, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(file_is(got, "through the pipe\n"));

    char missing[1200];
    path_in(missing, sizeof missing, "no-such-folder", "x.csv");
    CHECK(fr_output_open(&out, missing, 0) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "x.csv: cannot write in") &&
          strstr(fr_error_message(), "no such folder") && !strstr(fr_error_message(), ".tmp."));
    CHECK(fr_folder_check_writable(missing) == FR_E_IO);
    CHECK_OK(fr_folder_check_writable(dir));
    CHECK(count_entries("", ".facerec-probe") == 0);
}

static fr_status write_set(const char *npy, const char *paths, const char *record,
                           const char *rows, const char *names)
{
    fr_output set[2];
    fr_status st = fr_output_open(&set[0], npy, FR_OUTPUT_REGULAR);
    if (st)
        return st;
    st = fr_output_open(&set[1], paths, FR_OUTPUT_REGULAR);
    if (st) {
        fr_output_abort(&set[0]);
        return st;
    }
    fputs(rows, set[0].file);
    fputs(names, set[1].file);
    return fr_output_commit_set(set, 2, record);
}

/* Two files read together are one commit: a record of their digests that sha256sum reads;
 * any mix of two runs' files (what a kill between two renames leaves) is refused. */
static void check_sets(void)
{
    make_folder("p");
    char npy[1200], paths[1200], record[1200], faces[1200];
    path_in(npy, sizeof npy, "p", "e.npy");
    path_in(paths, sizeof paths, "p", "e.paths");
    path_in(record, sizeof record, "p", "e.sha256");
    path_in(faces, sizeof faces, "p", "e.faces.csv");
    const char *members[] = {npy, paths};
    int checked = -1;
    CHECK_OK(fr_output_set_check(record, members, 2, &checked));
    CHECK(checked == 0); /* no record: not written as a set */

    CHECK_OK(write_set(npy, paths, record, "rows of run 1\n", "a.jpg\nb.jpg\n"));
    CHECK_OK(fr_output_set_check(record, members, 2, &checked));
    CHECK(checked == 1);
    char command[4000];
    snprintf(command, sizeof command, "cd '%s/p' && sha256sum --quiet -c e.sha256", dir);
    CHECK(fr_test_system(command) == 0);
    CHECK(count_entries("p", ".tmp.") == 0);

    /* run 2 replaced e.npy but was killed before e.paths */
    char old_paths[1300];
    snprintf(old_paths, sizeof old_paths, "%s.old", paths);
    snprintf(command, sizeof command, "cp '%s' '%s'", paths, old_paths);
    CHECK(fr_test_system(command) == 0);
    CHECK_OK(write_set(npy, paths, record, "rows of run 2\n", "c.jpg\nd.jpg\n"));
    CHECK(rename(old_paths, paths) == 0);
    CHECK(fr_output_set_check(record, members, 2, &checked) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "e.paths does not match") &&
          strstr(fr_error_message(), "e.sha256"));
    /* a file the record does not list (left by an older run) */
    write_file(faces, "row,path\n");
    const char *with_faces[] = {npy, faces};
    CHECK(fr_output_set_check(record, with_faces, 2, &checked) == FR_E_FORMAT);
    CHECK(strstr(fr_error_message(), "e.faces.csv: not listed in"));
    /* a set must be files in one folder */
    fr_output one;
    CHECK_OK(fr_output_open(&one, "/dev/zero", 0));
    CHECK(fr_output_commit_set(&one, 1, record) == FR_E_INTERNAL);
}

/* A FIFO or a device where a file to read was expected is refused at once (a blocking open
 * would wait for a writer forever: the alarm ends the test instead). */
static void check_reading_specials(void)
{
    make_folder("r");
    char fifo[1200];
    path_in(fifo, sizeof fifo, "r", "image.jpg");
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(20);
    void *data = NULL;
    size_t size;
    CHECK(fr_file_read(fifo, 1 << 20, &data, &size) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "image.jpg: not a regular file (a FIFO)"));
    fr_mapping map;
    CHECK(fr_file_map(fifo, &map) == FR_E_IO);
    CHECK(fr_file_read("/dev/zero", 1 << 20, &data, &size) == FR_E_IO);
    CHECK(strstr(fr_error_message(), "a character device"));
    alarm(0);
}

/* The interrupt path: every temporary of the process removed at once, none renamed after. In
 * a child, since a process cannot write outputs afterwards. */
static void check_discard_all(void)
{
    make_folder("i");
    pid_t child = fork();
    if (child == 0) {
        char a[1200], b[1200];
        path_in(a, sizeof a, "i", "a.csv");
        path_in(b, sizeof b, "i", "b.npy");
        fr_output oa, ob;
        if (fr_output_open(&oa, a, 0) || fr_output_open(&ob, b, FR_OUTPUT_REGULAR))
            _exit(2);
        if (count_entries("i", ".tmp.") != 2)
            _exit(3);
        fr_temps_discard_all();
        if (count_entries("i", ".tmp.") != 0)
            _exit(4);
        if (fr_output_commit(&oa) == FR_OK || access(a, F_OK) == 0)
            _exit(5);
        if (fr_output_open(&oa, a, 0) == FR_OK)
            _exit(6);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count_entries("i", "") == 2); /* . and .. */
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", fr_test_tmpdir());
    check_temporaries();
    check_stale_cleanup();
    check_special_names();
    check_sets();
    check_reading_specials();
    check_discard_all();
    return fr_test_finish("test_output");
}
