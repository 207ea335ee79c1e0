#!/usr/bin/python3
"""bench/learn/cluster_bench.py: `facerec cluster` against scikit-learn in the same run
(docs/learning.md), time and peak memory, each side a process of its own measured by
/usr/bin/time's maximum resident set size.

  cluster_bench.py BUILD_DIR synthetic N [N ...]   synthetic people (10 faces each, 128-d unit
                                                   embeddings, the dlib threshold 0.428)
  cluster_bench.py BUILD_DIR part N K             facerec's methods, and scikit-learn's
                                                   radius search (DBSCAN's neighbourhoods) for
                                                   N/K of the N queries: where a whole DBSCAN
                                                   run does not fit (K x its time, +
                                                   a linear pass)
  cluster_bench.py BUILD_DIR lfw LFW.npy           real embeddings (facerec embed of LFW
                                                   DevTrain with its .paths): quality too

Peers: DBSCAN(eps=threshold, min_samples=1) gives the connected components' partition (the
same answer, so it is the like-for-like time), with algorithm='brute': scikit-learn's default
('auto') builds a ball tree, which in 128 dimensions prunes almost nothing and is several
times slower than its chunked, multithreaded brute-force radius search (the one a user who
measured would pick; 'dbscan-auto' runs the default). AgglomerativeClustering(linkage=
'average', distance_threshold) gives the same partition as --method average, run where its
N x N matrix fits (N <= 10000 here: 100k faces would need 40 GB). Quality: pairwise and
BCubed F1 against the true people. facerec's rows also give its graph time (--summary).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

THRESHOLD = 0.428
PEER = r'''
import sys, time, json, numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering
x = np.load(sys.argv[1]); method = sys.argv[2]; t = float(sys.argv[3])
start = time.time()
if method.startswith("radius-"):
    # DBSCAN's expensive part alone, for 1/k of the queries: its brute-force radius search
    # (what DBSCAN(algorithm='brute') runs over every row, then a linear label pass)
    from sklearn.neighbors import NearestNeighbors
    k = int(method.split("-")[1])
    nn = NearestNeighbors(radius=t, algorithm="brute", n_jobs=2).fit(x)
    nn.radius_neighbors(x[:len(x) // k], return_distance=False)
    labels = np.zeros(len(x), np.int32)
elif method.startswith("dbscan"):
    algorithm = "auto" if method == "dbscan-auto" else "brute"
    labels = DBSCAN(eps=t, min_samples=1, algorithm=algorithm, n_jobs=2).fit(x).labels_
else:
    labels = AgglomerativeClustering(n_clusters=None, distance_threshold=t,
                                     linkage="average").fit(x).labels_
np.save(sys.argv[4], labels.astype(np.int32))
print(json.dumps({"seconds": time.time() - start}))
'''


def timed(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "RSS %M WALL %e"] + cmd, capture_output=True,
                         text=True)
    tail = [l for l in out.stderr.splitlines() if l.startswith("RSS ")]
    if out.returncode != 0 or not tail:
        return None, out.stderr[-400:]
    rss, wall = tail[-1].split()[1], tail[-1].split()[3]
    return {"rss_mib": int(rss) / 1024, "wall_s": float(wall)}, out.stdout


def scores(pred, truth):
    from sklearn.metrics.cluster import pair_confusion_matrix
    pred = np.where(pred < 0, pred.max() + 1 + np.arange(len(pred)), pred)
    (tn, fp), (fn, tp) = pair_confusion_matrix(truth, pred) / 2
    p, r = tp / (tp + fp), tp / (tp + fn)
    # BCubed through the contingency table (no N x N matrix)
    _, pi = np.unique(pred, return_inverse=True)
    _, ti = np.unique(truth, return_inverse=True)
    cell = pi.astype(np.int64) * (ti.max() + 1) + ti
    _, ci, cc = np.unique(cell, return_inverse=True, return_counts=True)
    c = cc[ci]
    bp = np.mean(c / np.bincount(pi)[pi])
    br = np.mean(c / np.bincount(ti)[ti])
    f = lambda a, b: 2 * a * b / (a + b)
    return {"pair_f1": round(f(p, r), 4), "bcubed_f1": round(f(bp, br), 4)}


def run(build, npy, truth, tmp, peers, methods=("whispers", "components", "average")):
    # the process's floor: the binary with its libraries loaded (the CUDA build maps cuBLAS
    # and cuDNN) doing nothing
    floor, _ = timed([os.path.join(build, "facerec"), "--version"])
    rows = [dict({"who": "facerec --version (memory floor)"}, **floor)]
    for method in methods:
        out = os.path.join(tmp, method + ".csv")
        summary = os.path.join(tmp, method + ".json")
        m, log = timed([os.path.join(build, "facerec"), "cluster", npy, "--method", method,
                        "--threshold", str(THRESHOLD), "--quiet", "-o", out, "--device", "cpu",
                        "--summary", summary])
        if m is None:
            rows.append({"who": "facerec " + method, "failed": log})
            continue
        pred = np.loadtxt(out, delimiter=",", skiprows=1, usecols=2, dtype=np.int64)
        s = json.load(open(summary))
        m["graph_s"] = round(s["seconds_graph"], 2)
        m["cluster_s"] = round(s["seconds_cluster"], 2)
        rows.append(dict({"who": "facerec " + method}, **m, **scores(pred, truth)))
    for method in peers:
        lab = os.path.join(tmp, method + ".npy")
        m, log = timed([sys.executable, "-c", PEER, npy, method, str(THRESHOLD), lab])
        if m is None:
            rows.append({"who": "sklearn " + method, "failed": log})
            continue
        # a partial radius search makes no partition to score
        quality = {} if method.startswith("radius-") else scores(np.load(lab), truth)
        rows.append(dict({"who": "sklearn " + method}, **m, **quality))
    return rows


def synthetic(n, seed=1):
    rng = np.random.default_rng(seed)
    people = n // 10
    centres = rng.normal(size=(people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(people), 10)
    x = centres[truth] + rng.normal(scale=0.022, size=(n, 128))  # same-person pairs at ~0.35
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), truth


def main():
    build, mode = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="facerec-cluster-bench-")
    if mode == "synthetic":
        for n in map(int, sys.argv[3:]):
            x, truth = synthetic(n)
            npy = os.path.join(tmp, "x.npy")
            np.save(npy, x)
            peers = ["dbscan"] + (["average"] if n <= int(os.environ.get("AVERAGE_MAX", 10000))
                                  else [])
            for r in run(build, npy, truth, tmp, peers):
                print(json.dumps(dict({"n": n}, **r)), flush=True)
    elif mode == "part":
        n, k = int(sys.argv[3]), int(sys.argv[4])
        x, truth = synthetic(n)
        npy = os.path.join(tmp, "x.npy")
        np.save(npy, x)
        for r in run(build, npy, truth, tmp, ["radius-%d" % k], methods=("components",)):
            print(json.dumps(dict({"n": n, "queries": n // k}, **r)), flush=True)
    else:
        npy = sys.argv[3]
        paths = open(npy[:-4] + ".paths").read().splitlines()
        names = [p.split("/")[-2] for p in paths]
        _, truth = np.unique(names, return_inverse=True)
        for r in run(build, npy, truth, tmp, ["dbscan", "average"]):
            print(json.dumps(dict({"n": len(paths), "data": "lfw"}, **r)), flush=True)


if __name__ == "__main__":
    main()
