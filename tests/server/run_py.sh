#!/usr/bin/env bash
# Runs one Python server test: run_py.sh PYTHON SCRIPT ARGS...
# Exit 77 (CTest's skip) with the reason when PYTHON is not there; the
# script itself skips the same way when a module it needs is missing.
set -u
python=$1
shift
if [ ! -x "$python" ]; then
  echo "SKIP: no Python at $python (scripts/setup.sh makes .venv)"
  exit 77
fi
exec "$python" "$@"
