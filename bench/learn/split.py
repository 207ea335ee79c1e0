#!/usr/bin/python3
"""Split LFW DevTrain's people in two, seeded, and write what bench/learn/lfw_train.sh needs.

  split.py IMAGES OUT [--seed N] [--test 0.5]

OUT/train/<person> and OUT/test/<person>: symbolic links to IMAGES/<person> (every identity in
exactly one half, so no test identity is ever trained on); OUT/test_pairs.tsv: path1, path2,
label of (a) every pair of pairsDevTrain.txt whose people are both test people and (b) up to
3000 more same-person pairs of test people and as many different-person ones, drawn with the
seed (LFW's official pairs alone leave too few once halved).
"""
import argparse
import os
import random

p = argparse.ArgumentParser()
p.add_argument("images")
p.add_argument("out")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--test", type=float, default=0.5)
a = p.parse_args()
people = sorted(os.listdir(a.images))
rng = random.Random(a.seed)
shuffled = people[:]
rng.shuffle(shuffled)
test = set(shuffled[: int(round(a.test * len(people)))])
for half in ("train", "test"):
    os.makedirs(os.path.join(a.out, half), exist_ok=True)
for name in people:
    link = os.path.join(a.out, "test" if name in test else "train", name)
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(os.path.join(a.images, name)), link)
files = {n: sorted(os.listdir(os.path.join(a.images, n))) for n in test}
path = lambda n, f: os.path.join(a.out, "test", n, f)
pairs = set()
official = os.path.join(os.path.dirname(os.path.abspath(a.images)), "pairsDevTrain.txt")
for line in open(official).read().split("\n")[1:]:
    f = line.split("\t")
    if len(f) == 3 and f[0] in test:
        pairs.add((path(f[0], "%s_%04d.jpg" % (f[0], int(f[1]))),
                   path(f[0], "%s_%04d.jpg" % (f[0], int(f[2]))), 1))
    elif len(f) == 4 and f[0] in test and f[2] in test:
        pairs.add((path(f[0], "%s_%04d.jpg" % (f[0], int(f[1]))),
                   path(f[2], "%s_%04d.jpg" % (f[2], int(f[3]))), 0))
same = [(path(n, x), path(n, y), 1) for n in sorted(test) for i, x in enumerate(files[n])
        for y in files[n][i + 1:]]
rng.shuffle(same)
extra = [s for s in same if s not in pairs][:3000]
names = sorted(test)
different = []
while len(different) < len(extra):
    n1, n2 = rng.sample(names, 2)
    different.append((path(n1, rng.choice(files[n1])), path(n2, rng.choice(files[n2])), 0))
with open(os.path.join(a.out, "test_pairs.tsv"), "w") as out:
    for x, y, s in sorted(pairs) + extra + different:
        out.write("%s\t%s\t%d\n" % (x, y, s))
print("split: %d train people, %d test people, %d official + %d generated test pairs"
      % (len(people) - len(test), len(test), len(pairs), len(extra) + len(different)))
