#!/usr/bin/env bash
# scripts/setup.sh: everything a fresh Debian 12 machine needs before facerec runs:
# packages, a build (CUDA backend when a CUDA toolkit with cuDNN is installed), the dlib
# weights (npm pack of @vladmandic/face-api, checksum-verified, converted).
#
# usage: scripts/setup.sh [--tests]     (--tests: also what the test suite needs: Python with
#                                         numpy/h5py/torch/PIL/OpenCV, face-api's Node harness,
#                                         Slurm and munge, the Kubernetes schema checks)
# Environment: BUILD_DIR (default build), CMAKE_ARGS (extra configure arguments).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
tests=0
[ "${1:-}" = "--tests" ] && tests=1

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# Why each package: see README.md, "Dependencies".
packages=(build-essential cmake pkg-config
          libturbojpeg0-dev libpng-dev libdnnl-dev libhdf5-dev libsqlite3-dev libcjson-dev libssl-dev
          libprotobuf-c-dev protobuf-c-compiler nodejs npm)
if [ "$tests" = 1 ]; then
  packages+=(python3-numpy python3-h5py python3-torch python3-pil python3-opencv python3-onnx
             python3-sklearn python3-pytest python3-venv python3-pip python3-setuptools
             python3-wheel groff-base)
  # a single-node Slurm cluster that tests/test_slurm.sh starts and stops itself
  packages+=(slurmctld slurmd slurm-client munge)
  # tests/test_docker.sh: the Dockerfile built on a Debian 12 root made offline from the mirror
  packages+=(podman debootstrap debian-archive-keyring)
  # libFuzzer (clang's -fsanitize=fuzzer, its runtime and OpenMP) for scripts/fuzz.sh
  packages+=(clang libclang-rt-dev libomp-dev)
fi
# nodejs and npm fetch face-api's package: not needed when its checked tarball (or the weights
# converted from it) is already here, unless the tests want them (face-api's own harness)
if [ "$tests" = 0 ] && { { [ -f "$root/weights/dlib.frw" ] && [ -f "$root/weights/landmark68.frw" ] &&
                           [ -f "$root/weights/tinyface.frw" ]; } ||
                         "$root/weights/fetch.sh" --cached; }; then
  packages=("${packages[@]/nodejs/}"); packages=("${packages[@]/npm/}")
fi
missing=()
for p in "${packages[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere (nodesource, nvm): then Debian's nodejs/npm are not needed.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

echo "setup: building in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

# every weights file fetch.sh makes (a checkout from before one was added gets it too); the
# tests also convert human's faceres (144 MB more, --faceres), which the demo does not need
fetch_args=() weights=(dlib landmark68 tinyface)
[ "$tests" = 1 ] && fetch_args=(--faceres) weights+=(faceres)
for w in "${weights[@]}"; do
  if [ ! -f "$root/weights/$w.frw" ]; then
    "$root/weights/fetch.sh" "${fetch_args[@]}" "$build/facerec"
    break
  fi
done

if [ "$tests" = 1 ] && [ ! -d "$root/tests/ref/faceapi/node_modules/@vladmandic/face-api" ]; then
  echo "setup: installing face-api's Node harness (tests/ref/faceapi)" >&2
  (cd "$root/tests/ref/faceapi" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ "$tests" = 1 ] && [ ! -d "$root/tests/ref/k8s/node_modules/kubernetes-models" ]; then
  echo "setup: installing the Kubernetes schema checks (tests/ref/k8s)" >&2
  (cd "$root/tests/ref/k8s" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "setup: done ($build/facerec)" >&2
