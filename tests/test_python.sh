#!/usr/bin/env bash
# test_python.sh: the Python package (python/) under pytest, against this build's libfacerec.so
# and facerec (python/tests/test_facerec.py says what it checks). Labelled heavy: a Python
# process cannot load the sanitizer build's library, and the test builds a virtual environment.
set -euo pipefail
py="${FACEREC_PYTHON:?}"
build="${FACEREC_BUILD_DIR:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
"$py" -c "import pytest, numpy, PIL" 2>/dev/null ||
    { echo "no pytest, numpy or Pillow for $py (scripts/setup.sh --tests)"; exit 77; }
export FACEREC_LIBRARY="$build/libfacerec.so"
export PYTHONPATH="$FACEREC_SOURCE_DIR/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
cd "$build"
exec "$py" -m pytest -p no:cacheprovider -q "$FACEREC_SOURCE_DIR/python/tests"
