#!/usr/bin/python3
"""Pillow's Image.resize, the reference for tests/test_resize.c.

    resize_ref.py MANIFEST
        MANIFEST: one case per line, tab-separated: IN.npy, NEAREST_OUT.npy, BILINEAR_OUT.npy,
        WIDTH, HEIGHT. IN.npy is uint8 (H, W, 3); each output is uint8 (HEIGHT, WIDTH, 3):
        Image.fromarray(in).resize((WIDTH, HEIGHT), NEAREST | BILINEAR), i.e. Keras' load_img
        (target_size, interpolation='nearest') and FaceNet's BILINEAR preprocessing.

Exit status 77 when numpy or Pillow is missing (the C test then reports SKIPPED).
"""
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"resize_ref.py: {e}", file=sys.stderr)
    sys.exit(77)


def main():
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            src, nearest, bilinear, width, height = line.rstrip("\n").split("\t")
            im = Image.fromarray(np.load(src), "RGB")
            size = (int(width), int(height))
            np.save(nearest, np.asarray(im.resize(size, Image.NEAREST)))
            np.save(bilinear, np.asarray(im.resize(size, Image.BILINEAR)))


if __name__ == "__main__":
    main()
