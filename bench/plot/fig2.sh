#!/usr/bin/env bash
# fig2.sh RESULTS_DIR: figure 2 from RESULTS_DIR/fig2.csv (bench/gpu/run.sh
# fig2): one model's p99 latency of a batch (wall) and the share of the
# device's peak FLOP/s it achieves, against the batch size, a line per
# precision. The share is of the measured cuBLAS ceiling of that precision
# (fig2_peak.csv) and, for FP32, of the nominal peak too; where no peak is
# known (the CPU smoke run) the achieved TFLOP/s instead.
# Writes RESULTS_DIR/fig2.png and fig2.svg.
set -euo pipefail
dir=${1:?usage: fig2.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/fig2.csv
[ -f "$csv" ] || { echo "fig2: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

model=$(csv_distinct "$csv" model | head -n 1)
peaks=$(csv_select "$csv" "" share_of_peak | grep -cv NaN || true)
plots=() shares=()
for prec in $(csv_distinct "$csv" precision); do
  csv_select "$csv" "precision=$prec" batch wall_p99_ms tflops share_of_peak share_of_nominal >"$work/$prec.dat"
  plots+=("'$work/$prec.dat' using 1:2 axes x1y1 with linespoints lw 2 pt 7 title '$prec p99 latency (ms)'")
  if [ "$peaks" -gt 0 ]; then
    shares+=("'$work/$prec.dat' using 1:(100*\$4) axes x1y2 with linespoints lw 2 dt 2 pt 5 title '$prec % of measured peak'")
    [ "$prec" = fp32 ] &&
      shares+=("'$work/$prec.dat' using 1:(100*\$5) axes x1y2 with linespoints lw 1 dt 3 pt 4 title 'fp32 % of nominal peak'")
  else
    shares+=("'$work/$prec.dat' using 1:3 axes x1y2 with linespoints lw 2 dt 2 pt 5 title '$prec achieved TFLOP/s'")
  fi
done
y2label="% of peak FLOP/s"
[ "$peaks" -gt 0 ] || y2label="achieved TFLOP/s (no peak known)"
all=$(IFS=,; echo "${plots[*]},${shares[*]}")
render "$dir/fig2" 900 520 <<GP
set title "Figure 2: one $model at batch B, $(card_of "$dir")"
set xlabel "batch size"
set logscale x 2
set ylabel "p99 latency of a batch (ms)"
set y2label "$y2label"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key below
set grid
plot $all
GP
