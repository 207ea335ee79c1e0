#!/usr/bin/env bash
# bench/device_pack.sh: prepares, on this machine (no GPU), everything bench/device_check.sh
# needs on a lent GPU machine, which has CUDA, cuDNN, cuBLAS, Python with torch, numpy and
# h5py, but none of our Debian libraries and no network:
#
#   build-device/   a Release build with CUDA for sm_90 (H100/H200)
#   .carry/         (git-ignored; name it in the device tool's `carry`)
#     bin/          facerec, the GPU tests (vision and learning ops too), bench_cuda,
#                   bench_network (graph export)
#     libs.tar.xz   the shared libraries those need from this machine, except glibc's and
#                   libstdc++/libgcc_s (the device's newer ones serve) and CUDA's (the device's)
#     weights/      dlib.frw.xz, mtcnn.frw, landmark68.frw, tinyface.frw (irv1's random
#                   weights are made there: 92 MB do not travel)
#     data/         the test images, keras-facenet/model.json, and JPEGs for the end-to-end run
#
# usage: bench/device_pack.sh [JPEG_COUNT]      (default 1000 LFW images)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-device"
carry="$root/.carry"
data="${FACEREC_DATA:-$root/../shared/data}"
jpegs="${1:-1000}"

log="$build/device_pack.log"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFACEREC_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DFACEREC_WERROR=OFF > "$log" 2>&1 || {
  tail -20 "$log"; exit 1; }
targets=(facerec test_cuda_ops test_cuda_network test_cuda_device test_cuda_distance test_cuda_jpeg
         test_cuda_vision test_cuda_learn test_plan_cache bench_cuda bench_network)
cmake --build "$build" -j2 --target "${targets[@]}" >> "$log" 2>&1 || {
  grep -E "error|Error" "$log" | head -20; exit 1; }

rm -rf "$carry"
mkdir -p "$carry/bin" "$carry/lib" "$carry/weights" "$carry/data"
bins=("$build/facerec" "$build/tests/test_cuda_ops" "$build/tests/test_cuda_network"
      "$build/tests/test_cuda_device" "$build/tests/test_cuda_distance" "$build/tests/test_cuda_jpeg"
      "$build/tests/test_cuda_vision" "$build/tests/test_cuda_learn"
      "$build/tests/test_plan_cache" "$build/bench/bench_cuda" "$build/bench/bench_network")
cp "${bins[@]}" "$carry/bin/"
strip "$carry"/bin/*

# shared libraries: everything ldd resolves except the C library family, the C++ runtime and
# CUDA's own libraries (each of those the device has, newer or matching its driver)
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libresolv|libutil|libstdc\+\+|libgcc_s|libcuda|libcudnn|libcublas|libcudart|libnvrtc|libnvJitLink)'
for b in "${bins[@]}"; do
  ldd "$b" | awk '$3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  if ! [[ "$name" =~ $skip ]]; then
    cp -L "$path" "$carry/lib/$name"
  fi
done
tar -C "$carry" -cJf "$carry/libs.tar.xz" lib
rm -rf "$carry/lib"

xz -T2 -6 -c "$root/weights/dlib.frw" > "$carry/weights/dlib.frw.xz"
cp "$root/weights/mtcnn.frw" "$carry/weights/"   # the face detector: alignment runs on the GPU too
cp "$root/weights/landmark68.frw" "$carry/weights/"   # dlib's 68-point chips (default alignment)
cp "$root/weights/tinyface.frw" "$carry/weights/"   # --detector tiny (face-api's TinyFaceDetector)
# test images (the paths the GPU tests read) and the Keras graph for irv1's random weights
mkdir -p "$carry/data/lfw_devtrain/images" "$carry/data/keras-facenet"
cp -r "$data/happyhouse" "$carry/data/"
# test_cuda_jpeg reads the first 48 LFW photos in name order (Aaron_Peirsol is among them),
# test_cuda_vision 60 spread over what is there (it fails with fewer), so 64 go
# (lists go through files: with pipefail, head closing a pipe early would fail the script)
find "$data/lfw_devtrain/images" -name '*.jpg' | sort > "$build/e2e-list.txt"
head -n 64 "$build/e2e-list.txt" | sed "s|^$data/lfw_devtrain/images/||" > "$build/jpeg-test-list.txt"
(cd "$data/lfw_devtrain/images" && xargs -a "$build/jpeg-test-list.txt" -d '\n' \
  cp --parents -t "$carry/data/lfw_devtrain/images/")
# the original MTCNN tensors, for the batched PyTorch MTCNN peer (bench/torch_mtcnn.py)
cp -r "$data/mtcnn" "$carry/data/"
cp "$data/keras-facenet/model.json" "$carry/data/keras-facenet/"
# end to end: the first JPEG_COUNT LFW images, one folder; on the device
# bench/make_bench_data.py makes the 10,000 LFW-size JPEGs and the 1080p group photos from them
mkdir -p "$carry/data/e2e"
head -n "$jpegs" "$build/e2e-list.txt" | xargs -d '\n' cp -t "$carry/data/e2e/"

echo "carry: $(du -sh "$carry" | cut -f1) in $(find "$carry" -type f | wc -l) files"
du -sh "$carry"/* | sort -h
total=$(du -sb "$carry" | cut -f1)
if [ "$total" -gt $((58 * 1024 * 1024)) ]; then
  echo "device_pack: .carry is over 58 MiB: use fewer JPEGs" >&2
  exit 1
fi
