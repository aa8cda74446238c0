# shellcheck shell=bash
# common.sh: what the plot scripts of bench/plot share (sourced by them):
# reading a CSV column by its header name, filtering rows, and rendering a
# gnuplot script to PNG and SVG. Plots are made from the CSVs that the
# stages of bench/gpu/run.sh (figs.sh) write; nothing here measures.

# need_gnuplot: exits 0 with a note where gnuplot is missing (scripts/setup.sh
# installs it).
need_gnuplot() {
  command -v gnuplot >/dev/null 2>&1 && return 0
  echo "plot: gnuplot is not installed (scripts/setup.sh installs gnuplot-nox): no plots" >&2
  exit 0
}

# csv_select CSV FILTER COLUMNS...: prints the named columns (space-separated,
# one row a line) of the rows of CSV whose named fields equal the values of
# FILTER ("name=value;name2=value2", empty for all rows). Empty fields
# print as NaN, which gnuplot skips. CSVs here have no quoted fields.
csv_select() {
  local csv=$1 filter=$2
  shift 2
  awk -F, -v filter="$filter" -v cols="$*" '
    NR == 1 {for (i = 1; i <= NF; i++) at[$i] = i
             nf = split(filter, fs, ";"); for (k = 1; k <= nf; k++) {split(fs[k], kv, "="); fcol[k] = at[kv[1]]; fval[k] = kv[2]}
             nc = split(cols, cs, " "); for (k = 1; k <= nc; k++) if (!(cs[k] in at)) {print "plot: no column " cs[k] > "/dev/stderr"; exit 1}
             next}
    {for (k = 1; k <= nf; k++) if ($fcol[k] != fval[k]) next
     line = ""; for (k = 1; k <= nc; k++) {v = $(at[cs[k]]); line = line (k > 1 ? " " : "") (v == "" ? "NaN" : v)}
     print line}' "$csv"
}

# csv_distinct CSV COLUMN [FILTER]: the distinct values of a column, in order of
# first appearance.
csv_distinct() {
  local csv=$1 col=$2 filter=${3:-}
  csv_select "$csv" "$filter" "$col" | awk '!seen[$0]++'
}

# render OUT_BASE WIDTH HEIGHT: runs the gnuplot script on stdin twice,
# into OUT_BASE.png (pngcairo) and OUT_BASE.svg.
render() {
  local base=$1 w=$2 h=$3 script
  script=$(cat)
  printf 'set terminal pngcairo noenhanced size %s,%s font ",10"\nset output "%s.png"\n%s\nunset output\n' "$w" "$h" "$base" "$script" |
    gnuplot || return 1
  printf 'set terminal svg noenhanced size %s,%s dynamic font ",10"\nset output "%s.svg"\n%s\nunset output\n' "$w" "$h" "$base" "$script" |
    gnuplot || return 1
  echo "plot: $base.png, $base.svg"
}

# The card and day a results folder was measured on, for titles: gpu.txt
# (run.sh writes nvidia-smi's line) or the CSV's device column.
card_of() {
  local dir=$1
  if [ -s "$dir/gpu.txt" ]; then cut -d, -f1 "$dir/gpu.txt" | head -n 1
  else echo "CPU smoke run, not a result"; fi
}
