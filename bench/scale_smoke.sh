#!/usr/bin/env bash
# scale_smoke.sh: the scale stage of bench/gpu/run.sh on the CPU: logical
# CPU devices (cpu:0, cpu:0-1) stand in for 1 and 2 GPUs, ../shared's small
# models for ResNet-50 and MobileNetV2 (one family each, two tenants a
# family), tiny runs; both setups (one server over the devices, and one
# server a device behind nginx where nginx is installed). Then the plot,
# and checks: scale.csv and scale_runs.csv have their columns and a row
# per setup and count, the efficiency is filled in, each family served
# whole on one device with the families spread over both (placement), the
# nginx half ran or said why not, and the PNG and SVG exist. This tests
# the stage's plumbing, formats and plot without a GPU; its numbers are not
# results (the CSVs say cpu).
#
# Usage: bench/scale_smoke.sh CARAVEL OUT_DIR
# Exit 0 when every check passed, 1 when one failed, 77 (CTest's skip) with
# the reason when ../shared's models are missing, or gnuplot is (the CSVs
# are checked first then).
set -uo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 CARAVEL OUT_DIR" >&2
  exit 2
fi
caravel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$2
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/smoke_common.sh
. bench/smoke_common.sh

nginx=""
for c in "$(command -v nginx 2>/dev/null)" /usr/sbin/nginx; do [ -n "$c" ] && [ -x "$c" ] && { nginx=$c; break; }; done
setups="multi"
[ -n "$nginx" ] && setups="multi nginx"

echo "scale_smoke: the scale stage on logical CPU devices 1 and 2 into $out (setups: $setups)"
# Runs long enough that a Poisson window cannot come out empty, and a
# drain long enough that a busy test machine answers every request: a
# slow build (ASan) saturates near 10/s, and 0.6 of that over 2 s is 12
# arrivals expected (none with probability e^-12; the CPU default of 0.5 s
# at half of it left one run in twelve without any); two cores shared with
# the rest of the suite fall seconds behind at times.
DEVICE=cpu CARAVEL=$caravel CARAVEL_SHARED_DIR=$shared OUT=$out SCALE_GPUS="1 2" SCALE_SECONDS=120 \
  SCALE_RUN_SECONDS=2 SCALE_FRACTIONS=0.6 SCALE_DRAIN_SECONDS=5 bench/gpu/run.sh scale >"$out/smoke.log" 2>&1
echo "scale_smoke: stage done (exit $?, log: $out/smoke.log)"

points=$(($(echo "$setups" | wc -w) * 2))
check_csv scale.csv "setup,gpus,card,date,models,precision,families,tenants,slo_ms,target,saturation_per_s,rate_per_s,throughput_per_s,p50_ms,p99_ms,attainment,efficiency,saturation_efficiency,families_per_gpu_min,families_per_gpu_max,split_families,busiest_gpu_share" "$points" exact
# Two runs a point: the closed-loop saturation and one Poisson rate (the
# smoke's SCALE_FRACTIONS=0.6, nothing above it, no bisection).
check_csv scale_runs.csv "setup,gpus,kind,rate,concurrency,generators,offered_per_s,completed_per_s,p50_ms,p99_ms,attainment,arrivals,rejected_503,errors,unfinished,generators_reporting" $((points * 2)) exact
if [ -f "$out/scale.csv" ]; then
  for setup in $setups; do
    # Whether a rate held on one device: the efficiency at two needs it.
    held1=$(awk -F, -v s="$setup" '$1 == s && $2 == 1 && $12 != "" {print 1}' "$out/scale.csv")
    for n in 1 2; do
      row=$(awk -F, -v s="$setup" -v n="$n" '$1 == s && $2 == n' "$out/scale.csv")
      [ -n "$row" ] || { fail "scale.csv: no $setup row for $n devices"; continue; }
      # Two families of two tenants, none split, a saturation and its
      # efficiency (1 at one device); where a rate held (the 2 shared
      # cores of a busy test run may miss it), its throughput, and its
      # efficiency where one device's rate held too.
      echo "$row" | awk -F, -v n="$n" -v held1="${held1:-0}" '$3 == "cpu" && $7 == 2 && $8 == 4 && $11 > 0 && $18 != "" &&
        (n > 1 || $18 == 1) && $21 == 0 &&
        ($12 == "" || ($13 > 0 && $16 >= 0.99 && (held1 != 1 || $17 != "") && (n > 1 || $17 == 1))) {ok = 1}
        END {exit !ok}' ||
        fail "scale.csv: $setup on $n devices: unexpected row: $row"
      # Placement: both families on the one device, or one on each of two.
      want=$([ "$n" = 1 ] && echo 2,2 || echo 1,1)
      [ "$(echo "$row" | cut -d, -f19-20)" = "$want" ] ||
        fail "scale.csv: $setup on $n devices: families per device $(echo "$row" | cut -d, -f19-20), expected $want"
    done
  done
  # Refusals (503) may come from a busy machine; errors, unanswered
  # requests and silent generators may not.
  awk -F, 'NR > 1 && ($14 != 0 || $15 != 0 || $16 != $6 || $12 < 1) {exit 1}' "$out/scale_runs.csv" ||
    fail "scale_runs.csv: a run with errors, unfinished requests, no arrivals or a generator missing"
fi
if [ -z "$nginx" ]; then
  grep -q "nginx is not installed here" "$out/smoke.log" || fail "the log does not say that the nginx half is skipped"
  echo "note: nginx is not installed (scripts/setup.sh installs it): the nginx half was not run"
else
  for n in 1 2; do
    [ -s "$out/scale_nginx_${n}_placement.tsv" ] || fail "scale_nginx_${n}_placement.tsv was not written"
  done
fi

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "SKIP: gnuplot is not installed (scripts/setup.sh installs gnuplot-nox): the CSVs were checked, the plot not"
  [ $failed = 0 ] && exit 77
  exit 1
fi
bench/plot/plot_all.sh "$out" >>"$out/smoke.log" 2>&1 || fail "plot_all.sh failed"
for ext in png svg; do
  [ -s "$out/scale.$ext" ] || fail "scale.$ext was not made"
done
if [ $failed = 0 ]; then echo "scale_smoke: every check passed"; else tail -n 30 "$out/smoke.log"; fi
exit $failed
