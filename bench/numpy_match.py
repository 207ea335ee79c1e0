"""numpy_match.py: the numpy peer of bench_match.c, run by it in the same invocation.

    numpy_match.py nearest PROBES.npy GALLERY.npy M K OUT.bin
        the K nearest of the first M gallery rows for every probe: |b|^2 - 2 a.b by matrix
        product, np.argpartition for the K smallest, then those K sorted. Probes go in chunks
        so that one chunk's distance block and argpartition's int64 indices of it stay under
        1 GiB (a 10k x 1M float32 block alone would be 40 GB); the chunking is the only
        change from the textbook one-liner.
        Writes the K indices per probe (int64) to OUT.bin; prints the seconds.
    numpy_match.py distmat ROWS.npy N OUT.npy
        all distances between the first N rows, sqrt(max(0, |a|^2 + |b|^2 - 2 a.b)), saved
        with np.save and synced to disk (as facerec's writer does). Prints the seconds.
    numpy_match.py distances ROWS.npy N
        the same, computed and dropped (no file): the arithmetic alone.
    numpy_match.py compare A.npy B.npy
        the largest absolute difference between two matrices, read in row blocks.

Inputs are memory-mapped .npy files, so reading them costs no time in the figures and their
pages count in the peak memory of both sides alike.
"""
import os
import sys
import time

import numpy as np

BLOCK_BYTES = 1 << 30


def nearest(probes_path, gallery_path, m, k, out_path):
    a = np.load(probes_path, mmap_mode="r")
    b = np.load(gallery_path, mmap_mode="r")[:m]
    start = time.perf_counter()
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    nb = np.einsum("ij,ij->i", b, b)
    # a chunk's float32 block and argpartition's int64 indices of it
    chunk = max(1, BLOCK_BYTES // (12 * m))
    result = np.empty((a.shape[0], k), dtype=np.int64)
    for i in range(0, a.shape[0], chunk):
        d = a[i:i + chunk] @ b.T
        d *= -2
        d += nb
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d, part, axis=1), axis=1)
        result[i:i + chunk] = np.take_along_axis(part, order, axis=1)
    seconds = time.perf_counter() - start
    result.tofile(out_path)
    print(f"{seconds:.4f}")


def distances(a):
    a = np.ascontiguousarray(a)
    na = np.einsum("ij,ij->i", a, a)
    d = a @ a.T
    d *= -2
    d += na[:, None]
    d += na[None, :]
    np.maximum(d, 0, out=d)
    np.sqrt(d, out=d)
    return d


def distmat(rows_path, n, out_path):
    a = np.load(rows_path, mmap_mode="r")[:n]
    start = time.perf_counter()
    if out_path is None:
        distances(a)
        print(f"{time.perf_counter() - start:.4f}")
        return
    d = distances(a)
    with open(out_path, "wb") as f:
        np.save(f, d)
        f.flush()
        os.fsync(f.fileno())
    print(f"{time.perf_counter() - start:.4f}")


def compare(a_path, b_path):
    a = np.load(a_path, mmap_mode="r")
    b = np.load(b_path, mmap_mode="r")
    assert a.shape == b.shape, (a.shape, b.shape)
    worst = 0.0
    for i in range(0, a.shape[0], 1024):
        worst = max(worst, float(np.abs(a[i:i + 1024] - b[i:i + 1024]).max()))
    print(f"{worst:.3g}")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "nearest":
        nearest(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif what == "distmat":
        distmat(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif what == "distances":
        distmat(sys.argv[2], int(sys.argv[3]), None)
    elif what == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown mode {what}")
