#!/usr/bin/env bash
# scale.sh RESULTS_DIR: the multi-GPU scaling run from RESULTS_DIR/scale.csv
# (bench/gpu/run.sh scale; to see calls that ran apart in one figure,
# concatenate their scale.csv, one header). Left: the throughput held at
# the target SLO attainment against the GPU count, a line per setup (one
# multi-GPU server solid, one server per GPU behind nginx dashed), the
# closed-loop saturation dotted, with the ideal (N x one GPU's throughput of
# the multi-GPU server) and 90% of it, both axes logarithmic (the ideal is
# a straight line). Right: the scaling efficiency,
# throughput_N / (N x throughput_1) of the same setup, with the 90% line.
# Efficiencies are computed here from the throughputs (the last row of
# each setup and count), so that concatenated CSVs need no fixing up; the
# table is printed too. Writes RESULTS_DIR/scale.png and .svg.
set -euo pipefail
dir=${1:?usage: scale.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/scale.csv
[ -f "$csv" ] || { echo "scale: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The last row of each setup and count: gpus, throughput, saturation.
for setup in $(csv_distinct "$csv" setup); do
  csv_select "$csv" "setup=$setup" gpus throughput_per_s saturation_per_s |
    awk '{row[$1] = $0} END {for (n in row) print row[n]}' | sort -n >"$work/$setup.dat"
  # gpus, efficiency of the throughput, efficiency of the saturation.
  awk 'NR == FNR {if ($1 == 1) {t1 = $2; s1 = $3}; next}
       {printf "%s %s %s\n", $1, (t1 > 0 && $2 != "NaN" ? $2 / ($1 * t1) : "NaN"), (s1 > 0 && $3 != "NaN" ? $3 / ($1 * s1) : "NaN")}' \
    "$work/$setup.dat" "$work/$setup.dat" >"$work/$setup.eff"
done
base=multi
[ -s "$work/multi.dat" ] || base=$(csv_distinct "$csv" setup | head -n 1)
one=$(awk '$1 == 1 {print $2}' "$work/$base.dat")
maxn=$(awk 'NR > 1 && $2 > m {m = $2} END {print (m > 0 ? m : 1)}' FS=, "$csv")

echo "scale: throughput held at the target attainment, and the scaling efficiency (throughput_N / (N x throughput_1)):"
for setup in $(csv_distinct "$csv" setup); do
  paste -d' ' "$work/$setup.dat" "$work/$setup.eff" |
    awk -v s="$setup" '{printf "  %-5s %d: %s/s (efficiency %s), closed loop %s/s (efficiency %s)\n", s, $1, $2,
                        ($5 == "NaN" ? "-" : sprintf("%.3f", $5)), $3, ($6 == "NaN" ? "-" : sprintf("%.3f", $6))}'
done

lines=() effs=()
lc=0
for setup in $(csv_distinct "$csv" setup); do
  lc=$((lc + 1))
  dt=1
  [ "$setup" = nginx ] && dt=2
  lines+=("'$work/$setup.dat' using 1:2 with linespoints lw 2 pt 7 lc $lc dt $dt title '$setup'")
  lines+=("'$work/$setup.dat' using 1:3 with linespoints lw 1 pt 6 lc $lc dt 3 title '$setup, closed-loop saturation'")
  effs+=("'$work/$setup.eff' using 1:(100*\$2) with linespoints lw 2 pt 7 lc $lc dt $dt title '$setup'")
done
if [ -n "$one" ] && [ "$one" != NaN ]; then
  lines+=("[1:$maxn] $one * x with lines lc rgb 'gray30' dt 1 title 'ideal: N x one GPU ($base)'")
  lines+=("[1:$maxn] 0.9 * $one * x with lines lc rgb 'gray60' dt 2 title '90% of ideal'")
fi
effs+=("[1:$maxn] 90 with lines lc rgb 'gray60' dt 2 title '90%'")

card=$(csv_distinct "$csv" card | head -n 1)
day=$(csv_distinct "$csv" date | tail -n 1)
target=$(csv_distinct "$csv" target | head -n 1)
models=$(csv_distinct "$csv" models | head -n 1)
precision=$(csv_distinct "$csv" precision | head -n 1)
xlabel=GPUs what="$card, $day"
[ "$card" = cpu ] && xlabel="logical CPU devices" what="CPU smoke run, not a result"
render "$dir/scale" 1200 520 <<GP
set multiplot layout 1,2 title "Scaling over GPUs: $models ($precision), throughput at $(awk -v t="$target" 'BEGIN {printf "%g", 100 * t}')% SLO attainment; $what"
set xlabel "$xlabel"
set logscale xy 2
set xrange [0.8:$maxn * 1.25]
set xtics (1, 2, 4, 8, 16)
set grid
set key top left
set ylabel "requests/s (log scale)"
plot $(IFS=,; echo "${lines[*]}")
unset logscale y
set ylabel "scaling efficiency (%)"
set yrange [0:110]
set key bottom left
plot $(IFS=,; echo "${effs[*]}")
unset multiplot
GP
