#!/usr/bin/env bash
# Runs on the GPU machine (the device tool), from the repository root, with
# .gpu/bundle.tar.xz made by scripts/gpu_bundle.sh. Writes logs and CSVs to
# $OUT. Stages:
#   tests   GPU tests, caravel check --device cuda on ../shared's models and
#           conformance tests in every precision, top-1 agreement
#   bench   exports ResNet-50 and MobileNetV2 tenants (distinct weights) and
#           times waves of R = 1, 8, 32, 64 tenants in FP32 and TF32
#   sanitize  compute-sanitizer memcheck and racecheck on the wave tests
#   peers   PyTorch peers (../shared/anchors/peers_torch.py), same R
#   profile device time per kind of step (caravel bench --profile) for
#           ResNet-50 and MobileNetV2 waves of R = 1, 8, 64 tenants, FP32
#   members waves of 32 tenants drawn at random out of 64 for every wave,
#           against waves of 32 fixed tenants (the super-kernel cache with
#           changing members), ResNet-50 and MobileNetV2, FP32
#   zoo     torchvision classifiers from the classic and dynamo exporters
#           (opsets 17-20) checked against float64 PyTorch, CPU and CUDA
set -u
if [ $# -gt 1 ]; then # several stages, in order
  for s in "$@"; do "$0" "$s"; done
  exit 0
fi
stage=${1:?usage: run.sh tests|sanitize|bench|peers|profile|members|zoo ...}
out=${OUT:-/tmp/caravel-out}
mkdir -p "$out"
W=/tmp/cv
if [ ! -x $W/bin/caravel ]; then mkdir -p $W && tar -xJf .gpu/bundle.tar.xz -C /tmp; fi
cublas=$(dirname "$(find /usr/local/cuda* /usr/lib /opt -name 'libcublas.so.13' 2>/dev/null | head -n1)")
export LD_LIBRARY_PATH=$W/lib:$cublas:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export CARAVEL_SHARED_DIR=$W/data
# Debian's OpenBLAS 0.3.21 (carried) misbehaves with this host's 16+ threads.
export OPENBLAS_NUM_THREADS=4
cv=$W/bin/caravel
log=$out/$stage.log
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>&1

case $stage in
tests)
  {
    # test_gpu_oom's models: the demo repository, made by this machine's Python.
    python3 tools/make_demo_repo.py /tmp/demo-repo > /dev/null && export CARAVEL_DEMO_REPO=/tmp/demo-repo
    for t in $W/bin/test_gpu_*; do timeout 200 "$t" > "$out/$(basename "$t").log" 2>&1; echo "$(basename "$t") rc=$?"; done
    for p in fp32:1e-4 tf32:1e-2 fp16:2e-2 bf16:5e-2; do
      timeout 120 $cv check --device cuda --precision "${p%%:*}" --rtol "${p##*:}" $W/data/models/* | tail -n 4 | sed "s/^/${p%%:*} /"
    done
    timeout 120 tests/models/run_wide.sh $cv python3 /tmp/wide-models --device cuda > "$out/wide_cuda.log" 2>&1
    echo "wide-node models on cuda: rc=$? $(grep -c '^PASS\|^MATCH' "$out/wide_cuda.log") PASS/MATCH lines"
    timeout 200 $cv check --device cuda $W/data/conformance/onnx/node/* $W/data/conformance/onnx/light/* > "$out/check_conformance_cuda.log" 2>&1
    echo "conformance cuda: $(tail -n 1 "$out/check_conformance_cuda.log")"
    for m in mobilenet_v2-seed1 squeezenet1_1-seed1; do
      for p in tf32 fp16 bf16; do timeout 60 $cv compare --device cuda --precision $p --samples 100 --model $W/data/models/$m/model.onnx; done
    done
  } 2>&1 | tee "$log"
  ;;
sanitize)
  {
    # --report-api-errors no: test_gpu_wave's out-of-memory case makes a
    # cudaMalloc fail on purpose; memory-access errors are still reported.
    for t in test_gpu_wave test_gpu_graph test_gpu_kernels test_gpu_backend_ops; do
      timeout 200 compute-sanitizer --tool memcheck --report-api-errors no $W/bin/$t > "$out/memcheck_$t.log" 2>&1
      echo "memcheck $t rc=$? $(grep -E 'ERROR SUMMARY' "$out/memcheck_$t.log" | tail -n1)"
    done
    timeout 240 compute-sanitizer --tool racecheck $W/bin/test_gpu_wave > "$out/racecheck.log" 2>&1
    echo "racecheck test_gpu_wave rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$out/racecheck.log" | tail -n1)"
  } 2>&1 | tee "$log"
  ;;
bench)
  {
    for arch in resnet50 mobilenet_v2; do
      python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
    done
    echo "model,precision,R,rows,wall_median_ms,wall_min_ms,wall_inf_per_s,device_median_ms,device_inf_per_s" > "$out/caravel_bench.csv"
    for arch in resnet50 mobilenet_v2; do
      for prec in fp32 tf32; do
        for R in 1 8 32 64; do
          models=$(for r in $(seq 0 $((R - 1))); do printf -- "--model /tmp/tenants/%s/tenant_%03d.onnx " $arch $r; done)
          # shellcheck disable=SC2086
          timeout 120 $cv bench --device cuda --precision $prec --tenants $R --waves 20 --warmup 5 --csv "$arch,$prec" $models | tee -a "$out/bench_raw.log"
        done
      done
    done
    grep -E '^(resnet50|mobilenet_v2),' "$out/bench_raw.log" >> "$out/caravel_bench.csv"
  } 2>&1 | tee "$log"
  ;;
peers)
  {
    for prec in fp32 tf32; do
      CUDA_DEVICE_MAX_CONNECTIONS=32 timeout 280 python3 $W/data/anchors/peers_torch.py $prec resnet50,mobilenet_v2 1,8,32,64
    done
  } 2>&1 | tee "$log"
  ;;
profile)
  {
    for arch in resnet50 mobilenet_v2; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
      for R in 1 8 64; do
        models=$(for r in $(seq 0 $((R - 1))); do printf -- "--model /tmp/tenants/%s/tenant_%03d.onnx " $arch $r; done)
        # shellcheck disable=SC2086
        timeout 120 $cv bench --device cuda --tenants $R --waves 7 --warmup 2 --profile --top 8 --csv "$arch,$R" $models
      done
    done
  } 2>&1 | tee "$log"
  ;;
members)
  {
    for arch in resnet50 mobilenet_v2; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
      models=$(for r in $(seq 0 63); do printf -- "--model /tmp/tenants/%s/tenant_%03d.onnx " $arch $r; done)
      # shellcheck disable=SC2086
      timeout 150 $cv bench --device cuda --tenants 32 --waves 30 --warmup 5 --csv "$arch,fixed32" $models
      # shellcheck disable=SC2086
      timeout 150 $cv bench --device cuda --tenants 64 --members 32 --waves 30 --warmup 5 --csv "$arch,random32of64" $models
    done
  } 2>&1 | tee "$log"
  ;;
zoo)
  {
    # ZOO="arch:exporter:opset ..." picks models (default: export_zoo.py's list)
    # shellcheck disable=SC2086
    python3 bench/gpu/export_zoo.py /tmp/zoo ${ZOO:-}
    timeout 240 $cv check --device cpu /tmp/zoo/* > "$out/zoo_cpu.log" 2>&1; echo "zoo cpu: rc=$?"; cat "$out/zoo_cpu.log"
    timeout 120 $cv check --device cuda /tmp/zoo/* > "$out/zoo_cuda.log" 2>&1; echo "zoo cuda: rc=$?"; cat "$out/zoo_cuda.log"
  } 2>&1 | tee "$log"
  ;;
*) echo "run.sh: unknown stage '$stage'" >&2; exit 2 ;;
esac
