#!/usr/bin/python3
"""scikit-learn as the independent reference of facerec's clustering (tests/test_cluster.c).
Inputs and outputs are float32 .npy files in DIR (labels as exact float32 integers).

  cluster_ref.py cluster DIR   rows.npy (N, D), threshold.npy (1)
                               -> dbscan.npy (N): DBSCAN(eps, min_samples=1), whose clusters
                                  are the connected components of the graph d <= eps;
                                  average.npy (N): AgglomerativeClustering(linkage='average',
                                  distance_threshold=t, n_clusters=None)
  cluster_ref.py score DIR     predicted.npy (N), truth.npy (N) (-1: a cluster of its own)
                               -> scores.npy [pair precision, recall, F1, BCubed P, R, F1]
                                  (pairs from sklearn's pair_confusion_matrix, BCubed by its
                                  definition in numpy)
"""
import os
import sys

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.metrics.cluster import pair_confusion_matrix


def path(d, name):
    return os.path.join(d, name)


def cluster(d):
    x = np.load(path(d, "rows.npy")).astype(np.float64)
    t = float(np.load(path(d, "threshold.npy"))[0])
    db = DBSCAN(eps=t, min_samples=1).fit(x).labels_
    av = AgglomerativeClustering(n_clusters=None, distance_threshold=t,
                                 linkage="average").fit(x).labels_
    np.save(path(d, "dbscan.npy"), db.astype(np.float32))
    np.save(path(d, "average.npy"), av.astype(np.float32))


def score(d):
    p = np.load(path(d, "predicted.npy")).astype(np.int64)
    t = np.load(path(d, "truth.npy")).astype(np.int64)
    p = np.where(p < 0, p.max() + 1 + np.arange(len(p)), p)
    (tn, fp), (fn, tp) = pair_confusion_matrix(t, p) / 2
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    same_p = p[:, None] == p[None, :]
    same_t = t[:, None] == t[None, :]
    both = (same_p & same_t).sum(1)
    bp = np.mean(both / same_p.sum(1))
    br = np.mean(both / same_t.sum(1))
    f = lambda a, b: 2 * a * b / (a + b) if a + b else 0.0
    np.save(path(d, "scores.npy"),
            np.array([precision, recall, f(precision, recall), bp, br, f(bp, br)], np.float32))


if __name__ == "__main__":
    {"cluster": cluster, "score": score}[sys.argv[1]](sys.argv[2])
