#!/usr/bin/env bash
# fig4.sh RESULTS_DIR: figure 4 from RESULTS_DIR/fig4.csv (bench/gpu/run.sh
# fig4): every tenant's mean latency (filled) and p99 (open), a column of
# points per system, a panel per tenant count (10, 11, 12), with each
# system's spread (slowest tenant's mean over the fastest's) under its name.
# Writes RESULTS_DIR/fig4.png and .svg.
set -euo pipefail
dir=${1:?usage: fig4.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/fig4.csv
[ -f "$csv" ] || { echo "fig4: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

model=$(csv_distinct "$csv" model | head -n 1)
mapfile -t systems < <(csv_distinct "$csv" system)
mapfile -t counts < <(csv_distinct "$csv" tenants | sort -n)
{
  echo "set multiplot layout 1,${#counts[@]} title \"Figure 4: $model, each tenant's latency, $(card_of "$dir")\""
  echo "set logscale y 2"
  echo "set grid ytics"
  echo "set xrange [0.5:$((${#systems[@]})).5]"
  echo "set xtics rotate by -30"
  echo "set ylabel 'latency per tenant (ms): mean (filled), p99 (open)'"
  echo "unset key"
  for n in "${counts[@]}"; do
    plots=() tics=()
    for i in "${!systems[@]}"; do
      sys=${systems[$i]}
      x=$((i + 1))
      csv_select "$csv" "model=$model;system=$sys;tenants=$n" mean_ms p99_ms >"$work/$n-$i.dat"
      spread=$(awk '$1 != "NaN" && $1 > 0 {if (!lo || $1 < lo) lo = $1; if ($1 > hi) hi = $1} END {if (lo) printf "%.2f", hi / lo}' "$work/$n-$i.dat")
      tics+=("\"$sys\\n${spread:-} \" $x")
      plots+=("'$work/$n-$i.dat' using ($x):1 with points pt 7 lc $x, '' using ($x):2 with points pt 6 lc $x")
    done
    echo "set title '$n tenants'"
    echo "set xtics ($(IFS=,; echo "${tics[*]}"))"
    echo "plot $(IFS=,; echo "${plots[*]}")"
  done
  echo "unset multiplot"
} | render "$dir/fig4" $((360 * ${#counts[@]})) 560
