/* file.c: reading inputs whole or mapped, and writing outputs atomically. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

fr_status fr_file_read(const char *path, size_t max_size, void **data, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fr_fail(FR_E_IO, "%s: is a directory", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fr_fail(FR_E_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        close(fd);
        return fr_fail(FR_E_TOO_LARGE, "%s: file of %lld bytes is over the %zu-byte limit", path,
                       (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buffer = fr_malloc(n + 1, path);
    if (!buffer) {
        close(fd);
        return FR_E_NOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buffer + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(buffer);
            close(fd);
            return fr_fail(FR_E_IO, "%s: %s", path, e ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    buffer[n] = 0; /* lets text parsers treat the buffer as a string */
    *data = buffer;
    *size = n;
    return FR_OK;
}

fr_status fr_file_map(const char *path, fr_mapping *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fr_fail(FR_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return fr_fail(FR_E_FORMAT, "%s: empty file", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return fr_fail(FR_E_IO, "%s: cannot map: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return FR_OK;
}

void fr_file_unmap(fr_mapping *mapping)
{
    if (mapping && mapping->data)
        munmap((void *)mapping->data, mapping->size);
    if (mapping) {
        mapping->data = NULL;
        mapping->size = 0;
    }
}

fr_status fr_output_open(fr_output *out, const char *path, int binary)
{
    memset(out, 0, sizeof *out);
    (void)binary; /* POSIX has no text mode */
    if (strcmp(path, "-") == 0) {
        out->file = stdout;
        return FR_OK;
    }
    out->path = fr_strdup(path);
    size_t n = strlen(path) + 32;
    out->tmp_path = fr_malloc(n, "a file name");
    if (!out->path || !out->tmp_path) {
        fr_output_abort(out);
        return FR_E_NOMEM;
    }
    snprintf(out->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    out->file = fopen(out->tmp_path, "wb");
    if (!out->file) {
        int e = errno;
        fr_output_abort(out);
        return fr_fail(FR_E_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return FR_OK;
}

fr_status fr_output_commit(fr_output *out)
{
    if (!out->file)
        return fr_fail(FR_E_INTERNAL, "commit of an output that is not open");
    if (out->file == stdout) {
        out->file = NULL;
        if (fflush(stdout) != 0)
            return fr_fail(FR_E_IO, "standard output: %s", strerror(errno));
        if (ferror(stdout))
            return fr_fail(FR_E_IO, "standard output: write failed");
        return FR_OK;
    }
    /* the reason is the errno of the first call that failed (EIO if only the stream's error
     * flag says so) */
    int e = 0, failed = ferror(out->file) != 0;
    if (fflush(out->file) != 0 && !e)
        failed = 1, e = errno;
    if (fsync(fileno(out->file)) != 0 && errno != EINVAL && !e)
        failed = 1, e = errno;
    if (fclose(out->file) != 0 && !e)
        failed = 1, e = errno;
    out->file = NULL;
    if (failed) {
        char what[1200];
        snprintf(what, sizeof what, "%s: write failed: %s", out->path, strerror(e ? e : EIO));
        fr_output_abort(out);
        return fr_fail(FR_E_IO, "%s", what);
    }
    if (rename(out->tmp_path, out->path) != 0) {
        e = errno;
        char what[1200];
        snprintf(what, sizeof what, "%s: cannot rename into place: %s", out->path, strerror(e));
        fr_output_abort(out);
        return fr_fail(FR_E_IO, "%s", what);
    }
    free(out->tmp_path);
    free(out->path);
    out->tmp_path = out->path = NULL;
    return FR_OK;
}

void fr_output_abort(fr_output *out)
{
    if (out->file && out->file != stdout)
        fclose(out->file);
    out->file = NULL;
    if (out->tmp_path)
        unlink(out->tmp_path);
    free(out->tmp_path);
    free(out->path);
    out->tmp_path = out->path = NULL;
}

char *fr_next_line(char **cursor)
{
    char *line = *cursor;
    if (!line)
        return NULL;
    char *end = strchr(line, '\n');
    *cursor = end ? end + 1 : NULL;
    if (end)
        *end = 0;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r')
        line[len - 1] = 0;
    return line;
}
