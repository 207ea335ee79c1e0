#!/usr/bin/env python3
"""norm_crop.py: InsightFace's ArcFace alignment, the reference for facerec's arcface chips.

usage: norm_crop.py IMAGE LANDMARKS.npy OUT.npy [SIZE]

LANDMARKS.npy: float64 (F, 5, 2), five (x, y) points per face (eyes, nose tip, mouth corners).
OUT.npy: uint8 (F, SIZE, SIZE, 3) RGB chips. As insightface/utils/face_align.py's norm_crop:
the similarity transform from the landmarks onto arcface_dst (scaled by SIZE / 112) estimated
as scikit-image's SimilarityTransform.estimate does (Umeyama 1991, its _umeyama: SVD of the
covariance, reflection excluded), then cv2.warpAffine (bilinear, border 0). The image is
decoded by Pillow (RGB), as facerec's decoder equals it.
"""
import sys

import cv2
import numpy as np
from PIL import Image

ARCFACE_DST = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def umeyama(src, dst):
    """skimage.transform._geometric._umeyama with estimate_scale=True."""
    num, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_demean, dst_demean = src - src_mean, dst - dst_mean
    a = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(a) < 0:
        d[dim - 1] = -1
    t = np.eye(dim + 1, dtype=np.float64)
    u, s, v = np.linalg.svd(a)
    rank = np.linalg.matrix_rank(a)
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(v) > 0:
            t[:dim, :dim] = u @ v
        else:
            s_ = d[dim - 1]
            d[dim - 1] = -1
            t[:dim, :dim] = u @ np.diag(d) @ v
            d[dim - 1] = s_
    else:
        t[:dim, :dim] = u @ np.diag(d) @ v
    scale = 1.0 / src_demean.var(axis=0).sum() * (s @ d)
    t[:dim, dim] = dst_mean - scale * (t[:dim, :dim] @ src_mean.T)
    t[:dim, :dim] *= scale
    return t


def main():
    image = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
    points = np.load(sys.argv[2])
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 112
    dst = ARCFACE_DST * (size / 112.0)
    chips = []
    for lmk in points:
        m = umeyama(lmk.astype(np.float64), dst.astype(np.float64))[0:2, :]
        chips.append(cv2.warpAffine(image, m, (size, size), borderValue=0.0))
    np.save(sys.argv[3], np.stack(chips).astype(np.uint8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
