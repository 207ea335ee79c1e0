#!/usr/bin/env python3
"""Issue 10's accuracy gate for a detector change: two `facerec pairs` score files of the same
pairs list (the reference pipeline's, e.g. MTCNN's, and a candidate's), compared pair by pair.

The 10-fold accuracy moves by 0.1-0.4 points for box changes of a few tenths of a percent on
LFW DevTrain's 2,200 pairs, so it cannot gate a 0.1-point bound. This gate (docs/alignment.md,
"The accuracy gate") judges instead, on every pair of the list:

  errors      at ONE fixed threshold, the model's default (dlib 0.428, the reference's best
              threshold on all pairs), for both files: a same pair at or over it, a different
              pair under it, and a pair a file did not score (no face), are errors.
  paired      the pairs that flip: b = right for the reference, wrong for the candidate;
              c = the other way. Under "no difference" b - c has a standard deviation of
              sqrt(b + c); the exact two-sided McNemar p-value is printed.
  TAR @ FAR   same pairs accepted at the threshold that accepts at most FAR of the different
              pairs (each file its own threshold, as `facerec eval`), and a paired bootstrap
              (pairs resampled, both files alike, seeded) of the candidate-minus-reference
              difference: its 2.5-97.5 % interval.

It passes when (1) the candidate scores every pair the reference scores, (2) its fixed-threshold
errors are at most the reference's plus floor(0.001 * pairs) (0.1 point: 2 of 2,200), and
(3) the bootstrap interval of the TAR difference reaches 0 (not significantly worse). Prints a
Markdown table and one JSON line; exit 0 pass, 1 fail, 2 bad input.

    bench/accuracy_gate.py [--threshold T] [--far F] [--boot N] REFERENCE.csv CANDIDATE.csv
"""
import argparse
import csv
import json
import math
import random
import sys


def fail(message):
    """One line on stderr, exit 2 (bad input)."""
    print(f"bench/accuracy_gate.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_scores(path):
    """{(path1, path2): (same, distance or None)} in file order; None: the pair was not scored."""
    out = {}
    try:
        with open(path, newline="") as f:
            rows = csv.DictReader(f)
            if rows.fieldnames is None or not {"path1", "path2", "same", "distance"} <= set(rows.fieldnames):
                raise ValueError("not a `facerec pairs` file (columns path1, path2, same, distance)")
            for n, row in enumerate(rows, 2):
                same = row["same"].strip()
                if same not in ("0", "1"):
                    raise ValueError(f"line {n}: same is {same!r}, not 0 or 1")
                dist = row["distance"].strip()
                out[(row["path1"], row["path2"])] = (same == "1", float(dist) if dist else None)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    return out


def right(same, dist, threshold):
    return dist is not None and (dist < threshold) == same


def tar_at_far(same_d, diff_d, far):
    """Same pairs accepted (distance < t) at the largest t accepting at most far of the different
    pairs; unscored pairs count as rejected."""
    diffs = sorted(d for d in diff_d if d is not None)
    allowed = math.floor(far * len(diff_d) + 1e-9)
    t = diffs[allowed] if allowed < len(diffs) else math.inf
    return sum(1 for d in same_d if d is not None and d < t) / max(1, len(same_d))


def mcnemar_p(b, c):
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--threshold", type=float, default=0.428,
                    help="the fixed threshold (default 0.428, dlib's default)")
    ap.add_argument("--far", type=float, default=0.001)
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    ap.add_argument("--seed", type=int, default=10)
    a = ap.parse_args()
    ref, cand = read_scores(a.reference), read_scores(a.candidate)
    # `facerec pairs` leaves out a pair it cannot score (an image without a face): a pair in one
    # file only is an unscored pair of the other; most pairs must be in both (the same list)
    keys = list(ref) + [k for k in cand if k not in ref]
    if not keys:
        fail("no pairs")
    both = sum(1 for k in keys if k in ref and k in cand)
    if both < 0.95 * len(keys):
        fail(f"only {both} of {len(keys)} pairs are in both files: "
                         "not scores of the same pairs list")
    for k in keys:
        if k in ref and k in cand and ref[k][0] != cand[k][0]:
            fail(f"{k[0]} / {k[1]}: same differs between the files")
    ref = {k: ref.get(k, (cand.get(k, (False, None))[0], None)) for k in keys}
    cand = {k: cand.get(k, (ref[k][0], None)) for k in keys}
    t = a.threshold
    rr = [right(*ref[k], t) for k in keys]
    cr = [right(*cand[k], t) for k in keys]
    n = len(keys)
    err_r, err_c = n - sum(rr), n - sum(cr)
    b = sum(1 for x, y in zip(rr, cr) if x and not y)
    c = sum(1 for x, y in zip(rr, cr) if y and not x)
    unscored_r = sum(1 for k in keys if ref[k][1] is None)
    missing = sum(1 for k in keys if ref[k][1] is not None and cand[k][1] is None)

    same = [i for i, k in enumerate(keys) if ref[k][0]]
    diff = [i for i, k in enumerate(keys) if not ref[k][0]]
    rd = [ref[k][1] for k in keys]
    cd = [cand[k][1] for k in keys]

    def tars(si, di, far=a.far):
        return (tar_at_far([rd[i] for i in si], [rd[i] for i in di], far),
                tar_at_far([cd[i] for i in si], [cd[i] for i in di], far))

    tar_r, tar_c = tars(same, diff)
    rng = random.Random(a.seed)
    deltas = []
    for _ in range(a.boot):
        si = [same[rng.randrange(len(same))] for _ in same]
        di = [diff[rng.randrange(len(diff))] for _ in diff]
        x, y = tars(si, di)
        deltas.append(y - x)
    deltas.sort()
    lo = deltas[int(0.025 * (a.boot - 1))] if deltas else 0.0
    hi = deltas[int(math.ceil(0.975 * (a.boot - 1)))] if deltas else 0.0

    slack = math.floor(0.001 * n + 1e-9)
    checks = {
        "coverage": missing == 0,
        "errors": err_c <= err_r + slack,
        "tar": hi >= 0.0,
    }
    ok = all(checks.values())
    print(f"| {n} pairs, threshold {t:g} | reference | candidate |")
    print("|---|---|---|")
    print(f"| pairs not scored | {unscored_r} | {sum(1 for k in keys if cand[k][1] is None)} |")
    print(f"| errors at {t:g} | {err_r} ({100 * err_r / n:.2f} %) | {err_c} ({100 * err_c / n:.2f} %) |")
    print(f"| TAR @ FAR {a.far:g} | {tar_r:.4f} | {tar_c:.4f} |")
    wide = tars(same, diff, 10 * a.far)
    print(f"| TAR @ FAR {10 * a.far:g} (reported, not gated) | {wide[0]:.4f} | {wide[1]:.4f} |")
    print(f"\npairs that flip: {b} right only for the reference, {c} only for the candidate "
          f"(b - c = {b - c}, noise sd sqrt(b + c) = {math.sqrt(b + c):.1f}, McNemar p = {mcnemar_p(b, c):.3f}); "
          f"TAR difference {tar_c - tar_r:+.4f}, bootstrap 95 % [{lo:+.4f}, {hi:+.4f}]; "
          f"allowed extra errors {slack}: {'PASS' if ok else 'FAIL'}"
          + ("" if ok else " (" + ", ".join(k for k, v in checks.items() if not v) + ")"))
    print(json.dumps({"pairs": n, "threshold": t, "errors_reference": err_r, "errors_candidate": err_c,
                      "flip_reference_only": b, "flip_candidate_only": c,
                      "mcnemar_p": round(mcnemar_p(b, c), 4), "candidate_unscored_extra": missing,
                      "tar_reference": round(tar_r, 4), "tar_candidate": round(tar_c, 4),
                      "tar_wide_reference": round(wide[0], 4), "tar_wide_candidate": round(wide[1], 4),
                      "tar_delta_ci": [round(lo, 4), round(hi, 4)], "checks": checks, "pass": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
