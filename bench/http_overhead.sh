#!/usr/bin/env bash
# What HTTP costs a request (issue 10): the median latency of one request at
# a time through `caravel serve` (measured by `caravel load`: the binary
# tensor extension over one keep-alive connection, send to whole answer)
# against the same model through `caravel drive` in process (cv_submit to
# its callback), on the CPU, same machine, same thread count. Two requests:
# a small one (the demo's mlp-a, [1,64] in, [1,10] out) and batch-1
# MobileNetV2 (../shared/models/mobilenet_v2-seed1, a 602 KB body, [1,1000]
# out).
# A shared machine's speed drifts by more than what is measured (runs of
# MobileNetV2 a minute apart differ by 50% on the development VM), so the
# two sides alternate: OVERHEAD_ROUNDS rounds of a drive run then a load
# run, and the figures are the medians over rounds of each side's p50 (and
# the lowest p50 of each, the least disturbed run).
# Usage: bench/http_overhead.sh BUILD_DIR
# Environment: OVERHEAD_ROUNDS (5), OVERHEAD_SECONDS (measured seconds per
# run, 6), OVERHEAD_THREADS (CPU threads of both, 1: a second thread on two
# shared cores mostly adds stragglers), OVERHEAD_SERVE_ARGS (more options
# for the server, such as "--run-here-us 0" for an A/B; the model column
# then reads "NAME [ARGS]").
# Prints a table and appends one row per model to
# bench/results/http_overhead_cpu.csv (OVERHEAD_CSV elsewhere). PYTHON
# (.venv/bin/python3) makes the demo repository when demo-repo/ is absent:
# bench/gpu/run.sh's `overhead` stage runs this on the GPU machine's CPUs. A model that is absent is skipped
# with the reason. Exit 1 when a run failed.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
if [ ! -x "$1/caravel" ]; then
  echo "http_overhead: $1/caravel not found; build first (make build)" >&2
  exit 1
fi
caravel="$(cd "$1" && pwd)/caravel"
cd "$(dirname "$0")/.."

rounds=${OVERHEAD_ROUNDS:-5}
seconds=${OVERHEAD_SECONDS:-6}
threads=${OVERHEAD_THREADS:-1}
shared=${CARAVEL_SHARED_DIR:-../shared}
out=${OVERHEAD_CSV:-bench/results/http_overhead_cpu.csv}
python=${PYTHON:-.venv/bin/python3}
serve_args=${OVERHEAD_SERVE_ARGS:-}
# OVERHEAD_DEVICE=cuda measures both sides on the GPU (where a batch-1
# MobileNetV2 takes about a millisecond, steadier than the CPU's ten).
device=${OVERHEAD_DEVICE:-cpu}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
host="${cpu_model:-unknown} ($(nproc) cores)"
host=${host//,/ }
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

if [ ! -d demo-repo ]; then
  if ! command -v "$python" >/dev/null; then
    echo "http_overhead: demo-repo/ and $python are missing; run scripts/setup.sh first" >&2
    exit 1
  fi
  "$python" tools/make_demo_repo.py demo-repo >/dev/null
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# stats CSV LABEL NAME: "median min" of column NAME over the rows labelled LABEL.
stats() {
  python3 - "$1" "$2" "$3" <<'EOF'
import csv, statistics, sys
v = [float(r[sys.argv[3]]) for r in csv.DictReader(open(sys.argv[1])) if r["label"] == sys.argv[2]]
print("%.3f %.3f" % (statistics.median(v), min(v)) if v else "")
EOF
}

echo "== HTTP overhead: caravel serve (via caravel load) vs caravel drive, one request at a time =="
echo "date $date, host $host, caravel $revision, device $device"
echo "$threads thread(s); $rounds rounds of $seconds s measured (after 2 s warm-up) on each side, alternating"
echo "median over rounds of each run's p50 (lowest p50 in brackets), ms"
printf '%-14s %17s %17s %9s %9s\n' model drive_p50 http_p50 overhead body_B
[ -f "$out" ] || echo "date,host,revision,model,threads,rounds,seconds,drive_p50_median_ms,http_p50_median_ms,overhead_p50_ms,drive_p50_min_ms,http_p50_min_ms,body_bytes" >"$out"
failed=0
for entry in "mlp-a:demo-repo/mlp-a/1/model.onnx" "mobilenet_v2:$shared/models/mobilenet_v2-seed1/model.onnx"; do
  name=${entry%%:*}
  model=${entry#*:}
  if [ ! -f "$model" ]; then
    echo "$name: skipped ($model is absent)"
    continue
  fi
  model=$(cd "$(dirname "$model")" && pwd)/model.onnx
  mkdir -p "$work/repo/$name/1"
  ln -sf "$model" "$work/repo/$name/1/model.onnx"
  # shellcheck disable=SC2086
  "$caravel" serve --model-repository "$work/repo" --load-model "$name" --device "$device" --threads "$threads" $serve_args \
    --http-port 0 --metrics-port -1 >"$work/serve.out" 2>"$work/serve.log" &
  server_pid=$!
  for _ in $(seq 600); do
    grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
  if [ -z "$url" ]; then
    echo "$name: caravel serve did not start: $(tail -n 1 "$work/serve.log")"
    failed=1
    continue
  fi
  for round in $(seq "$rounds"); do
    if ! "$caravel" drive --device "$device" --model "$model" --concurrency 1 --duration "$seconds" --warmup 2 --threads "$threads" \
        --label "$name" --csv "$work/drive.csv" --quiet >"$work/drive.out" 2>&1; then
      echo "$name: caravel drive failed (round $round): $(tail -n 1 "$work/drive.out")"
      failed=1
    fi
    if ! "$caravel" load --url "$url" --model "$name" --concurrency 1 --duration "$seconds" --warmup 2 \
        --label "$name" --csv "$work/load.csv" --quiet >"$work/load.out" 2>&1; then
      echo "$name: caravel load failed (round $round): $(tail -n 1 "$work/load.out")"
      failed=1
    fi
  done
  kill -TERM "$server_pid"
  wait "$server_pid" || failed=1
  server_pid=""
  rm -rf "${work:?}/repo"
  read -r d50 dmin <<<"$(stats "$work/drive.csv" "$name" p50_ms)"
  read -r h50 hmin <<<"$(stats "$work/load.csv" "$name" p50_ms)"
  if [ -z "${d50:-}" ] || [ -z "${h50:-}" ]; then
    continue
  fi
  body=$(sed -n "s/.*($name \([0-9]*\) B).*/\1/p" "$work/load.out")
  overhead=$(python3 -c "print('%.3f' % ($h50 - $d50))")
  printf '%-14s %17s %17s %9s %9s\n' "$name" "$d50 ($dmin)" "$h50 ($hmin)" "$overhead" "$body"
  label=$name
  [ -n "$serve_args" ] && label="$name [$serve_args]"
  echo "$date,$host,$revision,$label,$threads,$rounds,$seconds,$d50,$h50,$overhead,$dmin,$hmin,$body" >>"$out"
done
exit "$failed"
