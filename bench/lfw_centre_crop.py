"""lfw_centre_crop.py: LFW images cut to their central SIZE x SIZE, for `facerec pairs`.

facerec has no face alignment yet, and dlib's network expects a face filling its input; the
250x250 deep-funneled LFW images are mostly background around a face near the centre. The
default dlib threshold and the accuracy in docs/matching.md were measured on these crops:

    /usr/bin/python3 bench/lfw_centre_crop.py ../shared/data/lfw_devtrain/images /tmp/lfw110 110

Every image of every person folder under SRC is written under DST with the same relative path
(JPEG, quality 95).
"""
import os
import sys

from PIL import Image


def main(src, dst, size):
    for person in sorted(os.listdir(src)):
        os.makedirs(os.path.join(dst, person), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(src, person))):
            image = Image.open(os.path.join(src, person, name))
            w, h = image.size
            left, top = (w - size) // 2, (h - size) // 2
            image.crop((left, top, left + size, top + size)).save(
                os.path.join(dst, person, name), quality=95)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: lfw_centre_crop.py SRC DST SIZE")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
