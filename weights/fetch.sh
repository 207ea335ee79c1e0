#!/usr/bin/env bash
# weights/fetch.sh: fetch the dlib face-recognition ResNet, the 68-point landmark network and
# the tiny face detector shipped in face-api's npm package, check it, and convert them to
# weights/dlib.frw, weights/landmark68.frw (the dlib chips' alignment) and weights/tinyface.frw
# (--detector tiny) with the facerec binary given (or found in build/). The irv1 weights cannot be fetched: bring your Keras .h5 and run
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

cache="$here/cache"
if [ "${1:-}" = "--cached" ]; then
  [ -f "$cache/$TARBALL" ] && echo "$SHA256  $cache/$TARBALL" | sha256sum -c --status
  exit
fi
mkdir -p "$cache"
if [ ! -f "$cache/$TARBALL" ] || ! echo "$SHA256  $cache/$TARBALL" | sha256sum -c --status; then
  echo "fetching $PACKAGE from the npm registry" >&2
  (cd "$cache" && npm pack --silent "$PACKAGE" >/dev/null)
fi
if ! echo "$SHA256  $cache/$TARBALL" | sha256sum -c --status; then
  echo "weights/fetch.sh: $TARBALL does not have the expected SHA-256 $SHA256; refusing it" >&2
  exit 1
fi
rm -rf "$cache/face-api"
mkdir -p "$cache/face-api"
tar -xzf "$cache/$TARBALL" -C "$cache/face-api" package/model package/LICENSE package/package.json
models="$cache/face-api/package/model"

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
