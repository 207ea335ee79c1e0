#!/usr/bin/python3
"""Independent float64 reference for the Keras FaceNet Inception-ResNet-v1 ("irv1").

The network is NOT hand-coded: the Keras 2.x model JSON (model.to_json() or the
`model_config` attribute of a full .h5) is walked generically, layer by layer,
following `inbound_nodes`.  Weights are read from a Keras HDF5 file in either
layout (model.save -> /model_weights/<layer>/..., or model.save_weights ->
/<layer>/...).

Usage:
  irv1_ref.py --model-json model.json --h5 w.h5 --input in.npy -o out.npy \
              [--preprocess seed|facenet] [--raw]

in.npy: uint8 (N, H, W, 3) RGB.  out.npy: float32 (N, 128), L2-normalised
unless --raw (then the output layer, Bottleneck_BatchNorm, as is).

Run with Debian's /usr/bin/python3 (numpy, h5py, torch).
"""
import argparse
import json
import math
import sys
import time

import numpy as np

# The one Lambda body this interpreter accepts: the marshalled Python 3.7 code
# object of `lambda inputs, scale: inputs[0] + inputs[1] * scale` as keras-facenet
# serialised it (file ../code/facenet_keras_v1.py).  We do not unmarshal it;
# we only check that the JSON carries exactly this blob, then apply that formula.
SCALESUM_CODE_B64 = (
    "4wIAAAAAAAAAAgAAAAMAAABTAAAAcxQAAAB8AGQBGQB8AGQCGQB8ARQAFwBTACkDTukAAAAA6QEA"
    "AACpACkC2gZpbnB1dHPaBXNjYWxlcgMAAAByAwAAAPobLi4vY29kZS9mYWNlbmV0X2tlcmFzX3Yx"
    "LnB52gg8bGFtYmRhPloAAADzAAAAAA==")


# --------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------

def load_model_config(path):
    """Return the {'class_name', 'config'} dict from a model.json or a full .h5."""
    if path.endswith(".h5") or path.endswith(".hdf5"):
        import h5py
        with h5py.File(path, "r") as f:
            s = f.attrs["model_config"]
        if isinstance(s, bytes):
            s = s.decode("utf8")
        return json.loads(s)
    with open(path, "r") as f:
        return json.load(f)


def _pair(v):
    if isinstance(v, int):
        return (v, v)
    return tuple(int(a) for a in v)


def _same_out(n, k, s):
    return -(-n // s)  # ceil(n / s)


def _valid_out(n, k, s):
    return (n - k) // s + 1


def tf_same_pads(n, k, s):
    """TensorFlow SAME padding: (before, after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class Graph:
    SUPPORTED = {"InputLayer", "Conv2D", "BatchNormalization", "Activation",
                 "MaxPooling2D", "Concatenate", "Lambda",
                 "GlobalAveragePooling2D", "Dropout", "Dense"}

    def __init__(self, model):
        cfg = model["config"]
        self.class_name = model.get("class_name")
        self.layers = cfg["layers"]
        self.by_name = {}
        for L in self.layers:
            if L["class_name"] not in self.SUPPORTED:
                raise ValueError("unsupported layer class %s (%s)" % (L["class_name"], L["name"]))
            if L["name"] in self.by_name:
                raise ValueError("duplicate layer name " + L["name"])
            self.by_name[L["name"]] = L
        self.inputs = [t[0] for t in cfg["input_layers"]]
        self.outputs = [t[0] for t in cfg["output_layers"]]
        # inbound tensors per layer: a single call node per layer, single outputs
        self.inbound = {}
        for L in self.layers:
            nodes = L.get("inbound_nodes", [])
            if L["class_name"] == "InputLayer":
                self.inbound[L["name"]] = []
                continue
            if len(nodes) != 1:
                raise ValueError("layer %s is called %d times; only 1 supported" % (L["name"], len(nodes)))
            srcs = []
            for t in nodes[0]:
                name, node_idx, tensor_idx = t[0], t[1], t[2]
                if node_idx != 0 or tensor_idx != 0:
                    raise ValueError("layer %s: inbound %r not supported" % (L["name"], t))
                if len(t) > 3 and t[3]:
                    raise ValueError("layer %s: call kwargs %r not supported" % (L["name"], t[3]))
                if name not in self.by_name:
                    raise ValueError("layer %s: unknown inbound %s" % (L["name"], name))
                srcs.append(name)
            self.inbound[L["name"]] = srcs
        self.order = self._toposort()
        self.shapes = self._infer_shapes()
        self.specs = {L["name"]: self._weight_specs(L) for L in self.layers}

    def _toposort(self):
        done, order = set(), []
        pending = [L["name"] for L in self.layers]
        while pending:
            rest = []
            for n in pending:
                if all(s in done for s in self.inbound[n]):
                    done.add(n)
                    order.append(n)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                raise ValueError("graph has a cycle or dangling inputs: %r" % rest[:5])
            pending = rest
        return order

    # shapes exclude the batch dimension (Keras channels_last)
    def _infer_shapes(self):
        sh = {}
        for n in self.order:
            L = self.by_name[n]
            c, cl = L["config"], L["class_name"]
            ins = [sh[s] for s in self.inbound[n]]
            if cl == "InputLayer":
                sh[n] = tuple(c["batch_input_shape"][1:])
            elif cl == "Conv2D":
                _check_conv(L)
                h, w, _ = ins[0]
                kh, kw = _pair(c["kernel_size"])
                sy, sx = _pair(c["strides"])
                f = _same_out if c["padding"] == "same" else _valid_out
                sh[n] = (None if h is None else f(h, kh, sy),
                         None if w is None else f(w, kw, sx), int(c["filters"]))
            elif cl == "MaxPooling2D":
                if c.get("data_format", "channels_last") != "channels_last":
                    raise ValueError(n + ": only channels_last")
                h, w, ch = ins[0]
                kh, kw = _pair(c["pool_size"])
                sy, sx = _pair(c["strides"] if c.get("strides") else c["pool_size"])
                f = _same_out if c["padding"] == "same" else _valid_out
                sh[n] = (None if h is None else f(h, kh, sy),
                         None if w is None else f(w, kw, sx), ch)
            elif cl == "Concatenate":
                ax = _axis(c["axis"], len(ins[0]) + 1) - 1
                out = list(ins[0])
                out[ax] = sum(s[ax] for s in ins)
                sh[n] = tuple(out)
            elif cl == "Lambda":
                if len(ins) != 2 or ins[0] != ins[1]:
                    raise ValueError(n + ": ScaleSum needs two inputs of equal shape")
                sh[n] = ins[0]
            elif cl == "GlobalAveragePooling2D":
                if c.get("keepdims"):
                    raise ValueError(n + ": keepdims not supported")
                sh[n] = (ins[0][-1],)
            elif cl == "Dense":
                sh[n] = tuple(ins[0][:-1]) + (int(c["units"]),)
            else:  # BatchNormalization, Activation, Dropout: shape preserving
                sh[n] = ins[0]
        return sh

    def _weight_specs(self, L):
        """[(short_name, shape)] in the order Keras stores them (trainable first)."""
        c, cl, n = L["config"], L["class_name"], L["name"]
        ins = [self.shapes[s] for s in self.inbound[n]]
        if cl == "Conv2D":
            kh, kw = _pair(c["kernel_size"])
            sp = [("kernel", (kh, kw, ins[0][-1], int(c["filters"])))]
            if c.get("use_bias", True):
                sp.append(("bias", (int(c["filters"]),)))
            return sp
        if cl == "Dense":
            sp = [("kernel", (ins[0][-1], int(c["units"])))]
            if c.get("use_bias", True):
                sp.append(("bias", (int(c["units"]),)))
            return sp
        if cl == "BatchNormalization":
            axes = c["axis"] if isinstance(c["axis"], list) else [c["axis"]]
            if len(axes) != 1:
                raise ValueError(n + ": multi-axis BN not supported")
            ax = _axis(axes[0], len(ins[0]) + 1)
            ch = (ins[0][ax - 1],)
            sp = []
            if c.get("scale", True):
                sp.append(("gamma", ch))
            if c.get("center", True):
                sp.append(("beta", ch))
            sp += [("moving_mean", ch), ("moving_variance", ch)]
            return sp
        return []

    def param_count(self):
        return sum(int(np.prod(s)) for sp in self.specs.values() for _, s in sp)


def _axis(a, rank):
    return a + rank if a < 0 else a


def _check_conv(L):
    c = L["config"]
    if c.get("data_format", "channels_last") != "channels_last":
        raise ValueError(L["name"] + ": only channels_last")
    if _pair(c.get("dilation_rate", 1)) != (1, 1):
        raise ValueError(L["name"] + ": dilation not supported")
    if int(c.get("groups", 1)) != 1:
        raise ValueError(L["name"] + ": groups not supported")
    if c["padding"] not in ("same", "valid"):
        raise ValueError(L["name"] + ": padding " + c["padding"])


# --------------------------------------------------------------------------
# Keras HDF5 weights
# --------------------------------------------------------------------------

def _attr_strings(group, name):
    """Keras load_attributes_from_hdf5_group: `name` or chunks name0, name1, ..."""
    def dec(a):
        return [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in np.asarray(a).reshape(-1)] \
            if np.asarray(a).size else []
    if name in group.attrs:
        return dec(group.attrs[name])
    out, i = [], 0
    while "%s%d" % (name, i) in group.attrs:
        out += dec(group.attrs["%s%d" % (name, i)])
        i += 1
    if i == 0:
        raise KeyError("attribute %s missing in %s" % (name, group.name))
    return out


def load_weights(path, graph):
    """{layer: {short_name: float64 array}} from a Keras .h5 (either layout)."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        file_layers = _attr_strings(g, "layer_names")
        with_w = []
        for ln in file_layers:
            if len(_attr_strings(g[ln], "weight_names")):
                with_w.append(ln)
        want = [n for n in (L["name"] for L in graph.layers) if graph.specs[n]]
        if sorted(with_w) != sorted(want):
            raise ValueError("h5 layers with weights differ from the graph: extra %r missing %r" % (
                sorted(set(with_w) - set(want))[:5], sorted(set(want) - set(with_w))[:5]))
        for ln in want:
            names = _attr_strings(g[ln], "weight_names")
            spec = graph.specs[ln]
            if len(names) != len(spec):
                raise ValueError("%s: %d weights in h5, %d expected" % (ln, len(names), len(spec)))
            d = {}
            for wn, (short, shape) in zip(names, spec):  # Keras matches by order
                base = wn.split("/")[-1].split(":")[0]
                if not base.startswith(short):
                    raise ValueError("%s: weight %s where %s expected" % (ln, wn, short))
                arr = np.asarray(g[ln][wn], dtype=np.float64)
                if tuple(arr.shape) != tuple(shape):
                    raise ValueError("%s: %s has shape %r, expected %r" % (ln, wn, arr.shape, shape))
                d[short] = arr
            out[ln] = d
    return out


# --------------------------------------------------------------------------
# Forward pass (torch float64, tensors kept in Keras NHWC layout)
# --------------------------------------------------------------------------

def _act(x, name, where):
    import torch
    if name in ("linear", None):
        return x
    if name == "relu":
        return torch.relu(x)
    raise ValueError("%s: activation %s not supported" % (where, name))


def forward(graph, weights, x, bn_hook=None, keep=None):
    """x: float64 numpy (N, H, W, C) after preprocessing.  Returns {output: array}.

    bn_hook(layer_name, input_tensor) is called before each BatchNormalization
    (make_h5.py uses it to calibrate); keep: extra layer names to return."""
    import torch
    import torch.nn.functional as F
    vals = {}
    need = {n: 0 for n in graph.order}
    for n in graph.order:
        for s in graph.inbound[n]:
            need[s] += 1
    keep = set(keep or ()) | set(graph.outputs)
    for n in graph.order:
        L = graph.by_name[n]
        c, cl = L["config"], L["class_name"]
        ins = [vals[s] for s in graph.inbound[n]]
        W = weights.get(n, {})
        if cl == "InputLayer":
            y = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
            want = tuple(c["batch_input_shape"][1:])
            if any(a is not None and a != b for a, b in zip(want, y.shape[1:])):
                raise ValueError("input shape %r, model wants %r" % (tuple(y.shape[1:]), want))
        elif cl == "Conv2D":
            t = ins[0].permute(0, 3, 1, 2)
            kh, kw = _pair(c["kernel_size"])
            sy, sx = _pair(c["strides"])
            if c["padding"] == "same":
                pt, pb = tf_same_pads(t.shape[2], kh, sy)
                pl, pr = tf_same_pads(t.shape[3], kw, sx)
                if pt or pb or pl or pr:
                    t = F.pad(t, (pl, pr, pt, pb))
            k = torch.from_numpy(W["kernel"]).permute(3, 2, 0, 1).contiguous()
            b = torch.from_numpy(W["bias"]) if "bias" in W else None
            t = F.conv2d(t, k, b, stride=(sy, sx))
            y = _act(t.permute(0, 2, 3, 1), c.get("activation"), n)
        elif cl == "BatchNormalization":
            if bn_hook is not None:
                bn_hook(n, ins[0])
                W = weights[n]
            t = ins[0]
            axes = c["axis"] if isinstance(c["axis"], list) else [c["axis"]]
            ax = _axis(axes[0], t.dim())
            bshape = [1] * t.dim()
            bshape[ax] = t.shape[ax]
            eps = float(c.get("epsilon", 1e-3))
            inv = 1.0 / torch.sqrt(torch.from_numpy(W["moving_variance"]) + eps)
            if "gamma" in W:
                inv = inv * torch.from_numpy(W["gamma"])
            y = (t - torch.from_numpy(W["moving_mean"]).reshape(bshape)) * inv.reshape(bshape)
            if "beta" in W:
                y = y + torch.from_numpy(W["beta"]).reshape(bshape)
        elif cl == "Activation":
            y = _act(ins[0], c["activation"], n)
        elif cl == "MaxPooling2D":
            t = ins[0].permute(0, 3, 1, 2)
            kh, kw = _pair(c["pool_size"])
            sy, sx = _pair(c["strides"] if c.get("strides") else c["pool_size"])
            if c["padding"] == "same":
                pt, pb = tf_same_pads(t.shape[2], kh, sy)
                pl, pr = tf_same_pads(t.shape[3], kw, sx)
                t = F.pad(t, (pl, pr, pt, pb), value=-math.inf)
            y = F.max_pool2d(t, (kh, kw), (sy, sx)).permute(0, 2, 3, 1)
        elif cl == "Concatenate":
            y = torch.cat(ins, dim=_axis(c["axis"], ins[0].dim()))
        elif cl == "Lambda":
            fn = c.get("function")
            blob = fn[0] if isinstance(fn, list) else fn
            if c.get("function_type") != "lambda" or "".join(str(blob).split()) != SCALESUM_CODE_B64:
                raise ValueError("%s: unknown Lambda body; only ScaleSum "
                                 "(inputs[0] + inputs[1]*scale) is supported" % n)
            y = ins[0] + ins[1] * float(c["arguments"]["scale"])
        elif cl == "GlobalAveragePooling2D":
            y = ins[0].mean(dim=(1, 2))
        elif cl == "Dropout":
            y = ins[0]  # inference
        elif cl == "Dense":
            y = ins[0] @ torch.from_numpy(W["kernel"])
            if "bias" in W:
                y = y + torch.from_numpy(W["bias"])
            y = _act(y, c.get("activation"), n)
        else:
            raise AssertionError(cl)
        vals[n] = y
        for s in graph.inbound[n]:  # free what is no longer needed
            need[s] -= 1
            if need[s] == 0 and s not in keep:
                del vals[s]
    return {n: vals[n].numpy() for n in keep}


# --------------------------------------------------------------------------

def preprocess(img_u8, mode):
    x = np.asarray(img_u8, dtype=np.float64)
    if mode == "seed":
        return x / 255.0
    if mode == "facenet":  # davidsandberg/facenet prewhiten, per image
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            xi = x[i]
            mean, std = np.mean(xi), np.std(xi)
            std_adj = np.maximum(std, 1.0 / np.sqrt(xi.size))
            out[i] = (xi - mean) / std_adj
        return out
    raise ValueError("preprocess " + mode)


def l2_normalize(y, eps=1e-10):
    return y / np.sqrt(np.maximum(np.sum(y * y, axis=1, keepdims=True), eps))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-json", required=True)
    ap.add_argument("--h5", required=True)
    ap.add_argument("--input", required=True, help="uint8 (N,H,W,3) RGB .npy")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--preprocess", choices=("seed", "facenet"), default="seed")
    ap.add_argument("--raw", action="store_true", help="no L2 normalisation")
    a = ap.parse_args(argv)
    t0 = time.time()
    graph = Graph(load_model_config(a.model_json))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise SystemExit("one input and one output expected")
    weights = load_weights(a.h5, graph)
    img = np.load(a.input)
    if img.dtype != np.uint8 or img.ndim != 4 or img.shape[-1] != 3:
        raise SystemExit("input must be uint8 (N,H,W,3), got %s %r" % (img.dtype, img.shape))
    t1 = time.time()
    y = forward(graph, weights, preprocess(img, a.preprocess))[graph.outputs[0]]
    if not a.raw:
        y = l2_normalize(y)
    np.save(a.output, y.astype(np.float32))
    t2 = time.time()
    print("irv1_ref: N=%d %dx%d preprocess=%s %s -> %s %r; load %.2fs forward %.2fs" % (
        img.shape[0], img.shape[1], img.shape[2], a.preprocess, "raw" if a.raw else "l2",
        a.output, y.shape, t1 - t0, t2 - t1), file=sys.stderr)


if __name__ == "__main__":
    main()
