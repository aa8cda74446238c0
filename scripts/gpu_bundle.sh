#!/usr/bin/env bash
# Packs what a run on the GPU machine needs into .gpu/bundle.tar.xz (the
# folder is git-ignored; the device tool carries it): the caravel command
# and the GPU tests built here for sm_90, the non-CUDA shared libraries they
# link (the GPU machine lacks Debian's), and the data they read from
# ../shared (models, conformance tests, the peers' anchor scripts).
# Usage: scripts/gpu_bundle.sh [BUILD_DIR]    then, on the GPU machine,
#        bench/gpu/run.sh tests|bench|peers
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
shared=${CARAVEL_SHARED_DIR:-../shared}
cmake -S . -B "$build" -DCARAVEL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/cv/bin" "$stage/cv/lib" "$stage/cv/data"
cp "$build/caravel" "$build"/tests/test_gpu_* "$stage/cv/bin/"
# Libraries the GPU machine brings itself: libc, the C++ runtime, CUDA.
for b in "$stage"/cv/bin/*; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/cv/lib/"; done
for d in models anchors conformance/onnx/node conformance/onnx/light; do
  [ -d "$shared/$d" ] && mkdir -p "$stage/cv/data/$(dirname "$d")" && cp -r "$shared/$d" "$stage/cv/data/$d"
done
mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz cv
echo "gpu_bundle: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) ($(ls "$stage/cv/lib" | tr '\n' ' '))"
