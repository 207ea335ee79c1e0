/* file.c: reading inputs whole or mapped; only regular files, refused before they could block. */
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

const char *fr_file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "a special file";
}

fr_status fr_file_open_regular(const char *path, int *fd_out, struct stat *st)
{
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer; on a regular file the
     * flag changes nothing */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        if (S_ISDIR(st->st_mode))
            return fr_fail(FR_E_IO, "%s: is a directory", path);
        return fr_fail(FR_E_IO, "%s: not a regular file (%s): refused", path, fr_file_kind(st->st_mode));
    }
    *fd_out = fd;
    return FR_OK;
}

fr_status fr_file_read(const char *path, size_t max_size, void **data, size_t *size)
{
    int fd;
    struct stat st;
    fr_status status = fr_file_open_regular(path, &fd, &st);
    if (status)
        return status;
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
    int fd = -1; /* set on success (gcc, inlining, cannot see it) */
    struct stat st;
    fr_status status = fr_file_open_regular(path, &fd, &st);
    if (status)
        return status;
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
