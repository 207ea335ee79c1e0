#!/usr/bin/env python3
"""Recall of pasted faces: `facerec detect -o faces.csv` files against a truth file of
bench/make_bench_data.py (group.json or small.json: per image name, the pasted faces' boxes).

A pasted face is found when some box of its image overlaps it with IoU >= 0.3 (LFW's face box in
the truth file is the photo's central 110 x 110, scaled, and detectors frame faces differently:
the rule bench/device_check.sh uses). Boxes that match no pasted face are counted as "other"
(most are real faces behind LFW's subject, inside its photo). Prints, per CSV, one Markdown row,
and the images where it finds fewer pasted faces than the first CSV (the reference).

    bench/detect_recall.py TRUTH.json REFERENCE.csv [CANDIDATE.csv...]
"""
import csv
import json
import os
import sys

IOU = 0.3


def fail(message):
    """One line on stderr, exit 2 (bad input)."""
    print(f"bench/detect_recall.py: {message}", file=sys.stderr)
    sys.exit(2)


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / u if u > 0 else 0.0


def found(truth, path):
    boxes = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("x1"):
                    boxes.setdefault(os.path.basename(row["path"]), []).append(
                        [float(row[k]) for k in ("x1", "y1", "x2", "y2")])
    except (OSError, KeyError, ValueError) as e:
        fail(f"{path}: {e}")
    hits, other = {}, 0
    for name, faces in truth.items():
        got = boxes.get(name, [])
        hits[name] = sum(1 for t in faces if any(iou(t["face"], b) >= IOU for b in got))
        other += sum(1 for b in got if not any(iou(t["face"], b) >= IOU for t in faces))
    return hits, other


def main():
    if len(sys.argv) < 3:
        fail("usage: " + __doc__.strip().splitlines()[-1].strip())
    try:
        with open(sys.argv[1]) as f:
            truth = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{sys.argv[1]}: {e}")
    total = sum(len(v) for v in truth.values())
    print(f"| detect CSV ({len(truth)} images, {total} pasted faces) | found | other boxes | images with fewer than the first |")
    print("|---|---|---|---|")
    ref = None
    for path in sys.argv[2:]:
        hits, other = found(truth, path)
        fewer = [n for n in hits if ref is not None and hits[n] < ref[n]]
        print(f"| {path} | {sum(hits.values())} | {other} | {len(fewer)} |")
        for n in fewer[:10]:
            print(f"|   {n}: {hits[n]} of {len(truth[n])} (first: {ref[n]}) | | | |")
        ref = ref or hits
    return 0


if __name__ == "__main__":
    sys.exit(main())
