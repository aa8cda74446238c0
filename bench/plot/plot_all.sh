#!/usr/bin/env bash
# plot_all.sh RESULTS_DIR: every plot there are CSVs for in RESULTS_DIR (the
# $OUT of bench/gpu/run.sh's fig2, fig3, fig4, fig5, serve and scale
# stages, or a folder holding several calls' CSVs), as PNG and SVG beside
# them. Needs gnuplot (scripts/setup.sh installs it); without it, says so
# and does nothing. Exit 1 when a plot script failed.
set -uo pipefail
dir=${1:?usage: plot_all.sh RESULTS_DIR}
here=$(dirname "$0")
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "plot_all: gnuplot is not installed (scripts/setup.sh installs gnuplot-nox): no plots" >&2
  exit 0
fi
failed=0 made=0
for fig in fig2 fig3 fig4 fig5 serve scale; do
  [ -f "$dir/$fig.csv" ] || continue
  if "$here/$fig.sh" "$dir"; then made=$((made + 1)); else echo "plot_all: $fig.sh failed" >&2; failed=1; fi
done
[ $made -gt 0 ] || echo "plot_all: no fig2/fig3/fig4/fig5/serve/scale CSV in $dir"
exit $failed
