#!/usr/bin/env bash
# scripts/test.sh: set up a fresh Debian 12 machine (scripts/setup.sh --tests) and run the whole
# test suite twice: a Release build with warnings as errors, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build of the same tests (except those labelled `heavy`: service
# start-ups, image builds and long loops of whole CLI runs, which gain nothing from the
# sanitizers), then each libFuzzer harness for a few seconds (scripts/fuzz.sh, under ASan +
# UBSan too). Tests that need a GPU report SKIPPED where there is none.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"

BUILD_DIR="$root/build" CMAKE_ARGS="-DFACEREC_WERROR=ON" "$root/scripts/setup.sh" --tests
(cd "$root/build" && ctest --output-on-failure -j"$jobs")

echo "test: the same tests under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACEREC_WERROR=ON \
  -DFACEREC_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs" >/dev/null
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$root/build-asan" && ctest --output-on-failure -j"$jobs" -LE heavy)

echo "test: every libFuzzer harness briefly over its seeds (scripts/fuzz.sh)" >&2
FUZZ_SEEDS_ONLY=keras "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-12}"
