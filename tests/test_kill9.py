#!/usr/bin/env python3
"""test_kill9.py: crash safety (issue 14.9). enroll, embed, distmat and identify killed with
SIGKILL at random moments, from start-up to the final commit, RUNS times each; nothing of the
process gets to clean up. After every kill:

  - the identity database opens with facerec's read-only commands (a hot journal is rolled
    back, never reported as damage) and holds all the old rows or all the new ones;
  - every output is either what the older complete run left, byte for byte, or the complete
    new one (what an uninterrupted run writes), or a set whose files disagree with its .sha256
    record, which facerec's readers refuse naming the record; a half-written file is never
    under its final name;
  - temporaries a killed run leaves are removed by the next run writing into that folder: they
    never pile up, and after a last uninterrupted run none is left.

usage: test_kill9.py RUNS_PER_COMMAND  (environment as every CLI test: FACEREC_BIN, ...)
"""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from clirun import BIN, GALLERY as gallery, Failures, lfw_firsts, require_weights, scratch, \
    snapshot

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 13

require_weights()
tmp = scratch("facerec-kill9-")
fail = Failures()


def temporaries(folder):
    return sorted(f for f in os.listdir(folder) if ".tmp." in f)


def db_state(db):
    """(people, rows) as facerec's read-only `db list` sees them (it must open the file)."""
    r = subprocess.run([BIN, "db", "list", "--db", db, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    finally:
        con.close()
    return ok, rows


# ---- the data: a few images, so that a whole run takes a second or two -----------------------
photos = os.path.join(tmp, "photos")
older = os.path.join(tmp, "older")  # other images: what an older complete run wrote
os.makedirs(photos)
os.makedirs(older)
for i, first in enumerate(lfw_firsts(0, 11)):
    shutil.copy(first, photos if i < 8 else older)
base_db = os.path.join(tmp, "base.db")
subprocess.run([BIN, "enroll", "--quiet", "--db", base_db, "--dir", gallery], check=True)
base_rows = db_state(base_db)[1]


def run(command):
    return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# name, command (into folder out, with database db, on images src), outputs, set record
COMMANDS = [
    ("embed", lambda out, db, src: [BIN, "embed", "--quiet", src, "-o", out + "/e.npy"],
     ["e.npy", "e.paths", "e.sha256"], "e.sha256"),
    ("distmat", lambda out, db, src: [BIN, "distmat", "--quiet", src, gallery, "-o",
                                      out + "/d.npy"],
     ["d.npy", "d.rows.paths", "d.cols.paths", "d.sha256"], "d.sha256"),
    ("identify", lambda out, db, src: [BIN, "identify", "--quiet", "--db", db, src, "-o",
                                       out + "/who.csv"], ["who.csv"], None),
    ("enroll", lambda out, db, src: [BIN, "enroll", "--quiet", "--db", db, "--name", "lfw",
                                     "--face", "largest", src],
     [], None),
]


def refused(name, out, record):
    """A mismatched set must be refused by facerec's readers, naming the record."""
    if name == "embed":
        r = subprocess.run([BIN, "cluster", "--quiet", "--threshold", "0.6", out + "/e.npy",
                            "-o", "-"], capture_output=True, text=True)
    else:
        return True  # distmat's D.npy has no reader in facerec; sha256sum -c is the check
    return r.returncode not in (0, 3) and record in r.stderr


random.seed(int(os.environ.get("FACEREC_TEST_SEED", "20261202")))
outcomes = {}
trials = 0
started = time.monotonic()
for name, make, outputs, record in COMMANDS:
    out = os.path.join(tmp, "out-" + name)
    os.makedirs(out)
    db = os.path.join(out, "office.db")
    # the new state: what an uninterrupted run writes (the reference for every kill)
    shutil.copy(base_db, db)
    t0 = time.monotonic()
    done = run(make(out, db, photos))
    window = time.monotonic() - t0
    if done.returncode not in (0, 3):
        fail("%s: uninterrupted run exited %d: %s" % (name, done.returncode, done.stderr[-400:]))
        continue
    new = snapshot([os.path.join(out, f) for f in outputs])
    new_rows = db_state(db)[1]
    # the old state: an older complete run on other images
    for f in outputs:
        os.remove(os.path.join(out, f))
    shutil.copy(base_db, db)
    if outputs:
        run(make(out, db, older))
    old = snapshot([os.path.join(out, f) for f in outputs])
    most_temps = 0
    for trial in range(RUNS):
        trials += 1
        for f in os.listdir(out):  # the database back to its old state, its journal too
            if f.startswith("office.db"):
                os.remove(os.path.join(out, f))
        shutil.copy(base_db, db)
        # half the kills anywhere in the run, half near its end, where the commit is
        delay = random.uniform(0.0, window * 1.1) if trial % 2 else \
            random.uniform(window * 0.8, window * 1.25)
        proc = subprocess.Popen(make(out, db, photos), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        what = "%s trial %d (SIGKILL after %.2f s)" % (name, trial, delay)
        now = snapshot([os.path.join(out, f) for f in outputs])
        if now == old:
            state = "old"
        elif now == new:
            state = "new"
        elif record and any(now[os.path.join(out, f)] == new[os.path.join(out, f)]
                            for f in outputs):
            # a set caught between its renames: its files disagree with the record
            check = subprocess.run(["sha256sum", "--quiet", "-c", record], cwd=out,
                                   capture_output=True)
            state = "mixed set"
            if check.returncode == 0:
                fail("%s: a mix of old and new files that matches %s" % (what, record))
            elif not refused(name, out, record):
                fail("%s: a mismatched set that facerec reads" % what)
        else:
            state = "other"
            changed = [f for f in outputs if now[os.path.join(out, f)] not in
                       (old[os.path.join(out, f)], new[os.path.join(out, f)])]
            fail("%s: outputs neither old nor new: %s" % (what, changed))
        ok, rows = db_state(db)
        if ok != "ok" or rows not in (base_rows, new_rows):
            fail("%s: database after the kill: %s, %s rows (old %d, new %d)" % (
                what, ok, rows, base_rows, new_rows))
        elif name == "enroll":
            state = "old" if rows == base_rows else "new"
        outcomes[state] = outcomes.get(state, 0) + 1
        most_temps = max(most_temps, len(temporaries(out)))
        # the outputs back to the old state for the next trial; temporaries stay
        for f in outputs:
            path = os.path.join(out, f)
            if now[path] != old[path]:
                if os.path.exists(path):
                    os.remove(path)
        if now != old and outputs:
            run(make(out, db, older))
            for f in os.listdir(out):
                if f.startswith("office.db"):
                    os.remove(os.path.join(out, f))
            shutil.copy(base_db, db)
    if most_temps > 2 * max(len(outputs), 1) + 2:
        fail("%s: %d temporaries piled up across kills" % (name, most_temps))
    # the next run cleans up: a last uninterrupted run leaves no temporary
    shutil.copy(base_db, db)
    done = run(make(out, db, photos))
    left = temporaries(out)
    if done.returncode not in (0, 3) or left:
        fail("%s: the run after the kills exited %d and left %s" % (name, done.returncode, left))
    if snapshot([os.path.join(out, f) for f in outputs]) != new:
        fail("%s: the run after the kills did not write the new outputs" % name)
    if name == "embed":  # what a kill between the renames leaves: new rows, old paths
        with open(os.path.join(out, "e.paths"), "a") as f:
            f.write("older.jpg\n")
        if not refused(name, out, record):
            fail("embed: cluster read new rows beside old paths (a set that disagrees with %s)"
                 % record)

print("%d kill -9 trials in %.0f s; states after the kill: %s" % (
    trials, time.monotonic() - started, dict(sorted(outcomes.items()))))
fail.finish(tmp)
print("all passed")
