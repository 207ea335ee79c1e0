#!/usr/bin/python3
"""Pillow's decoding of images, the reference for tests/test_image.c.

    decode_ref.py MANIFEST
        MANIFEST: one case per line, tab-separated: OUT.npy, IMAGE, DRAFT
        writes OUT.npy: uint8 (H, W, 3), Image.open(IMAGE).convert('RGB') (what Keras'
        load_img and the seed do); DRAFT > 0 first calls im.draft('RGB', (DRAFT, DRAFT)),
        i.e. libjpeg's own DCT scaling by 1/2, 1/4 or 1/8, to check facerec's min_side.

Exit status 77 when numpy or Pillow is missing (the C test then reports SKIPPED).

One deliberate difference is applied here, not hidden in the C test: a 16-bit grayscale PNG
opens in Pillow as mode "I", whose convert('RGB') clips every value above 255 to 255 (a
near-white image); facerec keeps the high byte (v >> 8), as Pillow itself does for 16-bit
RGB, RGBA and LA PNGs. For such images the expected output is the high byte, replicated.
"""
import sys
import warnings

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"decode_ref.py: {e}", file=sys.stderr)
    sys.exit(77)


def reference(path, draft):
    im = Image.open(path)
    if draft > 0:
        im.draft("RGB", (draft, draft))
    if im.format == "PNG" and im.mode in ("I", "I;16", "I;16B"):
        a = np.asarray(im, dtype=np.int64) >> 8
        return np.repeat(a[..., None], 3, axis=2).astype(np.uint8)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def main():
    warnings.simplefilter("ignore")  # Pillow's "palette with transparency" advice
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            out, image, draft = line.rstrip("\n").split("\t")
            np.save(out, np.ascontiguousarray(reference(image, int(draft))))


if __name__ == "__main__":
    main()
