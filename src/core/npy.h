/*
 * npy.h: NumPy .npy files (format 1.0/2.0), the interchange format of embeddings and
 * distance matrices. Little-endian, C order (Fortran-ordered files are read into C order);
 * float32 ("<f4") and uint8 ("|u1").
 */
#ifndef FR_CORE_NPY_H
#define FR_CORE_NPY_H

#include <stddef.h>
#include <stdio.h>

#include "facerec.h"

#define FR_NPY_MAX_DIMS 8

typedef enum fr_npy_dtype { FR_NPY_F32, FR_NPY_U8 } fr_npy_dtype;

typedef struct fr_npy {
    fr_npy_dtype dtype;
    int ndim;
    size_t shape[FR_NPY_MAX_DIMS];
    size_t count; /* product of the shape */
    void *data;   /* malloc'ed, count elements */
} fr_npy;

fr_status fr_npy_load(const char *path, fr_npy *out);
/* Parses the header of a .npy held in memory (bytes: its first size bytes, at least the whole
 * header): the array's dtype, shape and count (no data) and where its data starts. A Fortran
 * order array is refused (a reader of the raw data would misread it). */
fr_status fr_npy_parse_header(const char *path, const void *bytes, size_t size, fr_npy *out,
                              size_t *data_offset);
/* A float32 (N, D) array of embeddings, D > 0, every value finite (a NaN or infinity is
 * refused naming its row: distances to it mean nothing). */
fr_status fr_npy_load_embeddings(const char *path, fr_npy *out);
void fr_npy_free(fr_npy *array);

/* Writes the header of an array whose data will follow (count elements, streamed). */
fr_status fr_npy_write_header(FILE *file, fr_npy_dtype dtype, int ndim, const size_t *shape);
/* Header and data to an open file (path names it in an error). */
fr_status fr_npy_write(FILE *file, const char *path, fr_npy_dtype dtype, int ndim,
                       const size_t *shape, const void *data);
/* Header and data at once, atomically (temporary file + rename). */
fr_status fr_npy_save(const char *path, fr_npy_dtype dtype, int ndim, const size_t *shape,
                      const void *data);

#endif
