#!/usr/bin/env bash
# Checks the wide-node models of make_wide_models.py (Split into 20, Concat
# of 49 and of 300, Sum of 20): each against onnxruntime's outputs, and a
# wave of the two tenants of each against each tenant alone.
# Usage: run_wide.sh CARAVEL PYTHON WORK_DIR [--device cpu|cuda]
# Exit 77 (CTest's skip) with the reason when PYTHON lacks onnx/onnxruntime.
set -u
cli=$1 python=$2 work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
if ! "$python" -c 'import onnx, onnxruntime' 2>/dev/null; then
  echo "SKIP: $python cannot import onnx and onnxruntime (scripts/setup.sh makes .venv)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work" || exit 1
"$python" "$here/make_wide_models.py" "$work" || exit 1
"$cli" check "$@" "$work"/* || exit 1
for m in split20 concat49 concat300; do
  "$cli" wave "$@" --rows 1,3 --model "$work/$m-seed1/model.onnx" --model "$work/$m-seed2/model.onnx" || exit 1
done
