#!/usr/bin/python3
"""A domain-shifted copy of an image tree: each image downscaled by FACTOR (box filter) and
scaled back up (bilinear), then made grayscale: low-resolution gray camera frames, where a
model trained on sharp colour photographs is weaker.

  degrade.py SRC DST [--factor 4]
"""
import argparse
import os

from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("src")
p.add_argument("dst")
p.add_argument("--factor", type=int, default=4)
a = p.parse_args()
count = 0
for root, _, names in os.walk(a.src, followlinks=True):
    for n in sorted(names):
        if not n.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        rel = os.path.relpath(os.path.join(root, n), a.src)
        out = os.path.join(a.dst, rel)
        if os.path.exists(out):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        im = Image.open(os.path.join(root, n)).convert("RGB")
        w, h = im.size
        small = im.resize((max(1, w // a.factor), max(1, h // a.factor)), Image.BOX)
        small.resize((w, h), Image.BILINEAR).convert("L").convert("RGB").save(out, quality=90)
        count += 1
print("degrade: %d images -> %s (1/%d resolution, grayscale)" % (count, a.dst, a.factor))
