#!/usr/bin/env python3
"""test_heldout_pairs.py: bench/heldout_pairs.py's list is what the detector comparisons in
bench/RESULTS.md rely on: no image of pairsDevTrain.txt in it, every image present, the counts
asked for, no pair twice, same pairs of one person and different pairs of two, and the same
file from the same arguments (another seed: another file). Skipped (77) without the data.
"""
import os
import subprocess
import sys
import tempfile

DATA = os.environ.get("FACEREC_DATA", "")
SOURCE = os.environ.get("FACEREC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
DEVTRAIN = os.path.join(DATA, "lfw_devtrain")
SCRIPT = os.path.join(SOURCE, "bench", "heldout_pairs.py")


def pair_images(line):
    p = line.split()
    if len(p) == 3:
        return [(p[0], int(p[1])), (p[0], int(p[2]))]
    return [(p[0], int(p[1])), (p[2], int(p[3]))]


def run(out, *args):
    subprocess.run([sys.executable, SCRIPT, DEVTRAIN, out, *args], check=True,
                   stderr=subprocess.DEVNULL)
    with open(out) as f:
        return f.read()


def main():
    if not os.path.isfile(os.path.join(DEVTRAIN, "pairsDevTrain.txt")):
        print("SKIPPED: no lfw_devtrain under FACEREC_DATA")
        return 77
    failures = []
    with open(os.path.join(DEVTRAIN, "pairsDevTrain.txt")) as f:
        next(f)
        used = {im for line in f if line.strip() for im in pair_images(line)}
    with tempfile.TemporaryDirectory() as tmp:
        a = run(os.path.join(tmp, "a.txt"), "--pairs", "500")
        b = run(os.path.join(tmp, "b.txt"), "--pairs", "500")
        c = run(os.path.join(tmp, "c.txt"), "--pairs", "500", "--seed", "7")
    if a != b:
        failures.append("two runs with the same arguments wrote different files")
    if a == c:
        failures.append("another seed wrote the same file")
    lines = a.splitlines()
    if lines[0] != "500" or len(lines) != 1001:
        failures.append(f"header {lines[0]!r} and {len(lines) - 1} pairs, not 500 and 1000")
    same, different = lines[1:501], lines[501:]
    if any(len(line.split()) != 3 for line in same):
        failures.append("a same pair is not 'name i j'")
    if any(len(line.split()) != 4 or line.split()[0] == line.split()[2] for line in different):
        failures.append("a different pair is not 'name i other j' of two people")
    if any(line.split()[1] == line.split()[2] for line in same):
        failures.append("a same pair holds one image twice")
    if len(set(lines[1:])) != 1000:
        failures.append("a pair appears twice")
    images = {im for line in lines[1:] for im in pair_images(line)}
    if images & used:
        failures.append(f"{len(images & used)} images of pairsDevTrain.txt in the list")
    missing = [im for im in images if not os.path.isfile(
        os.path.join(DEVTRAIN, "images", im[0], f"{im[0]}_{im[1]:04d}.jpg"))]
    if missing:
        failures.append(f"{len(missing)} images not in the data, e.g. {missing[0]}")
    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
