#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and demo
# Caravel: Debian packages (compiler tools, OpenBLAS, protobuf-c with the
# system onnx.proto, cmocka, libmicrohttpd, jansson, gnuplot, clang with its
# libFuzzer and sanitizer runtimes for `make fuzz`, chromium for the status
# page's headless-browser test, libcurl for the HTTP load generator
# `caravel load`, zlib for the crc32 of `caravel nginx-conf`'s hash ring,
# nginx for the test of several servers behind it, tests/cluster) and a
# Python virtual environment (.venv) with pinned onnx, onnxruntime and
# numpy, used only by tests and tools that make reference data, and
# tritonclient[http], the real client the server's tests (tests/server)
# talk to.
# Idempotent: quiet and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config python3 python3-venv
          libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
          libcmocka-dev libmicrohttpd-dev libjansson-dev gnuplot-nox
          clang libclang-rt-14-dev chromium libcurl4-openssl-dev zlib1g-dev nginx)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python for tests and reference-data tools only; versions pinned so that
# reference outputs are reproducible. CARAVEL_SETUP_PYTHON=0 leaves it out
# (deploy/Dockerfile: the image builds and serves without it).
[ "${CARAVEL_SETUP_PYTHON:-1}" = 0 ] && exit 0
requirements=scripts/requirements.txt
stamp=.venv/.requirements-installed
if [ ! -x .venv/bin/python3 ] || ! cmp -s "$requirements" "$stamp"; then
  # An existing environment is updated in place (it may be a link to
  # another checkout's, which `python3 -m venv` refuses to touch).
  if [ -x .venv/bin/python3 ]; then
    echo "setup: updating the Python environment in .venv ($requirements changed)"
  else
    echo "setup: creating the Python environment in .venv"
    python3 -m venv .venv
  fi
  .venv/bin/python3 -m pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
# CUTLASS's C++ headers for the fused conv GEMMs of the CUDA backend
# (src/backend/cuda/cuda_cutlass.cu), from PyPI's nvidia-cutlass wheel,
# which carries them under cutlass_library/source; headers only, so none of
# its Python dependencies. A build without them keeps cuBLAS.
cutlass_version=4.2.0.0
if [ "$(.venv/bin/python3 -m pip show nvidia-cutlass 2>/dev/null | sed -n 's/^Version: //p')" != "$cutlass_version" ]; then
  echo "setup: installing CUTLASS $cutlass_version headers (nvidia-cutlass) into .venv"
  .venv/bin/python3 -m pip install -q --disable-pip-version-check --no-deps "nvidia-cutlass==$cutlass_version"
fi
