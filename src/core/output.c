/*
 * output.c: temporary files, outputs renamed into place, and sets of outputs committed with
 * a record of their digests (the rules are at the top of file.h).
 *
 * The process's temporaries are listed in one table under one mutex: creating one (open,
 * lock, list), renaming one into place (rename, unlist) and removing them all on an
 * interrupt each happen whole under it, so an interrupt never leaves a temporary behind
 * and never removes a file after it was renamed into place.
 */
#include "core/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/sha256.h"

#define TEMP_MARK ".tmp."
#define RANDOM_CHARS 8
#define HOST_CHARS 32
#define CLEANED_FOLDERS 64

/* SQLite's files beside a database under construction (enroll builds one as a temporary) */
static const char *const JOURNALS[] = {"-journal", "-wal", "-shm"};
#define JOURNAL_COUNT (sizeof JOURNALS / sizeof JOURNALS[0])

static pthread_mutex_t temps_lock = PTHREAD_MUTEX_INITIALIZER;
static char **temps;        /* paths of the temporaries alive, NULL in free entries */
static size_t temps_capacity;
static int temps_closed;    /* after fr_temps_discard_all */
static struct {
    dev_t dev;
    ino_t ino;
} cleaned[CLEANED_FOLDERS]; /* folders whose stale temporaries were removed */
static size_t cleaned_count;

/* This host's name as it appears in temporary names: [A-Za-z0-9-] only (no '.', so that a
 * name parses from the right), at most HOST_CHARS. */
static void host_token(char out[HOST_CHARS + 1])
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        strcpy(host, "localhost");
    size_t n = 0;
    for (const char *p = host; *p && n < HOST_CHARS; p++) {
        char c = *p;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[n++] = keep ? c : '-';
    }
    out[n] = 0;
}

static void random_token(char out[RANDOM_CHARS + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[RANDOM_CHARS];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        /* no entropy source: O_EXCL still makes the name ours; it is just guessable */
        unsigned long x = (unsigned long)getpid() * 2654435761u ^ (unsigned long)time(NULL);
        for (int i = 0; i < RANDOM_CHARS; i++, x = x * 6364136223846793005ul + 1)
            bytes[i] = (unsigned char)(x >> 33);
    }
    for (int i = 0; i < RANDOM_CHARS; i++)
        out[i] = alphabet[bytes[i] % (sizeof alphabet - 1)];
    out[RANDOM_CHARS] = 0;
}

/* Whether NAME (a folder entry) is a temporary of this naming scheme from host HOST: with an
 * SQLite suffix, *journal says which (-1: none). */
static int is_our_temp_name(const char *name, const char *host, int *journal)
{
    size_t n = strlen(name);
    *journal = -1;
    for (size_t j = 0; j < JOURNAL_COUNT; j++) {
        size_t k = strlen(JOURNALS[j]);
        if (n > k && strcmp(name + n - k, JOURNALS[j]) == 0) {
            *journal = (int)j;
            n -= k;
            break;
        }
    }
    /* from the right: .<random> */
    if (n < RANDOM_CHARS + 1 || name[n - RANDOM_CHARS - 1] != '.')
        return 0;
    for (size_t i = n - RANDOM_CHARS; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return 0;
    n -= RANDOM_CHARS + 1;
    /* .<pid> */
    size_t digits = 0;
    while (digits < n && name[n - 1 - digits] >= '0' && name[n - 1 - digits] <= '9')
        digits++;
    if (digits == 0 || digits == n || name[n - 1 - digits] != '.')
        return 0;
    n -= digits + 1;
    /* .tmp.<host> */
    size_t h = strlen(host), m = strlen(TEMP_MARK);
    if (n < h + m || strncmp(name + n - h, host, h) != 0)
        return 0;
    n -= h;
    return n > m && strncmp(name + n - m, TEMP_MARK, m) == 0;
}

/* Removes the temporary at path if it is provably stale: a regular file of ours that nobody
 * holds locked. The lock is taken on the file we opened, then we check that the name still
 * leads to it, so a file created meanwhile under the same name is never removed. */
static void remove_if_stale(int dir_fd, const char *name, int journal)
{
    struct stat st, now;
    if (journal >= 0) {
        /* a journal is stale when its database temporary is gone (when that temporary is
         * stale, its journals go with it) */
        char base[NAME_MAX + 1];
        size_t n = strlen(name) - strlen(JOURNALS[journal]);
        if (n >= sizeof base)
            return;
        memcpy(base, name, n);
        base[n] = 0;
        if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT &&
            fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(now.st_mode) &&
            now.st_uid == geteuid())
            unlinkat(dir_fd, name, 0);
        return;
    }
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
        now.st_ino == st.st_ino) {
        unlinkat(dir_fd, name, 0);
        for (size_t j = 0; j < JOURNAL_COUNT; j++) {
            char side[NAME_MAX + 1];
            if (snprintf(side, sizeof side, "%s%s", name, JOURNALS[j]) < (int)sizeof side)
                unlinkat(dir_fd, side, 0);
        }
    }
    close(fd);
}

/* The stale temporaries of folder dir, once per folder and process (under temps_lock). */
static void clean_folder(const char *dir, const char *host)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return;
    struct stat st;
    if (fstat(dir_fd, &st) != 0) {
        close(dir_fd);
        return;
    }
    for (size_t i = 0; i < cleaned_count; i++)
        if (cleaned[i].dev == st.st_dev && cleaned[i].ino == st.st_ino) {
            close(dir_fd);
            return;
        }
    if (cleaned_count < CLEANED_FOLDERS) {
        cleaned[cleaned_count].dev = st.st_dev;
        cleaned[cleaned_count++].ino = st.st_ino;
    }
    int scan_fd = dup(dir_fd);
    DIR *d = scan_fd >= 0 ? fdopendir(scan_fd) : NULL;
    if (!d) {
        if (scan_fd >= 0)
            close(scan_fd);
        close(dir_fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        int journal;
        if (strstr(entry->d_name, TEMP_MARK) && is_our_temp_name(entry->d_name, host, &journal))
            remove_if_stale(dir_fd, entry->d_name, journal);
    }
    closedir(d);
    close(dir_fd);
}

static long list_temp(const char *path)
{
    for (size_t i = 0; i < temps_capacity; i++)
        if (!temps[i]) {
            temps[i] = (char *)path;
            return (long)i;
        }
    size_t cap = temps_capacity ? 2 * temps_capacity : 16;
    char **grown = realloc(temps, cap * sizeof *grown);
    if (!grown)
        return -1;
    memset(grown + temps_capacity, 0, (cap - temps_capacity) * sizeof *grown);
    temps = grown;
    long slot = (long)temps_capacity;
    temps_capacity = cap;
    temps[slot] = (char *)path;
    return slot;
}

static void unlist_temp(fr_temp *t)
{
    if (t->slot >= 0 && (size_t)t->slot < temps_capacity)
        temps[t->slot] = NULL;
    t->slot = -1;
}

/* The folder part of path ("." for a bare name), malloc'ed. */
static char *folder_of(const char *path)
{
    char *copy = fr_strdup(path);
    if (!copy)
        return NULL;
    char *dir = fr_strdup(dirname(copy));
    free(copy);
    return dir;
}

/* Creates, locks and lists a temporary beside final_path: 0, or the errno of the failure. */
static int temp_open(const char *final_path, const char *dir, fr_temp *out)
{
    out->fd = -1;
    out->path = NULL;
    out->slot = -1;
    char host[HOST_CHARS + 1];
    host_token(host);
    size_t n = strlen(final_path) + strlen(TEMP_MARK) + HOST_CHARS + 24 + RANDOM_CHARS;
    char *path = malloc(n);
    if (!path)
        return ENOMEM;
    pthread_mutex_lock(&temps_lock);
    if (temps_closed) {
        pthread_mutex_unlock(&temps_lock);
        free(path);
        return EINTR;
    }
    clean_folder(dir, host);
    int fd = -1, e = 0;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        char token[RANDOM_CHARS + 1];
        random_token(token);
        snprintf(path, n, "%s%s%s.%ld.%s", final_path, TEMP_MARK, host, (long)getpid(), token);
        /* read-write: a set's members are hashed through their descriptors */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0666);
        e = fd < 0 ? errno : 0;
        if (fd < 0 && e != EEXIST)
            break;
        if (fd < 0)
            continue;
        /* locked, then checked to be still the file of that name: a cleaner in another
         * process may have taken the instant between open and flock for a stale file */
        struct stat mine, named;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &mine) != 0 ||
            lstat(path, &named) != 0 || mine.st_ino != named.st_ino ||
            mine.st_dev != named.st_dev) {
            close(fd);
            fd = -1;
            e = EEXIST;
        }
    }
    long slot = fd >= 0 ? list_temp(path) : -1;
    if (fd >= 0 && slot < 0) {
        unlink(path);
        close(fd);
        fd = -1;
        e = ENOMEM;
    }
    pthread_mutex_unlock(&temps_lock);
    if (fd < 0) {
        free(path);
        return e ? e : EEXIST;
    }
    out->fd = fd;
    out->path = path;
    out->slot = slot;
    return 0;
}

/* The reason a temporary could not be made in dir, in words. */
static const char *temp_error(int e)
{
    if (e == ENOENT)
        return "no such folder";
    if (e == EINTR)
        return "the run is stopping";
    return strerror(e);
}

fr_status fr_temp_create(const char *final_path, fr_temp *out)
{
    char *dir = folder_of(final_path);
    if (!dir)
        return FR_E_NOMEM;
    int e = temp_open(final_path, dir, out);
    fr_status st = FR_OK;
    if (e == ENOMEM)
        st = fr_fail(FR_E_NOMEM, "%s: out of memory", final_path);
    else if (e)
        st = fr_fail(FR_E_IO, "%s: cannot write in %s: %s", final_path, dir, temp_error(e));
    free(dir);
    return st;
}

fr_status fr_temp_rename(fr_temp *t, const char *final_path)
{
    pthread_mutex_lock(&temps_lock);
    int e = temps_closed ? EINTR : rename(t->path, final_path) == 0 ? 0 : errno;
    if (!e)
        unlist_temp(t);
    pthread_mutex_unlock(&temps_lock);
    if (e)
        return fr_fail(FR_E_IO, "%s: cannot rename into place: %s", final_path,
                       e == EINTR ? "the run is stopping" : strerror(e));
    free(t->path);
    t->path = NULL;
    return FR_OK;
}

static void unlink_with_journals(const char *path)
{
    unlink(path);
    for (size_t j = 0; j < JOURNAL_COUNT; j++) {
        char side[4200];
        if (snprintf(side, sizeof side, "%s%s", path, JOURNALS[j]) < (int)sizeof side)
            unlink(side);
    }
}

void fr_temp_discard(fr_temp *t)
{
    pthread_mutex_lock(&temps_lock);
    if (t->path && t->slot >= 0)
        unlink_with_journals(t->path);
    unlist_temp(t);
    pthread_mutex_unlock(&temps_lock);
    if (t->fd >= 0)
        close(t->fd);
    free(t->path);
    t->fd = -1;
    t->path = NULL;
}

void fr_temps_discard_all(void)
{
    pthread_mutex_lock(&temps_lock);
    temps_closed = 1;
    for (size_t i = 0; i < temps_capacity; i++)
        if (temps[i]) {
            unlink_with_journals(temps[i]);
            temps[i] = NULL;
        }
    pthread_mutex_unlock(&temps_lock);
}

fr_status fr_folder_check_writable(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return fr_fail(FR_E_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fr_fail(FR_E_IO, "%s: not a directory", dir);
    size_t n = strlen(dir) + 32;
    char *probe = fr_malloc(n, "a file name");
    if (!probe)
        return FR_E_NOMEM;
    snprintf(probe, n, "%s/.facerec-probe", dir);
    fr_temp t;
    int e = temp_open(probe, dir, &t);
    free(probe);
    if (e)
        return fr_fail(e == ENOMEM ? FR_E_NOMEM : FR_E_IO, "%s: cannot create files there: %s",
                       dir, temp_error(e));
    fr_temp_discard(&t);
    return FR_OK;
}

/* ---- outputs -------------------------------------------------------------------------------- */

/* How an output name is written: 1 streamed, 0 through a temporary; an error if refused. */
static fr_status choose_mode(const char *path, int flags, int *stream)
{
    struct stat st;
    *stream = 0;
    if (stat(path, &st) != 0)
        return FR_OK; /* missing, or a dangling symlink: a temporary renamed over the name */
    if (S_ISREG(st.st_mode))
        return FR_OK;
    if (S_ISDIR(st.st_mode))
        return fr_fail(FR_E_IO, "%s: is a directory", path);
    if ((S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) && !(flags & FR_OUTPUT_REGULAR)) {
        *stream = 1;
        return FR_OK;
    }
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
        return fr_fail(FR_E_INVALID, "%s: not a regular file (%s): this output must be a file",
                       path, fr_file_kind(st.st_mode));
    return fr_fail(FR_E_INVALID, "%s: not a regular file (%s): refused as an output", path,
                   fr_file_kind(st.st_mode));
}

fr_status fr_output_open(fr_output *out, const char *path, int flags)
{
    memset(out, 0, sizeof *out);
    out->temp.fd = -1;
    out->temp.slot = -1;
    if (strcmp(path, "-") == 0) {
        if (flags & FR_OUTPUT_REGULAR)
            return fr_fail(FR_E_INVALID, "-: this output must be a file, not standard output");
        out->file = stdout;
        out->stream = 1;
        return FR_OK;
    }
    fr_status st = choose_mode(path, flags, &out->stream);
    if (st)
        return st;
    out->path = fr_strdup(path);
    if (!out->path)
        return FR_E_NOMEM;
    if (out->stream) {
        /* no O_CREAT: the device or FIFO is there; a FIFO waits here for its reader */
        int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        out->file = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!out->file) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            fr_output_abort(out);
            return fr_fail(FR_E_IO, "%s: cannot write: %s", path, strerror(e));
        }
        return FR_OK;
    }
    st = fr_temp_create(path, &out->temp);
    if (!st) {
        out->file = fdopen(out->temp.fd, "wb");
        if (!out->file)
            st = fr_fail(FR_E_NOMEM, "%s: cannot write: %s", path, strerror(errno));
    }
    if (st)
        fr_output_abort(out);
    return st;
}

/* Flushes and syncs an output's temporary, closing nothing: 0, or the errno of the first call
 * that failed (EIO when only the stream's error flag says so). */
static int flush_output(fr_output *out)
{
    int e = ferror(out->file) ? EIO : 0;
    if (fflush(out->file) != 0 && (!e || e == EIO))
        e = errno ? errno : EIO;
    if (!out->stream && fsync(fileno(out->file)) != 0 && errno != EINVAL && !e)
        e = errno;
    return e;
}

/* The stream closed (the temporary's descriptor with it; a renamed one keeps its name). */
static int close_output(fr_output *out)
{
    int e = 0;
    if (out->file && out->file != stdout && fclose(out->file) != 0)
        e = errno;
    out->file = NULL;
    out->temp.fd = -1;
    return e;
}

static void forget_output(fr_output *out)
{
    free(out->path);
    out->path = NULL;
}

fr_status fr_output_commit(fr_output *out)
{
    if (!out->file)
        return fr_fail(FR_E_INTERNAL, "commit of an output that is not open");
    const char *name = out->path ? out->path : "standard output";
    int e = flush_output(out);
    if (!e && !out->stream && fr_temp_rename(&out->temp, out->path)) {
        char why[1200];
        fr_error_save(why, sizeof why);
        fr_output_abort(out);
        fr_error_restore(why);
        return FR_E_IO;
    }
    int closed = close_output(out);
    if (!e && out->stream)
        e = closed;
    if (e) {
        char what[1200];
        snprintf(what, sizeof what, "%s: write failed: %s", name, strerror(e));
        fr_output_abort(out);
        return fr_fail(FR_E_IO, "%s", what);
    }
    forget_output(out);
    return FR_OK;
}

void fr_output_abort(fr_output *out)
{
    close_output(out);
    if (out->temp.path) {
        out->temp.fd = -1; /* closed with the stream */
        fr_temp_discard(&out->temp);
    }
    forget_output(out);
}

/* ---- sets ----------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int same_folder(const char *a, const char *b)
{
    size_t na = (size_t)(base_name(a) - a), nb = (size_t)(base_name(b) - b);
    return na == nb && strncmp(a, b, na) == 0;
}

fr_status fr_output_commit_set(fr_output *outs, size_t count, const char *record)
{
    fr_status st = FR_OK;
    fr_output rec;
    memset(&rec, 0, sizeof rec);
    rec.temp.fd = -1;
    for (size_t i = 0; i < count && !st; i++)
        if (!outs[i].file || outs[i].stream || !same_folder(outs[i].path, record))
            st = fr_fail(FR_E_INTERNAL, "a set of outputs must be regular files in one folder");
    if (!st)
        st = fr_output_open(&rec, record, FR_OUTPUT_REGULAR);
    if (!st)
        fprintf(rec.file, "# written together by facerec; check with: sha256sum -c %s\n",
                base_name(record));
    for (size_t i = 0; i < count && !st; i++) {
        int e = flush_output(&outs[i]);
        char hex[65];
        if (e)
            st = fr_fail(FR_E_IO, "%s: write failed: %s", outs[i].path, strerror(e));
        else
            st = fr_sha256_fd(fileno(outs[i].file), outs[i].path, hex, NULL);
        if (!st)
            fprintf(rec.file, "%s  %s\n", hex, base_name(outs[i].path));
    }
    /* the record first: from here on a mix of old and new members disagrees with it */
    if (!st)
        st = fr_output_commit(&rec);
    for (size_t i = 0; i < count && !st; i++)
        st = fr_temp_rename(&outs[i].temp, outs[i].path);
    if (st) {
        char why[1200];
        fr_error_save(why, sizeof why);
        fr_output_abort(&rec);
        for (size_t i = 0; i < count; i++)
            fr_output_abort(&outs[i]);
        fr_error_restore(why);
        return st;
    }
    for (size_t i = 0; i < count; i++) {
        close_output(&outs[i]);
        forget_output(&outs[i]);
    }
    return FR_OK;
}

/* The record's line for member NAME: its digest into hex, 1 when found. */
static int find_in_record(char *text, const char *name, char hex[65])
{
    for (char *cursor = text, *line; (line = fr_next_line(&cursor)) != NULL;) {
        if (line[0] == '#' || strlen(line) < 66)
            continue;
        const char *file = line + 66; /* "<64 hex>  name" or "<64 hex> *name" */
        if ((line[64] == ' ' && (line[65] == ' ' || line[65] == '*')) && strcmp(file, name) == 0) {
            memcpy(hex, line, 64);
            hex[64] = 0;
            return 1;
        }
    }
    return 0;
}

fr_status fr_output_set_check(const char *record, const char *const *members, size_t count,
                              int *checked)
{
    *checked = 0;
    struct stat st;
    if (lstat(record, &st) != 0 && errno == ENOENT)
        return FR_OK;
    void *text = NULL;
    size_t size;
    fr_status status = fr_file_read(record, (size_t)1 << 20, &text, &size);
    for (size_t i = 0; i < count && !status; i++) {
        char want[65], got[65];
        char *copy = fr_strdup(text);
        if (!copy) {
            status = FR_E_NOMEM;
            break;
        }
        int listed = find_in_record(copy, base_name(members[i]), want);
        free(copy);
        int fd;
        if (!listed) {
            status = fr_fail(FR_E_FORMAT, "%s: not listed in %s, which belongs to the files "
                             "beside it: they were not written together (delete %s if that "
                             "is intended)", members[i], record, record);
            break;
        }
        status = fr_file_open_regular(members[i], &fd, &st);
        if (status)
            break;
        status = fr_sha256_fd(fd, members[i], got, NULL);
        close(fd);
        if (!status && strcmp(want, got) != 0)
            status = fr_fail(FR_E_FORMAT, "%s does not match %s: it was not written together "
                             "with the files listed there (a run interrupted while replacing "
                             "them, two runs writing the same names, or an edit); run the "
                             "command that wrote them again, or delete %s if the change was "
                             "intended", members[i], record, record);
    }
    free(text);
    if (!status)
        *checked = 1;
    return status;
}

char *fr_side_path(const char *output, const char *suffix)
{
    size_t n = strlen(output);
    if (n > 4 && strcmp(output + n - 4, ".npy") == 0)
        n -= 4;
    char *name = fr_malloc(n + strlen(suffix) + 1, "a file name");
    if (!name)
        return NULL;
    memcpy(name, output, n);
    strcpy(name + n, suffix);
    return name;
}
