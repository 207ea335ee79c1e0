#!/usr/bin/python3
"""Embeddings of the images in a `facerec train` feature cache (learn/features.h), without
running the network again: the cached features times the base model's fc (dlib, 256 -> 128),
L2-normalized, which is what `facerec embed` computes for them (the last layer applied to the
same features). Writes OUT.npy and OUT.paths for `facerec cluster`.

  cache_embeddings.py CACHE.features WEIGHTS.frw OUT.npy
"""
import struct
import sys

import numpy as np


def frw_tensor(path, wanted):
    d = open(path, "rb").read()
    version = struct.unpack("<I", d[8:12])[0]
    data_offset, nmeta, ntensors = struct.unpack("<QQQ", d[16:40])
    off = 40 if version == 1 else 72  # format 2 has its checksum at 40..72

    def string():
        nonlocal off
        n = struct.unpack("<I", d[off:off + 4])[0]
        off += 4 + n
        return d[off - n:off].decode()
    for _ in range(nmeta):
        string()
        kind = struct.unpack("<I", d[off:off + 4])[0]
        off += 4
        if kind == 0:
            string()
        else:
            off += 8
    for _ in range(ntensors):
        name = string()
        _, ndim = struct.unpack("<II", d[off:off + 8])
        off += 8
        dims = struct.unpack("<%dQ" % ndim, d[off:off + 8 * ndim])
        off += 8 * ndim
        o = struct.unpack("<Q", d[off:off + 8])[0]
        off += 8
        if name == wanted:
            return np.frombuffer(d, np.float32, int(np.prod(dims)), data_offset + o).reshape(dims)
    raise SystemExit("no tensor " + wanted)


def cache_rows(path):
    d = open(path, "rb").read()
    assert d[:8] == b"FRFEATS1"
    dim, _, count = struct.unpack("<IIQ", d[8:24])
    off = 24
    n = struct.unpack("<I", d[off:off + 4])[0]
    off += 4 + n
    paths, rows = [], []
    for _ in range(count):
        n = struct.unpack("<I", d[off:off + 4])[0]
        p = d[off + 4:off + 4 + n].decode()
        off += 4 + n + 24
        status = struct.unpack("<I", d[off:off + 4])[0]
        off += 4
        n = struct.unpack("<I", d[off:off + 4])[0]
        off += 4 + n + 64
        if status == 0:
            rows.append(np.frombuffer(d, np.float32, dim, off))
            paths.append(p)
            off += 4 * dim
    return paths, np.array(rows)


paths, f = cache_rows(sys.argv[1])
e = f @ frw_tensor(sys.argv[2], "fc")
e /= np.linalg.norm(e, axis=1, keepdims=True)
np.save(sys.argv[3], e.astype(np.float32))
open(sys.argv[3][:-4] + ".paths", "w").write("".join(p + "\n" for p in paths))
print("%d embeddings -> %s" % (len(paths), sys.argv[3]))
