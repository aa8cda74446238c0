#!/usr/bin/env bash
# Runs `caravel check` over folders of ../shared (ONNX backend-test layout).
# Usage: run_check.sh CARAVEL SHARED_DIR [CHECK_OPTION... --] SUBDIR...
# Exit 77 (CTest's skip) with the reason when the data is absent.
set -u
cli=$1 shared=$2
shift 2
options=()
if [[ " $* " == *" -- "* ]]; then
  while [ "$1" != "--" ]; do options+=("$1"); shift; done
  shift
fi
dirs=()
for sub in "$@"; do
  if [ ! -d "$shared/$sub" ]; then
    echo "SKIP: $shared/$sub is absent (the shared data folder is not beside this checkout)"
    exit 77
  fi
  dirs+=("$shared/$sub"/*)
done
exec "$cli" check "${options[@]}" "${dirs[@]}"
