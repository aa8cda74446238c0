#!/usr/bin/env bash
# Runs on the GPU machine (the device tool), from the repository root, with
# .gpu/bundle.tar.xz made by scripts/gpu_bundle.sh. Writes logs and CSVs to
# $OUT. Stages:
#   tests   GPU tests, caravel check --device cuda on ../shared's models and
#           conformance tests in every precision, top-1 agreement
#           (TESTS_QUICK=1: the GPU tests only; TESTS_ONLY="test_gpu_x ...":
#           those only, in that order)
#   bench   exports ResNet-50 and MobileNetV2 tenants (distinct weights) and
#           times waves of R = 1, 8, 32, 64 tenants in FP32 and TF32
#   sanitize  compute-sanitizer memcheck and racecheck on the wave tests
#           (SANITIZE_TESTS, SANITIZE_RACECHECK=0 to split it over calls)
#   peers   PyTorch peers (../shared/anchors/peers_torch.py), same R
#   trace   device time per kernel of a wave through CUPTI (bench/kernel_trace.c;
#           TRACE_ARCHS, TRACE_PRECISION, TRACE_R, TRACE_FILES): trace_<arch>.csv
#   layouts ResNet-50's conv GEMMs in four layouts (bench/conv_layouts.cu):
#           layouts.csv
#   profile device time per kind of step (caravel bench --profile) for
#           ResNet-50 and MobileNetV2 waves of R = 1, 8, 64 tenants, FP32
#   kernels the fused pointwise kernel against cuBLAS + epilogue pass
#           (CARAVEL_POINTWISE=auto|cublas|own), ResNet-50 and MobileNetV2,
#           R = 1, 8, 64, FP32; then the profile at R = 64. kernels.csv
#   depthwise  the tiled 3x3 depthwise kernel against the direct one
#           (CARAVEL_DEPTHWISE=direct|tiled), MobileNetV2, R = 1, 8, 64, FP32
#           and FP16; then the tiled kernel's profile at R = 64. depthwise.csv
#   members waves of 32 tenants drawn at random out of 64 for every wave,
#           against waves of 32 fixed tenants (the super-kernel cache with
#           changing members), and all 64 in a fresh order every wave
#           (the host time of a 64-slice rebind), ResNet-50 and MobileNetV2,
#           FP32 (MEMBERS_ARCHS: which); CARAVEL_REBIND=kernel runs them
#           with the rebind kernel's own launch instead of the graph's node,
#           CARAVEL_REBIND=node with the node's parameters set per rebind
#           (the default, mapped, has the node read mapped tables)
#   zoo     torchvision classifiers from the classic and dynamo exporters
#           (opsets 17-20) checked against float64 PyTorch, CPU and CUDA
#   fusion  what the fusions decided at load gain (caravel bench against
#           --no-fusion, same tenants, same call): ResNet-50 and MobileNetV2
#           waves of R = 1, 8, 64 in FP32 and R = 64 in TF32; 32 tenants of
#           2 rows against 32 of 1 and 3 rows (mixed heights, 64 rows a wave
#           either way); then the step profile of the fused R = 64 waves.
#           fusion.csv
#   table1  the paper's Table 1 (caravel table1: R independent GEMMs, three
#           shapes, time-only / space-only / space-time / grouped / TF32) and,
#           in the same call, ../shared/anchors/table1.cu built with nvcc.
#           table1.csv
#   sched   the asynchronous API under load (caravel drive): 32 ResNet-50
#           tenants, spacetime's closed-loop saturation, then every policy
#           swept over Poisson rates (70% of that saturation among them) with
#           a 50 ms SLO; saturated cv_submit throughput beside waves mode's
#           device throughput at R = 8 and 64 (with the median host time to
#           form and launch a wave, and again with CARAVEL_COPY_KERNEL=on);
#           64 MobileNetV2 tenants if time
#           is left; first the decision alone (sched_decision, no device).
#           SCHED_PARTS="decision sweep peers compare mobilenet" (the default)
#           picks the steps (`host`, not among them: a 64-tenant wave's host
#           time saturated, with one wave in flight, with the copy kernel,
#           with graphs launched from the device; sched_host.csv); SCHED_SECONDS (470) bounds them. Ends within ~8 minutes (each step is bounded by what is
#           left). sched.csv, sched_saturation.csv, sched_compare.csv
#   shared  tenants that share layers (issue 14), per SHARED_ARCHS (default
#           resnet50 mobilenet_v2; one arch per call fits best): one tenant
#           at batch 64 (the target), then 64 tenants of 1 row a wave that
#           share the backbone with their own classifier, that also have
#           their own last stage, and that share nothing (also without
#           sharing, --no-sharing), FP32: device time, memory per tenant
#           (own and shared), the device's growth, load and hashing time;
#           then PyTorch's batch-64 and 64-model peers in the same call.
#           shared.csv, shared_peers.txt; bounded by SHARED_SECONDS (500)
#   goals   issue 9's table: ResNet-50 and MobileNetV2 waves of R = 64 and
#           8 in FP32, TF32 and FP16, the cuBLAS GEMM-only bound and the
#           PyTorch peers at R = 64, one call (GOALS_SECONDS, 500). goals.csv
#   overhead  bench/http_overhead.sh on this machine's CPUs (--device cpu):
#           HTTP p50 over the in-process API for the demo's MLP and batch-1
#           MobileNetV2 (issue 10). http_overhead.csv
#   fig2 fig3 fig4 fig5 serve
#           the paper's figures 2-5 and the serving experiment through HTTP
#           against in-process (bench/gpu/figs.sh; bench/README.md says what
#           each measures, its settings and CSV columns). Each is bounded to
#           ~8.5 minutes. With DEVICE=cpu (and CARAVEL=path/to/caravel) they
#           run on this checkout's build with ../shared's small models
#           standing in and tiny sweeps: the smoke path of
#           bench/figs_smoke.sh, which checks the CSVs and plots.
#   scale   multi-GPU scaling (bench/gpu/scale.sh): ResNet-50 and
#           MobileNetV2 tenants in 16 families served on N = 1, 2, 4, 8
#           GPUs (as many as the machine has, or SCALE_GPUS) by one
#           `caravel serve --device cuda:0-(N-1)` and by N servers behind
#           nginx (SCALE_SETUPS="multi nginx"; nginx from the bundle); at
#           each N the closed-loop saturation through HTTP and the highest
#           Poisson rate held at 99% SLO attainment (50 ms), and the
#           scaling efficiency against one GPU. scale.csv, scale_runs.csv.
#           Bounded by SCALE_SECONDS (480). DEVICE=cpu runs it on logical
#           CPU devices (bench/scale_smoke.sh).
set -u
if [ $# -gt 1 ]; then # several stages, in order
  for s in "$@"; do "$0" "$s"; done
  exit 0
fi
stage=${1:?usage: run.sh tests|overhead|sanitize|bench|peers|profile|kernels|depthwise|members|fusion|table1|zoo|sched|shared|goals|fig2|fig3|fig4|fig5|serve|scale ...}
out=${OUT:-/tmp/caravel-out}
mkdir -p "$out"
device=${DEVICE:-cuda}
if [ "$device" = cpu ]; then
  case $stage in
  fig2 | fig3 | fig4 | fig5 | serve | scale) ;;
  *) echo "run.sh: DEVICE=cpu runs the figure stages and scale only (fig2 fig3 fig4 fig5 serve scale), not '$stage'" >&2; exit 2 ;;
  esac
  cv=${CARAVEL:?DEVICE=cpu needs CARAVEL=path/to/caravel (a build of this checkout)}
  # shellcheck disable=SC2034 # read by figs.sh and common.sh, sourced below
  data=${CARAVEL_SHARED_DIR:-../shared}
  if [ "$stage" = scale ]; then
    # shellcheck source=bench/gpu/scale.sh
    . "$(dirname "$0")/scale.sh"
    scale_stage 2>&1 | tee "$out/$stage.log"
  else
    # shellcheck source=bench/gpu/figs.sh
    . "$(dirname "$0")/figs.sh"
    fig_stage "$stage" 2>&1 | tee "$out/$stage.log"
  fi
  exit "${PIPESTATUS[0]}"
fi
W=/tmp/cv
# A warm machine keeps /tmp/cv between calls: unpack again when the bundle
# is newer than what was unpacked.
if [ ! -x $W/bin/caravel ] || [ .gpu/bundle.tar.xz -nt $W/.unpacked ]; then
  rm -rf $W && mkdir -p $W && tar -xJf .gpu/bundle.tar.xz -C /tmp && touch $W/.unpacked
fi
cublas=$(dirname "$(find /usr/local/cuda* /usr/lib /opt -name 'libcublas.so.13' 2>/dev/null | head -n1)")
export LD_LIBRARY_PATH=$W/lib:$cublas:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export CARAVEL_SHARED_DIR=$W/data
# Debian's OpenBLAS 0.3.21 (carried) misbehaves with this host's 16+ threads.
export OPENBLAS_NUM_THREADS=4
cv=$W/bin/caravel
# The --model options of the first N exported tenants of ARCH (export_tenants.py).
tenant_models() { for r in $(seq 0 $(($2 - 1))); do printf -- "--model /tmp/tenants/%s/tenant_%03d.onnx " "$1" "$r"; done; }
# shellcheck disable=SC2034 # read by common.sh and figs.sh, sourced below
data=$W/data
log=$out/$stage.log
# The stages' clock (clock_start, limit, fits) and the other helpers the
# figure stages share.
# shellcheck source=bench/gpu/common.sh
. "$(dirname "$0")/common.sh"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>&1

case $stage in
tests)
  {
    # test_gpu_oom's models: the demo repository, made by this machine's Python.
    python3 tools/make_demo_repo.py /tmp/demo-repo > /dev/null && export CARAVEL_DEMO_REPO=/tmp/demo-repo
    # TESTS_ONLY="test_gpu_a test_gpu_b": those, in that order (a short call).
    # shellcheck disable=SC2086
    for t in ${TESTS_ONLY:-$(cd $W/bin && echo test_gpu_*)}; do
      t=$W/bin/$t
      timeout 200 "$t" > "$out/$(basename "$t").log" 2>&1
      rc=$? # before any command substitution resets $?
      echo "$(basename "$t") rc=$rc $(grep -E '^\[  (PASSED|FAILED)  \]' "$out/$(basename "$t").log" | tr '\n' ' ')"
    done
    # TESTS_QUICK=1: the GPU tests only (a short call that also measures).
    [ "${TESTS_QUICK:-0}" = 1 ] && exit 0
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
overhead)
  # On the GPU host's CPUs first (OVERHEAD_CPU=0 skips it).
  if [ "${OVERHEAD_CPU:-1}" = 1 ]; then
    PYTHON=python3 OVERHEAD_CSV=$out/http_overhead.csv OVERHEAD_ROUNDS=${OVERHEAD_ROUNDS:-3} \
      OVERHEAD_SECONDS=${OVERHEAD_SECONDS:-3} OVERHEAD_THREADS=${OVERHEAD_THREADS:-4} \
      timeout 240 bench/http_overhead.sh $W/bin 2>&1 | tee "$log"
  fi
  # The same with both sides on the GPU (OVERHEAD_GPU=0 skips it).
  if [ "${OVERHEAD_GPU:-1}" = 1 ]; then
    PYTHON=python3 OVERHEAD_DEVICE=cuda OVERHEAD_CSV=$out/http_overhead_cuda.csv \
      OVERHEAD_ROUNDS=${OVERHEAD_ROUNDS:-3} OVERHEAD_SECONDS=${OVERHEAD_SECONDS:-3} \
      OVERHEAD_THREADS=${OVERHEAD_THREADS:-4} timeout 240 bench/http_overhead.sh $W/bin 2>&1 | tee -a "$log"
  fi
  ;;
sanitize)
  {
    # --report-api-errors no: test_gpu_wave's out-of-memory case makes a
    # cudaMalloc fail on purpose; memory-access errors are still reported.
    # The whole stage can take longer than one device call: SANITIZE_TESTS
    # picks the binaries for memcheck (default: all five) and
    # SANITIZE_RACECHECK=0 skips racecheck, so that calls can share it.
    for t in ${SANITIZE_TESTS:-test_gpu_wave test_gpu_graph test_gpu_kernels test_gpu_backend_ops test_gpu_shared}; do
      timeout 200 compute-sanitizer --tool memcheck --report-api-errors no $W/bin/$t > "$out/memcheck_$t.log" 2>&1
      echo "memcheck $t rc=$? $(grep -E 'ERROR SUMMARY' "$out/memcheck_$t.log" | tail -n1)"
    done
    if [ "${SANITIZE_RACECHECK:-1}" != 0 ]; then
      timeout 240 compute-sanitizer --tool racecheck $W/bin/test_gpu_wave > "$out/racecheck.log" 2>&1
      echo "racecheck test_gpu_wave rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$out/racecheck.log" | tail -n1)"
    fi
  } 2>&1 | tee "$log"
  ;;
bench)
  {
    for arch in resnet50 mobilenet_v2; do
      python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
    done
    echo "model,precision,R,rows,wall_median_ms,wall_min_ms,wall_inf_per_s,device_median_ms,device_inf_per_s,wall_p99_ms,device_p99_ms,gflop_per_wave" > "$out/caravel_bench.csv"
    for arch in resnet50 mobilenet_v2; do
      for prec in fp32 tf32; do
        for R in 1 8 32 64; do
          models=$(tenant_models "$arch" "$R")
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
trace)
  # Device time per kernel of one wave (bench/kernel_trace.c through CUPTI;
  # the GPU machine has no Nsight Systems): caravel bench for TRACE_ARCHS
  # (resnet50 mobilenet_v2), TRACE_PRECISION (fp16), TRACE_R (64), run
  # twice, 3 and 23 waves after the same 3 warm-up, so that the difference
  # is 20 waves and nothing of loading: trace_<arch>.csv, per wave.
  # TRACE_FILES=N exports only N tenants (seconds, not minutes, on a fresh
  # machine) and loads the R tenants from them in turn, each its own copy
  # (--no-sharing): the same kernels, for a kernel-level comparison.
  {
    for arch in ${TRACE_ARCHS:-resnet50 mobilenet_v2}; do
      R=${TRACE_R:-64}
      if [ -n "${TRACE_FILES:-}" ]; then
        [ -f "/tmp/tenants/$arch/tenant_$(printf %03d $((TRACE_FILES - 1))).onnx" ] ||
          python3 bench/gpu/export_tenants.py $arch "$TRACE_FILES" /tmp/tenants/$arch
        m="$(tenant_models "$arch" "$TRACE_FILES") --no-sharing"
      else
        [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
        m=$(tenant_models "$arch" "$R")
      fi
      for waves in 3 23; do
        # shellcheck disable=SC2086
        CUDA_INJECTION64_PATH=$W/lib/libkernel_trace.so KERNEL_TRACE_OUT=/tmp/trace_${arch}_$waves.csv \
          timeout 150 $cv bench --device cuda --precision "${TRACE_PRECISION:-fp16}" --tenants $R --waves $waves \
          --warmup 3 $m > "$out/trace_${arch}_$waves.log" 2>&1
      done
      echo "trace $arch: $(grep -E '^bench: .*inferences' "$out/trace_${arch}_23.log")"
      # per wave: (23 waves' total - 3 waves' total) / 20, by kernel name
      awk -F'","|",|,' 'FNR == 1 { next }
        FILENAME ~ /_3\.csv$/ { a[$1] = $3; next }
        $1 == "\"(all kernels)" { next }
        { d = ($3 - a[$1]) / 20; if (d > 0) { w[$1] = d; t += d } }
        END { for (k in w) printf "%s\",%.1f,%.4f\n", k, w[k], w[k] / t;
              printf "\"(all kernels)\",%.1f,1\n", t }' \
        /tmp/trace_${arch}_3.csv /tmp/trace_${arch}_23.csv | sort -t, -k2 -g -r |
        { echo "name,us_per_wave,share"; cat; } > "$out/trace_$arch.csv"
      head -n 25 "$out/trace_$arch.csv" | cut -c1-200
    done
  } 2>&1 | tee "$log"
  ;;
layouts)
  # bench/conv_layouts.cu: ResNet-50's conv GEMMs over R tenants as today
  # (NCHW), with aligned leading dimensions, NHWC, and NHWC in cuBLASLt with
  # the bias, Relu and residual fused; LAYOUTS_R (64 8), LAYOUTS_PRECISIONS
  # (fp16 fp32 tf32). layouts.csv
  {
    for R in ${LAYOUTS_R:-64 8}; do
      # shellcheck disable=SC2086
      timeout 120 $W/bin/conv_layouts $R ${LAYOUTS_PRECISIONS:-fp16 fp32 tf32}
    done
  } > "$out/layouts.csv" 2> "$out/layouts.err"
  grep '^#' "$out/layouts.csv" | tee "$log"; cat "$out/layouts.err" | head -20 | tee -a "$log"
  ;;
profile)
  {
    # PROFILE_ARCHS, PROFILE_R (1 8 64) and PROFILE_PRECISION (fp32) pick
    # a part of it (PROFILE_PRECISION=fp16 PROFILE_R=64: issue 9's FP16 waves);
    # PROFILE_TOP (8): the slowest steps listed (a large one lists them all).
    for arch in ${PROFILE_ARCHS:-resnet50 mobilenet_v2}; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
      for R in ${PROFILE_R:-1 8 64}; do
        models=$(tenant_models "$arch" "$R")
        # shellcheck disable=SC2086
        timeout 120 $cv bench --device cuda --precision "${PROFILE_PRECISION:-fp32}" --tenants $R --waves 7 \
          --warmup 2 --profile --top "${PROFILE_TOP:-8}" --csv "$arch,$R" $models
      done
    done
  } 2>&1 | tee "$log"
  ;;
depthwise)
  # Issue 9: the tiled 3x3 depthwise kernel (the default) against the
  # direct one (CARAVEL_DEPTHWISE=direct), MobileNetV2 FP32 and FP16, device time of one
  # wave at R = 1, 8, 64 in one call; then the tiled kernel's profile at
  # R = 64 (where a wave's time goes with it).
  {
    [ -f /tmp/tenants/mobilenet_v2/tenant_063.onnx ] ||
      python3 bench/gpu/export_tenants.py mobilenet_v2 64 /tmp/tenants/mobilenet_v2
    for prec in fp32 fp16; do
      for R in 1 8 64; do
        models=$(tenant_models mobilenet_v2 "$R")
        for dw in direct tiled; do
          # shellcheck disable=SC2086
          CARAVEL_DEPTHWISE=$dw timeout 120 $cv bench --device cuda --precision $prec --tenants $R --waves 20 \
            --warmup 5 --csv "mobilenet_v2,$prec,depthwise-$dw" $models | grep -E "^mobilenet_v2,"
        done
      done
    done | tee "$out/depthwise.csv"
    models=$(tenant_models mobilenet_v2 64)
    # shellcheck disable=SC2086
    CARAVEL_DEPTHWISE=tiled timeout 120 $cv bench --device cuda --tenants 64 --waves 7 --warmup 2 --profile --top 12 \
      --csv "mobilenet_v2,64,tiled" $models
  } 2>&1 | tee "$log"
  ;;
kernels)
  # Issue 9: the fused pointwise kernel against cuBLAS + the epilogue pass
  # (CARAVEL_POINTWISE), FP32, device time of one wave, one call; then
  # the profile of the default at R = 64 (where the time goes now).
  {
    for arch in resnet50 mobilenet_v2; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
    done
    for arch in mobilenet_v2 resnet50; do
      for R in 1 8 64; do
        models=$(tenant_models "$arch" "$R")
        for pw in auto cublas own; do
          # shellcheck disable=SC2086
          CARAVEL_POINTWISE=$pw timeout 120 $cv bench --device cuda --tenants $R --waves 15 --warmup 3 \
            --csv "$arch,fp32,pointwise-$pw" $models | grep -E "^$arch,"
        done
      done
    done | tee "$out/kernels.csv"
    for arch in mobilenet_v2 resnet50; do
      models=$(tenant_models "$arch" 64)
      # shellcheck disable=SC2086
      timeout 120 $cv bench --device cuda --tenants 64 --waves 7 --warmup 2 --profile --top 12 --csv "$arch,64" $models
    done
  } 2>&1 | tee "$log"
  ;;
members)
  {
    for arch in ${MEMBERS_ARCHS:-resnet50 mobilenet_v2}; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
      models=$(tenant_models "$arch" 64)
      # shellcheck disable=SC2086
      timeout 150 $cv bench --device cuda --tenants 32 --waves 30 --warmup 5 --csv "$arch,fixed32" $models
      # shellcheck disable=SC2086
      timeout 150 $cv bench --device cuda --tenants 64 --members 32 --waves 30 --warmup 5 --csv "$arch,random32of64" $models
      # All 64 in a fresh order every wave: every wave rebinds 64 slices
      # (issue 8's host time of a 64-tenant wave, without load). Without
      # --no-sharing the runtime puts a family that shares a few tensors
      # back in its own order (share rank), and no wave would rebind.
      # shellcheck disable=SC2086
      timeout 150 $cv bench --device cuda --tenants 64 --members 64 --no-sharing --waves 30 --warmup 5 --csv "$arch,shuffled64" $models
    done
  } 2>&1 | tee "$log"
  ;;
fusion)
  {
    for arch in resnet50 mobilenet_v2; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
    done
    for arch in resnet50 mobilenet_v2; do
      for run in fp32:1 fp32:8 fp32:64 tf32:64; do
        prec=${run%%:*} R=${run##*:}
        models=$(tenant_models "$arch" "$R")
        for variant in fused unfused; do
          flag=; [ $variant = unfused ] && flag=--no-fusion
          # shellcheck disable=SC2086
          timeout 120 $cv bench --device cuda --precision $prec --tenants $R --waves 15 --warmup 3 $flag \
            --csv "$arch,$prec,$variant" $models | grep -E "^$arch,"
        done
      done
      # Item 5: slices of several heights (1 and 3 rows) against uniform
      # slices (2 rows), 64 rows a wave either way.
      models=$(tenant_models "$arch" 32)
      for rows in 2 1,3; do
        # shellcheck disable=SC2086
        timeout 120 $cv bench --device cuda --tenants 32 --rows $rows --waves 15 --warmup 3 \
          --csv "$arch,fp32,rows" $models | grep -E "^$arch,"
      done
    done | tee "$out/fusion.csv"
    for arch in resnet50 mobilenet_v2; do
      models=$(tenant_models "$arch" 64)
      # shellcheck disable=SC2086
      timeout 120 $cv bench --device cuda --tenants 64 --waves 5 --warmup 2 --profile --top 8 --csv "$arch,64" $models
    done
  } 2>&1 | tee "$log"
  ;;
table1)
  {
    timeout 300 $cv table1 --csv "$out/table1.csv"
    echo "table1 rc=$?"
    if nvcc -O3 -arch=sm_90 -o /tmp/table1_anchor $W/data/anchors/table1.cu -lcublas 2> "$out/anchor_build.log"; then
      timeout 240 /tmp/table1_anchor
      echo "anchor rc=$?"
    else
      echo "anchor: nvcc failed (anchor_build.log)"
    fi
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
sched)
  {
    # The stage's clock: every step's timeout is what it may take or what is
    # left before the end, whichever is less; a step that cannot fit is
    # skipped and says so.
    clock_start "${SCHED_SECONDS:-470}"
    exported() { [ -f "/tmp/tenants/$1/tenant_$(printf %03d $(($2 - 1))).onnx" ]; }
    export_tenants() { exported "$1" "$2" || timeout "$(limit 150)" python3 bench/gpu/export_tenants.py "$1" "$2" "/tmp/tenants/$1"; }
    # Progress lines (one a second) go to their own log, results here.
    drive() { timeout "$1" $cv drive --device cuda "${@:2}" 2>> "$out/sched_progress.log"; echo "drive rc=$?"; }
    col() { awk -F, -v l="$2" -v p="$3" -v c="$4" '$1 == l && $2 == p {v = $c} END {print v}' "$1"; }

    # SCHED_PARTS picks the steps (default all): decision (0), sweep (1-2,
    # ResNet-50's saturation and the policies over Poisson rates), peers
    # (2b), compare (3), mobilenet (4).
    parts=" ${SCHED_PARTS:-decision sweep peers compare mobilenet} "
    part() { [[ $parts == *" $1 "* ]]; }
    # 0. the scheduler's decision alone on this host (bench/sched_decision.c:
    #    no device, submissions from another core), to read beside the
    #    decision drive measures under load in 3.
    if part decision && [ -x "$W/bin/sched_decision" ]; then
      timeout "$(limit 60)" "$W/bin/sched_decision" --waves 20000 | tee "$out/sched_decision.txt"
    fi
    if part sweep; then
    echo "sched: exporting ResNet-50 tenants ($(date +%T))"
    export_tenants resnet50 32
    exported resnet50 32 || { echo "sched: no ResNet-50 tenants, stopping"; exit 1; }
    r50=$(tenant_models resnet50 32)
    # 1. spacetime's saturation: closed loop, no SLO, three waves' worth of
    #    requests outstanding (two in flight, one forming).
    # shellcheck disable=SC2086
    drive "$(limit 100)" --label resnet50-sat $r50 --policy spacetime --concurrency 192 --warmup 2 --duration 5 \
      --csv "$out/sched_saturation.csv"
    sat=$(col "$out/sched_saturation.csv" resnet50-sat spacetime 15)
    echo "sched: spacetime saturates at ${sat:-?} requests/s (32 ResNet-50 tenants, closed loop)"
    # 2. every policy over Poisson rates from 2% to 100% of that, 70% among
    #    them, SLO 50 ms; a policy's sweep stops once it meets under half.
    if [ -n "$sat" ] && fits 120 "the policy sweep"; then
      rates=$(awk -v s="$sat" 'BEGIN {n = split("0.02 0.05 0.1 0.2 0.35 0.5 0.7 0.85 1.0", f, " ");
                                      for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), f[i] * s + 0.5}')
      echo "sched: rates $rates (70%: $(awk -v s="$sat" 'BEGIN {printf "%d", 0.7 * s + 0.5}')/s)"
      # shellcheck disable=SC2086
      drive "$(limit 330)" --label resnet50 $r50 --policy all --slo 50 --rates "$rates" --warmup 1 --duration 5 \
        --drain 2 --sweep-stop 0.5 --csv "$out/sched.csv"
    fi
    fi
    # 2b. the peers of the same 32 tenants in this call: PyTorch serving 32
    #     ResNet-50s (one model at batch 32, streams, CUDA graphs:
    #     ../shared/anchors/peers_torch.py) and one process per tenant under
    #     MPS and time-sliced (figs.sh's peers, in a subshell: its helpers
    #     would shadow this stage's drive).
    if part peers && fits 90 "the PyTorch peers"; then
      CUDA_DEVICE_MAX_CONNECTIONS=32 timeout "$(limit 150)" python3 $W/data/anchors/peers_torch.py fp32 resnet50 32 \
        > "$out/sched_peers_torch.txt" 2>&1
      echo "sched: PyTorch peers rc=$? (sched_peers_torch.txt):"
      grep -A2 "^resnet50" "$out/sched_peers_torch.txt"
    fi
    if part peers && fits 120 "the process peers"; then
      (
        # shellcheck source=bench/gpu/figs.sh
        . "$(dirname "$0")/figs.sh"
        trap 'mps_stop' EXIT
        trap 'mps_stop; exit 1' INT TERM
        peers resnet50 32 3 sched_peers.csv sched_peer_processes.csv
      )
      [ -f "$out/sched_peers.csv" ] && cat "$out/sched_peers.csv"
    fi
    # 3. saturated throughput through cv_submit beside waves mode's device
    #    time at the same wave width R (R tenants, waves of up to R rows).
    #    Then the same with a wave's copies as one kernel each
    #    (CARAVEL_COPY_KERNEL=on), and each run's median host time to
    #    form a wave and to launch it (drive's form_us / launch_us).
    echo "model,R,waves_wall_inf_per_s,waves_device_inf_per_s,submit_inf_per_s,submit_over_device,form_us,launch_us,submit_copy_kernel_inf_per_s,copy_kernel_over_device,launch_us_copy_kernel,inputs_us,inputs_us_copy_kernel,cache_us,rebind_us,graph_launch_us,lookup_us" > "$out/sched_compare.csv"
    # The costliest (64 ResNet-50 exports and loads) last.
    # (SCHED_PAIRS picks some of them: "mobilenet_v2:64 resnet50:64".)
    for pair in ${SCHED_PAIRS:-resnet50:8 mobilenet_v2:8 mobilenet_v2:64 resnet50:64}; do
        part compare || break
        arch=${pair%%:*} R=${pair##*:}
        fits 60 "$arch R=$R throughput comparison" || continue
        export_tenants "$arch" "$R"
        exported "$arch" "$R" || continue
        m=$(tenant_models "$arch" "$R")
        # shellcheck disable=SC2086
        w=$(timeout "$(limit 90)" $cv bench --device cuda --tenants "$R" --waves 20 --warmup 5 --csv "$arch" $m | grep "^$arch,")
        # shellcheck disable=SC2086
        drive "$(limit 90)" --label "$arch-R$R" $m --policy spacetime --max-wave-rows "$R" --concurrency $((3 * R)) \
          --warmup 2 --duration 5 --csv "$out/sched_saturation.csv"
        d=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 15)
        fu=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 32)
        lu=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 33)
        iu=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 37)
        cu=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 38)
        ru=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 39)
        gu=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 40)
        ou=$(col "$out/sched_saturation.csv" "$arch-R$R" spacetime 41)
        # (SCHED_COPY_KERNEL=0 skips the copy kernel's run.)
        # shellcheck disable=SC2086
        [ "${SCHED_COPY_KERNEL:-1}" = 1 ] && CARAVEL_COPY_KERNEL=on drive "$(limit 90)" --label "$arch-R$R-copy-kernel" $m \
          --policy spacetime --max-wave-rows "$R" --concurrency $((3 * R)) --warmup 2 --duration 5 \
          --csv "$out/sched_saturation.csv"
        k=$(col "$out/sched_saturation.csv" "$arch-R$R-copy-kernel" spacetime 15)
        ku=$(col "$out/sched_saturation.csv" "$arch-R$R-copy-kernel" spacetime 33)
        kiu=$(col "$out/sched_saturation.csv" "$arch-R$R-copy-kernel" spacetime 37)
        echo "$w" | awk -F, -v a="$arch" -v r="$R" -v d="${d:-0}" -v fu="${fu:-}" -v lu="${lu:-}" -v k="${k:-0}" -v ku="${ku:-}" -v iu="${iu:-}" -v kiu="${kiu:-}" -v cu="${cu:-}" -v ru="${ru:-}" -v gu="${gu:-}" -v ou="${ou:-}" \
          'NF >= 8 {printf "%s,%s,%s,%s,%s,%.3f,%s,%s,%s,%.3f,%s,%s,%s,%s,%s,%s,%s\n", a, r, $6, $8, d, ($8 > 0 ? d / $8 : 0), fu, lu, k, ($8 > 0 ? k / $8 : 0), ku, iu, kiu, cu, ru, gu, ou}' >> "$out/sched_compare.csv"
    done
    echo "sched: saturated throughput, waves mode vs cv_submit:"
    column -t -s, "$out/sched_compare.csv" 2>/dev/null || cat "$out/sched_compare.csv"
    # 4. if time is left: 64 MobileNetV2 tenants, every policy, the same way.
    if part mobilenet && fits 150 "64 MobileNetV2 tenants" && exported mobilenet_v2 64; then
      mb=$(tenant_models mobilenet_v2 64)
      # shellcheck disable=SC2086
      drive "$(limit 60)" --label mobilenet_v2-sat $mb --policy spacetime --concurrency 192 --warmup 2 --duration 4 \
        --csv "$out/sched_saturation.csv"
      msat=$(col "$out/sched_saturation.csv" mobilenet_v2-sat spacetime 15)
      if [ -n "$msat" ] && fits 60 "the MobileNetV2 sweep"; then
        rates=$(awk -v s="$msat" 'BEGIN {n = split("0.05 0.2 0.5 0.7 0.85", f, " ");
                                        for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), f[i] * s + 0.5}')
        # shellcheck disable=SC2086
        drive "$(limit 200)" --label mobilenet_v2 $mb --policy all --slo 50 --rates "$rates" --warmup 1 --duration 4 \
          --drain 2 --sweep-stop 0.5 --csv "$out/sched.csv"
      fi
    fi
    # 5. host: where a 64-tenant wave's host time goes under load (issue
    #    8), not in the default parts: per model, saturated (3R
    #    outstanding) as in 3, then with one wave in flight a family (no
    #    two lanes launching at once), then with the inputs placed by one
    #    copy kernel (CARAVEL_COPY_KERNEL=on: one launch, not a copy a
    #    request), then with the graphs launched from the device
    #    (CARAVEL_GRAPH_LAUNCH=device: the host launches a one-node
    #    launcher). SCHED_HOST_WAYS picks some of lanes2 lanes1 copykernel
    #    device. sched_host.csv (drive's columns; the label says which).
    #    SCHED_HOST_FILES=N: only N tenants exported, the R loaded from
    #    them in turn, each its own copy (--no-sharing): the same waves
    #    and host work, without a fresh machine's minutes of export.
    for pair in ${SCHED_HOST_PAIRS:-mobilenet_v2:64 resnet50:64}; do
        part host || break
        arch=${pair%%:*} R=${pair##*:}
        fits 60 "$arch R=$R host times" || continue
        files=${SCHED_HOST_FILES:-$R}
        export_tenants "$arch" "$files"
        exported "$arch" "$files" || continue
        m="$(tenant_models "$arch" "$files") --tenants $R"
        [ "$files" != "$R" ] && m="$m --no-sharing"
        for how in ${SCHED_HOST_WAYS:-lanes2 lanes1 copykernel device}; do
          fits 25 "$arch $how" || break
          extra="" ck="" gl=""
          [ $how = lanes1 ] && extra="--waves-in-flight 1"
          [ $how = copykernel ] && ck=on
          [ $how = device ] && gl=device
          # shellcheck disable=SC2086
          CARAVEL_COPY_KERNEL=$ck CARAVEL_GRAPH_LAUNCH=$gl drive "$(limit 60)" --label "$arch-R$R-$how" $m --policy spacetime --max-wave-rows "$R" \
            --concurrency $((3 * R)) $extra --warmup 2 --duration 4 --csv "$out/sched_host.csv"
          echo "$arch R=$R $how: $(col "$out/sched_host.csv" "$arch-R$R-$how" spacetime 15) inf/s, decision $(col "$out/sched_host.csv" "$arch-R$R-$how" spacetime 32) us, rebind $(col "$out/sched_host.csv" "$arch-R$R-$how" spacetime 39) us, graph launch $(col "$out/sched_host.csv" "$arch-R$R-$how" spacetime 40) us, lookup $(col "$out/sched_host.csv" "$arch-R$R-$how" spacetime 41) us"
        done
    done
    echo "sched: done in ${SECONDS}s ($(date +%T))"
  } 2>&1 | tee "$log"
  ;;
shared)
  {
    # The stage's clock, as sched's: a step that cannot fit is skipped and
    # says so.
    clock_start "${SHARED_SECONDS:-500}"
    csv=$out/shared.csv
    [ -f "$csv" ] || echo "model,set,R,rows,wall_median_ms,wall_min_ms,wall_inf_per_s,device_median_ms,device_inf_per_s,wall_p99_ms,device_p99_ms,gflop_per_wave,weight_tensors,shared_tensors,device_weight_bytes,device_bytes_per_tenant,device_shared_per_tenant,device_used_growth,host_bytes_per_tenant,hash_ms_per_tenant,load_s" > "$csv"
    archs=${SHARED_ARCHS:-resnet50 mobilenet_v2}
    for arch in $archs; do
      # Three sets of 64: own classifier; own last stage too; own everything.
      for vary in head last-stage all; do
        dir=/tmp/shared/$arch/$vary
        [ -f "$dir/tenant_063.onnx" ] && continue
        fits 60 "exporting $arch ($vary)" &&
          timeout "$(limit 240)" python3 bench/gpu/export_tenants.py "$arch" 64 "$dir" --vary "$vary"
      done
      run() { # set label, then caravel bench's arguments
        local label=$1
        shift
        fits 40 "$arch $label" || return 0
        timeout "$(limit 150)" $cv bench --device cuda --waves 20 --warmup 5 --memory-csv --csv "$arch,$label" "$@" |
          tee -a "$out/shared_raw.log" | grep -E "^$arch,$label," >> "$csv"
      }
      # The 64 files of a set as --model arguments, when they are all there.
      set_of() {
        set_models=()
        [ -f "/tmp/shared/$arch/$1/tenant_063.onnx" ] || return 1
        for r in $(seq 0 63); do set_models+=(--model "/tmp/shared/$arch/$1/tenant_$(printf %03d "$r").onnx"); done
      }
      set_of head && run one-batch64 --tenants 1 --rows 64 "${set_models[@]:0:2}"
      set_of head && run shared-backbone --tenants 64 "${set_models[@]}"
      set_of last-stage && run own-last-stage --tenants 64 "${set_models[@]}"
      set_of all && run distinct --tenants 64 "${set_models[@]}"
      set_of all && run distinct-nosharing --tenants 64 --no-sharing "${set_models[@]}"
    done
    echo "shared: Caravel (device_inf_per_s: throughput at the median device time; bytes per tenant: means):"
    column -t -s, "$csv" 2>/dev/null || cat "$csv"
    # PyTorch in the same call: one model at batch 64 ("batch-R excl") and
    # the 64-model variants, on this card.
    if fits 60 "the PyTorch peers"; then
      CUDA_DEVICE_MAX_CONNECTIONS=32 timeout "$(limit 280)" python3 $W/data/anchors/peers_torch.py fp32 \
        "$(echo "$archs" | tr ' ' ,)" 64 2>&1 | tee "$out/shared_peers.txt"
    fi
    echo "shared: done in ${SECONDS}s ($(date +%T))"
  } 2>&1 | tee "$log"
  ;;
goals)
  # Issue 9's acceptance table in one call: device inf/s of one wave of R
  # tenants (batch 1 each, their own weights), ResNet-50 and MobileNetV2 in
  # FP32, TF32 and FP16, R = 64 then 8; the cuBLAS GEMM-only bound
  # (../shared/anchors/r50_gemm_bound.cu) and the PyTorch peers at R = 64
  # as time allows. goals.csv; bounded by GOALS_SECONDS (500). A part of
  # it: GOALS_R (64 8), GOALS_ARCHS, GOALS_PRECISIONS (fp32 tf32 fp16),
  # GOALS_PEERS (the PyTorch peers' precisions, fp32 fp16 tf32; empty: none),
  # GOALS_NO_BOUND=1 (no GEMM-only bound).
  {
    clock_start "${GOALS_SECONDS:-500}"
    for arch in resnet50 mobilenet_v2; do
      [ -f /tmp/tenants/$arch/tenant_063.onnx ] || timeout "$(limit 200)" python3 bench/gpu/export_tenants.py $arch 64 /tmp/tenants/$arch
    done
    echo "model,precision,R,rows,wall_median_ms,wall_min_ms,wall_inf_per_s,device_median_ms,device_inf_per_s,wall_p99_ms,device_p99_ms,gflop_per_wave" > "$out/goals.csv"
    for R in ${GOALS_R:-64 8}; do
      for arch in ${GOALS_ARCHS:-resnet50 mobilenet_v2}; do
        for prec in ${GOALS_PRECISIONS:-fp32 tf32 fp16}; do
          fits 40 "$arch $prec R=$R" || continue
          m=$(tenant_models "$arch" "$R")
          # shellcheck disable=SC2086
          timeout "$(limit 120)" $cv bench --device cuda --precision $prec --tenants $R --waves 20 --warmup 5 \
            --csv "$arch,$prec" $m | tee -a "$out/goals_raw.log" | grep -E "^$arch,"
        done
      done
    done
    grep -E '^(resnet50|mobilenet_v2),' "$out/goals_raw.log" >> "$out/goals.csv"
    if [ -z "${GOALS_NO_BOUND:-}" ] && fits 60 "the GEMM-only bound"; then
      nvcc -O2 -arch=sm_90 -o /tmp/r50_gemm_bound $W/data/anchors/r50_gemm_bound.cu -lcublas &&
        timeout "$(limit 120)" /tmp/r50_gemm_bound | tee "$out/goals_gemm_bound.txt"
    fi
    for prec in ${GOALS_PEERS-fp32 fp16 tf32}; do
      fits 90 "PyTorch peers $prec" || continue
      CUDA_DEVICE_MAX_CONNECTIONS=32 timeout "$(limit 200)" python3 $W/data/anchors/peers_torch.py $prec \
        resnet50,mobilenet_v2 64 2>&1 | tee -a "$out/goals_peers.txt"
    done
    echo "goals: done in ${SECONDS}s ($(date +%T))"
  } 2>&1 | tee "$log"
  ;;
fig2 | fig3 | fig4 | fig5 | serve)
  # shellcheck source=bench/gpu/figs.sh
  . "$(dirname "$0")/figs.sh"
  fig_stage "$stage" 2>&1 | tee "$log"
  ;;
scale)
  # shellcheck source=bench/gpu/scale.sh
  . "$(dirname "$0")/scale.sh"
  scale_stage 2>&1 | tee "$log"
  ;;
*) echo "run.sh: unknown stage '$stage'" >&2; exit 2 ;;
esac
