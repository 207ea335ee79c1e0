#!/usr/bin/python3
"""OpenCV's cv2.resize(INTER_AREA), the resampler of facenet's detect_face, for
tests/test_resize_area.c: for each case DIR/case_NNN_src.npy (uint8 (H, W, 3)) with its
destination size in DIR/cases.json, writes DIR/case_NNN_cv.npy (uint8, OpenCV on the uint8
image) and DIR/case_NNN_cv64.npy (OpenCV on the image as float64, stored as float32: detect_face's
crops are float64 arrays). Exit status 77 when numpy or OpenCV is missing."""
import json
import sys

try:
    import cv2
    import numpy as np
except ImportError:
    sys.exit(77)

d = sys.argv[1]
for i, (w, h) in enumerate(json.load(open(f"{d}/cases.json"))):
    src = np.load(f"{d}/case_{i:03d}_src.npy")
    np.save(f"{d}/case_{i:03d}_cv.npy", cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA))
    np.save(f"{d}/case_{i:03d}_cv64.npy",
            cv2.resize(src.astype(np.float64), (w, h),
                       interpolation=cv2.INTER_AREA).astype(np.float32))
