#!/usr/bin/env bash
# fig3.sh RESULTS_DIR: figure 3 from RESULTS_DIR/fig3.csv (bench/gpu/run.sh
# fig3): mean and p99 latency against the number of tenants, a line per
# system (Caravel's policies, one model batching as many clients, the
# process peers under MPS and time-sliced), and the throughput beside
# them, one figure per model found:
# RESULTS_DIR/fig3_MODEL.png and .svg.
set -euo pipefail
dir=${1:?usage: fig3.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/fig3.csv
[ -f "$csv" ] || { echo "fig3: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for model in $(csv_distinct "$csv" model); do
  mean=() p99=() thr=()
  for sys in $(csv_distinct "$csv" system "model=$model"); do
    csv_select "$csv" "model=$model;system=$sys" tenants mean_ms p99_ms throughput_per_s | sort -n >"$work/$model-$sys.dat"
    mean+=("'$work/$model-$sys.dat' using 1:2 with linespoints lw 2 title '$sys'")
    p99+=("'$work/$model-$sys.dat' using 1:3 with linespoints lw 2 title '$sys'")
    thr+=("'$work/$model-$sys.dat' using 1:4 with linespoints lw 2 title '$sys'")
  done
  render "$dir/fig3_$model" 1500 520 <<GP
set multiplot layout 1,3 title "Figure 3: $model, one request outstanding per tenant, $(card_of "$dir")"
set xlabel "tenants"
set logscale xy 2
set grid
set key top left
set ylabel "mean latency (ms)"
plot $(IFS=,; echo "${mean[*]}")
set ylabel "p99 latency (ms)"
unset key
plot $(IFS=,; echo "${p99[*]}")
set ylabel "requests/s (all tenants)"
plot $(IFS=,; echo "${thr[*]}")
unset multiplot
GP
done
