#!/usr/bin/env python3
"""A second LFW DevTrain pairs list, from the images pairsDevTrain.txt does not use.

pairsDevTrain.txt's 2,200 pairs use 3,443 of the split's 7,050 images, and a detector choice
judged on them alone is judged on the list it was tuned on (bench/RESULTS.md: the 10-fold
accuracy moves by 0.1-0.4 points between neighbouring detector sizes). This writes, in the same
format (`facerec pairs` reads it), pairs drawn only from the other images:

  same       for each person with two or more unused images, up to --per-person pairs of them
             (so that the people with hundreds of photos do not fill the list), then N drawn
             from all of those;
  different  N pairs of unused images of two different people, drawn uniformly.

Deterministic (seeded): the same data and arguments give the same file. The first line is N,
then the N same pairs (name, i, j), then the N different ones (name, i, name, j), as LFW's
View 1 files are. It is still DevTrain (LFW's View 2 test split is not here): held out from the
pairs list, not from the split.

    bench/heldout_pairs.py [--pairs N] [--per-person K] [--seed S] DEVTRAIN_DIR OUT.txt
"""
import argparse
import os
import random
import sys


def image_number(name):
    # Aaron_Peirsol_0003.jpg -> 3
    return int(os.path.splitext(name)[0].rsplit("_", 1)[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("devtrain", help="the lfw_devtrain folder (images/ and pairsDevTrain.txt)")
    ap.add_argument("out", help="the pairs file to write")
    ap.add_argument("--pairs", type=int, default=2000, help="same pairs, and different pairs")
    ap.add_argument("--per-person", type=int, default=10, help="same pairs a person gives at most")
    ap.add_argument("--seed", type=int, default=20261204)
    a = ap.parse_args()

    used = set()
    with open(os.path.join(a.devtrain, "pairsDevTrain.txt")) as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) == 3:
                used.add((p[0], int(p[1])))
                used.add((p[0], int(p[2])))
            elif len(p) == 4:
                used.add((p[0], int(p[1])))
                used.add((p[2], int(p[3])))
    root = os.path.join(a.devtrain, "images")
    unused = {}
    for person in sorted(os.listdir(root)):
        d = os.path.join(root, person)
        if not os.path.isdir(d):
            continue
        numbers = sorted(image_number(n) for n in os.listdir(d) if n.endswith(".jpg"))
        left = [k for k in numbers if (person, k) not in used]
        if left:
            unused[person] = left
    rng = random.Random(a.seed)
    candidates = []
    for person, numbers in unused.items():
        every = [(person, numbers[i], numbers[j])
                 for i in range(len(numbers)) for j in range(i + 1, len(numbers))]
        rng.shuffle(every)
        candidates += every[: a.per_person]
    if len(candidates) < a.pairs:
        sys.exit(f"heldout_pairs.py: only {len(candidates)} same pairs among the unused images")
    same = sorted(rng.sample(candidates, a.pairs))
    people = sorted(unused)
    different = set()
    while len(different) < a.pairs:
        p, q = rng.sample(people, 2)
        if p > q:
            p, q = q, p
        different.add((p, rng.choice(unused[p]), q, rng.choice(unused[q])))
    images = sum(len(v) for v in unused.values())
    with open(a.out, "w") as f:
        f.write(f"{a.pairs}\n")
        for p, i, j in same:
            f.write(f"{p}\t{i}\t{j}\n")
        for p, i, q, j in sorted(different):
            f.write(f"{p}\t{i}\t{q}\t{j}\n")
    print(f"heldout_pairs.py: {a.pairs} same and {a.pairs} different pairs from {images} images "
          f"of {len(unused)} people that pairsDevTrain.txt does not use -> {a.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
