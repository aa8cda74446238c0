#!/usr/bin/env bash
# serve.sh RESULTS_DIR: the serving experiment from RESULTS_DIR/serve.csv
# (bench/gpu/run.sh serve): p99 latency and SLO attainment against the
# offered Poisson rate, a line per policy, through HTTP (solid) and in
# process (dashed, cv_submit), with the saturated throughput of both paths
# (serve_saturation.csv) and the time HTTP adds to one request
# (serve_overhead.csv) in the title. Writes RESULTS_DIR/serve.png and .svg.
set -euo pipefail
dir=${1:?usage: serve.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/serve.csv
[ -f "$csv" ] || { echo "serve: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

p99=() att=()
lc=0
for pol in $(csv_distinct "$csv" policy); do
  lc=$((lc + 1))
  for path in http inprocess; do
    csv_select "$csv" "path=$path;policy=$pol" offered_per_s p99_ms attainment | sort -g >"$work/$path-$pol.dat"
    [ -s "$work/$path-$pol.dat" ] || continue
    dt=1
    [ $path = inprocess ] && dt=2
    p99+=("'$work/$path-$pol.dat' using 1:2 with linespoints lw 2 lc $lc dt $dt title '$pol $path'")
    att+=("'$work/$path-$pol.dat' using 1:(100*\$3) with linespoints lw 2 lc $lc dt $dt title '$pol $path'")
  done
done
note=""
if [ -f "$dir/serve_saturation.csv" ]; then
  note=$(awk -F, 'NR == 2 {printf "saturated (%s outstanding): HTTP %s/s = %.1f%% of in-process %s/s", $3, $6, 100 * $7, $5}' \
    "$dir/serve_saturation.csv")
fi
if [ -f "$dir/serve_overhead.csv" ]; then
  over=$(awk -F, 'NR > 1 {s += $6; n++} END {if (n) printf "; HTTP adds %.3f ms to one request at a time (p50, mean of %d rounds)", s / n, n}' \
    "$dir/serve_overhead.csv")
  note="$note$over"
fi
render "$dir/serve" 1200 560 <<GP
set multiplot layout 1,2 title "Serving: Poisson load over the tenants, HTTP (solid) and in process (dashed), $(card_of "$dir")\n$note"
set xlabel "offered requests/s"
set grid
set key top left
set ylabel "p99 latency (ms)"
set logscale y 2
plot $(IFS=,; echo "${p99[*]}")
unset logscale
set ylabel "SLO attainment (%)"
set yrange [0:105]
set key bottom left
plot $(IFS=,; echo "${att[*]}")
unset multiplot
GP
