"""clirun.py: what the Python tests that run whole facerec commands share (test_interrupts.py,
test_kill9.py): the environment every CLI test gets from CTest, the skip when the weights are
not fetched, failure bookkeeping, file digests and the test's photo folder of LFW images.
"""
import hashlib
import os
import shutil
import sys
import tempfile

BIN = os.environ["FACEREC_BIN"]
DATA = os.environ["FACEREC_DATA"]
WEIGHTS = os.environ["FACEREC_WEIGHTS"]
LFW = os.path.join(DATA, "lfw_devtrain", "images")
GALLERY = os.path.join(DATA, "happyhouse", "database")


def require_weights():
    """Exit with CTest's skip code when the dlib weights are not there."""
    if not os.path.exists(os.path.join(WEIGHTS, "dlib.frw")):
        print("no dlib weights (weights/fetch.sh)")
        sys.exit(77)


class Failures:
    """FAIL lines as they happen, a count and the exit code at the end."""

    def __init__(self):
        self.items = []

    def __call__(self, what):
        self.items.append(what)
        print("FAIL:", what, flush=True)

    def finish(self, tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        if self.items:
            print("%d failure(s)" % len(self.items))
            sys.exit(1)


def scratch(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def digest(path):
    """SHA-256 of a file, or None where there is none."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(paths):
    return {p: digest(p) for p in paths}


def lfw_firsts(start, count):
    """The first image of each of LFW DevTrain's people start .. start+count-1 (sorted)."""
    people = sorted(os.listdir(LFW))[start:start + count]
    return [os.path.join(LFW, p, sorted(os.listdir(os.path.join(LFW, p)))[0]) for p in people]
