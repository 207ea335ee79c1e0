#!/usr/bin/python3
"""Generates the image fixtures of tests/test_image.c (run from anywhere; writes beside itself).

Every pixel here is synthetic (gradients, discs and seeded noise), made by this script, so the
files carry no third-party content. Each one exercises one decoding path:

  JPEG  gray.jpg (1 component), cmyk.jpg (Adobe CMYK, inverted, as Pillow writes it),
        ycck.jpg (YCCK, written by TurboJPEG from CMYK), rgb_odd420.jpg (61x37, 4:2:0),
        rgb422.jpg, trailing_garbage.jpg (junk before EOI: accepted, as Pillow does),
        bomb.jpg (a valid small JPEG whose SOF claims 60000 x 60000)
  PNG   rgba.png, rgb16.png, rgba16.png, gray.png, gray16.png, graya.png, gray1.png, gray2.png,
        palette_trns.png (8-bit palette with tRNS), palette4.png, interlaced.png (Adam7),
        bomb.png (IHDR claims 60000 x 60000)
  other empty.jpg, random.bin (random bytes), text.jpg (a text file named .jpg), tiny.gif,
        truncated.jpg / truncated.png (the first half of rgb422.jpg / rgba.png)

Needs numpy and Pillow (Debian: /usr/bin/python3 with python3-pil) and libturbojpeg for
ycck.jpg. PNGs are written by hand (zlib + CRC) so that bit depth, colour type, tRNS and
interlacing are exactly as stated.
"""
import ctypes
import ctypes.util
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240521)


def path(name):
    return os.path.join(HERE, name)


def synthetic(h, w, channels=3, maxval=255):
    """Smooth gradients, a disc and a little noise: JPEG-friendly but not trivial."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        g = (x / max(w - 1, 1)) * (0.3 + 0.2 * c) + (y / max(h - 1, 1)) * (0.7 - 0.2 * c)
        disc = ((x - w * (0.3 + 0.15 * c)) ** 2 + (y - h * 0.5) ** 2) < (min(h, w) * 0.3) ** 2
        g = 0.8 * g + 0.2 * disc + rng.normal(0, 0.03, (h, w))
        planes.append(np.clip(g, 0, 1))
    a = np.stack(planes, axis=-1) * maxval
    return np.rint(a).astype(np.uint16 if maxval > 255 else np.uint8)


# ---- PNG writer ---------------------------------------------------------------------------

def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_rows(rows, bit_depth):
    """rows: (h, w*channels) integer samples -> bytes per row (big-endian, packed)."""
    out = []
    for r in rows:
        if bit_depth == 16:
            out.append(r.astype(">u2").tobytes())
        elif bit_depth == 8:
            out.append(r.astype(np.uint8).tobytes())
        else:
            per = 8 // bit_depth
            padded = np.zeros(((len(r) + per - 1) // per) * per, dtype=np.uint8)
            padded[: len(r)] = r
            g = padded.reshape(-1, per)
            b = np.zeros(len(g), dtype=np.uint8)
            for i in range(per):
                b |= (g[:, i] << (8 - bit_depth * (i + 1))).astype(np.uint8)
            out.append(b.tobytes())
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, samples, color_type, bit_depth, plte=None, trns=None, interlace=False,
              claim=None):
    """samples: (h, w, channels) array of integer samples (indices for palettes)."""
    h, w, ch = samples.shape
    iw, ih = claim if claim else (w, h)
    ihdr = struct.pack(">IIBBBBB", iw, ih, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in pack_rows(sub.reshape(sub.shape[0], -1), bit_depth):
            raw += b"\x00" + row
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte is not None:
        data += chunk(b"PLTE", bytes(np.asarray(plte, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path(name), "wb") as f:
        f.write(data)


# ---- JPEG helpers -------------------------------------------------------------------------

def set_sof_size(data, width, height):
    """Rewrites the frame size in the first SOFn marker."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[:i + 5] + struct.pack(">HH", height, width) + data[i + 9:]
        i += 2 + length
    raise ValueError("no SOF marker")


def write_ycck(name, cmyk):
    lib = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
    lib.tjInitCompress.restype = ctypes.c_void_p
    lib.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int,
                                ctypes.c_int]
    lib.tjFree.argtypes = [ctypes.c_void_p]
    lib.tjDestroy.argtypes = [ctypes.c_void_p]
    h, w, _ = cmyk.shape
    handle = lib.tjInitCompress()
    buf, size = ctypes.c_void_p(), ctypes.c_ulong(0)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    rc = lib.tjCompress2(handle, cmyk.tobytes(), w, 0, h, TJPF_CMYK, ctypes.byref(buf),
                         ctypes.byref(size), TJSAMP_420, 90, 0)
    assert rc == 0
    data = ctypes.string_at(buf, size.value)
    lib.tjFree(buf)
    lib.tjDestroy(handle)
    with open(path(name), "wb") as f:
        f.write(data)


def main():
    # JPEG
    Image.fromarray(synthetic(48, 64, 1)[..., 0], "L").save(path("gray.jpg"), quality=90)
    Image.fromarray(synthetic(48, 64, 4), "CMYK").save(path("cmyk.jpg"), quality=90)
    write_ycck("ycck.jpg", synthetic(40, 56, 4))
    Image.fromarray(synthetic(37, 61)).save(path("rgb_odd420.jpg"), quality=85, subsampling=2)
    Image.fromarray(synthetic(48, 64)).save(path("rgb422.jpg"), quality=92, subsampling=1)
    good = open(path("rgb422.jpg"), "rb").read()
    assert good.endswith(b"\xff\xd9")
    with open(path("trailing_garbage.jpg"), "wb") as f:
        f.write(good[:-2] + b"\x12\x34\x56" + good[-2:])
    with open(path("truncated.jpg"), "wb") as f:
        f.write(good[: len(good) // 2])
    with open(path("bomb.jpg"), "wb") as f:
        f.write(set_sof_size(good, 60000, 60000))

    # PNG
    write_png("rgba.png", synthetic(40, 50, 4), 6, 8)
    write_png("rgb16.png", synthetic(30, 41, 3, 65535), 2, 16)
    write_png("rgba16.png", synthetic(30, 41, 4, 65535), 6, 16)
    write_png("gray.png", synthetic(33, 45, 1), 0, 8)
    write_png("gray16.png", synthetic(33, 45, 1, 65535), 0, 16)
    write_png("graya.png", synthetic(33, 45, 2), 4, 8)
    write_png("gray1.png", (synthetic(21, 37, 1) > 127).astype(np.uint8), 0, 1)
    write_png("gray2.png", synthetic(21, 37, 1) >> 6, 0, 2)
    palette = rng.integers(0, 256, (256, 3))
    trns = bytes(rng.integers(0, 256, 100).astype(np.uint8))
    write_png("palette_trns.png", rng.integers(0, 256, (29, 31, 1)), 3, 8, plte=palette, trns=trns)
    write_png("palette4.png", rng.integers(0, 16, (29, 31, 1)), 3, 4, plte=palette[:16])
    write_png("interlaced.png", synthetic(27, 35), 2, 8, interlace=True)
    write_png("bomb.png", synthetic(4, 4), 2, 8, claim=(60000, 60000))
    png = open(path("rgba.png"), "rb").read()
    with open(path("truncated.png"), "wb") as f:
        f.write(png[: len(png) // 2])

    # not images
    open(path("empty.jpg"), "wb").close()
    with open(path("random.bin"), "wb") as f:
        f.write(rng.integers(0, 256, 4096).astype(np.uint8).tobytes())
    with open(path("text.jpg"), "w") as f:
        f.write("This is a text file with a .jpg name, not an image.\n")
    Image.fromarray(synthetic(8, 8)).convert("P").save(path("tiny.gif"))


if __name__ == "__main__":
    main()
