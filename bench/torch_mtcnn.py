#!/usr/bin/python3
"""Batched MTCNN in PyTorch: the peer of facerec's detector on a GPU (bench/device_check.sh).

The project's torch reference (tests/ref/mtcnn/mtcnn_ref.py: facenet's detect_face, one image
at a time, float32 torch networks) rewritten the way a strong PyTorch user would run it on a
GPU server, in the manner of facenet-pytorch's batched detect_face: images of one size are
stacked into batches, and every stage runs over the whole batch on the device:

  - the pyramid: F.interpolate(mode="area") of the uint8 batch per scale (detect_face uses
    cv2.resize INTER_AREA), normalized (x - 127.5) / 128, H and W swapped (the Caffe layout);
  - P-Net over the batch per scale; candidates by threshold with torch.nonzero; per-image NMS
    (torchvision.ops.batched_nms, keyed by image) within each scale (0.5) and across scales
    (0.7); box regression, squaring, rounding as detect_face;
  - crops of every candidate of every image to 24 x 24 and 48 x 48 in one roi_align call each
    (bilinear with 2 x 2 samples per cell: detect_face's INTER_AREA of a zero-padded crop,
    approximately); R-Net and O-Net over all candidates of the batch at once;
  - thresholds 0.6 / 0.7 / 0.7, NMS Union 0.7 after R-Net, Min 0.7 after O-Net (per image),
    landmarks as detect_face.

Weights: the original tensors (../shared/data/mtcnn), loaded by mtcnn_ref.load_weights, so the
networks are the ones facerec converted. Without torchvision (this machine's Debian torch),
NMS and roi_align fall back to plain torch versions of the same arithmetic, slower; the device
has torchvision. Timing: images are decoded with Pillow beforehand and uploaded as uint8
batches inside the timed region (what a pipeline fed by CPU decoding does); the best of
--repeat runs; CUDA is synchronized before the clock is read.

  torch_mtcnn.py --weights DIR [--device cuda|cpu] [--batch 64] [--repeat 2] [--limit N]
                 [-o faces.json] IMAGE|DIR ...

Prints one JSON line: {"bench": "torch_mtcnn", "images", "seconds", "images_per_s", "faces",
"device", "batch", "torchvision"}; -o writes per-image boxes [x1, y1, x2, y2, score] and
5 landmarks in detect_face's coordinates (as mtcnn_ref.py does).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref",
                                "mtcnn"))
import mtcnn_ref  # noqa: E402  (load_weights and the networks: the reference's own)

try:
    import torchvision.ops as tvops
except ImportError:  # Debian's torch has no torchvision: plain-torch fallbacks below
    tvops = None

torch.set_grad_enabled(False)


class Net(torch.nn.Module):
    """One of P/R/O-Net: the reference's layer table and forward (mtcnn_ref.torch_forward),
    NCHW, float32, on the device."""

    def __init__(self, w, name, device):
        super().__init__()
        self.name = name
        self.t = mtcnn_ref.torch_tensors(w, name, device)

    def forward(self, x):
        return mtcnn_ref.torch_forward(self.t, self.name, x)


def to_net_input(x):
    """float (N, H, W, 3) pixels -> the nets' input: normalized, H and W swapped, NCHW."""
    return ((x - 127.5) * 0.0078125).permute(0, 3, 2, 1).contiguous()


def nms(boxes, scores, groups, threshold, method="Union"):
    """Indices kept by greedy NMS within each group, by descending score (detect_face's
    +1 pixel areas)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if method == "Union" and tvops is not None:
        # torchvision's areas have no +1: shift the far corner by one instead
        b = boxes.clone()
        b[:, 2:] += 1
        return tvops.batched_nms(b, scores, groups, threshold)
    keep = []
    for g in torch.unique(groups):
        idx = torch.nonzero(groups == g).flatten()
        idx = idx[torch.argsort(scores[idx], descending=True, stable=True)]
        b = boxes[idx]
        area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
        xx1 = torch.maximum(b[:, None, 0], b[None, :, 0])
        yy1 = torch.maximum(b[:, None, 1], b[None, :, 1])
        xx2 = torch.minimum(b[:, None, 2], b[None, :, 2])
        yy2 = torch.minimum(b[:, None, 3], b[None, :, 3])
        inter = (xx2 - xx1 + 1).clamp(min=0) * (yy2 - yy1 + 1).clamp(min=0)
        if method == "Min":
            o = inter / torch.minimum(area[:, None], area[None, :])
        else:
            o = inter / (area[:, None] + area[None, :] - inter)
        alive = torch.ones(len(idx), dtype=torch.bool, device=boxes.device)
        o = o.cpu()
        alive_cpu = alive.cpu()
        for i in range(len(idx)):
            if alive_cpu[i]:
                alive_cpu[i + 1:] &= o[i, i + 1:] <= threshold
        keep.append(idx[alive_cpu.to(boxes.device)])
    return torch.cat(keep)


def crops(images, boxes, groups, size):
    """Every box of every image resampled to size x size (float pixels, NHWC): detect_face's
    pad-with-zeros crop of the 1-based inclusive box."""
    if boxes.numel() == 0:
        return torch.empty((0, size, size, 3), device=images.device)
    x = images.permute(0, 3, 1, 2)  # (B, 3, H, W) float
    # 1-based inclusive [x1, x2] -> 0-based pixel edges [x1 - 1, x2]
    rois = torch.stack([groups.float(), boxes[:, 0] - 1, boxes[:, 1] - 1, boxes[:, 2], boxes[:, 3]], 1)
    if tvops is not None:
        out = tvops.roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2,
                              aligned=True)
    else:
        n = rois.shape[0]
        t = (torch.arange(size, device=x.device, dtype=torch.float32) + 0.5) / size
        gx = rois[:, 1:2] + t[None] * (rois[:, 3:4] - rois[:, 1:2])  # pixel edges
        gy = rois[:, 2:3] + t[None] * (rois[:, 4:5] - rois[:, 2:3])
        H, W = x.shape[2], x.shape[3]
        out = torch.empty((n, 3, size, size), device=x.device)
        for g in torch.unique(groups):
            sel = torch.nonzero(groups == g).flatten()
            grid = torch.stack([(gx[sel][:, None, :].expand(-1, size, -1) / W) * 2 - 1,
                                (gy[sel][:, :, None].expand(-1, -1, size) / H) * 2 - 1], dim=3)
            img = x[int(g)][None].expand(len(sel), -1, -1, -1)
            out[sel] = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=False)
    return out.permute(0, 2, 3, 1)


def rerec(b):
    h, w = b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]
    side = torch.maximum(w, h)
    out = b.clone()
    out[:, 0] = b[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = b[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def bbreg(b, reg):
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    out = b.clone()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def detect_batch(images, pnet, rnet, onet, minsize=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
    """images: uint8 (B, H, W, 3) on the device, all one size -> per image (boxes (k, 5),
    points (k, 5, 2)) as numpy, detect_face's conventions."""
    B, h, w, _ = images.shape
    dev = images.device
    x = images.float()
    m = 12.0 / minsize
    minl = min(h, w) * m
    scales = []
    while minl >= 12:
        scales.append(m * factor ** len(scales))
        minl *= factor
    nchw = x.permute(0, 3, 1, 2)
    all_boxes, all_groups = [], []
    for scale in scales:
        hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        level = F.interpolate(nchw, size=(hs, ws), mode="area").permute(0, 2, 3, 1)
        reg, prob = pnet(to_net_input(level))
        # back from the swapped layout: (B, C, W', H') -> (B, H', W', C)
        reg, prob = reg.permute(0, 3, 2, 1), prob[:, 1].permute(0, 2, 1)
        g, ys, xs = torch.nonzero(prob >= thresholds[0], as_tuple=True)
        if g.numel() == 0:
            continue
        score = prob[g, ys, xs]
        q1x = torch.trunc((2 * xs.float() + 1) / scale)
        q1y = torch.trunc((2 * ys.float() + 1) / scale)
        q2x = torch.trunc((2 * xs.float() + 12) / scale)
        q2y = torch.trunc((2 * ys.float() + 12) / scale)
        boxes = torch.cat([torch.stack([q1x, q1y, q2x, q2y, score], 1), reg[g, ys, xs]], 1)
        keep = nms(boxes[:, :4], boxes[:, 4], g, 0.5)
        all_boxes.append(boxes[keep])
        all_groups.append(g[keep])
    empty = [(np.empty((0, 5)), np.empty((0, 5, 2))) for _ in range(B)]
    if not all_boxes:
        return empty
    total, groups = torch.cat(all_boxes), torch.cat(all_groups)
    keep = nms(total[:, :4], total[:, 4], groups, 0.7)
    total, groups = total[keep], groups[keep]
    rw, rh = total[:, 2] - total[:, 0], total[:, 3] - total[:, 1]
    total = torch.stack([total[:, 0] + total[:, 5] * rw, total[:, 1] + total[:, 6] * rh,
                         total[:, 2] + total[:, 7] * rw, total[:, 3] + total[:, 8] * rh,
                         total[:, 4]], 1)
    total = rerec(total)
    total[:, :4] = torch.trunc(total[:, :4])

    reg, prob = rnet(to_net_input(crops(x, total[:, :4], groups, 24)))
    keep = prob[:, 1] > thresholds[1]
    total = torch.cat([total[keep, :4], prob[keep, 1:2]], 1)
    reg, groups = reg[keep], groups[keep]
    if total.shape[0] == 0:
        return empty
    pick = nms(total[:, :4], total[:, 4], groups, 0.7)
    total = rerec(bbreg(total[pick], reg[pick]))
    groups = groups[pick]
    total = torch.trunc(total)

    reg, points, prob = onet(to_net_input(crops(x, total[:, :4], groups, 48)))
    keep = prob[:, 1] > thresholds[2]
    total = torch.cat([total[keep, :4], prob[keep, 1:2]], 1)
    reg, points, groups = reg[keep], points[keep], groups[keep]
    if total.shape[0] == 0:
        return empty
    bw = total[:, 2] - total[:, 0] + 1
    bh = total[:, 3] - total[:, 1] + 1
    px = bw[:, None] * points[:, 0:5] + total[:, 0:1] - 1
    py = bh[:, None] * points[:, 5:10] + total[:, 1:2] - 1
    total = bbreg(total, reg)
    pick = nms(total[:, :4], total[:, 4], groups, 0.7, "Min")
    total, groups = total[pick].cpu().numpy(), groups[pick].cpu().numpy()
    pts = torch.stack([px[pick], py[pick]], 2).cpu().numpy()
    out = []
    for b in range(B):
        sel = groups == b
        order = np.argsort(-total[sel, 4], kind="stable")
        out.append((total[sel][order].astype(np.float64), pts[sel][order].astype(np.float64)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("-o", "--output")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    paths = []
    for p in a.inputs:
        if os.path.isdir(p):
            paths += sorted(os.path.join(p, f) for f in os.listdir(p)
                            if f.lower().endswith((".jpg", ".jpeg", ".png")))
        else:
            paths.append(p)
    if a.limit:
        paths = paths[:a.limit]
    dev = torch.device(a.device)
    w = mtcnn_ref.load_weights(a.weights)
    nets = [Net(w, n, dev) for n in ("det1", "det2", "det3")]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    # batches of one size (group by shape, as a batched detector must)
    by_shape = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    batches = []
    for idx in by_shape.values():
        for s in range(0, len(idx), a.batch):
            part = idx[s:s + a.batch]
            batches.append((part, torch.from_numpy(np.stack([images[i] for i in part]))))
    results = [None] * len(images)
    best = None
    for _ in range(max(1, a.repeat)):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for part, host in batches:
            out = detect_batch(host.to(dev, non_blocking=True), *nets)
            for i, r in zip(part, out):
                results[i] = r
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    faces = int(sum(len(r[0]) for r in results))
    print(json.dumps({"bench": "torch_mtcnn", "images": len(images), "seconds": best,
                      "images_per_s": len(images) / best if best else None, "faces": faces,
                      "device": a.device, "batch": a.batch,
                      "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else None,
                      "torch": torch.__version__, "torchvision": tvops is not None}))
    if a.output:
        with open(a.output, "w") as f:
            json.dump({"seconds": best, "paths": paths,
                       "images": [{"boxes": b.tolist(), "points": p.tolist()} for b, p in results]}, f)


if __name__ == "__main__":
    main()
