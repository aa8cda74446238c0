#!/usr/bin/env bash
# The overload soak (issue 10's acceptance): `caravel serve` on the CPU holds
# twice its capacity for SOAK_SECONDS (default 600, ten minutes): every
# accepted request is answered exactly once, the rest get 503, and resident
# memory stays flat.
# Usage: bench/soak.sh BUILD_DIR
#
# 1. Serves the demo repository (demo-repo/, made by tools/make_demo_repo.py
#    when missing) on free loopback ports: CPU, policy spacetime, the models
#    linked into a scratch copy whose config.json adds a queue bound
#    (SOAK_QUEUE_BOUND, default 32 per model) and a max_batch_size of at
#    least SOAK_ROWS.
# 2. Finds its capacity: a closed loop of `caravel load` at
#    SOAK_CAPACITY_CONCURRENCY (32) outstanding requests for
#    SOAK_CAPACITY_SECONDS (20), every model; capacity = its completed/s.
# 3. Runs `caravel load` open-loop at twice that rate for SOAK_SECONDS, with
#    SOAK_CONNECTIONS (384) keep-alive connections, sampling the server's
#    VmRSS (/proc/PID/status) every SOAK_SAMPLE_SECONDS (10).
# 4. Checks: load saw only 200 and 503, one answer per request (sent =
#    200 + 503, nothing unanswered); the server's counters
#    (caravel_requests_total, before and after) agree: completed = the
#    200s, refusals = the 503s, nothing failed, every request one outcome;
#    some requests were refused (it was overloaded); the rate offered was
#    at least 1.9x the capacity (the generator kept up); RSS at the end is
#    within SOAK_RSS_BOUND (1.10) of RSS at the start; the server exits 0
#    on SIGTERM.
#
# Why these settings: on a small CPU machine an HTTP request costs about as
# much CPU as a one-row demo inference, and the generator shares the cores.
# Twice the capacity of one-row requests would then saturate the CPUs in
# the HTTP layers and the generator, and load would hold the excess back
# instead of the server refusing it. SOAK_ROWS (default 16) rows per request
# make the runtime the bottleneck, and SOAK_THREADS (default 1) keeps its
# kernels on one core so that the HTTP threads keep up; the queue bound
# makes the refusals come from admission (503 queue full) within the
# connections a client holds, instead of after 1024 queued per model.
#
# Writes bench/results/soak_cpu_<date>.txt (the summary, also printed),
# soak_cpu_<date>.csv (caravel load's rows: capacity and soak) and
# soak_cpu_<date>_rss.csv (the RSS series). Exit 0 when every check passed,
# 1 when one failed or a step did not run.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
if [ ! -x "$1/caravel" ]; then
  echo "soak: $1/caravel not found; build first (make build)" >&2
  exit 1
fi
caravel="$(cd "$1" && pwd)/caravel"
cd "$(dirname "$0")/.."

seconds=${SOAK_SECONDS:-600}
rows=${SOAK_ROWS:-16}
queue_bound=${SOAK_QUEUE_BOUND:-32}
threads=${SOAK_THREADS:-1}
connections=${SOAK_CONNECTIONS:-384}
capacity_concurrency=${SOAK_CAPACITY_CONCURRENCY:-32}
capacity_seconds=${SOAK_CAPACITY_SECONDS:-20}
sample_seconds=${SOAK_SAMPLE_SECONDS:-10}
rss_bound=${SOAK_RSS_BOUND:-1.10}

date=$(date -u +%Y-%m-%d)
results=bench/results
summary=$results/soak_cpu_$date.txt
csv=$results/soak_cpu_$date.csv
rss_csv=$results/soak_cpu_${date}_rss.csv
mkdir -p "$results"

if [ ! -d demo-repo ]; then
  if [ ! -x .venv/bin/python3 ]; then
    echo "soak: demo-repo/ and .venv are missing; run scripts/setup.sh (or make demo) first" >&2
    exit 1
  fi
  .venv/bin/python3 tools/make_demo_repo.py demo-repo >/dev/null
fi

work=$(mktemp -d)
server_pid=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The soak's repository: the demo's models, linked, with the queue bound.
for model_dir in demo-repo/*/; do
  model=$(basename "$model_dir")
  mkdir -p "$work/repo/$model/1"
  ln -s "$(cd "$model_dir" && pwd)/1/model.onnx" "$work/repo/$model/1/model.onnx"
  python3 - "$model_dir/config.json" "$work/repo/$model/config.json" "$queue_bound" "$rows" <<'EOF'
import json, os, sys
src, dst, bound, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = json.load(open(src)) if os.path.exists(src) else {}
config["queue_bound"] = bound
config["max_batch_size"] = max(config.get("max_batch_size", 0), rows)
json.dump(config, open(dst, "w"))
EOF
done

"$caravel" serve --model-repository "$work/repo" --device cpu --policy spacetime --threads "$threads" \
  --http-port 0 --metrics-port 0 >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1200); do
  grep -q '^metrics on ' "$work/serve.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
metrics=$(sed -n 's/^metrics on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
if [ -z "$url" ] || [ -z "$metrics" ]; then
  echo "soak: caravel serve did not start:" >&2
  cat "$work/serve.out" "$work/serve.log" >&2
  exit 1
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }

# The server's caravel_requests_total over every model, by outcome, as
# "outcome=count" words; pending = nv_inference_pending_request_count.
counters() {
  python3 - "$metrics" <<'EOF'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=30).read().decode()
sums = {}
for line in text.splitlines():
    m = re.match(r'caravel_requests_total\{.*outcome="([a-z_]+)".*\} ([0-9.e+]+)$', line)
    if m:
        sums[m.group(1)] = sums.get(m.group(1), 0) + int(float(m.group(2)))
    m = re.match(r'nv_inference_pending_request_count\{.*\} ([0-9.e+]+)$', line)
    if m:
        sums["pending"] = sums.get("pending", 0) + int(float(m.group(1)))
print(" ".join("%s=%d" % kv for kv in sorted(sums.items())))
EOF
}
# count WORDS NAME: NAME's count in counters' words (0 when absent).
count() { local w; for w in $1; do [ "${w%%=*}" = "$2" ] && { echo "${w#*=}"; return; }; done; echo 0; }
# field CSV LABEL NAME: column NAME of the last row labelled LABEL.
field() {
  python3 - "$1" "$2" "$3" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["label"] == sys.argv[2]]
print(rows[-1][sys.argv[3]] if rows else "")
EOF
}

load_csv=$work/load.csv
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="${cpu_model:-unknown CPU}, $(nproc) cores, $(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "soak: serving demo-repo (queue bound $queue_bound, $rows rows per request) at $url; capacity first" >&2

"$caravel" load --url "$url" --models-from-server --rows "$rows" --concurrency "$capacity_concurrency" \
  --duration "$capacity_seconds" --warmup 5 --label capacity --csv "$load_csv" --quiet >"$work/capacity.out"
capacity=$(field "$load_csv" capacity completed_per_s)
rate=$(python3 -c "print(round(2 * float('$capacity')))")
echo "soak: capacity $capacity requests/s; offering $rate/s for $seconds s" >&2

before=$(counters)
rss_idle=$(rss_kb)
echo "elapsed_s,rss_kb" >"$rss_csv"
start_ns=$(date +%s%N)
"$caravel" load --url "$url" --models-from-server --rows "$rows" --rate "$rate" --duration "$seconds" \
  --warmup 0 --drain 60 --connections "$connections" --label soak --csv "$load_csv" \
  >"$work/soak.out" 2>"$work/soak.progress" &
load_pid=$!
while kill -0 "$load_pid" 2>/dev/null; do
  sleep "$sample_seconds"
  kill -0 "$load_pid" 2>/dev/null || break
  echo "$(( ($(date +%s%N) - start_ns) / 1000000000 )),$(rss_kb)" >>"$rss_csv"
  tail -n 1 "$work/soak.progress" >&2 || true
done
load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=""
# The counters settle once the last answers are sent.
for _ in $(seq 100); do
  after=$(counters)
  [ "$(count "$after" pending)" -eq 0 ] && break
  sleep 0.1
done
rss_after=$(rss_kb)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""
cp "$load_csv" "$csv"

# RSS at the start (the first sample at or after a tenth of the run, up to
# 30 s: the connections and buffers of overload are made by then), in the
# middle and at the end (the last sample inside the run).
read -r rss_start rss_middle rss_end < <(python3 - "$rss_csv" "$seconds" <<'EOF'
import csv, sys
rows = [(int(r["elapsed_s"]), int(r["rss_kb"])) for r in csv.DictReader(open(sys.argv[1]))]
T = float(sys.argv[2])
inside = [r for r in rows if r[0] <= T] or rows
if not inside:
    print("0 0 0")
    sys.exit()
start = next((r for r in inside if r[0] >= min(30, T / 10)), inside[0])
middle = min(inside, key=lambda r: abs(r[0] - T / 2))
print(start[1], middle[1], inside[-1][1])
EOF
)

sent=$(field "$csv" soak total_sent)
ok=$(field "$csv" soak total_200)
refused=$(field "$csv" soak total_503)
other=$(field "$csv" soak total_other_status)
no_answer=$(field "$csv" soak total_no_answer)
offered=$(field "$csv" soak offered_per_s)
completed=$(field "$csv" soak completed_per_s)
p50=$(field "$csv" soak p50_ms)
p99=$(field "$csv" soak p99_ms)
lag99=$(field "$csv" soak submit_lag_p99_ms)
waited=$(field "$csv" soak waited_for_connection)
: "${sent:=0}" "${ok:=0}" "${refused:=0}" "${other:=0}" "${no_answer:=0}" "${offered:=0}" "${completed:=0}"

delta() { echo $(( $(count "$after" "$1") - $(count "$before" "$1") )); }
srv_completed=$(delta completed)
srv_refused=0
for outcome in queue_full infeasible expired cancelled unloaded shutdown; do
  srv_refused=$(( srv_refused + $(delta "$outcome") ))
done
srv_failed=$(( $(delta failed) + $(delta invalid) ))
srv_total=$(( srv_completed + srv_refused + srv_failed ))

failures=0
results_text=""
# check NAME DETAIL COMMAND...: PASS when COMMAND succeeds, else FAIL with
# DETAIL (set -e does not stop at a failing check: it is the if's).
check() {
  local name=$1 detail=$2
  shift 2
  if "$@"; then results_text+="PASS $name"$'\n'
  else results_text+="FAIL $name ($detail)"$'\n'; failures=$((failures + 1)); fi
}
arith() { (( $1 )); }
py_true() { python3 -c "import sys; sys.exit(0 if ($1) else 1)"; }
check "caravel load ran to the end" "exit $load_rc: $(tail -n 2 "$work/soak.out" | tr '\n' ' ')" \
  arith "load_rc == 0"
check "only 200 and 503 answers, none missing" "other statuses $other, no answer $no_answer" \
  arith "other == 0 && no_answer == 0"
check "one answer per request: sent = 200 + 503" "sent $sent, 200 $ok, 503 $refused" \
  arith "sent > 0 && sent == ok + refused"
check "the server completed exactly the 200s" "server $srv_completed, load $ok" arith "srv_completed == ok"
check "the server refused exactly the 503s" "server $srv_refused, load $refused" arith "srv_refused == refused"
check "every request one outcome at the server, none failed" \
  "server outcomes $srv_total (failed or invalid $srv_failed), sent $sent" arith "srv_failed == 0 && srv_total == sent"
check "overloaded: some requests refused" "no 503" arith "refused > 0"
check "held twice the capacity: offered >= 1.9x" "offered $offered/s, capacity $capacity/s" \
  py_true "$offered >= 1.9 * $capacity"
check "resident memory flat: end <= $rss_bound x start" "start $rss_start kB, end $rss_end kB" \
  py_true "0 < $rss_end <= $rss_bound * $rss_start"
check "the server exits 0 on SIGTERM" "exit $server_rc" arith "server_rc == 0"

{
  echo "== caravel serve overload soak (CPU) =="
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ), caravel $revision"
  echo "machine: $machine; load average before $load_before, after $load_after"
  echo "server: caravel serve, demo-repo (5 models, queue bound $queue_bound each), --device cpu --policy spacetime --threads $threads"
  echo "load: caravel load --models-from-server --rows $rows --rate $rate --duration $seconds --connections $connections"
  echo "capacity: $capacity requests/s (closed loop, $capacity_concurrency outstanding, ${capacity_seconds} s)"
  echo "offered: $offered/s for $seconds s ($(python3 -c "print('%.2f' % (float('$offered') / float('$capacity')))")x capacity); completed $completed/s"
  echo "answered: sent $sent, 200 $ok, 503 $refused, other $other, no answer $no_answer"
  echo "server counters: completed $srv_completed, refused $srv_refused, failed/invalid $srv_failed"
  echo "latency of 200s from arrival: p50 $p50 ms, p99 $p99 ms; submission lag p99 $lag99 ms, $waited arrivals waited for a connection"
  echo "server RSS (kB): idle before $rss_idle, start $rss_start, middle $rss_middle, end $rss_end, idle after $rss_after"
  printf '%s' "$results_text"
  echo "$([ "$failures" -eq 0 ] && echo "soak PASSED" || echo "soak FAILED: $failures checks")"
} | tee "$summary"
[ "$failures" -eq 0 ]
