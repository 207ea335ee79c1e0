/* distmat.c: streaming a distance matrix into a .npy file. */
#include "match/distmat.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"

typedef struct matrix_file {
    int fd;
    const char *path;
    size_t data_offset; /* bytes before element (0, 0) */
    size_t m;           /* row length in elements */
    size_t row0;        /* the matrix row the file's first row is */
} matrix_file;

static fr_status write_at(const matrix_file *f, const void *data, size_t bytes, size_t offset)
{
    const char *p = data;
    while (bytes) {
        ssize_t w = pwrite(f->fd, p, bytes, (off_t)offset);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fr_fail(FR_E_IO, "%s: write failed: %s", f->path,
                           w < 0 ? strerror(errno) : "no progress");
        p += w;
        bytes -= (size_t)w;
        offset += (size_t)w;
    }
    return FR_OK;
}

static fr_status write_tile(void *ctx, size_t row0, size_t col0, size_t rows, size_t cols,
                            const float *tile, size_t ld)
{
    const matrix_file *f = ctx;
    size_t row_bytes = f->m * sizeof(float);
    row0 -= f->row0;
    /* a tile spanning whole rows is one contiguous write */
    if (col0 == 0 && cols == f->m && ld == cols)
        return write_at(f, tile, rows * row_bytes, f->data_offset + row0 * row_bytes);
    for (size_t r = 0; r < rows; r++) {
        fr_status st = write_at(f, tile + r * ld, cols * sizeof(float),
                                f->data_offset + (row0 + r) * row_bytes + col0 * sizeof(float));
        if (st)
            return st;
    }
    return FR_OK;
}

fr_status fr_distmat_write(fr_distance_engine *engine, const float *a, size_t n, const float *b,
                           size_t m, size_t dim, fr_output *out)
{
    return fr_distmat_write_rows(engine, a, n, b, m, dim, 0, n, out);
}

fr_status fr_distmat_write_rows(fr_distance_engine *engine, const float *a, size_t n,
                                const float *b, size_t m, size_t dim, size_t row0, size_t row1,
                                fr_output *out)
{
    if (!b)
        m = n;
    const char *path = out->path;
    if (row0 > row1 || row1 > n)
        return fr_fail(FR_E_INVALID, "%s: rows [%zu, %zu) of %zu", path, row0, row1, n);
    size_t rows = row1 - row0, bytes;
    if (!fr_mul_size(rows, m, &bytes) || !fr_mul_size(bytes, sizeof(float), &bytes))
        return fr_fail(FR_E_TOO_LARGE, "%s: a %zu x %zu matrix is too large", path, rows, m);
    if (out->stream)
        return fr_fail(FR_E_INVALID, "a distance matrix is written in tiles to a file, not to "
                       "standard output or a device");
    size_t shape[2] = {rows, m};
    fr_status st = fr_npy_write_header(out->file, FR_NPY_F32, 2, shape);
    long header = ftell(out->file);
    if (!st && (fflush(out->file) != 0 || header <= 0))
        st = fr_fail(FR_E_IO, "%s: cannot write: %s", path, strerror(errno));
    matrix_file f = {fileno(out->file), path, (size_t)header, m, row0};
    /* The full size at once: a disk that cannot hold it fails now, not at the last tile.
     * Where the file system cannot reserve space, a sparse file of the right size does. */
    if (!st) {
        int e = posix_fallocate(f.fd, 0, (off_t)(f.data_offset + bytes));
        if (e == ENOSPC || e == EFBIG)
            st = fr_fail(FR_E_IO, "%s: no room for %zu bytes: %s", path, f.data_offset + bytes,
                         strerror(e));
        else if (e && ftruncate(f.fd, (off_t)(f.data_offset + bytes)) != 0)
            st = fr_fail(FR_E_IO, "%s: cannot size to %zu bytes: %s", path,
                         f.data_offset + bytes, strerror(errno));
    }
    if (!st)
        st = fr_distance_all_pairs_rows(engine, a, n, b, m, dim, row0, row1, write_tile, &f);
    return st;
}
