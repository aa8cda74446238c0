#!/usr/bin/env bash
# The serving half of `make demo`: the demo repository served by `caravel
# serve` under each scheduling policy in turn, loaded over HTTP by `caravel
# load` as clients would, and the policies compared.
#
# For each policy: a fresh server; a closed loop finds what it serves at
# most (its capacity); then every policy gets the same open-loop Poisson
# load, at DEMO_LOAD_PERCENT (50) percent of the best capacity, with an
# SLO (on a 2-core box the server and the load generator share the CPU:
# more load saturates the box, not the server). The table shows per policy
# its capacity, the throughput, p50 and p99 it gave under that load, its SLO
# attainment (every arrival counts: refusals and late answers are misses)
# and the share of requests it served fused with other tenants (from the
# server's metrics). Then one sentence says what the table shows, and a plot
# goes to demo-results/. The live status page is at http://127.0.0.1:PORT/
# while a server runs.
#
# Usage: scripts/demo_serve.sh BUILD_DIR REPO [DEVICE]
#   DEVICE: cpu or cuda (default: cuda when a GPU answers, else cpu)
# Settings from the environment: DEMO_SLO_MS (25), DEMO_SECONDS (measured
# seconds per run, 5), DEMO_LOAD_PERCENT (50), DEMO_PORT (18600).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR REPO [cpu|cuda]" >&2
  exit 2
fi
caravel="$(cd "$1" && pwd)/caravel"
repo=$2
cd "$(dirname "$0")/.."
slo=${DEMO_SLO_MS:-25}
seconds=${DEMO_SECONDS:-5}
port=${DEMO_PORT:-18600}
metrics_port=$((port + 1))
out=demo-results
mkdir -p "$out"
csv=$out/serve.csv
rm -f "$csv" "$out"/capacity.csv

device=${3:-}
if [ -z "$device" ]; then
  # A GPU that the CUDA backend can use, or the CPU.
  if "$caravel" run --device cuda --model "$repo/cnn-a/1/model.onnx" \
       --input "$repo/cnn-a/1/test_data_set_0/input_0.pb" >/dev/null 2>&1; then
    device=cuda
  else
    device=cpu
  fi
fi
policies=(spacetime exclusive time space)
server_pid=

stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

start_server() {
  local policy=$1
  "$caravel" serve --model-repository "$repo" --policy "$policy" --device "$device" \
    --http-port "$port" --metrics-port "$metrics_port" --log-level warn >"$out/serve-$policy.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "demo: caravel serve --policy $policy did not become ready; its log:" >&2
  cat "$out/serve-$policy.log" >&2
  exit 1
}

# The share of completed requests that ran in waves with other tenants,
# from the server's Prometheus counters.
fused_share() {
  curl -fs "http://127.0.0.1:$metrics_port/metrics" | awk '
    /^caravel_fused_requests_total\{/ { fused += $NF }
    /^caravel_requests_total\{/ && /outcome="completed"/ { done += $NF }
    END { if (done > 0) printf "%.1f", 100 * fused / done; else printf "0.0" }'
}

# One column of caravel load's CSV, by name, for the last row.
column() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                        { v = $c } END { print v }' "$1"
}

echo "device: $device; models: $(ls "$repo" | grep -v '^\.' | tr '\n' ' ')"
echo "live status page: http://127.0.0.1:$port/ (while each policy's server runs)"

declare -A capacity
for policy in "${policies[@]}"; do
  printf 'capacity of %-9s ' "$policy..."
  start_server "$policy"
  "$caravel" load --url "http://127.0.0.1:$port" --models-from-server --concurrency 32 \
    --duration 3 --warmup 1 --quiet --label "$policy" --csv "$out/capacity.csv" >/dev/null
  stop_server
  capacity[$policy]=$(awk -F, -v p="$policy" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "completed_per_s") c = i; next }
                                            $1 == p { v = $c } END { printf "%.0f", v }' "$out/capacity.csv")
  echo "${capacity[$policy]} requests/s"
done
best=0
for policy in "${policies[@]}"; do
  [ "${capacity[$policy]}" -gt "$best" ] && best=${capacity[$policy]}
done
rate=$((best * ${DEMO_LOAD_PERCENT:-50} / 100))
echo "load: Poisson, $rate requests/s over every model (${DEMO_LOAD_PERCENT:-50}% of the best capacity), SLO $slo ms, $seconds s measured"

declare -A fused
for policy in "${policies[@]}"; do
  printf 'under load: %-9s\n' "$policy"
  start_server "$policy"
  "$caravel" load --url "http://127.0.0.1:$port" --models-from-server --rate "$rate" --connections 64 --slo "$slo" \
    --duration "$seconds" --warmup 1 --label "$policy" --csv "$csv" 2>/dev/null | sed 's/^/  /'
  fused[$policy]=$(fused_share)
  stop_server
done

# The table, from the CSV rows (one per policy, in order).
row_of() { awk -F, -v p="$1" -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                                           $1 == p { v = $c } END { print v }' "$csv"; }
printf '\n%-10s %10s %12s %9s %9s %11s %7s\n' policy "capacity/s" "throughput/s" "p50 ms" "p99 ms" "attainment" fused
: >"$out/table.dat"
for policy in "${policies[@]}"; do
  thr=$(row_of "$policy" completed_per_s)
  p50=$(row_of "$policy" p50_ms)
  p99=$(row_of "$policy" p99_ms)
  att=$(row_of "$policy" attainment)
  printf '%-10s %10s %12.0f %9.2f %9.2f %10.2f%% %6s%%\n' "$policy" "${capacity[$policy]}" "$thr" "$p50" "$p99" \
    "$(awk -v a="$att" 'BEGIN { print 100 * a }')" "${fused[$policy]}"
  echo "$policy ${capacity[$policy]} $thr $p50 $p99 $att" >>"$out/table.dat"
done

# The reading: spacetime against the best of the others.
awk -v dev="$device" '
  { name[NR] = $1; cap[NR] = $2; thr[NR] = $3; p99[NR] = $5; att[NR] = $6 }
  END {
    best = 0
    for (i = 2; i <= NR; i++) if (best == 0 || cap[i] > cap[best]) best = i
    ratio = cap[best] > 0 ? cap[1] / cap[best] : 0
    if (cap[1] >= cap[best] && att[1] >= att[best])
      printf "\nReading: spacetime serves %.2fx the requests of the best other policy (%s) at %.2f%% SLO attainment against %.2f%%", ratio, name[best], 100 * att[1], 100 * att[best]
    else
      printf "\nReading: spacetime is not ahead here (%.2fx the capacity of %s, %.2f%% against %.2f%% attainment)", ratio, name[best], 100 * att[1], 100 * att[best]
    if (dev == "cpu")
      printf "; on the CPU a wave still runs each tenant'"'"'s weighted steps one by one and HTTP costs as much as these small models, so fusion gains little: its gain is the GPU'"'"'s, one batched launch for every tenant of a family.\n"
    else
      printf ": one batched launch per step for every tenant of a family.\n"
  }' "$out/table.dat"

if command -v gnuplot >/dev/null 2>&1; then
  gnuplot <<EOF
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "requests/s"
set y2label "p99 ms"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top right
set title "Demo ($device): capacity and p99 under ${rate}/s, SLO ${slo} ms"
set terminal pngcairo size 800,450
set output "$out/demo.png"
plot "$out/table.dat" using 2:xtic(1) title "capacity/s", "" using 3 title "throughput/s under load", \
     "" using 0:5 axes x1y2 with linespoints lw 2 title "p99 ms under load"
set terminal svg size 800,450
set output "$out/demo.svg"
replot
EOF
  echo "plot: $out/demo.png, $out/demo.svg; rows: $csv"
fi
