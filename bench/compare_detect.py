#!/usr/bin/env python3
"""Compare two `facerec detect -o faces.csv` files of the same images (GPU against CPU).

Prints one JSON line: images, how many have the same face count, the worst main-face IoU
(face 0 of each image, the face the embedding commands use), the largest landmark distance in
pixels over main faces that have landmarks (MTCNN's five; empty for --detector tiny), and
whether the issue's bounds hold (main-face IoU >= 0.95, landmarks within 1 px). Exit 0 when
they hold, 1 when not, 2 on unreadable input.

    bench/compare_detect.py [--name NAME] CPU.csv GPU.csv
"""
import argparse
import csv
import json
import math
import sys

IOU_BOUND = 0.95
LANDMARK_BOUND_PX = 1.0
POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def faces(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["path"], []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: int(r["face"]))
    return out


def iou(a, b):
    ax1, ay1, ax2, ay2 = (float(a[k]) for k in ("x1", "y1", "x2", "y2"))
    bx1, by1, bx2, by2 = (float(b[k]) for k in ("x1", "y1", "x2", "y2"))
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def landmark_distance(a, b):
    worst = None
    for p in POINTS:
        xa, ya, xb, yb = (a[f"{p}_x"], a[f"{p}_y"], b[f"{p}_x"], b[f"{p}_y"])
        if "" in (xa, ya, xb, yb):
            return None
        d = math.hypot(float(xa) - float(xb), float(ya) - float(yb))
        worst = d if worst is None else max(worst, d)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="detect", help="the JSON line's bench name")
    ap.add_argument("reference", help="faces CSV of the reference run (the CPU)")
    ap.add_argument("candidate", help="faces CSV of the run checked (the GPU)")
    args = ap.parse_args()
    try:
        ref, cand = faces(args.reference), faces(args.candidate)
    except (OSError, KeyError, ValueError) as e:
        print(f"compare_detect.py: {e}", file=sys.stderr)
        return 2
    paths = sorted(set(ref) | set(cand))
    same_count, worst_iou, worst_landmark, missing = 0, 1.0, 0.0, 0
    for p in paths:
        a, b = ref.get(p, []), cand.get(p, [])
        same_count += len(a) == len(b)
        if not a or not b:
            missing += bool(a) != bool(b)
            continue
        worst_iou = min(worst_iou, iou(a[0], b[0]))
        d = landmark_distance(a[0], b[0])
        if d is not None:
            worst_landmark = max(worst_landmark, d)
    ok = bool(paths) and missing == 0 and worst_iou >= IOU_BOUND and \
        worst_landmark <= LANDMARK_BOUND_PX
    print(json.dumps({"bench": args.name, "images": len(paths), "same_face_count": same_count,
                      "main_face_missing_on_one_side": missing,
                      "worst_main_face_iou": round(worst_iou, 4),
                      "worst_landmark_px": round(worst_landmark, 3),
                      "bounds": f"IoU >= {IOU_BOUND}, landmarks <= {LANDMARK_BOUND_PX} px",
                      "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
