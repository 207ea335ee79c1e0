"""The Python package against the command-line tool and against numpy, on the seed's office
images (../shared/data/happyhouse), LFW DevTrain photos and the bundled Johns.

Run by tests/test_python.sh (ctest test_python), which sets FACEREC_LIBRARY to the build's
libfacerec.so, FACEREC_BIN to its facerec and FACEREC_DATA / FACEREC_SOURCE_DIR.

Embeddings are compared bit for bit: the package and the command run the same pipeline on the
same pixels (Pillow's decoding equals the library's, tests/test_image.c). Distances against
float64 within the GEMM form's bound (tests/test_distance.c: 2.5e-3 near 0, 1e-5 at face
distances); the CLI prints six decimals.
"""
import csv
import glob
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from PIL import Image

import facerec

BIN = os.environ["FACEREC_BIN"]
DATA = os.environ["FACEREC_DATA"]
SOURCE = os.environ["FACEREC_SOURCE_DIR"]
OFFICE = os.path.join(DATA, "happyhouse")
PEOPLE = sorted(glob.glob(os.path.join(OFFICE, "database", "*")))
CAMERA = [os.path.join(OFFICE, "camera", f"camera_{i}.jpg") for i in range(4)]
LFW = sorted(glob.glob(os.path.join(DATA, "lfw_devtrain", "images", "*", "*.jpg")))[:40]
JOHNS = sorted(glob.glob(os.path.join(SOURCE, "samples", "johns", "*", "*.jpg")))[:12]
IMAGES = PEOPLE + CAMERA + LFW + JOHNS
TEXT = os.path.join(SOURCE, "tests", "data", "images", "text.jpg")


@pytest.fixture(scope="module")
def model():
    with facerec.Model("dlib", device="cpu") as m:
        yield m


def cli(*args, **kw):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True, **kw)


def cli_embed(tmp_path, paths, *options):
    out = tmp_path / "cli.npy"
    cli("embed", "--quiet", "--device", "cpu", *options, "-o", str(out), *paths)
    rows = [line.rstrip("\n") for line in open(tmp_path / "cli.paths")]
    return np.load(out), rows


def test_versions():
    cmake = open(os.path.join(SOURCE, "CMakeLists.txt")).read()
    project = re.search(r"project\(facerec VERSION ([0-9.]+)", cmake).group(1)
    assert facerec.__version__ == project == facerec.library_version()


def test_struct_layouts(tmp_path):
    """The ctypes mirrors of facerec.h's structs have the C compiler's sizes and offsets."""
    from facerec import _native as n
    structs = {"fr_image": n.Image, "fr_model_info": n.ModelInfo,
               "fr_engine_options": n.EngineOptions, "fr_face_box": n.FaceBox,
               "fr_result": n.Result, "fr_results": n.Results,
               "fr_distances_options": n.DistancesOptions, "fr_person_entry": n.PersonEntry,
               "fr_match_options": n.MatchOptions, "fr_candidate": n.Candidate}
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "facerec.h"',
             "int main(void) {"]
    for c, py in structs.items():
        lines.append(f'printf("{c} %zu\\n", sizeof({c}));')
        for field, _ in py._fields_:
            lines.append(f'printf("{c}.{field} %zu\\n", offsetof({c}, {field}));')
    lines.append("return 0; }")
    (tmp_path / "layout.c").write_text("\n".join(lines))
    build = os.path.dirname(os.environ["FACEREC_LIBRARY"])
    subprocess.run(["cc", "-std=c11", "-I", os.path.join(SOURCE, "include"), "-I",
                    os.path.join(build, "include"), str(tmp_path / "layout.c"), "-o",
                    str(tmp_path / "layout")], check=True)
    c = dict(line.split() for line in
             subprocess.run([str(tmp_path / "layout")], check=True, capture_output=True,
                            text=True).stdout.splitlines())
    for name, py in structs.items():
        assert int(c[name]) == __import__("ctypes").sizeof(py), name
        for field, _ in py._fields_:
            assert int(c[f"{name}.{field}"]) == getattr(py, field).offset, (name, field)


def test_embed_equals_cli(model, tmp_path):
    want, rows = cli_embed(tmp_path, IMAGES)
    assert rows == IMAGES
    got = model.embed(IMAGES)
    assert got.dtype == np.float32 and got.shape == (len(IMAGES), 128)
    assert np.array_equal(got, want)
    # decoded by Pillow, as numpy arrays: the same pixels, the same embeddings
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in IMAGES]
    assert np.array_equal(model.embed(arrays), want)
    # one image alone: a batch of one, whose GEMMs oneDNN blocks differently (1e-5)
    np.testing.assert_allclose(model.embed(arrays[0]), want[:1], atol=5e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_options_follow_the_cli(tmp_path):
    with facerec.Model("dlib", align="none", flip=True, threads=2) as m:
        want, _ = cli_embed(tmp_path, CAMERA, "--align", "none", "--flip", "--threads", "2")
        assert np.array_equal(m.embed(CAMERA), want)
    with facerec.Model(os.path.join(SOURCE, "weights", "dlib.frw"), align="mtcnn",
                       faces="central") as m:
        want, _ = cli_embed(tmp_path, LFW[:8], "--align", "mtcnn", "--face", "central")
        assert np.array_equal(m.embed(LFW[:8]), want)

    # the detector choice: tiny+mtcnn falls back to MTCNN for Al_Sharpton_0006, which tiny
    # misses at 192
    miss = os.path.join(DATA, "lfw_devtrain", "images", "Al_Sharpton", "Al_Sharpton_0006.jpg")
    with facerec.Model("dlib", face_detector="tiny+mtcnn", detector_size=192) as m:
        want, _ = cli_embed(tmp_path, LFW[:4] + [miss], "--detector", "tiny+mtcnn",
                            "--detector-size", "192")
        assert np.array_equal(m.embed(LFW[:4] + [miss]), want)
        hit = os.path.join(DATA, "lfw_devtrain", "images", "Aaron_Peirsol",
                           "Aaron_Peirsol_0001.jpg")
        found = m.detect([hit, miss])
        # O-Net's landmarks on tiny's face, MTCNN's on the one tiny misses
        assert np.isfinite(found[0][0].landmarks[0][0]) and np.isfinite(found[1][0].landmarks[0][0])
    with pytest.raises(facerec.InvalidArgument, match="face_detector 'tiny2'"):
        facerec.Model("dlib", face_detector="tiny2")
    with pytest.raises(facerec.InvalidArgument, match="multiple of 32"):
        facerec.Model("dlib", face_detector="tiny", detector_size=200)


def test_faces_of_a_mosaic(model):
    """Two people side by side: every face with faces="all", near each one's own embedding."""
    younes, kian = (np.asarray(Image.open(os.path.join(OFFICE, "database", f))).copy()
                    for f in ("younes.jpg", "kian.jpg"))
    mosaic = np.concatenate([younes, kian], axis=1)
    with facerec.Model("dlib", faces="all") as every:
        faces = every.embed_faces(mosaic)
        with pytest.raises(facerec.InvalidArgument, match="embed_faces"):
            every.embed(mosaic)
    assert [(f.input, f.index) for f in faces] == [(0, 0), (0, 1)]
    left = min(faces, key=lambda f: f.box[0])
    right = max(faces, key=lambda f: f.box[0])
    own = model.embed([younes, kian])
    assert np.linalg.norm(left.embedding - own[0]) < 0.1
    assert np.linalg.norm(right.embedding - own[1]) < 0.1
    found = model.detect(mosaic)
    assert len(found) == 2 and all(f.embedding is None for f in found)


def test_detect_equals_cli(model, tmp_path):
    out = tmp_path / "faces.csv"
    paths = CAMERA + LFW[:10]
    cli("detect", "--quiet", "-o", str(out), *paths)
    want = {}
    for r in csv.DictReader(open(out)):
        want.setdefault(r["path"], []).append(r)
    found = model.detect(paths)
    for path, faces in zip(paths, found):
        rows = want.get(path, [])
        assert len(faces) == len(rows), path
        for f, r in zip(faces, rows):
            assert f.index == int(r["face"])
            # the CLI writes two decimals of a pixel, six of the score
            np.testing.assert_allclose(f.box, [float(r[k]) for k in ("x1", "y1", "x2", "y2")],
                                       atol=6e-3)
            np.testing.assert_allclose(f.landmarks[0], (float(r["left_eye_x"]),
                                                        float(r["left_eye_y"])), atol=6e-3)
            assert abs(f.score - float(r["score"])) < 1e-5


def test_errors_carry_the_library_message(model, tmp_path):
    with pytest.raises(facerec.IOError, match=re.escape(str(tmp_path / "missing.jpg"))):
        model.embed([CAMERA[0], str(tmp_path / "missing.jpg")])
    with pytest.raises(facerec.FormatError, match=re.escape(TEXT)):
        model.embed(TEXT)
    blank = np.full((120, 120, 3), 128, np.uint8)
    with pytest.raises(facerec.NoFace, match="image 1: no face"):
        model.embed([np.asarray(Image.open(CAMERA[0])), blank])
    e = model.embed([CAMERA[0], TEXT, CAMERA[1]], errors="nan")
    assert np.isnan(e[1]).all() and not np.isnan(e[[0, 2]]).any()
    assert [f.input for f in model.embed_faces([CAMERA[0], TEXT], errors="skip")] == [0]
    with pytest.raises(facerec.InvalidArgument, match="uint8"):
        model.embed(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(facerec.InvalidArgument, match="dlib2"):
        facerec.Model("dlib2")
    with pytest.raises(facerec.InvalidArgument, match="device 'gpu'"):
        facerec.Model("dlib", device="gpu")
    assert isinstance(facerec.NotFound("x"), LookupError)


def test_distances_and_nearest():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((60, 128)).astype(np.float32)
    b = rng.standard_normal((35, 128)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    ref = np.linalg.norm(a[:, None, :].astype(np.float64) - b[None, :, :], axis=2)
    np.testing.assert_allclose(facerec.distances(a, b), ref, atol=1e-5)
    self = facerec.distances(a)
    assert np.array_equal(self, self.T) and not np.diag(self).any()
    idx, dist = facerec.nearest(a, b, k=3)
    order = np.argsort(ref, axis=1)[:, :3]
    gaps = np.diff(np.sort(ref, axis=1)[:, :4], axis=1).min(axis=1) > 1e-4
    assert np.array_equal(idx[gaps], order[gaps])
    np.testing.assert_allclose(dist, np.take_along_axis(ref, idx, 1), atol=1e-5)
    labels = np.arange(35) % 4
    idx, dist = facerec.nearest(a, b, k=5, labels=labels)
    assert (idx[:, 4] == -1).all() and np.isinf(dist[:, 4]).all()
    assert all(len(set(labels[r[:4]])) == 4 for r in idx)
    with pytest.raises(facerec.InvalidArgument, match="columns"):
        facerec.distances(a, b[:, :64])


def test_database_matches_the_cli(model, tmp_path):
    path = str(tmp_path / "office.db")
    db = facerec.Database(path)
    for p in PEOPLE:
        assert db.enroll(model, os.path.splitext(os.path.basename(p))[0], [p]) == 1
    assert [p.name for p in db.people()] == sorted(os.path.splitext(os.path.basename(p))[0]
                                                   for p in PEOPLE)
    # the seed's answers
    v = db.verify(model, "younes", CAMERA[0])
    assert v and v.name == "younes" and v.image == os.path.join(OFFICE, "database", "younes.jpg")
    assert not db.verify(model, "kian", CAMERA[2])
    who = db.identify(model, CAMERA, k=3)
    assert [w.identity for w in who[:3]] == ["younes", "bertrand", "benoit"]
    assert all(len(w.candidates) == 3 for w in who)
    # the CLI, on the database the package wrote: the same people at the same distances
    out = tmp_path / "who.csv"
    cli("identify", "--quiet", "--db", path, "-k", "3", "-o", str(out), *CAMERA)
    rows = {r["path"]: r for r in csv.DictReader(open(out))}
    for p, w in zip(CAMERA, who):
        r = rows[p]
        assert (r["identity"] or None) == w.identity
        for q, c in enumerate(w.candidates, 1):
            assert r[f"name_{q}"] == c.name
            assert abs(float(r[f"distance_{q}"]) - c.distance) < 2e-6
    claims = tmp_path / "claims.tsv"
    claims.write_text(f"{CAMERA[0]}\tyounes\n{CAMERA[2]}\tkian\n{CAMERA[2]}\tbenoit\n")
    cli("verify", "--quiet", "--db", path, "--claims", str(claims), "-o", str(tmp_path / "v.csv"))
    mine = db.verify(model, ["younes", "kian", "benoit"], [CAMERA[0], CAMERA[2], CAMERA[2]])
    for r, v in zip(csv.DictReader(open(tmp_path / "v.csv")), mine):
        assert r["name"] == v.name and (r["verified"] == "true") == v.verified
        # the CLI embeds each image once (a batch of two), the package three: 1e-5 apart
        assert abs(float(r["distance"]) - v.distance) < 1e-4
    # what the CLI enrols, the package sees without reopening
    cli("enroll", "--quiet", "--db", path, "--name", "visitor", CAMERA[3])
    assert db.identify(model, CAMERA[3]).identity == "visitor"
    # embeddings in, options, refusals
    e = model.embed(CAMERA[1])
    assert db.identify(model, e[0], threshold=0.01).identity is None
    assert db.verify(model, "bertrand", e, aggregation="mean")[0].image is None
    with pytest.raises(facerec.NotFound, match="'nobody'"):
        db.verify(model, "nobody", e)
    with facerec.Model("pixels") as pixels:
        with pytest.raises(facerec.ModelMismatch):
            db.identify(pixels, CAMERA[0], threshold=1.0)
    db.rename("visitor", "guest")
    db.remove("guest")
    with pytest.raises(facerec.Error):
        db.remove("guest")
    db.close()
    with facerec.Database(path, mode="read") as ro:
        assert len(ro.people()) == len(PEOPLE)
        with pytest.raises(facerec.Error):
            ro.enroll(model, "x", e)
    with pytest.raises(facerec.NotFound):
        facerec.Database(str(tmp_path / "none.db"), mode="write")


def test_the_gil_is_released(model):
    """While one thread embeds, another keeps running Python: the longest pause it sees is a
    small part of the call (with the GIL held it would be all of it)."""
    done = threading.Event()
    took = []

    images = sorted(glob.glob(os.path.join(DATA, "lfw_devtrain", "images", "*", "*.jpg")))[:160]

    def work():
        t = time.monotonic()
        model.embed(images)  # long enough to tell (40 LFW images took 0.15 s with tiny+mtcnn)
        took.append(time.monotonic() - t)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    longest, last = 0.0, time.monotonic()
    while not done.is_set():
        now = time.monotonic()
        longest = max(longest, now - last)
        last = now
    worker.join()
    assert took[0] > 0.2, "the call was too short to tell"
    assert longest < 0.5 * took[0], (longest, took[0])


def test_pip_install_offline(tmp_path):
    """`pip install ./python` into a fresh virtual environment, with no package index (from a
    copy: pip builds in the tree it is given)."""
    package = tmp_path / "python"
    shutil.copytree(os.path.join(SOURCE, "python"), package,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)  # the installed package, not the source tree's
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(package)], check=True,
                   env=env, cwd=tmp_path)
    code = textwrap.dedent(f"""
        import facerec, sys
        assert facerec.__file__.startswith({str(venv)!r}), facerec.__file__
        e = facerec.Model("dlib").embed({CAMERA[:2]!r})
        print(e.shape, float(facerec.distances(e)[0, 1]))
    """)
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True, env=env,
                         cwd=tmp_path, capture_output=True, text=True).stdout
    assert out.startswith("(2, 128)")
