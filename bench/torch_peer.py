#!/usr/bin/env python3
"""torch_peer.py: the PyTorch peer of facerec's network benchmarks.

Runs the very network facerec runs, with the very same (folded) weights, in PyTorch: the
graph and parameters come from `bench_network --weights W --export DIR` (graph.json +
params.bin). Operations are written the way a PyTorch user would write them (torch.cat for
Inception concatenations, F.conv2d with padding, in-place residual adds), in NCHW tensors
in channels_last memory format (--layout nhwc, what cuDNN prefers) or contiguous NCHW
(--layout nchw: on the CPU, torch 1.13's oneDNN path is faster for it; measure both).

  torch_peer.py --export DIR --batch B [--device cpu|cuda] [--threads T]
                [--precision fp32|fp16] [--mode eager|compile|freeze] [--iters N]
                [--check in.npy facerec_out.npy]

Prints one JSON line: images/s (median of N timed runs after warm-up) and, with --check,
the largest difference from facerec's outputs on the same inputs.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


class GraphNet(torch.nn.Module):
    def __init__(self, graph, params, device, memory_format, dtype):
        super().__init__()
        self.mf = memory_format
        self.g = graph
        self.t = graph["tensors"]
        p = torch.from_numpy(params)
        self.weights = {}
        for i, n in enumerate(graph["nodes"]):
            if n["kind"] != "conv":
                continue
            groups = n.get("groups", 1)  # exports before grouped convolutions have none
            cin = self.t[n["in"]]["c"] // groups
            cout = self.t[n["out"]]["c"]
            kh, kw = n["kernel"]
            w = p[n["weight"]:n["weight"] + cout * kh * kw * cin].reshape(cout, kh, kw, cin)
            w = w.permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
            b = p[n["bias"]:n["bias"] + cout].clone()
            a = p[n["alpha"]:n["alpha"] + cout].clone() if n["alpha"] >= 0 else None
            # stored in the compute type once: autocast would otherwise cast them every call
            self.weights[i] = (w.to(device, dtype).to(memory_format=memory_format),
                               b.to(device, dtype), None if a is None else a.to(device, dtype))

    def act(self, x, kind, alpha=None):
        if kind == "relu":
            return F.relu(x)
        if kind == "prelu":
            return F.prelu(x, alpha)
        return x

    def forward(self, x):  # x: uint8 (N, H, W, 3)
        roots = {}      # root tensor id -> NCHW tensor
        pending = {}    # root id -> {c_offset: tensor}: branches of a concatenation

        def read(tid):
            r = self.t[tid]["root"]
            if r in pending:
                parts = pending.pop(r)
                roots[r] = torch.cat([parts[k] for k in sorted(parts)], dim=1)
            v = roots[r]
            if r != tid:
                off, c = self.t[tid]["c_offset"], self.t[tid]["c"]
                v = v[:, off:off + c]
            return v

        def write(tid, v):
            r = self.t[tid]["root"]
            if r == tid:
                roots[r] = v
            else:
                pending.setdefault(r, {})[self.t[tid]["c_offset"]] = v

        for i, n in enumerate(self.g["nodes"]):
            k = n["kind"]
            if k == "normalize":
                y = x.permute(0, 3, 1, 2).float()
                if n["transpose"]:
                    y = y.transpose(2, 3)
                if n["norm"] == "standardize":
                    m = y.mean(dim=(1, 2, 3), keepdim=True)
                    sd = y.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
                    sd = torch.clamp(sd, min=1.0 / (y[0].numel() ** 0.5))
                    y = (y - m) / sd
                else:
                    mean = torch.tensor(n["mean"], device=y.device).view(1, 3, 1, 1)
                    scale = torch.tensor(n["scale"], device=y.device).view(1, 3, 1, 1)
                    y = (y - mean) * scale
                write(n["out"], y.contiguous(memory_format=self.mf))
            elif k == "conv":
                w, b, a = self.weights[i]
                xin = read(n["in"])
                t_, l_, b_, r_ = n["pad"]
                groups = n.get("groups", 1)
                if t_ == b_ and l_ == r_:
                    y = F.conv2d(xin, w, b, stride=n["stride"], padding=(t_, l_), groups=groups)
                else:
                    y = F.conv2d(F.pad(xin, (l_, r_, t_, b_)), w, b, stride=n["stride"],
                                 groups=groups)
                if n["accumulate"]:
                    y = read(n["out"]) + y
                write(n["out"], self.act(y, n["act"], a))
            elif k in ("maxpool", "avgpool"):
                xin = read(n["in"])
                t_, l_, b_, r_ = n["pad"]
                if k == "maxpool":
                    if t_ or l_ or b_ or r_:
                        xin = F.pad(xin, (l_, r_, t_, b_), value=float("-inf"))
                    y = F.max_pool2d(xin, n["kernel"], n["stride"])
                else:
                    assert t_ == b_ and l_ == r_, "asymmetric average pooling"
                    y = F.avg_pool2d(xin, n["kernel"], n["stride"], padding=(t_, l_), count_include_pad=False)
                write(n["out"], y)
            elif k == "add":
                o = self.t[n["out"]]
                a_, b2 = read(n["in"]), read(n["in2"])

                def extend(v):
                    return F.pad(v, (0, o["w"] - v.shape[3], 0, o["h"] - v.shape[2], 0, o["c"] - v.shape[1]))
                write(n["out"], self.act(extend(a_) + extend(b2), n["act"]))
            elif k == "global_avg":
                write(n["out"], read(n["in"]).mean(dim=(2, 3), keepdim=True))
            else:
                raise ValueError(k)
        return read(self.g["output"]).flatten(1).float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--mode", default="eager", choices=["eager", "compile", "freeze"],
                    help="eager; torch.compile (torch >= 2); freeze: torch.jit.trace + freeze + "
                         "optimize_for_inference (weights pre-packed for oneDNN once)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--layout", default="nhwc", choices=["nhwc", "nchw"],
                    help="memory format: channels_last (nhwc) or contiguous (nchw)")
    ap.add_argument("--check", nargs=2, metavar=("IN_NPY", "FACEREC_OUT_NPY"))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    graph = json.load(open(f"{a.export}/graph.json"))
    params = np.fromfile(f"{a.export}/params.bin", dtype=np.float32)
    dev = torch.device(a.device)
    mf = torch.channels_last if a.layout == "nhwc" else torch.contiguous_format
    dtype = torch.float16 if a.precision == "fp16" else torch.float32
    net = GraphNet(graph, params, dev, mf, dtype).eval()
    h, w = graph["input_h"], graph["input_w"]
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (a.batch, h, w, 3), dtype=torch.uint8, generator=gen).to(dev)
    if a.mode == "compile":
        fn = torch.compile(net)
    elif a.mode == "freeze":
        with torch.inference_mode():
            fn = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x)))
    else:
        fn = net
    autocast = torch.autocast(device_type=dev.type, dtype=torch.float16) if a.precision == "fp16" \
        else torch.autocast(device_type=dev.type, enabled=False)
    result = {"peer": "torch", "torch": torch.__version__, "device": a.device, "mode": a.mode,
              "precision": a.precision, "layout": a.layout, "batch": a.batch, "threads": torch.get_num_threads()}
    with torch.inference_mode(), autocast:
        if a.check:
            xin = torch.from_numpy(np.load(a.check[0])).to(dev)
            ref = np.load(a.check[1])
            got = fn(xin).float().cpu().numpy()
            result["check_max_abs_diff"] = float(np.abs(got - ref).max())
            result["check_max_rel_l2"] = float((np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)).max())
        for _ in range(1 if a.mode == "eager" else 3):
            fn(x)
        times = []
        for _ in range(a.iters):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    result["median_s"] = med
    result["images_per_s"] = a.batch / med
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
