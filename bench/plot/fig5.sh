#!/usr/bin/env bash
# fig5.sh RESULTS_DIR: figure 5 from RESULTS_DIR/fig5.csv and fig5_wall.csv
# (bench/gpu/run.sh fig5, one precision a call; put both calls' rows in one
# folder to see them side by side): mean latency against the tenants
# loaded, a line per policy and precision, and the tenants each held when
# its growth stopped, labelled with why (out_of_memory: the memory wall;
# load_seconds: the stage's time ran out first; list: the counts asked
# for ran out). Writes RESULTS_DIR/fig5.png and .svg.
set -euo pipefail
dir=${1:?usage: fig5.sh RESULTS_DIR}
# shellcheck source=bench/plot/common.sh
. "$(dirname "$0")/common.sh"
need_gnuplot
csv=$dir/fig5.csv wall=$dir/fig5_wall.csv
[ -f "$csv" ] || { echo "fig5: no $csv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

model=$(csv_distinct "$csv" model | head -n 1)
lines=()
for prec in $(csv_distinct "$csv" precision); do
  for pol in $(csv_distinct "$csv" policy "precision=$prec"); do
    csv_select "$csv" "precision=$prec;policy=$pol" tenants mean_ms | sort -n >"$work/$prec-$pol.dat"
    lines+=("'$work/$prec-$pol.dat' using 1:2 with linespoints lw 2 title '$pol $prec'")
  done
done
bars=""
if [ -f "$wall" ]; then
  # label,policy,device,precision,tenants_loaded,device_bytes,host_bytes,load_s,stopped_by,message
  awk -F, 'NR > 1 {printf "%d %s-%s %s %s\n", NR - 1, $2, $4, $5, $9}' "$wall" >"$work/wall.dat"
  bars="set xtics rotate by -30
set ylabel 'tenants loaded'
set title 'where loading stopped, and why'
unset logscale
set logscale y 2
set yrange [1:$(awk '$3 > m {m = $3} END {print 4 * (m > 0 ? m : 1)}' "$work/wall.dat")]
set boxwidth 0.6
set style fill solid 0.6
set xrange [0.3:$(($(wc -l <"$work/wall.dat") + 1)).7]
plot '$work/wall.dat' using 1:3:xtic(2) with boxes notitle, '' using 1:3:(sprintf('%d, %s', \$3, strcol(4))) with labels offset 0,1 notitle"
fi
render "$dir/fig5" 1200 520 <<GP
set multiplot layout 1,$([ -n "$bars" ] && echo 2 || echo 1) title "Figure 5: $model, tenants until the memory wall, $(card_of "$dir")"
set xlabel "tenants loaded (one request outstanding each)"
set ylabel "mean latency (ms)"
set logscale xy 2
set grid
set key top left
plot $(IFS=,; echo "${lines[*]}")
unset xlabel
$bars
unset multiplot
GP
