#!/usr/bin/python3
"""MTCNN face detection as davidsandberg/facenet's src/align/detect_face.py computes it.

An independent re-implementation of detect_face() from the published weights (the plain .npy
tensors in ../shared/data/mtcnn), written from the algorithm, for tests/test_detect_ref.c and
bench/bench_detect.sh:

  - the networks in float64 numpy (--backend numpy, the correctness reference) or float32
    torch (--backend torch, the speed peer: what facenet-pytorch and similar ports run);
  - OpenCV's cv2.resize(INTER_AREA) for every resampling, as detect_face's imresample();
  - stage 1 on the uint8 pyramid images, stages 2 and 3 on float64 crops (the reference
    crops into np.zeros float arrays, so those resizes are not rounded);
  - every image transposed (H and W swapped) before each network, outputs swapped back
    (the nets were converted from Caffe models trained on MATLAB's column-major images);
  - thresholds 0.6/0.7/0.7, pyramid factor 0.709, minimum face 20 px, NMS Union 0.5 within
    a scale, 0.7 across scales and after stage 2, Min 0.7 after stage 3.

--crops uint8 rounds the stage 2 and 3 crops to integers: the inputs facerec's networks get
(8-bit images), for comparisons on the same input.

One deliberate difference: generateBoundingBox() in detect_face.py flips the regression maps
upside down when exactly one cell passes the threshold (a mistranslation of the MATLAB
original's vector transposes); here, like in facerec, a cell's regression is read at that cell.

    mtcnn_ref.py --weights DIR [--backend numpy|torch] [--repeat N] -o OUT.json IMAGE...

IMAGE: uint8 (H, W, 3) .npy, or a JPEG/PNG read with Pillow. OUT.json: one entry per image,
{"boxes": [[x1, y1, x2, y2, score], ...], "points": [[[x, y] x 5], ...]} in detect_face's
coordinates (boxes as it returns them; landmarks in 0-based pixel units), and "seconds", the
detection time of all images (the fastest of --repeat runs; decoding excluded).
Exit status 77 when numpy or OpenCV is missing (a C test then reports SKIPPED).
"""
import argparse
import json
import os
import sys
import time

try:
    import numpy as np
    import cv2
except ImportError as e:  # pragma: no cover
    print(f"mtcnn_ref.py: {e}", file=sys.stderr)
    sys.exit(77)

NETS = {
    "det1": [("conv", "conv1"), ("prelu", "PReLU1"), ("pool", 2, 2, "SAME"),
             ("conv", "conv2"), ("prelu", "PReLU2"),
             ("conv", "conv3"), ("prelu", "PReLU3")],
    "det2": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2, "SAME"),
             ("conv", "conv2"), ("prelu", "prelu2"), ("pool", 3, 2, "VALID"),
             ("conv", "conv3"), ("prelu", "prelu3"),
             ("fc", "conv4"), ("prelu", "prelu4")],
    "det3": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2, "SAME"),
             ("conv", "conv2"), ("prelu", "prelu2"), ("pool", 3, 2, "VALID"),
             ("conv", "conv3"), ("prelu", "prelu3"), ("pool", 2, 2, "SAME"),
             ("conv", "conv4"), ("prelu", "prelu4"),
             ("fc", "conv5"), ("prelu", "prelu5")],
}
HEADS = {"det1": ["conv4-2", "conv4-1"], "det2": ["conv5-2", "conv5-1"],
         "det3": ["conv6-2", "conv6-3", "conv6-1"]}


def load_weights(root):
    w = {}
    for net in NETS:
        for layer in sorted(os.listdir(os.path.join(root, net))):
            for f in os.listdir(os.path.join(root, net, layer)):
                w[f"{net}/{layer}/{f[:-4]}"] = np.load(os.path.join(root, net, layer, f))
    return w


# ---- float64 numpy networks ------------------------------------------------------------------

def np_conv(x, k, b):
    """VALID stride-1 convolution, x (N, H, W, C), k (kh, kw, C, O)."""
    kh, kw = k.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # N,H',W',C,kh,kw
    return np.tensordot(win, k.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2])) + b


def np_pool(x, k, s, padding):
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)),
                   constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]
    return win.max(axis=(4, 5))


class NumpyNet:
    def __init__(self, w, net):
        self.w = {k: v.astype(np.float64) for k, v in w.items() if k.startswith(net + "/")}
        self.net = net

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        for op in NETS[self.net]:
            if op[0] == "conv":
                x = np_conv(x, self.w[f"{self.net}/{op[1]}/weights"], self.w[f"{self.net}/{op[1]}/biases"])
            elif op[0] == "prelu":
                a = self.w[f"{self.net}/{op[1]}/alpha"]
                x = np.where(x > 0, x, x * a)
            elif op[0] == "pool":
                x = np_pool(x, op[1], op[2], op[3])
            else:
                x = x.reshape(x.shape[0], -1) @ self.w[f"{self.net}/{op[1]}/weights"] + \
                    self.w[f"{self.net}/{op[1]}/biases"]
        outs = []
        for head in HEADS[self.net]:
            k, b = self.w[f"{self.net}/{head}/weights"], self.w[f"{self.net}/{head}/biases"]
            outs.append(np_conv(x, k, b) if x.ndim == 4 else x @ k + b)
        outs[-1] = softmax(outs[-1])
        return outs


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- float32 torch networks (the speed peer) -------------------------------------------------

def torch_tensors(w, net, device="cpu"):
    """One net's float32 tensors on a torch device, conv kernels HWIO -> OIHW."""
    import torch
    t = {}
    for k, v in w.items():
        if not k.startswith(net + "/"):
            continue
        v = torch.from_numpy(np.ascontiguousarray(v, np.float32))
        if k.endswith("/weights") and v.ndim == 4:
            v = v.permute(3, 2, 0, 1).contiguous()
        t[k] = v.to(device)
    return t


def torch_forward(t, net, x):
    """The layer table over an NCHW float32 tensor: the heads' outputs (NCHW maps for P-Net,
    rows for R/O-Net), the last one softmaxed over its channels. Also the batched GPU peer's
    networks (bench/torch_mtcnn.py)."""
    import torch
    F = torch.nn.functional
    for op in NETS[net]:
        if op[0] == "conv":
            x = F.conv2d(x, t[f"{net}/{op[1]}/weights"], t[f"{net}/{op[1]}/biases"])
        elif op[0] == "prelu":
            x = F.prelu(x, t[f"{net}/{op[1]}/alpha"])
        elif op[0] == "pool":
            k, s = op[1], op[2]
            if op[3] == "SAME":
                h, w = x.shape[2:]
                ph = max((-(-h // s) - 1) * s + k - h, 0)
                pw = max((-(-w // s) - 1) * s + k - w, 0)
                x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=-float("inf"))
            x = F.max_pool2d(x, k, s)
        else:  # dense over the NHWC-flattened activation
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) @ t[f"{net}/{op[1]}/weights"] + \
                t[f"{net}/{op[1]}/biases"]
    outs = []
    for head in HEADS[net]:
        k, b = t[f"{net}/{head}/weights"], t[f"{net}/{head}/biases"]
        outs.append(F.conv2d(x, k, b) if x.ndim == 4 else x @ k + b)
    outs[-1] = torch.softmax(outs[-1], dim=1)
    return outs


class TorchNet:
    def __init__(self, w, net):
        import torch
        torch.set_grad_enabled(False)
        self.torch = torch
        self.net = net
        self.t = torch_tensors(w, net)

    def __call__(self, x):
        x = self.torch.from_numpy(np.ascontiguousarray(x, np.float32)).permute(0, 3, 1, 2)
        return [(o.permute(0, 2, 3, 1) if o.ndim == 4 else o).numpy().astype(np.float64)
                for o in torch_forward(self.t, self.net, x)]


# ---- detect_face's arithmetic -----------------------------------------------------------------

def imresample(img, hs, ws):
    return cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)


def generate_boxes(prob, reg, scale, t):
    """prob (H', W'), reg (H', W', 4), both indexed [y, x] -> rows x1 y1 x2 y2 score dx1..dy2."""
    stride, cell = 2, 12
    # detect_face searches the transposed map: candidates in x-major order (which matters
    # only for ties in NMS)
    xs, ys = np.where(prob.T >= t)
    score = prob[ys, xs]
    r = reg[ys, xs]
    bb = np.stack([xs, ys], axis=1).astype(np.float64)
    q1 = np.fix((stride * bb + 1) / scale)
    q2 = np.fix((stride * bb + cell) / scale)
    return np.hstack([q1, q2, score[:, None], r])


def nms(boxes, threshold, method):
    if boxes.size == 0:
        return np.empty(0, np.int64)
    x1, y1, x2, y2, s = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-s, kind="stable")
    pick = []
    while order.size > 0:
        i = order[0]
        pick.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        o = inter / np.minimum(area[i], area[rest]) if method == "Min" else \
            inter / (area[i] + area[rest] - inter)
        order = rest[o <= threshold]
    return np.array(pick, np.int64)


def bbreg(boxes, reg):
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def rerec(boxes):
    out = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def crops(img, boxes, size, round_crops):
    """The reference's pad() + np.zeros canvas + INTER_AREA to size x size, float64
    (rounded to integers with --crops uint8)."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3))
    for k, b in enumerate(boxes.astype(np.int32)):
        x1, y1, x2, y2 = (int(v) for v in b[:4])
        tw, th = x2 - x1 + 1, y2 - y1 + 1
        if tw <= 0 or th <= 0:
            continue
        tmp = np.zeros((th, tw, 3))
        sx1, sy1, sx2, sy2 = max(x1, 1), max(y1, 1), min(x2, w), min(y2, h)
        if sx2 >= sx1 and sy2 >= sy1:
            tmp[sy1 - y1:sy2 - y1 + 1, sx1 - x1:sx2 - x1 + 1] = img[sy1 - 1:sy2, sx1 - 1:sx2]
        out[k] = imresample(tmp, size, size)
    return np.clip(np.round(out), 0, 255) if round_crops else out


def normalize_t(x):
    """(x - 127.5) / 128, then H and W swapped (the Caffe layout)."""
    return np.swapaxes((x - 127.5) * 0.0078125, 1, 2)


def detect_face(img, pnet, rnet, onet, round_crops=False, minsize=20, thresholds=(0.6, 0.7, 0.7),
                factor=0.709):
    h, w = img.shape[:2]
    m = 12.0 / minsize
    minl = min(h, w) * m
    scales = []
    count = 0
    while minl >= 12:
        scales.append(m * np.power(factor, count))
        minl *= factor
        count += 1

    total = np.empty((0, 9))
    for scale in scales:
        hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        x = normalize_t(imresample(img, hs, ws)[None].astype(np.float64))
        reg, prob = pnet(x)
        reg, prob = np.swapaxes(reg, 1, 2)[0], np.swapaxes(prob, 1, 2)[0]
        boxes = generate_boxes(prob[:, :, 1], reg, scale, thresholds[0])
        pick = nms(boxes, 0.5, "Union")
        total = np.vstack([total, boxes[pick]])

    if len(total) == 0:
        return np.empty((0, 5)), np.empty((0, 5, 2))
    total = total[nms(total, 0.7, "Union")]
    rw, rh = total[:, 2] - total[:, 0], total[:, 3] - total[:, 1]
    total = np.stack([total[:, 0] + total[:, 5] * rw, total[:, 1] + total[:, 6] * rh,
                      total[:, 2] + total[:, 7] * rw, total[:, 3] + total[:, 8] * rh,
                      total[:, 4]], axis=1)
    total = rerec(total)
    total[:, :4] = np.fix(total[:, :4])

    reg, prob = rnet(normalize_t(crops(img, total, 24, round_crops)))
    keep = prob[:, 1] > thresholds[1]
    total = np.hstack([total[keep, :4], prob[keep, 1:2]])
    reg = reg[keep]
    if len(total) == 0:
        return np.empty((0, 5)), np.empty((0, 5, 2))
    pick = nms(total, 0.7, "Union")
    total = rerec(bbreg(total[pick], reg[pick]))

    total = np.fix(total)
    reg, points, prob = onet(normalize_t(crops(img, total, 48, round_crops)))
    keep = prob[:, 1] > thresholds[2]
    total = np.hstack([total[keep, :4], prob[keep, 1:2]])
    reg, points = reg[keep], points[keep]
    if len(total) == 0:
        return np.empty((0, 5)), np.empty((0, 5, 2))
    bw = total[:, 2] - total[:, 0] + 1
    bh = total[:, 3] - total[:, 1] + 1
    px = bw[:, None] * points[:, 0:5] + total[:, 0:1] - 1
    py = bh[:, None] * points[:, 5:10] + total[:, 1:2] - 1
    total = bbreg(total, reg)
    pick = nms(total, 0.7, "Min")
    return total[pick], np.stack([px[pick], py[pick]], axis=2)


def load_image(path):
    if path.endswith(".npy"):
        img = np.load(path)
    else:
        from PIL import Image
        img = np.asarray(Image.open(path).convert("RGB"))
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise SystemExit(f"{path}: not a uint8 (H, W, 3) image")
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--crops", choices=["float", "uint8"], default="float")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    w = load_weights(a.weights)
    if a.backend == "torch":
        import torch
        if a.threads:
            torch.set_num_threads(a.threads)
        nets = [TorchNet(w, n) for n in ("det1", "det2", "det3")]
    else:
        nets = [NumpyNet(w, n) for n in ("det1", "det2", "det3")]
    images = [load_image(p) for p in a.images]
    best = None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        results = [detect_face(img, *nets, a.crops == "uint8") for img in images]
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    out = {"seconds": best, "images": []}
    for boxes, points in results:
        out["images"].append({"boxes": boxes.tolist(), "points": points.tolist()})
    with open(a.output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
