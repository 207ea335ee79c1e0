#!/usr/bin/python3
"""make_seeds.py: writes fuzz/corpus/<target>/ (the small seed corpora in the repository).

Run from anywhere: python3 fuzz/make_seeds.py [BUILD_FUZZ_DIR]. Needs numpy and h5py (the
test Python of scripts/setup.sh --tests). The identity database seeds come from fuzz_store
itself (FACEREC_FUZZ_SEEDS=DIR), so that their schema is the store's own; they are written when
BUILD_FUZZ_DIR (a build with -DFACEREC_FUZZ=ON) is given. The decoder's seeds are
tests/data/images (scripts/fuzz.sh passes that folder too). Deterministic: the same files
every run.
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def frw(version, meta, tensors):
    """A .frw as model/weights.c writes it (weights.h), format 1 or 2."""
    def s(t):
        b = t.encode()
        return struct.pack("<I", len(b)) + b
    body = b""
    for k, v in meta:
        if isinstance(v, str):
            body += s(k) + struct.pack("<I", 0) + s(v)
        elif isinstance(v, int):
            body += s(k) + struct.pack("<Iq", 1, v)
        else:
            body += s(k) + struct.pack("<Id", 2, v)
    data, offsets = b"", []
    for name, a in tensors:
        offsets.append(len(data))
        data += a.astype("<f4").tobytes()
        data += b"\0" * (-len(data) % 64)
    for (name, a), off in zip(tensors, offsets):
        body += s(name) + struct.pack("<II", 0, a.ndim) + struct.pack("<%dQ" % a.ndim, *a.shape)
        body += struct.pack("<Q", off)
    head = 40 if version == 1 else 72
    data_offset = (head + len(body) + 63) // 64 * 64
    out = bytearray(b"FRWEIGHT" + struct.pack("<IIQQQ", version, 0, data_offset, len(meta),
                                                len(tensors)))
    if version == 2:
        out += b"\0" * 32
    out += body
    out += b"\0" * (data_offset - len(out))
    out += data
    if version == 2:
        out[40:72] = hashlib.sha256(bytes(out)).digest()
    return bytes(out)


rng = np.random.default_rng(14)
meta = [("arch", "dlib"), ("input_size", 150), ("embedding_size", 128),
        ("preprocess", "faceapi"), ("threshold", 0.6), ("source", "seed"),
        ("source_sha256", "0" * 64), ("converter", "make_seeds.py")]
tensors = [("conv/filters", rng.standard_normal((3, 3, 3, 2))), ("conv/bias", np.zeros(2)),
           ("fc", rng.standard_normal((2, 4)))]
put("weights", "v2.frw", frw(2, meta, tensors))
put("weights", "v1.frw", frw(1, meta, tensors))
put("weights", "v2_empty.frw", frw(2, [("arch", "irv1")], []))

def npy(a, fortran=False):
    b = io.BytesIO()
    np.save(b, np.asfortranarray(a) if fortran else a)
    return b.getvalue()
put("npy", "emb.npy", npy(rng.standard_normal((3, 4)).astype("<f4")))
put("npy", "u8.npy", npy(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)))
put("npy", "fortran.npy", npy(rng.standard_normal((2, 3)).astype("<f4"), True))
put("npy", "empty.npy", npy(np.zeros((0, 4), "<f4")))
put("npy", "nan.npy", npy(np.array([[np.nan, 1.0]], "<f4")))

put("pairs", "devtrain.txt", "2\nAaron_Peirsol\t1\t2\nAbel_Pacheco\t1\t4\n"
    "Aaron_Peirsol\t1\tAbel_Pacheco\t2\nAbdullah_Gul\t2\tAdam_Sandler\t1\n")
put("pairs", "folds.txt", "2 1\nA\t1\t2\nA\t1\tB\t1\nC\t3\t4\nC\t1\tD\t2\n")
put("pairs", "list.tsv", "path1\tpath2\tlabel\na/1.jpg\tb/2.jpg\t1\n/x/3.png\tc.jpg\tdifferent\n")

put("claims", "claims.tsv", "image\tname\na/1.jpg\tAnn\n# comment\n\n/b/2.png\tBob Smith\n")
put("claims", "noheader.tsv", "x.jpg\tAnn\r\ny.jpg\tZo\u00eb\n")

put("scores", "pairs.csv", "first,second,same,distance,fold\n"
    "a.jpg,b.jpg,1,0.31,0\na.jpg,c.jpg,0,0.92,0\n\"d,1.jpg\",e.jpg,1,0.4,1\nf,g,0,1.1,1\n")
put("scores", "nofold.csv", "label,distance\ntrue,0.2\nFalse,0.8\n1,0.3\n0,0.7\n")

def tfjs(groups, shard):
    return json.dumps(groups).encode() + b"\0" + shard
f32 = rng.standard_normal(6).astype("<f4").tobytes()
put("tfjs", "float32", tfjs([{"paths": ["shard1"], "weights": [
    {"name": "conv/filters", "shape": [1, 1, 2, 3], "dtype": "float32"}]}], f32))
put("tfjs", "quantized", tfjs([{"paths": ["shard1"], "weights": [
    {"name": "a", "shape": [4], "dtype": "float32",
     "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
    {"name": "dense0/b", "shape": [2], "dtype": "float32",
     "quantization": {"dtype": "uint16", "scale": 0.01, "min": 0}}]}], bytes(range(8))))

try:
    import h5py
    def h5(name, save_model, vlen):
        b = io.BytesIO()
        with h5py.File(b, "w") as f:
            root = f.create_group("model_weights") if save_model else f
            layers = ["Conv2d_1a_3x3", "Bottleneck", "empty"]
            kind = h5py.string_dtype() if vlen else "S32"
            root.attrs.create("layer_names", [n.encode() for n in layers], dtype=kind)
            for layer, weights in (("Conv2d_1a_3x3", ["kernel:0"]),
                                   ("Bottleneck", ["kernel:0", "bias:0"]), ("empty", [])):
                g = root.create_group(layer)
                names = [layer + "/" + w for w in weights]
                if names:
                    g.attrs.create("weight_names", [n.encode() for n in names], dtype=kind)
                else:
                    g.attrs["weight_names"] = np.zeros(0)
                for w in weights:
                    g.create_dataset(layer + "/" + w, data=rng.standard_normal(
                        (3, 3, 3, 2) if w == "kernel:0" and layer != "Bottleneck" else (4,)
                    ).astype("<f4"))
        put("keras", name, b.getvalue())
    h5("model_save.h5", True, False)
    h5("save_weights_vlen.h5", False, True)
except ImportError:
    print("make_seeds: no h5py: keras seeds not written", file=sys.stderr)

if len(sys.argv) > 1:
    d = os.path.join(corpus, "store")
    os.makedirs(d, exist_ok=True)
    subprocess.run([os.path.join(sys.argv[1], "fuzz", "fuzz_store")], check=True,
                   env=dict(os.environ, FACEREC_FUZZ_SEEDS=d))

# detect: two LFW faces (250 x 250 photos, the middle 150 x 150 scaled to 100 x 100) and a
# flat grey image; the first two bytes are the harness's width and height (12 + b % 128).
lfw = os.path.join(here, "..", "..", "shared", "data", "lfw_devtrain", "images")
try:
    from PIL import Image
    for name in ("Aaron_Peirsol/Aaron_Peirsol_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0001.jpg"):
        im = Image.open(os.path.join(lfw, name)).convert("RGB").crop((50, 50, 200, 200))
        im = im.resize((100, 100), Image.BILINEAR)
        put("detect", os.path.basename(name)[:-4], bytes([88, 88]) + im.tobytes())
except (ImportError, OSError) as e:
    print("make_seeds: no LFW faces for detect (%s): kept the committed ones" % e, file=sys.stderr)
put("detect", "grey", bytes([20, 20]) + bytes([128]) * 3)
