"""ctypes bindings of libfacerec's C API (facerec.h): the library, its structs, its functions.

Every call goes through ctypes.CDLL, which releases the GIL for the duration of the C call:
embedding, detection and matching run while other Python threads carry on.

The library is found, in order, at $FACEREC_LIBRARY (a path), by the dynamic loader under
its soname (libfacerec.so.0.1: an installed prefix the loader knows, or LD_LIBRARY_PATH),
and in the libdir pkg-config gives for facerec.
"""
import ctypes
import os
import shutil
import subprocess

from ._version import __version__

SONAME = "libfacerec.so." + ".".join(__version__.split(".")[:2])


class Image(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                ("pixels", ctypes.POINTER(ctypes.c_uint8))]


class ModelInfo(ctypes.Structure):
    _fields_ = [("arch", ctypes.c_char_p), ("input_size", ctypes.c_int),
                ("embedding_size", ctypes.c_int), ("preprocess", ctypes.c_int),
                ("threshold", ctypes.c_float), ("source", ctypes.c_char_p),
                ("source_sha256", ctypes.c_char_p)]


class EngineOptions(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("precision", ctypes.c_int),
                ("max_batch", ctypes.c_int), ("threads", ctypes.c_int),
                ("alignment", ctypes.c_int), ("faces", ctypes.c_int), ("flip", ctypes.c_int),
                ("raw", ctypes.c_int), ("detector", ctypes.c_char_p),
                ("landmarks", ctypes.c_char_p), ("face_detector", ctypes.c_int),
                ("detector_size", ctypes.c_int), ("detector_threshold", ctypes.c_double)]


class FaceBox(ctypes.Structure):
    _fields_ = [("x1", ctypes.c_float), ("y1", ctypes.c_float), ("x2", ctypes.c_float),
                ("y2", ctypes.c_float), ("score", ctypes.c_float),
                ("landmarks", (ctypes.c_float * 2) * 5)]


class Result(ctypes.Structure):
    _fields_ = [("input", ctypes.c_size_t), ("status", ctypes.c_int),
                ("error", ctypes.c_char_p), ("face", ctypes.c_int),
                ("face_count", ctypes.c_int), ("box", FaceBox)]


class Results(ctypes.Structure):
    _fields_ = [("count", ctypes.c_size_t), ("dim", ctypes.c_size_t),
                ("rows", ctypes.POINTER(Result)), ("embeddings", ctypes.POINTER(ctypes.c_float))]


class DistancesOptions(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("threads", ctypes.c_int)]


class PersonEntry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("embeddings", ctypes.c_size_t),
                ("created", ctypes.c_char_p)]


class MatchOptions(ctypes.Structure):
    _fields_ = [("threshold", ctypes.c_float), ("aggregation", ctypes.c_int),
                ("device", ctypes.c_int), ("threads", ctypes.c_int)]


class Candidate(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("image", ctypes.c_char_p),
                ("distance", ctypes.c_float), ("accepted", ctypes.c_int)]


# enum values, as facerec.h numbers them
DEVICES = {"auto": 0, "cpu": 1, "cuda": 2}
PRECISIONS = {None: 0, "fp32": 1, "tf32": 2, "fp16": 3, "bf16": 4}
ALIGNMENTS = {"auto": 0, "none": 1, "mtcnn": 2, "landmarks68": 3}
FACES = {"largest": 0, "central": 1, "all": 2}
FACE_DETECTORS = {"auto": 0, "mtcnn": 1, "tiny": 2, "tiny+mtcnn": 3}
AGGREGATIONS = {"min": 0, "mean": 1}
DATABASE_MODES = {"read": 0, "write": 1, "create": 2}
STATUS_NAMES = ["ok", "invalid", "io", "format", "unsupported", "too_large", "nomem",
                "model_mismatch", "not_found", "device", "no_face", "internal"]

P = ctypes.POINTER
_vp = ctypes.c_void_p
_size = ctypes.c_size_t
_str = ctypes.c_char_p
_status = ctypes.c_int
_floats = P(ctypes.c_float)

# name: (result type, argument types)
_FUNCTIONS = {
    "fr_version": (_str, []),
    "fr_status_name": (_str, [ctypes.c_int]),
    "fr_error_message": (_str, []),
    "fr_model_open": (_status, [_str, _str, P(_vp)]),
    "fr_model_free": (None, [_vp]),
    "fr_model_get_info": (P(ModelInfo), [_vp]),
    "fr_cuda_compiled": (ctypes.c_int, []),
    "fr_cuda_device_count": (ctypes.c_int, []),
    "fr_engine_new": (_status, [_vp, P(EngineOptions), P(_vp)]),
    "fr_engine_free": (None, [_vp]),
    "fr_engine_backend": (_str, [_vp]),
    "fr_engine_embed_files": (_status, [_vp, P(_str), _size, P(P(Results))]),
    "fr_engine_embed_images": (_status, [_vp, P(Image), _size, P(P(Results))]),
    "fr_engine_detect_files": (_status, [_vp, P(_str), _size, P(P(Results))]),
    "fr_engine_detect_images": (_status, [_vp, P(Image), _size, P(P(Results))]),
    "fr_results_free": (None, [P(Results)]),
    "fr_distances_new": (_status, [P(DistancesOptions), P(_vp)]),
    "fr_distances_free": (None, [_vp]),
    "fr_distances_backend": (_str, [_vp]),
    "fr_distances_matrix": (_status, [_vp, _floats, _size, _floats, _size, _size, _floats]),
    "fr_distances_nearest": (_status, [_vp, _floats, _size, _floats, _size, _size,
                                       P(ctypes.c_int32), _size, P(ctypes.c_int64), _floats]),
    "fr_database_open": (_status, [_str, ctypes.c_int, P(_vp)]),
    "fr_database_close": (None, [_vp]),
    "fr_database_enroll": (_status, [_vp, _vp, _size, P(_str), _floats, P(_str)]),
    "fr_database_people": (_status, [_vp, P(P(PersonEntry)), P(_size)]),
    "fr_database_remove": (_status, [_vp, P(_str), _size]),
    "fr_database_rename": (_status, [_vp, _str, _str]),
    "fr_database_verify": (_status, [_vp, _vp, P(MatchOptions), _floats, _size, P(_str),
                                     P(Candidate)]),
    "fr_database_identify": (_status, [_vp, _vp, P(MatchOptions), _floats, _size, _size,
                                       P(Candidate)]),
}


def _candidates():
    path = os.environ.get("FACEREC_LIBRARY")
    if path:
        yield path
        return
    yield SONAME
    if shutil.which("pkg-config"):
        try:
            libdir = subprocess.run(["pkg-config", "--variable=libdir", "facerec"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            libdir = ""
        if libdir:
            yield os.path.join(libdir, SONAME)


def _load():
    tried = []
    for candidate in _candidates():
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as e:
            tried.append(f"{candidate} ({e})")
            continue
        for name, (restype, argtypes) in _FUNCTIONS.items():
            f = getattr(lib, name)
            f.restype = restype
            f.argtypes = argtypes
        return lib
    raise ImportError("facerec: cannot load libfacerec " + SONAME + ": tried " +
                      "; ".join(tried) + ". Install the library (cmake --install) or set "
                      "FACEREC_LIBRARY to its path.")


lib = _load()
