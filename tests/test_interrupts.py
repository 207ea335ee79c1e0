#!/usr/bin/env python3
"""test_interrupts.py: every bulk command interrupted at random moments (SIGINT or SIGTERM,
from start-up to the final commit), each run checked:

  - it ends within a second of the signal, with exit code 130, or with its normal code when
    the signal came after its final commit (then its outputs are complete); a signal that
    comes before main() (while the dynamic loader maps the CUDA libraries: a few tenths of a
    second) ends it the default way, with nothing read or written;
  - after 130, every output is byte for byte what it was before the run (an older complete
    output stays), the identity database too, and no temporary file is left;
  - after a normal end, the outputs are complete: sets match their .sha256 record, tables have
    a row per input, the database passes SQLite's integrity check and holds the new images.

usage: test_interrupts.py RUNS_PER_COMMAND  (environment as every CLI test: FACEREC_BIN, ...)
"""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from clirun import BIN, GALLERY as gallery, Failures, digest, lfw_firsts, require_weights, \
    scratch, snapshot

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 12
LATE_LIMIT = 1.0  # seconds from the signal to the exit

require_weights()
tmp = scratch("facerec-interrupts-")
fail = Failures()


def temporaries(folder):
    found = []
    for root, _, files in os.walk(folder):
        found += [os.path.join(root, f) for f in files if ".tmp." in f]
    return found


def check_record(record):
    """The files a .sha256 record lists match it."""
    folder = os.path.dirname(record)
    for line in open(record):
        if line.startswith("#"):
            continue
        want, name = line.rstrip("\n").split("  ", 1)
        if digest(os.path.join(folder, name)) != want:
            return "%s does not match %s" % (name, record)
    return None


def db_rows(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    finally:
        con.close()
    return ok, rows


def blocks_signals(pid):
    """Whether the process has reached main(), which blocks SIGINT and SIGTERM for the thread
    that takes them (cli/signals.h): before that the dynamic loader is still mapping the
    libraries, and a signal ends the process the default way, with nothing read or written."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    mask = int(line.split()[1], 16)
                    return bool(mask & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False


def lines(path):
    with open(path) as f:
        return sum(1 for _ in f)


# ---- the data: a few images, so that a whole run takes a second or two -------------------------
photos = os.path.join(tmp, "photos")
os.makedirs(photos)
images = []
for first in lfw_firsts(0, 8):
    images.append(shutil.copy(first, os.path.join(photos, os.path.basename(first))))
base_db = os.path.join(tmp, "base.db")
subprocess.run([BIN, "enroll", "--quiet", "--db", base_db, "--dir", gallery], check=True)
base_rows = db_rows(base_db)[1]
claims = os.path.join(tmp, "claims.tsv")
with open(claims, "w") as f:
    for i, path in enumerate(images):
        f.write("%s\t%s\n" % (path, ["younes", "kian", "benoit"][i % 3]))
pairs = os.path.join(tmp, "pairs.tsv")
with open(pairs, "w") as f:
    for i in range(len(images) - 1):
        f.write("%s\t%s\t0\n" % (images[i], images[i + 1]))
older = os.path.join(tmp, "older")  # other images: what an older run wrote
os.makedirs(older)
for name in sorted(os.listdir(gallery))[:3]:
    shutil.copy(os.path.join(gallery, name), older)


def fresh(out):
    """A clean output folder holding an older run's complete outputs, and a database copy."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    db = os.path.join(out, "office.db")
    shutil.copy(base_db, db)
    return db


# Each command: how to run it into folder `out`, the files it may change, and how to check
# them after it ran to its end. prepare() writes the older outputs.
def cmd_embed(out, db):
    return [BIN, "embed", "--quiet", photos, "-o", os.path.join(out, "e.npy")]


def check_embed(out, db):
    return check_record(os.path.join(out, "e.sha256")) or (
        None if lines(os.path.join(out, "e.paths")) == len(images) else "e.paths is short")


def cmd_distmat(out, db):
    return [BIN, "distmat", "--quiet", photos, gallery, "-o", os.path.join(out, "d.npy")]


def check_distmat(out, db):
    return check_record(os.path.join(out, "d.sha256"))


def table_check(name, header=1):
    def check(out, db):
        path = os.path.join(out, name)
        n = lines(path) - header
        return None if n >= len(images) - 1 else "%s has %d rows" % (name, n)
    return check


def check_enroll(out, db):
    ok, rows = db_rows(db)
    if ok != "ok":
        return "integrity check: " + ok
    return None if rows == base_rows + len(images) else "database holds %d rows" % rows


def check_new_db(out, db):
    new = os.path.join(out, "new.db")
    ok, rows = db_rows(new)
    return None if ok == "ok" and rows == len(images) else "new.db: %s, %d rows" % (ok, rows)


def check_detect(out, db):
    return table_check("faces.csv")(out, db) or check_drawings(out, db)


def check_drawings(out, db):
    from PIL import Image
    for root, _, files in os.walk(os.path.join(out, "draw")):
        for f in files:
            try:
                Image.open(os.path.join(root, f)).load()
            except Exception as e:  # a drawing is written whole or not at all
                return "drawing %s: %s" % (f, e)
    return None


COMMANDS = [
    ("embed", cmd_embed, ["e.npy", "e.paths", "e.sha256"], check_embed, 0),
    ("distmat", cmd_distmat, ["d.npy", "d.rows.paths", "d.cols.paths", "d.sha256"],
     check_distmat, 0),
    ("identify", lambda out, db: [BIN, "identify", "--quiet", "--db", db, photos, "-o",
                                  os.path.join(out, "who.csv")], ["who.csv"],
     table_check("who.csv"), None),
    ("verify", lambda out, db: [BIN, "verify", "--quiet", "--db", db, "--claims", claims, "-o",
                                os.path.join(out, "v.csv")], ["v.csv"], table_check("v.csv"),
     None),
    ("pairs", lambda out, db: [BIN, "pairs", "--quiet", pairs, "-o", os.path.join(out, "s.csv")],
     ["s.csv"], table_check("s.csv"), None),
    ("enroll", lambda out, db: [BIN, "enroll", "--quiet", "--face", "largest", "--db", db,
                                "--name", "lfw", photos],
     [], check_enroll, 0),
    ("enroll-new", lambda out, db: [BIN, "enroll", "--quiet", "--face", "largest", "--db",
                                    os.path.join(out, "new.db"),
                                    "--name", "lfw", photos], ["new.db"], check_new_db, 0),
    ("detect", lambda out, db: [BIN, "detect", "--quiet", photos, "-o",
                                os.path.join(out, "faces.csv"), "--draw",
                                os.path.join(out, "draw")], ["faces.csv"], check_detect, None),
    ("cluster", lambda out, db: [BIN, "cluster", "--quiet", photos, "-o",
                                 os.path.join(out, "c.csv")], ["c.csv"], table_check("c.csv"),
     None),
]


def older_outputs(name, make, out, db):
    """What an older, complete run left: the same command on other images."""
    command = [older if a == photos else a for a in make(out, db)]
    if name in ("enroll", "enroll-new", "verify", "pairs"):
        return  # the database is the old state; claims and pairs name the photos
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


random.seed(int(os.environ.get("FACEREC_TEST_SEED", "20261202")))
worst = 0.0
outcomes = {}
for name, make, outputs, check, normal in COMMANDS:
    if name == "cluster" and subprocess.run([BIN, "cluster", "--help"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL).returncode != 0:
        continue
    out = os.path.join(tmp, "out-" + name)
    # calibration: an uninterrupted run gives the window to aim the signals at, and its code
    db = fresh(out)
    t0 = time.monotonic()
    done = subprocess.run(make(out, db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    window = time.monotonic() - t0
    expected = done.returncode if normal is None else normal
    if done.returncode not in (0, 3) or (normal is not None and done.returncode != normal):
        fail("%s: uninterrupted run exited %d: %s" % (name, done.returncode, done.stderr[-400:]))
        continue
    problem = check(out, db)
    if problem:
        fail("%s: uninterrupted run: %s" % (name, problem))
    for run in range(RUNS):
        db = fresh(out)
        older_outputs(name, make, out, db)
        watched = [os.path.join(out, f) for f in outputs] + [db]
        before = snapshot(watched)
        sig = random.choice([signal.SIGINT, signal.SIGTERM])
        delay = random.uniform(0.0, window * 1.05)
        proc = subprocess.Popen(make(out, db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        early = not blocks_signals(proc.pid)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate()
        late = time.monotonic() - sent
        worst = max(worst, late)
        code = proc.returncode
        what = "%s run %d (%s after %.2f s)" % (name, run, signal.Signals(sig).name, delay)
        key = "killed before main" if code == -sig and early else code
        outcomes[key] = outcomes.get(key, 0) + 1
        if late > LATE_LIMIT:
            fail("%s: ended %.2f s after the signal" % (what, late))
        left = temporaries(out)
        if left:
            fail("%s: temporaries left: %s" % (what, left))
        if code == 130 or (code == -sig and early):
            if code == 130 and b"interrupted" not in err:
                fail("%s: exit 130 without saying so: %s" % (what, err[-300:]))
            changed = [p for p, d in snapshot(watched).items() if d != before[p]]
            if changed:
                fail("%s: exit 130 but changed %s" % (what, changed))
        elif code == expected:
            problem = check(out, db)
            if problem:
                fail("%s: exit %d but %s" % (what, code, problem))
        else:
            fail("%s: exit %d (want 130 or %d): %s" % (what, code, expected, err[-400:]))

print("outcomes (exit code: runs):", dict(sorted(outcomes.items(), key=str)),
      "; slowest exit after a signal: %.3f s" % worst)
fail.finish(tmp)
print("all passed")
