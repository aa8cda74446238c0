#!/usr/bin/env bash
# Packs what a run on the GPU machine needs into .gpu/bundle.tar.xz (the
# folder is git-ignored; the device tool carries it): the caravel command
# and the GPU tests built here for sm_90, the non-CUDA shared libraries they
# link (the GPU machine lacks Debian's), and the data they read from
# ../shared (models, conformance tests, the peers' anchor scripts). Debian's
# nginx comes too where it is installed here (scripts/setup.sh installs it),
# for the scale stage's servers behind nginx (the GPU machine has none and
# no network): cv/nginx/nginx, and in cv/nginx/lib the libraries it links
# that cv/lib lacks (libpcre2, libcrypt), apart so that nothing else there
# loads Debian's copies of them; some 0.7 MB of the bundle.
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
cp "$build/caravel" "$build/sched_decision" "$build/conv_layouts" "$build"/tests/test_gpu_* "$stage/cv/bin/"
# The libraries of BINARY... that the GPU machine does not bring itself
# (libc, the C++ runtime, CUDA).
libs_to_carry() {
  for b in "$@"; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt)\.so'
}
# The kernel tracer (bench/kernel_trace.c, run.sh trace) where CUPTI was
# found: it links this toolkit's libcupti, which comes along below.
[ -f "$build/libkernel_trace.so" ] && cp "$build/libkernel_trace.so" "$stage/cv/lib/"
libs_to_carry "$stage"/cv/bin/* "$stage"/cv/lib/*.so | while read -r lib; do cp -L "$lib" "$stage/cv/lib/"; done
nginx=$(command -v nginx 2>/dev/null || true)
[ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
if [ -n "$nginx" ]; then
  mkdir -p "$stage/cv/nginx/lib"
  cp "$nginx" "$stage/cv/nginx/nginx"
  libs_to_carry "$nginx" | while read -r lib; do
    [ -e "$stage/cv/lib/$(basename "$lib")" ] || cp -L "$lib" "$stage/cv/nginx/lib/"
  done
else
  echo "gpu_bundle: no nginx here (scripts/setup.sh installs it): the scale stage's nginx half will be skipped there"
fi
for d in models anchors conformance/onnx/node conformance/onnx/light; do
  [ -d "$shared/$d" ] && mkdir -p "$stage/cv/data/$(dirname "$d")" && cp -r "$shared/$d" "$stage/cv/data/$d"
done
mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz cv
echo "gpu_bundle: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) ($(cd "$stage/cv/lib" && echo *)${nginx:+; nginx with $(cd "$stage/cv/nginx/lib" && echo *)})"
