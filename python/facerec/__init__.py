"""facerec: face detection, alignment, embeddings, verification and identification.

Python bindings of libfacerec (its C API, facerec.h, through ctypes: no compiled extension).
The work runs in the library with the GIL released, on the CPU cores or a GPU.

    import facerec
    model = facerec.Model("dlib")
    db = facerec.Database("office.db")
    db.enroll(model, "younes", ["younes.jpg"])
    print(db.identify(model, "camera_0.jpg"))

Inputs are image files (str or os.PathLike) or decoded images (numpy uint8 arrays of shape
(height, width, 3), RGB), alone or in a list; embeddings are numpy float32 arrays (N, D).
Errors are facerec.Error (and its subclasses) carrying the library's one-line message.
"""
import ctypes
import dataclasses
import os
import threading
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import lib
from ._version import __version__

__all__ = ["Model", "Database", "Face", "Person", "Candidate", "Verification",
           "Identification", "distances", "nearest", "library_version", "cuda_devices",
           "Error", "InvalidArgument", "IOError", "FormatError", "Unsupported", "TooLarge",
           "OutOfMemory", "ModelMismatch", "NotFound", "DeviceError", "NoFace",
           "InternalError", "__version__"]

# ---- errors ---------------------------------------------------------------------------------


class Error(Exception):
    """A libfacerec failure: str(error) is the library's message; .status its status name."""

    status = "error"

    def __init__(self, message: str, status: Optional[str] = None):
        super().__init__(message)
        if status:
            self.status = status


class InvalidArgument(Error, ValueError):
    status = "invalid"


class IOError(Error, OSError):  # noqa: A001 (facerec.IOError, an OSError)
    status = "io"


class FormatError(Error, ValueError):
    status = "format"


class Unsupported(Error):
    status = "unsupported"


class TooLarge(Error, ValueError):
    status = "too_large"


class OutOfMemory(Error, MemoryError):
    status = "nomem"


class ModelMismatch(Error, ValueError):
    status = "model_mismatch"


class NotFound(Error, LookupError):
    status = "not_found"


class DeviceError(Error, RuntimeError):
    status = "device"


class NoFace(Error, ValueError):
    status = "no_face"


class InternalError(Error, RuntimeError):
    status = "internal"


_ERRORS = [None, InvalidArgument, IOError, FormatError, Unsupported, TooLarge, OutOfMemory,
           ModelMismatch, NotFound, DeviceError, NoFace, InternalError]


def _error(status: int, message: str) -> Error:
    cls = _ERRORS[status] if 0 < status < len(_ERRORS) else Error
    return cls(message)


def _check(status: int) -> None:
    if status != 0:
        raise _error(status, lib.fr_error_message().decode("utf-8", "replace"))


def _text(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "surrogateescape")


def _bytes(s: Union[str, os.PathLike]) -> bytes:
    return os.fsencode(s)


def _choice(table: dict, value, what: str) -> int:
    try:
        return table[value]
    except KeyError:
        names = ", ".join(repr(k) for k in table if k is not None)
        raise InvalidArgument(f"{what} {value!r}: choose {names}") from None


def library_version() -> str:
    """The version of the libfacerec loaded (the package's is facerec.__version__)."""
    return lib.fr_version().decode()


def cuda_devices() -> int:
    """GPUs the library can use now (0 in a build without CUDA)."""
    return lib.fr_cuda_device_count() if lib.fr_cuda_compiled() else 0


# ---- plain results ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Face:
    """A face found in input `input` (index into the inputs given): its box (x1, y1, x2, y2)
    and five landmarks (left eye, right eye, nose, left and right mouth corner, as the image
    shows them) in the image's pixels, MTCNN's score, its index among the image's faces
    (best score first; -1 when the whole image was embedded without detection), and its
    embedding where one was computed."""
    input: int
    index: int
    box: Tuple[float, float, float, float]
    score: float
    landmarks: Tuple[Tuple[float, float], ...]
    embedding: Optional[np.ndarray] = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    embeddings: int
    created: str


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A person of the database as an answer: their distance, and (with aggregation "min")
    the image of their nearest embedding."""
    name: str
    distance: float
    image: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Verification:
    name: str
    distance: float
    threshold: float
    verified: bool
    image: Optional[str] = None

    def __bool__(self) -> bool:
        return self.verified


@dataclasses.dataclass(frozen=True)
class Identification:
    """identity: the nearest person when under the threshold, else None; candidates: the k
    nearest people, nearest first."""
    identity: Optional[str]
    distance: float
    threshold: float
    candidates: List[Candidate]


# ---- inputs ---------------------------------------------------------------------------------


def _is_image(x) -> bool:
    return isinstance(x, np.ndarray)


def _inputs(inputs) -> Tuple[list, bool]:
    """A list of inputs (all paths or all images), and whether the caller gave one alone."""
    if isinstance(inputs, (str, bytes, os.PathLike)):
        return [inputs], True
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 3:
            return [inputs], True
        if inputs.ndim == 4:
            return list(inputs), False
        raise InvalidArgument(f"images: an array of shape {inputs.shape}: give (height, width, "
                              "3) or (n, height, width, 3)")
    items = list(inputs)
    if items and any(_is_image(x) for x in items) and not all(_is_image(x) for x in items):
        raise InvalidArgument("inputs: give all paths or all images, not a mix")
    return items, False


class _Batch:
    """Inputs as the C API takes them, kept alive for the call."""

    def __init__(self, items: list):
        self.count = len(items)
        self.images = bool(items) and _is_image(items[0])
        if self.images:
            self.arrays = []
            self.array = (_native.Image * max(self.count, 1))()
            for i, im in enumerate(items):
                if im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
                    raise InvalidArgument(f"image {i}: a {im.dtype} array of shape {im.shape}: "
                                          "give uint8 (height, width, 3) RGB")
                im = np.ascontiguousarray(im)
                self.arrays.append(im)
                self.array[i] = _native.Image(im.shape[1], im.shape[0],
                                              im.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        else:
            self.paths = (ctypes.c_char_p * max(self.count, 1))(*[_bytes(p) for p in items])


def _face(row: _native.Result, embedding: Optional[np.ndarray]) -> Face:
    b = row.box
    return Face(int(row.input), int(row.face), (b.x1, b.y1, b.x2, b.y2), b.score,
                tuple((p[0], p[1]) for p in b.landmarks), embedding)


# ---- models -------------------------------------------------------------------------------


class Model:
    """A face-recognition model planned on a device, with its face detection and alignment.

    name_or_path: a model name ("dlib", the default; "irv1"; "pixels") or a weights file
    (.frw). weights: with a name, a weights file other than the model's default.
    align: "auto" (the model's own way), "none", "mtcnn", "landmarks68".
    faces: which face of an image embed() uses: "largest" or "central" (FaceNet's rule);
    "all" makes every face a result of embed_faces().
    face_detector: "auto" (the default: the model's, tiny+mtcnn at 192 for dlib's chips from
    the 68 landmarks, MTCNN otherwise; docs/alignment.md), "mtcnn", "tiny" (face-api's
    TinyFaceDetector: faster on the CPU, boxes only, so chips from the 68 landmarks; its
    faces' landmarks are NaN) or "tiny+mtcnn" (tiny's boxes refined by MTCNN's O-Net, with its
    5 landmarks, and MTCNN for the images left without a face); detector_size:
    the tiny detector's input side (a multiple of 32 from 128 to 608; 0: auto's 192, else
    416, face-api's; 192-256 suit LFW-size images); detector_threshold: its score a face must
    pass (0: 0.5).
    detector: the (first) detector's weights file instead of the default.
    """

    def __init__(self, name_or_path: Union[str, os.PathLike] = "dlib", device: str = "auto", *,
                 weights: Optional[Union[str, os.PathLike]] = None, align: str = "auto",
                 faces: str = "largest", flip: bool = False, precision: Optional[str] = None,
                 batch: int = 0, threads: int = 0, raw: bool = False,
                 detector: Optional[str] = None, landmarks: Optional[str] = None,
                 face_detector: str = "auto", detector_size: int = 0,
                 detector_threshold: float = 0.0):
        self._model = ctypes.c_void_p()
        self._engine = ctypes.c_void_p()
        self._lock = threading.Lock()
        name, path = None, weights
        s = os.fspath(name_or_path)
        if isinstance(s, bytes) or os.sep in s or s.endswith(".frw") or os.path.isfile(s):
            path = s
        else:
            name = s
        _check(lib.fr_model_open(name.encode() if name else None,
                                 _bytes(path) if path is not None else None,
                                 ctypes.byref(self._model)))
        self._keep = [_bytes(detector) if detector else None,
                      _bytes(landmarks) if landmarks else None]
        options = _native.EngineOptions(
            _choice(_native.DEVICES, device, "device"),
            _choice(_native.PRECISIONS, precision, "precision"), int(batch), int(threads),
            _choice(_native.ALIGNMENTS, align, "align"), _choice(_native.FACES, faces, "faces"),
            int(bool(flip)), int(bool(raw)), self._keep[0], self._keep[1],
            _choice(_native.FACE_DETECTORS, face_detector, "face_detector"), int(detector_size),
            float(detector_threshold))
        try:
            _check(lib.fr_engine_new(self._model, ctypes.byref(options),
                                     ctypes.byref(self._engine)))
        except Error:
            self.close()
            raise
        info = lib.fr_model_get_info(self._model).contents
        self.arch = _text(info.arch)
        self.input_size = info.input_size
        self.embedding_size = info.embedding_size
        self.threshold = float(info.threshold)
        self.source = _text(info.source)
        self.source_sha256 = _text(info.source_sha256)
        self.faces = faces
        self.device = _text(lib.fr_engine_backend(self._engine))

    def close(self) -> None:
        """Frees the model and its engine now (also done when it is garbage-collected)."""
        if getattr(self, "_engine", None):
            lib.fr_engine_free(self._engine)
            self._engine = ctypes.c_void_p()
        if getattr(self, "_model", None):
            lib.fr_model_free(self._model)
            self._model = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self) -> str:
        return (f"facerec.Model({self.arch!r}, device={self.device!r}, "
                f"embedding_size={self.embedding_size}, threshold={self.threshold:.3f})")

    def _run(self, kind: str, inputs):
        items, alone = _inputs(inputs)
        batch = _Batch(items)
        out = ctypes.POINTER(_native.Results)()
        if not self._engine:
            raise InvalidArgument("this model is closed")
        name = f"fr_engine_{kind}_{'images' if batch.images else 'files'}"
        with self._lock:  # an engine runs one call at a time (other models run in parallel)
            _check(getattr(lib, name)(self._engine, batch.array if batch.images else batch.paths,
                                      batch.count, ctypes.byref(out)))
        try:
            r = out.contents
            rows = [r.rows[i] for i in range(r.count)]
            dim = int(r.dim)
            emb = (np.ctypeslib.as_array(r.embeddings, shape=(r.count, dim)).copy()
                   if dim and r.count else np.zeros((r.count, dim), np.float32))
            errors = [None if row.status == 0 else _error(row.status, _text(row.error))
                      for row in rows]
            faces = [_face(row, emb[i] if dim else None) for i, row in enumerate(rows)]
        finally:
            lib.fr_results_free(out)
        return items, alone, rows, emb, errors, faces

    def embed(self, inputs, errors: str = "raise") -> np.ndarray:
        """Embeddings (N, D) float32, one row per input (its main face, or the whole image
        with align="none"). errors="raise": the first input that cannot be read or has no
        face raises its error (NoFace, FormatError, ...); errors="nan": its row is NaN."""
        if self.faces == "all":
            raise InvalidArgument("embed() gives one row per image: with faces='all' use "
                                  "embed_faces()")
        if errors not in ("raise", "nan"):
            raise InvalidArgument(f"errors={errors!r}: choose 'raise' or 'nan'")
        _, _, rows, emb, errs, _ = self._run("embed", inputs)
        for i, e in enumerate(errs):
            if e is not None:
                if errors == "raise":
                    raise e
                emb[i] = np.nan
        return emb

    def embed_faces(self, inputs, errors: str = "raise") -> List[Face]:
        """Every result as a Face with its embedding: one per input, or with faces="all" one
        per face found. errors="skip" leaves out inputs that failed instead of raising."""
        if errors not in ("raise", "skip"):
            raise InvalidArgument(f"errors={errors!r}: choose 'raise' or 'skip'")
        _, _, rows, _, errs, faces = self._run("embed", inputs)
        for e in errs:
            if e is not None and errors == "raise":
                raise e
        return [f for f, e in zip(faces, errs) if e is None]

    def detect(self, inputs, errors: str = "raise"):
        """The faces of each input (MTCNN; best score first), as a list of Face per input (a
        single input: its list). errors="skip": an input that cannot be read has no faces."""
        if errors not in ("raise", "skip"):
            raise InvalidArgument(f"errors={errors!r}: choose 'raise' or 'skip'")
        items, alone, rows, _, errs, faces = self._run("detect", inputs)
        found: List[List[Face]] = [[] for _ in items]
        for f, e in zip(faces, errs):
            if e is not None:
                if errors == "raise":
                    raise e
            elif f.index >= 0:
                found[f.input].append(f)
        return found[0] if alone else found


# ---- distances ------------------------------------------------------------------------------

_local = threading.local()  # a distance handle per thread and settings (one thread per handle)


def _distances(device: str, threads: int) -> ctypes.c_void_p:
    key = (device, threads)
    handles = getattr(_local, "handles", None)
    if handles is None:
        handles = _local.handles = {}
    if key not in handles:
        h = ctypes.c_void_p()
        o = _native.DistancesOptions(_choice(_native.DEVICES, device, "device"), int(threads))
        _check(lib.fr_distances_new(ctypes.byref(o), ctypes.byref(h)))
        handles[key] = _Handle(h, lib.fr_distances_free)
    return handles[key].handle


class _Handle:
    def __init__(self, handle, free):
        self.handle, self._free = handle, free

    def __del__(self):
        self._free(self.handle)


def _rows(x, what: str) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InvalidArgument(f"{what}: an array of shape {a.shape}: give (n, dim) embeddings")
    return a


def _fp(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def distances(a, b=None, device: str = "auto", threads: int = 0) -> np.ndarray:
    """L2 distances between the rows of a (n, dim) and b (m, dim) as an (n, m) float32 array;
    b None: a against itself (exactly symmetric, zero diagonal). Through GEMM, on a GPU where
    there is one (device="auto")."""
    a = _rows(a, "a")
    b = None if b is None else _rows(b, "b")
    if b is not None and b.shape[1] != a.shape[1]:
        raise InvalidArgument(f"distances: a has {a.shape[1]} columns, b {b.shape[1]}")
    m = a.shape[0] if b is None else b.shape[0]
    out = np.empty((a.shape[0], m), np.float32)
    _check(lib.fr_distances_matrix(_distances(device, threads), _fp(a), a.shape[0],
                                   None if b is None else _fp(b), m, a.shape[1], _fp(out)))
    return out


def nearest(probes, gallery, k: int = 1, labels=None, device: str = "auto",
            threads: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The k nearest gallery rows of each probe: (indices int64 (n, k), distances float32
    (n, k)), nearest first; with labels (one int per gallery row) the k nearest distinct
    labels, each at its nearest row. Missing slots: index -1, distance inf."""
    p, g = _rows(probes, "probes"), _rows(gallery, "gallery")
    if p.shape[1] != g.shape[1]:
        raise InvalidArgument(f"nearest: probes have {p.shape[1]} columns, gallery {g.shape[1]}")
    lab = None
    if labels is not None:
        lab = np.ascontiguousarray(labels, dtype=np.int32)
        if lab.shape != (g.shape[0],):
            raise InvalidArgument(f"nearest: {lab.size} labels for {g.shape[0]} gallery rows")
    idx = np.empty((p.shape[0], int(k)), np.int64)
    dist = np.empty((p.shape[0], int(k)), np.float32)
    _check(lib.fr_distances_nearest(
        _distances(device, threads), _fp(p), p.shape[0], _fp(g), g.shape[0], p.shape[1],
        None if lab is None else lab.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), int(k),
        idx.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), _fp(dist)))
    return idx, dist


# ---- the identity database ----------------------------------------------------------------


def _strings(items: Sequence) -> ctypes.Array:
    return (ctypes.c_char_p * max(len(items), 1))(*[_bytes(s) for s in items])


class Database:
    """An identity database (SQLite file, as `facerec enroll` writes): people and their
    embeddings, of one model. mode: "create" (default: open, or make a new one), "write"
    (an existing one), "read" (matching only; the file may be read-only)."""

    def __init__(self, path: Union[str, os.PathLike], mode: str = "create"):
        self.path = os.fspath(path)
        self._db = ctypes.c_void_p()
        self._lock = threading.Lock()
        _check(lib.fr_database_open(_bytes(path), _choice(_native.DATABASE_MODES, mode, "mode"),
                                    ctypes.byref(self._db)))

    def close(self) -> None:
        if getattr(self, "_db", None):
            lib.fr_database_close(self._db)
            self._db = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self) -> str:
        return f"facerec.Database({self.path!r})"

    def _handle(self):
        if not self._db:
            raise InvalidArgument(f"{self.path}: the database is closed")
        return self._db

    @staticmethod
    def _embeddings(model: Model, inputs) -> Tuple[np.ndarray, Optional[list], bool]:
        """Embeddings given as such (a float array), or computed from images or paths."""
        if isinstance(inputs, np.ndarray) and inputs.dtype != np.uint8:
            e = _rows(inputs, "embeddings")
            if e.shape[1] != model.embedding_size:
                raise InvalidArgument(f"embeddings of {e.shape[1]} values: the {model.arch} "
                                      f"model's have {model.embedding_size}")
            return e, None, inputs.ndim == 1
        items, alone = _inputs(inputs)
        sources = None if not items or _is_image(items[0]) else [os.fspath(p) for p in items]
        return model.embed(items), sources, alone

    def _options(self, model: Model, threshold, aggregation: str, device: str):
        t = float(threshold) if threshold is not None else 0.0
        o = _native.MatchOptions(t, _choice(_native.AGGREGATIONS, aggregation, "aggregation"),
                                 _choice(_native.DEVICES, device, "device"), 0)
        return o, (t if t > 0 else model.threshold)

    def enroll(self, model: Model, name: str, inputs, sources: Optional[Sequence[str]] = None
               ) -> int:
        """Adds embeddings of `name` (created if new): images or paths (embedded with model,
        each must show a face), or embeddings (a float array). One transaction: all or none.
        Returns how many were added."""
        e, paths, _ = self._embeddings(model, inputs)
        src = list(sources) if sources is not None else paths
        if src is not None and len(src) != e.shape[0]:
            raise InvalidArgument(f"enroll: {len(src)} sources for {e.shape[0]} embeddings")
        names = _strings([name] * e.shape[0])
        with self._lock:
            _check(lib.fr_database_enroll(self._handle(), model._model, e.shape[0], names, _fp(e),
                                          _strings(src) if src is not None else None))
        return e.shape[0]

    def people(self) -> List[Person]:
        entries = ctypes.POINTER(_native.PersonEntry)()
        count = ctypes.c_size_t()
        with self._lock:
            _check(lib.fr_database_people(self._handle(), ctypes.byref(entries),
                                          ctypes.byref(count)))
            return [Person(_text(entries[i].name), int(entries[i].embeddings),
                           _text(entries[i].created)) for i in range(count.value)]

    def remove(self, *names: str) -> None:
        """Removes people and their embeddings: all of them, or (an unknown name) none."""
        with self._lock:
            _check(lib.fr_database_remove(self._handle(), _strings(names), len(names)))

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            _check(lib.fr_database_rename(self._handle(), old.encode(), new.encode()))

    def verify(self, model: Model, name: Union[str, Sequence[str]], inputs,
               threshold: Optional[float] = None, aggregation: str = "min",
               device: str = "auto"):
        """Is this `name`? One input: a Verification; several: a list, one per input (name:
        one for all, or one per input). A person's distance: the nearest of their embeddings
        (aggregation="min") or to their normalized mean ("mean"); verified when under the
        threshold (the model's default unless given)."""
        e, _, alone = self._embeddings(model, inputs)
        names = [name] * e.shape[0] if isinstance(name, str) else list(name)
        if len(names) != e.shape[0]:
            raise InvalidArgument(f"verify: {len(names)} names for {e.shape[0]} inputs")
        options, t = self._options(model, threshold, aggregation, device)
        out = (_native.Candidate * max(e.shape[0], 1))()
        with self._lock:
            _check(lib.fr_database_verify(self._handle(), model._model, ctypes.byref(options),
                                          _fp(e), e.shape[0], _strings(names), out))
            answers = [Verification(_text(c.name), float(c.distance), t, bool(c.accepted),
                                    _text(c.image)) for c in out[:e.shape[0]]]
        return answers[0] if alone else answers

    def identify(self, model: Model, inputs, k: int = 1, threshold: Optional[float] = None,
                 aggregation: str = "min", device: str = "auto"):
        """Who is this? One input: an Identification; several: a list. The k nearest people
        (each once), and the identity: the nearest when under the threshold, else None."""
        e, _, alone = self._embeddings(model, inputs)
        k = int(k)
        options, t = self._options(model, threshold, aggregation, device)
        out = (_native.Candidate * max(e.shape[0] * k, 1))()
        with self._lock:
            _check(lib.fr_database_identify(self._handle(), model._model, ctypes.byref(options),
                                            _fp(e), e.shape[0], k, out))
            answers = []
            for i in range(e.shape[0]):
                slots = out[i * k:(i + 1) * k]
                cands = [Candidate(_text(c.name), float(c.distance), _text(c.image))
                         for c in slots if c.name is not None]
                first = slots[0]
                answers.append(Identification(_text(first.name) if first.accepted else None,
                                              float(first.distance), t, cands))
        return answers[0] if alone else answers
