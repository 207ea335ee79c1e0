#!/usr/bin/python3
"""Write random weights for every layer of a Keras model.json into an HDF5 file
laid out exactly as Keras 2.4 (tf.keras hdf5_format) writes it.

  make_h5.py --model-json model.json --layout full|weights --seed N -o out.h5

--layout full     model.save(): root attrs keras_version, backend (str) and
                  model_config (bytes, JSON); weights under /model_weights
                  (attrs layer_names, backend, keras_version).
--layout weights  model.save_weights(): per-layer groups under the root.

Scalar string attrs are variable-length (h5py writes python bytes as vlen
ASCII, str as vlen UTF-8); layer_names/weight_names are fixed-length NULLPAD
byte-string arrays (np.asarray of a list of bytes).
Per layer group <L>: attr weight_names (fixed-length byte strings, or an empty
float64 array for weightless layers, as Keras/h5py write []), datasets
<L>/<L>/kernel:0 etc. (float32, contiguous), in Keras order (trainable weights,
then non-trainable).  Layer groups are created sorted by name, as Keras does;
the layer_names attr keeps model order.

Random values: conv/dense kernels He-normal, conv biases N(0, 0.2^2).  Every
BatchNormalization is calibrated on the fly: a float64 forward pass over a few
synthetic images (from the same seed) measures the per-channel mean/std of the
BN input, and the layer gets
  moving_mean     = mean + 0.25 * std * N(0,1)
  moving_variance = std^2 * exp(U(-0.6, 0.6))     (positive, varied)
  beta            = N(0, 0.25^2)                  (gamma, if scale=True: 1 + N(0,0.2^2))
so activations stay O(1) through all residual blocks while no parameter is
neutral.  Deterministic for a given seed and model.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import irv1_ref  # noqa: E402

HDF5_OBJECT_HEADER_LIMIT = 64512  # keras hdf5_format


def save_attributes_to_hdf5_group(group, name, data):
    """keras hdf5_format.save_attributes_to_hdf5_group (h5py 2.10 semantics:
    a list of bytes becomes a fixed-length, NULLPAD string array)."""
    data_npy = np.asarray(data)
    num_chunks = 1
    chunked = np.array_split(data_npy, num_chunks)
    while any(x.nbytes > HDF5_OBJECT_HEADER_LIMIT for x in chunked):
        num_chunks += 1
        chunked = np.array_split(data_npy, num_chunks)
    if num_chunks > 1:
        for i, chunk in enumerate(chunked):
            group.attrs["%s%d" % (name, i)] = chunk
    else:
        group.attrs[name] = data_npy


def save_weights_to_hdf5_group(f, graph, weights, keras_version, backend):
    layer_names = [L["name"] for L in graph.layers]
    save_attributes_to_hdf5_group(f, "layer_names", [n.encode("utf8") for n in layer_names])
    f.attrs["backend"] = backend.encode("utf8")  # python bytes: h5py writes vlen ASCII
    f.attrs["keras_version"] = str(keras_version).encode("utf8")
    for ln in sorted(layer_names):
        g = f.create_group(ln)
        spec = graph.specs[ln]
        names = ["%s/%s:0" % (ln, short) for short, _ in spec]
        save_attributes_to_hdf5_group(g, "weight_names", [n.encode("utf8") for n in names])
        for n, (short, shape) in zip(names, spec):
            val = np.asarray(weights[ln][short], dtype=np.float32)
            assert val.shape == tuple(shape), (ln, short, val.shape, shape)
            d = g.create_dataset(n, val.shape, dtype=val.dtype)
            if not val.shape:
                d[()] = val
            else:
                d[:] = val


def synthetic_images(rng, n, h, w):
    """Smooth-ish random RGB uint8 images: coarse + mid + fine noise."""
    import torch
    import torch.nn.functional as F
    acc = np.zeros((n, 3, h, w))
    for res, amp in ((4, 1.0), (12, 0.6), (40, 0.3)):
        z = torch.from_numpy(rng.standard_normal((n, 3, res, res)))
        acc += amp * F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False).numpy()
    acc += 0.1 * rng.standard_normal(acc.shape)
    lo = acc.min(axis=(1, 2, 3), keepdims=True)
    hi = acc.max(axis=(1, 2, 3), keepdims=True)
    img = (acc - lo) / (hi - lo) * rng.uniform(150, 255, (n, 1, 1, 1)) + rng.uniform(0, 60, (n, 1, 1, 1))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def random_weights(graph, seed, n_calib=8, calib_preprocess="mixed"):
    ss = np.random.SeedSequence(seed)
    rng_w, rng_img, rng_bn = [np.random.default_rng(s) for s in ss.spawn(3)]
    weights = {}
    for L in graph.layers:  # non-BN layers first, in model order
        n, cl = L["name"], L["class_name"]
        spec = graph.specs[n]
        if not spec or cl == "BatchNormalization":
            continue
        d = {}
        for short, shape in spec:
            if short == "kernel":
                fan_in = int(np.prod(shape[:-1]))
                d[short] = rng_w.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            elif short == "bias":
                d[short] = 0.2 * rng_w.standard_normal(shape)
            else:
                raise ValueError((n, short))
        weights[n] = d

    inp = graph.by_name[graph.inputs[0]]["config"]["batch_input_shape"]
    h, w = inp[1] or 160, inp[2] or 160
    imgs = synthetic_images(rng_img, n_calib, h, w)
    if calib_preprocess == "mixed":
        k = n_calib // 2
        x = np.concatenate([irv1_ref.preprocess(imgs[:k], "seed"),
                            irv1_ref.preprocess(imgs[k:], "facenet")])
    else:
        x = irv1_ref.preprocess(imgs, calib_preprocess)

    def bn_hook(name, t):
        L = graph.by_name[name]
        c = L["config"]
        t = t.numpy()
        axes = c["axis"] if isinstance(c["axis"], list) else [c["axis"]]
        ax = irv1_ref._axis(axes[0], t.ndim)
        red = tuple(i for i in range(t.ndim) if i != ax)
        mean = t.mean(axis=red)
        std = t.std(axis=red)
        std = np.maximum(std, 1e-2 * max(float(np.median(std)), 1e-6))
        ch = mean.shape
        d = {}
        for short, _ in graph.specs[name]:
            if short == "gamma":
                d[short] = 1.0 + 0.2 * rng_bn.standard_normal(ch)
            elif short == "beta":
                d[short] = 0.25 * rng_bn.standard_normal(ch)
            elif short == "moving_mean":
                d[short] = mean + 0.25 * std * rng_bn.standard_normal(ch)
            elif short == "moving_variance":
                d[short] = std ** 2 * np.exp(rng_bn.uniform(-0.6, 0.6, ch))
        # round to the stored precision so the forward pass sees what is written
        weights[name] = {k: v.astype(np.float32).astype(np.float64) for k, v in d.items()}

    irv1_ref.forward(graph, weights, x, bn_hook=bn_hook)
    for n in weights:
        weights[n] = {k: np.asarray(v, np.float32) for k, v in weights[n].items()}
    return weights


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-json", required=True)
    ap.add_argument("--layout", choices=("full", "weights"), required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--calib-images", type=int, default=8)
    ap.add_argument("--calib-preprocess", choices=("mixed", "seed", "facenet"), default="mixed")
    ap.add_argument("--legacy-attrs", action="store_true",
                    help="root keras_version/backend as bytes (Keras <= 2.3: vlen ASCII) "
                         "instead of Keras 2.4's str (vlen UTF-8)")
    ap.add_argument("--expect-params", type=int, default=None)
    a = ap.parse_args(argv)
    import h5py
    t0 = time.time()
    model = irv1_ref.load_model_config(a.model_json)
    graph = irv1_ref.Graph(model)
    nparams = graph.param_count()
    if a.expect_params is not None and nparams != a.expect_params:
        raise SystemExit("parameter count %d != expected %d" % (nparams, a.expect_params))
    keras_version = model.get("keras_version", "2.4.0")
    backend = model.get("backend", "tensorflow")
    weights = random_weights(graph, a.seed, a.calib_images, a.calib_preprocess)
    with h5py.File(a.output, "w") as f:
        if a.layout == "full":
            cfg = json.dumps({"class_name": model["class_name"], "config": model["config"]})
            if a.legacy_attrs:
                f.attrs["keras_version"] = keras_version.encode("utf8")  # vlen ASCII
                f.attrs["backend"] = backend.encode("utf8")
            else:
                f.attrs["keras_version"] = keras_version  # str: vlen UTF-8
                f.attrs["backend"] = backend
            f.attrs["model_config"] = cfg.encode("utf8")  # bytes: vlen ASCII
            save_weights_to_hdf5_group(f.create_group("model_weights"), graph, weights,
                                       keras_version, backend)
        else:
            save_weights_to_hdf5_group(f, graph, weights, keras_version, backend)
    print("make_h5: %d layers, %d with weights, %d parameters, layout=%s seed=%d -> %s (%.1fs)" % (
        len(graph.layers), sum(1 for s in graph.specs.values() if s), nparams, a.layout, a.seed,
        a.output, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
