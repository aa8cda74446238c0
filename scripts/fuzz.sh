#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer
# and UBSan in build-fuzz/, and runs them: what `make fuzz` does.
#
#   scripts/fuzz.sh [run] [SECONDS] [TARGET...]   fuzz each target (all by default:
#                                                 onnx_model tensor_pb) for SECONDS
#                                                 (default $FUZZ_SECONDS or 60)
#   scripts/fuzz.sh merge TARGET...               what the runs found (inputs under
#                                                 4 KB) that adds coverage beyond the
#                                                 seeds and the committed corpus,
#                                                 minimized, into tests/fuzz/corpus/TARGET/
#
# Each run starts from the seeds in ../shared (the globs of
# tests/fuzz/seeds/TARGET.txt, linked from build-fuzz/seeds/TARGET/, never
# copied into the project), tests/fuzz/corpus/TARGET/ and what earlier runs
# kept in build-fuzz/corpus/TARGET/ (where new inputs go). One fuzzer runs
# at a time, one process each. A crash, leak or timeout stops that target's
# run and is written to build-fuzz/crashes/TARGET/; the script names the
# file, goes on with the other targets and exits non-zero. To reproduce one:
#   build-fuzz/tests/fuzz/fuzz_TARGET FILE
# and to keep it as a regression test that `make test` replays, minimize it
#   build-fuzz/tests/fuzz/fuzz_TARGET -minimize_crash=1 -max_total_time=60 \
#       -exact_artifact_path=tests/fuzz/crashes/TARGET/NAME FILE
# and commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build-fuzz
SHARED=${CARAVEL_SHARED_DIR:-../shared}
ALL_TARGETS=(onnx_model tensor_pb infer_request)
# Per-input limits: an input slower than TIMEOUT seconds is reported as a
# timeout; the harnesses cap their own memory well below RSS_MB.
# Stack traces for UBSan reports too (ASan prints them anyway).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
TIMEOUT=${FUZZ_TIMEOUT:-20}
RSS_MB=${FUZZ_RSS_MB:-2048}
# merge: finds of this size or more are not considered for the corpus.
MERGE_MAX_BYTES=${FUZZ_MERGE_MAX_BYTES:-4096}

build() {
  CC=clang cmake -S . -B "$BUILD" -DCARAVEL_FUZZ=ON -DCARAVEL_CUDA=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" -- --no-print-directory >/dev/null
}

# build-fuzz/seeds/TARGET/: links to the seed files in ../shared (flat
# names, as libFuzzer lists folders); empty when ../shared is absent.
link_seeds() {
  local target=$1 dir=$BUILD/seeds/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ ! -d "$SHARED" ]; then
    echo "fuzz: $target: no seeds, the shared data folder $SHARED is absent" >&2
    return
  fi
  local shared_abs pattern file n=0
  shared_abs=$(cd "$SHARED" && pwd)
  while read -r pattern; do
    case "$pattern" in '' | '#'*) continue ;; esac
    for file in "$shared_abs"/$pattern; do
      [ -f "$file" ] || continue
      ln -s "$file" "$dir/$(echo "${file#"$shared_abs"/}" | tr / _)"
      n=$((n + 1))
    done
  done <"tests/fuzz/seeds/$target.txt"
  echo "fuzz: $target: $n seeds from $SHARED"
}

run_target() {
  local target=$1 seconds=$2
  local work=$BUILD/corpus/$target crashes=$BUILD/crashes/$target log=$BUILD/fuzz-$target.log
  mkdir -p "$work" "$crashes"
  link_seeds "$target"
  echo "fuzz: $target: running for $seconds s (log: $log)"
  local status=0
  "$BUILD/tests/fuzz/fuzz_$target" "$work" "tests/fuzz/corpus/$target" "$BUILD/seeds/$target" \
    -max_total_time="$seconds" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+ +(DONE|INITED)|^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$log" | sed "s/^/fuzz: $target: /" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target: FAILED (exit $status); the input is in $crashes/:" >&2
    grep -E 'Test unit written to|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|leak:|assertion' "$log" | head -5 >&2 || true
    return 1
  fi
  echo "fuzz: $target: clean"
}

merge_target() {
  local target=$1 scratch=$BUILD/merge/$target
  link_seeds "$target"
  rm -rf "$scratch"
  mkdir -p "$scratch/known" "$scratch/candidates" "tests/fuzz/corpus/$target"
  # What is already covered: the seeds and the committed corpus.
  cp -L "$BUILD/seeds/$target"/* "$scratch/known/" 2>/dev/null || true
  cp "tests/fuzz/corpus/$target"/* "$scratch/known/" 2>/dev/null || true
  ls "$scratch/known" | sort >"$scratch/before"
  # Only small finds are candidates: the committed corpus stays small.
  find "$BUILD/corpus/$target" -type f -size -"$MERGE_MAX_BYTES"c -exec cp {} "$scratch/candidates/" \;
  # Edges only (-use_counters=0): with hit counts nearly every find is "new".
  "$BUILD/tests/fuzz/fuzz_$target" -merge=1 -use_counters=0 -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    "$scratch/known" "$scratch/candidates" >"$scratch/log" 2>&1
  local added=0 f
  for f in $(ls "$scratch/known" | sort | comm -13 "$scratch/before" -); do
    cp "$scratch/known/$f" "tests/fuzz/corpus/$target/$f"
    added=$((added + 1))
  done
  echo "fuzz: $target: $added inputs added to tests/fuzz/corpus/$target/ ($(du -sh "tests/fuzz/corpus/$target" | cut -f1) in all)"
}

command=run
case "${1:-}" in run | merge) command=$1; shift ;; esac
seconds=${FUZZ_SECONDS:-60}
if [ "$command" = run ] && [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

build
failed=0
for target in "${targets[@]}"; do
  if [ ! -x "$BUILD/tests/fuzz/fuzz_$target" ]; then
    echo "fuzz: no target '$target' (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
  if [ "$command" = merge ]; then merge_target "$target"; else run_target "$target" "$seconds" || failed=1; fi
done
exit $failed
