#!/usr/bin/python3
"""Benchmark inputs for the device check (bench/device_check.sh), made from LFW photos.

  make_bench_data.py --src DIR --out DIR [--lfw 10000] [--group 1000] [--small 0] [--workers N]

Writes, from the JPEGs under --src (LFW DevTrain images, 250 x 250, one face each near the
centre):

  OUT/lfw/     --lfw LFW-size JPEGs, all distinct: source i % S (S sources, name order) in
               variant i // S: mirrored when the variant is odd, and cropped 242 x 242 at one of
               five offsets (centre, 4 px left/right/up/down) then resized back to 250 x 250
               (bilinear), quality 90, 4:2:0: the same kind of file as LFW, never a byte copy
  OUT/group/   --group 1920 x 1080 "group photos": a smooth random background (two gradients
               and noise, no faces) with 10 LFW photos pasted in a 5 x 2 grid of 384 x 540
               cells, each scaled by a random factor in [0.7, 1.5] (175-375 px, so faces of
               about 80-165 px, as in a real 1080p group photo) at a random place inside its
               cell; quality 90, 4:2:0; sources taken in turn
  OUT/group.json   for every group photo, its 10 pasted rectangles (x1, y1, x2, y2) and the
               face box inside each (LFW's face: the central 110 x 110 of the 250 x 250 photo,
               scaled), so detection recall can be measured
  OUT/small/   --small small group photos (issue 10: a detector with a fixed input sees their
               faces shrunk less than a 1080p photo's): 300-380 px wide, 3:4 high, a grid of
               2-3 x 1-2 cells (2-6 faces), each an LFW photo scaled to 70-100 % of its cell's
               shorter side (faces of about 35-80 px) at a random place inside the cell, on the
               same kind of background; OUT/small.json as group.json

Deterministic (seeded per output file), parallel over --workers processes (default: all
cores). Needs numpy and Pillow.
"""
import argparse
import json
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

OFFSETS = [(0, 0), (-4, 0), (4, 0), (0, -4), (0, 4)]
W, H, COLS, ROWS = 1920, 1080, 5, 2


def lfw_variant(job):
    src, variant, out = job
    im = Image.open(src).convert("RGB")
    if variant % 2:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    dx, dy = OFFSETS[(variant // 2) % len(OFFSETS)]
    w, h = im.size
    c = 242
    x0, y0 = (w - c) // 2 + dx, (h - c) // 2 + dy
    im = im.crop((x0, y0, x0 + c, y0 + c)).resize((w, h), Image.BILINEAR)
    im.save(out, quality=90, subsampling=2)


def background(rng):
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.empty((H, W, 3), np.float32)
    for k in range(3):
        a, b, c = rng.uniform(-60, 60), rng.uniform(-60, 60), rng.uniform(60, 190)
        img[:, :, k] = c + a * x / W + b * y / H
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def group_photo(job):
    index, sources, out = job
    rng = np.random.default_rng(1000 + index)
    canvas = background(rng)
    faces = []
    cw, ch = W // COLS, H // ROWS
    for k, src in enumerate(sources):
        im = Image.open(src).convert("RGB")
        s = rng.uniform(0.7, 1.5)
        faces.append(paste(canvas, im, s, k % COLS, k // COLS, cw, ch, rng))
    canvas.save(out, quality=90, subsampling=2)
    return os.path.basename(out), faces


def paste(canvas, im, s, col, row, cw, ch, rng):
    """Pastes photo IM scaled by S at a random place in cell (COL, ROW) of size CW x CH;
    returns its photo box and face box (LFW's face: about the central 110 x 110 of 250)."""
    side = int(round(im.size[0] * s))
    im = im.resize((side, side), Image.BILINEAR)
    x = col * cw + int(rng.integers(0, max(1, cw - side)))
    y = row * ch + int(rng.integers(0, max(1, ch - side)))
    canvas.paste(im, (x, y))
    f = 110 * s
    cx, cy = x + side / 2, y + side / 2
    return {"photo": [x, y, x + side, y + side],
            "face": [cx - f / 2, cy - f / 2, cx + f / 2, cy + f / 2]}


def small_photo(job):
    index, sources, out = job
    rng = np.random.default_rng(5000 + index)
    w = int(rng.integers(300, 381))
    h = w * 3 // 4
    cols, rows = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    canvas = background(rng).resize((w, h), Image.BILINEAR)
    faces = []
    cw, ch = w // cols, h // rows
    for k in range(cols * rows):
        im = Image.open(sources[k]).convert("RGB")
        s = rng.uniform(0.7, 1.0) * min(cw, ch) / im.size[0]
        faces.append(paste(canvas, im, s, k % cols, k // cols, cw, ch, rng))
    canvas.save(out, quality=90, subsampling=2)
    return os.path.basename(out), faces


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lfw", type=int, default=10000)
    ap.add_argument("--group", type=int, default=1000)
    ap.add_argument("--small", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args()
    sources = sorted(os.path.join(d, f) for d, _, fs in os.walk(a.src) for f in fs
                     if f.lower().endswith(".jpg"))
    if len(sources) < 10:
        sys.exit(f"make_bench_data.py: {a.src}: {len(sources)} JPEGs, at least 10 needed")
    os.makedirs(os.path.join(a.out, "lfw"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "group"), exist_ok=True)
    if a.small:
        os.makedirs(os.path.join(a.out, "small"), exist_ok=True)
    n = len(sources)
    lfw_jobs = [(sources[i % n], i // n, os.path.join(a.out, "lfw", f"lfw_{i:05d}.jpg"))
                for i in range(a.lfw)]
    group_jobs = [(i, [sources[(10 * i + k) % n] for k in range(10)],
                   os.path.join(a.out, "group", f"group_{i:04d}.jpg")) for i in range(a.group)]
    small_jobs = [(i, [sources[(6 * i + 7919 * k) % n] for k in range(6)],
                   os.path.join(a.out, "small", f"small_{i:04d}.jpg")) for i in range(a.small)]
    with Pool(a.workers) as pool:
        pool.map(lfw_variant, lfw_jobs, chunksize=64)
        boxes = dict(pool.map(group_photo, group_jobs, chunksize=4))
        small = dict(pool.map(small_photo, small_jobs, chunksize=4))
    with open(os.path.join(a.out, "group.json"), "w") as f:
        json.dump(boxes, f)
    if a.small:
        with open(os.path.join(a.out, "small.json"), "w") as f:
            json.dump(small, f)
    print(json.dumps({"bench": "data", "sources": n, "lfw": a.lfw, "group": a.group,
                      "small": a.small, "lfw_bytes": sum(os.path.getsize(j[2]) for j in lfw_jobs),
                      "group_bytes": sum(os.path.getsize(j[2]) for j in group_jobs)}))


if __name__ == "__main__":
    main()
