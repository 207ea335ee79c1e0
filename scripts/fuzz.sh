#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...]: runs the libFuzzer harnesses (fuzz/) for SECONDS each
# (default 15) over their seed corpora, under ASan + UBSan, and fails on any finding (its
# reproducer is kept in $FUZZ_ARTIFACTS, default build-fuzz/artifacts). Builds build-fuzz with
# clang first. New inputs go to a scratch corpus (build-fuzz/corpus/<target>, kept between
# runs), never into the repository's fuzz/corpus. CI runs it from scripts/test.sh;
# FUZZ_JOBS=N runs N targets at once (default: the number of CPUs). FUZZ_SEEDS_ONLY="T..."
# runs those targets over their seeds without mutating them (keras in CI: libhdf5, not facerec,
# crashes on mutated files, docs/fuzzing.md); FUZZ_KEEP_GOING="T..." runs those in libFuzzer's
# fork mode past crashes (to count them in a long run). docs/fuzzing.md says more.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-15}"
shift || true
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
artifacts="${FUZZ_ARTIFACTS:-$build/artifacts}"
all=(decode weights npy pairs claims scores tfjs keras store detect)
[ "$#" -gt 0 ] && targets=("$@") || targets=("${all[@]}")

if [ -z "${FUZZ_NO_BUILD:-}" ]; then  # FUZZ_NO_BUILD=1: run the harnesses already in $build
  CC=clang cmake -S "$root" -B "$build" -DFACEREC_FUZZ=ON -DFACEREC_CUDA=OFF -DBUILD_TESTING=OFF \
    -DFACEREC_WERROR=ON >/dev/null
  cmake --build "$build" -j"$(nproc)" --target fuzz_all >/dev/null
fi
mkdir -p "$artifacts"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:quarantine_size_mb=64"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_one() {
  local t="$1" seeds="$root/fuzz/corpus/$1" scratch="$build/corpus/$1" log="$build/fuzz_$1.log"
  [ "$t" = decode ] && seeds="$root/tests/data/images"
  mkdir -p "$scratch"
  local mode=(-max_total_time="$seconds" "$scratch")
  [[ " ${FUZZ_SEEDS_ONLY:-} " == *" $t "* ]] && mode=(-runs=0)
  # no SIGALRM for detect: libFuzzer's timer handler, run on a thread inside oneDNN's JIT
  # sgemm (whose stack pointer is then in a heap buffer), trips ASan (docs/fuzzing.md)
  local timeout=30
  [ "$t" = detect ] && timeout=0
  [[ " ${FUZZ_KEEP_GOING:-} " == *" $t "* ]] && mode+=(-fork=1 -ignore_crashes=1)
  if "$build/fuzz/fuzz_$t" -timeout="$timeout" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t-" "${mode[@]}" "$seeds" >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs," \
      "$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*') edges, no finding"
  else
    echo "fuzz: $t: FINDING (log $log, reproducer in $artifacts):" >&2
    grep -E "ERROR|SUMMARY|fuzz:|runtime error" "$log" | head -5 >&2
    return 1
  fi
}
export -f run_one
export root build artifacts seconds
printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-$(nproc)}" -I{} bash -c 'run_one {}'
