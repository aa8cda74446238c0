#!/usr/bin/env bash
# The CPU speed acceptance (`make bench`): batch-1 latency of Caravel and of
# onnxruntime on the same models, inputs, thread count and machine, in one
# run. The acceptance is Caravel within 2x of onnxruntime.
# Usage: bench/cpu_vs_onnxruntime.sh BUILD_DIR
# Models: ../shared/models/{mobilenet_v2,squeezenet1_1}-seed1 beside the
# checkout (or $CARAVEL_SHARED_DIR/models); a model that is absent is skipped
# with the reason. Prints a table and appends one row per model to
# bench/results/cpu_vs_onnxruntime.csv. Exit 1 if a run failed.
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through untouched (OpenBLAS
# needs them on some virtual CPUs) and recorded in the output.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
if [ ! -x "$1/caravel" ]; then
  echo "bench: $1/caravel not found; build first (make bench does)" >&2
  exit 1
fi
caravel="$(cd "$1" && pwd)/caravel"
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python3 ]; then
  echo "bench: .venv is missing; run scripts/setup.sh first" >&2
  exit 1
fi

models=(mobilenet_v2-seed1 squeezenet1_1-seed1)
threads=2
repeat=50
shared=${CARAVEL_SHARED_DIR:-../shared}
csv=bench/results/cpu_vs_onnxruntime.csv

date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
host_cpu="${cpu_model:-unknown} ($(nproc) cores)"
host_cpu=${host_cpu//,/ } # one CSV field, unquoted
ort_version=$(.venv/bin/python3 -c 'import onnxruntime; print(onnxruntime.__version__)')
if revision=$(git rev-parse --short HEAD 2>/dev/null); then
  [ -z "$(git status --porcelain -- src include tools)" ] || revision="$revision+dirty"
else
  revision=unknown
fi

echo "== CPU batch-1 latency: caravel vs onnxruntime =="
echo "date $date, host $host_cpu"
echo "caravel $revision ($caravel), onnxruntime $ort_version"
echo "$threads threads, $repeat runs after 1 warm-up, median and min in ms"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
echo

# Reads "time: median X ms, min Y ms ..." (caravel run and ort_time.py
# print the same line) into "X Y".
parse_time() {
  sed -n 's/^time: median \([0-9.]*\) ms, min \([0-9.]*\) ms.*/\1 \2/p' | tail -n 1
}

printf '%-22s %12s %10s %12s %10s %7s  %s\n' model caravel_ms min ort_ms min ratio verdict
failed=0
rows=()
for model in "${models[@]}"; do
  dir=$shared/models/$model
  if [ ! -f "$dir/model.onnx" ] || [ ! -f "$dir/test_data_set_0/input_0.pb" ]; then
    printf '%-22s SKIP: %s is absent (no shared data folder with models)\n' \
      "$model" "$dir"
    continue
  fi
  input=$dir/test_data_set_0/input_0.pb

  if ! cv_out=$("$caravel" run --model "$dir/model.onnx" --input "$input" \
                  --repeat "$repeat" --threads "$threads" 2>&1); then
    printf '%-22s FAIL: %s\n' "$model" "$(tail -n 1 <<<"$cv_out")"
    failed=1
    continue
  fi
  if ! ort_out=$(.venv/bin/python3 bench/ort_time.py --model "$dir/model.onnx" --input "$input" \
                   --repeat "$repeat" --threads "$threads" 2>&1); then
    printf '%-22s FAIL: %s\n' "$model" "$(tail -n 1 <<<"$ort_out")"
    failed=1
    continue
  fi
  read -r cv_median cv_min <<<"$(parse_time <<<"$cv_out")" || true
  read -r ort_median ort_min <<<"$(parse_time <<<"$ort_out")" || true
  if [ -z "${cv_median:-}" ] || [ -z "${ort_median:-}" ]; then
    printf '%-22s FAIL: no "time:" line in the output of %s\n' "$model" \
      "$([ -z "${cv_median:-}" ] && echo "caravel run" || echo ort_time.py)"
    failed=1
    continue
  fi
  ratio=$(awk -v a="$cv_median" -v b="$ort_median" 'BEGIN { printf "%.2f", a / b }')
  verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 2.0) ? "within 2x" : "SLOWER than 2x" }')
  printf '%-22s %12s %10s %12s %10s %7s  %s\n' \
    "$model" "$cv_median" "$cv_min" "$ort_median" "$ort_min" "$ratio" "$verdict"
  rows+=("$date,$host_cpu,$model,$cv_median,$cv_min,$ort_median,$ort_min,$ratio")
done

if [ ${#rows[@]} -gt 0 ]; then
  mkdir -p "$(dirname "$csv")"
  if [ ! -s "$csv" ]; then
    echo "date,host_cpu,model,caravel_median_ms,caravel_min_ms,ort_median_ms,ort_min_ms,ratio" >"$csv"
  fi
  printf '%s\n' "${rows[@]}" >>"$csv"
  echo
  echo "appended ${#rows[@]} row(s) to $csv"
fi
exit "$failed"
