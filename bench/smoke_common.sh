# shellcheck shell=bash
# shellcheck disable=SC2034 # failed, shared: read by the sourcing script
# smoke_common.sh: what the CPU smokes of the GPU stages share (sourced by
# figs_smoke.sh and scale_smoke.sh): finding ../shared's small models that
# stand in for the GPU's, a fresh output folder, and the checks of a CSV.
# The caller has set `out` and is in the repository root; sets `shared`,
# `failed` and makes `out` absolute.

shared=${CARAVEL_SHARED_DIR:-../shared}
for m in squeezenet1_1-seed1 squeezenet1_1-seed2 mobilenet_v2-seed1; do
  if [ ! -f "$shared/models/$m/model.onnx" ]; then
    echo "SKIP: $shared/models/$m is missing (the CPU stand-ins come from ../shared)"
    exit 77
  fi
done
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

failed=0
fail() { echo "FAIL: $*"; failed=1; }

# check_csv FILE HEADER ROWS [exact]: the header as written, at least ROWS
# rows (exactly ROWS with `exact`), each with as many fields as the header.
check_csv() {
  local file=$1 header=$2 want=$3 exact=${4:-} rows bad n
  [ -f "$out/$file" ] || { fail "$file was not written"; return; }
  [ "$(head -n 1 "$out/$file")" = "$header" ] || fail "$file: header '$(head -n 1 "$out/$file")', expected '$header'"
  rows=$(($(wc -l <"$out/$file") - 1))
  if [ -n "$exact" ]; then
    [ "$rows" = "$want" ] || fail "$file: $rows rows, expected $want"
  else
    [ "$rows" -ge "$want" ] || fail "$file: $rows rows, expected at least $want"
  fi
  n=$(echo "$header" | awk -F, '{print NF}')
  bad=$(awk -F, -v n="$n" 'NF != n {c++} END {print c + 0}' "$out/$file")
  [ "$bad" = 0 ] || fail "$file: $bad rows without $n fields"
  echo "ok: $file: $rows rows"
}
