/*
 * weights.h: the facerec weights file (.frw): self-describing, versioned, mmap-able, checked.
 *
 *   offset  size  field
 *   0       8     magic "FRWEIGHT"
 *   8       4     format version (u32, currently 2)
 *   12      4     flags (u32, 0)
 *   16      8     data_offset (u64, a multiple of 64): where tensor data starts
 *   24      8     number of metadata entries (u64)
 *   32      8     number of tensors (u64)
 *   40      32    checksum: SHA-256 of the whole file with these 32 bytes read as zeros
 *                 (version 2; version 1 files have no such field: metadata starts at 40)
 *   72      ...   metadata: key (u32 length + bytes), type (u32: 0 string, 1 int64,
 *                 2 float64), value (string: u32 length + bytes; numbers: 8 bytes)
 *           ...   tensor table: name (u32 length + bytes), dtype (u32: 0 float32),
 *                 ndim (u32, <= 4), dims (ndim x u64), offset (u64, from data_offset,
 *                 a multiple of 64)
 *   data_offset   tensor data, each tensor 64-byte aligned
 *
 * All integers little-endian. Tensors keep the names and layouts of the source model (e.g.
 * Keras "Conv2d_1a_3x3/kernel" as (kh, kw, c_in, c_out)); the architecture builders fold
 * batch-norm and change layouts at load time, so a file stays a faithful copy of its source.
 * Metadata keys written by the converters: arch, input_size, embedding_size, preprocess,
 * source, source_sha256, converter.
 *
 * Loading verifies the checksum (one pass over the mapped file, which the builders read next
 * anyway; its cost is measured by bench/bench_weights, bench/RESULTS.md) and refuses any NaN
 * or infinite value in a tensor, so a damaged or tampered file never runs: before version 2,
 * all-NaN, infinite and bit-flipped weights loaded and produced embeddings that enrolled into
 * existing databases (whose model check compares the metadata alone). Version 1 files, written before, still
 * load (a converted irv1.frw may have no source left to convert again) with the value check
 * but without the checksum; `facerec info` says so, and `facerec convert --from frw OLD -o NEW`
 * rewrites one as version 2. Writers refuse non-finite values.
 */
#ifndef FR_MODEL_WEIGHTS_H
#define FR_MODEL_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#define FR_WEIGHTS_VERSION 2
#define FR_WEIGHTS_CHECKSUM_OFFSET 40
#define FR_WEIGHTS_MAX_DIMS 4
/* The most elements one tensor may have (1 GiB of float32; irv1's largest has 1.2 M): a bound
 * on what a converter allocates for a shape read from an untrusted file. */
#define FR_WEIGHTS_MAX_ELEMENTS ((size_t)1 << 28)

typedef struct fr_weights fr_weights;

typedef struct fr_weights_tensor {
    const char *name;
    int ndim;
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    size_t count;
    const float *data; /* inside the mapping */
} fr_weights_tensor;

fr_status fr_weights_open(const char *path, fr_weights **out);
void fr_weights_close(fr_weights *weights);
const char *fr_weights_path(const fr_weights *weights);
/* The format version read (1 or 2) and, for version 2, the verified checksum as hex (NULL
 * for version 1, which has none). */
int fr_weights_version(const fr_weights *weights);
const char *fr_weights_checksum(const fr_weights *weights);

/* Metadata lookups: NULL / 0 when the key is absent or of another type. */
const char *fr_weights_meta_string(const fr_weights *weights, const char *key);
int fr_weights_meta_int(const fr_weights *weights, const char *key, int64_t *value);
int fr_weights_meta_float(const fr_weights *weights, const char *key, double *value);

size_t fr_weights_tensor_count(const fr_weights *weights);
const fr_weights_tensor *fr_weights_tensor_at(const fr_weights *weights, size_t index);
const fr_weights_tensor *fr_weights_find(const fr_weights *weights, const char *name);

/* The tensor `name` with exactly this shape, or an error naming the tensor, both shapes
 * and how to regenerate the file. */
fr_status fr_weights_require(const fr_weights *weights, const char *name, int ndim,
                             const int64_t *dims, const float **data);

/* Writing: collect metadata and tensors (copied), then save atomically. */
typedef struct fr_weights_writer fr_weights_writer;

fr_weights_writer *fr_weights_writer_new(void);
void fr_weights_writer_free(fr_weights_writer *writer);
fr_status fr_weights_writer_string(fr_weights_writer *writer, const char *key, const char *value);
fr_status fr_weights_writer_int(fr_weights_writer *writer, const char *key, int64_t value);
fr_status fr_weights_writer_float(fr_weights_writer *writer, const char *key, double value);
fr_status fr_weights_writer_tensor(fr_weights_writer *writer, const char *name, int ndim,
                                   const int64_t *dims, const float *data);
fr_status fr_weights_writer_save(fr_weights_writer *writer, const char *path);
/* Adds every metadata entry of weights, and every tensor except those named in skip (a
 * NULL-terminated list, or NULL): a modified copy of a file (`facerec train`). */
fr_status fr_weights_writer_copy(fr_weights_writer *writer, const fr_weights *weights,
                                 const char *const *skip);

#endif
