# shellcheck shell=bash
# shellcheck disable=SC2154 # device, cv, data, out, stage: set by run.sh, which sources this
# figs.sh: the paper's figures 2-5 and the serving experiment (issue 11,
# item 1; issue 10's HTTP against in-process check) as stages of run.sh,
# which sources this file and calls fig_stage STAGE. Each stage writes CSVs
# to $out (bench/README.md lists their columns), bounds itself with a clock
# (FIGn_SECONDS / SERVE_SECONDS: every step's timeout is what it may take or
# what is left, whichever is less, and a step that cannot fit is skipped
# and says so), and prints a line per point measured. Plots are made
# elsewhere (bench/plot/plot_all.sh), from the CSVs.
#
# From run.sh: device (cuda, or cpu for the smoke path of
# bench/figs_smoke.sh), cv (the caravel command), data (../shared's
# models and anchors), out, stage.
#
# Tenants: on CUDA, bench/gpu/export_tenants.py makes R torchvision models
# (ResNet-50 or MobileNetV2) whose weights are perturbed per tenant (one
# family, distinct weights), at most 64 files: more tenants reuse them in
# turn (caravel drive says so). The paper's tenants have weights of their
# own, so the figure stages run caravel drive with --no-sharing: tenants
# loaded from one file keep a copy each, as the memory columns show
# (Caravel would otherwise store identical weights once; the stage
# `shared` of run.sh measures that). The serve stage's server shares as
# it would in production; its 32 tenants are distinct files by default.
# On the CPU, small models of ../shared/models stand
# in: squeezenet1_1-seed1/-seed2 for resnet50, mobilenet_v2-seed1 for
# mobilenet_v2; the CSVs say cpu in their device column.

# ---- helpers ------------------------------------------------------------------------

# The clock, the tenants' files, device_args, the server helpers.
# shellcheck source=bench/gpu/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# drive LIMIT ARGS...: caravel drive; its once-a-second progress lines go
# to STAGE_progress.log, its results (a paragraph per point) here.
drive() {
  local l=$1 own=()
  shift
  [ "$stage" = serve ] || own=(--no-sharing)
  timeout -k 10 "$l" "$cv" drive "${device_args[@]}" ${own[@]+"${own[@]}"} "$@" 2>>"$out/${stage}_progress.log"
  local rc=$?
  [ $rc -eq 0 ] || echo "$stage: caravel drive rc=$rc ($(tail -n 1 "$out/${stage}_progress.log"))"
  return $rc
}

# ---- the MPS control daemon (the process peers) --------------------------------------

mps_running=0 peer_pid=""
mps_start() {
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/caravel-mps/pipe CUDA_MPS_LOG_DIRECTORY=/tmp/caravel-mps/log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if ! command -v nvidia-cuda-mps-control >/dev/null; then
    echo "$stage: nvidia-cuda-mps-control is not on this machine: no MPS peer"
    return 1
  fi
  nvidia-cuda-mps-control -d || { echo "$stage: the MPS control daemon did not start"; return 1; }
  mps_running=1
}
# Always stopped: at the end of its runs, and on the way out (trap), since
# while it runs every CUDA process here, Caravel's included, would be its
# client.
mps_stop() {
  if [ -n "$peer_pid" ]; then
    kill -TERM "$peer_pid" 2>/dev/null
    wait "$peer_pid" 2>/dev/null
    peer_pid=""
  fi
  if [ "$mps_running" = 1 ]; then
    echo quit | nvidia-cuda-mps-control
    mps_running=0
    sleep 2
    echo "$stage: MPS control daemon stopped"
  fi
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
}

# peers ARCH COUNTS SECONDS SUMMARY_CSV PROCESS_CSV: the process peers of
# ../shared/anchors/mps_peer.py (bench/gpu/mps_peer_csv.py), under MPS and
# time-sliced (no daemon), each bounded by what is left.
peers() {
  local arch=$1 counts=$2 secs=$3 mode
  if [ "$device" != cuda ]; then
    echo "$stage: process peers skipped on the CPU (they need PyTorch on a GPU)"
    return 0
  fi
  local k=0 share
  for mode in mps timesliced; do
    # Each mode an equal part of what is left, less 45 s for what follows.
    share=$(((end - SECONDS - 45) / (2 - k)))
    k=$((k + 1))
    fits 60 "the $mode peer" || continue
    if [ $mode = mps ]; then mps_start || continue; fi
    echo "$stage: $mode peer, $arch, processes $counts, at most ${share} s ($(date +%T))"
    # In the background, so that a signal reaches the trap (which ends it
    # and stops the daemon) at once rather than after it.
    timeout -k 10 "$(limit "$share")" python3 bench/gpu/mps_peer_csv.py "$data/anchors" $mode "$arch" fp32 \
      "$counts" "$secs" "$out/$4" "$out/$5" &
    peer_pid=$!
    wait "$peer_pid"
    echo "$stage: $mode peer rc=$?"
    peer_pid=""
    [ $mode = mps ] && mps_stop
  done
}

# ---- the stages --------------------------------------------------------------------

# fig2: one tenant at growing batch: p99 wave latency and the achieved share
# of the device's peak FLOP/s.
fig2() {
  clock_start "${FIG2_SECONDS:-300}"
  local arch=${FIG2_MODEL:-resnet50} batches=${FIG2_BATCHES:-$(dflt 1,2 1,2,4,8,16,32,64,128)}
  local name
  name=$(model_name "$arch")
  local waves=${FIG2_WAVES:-$(dflt 6 200)} precisions=${FIG2_PRECISIONS:-$(dflt fp32 "fp32 tf32")}
  local model sms="" clock="" sgemm="" tf32="" nominal="" prec b
  model=$(tenant_files "$arch" 1 | head -n 1) && [ -n "$model" ] || return 1
  # The peaks, on CUDA: the nominal FP32 rate from the SM count (the
  # anchor's device line) and the highest SM clock (nvidia-smi), at 128
  # FP32 lanes per SM, 2 FLOP per fused multiply-add (sm_90's count); and
  # the measured ceilings of the anchor (cuBLAS SGEMM and TF32 GEMM of
  # 8192^3) in this same call.
  if [ "$device" = cuda ]; then
    if [ -x /tmp/table1_anchor ] || nvcc -O3 -arch=sm_90 -o /tmp/table1_anchor "$data/anchors/table1.cu" -lcublas \
         2>"$out/anchor_build.log"; then
      timeout 120 stdbuf -oL /tmp/table1_anchor | awk '{print} /ceiling gemm/ {exit}' >"$out/fig2_ceilings.txt"
      sms=$(sed -n 's/^device .*, \([0-9][0-9]*\) SMs.*/\1/p' "$out/fig2_ceilings.txt")
      sgemm=$(sed -n 's/^ceiling sgemm.*: \([0-9.]*\) TFLOP.*/\1/p' "$out/fig2_ceilings.txt")
      tf32=$(sed -n 's/^ceiling gemm.*tf32: \([0-9.]*\) TFLOP.*/\1/p' "$out/fig2_ceilings.txt")
    else
      echo "fig2: the anchor did not build (anchor_build.log): no measured ceiling"
    fi
    clock=$(nvidia-smi --query-gpu=clocks.max.sm --format=csv,noheader,nounits | head -n 1 | tr -d ' ')
    [ -n "$sms" ] && [ -n "$clock" ] && nominal=$(awk -v s="$sms" -v c="$clock" 'BEGIN {printf "%.1f", 2 * 128 * s * c / 1e6}')
  fi
  echo "device,sms,clock_max_mhz,fp32_nominal_tflops,fp32_sgemm_tflops,tf32_gemm_tflops" >"$out/fig2_peak.csv"
  echo "$device,$sms,$clock,$nominal,$sgemm,$tf32" >>"$out/fig2_peak.csv"
  if [ "$device" = cuda ]; then
    echo "fig2: peaks: nominal FP32 ${nominal:-?} TFLOP/s (${sms:-?} SMs x 128 lanes x 2 x ${clock:-?} MHz), measured SGEMM ${sgemm:-?}, TF32 GEMM ${tf32:-?}"
  else
    echo "fig2: no peak on the CPU: achieved TFLOP/s only"
  fi
  echo "model,precision,device,batch,waves,wall_median_ms,wall_p99_ms,device_median_ms,device_p99_ms,inf_per_s,gflop_per_inference,time_basis,tflops,peak_tflops,share_of_peak,nominal_tflops,share_of_nominal" >"$out/fig2.csv"
  for prec in $precisions; do
    local peak="" nom=""
    case $prec in fp32) peak=$sgemm nom=$nominal ;; tf32) peak=$tf32 ;; esac
    for b in ${batches//,/ }; do
      fits 20 "$arch $prec batch $b" || break 2
      local line
      line=$(timeout "$(limit 150)" "$cv" bench "${device_args[@]}" --precision "$prec" --rows "$b" --waves "$waves" \
        --warmup "$(dflt 1 10)" --csv "$name,$prec" --model "$model" 2>>"$out/fig2_progress.log" | grep "^$name,$prec,")
      [ -n "$line" ] || { echo "fig2: $arch $prec batch $b: caravel bench failed ($(tail -n 1 "$out/fig2_progress.log"))"; continue; }
      # bench's CSV: $1,$2 the label (arch,precision), $3 R, $4 N (the batch), $5 wall median, $6 min,
      # $7 inf/s, $8 device median (0 on the CPU), $9 device inf/s, $10 wall p99, $11 device p99,
      # $12 GFLOP a wave. Achieved TFLOP/s over the device time where there is one, else the wall time.
      echo "$line" | awk -F, -v dev="$device" -v w="$waves" -v peak="$peak" -v nom="$nom" '{
        basis = $8 > 0 ? "device" : "wall"; t = $8 > 0 ? $8 : $5
        tf = $12 / t
        share = peak != "" ? sprintf("%.4f", tf / peak) : ""; nshare = nom != "" ? sprintf("%.4f", tf / nom) : ""
        dp99 = $8 > 0 ? $11 : ""; dmed = $8 > 0 ? $8 : ""
        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%.4f,%s,%.4f,%s,%s,%s,%s\n", $1, $2, dev, $4, w, $5, $10, dmed, dp99, $7, $12 / $4, basis, tf, peak, share, nom, nshare
      }' >>"$out/fig2.csv"
      tail -n 1 "$out/fig2.csv" | awk -F, '{printf "fig2: %s %s batch %s: wall p99 %s ms, %s TFLOP/s (%s time)%s\n", $1, $2, $4, $7, $13, $12, $15 != "" ? sprintf(", %.1f%% of the measured peak", 100 * $15) : ""}'
    done
  done
}

# fig3: mean and p99 latency against the number of tenants: Caravel's four
# policies (one client per tenant keeping one request outstanding, as the
# paper's clients and the peers do), one model serving as many clients at
# dynamic batching (the exclusive ceiling), and the process peers under
# MPS and time-sliced. One model a call (FIG3_MODEL): the peers run in the
# call of the Caravel runs they are compared with.
fig3() {
  clock_start "${FIG3_SECONDS:-480}"
  local arch=${FIG3_MODEL:-resnet50} counts=${FIG3_TENANTS:-$(dflt 1,3 1,2,4,8,16,32,64)}
  local name
  name=$(model_name "$arch")
  local peer_counts=${FIG3_PEER_TENANTS:-1,2,4,8,16,32} secs=${FIG3_RUN_SECONDS:-$(dflt 0.4 2)}
  local warm drain max first
  warm=$(dflt 0.1 1) drain=$(dflt 1 2) max=${counts##*,}
  model_args "$arch" "$max" || return 1
  first=${margs[1]}
  echo "fig3: $arch, tenants $counts, each policy, one request outstanding per tenant ($(date +%T))"
  fits 60 "Caravel's policies" &&
    drive "$(limit 280)" --label "$name" "${margs[@]}" --tenants "$counts" --per-tenant --concurrency 1 \
      --policy spacetime,space,time,exclusive --warmup "$warm" --duration "$secs" --drain "$drain" \
      --csv "$out/fig3_caravel.csv" --tenant-csv "$out/fig3_tenants.csv"
  peers "$arch" "$peer_counts" "$secs" fig3_peers.csv fig3_peer_processes.csv
  fits 30 "one model, batched" &&
    drive "$(limit 90)" --label "$name/one-model" --model "$first" --tenants 1 --concurrency "$counts" \
      --policy exclusive --warmup "$warm" --duration "$secs" --drain "$drain" --csv "$out/fig3_caravel.csv"
  # The figure's table: a row per system and tenant count.
  echo "model,system,tenants,throughput_per_s,mean_ms,p99_ms,tenant_spread" >"$out/fig3.csv"
  if [ -f "$out/fig3_caravel.csv" ]; then
    # drive's CSV: $1 label, $2 policy, $5 tenants, $9 concurrency, $15 completed/s, $17 p99, $34 mean, $36 spread
    awk -F, -v a="$name" 'NR > 1 && $1 == a {printf "%s,caravel-%s,%s,%s,%s,%s,%s\n", a, $2, $5, $15, $34, $17, $36}
                          NR > 1 && $1 == a "/one-model" {printf "%s,one-model-batched,%s,%s,%s,%s,\n", a, $9, $15, $34, $17}' \
      "$out/fig3_caravel.csv" >>"$out/fig3.csv"
  fi
  [ -f "$out/fig3_peers.csv" ] &&
    awk -F, -v a="$arch" -v n="$name" 'NR > 1 && $2 == a {printf "%s,%s,%s,%s,%s,%s,%s\n", n, $1, $4, $5, $6, $8, $9}' \
      "$out/fig3_peers.csv" >>"$out/fig3.csv"
  echo "fig3: done in ${SECONDS}s: $(($(wc -l <"$out/fig3.csv") - 1)) rows in fig3.csv"
}

# fig4: each tenant's latency at 10, 11 and 12 tenants, every policy and the
# process peers (the paper's spread between replicas under MPS).
fig4() {
  clock_start "${FIG4_SECONDS:-360}"
  local arch=${FIG4_MODEL:-resnet50} counts=${FIG4_TENANTS:-$(dflt 2,3 10,11,12)}
  local name
  name=$(model_name "$arch")
  local secs=${FIG4_RUN_SECONDS:-$(dflt 0.4 5)} max=${counts##*,}
  model_args "$arch" "$max" || return 1
  echo "fig4: $arch, tenants $counts, each policy, one request outstanding per tenant ($(date +%T))"
  fits 60 "Caravel's policies" &&
    drive "$(limit 240)" --label "$name" "${margs[@]}" --tenants "$counts" --per-tenant --concurrency 1 \
      --policy spacetime,space,time,exclusive --warmup "$(dflt 0.1 1)" --duration "$secs" --drain "$(dflt 1 2)" \
      --csv "$out/fig4_caravel.csv" --tenant-csv "$out/fig4_tenants.csv"
  peers "$arch" "$counts" "$secs" fig4_peers.csv fig4_peer_processes.csv
  echo "model,system,tenants,tenant,completed,mean_ms,p50_ms,p99_ms" >"$out/fig4.csv"
  # drive's tenant CSV: $1 label, $2 policy, $5 tenants, $10 tenant, $12 completed, $13 mean, $14 p50, $15 p99
  [ -f "$out/fig4_tenants.csv" ] &&
    awk -F, -v a="$name" 'NR > 1 && $1 == a {printf "%s,caravel-%s,%s,%s,%s,%s,%s,%s\n", a, $2, $5, $10, $12, $13, $14, $15}' \
      "$out/fig4_tenants.csv" >>"$out/fig4.csv"
  [ -f "$out/fig4_peer_processes.csv" ] &&
    awk -F, -v a="$arch" -v n="$name" 'NR > 1 && $2 == a {printf "%s,%s,%s,%s,%s,%s,%s,%s\n", n, $1, $4, $5, $6, $7, $8, $9}' \
      "$out/fig4_peer_processes.csv" >>"$out/fig4.csv"
  # The spread per system and count: slowest tenant's mean over the fastest's.
  awk -F, 'NR > 1 {k = $2 "," $3; if (!(k in lo) || $6 < lo[k]) lo[k] = $6; if (!(k in hi) || $6 > hi[k]) hi[k] = $6}
           END {for (k in lo) if (lo[k] > 0) printf "fig4: %s tenants: slowest / fastest tenant mean %.3f\n", k, hi[k] / lo[k]}' \
    "$out/fig4.csv" | sort
}

# fig5: tenants loaded until the memory wall, one precision a call
# (FIG5_PRECISION), each policy in turn with its share of the time left;
# latency (one request outstanding per tenant) at each count on the way.
# Loading is what takes the time (on this project's 2-core VM a tenant
# loads at about 2 ms per MB of ONNX, so some 0.2 s per ResNet-50, about
# 140 s for 700 of them, before the upload): two policies a call by
# default (spacetime and space; FIG5_POLICIES="time exclusive" for the
# others), and a policy's growth stops at its share of the time (stopped_by
# load_seconds in fig5_wall.csv) when the wall is further.
fig5() {
  clock_start "${FIG5_SECONDS:-480}"
  local arch=${FIG5_MODEL:-resnet50} prec=${FIG5_PRECISION:-fp32}
  local name
  name=$(model_name "$arch")
  local counts=${FIG5_TENANTS:-$(dflt 1,2,4 8,64,128,256,384,512,768,1024,1536,2048)}
  local policies=${FIG5_POLICIES:-$(dflt "spacetime space time exclusive" "spacetime space")}
  local secs=${FIG5_RUN_SECONDS:-$(dflt 0.3 2)}
  local warm drain n i=0 p
  warm=$(dflt 0.1 0.5) drain=$(dflt 1 2)
  model_args "$arch" 64 || return 1
  read -ra plist <<<"$policies"
  n=${#plist[@]}
  local ncounts
  ncounts=$(echo "$counts" | tr ',' '\n' | wc -l)
  for p in "${plist[@]}"; do
    local share runs load_s
    share=$(((end - SECONDS - 10) / (n - i)))
    i=$((i + 1))
    # What the runs take at most (warm-up, window, drain and some set-up
    # each); the rest of the share is for loading.
    runs=$(awk -v c="$ncounts" -v w="$warm" -v s="$secs" -v d="$drain" 'BEGIN {printf "%d", c * (w + s + d + 1.5)}')
    load_s=${FIG5_LOAD_SECONDS:-$((share - runs))}
    [ -z "${FIG5_LOAD_SECONDS:-}" ] && [ "$load_s" -lt 10 ] && load_s=10
    fits 30 "policy $p" || continue
    echo "fig5: $arch $prec, $p: tenants $counts until memory runs out, at most ${load_s} s of loading ($(date +%T))"
    drive "$(limit $((share + 30)))" --label "$name" "${margs[@]}" --precision "$prec" --tenants "$counts" \
      --until-full --load-seconds "$load_s" --per-tenant --concurrency 1 --policy "$p" --warmup "$warm" \
      --duration "$secs" --drain "$drain" --csv "$out/fig5_caravel.csv" --wall-csv "$out/fig5_wall.csv"
  done
  echo "model,precision,policy,tenants,throughput_per_s,mean_ms,p99_ms,failed" >"$out/fig5.csv"
  # drive's CSV: $1 label, $2 policy, $4 precision, $5 tenants, $15 completed/s, $17 p99, $26 failed, $34 mean
  [ -f "$out/fig5_caravel.csv" ] &&
    awk -F, -v a="$name" 'NR > 1 && $1 == a {printf "%s,%s,%s,%s,%s,%s,%s,%s\n", a, $4, $2, $5, $15, $34, $17, $26}' \
      "$out/fig5_caravel.csv" >>"$out/fig5.csv"
  if [ -f "$out/fig5_wall.csv" ]; then
    # An estimate, not a measurement, where loading stopped for time: what
    # the device's memory would hold at the bytes per tenant measured.
    local total_mib=""
    [ "$device" = cuda ] && total_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n 1 | tr -d ' ')
    awk -F, -v mib="$total_mib" 'NR > 1 {
      per = $5 > 0 ? $6 / $5 : 0
      printf "fig5: %s %s: %s tenants loaded (%s; %.1f MB on the device and %.1f MB on the host per tenant, %.0f s loading)",
             $2, $4, $5, $9, per / 1e6, ($5 > 0 ? $7 / $5 / 1e6 : 0), $8
      if ($9 != "out_of_memory" && mib != "" && per > 0)
        printf "; estimate, not measured: %.0f MiB hold about %d tenants of these bytes alone", mib, mib * 1048576 / per
      printf "\n"}' "$out/fig5_wall.csv"
  fi
}

# serve: Poisson load over 32 ResNet-50 tenants through `caravel serve`
# (HTTP, `caravel load`) and in process (`caravel drive`, cv_submit) at
# the same rates, every policy: throughput, p50/p99, SLO attainment, the
# highest rate each policy holds at 99% attainment; the saturated
# throughput of both paths (closed loop, same outstanding requests) for
# issue 10's HTTP >= 90% of in-process; and the time HTTP adds to one
# request at a time (server overhead: HTTP + codec).
serve_stop() { servers_stop; }
# serve_start POLICY REPO: a server; sets url (empty when it did not start).
serve_start() {
  server_start "serve_$1" --model-repository "$2" --policy "$1" "${device_args[@]}" --http-port 0 \
    --http-threads "$http_threads"
  url=$(server_url "serve_$1" "$server_pid" "$(limit 120)")
  [ -n "$url" ] || { echo "serve: caravel serve --policy $1 did not start: $(tail -n 1 "$out/serve_$1.log")"; serve_stop; }
}
# load_run LIMIT ARGS...: caravel load against $url.
load_run() {
  local l=$1
  shift
  timeout -k 10 "$l" "$cv" load --url "$url" "$@" 2>>"$out/serve_progress.log"
  local rc=$?
  [ $rc -eq 0 ] || echo "serve: caravel load rc=$rc ($(tail -n 1 "$out/serve_progress.log"))"
  return $rc
}

serve() {
  clock_start "${SERVE_SECONDS:-480}"
  local arch=${SERVE_MODEL:-resnet50} r=${SERVE_TENANTS:-$(dflt 4 32)} slo=${SERVE_SLO_MS:-$(dflt 1000 50)}
  local name
  name=$(model_name "$arch")
  local policies=${SERVE_POLICIES:-spacetime space time exclusive} secs=${SERVE_RUN_SECONDS:-$(dflt 0.5 3)}
  local fractions=${SERVE_FRACTIONS:-$(dflt 0.3,0.8 0.1,0.3,0.5,0.7,0.85,1.0)} clients=${SERVE_CLIENTS:-$(dflt 2 4)}
  local conc=${SERVE_CONCURRENCY:-$(dflt 4 192)} rounds=${SERVE_OVERHEAD_ROUNDS:-3}
  local warm drain files f i p repo sat rates
  http_threads=${SERVE_HTTP_THREADS:-$(dflt 2 8)}
  warm=$(dflt 0.2 1) drain=$(dflt 1 2)
  files=$(tenant_files "$arch" "$r") || return 1
  # The repository: tenant_000 ... each its own weights (files reused in
  # turn where there are fewer), SLO in config.json; drive gets the same
  # files in the same order with the same SLO.
  repo=/tmp/caravel-serve-repo
  rm -rf "$repo"
  margs=()
  read -ra flist <<<"$(echo "$files" | tr '\n' ' ')"
  for i in $(seq 0 $((r - 1))); do
    f=${flist[$((i % ${#flist[@]}))]}
    mkdir -p "$repo/tenant_$(printf %03d "$i")/1"
    ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$repo/tenant_$(printf %03d "$i")/1/model.onnx"
    echo "{\"slo_ms\": $slo}" >"$repo/tenant_$(printf %03d "$i")/config.json"
    margs+=(--model "$f")
  done
  echo "serve: $r $arch tenants, SLO $slo ms, HTTP threads $http_threads ($(date +%T))"

  # 1. Saturation through cv_submit: a closed loop of $conc outstanding.
  drive "$(limit 90)" --label "$name-saturation" "${margs[@]}" --policy spacetime --concurrency "$conc" \
    --warmup "$warm" --duration "$secs" --drain "$drain" --csv "$out/serve_inprocess_saturation.csv"
  sat=$(awk -F, -v l="$name-saturation" '$1 == l {v = $15} END {print v}' "$out/serve_inprocess_saturation.csv" 2>/dev/null)
  [ -n "$sat" ] || { echo "serve: no in-process saturation measured; stopping"; return 1; }
  rates=$(awk -v s="$sat" -v f="$fractions" 'BEGIN {n = split(f, x, ","); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), x[i] * s + 0.5}')
  echo "serve: in process, spacetime completes $sat requests/s with $conc outstanding; rates $rates"

  # 2. In process, every policy over the rates.
  fits 60 "the in-process sweep" &&
    drive "$(limit 230)" --label "$name" "${margs[@]}" --policy "$(echo "$policies" | tr ' ' ',')" --rates "$rates" \
      --slo "$slo" --warmup "$warm" --duration "$secs" --drain "$drain" --sweep-stop 0.5 --csv "$out/serve_inprocess.csv"

  # 3. Through HTTP, a server per policy: the same rates (a policy's sweep
  #    stops once it meets under half); then, with spacetime's server (after
  #    its sweep, so that overload cannot touch the sweep), the saturation
  #    ($clients load generators sharing $conc outstanding: one generator
  #    is one thread) and one request at a time against drive.
  echo "model,tenants,concurrency,http_clients,inprocess_per_s,http_per_s,http_over_inprocess" >"$out/serve_saturation.csv"
  echo "model,policy,round,inprocess_p50_ms,http_p50_ms,overhead_ms" >"$out/serve_overhead.csv"
  for p in $policies; do
    fits 40 "HTTP with $p" || continue
    serve_start "$p" "$repo"
    [ -n "$url" ] || continue
    echo "serve: $p server at $url ($(date +%T))"
    local rate att
    for rate in ${rates//,/ }; do
      fits 15 "HTTP $p at $rate/s" || break
      load_run "$(limit 60)" --models-from-server --rate "$rate" --slo "$slo" --warmup "$warm" --duration "$secs" \
        --drain "$drain" --label "$p" --csv "$out/serve_http.csv" | sed "s/^/serve: http $p: /"
      # The server's own view after each rate (graph cache misses,
      # rejections by reason, stragglers): why a rate fell short.
      http_get "${url#http://}" /v2/caravel/status | sed '1,/^\r*$/d' >"$out/serve_${p}_status_$rate.json"
      # load's CSV: $1 label, $16 attainment
      att=$(awk -F, -v l="$p" '$1 == l {v = $16} END {print v}' "$out/serve_http.csv" 2>/dev/null)
      if [ -n "$att" ] && awk -v a="$att" 'BEGIN {exit !(a < 0.5)}'; then
        echo "serve: http $p: attainment $att at $rate/s: its higher rates skipped"
        break
      fi
    done
    if [ "$p" = spacetime ]; then
      local c each pids=() http=0
      each=$(((conc + clients - 1) / clients))
      rm -f "$out"/serve_http_saturation_*.csv
      for c in $(seq 1 "$clients"); do
        load_run "$(limit 90)" --models-from-server --concurrency "$each" --seed "$c" --warmup "$warm" --duration "$secs" \
          --drain "$drain" --label "client$c" --csv "$out/serve_http_saturation_$c.csv" --quiet >/dev/null &
        pids+=($!)
      done
      wait "${pids[@]}"
      http=$(cat "$out"/serve_http_saturation_*.csv 2>/dev/null | awk -F, '$1 ~ /^client/ {s += $12} END {printf "%.1f", s}')
      awk -v m="$name" -v r="$r" -v c="$((each * clients))" -v k="$clients" -v i="$sat" -v h="$http" \
        'BEGIN {printf "%s,%s,%s,%s,%s,%s,%.4f\n", m, r, c, k, i, h, (i > 0 ? h / i : 0)}' >>"$out/serve_saturation.csv"
      echo "serve: saturated, $((each * clients)) outstanding: in process $sat/s, HTTP $http/s ($clients generators)"
      # One request at a time, $rounds runs each way (a list of equal
      # concurrencies: one load of the tenants in process).
      local ones d h
      ones=$(seq "$rounds" | sed 's/.*/1/' | paste -sd, -)
      if fits 30 "one request at a time"; then
        drive "$(limit 90)" --label "$name-one" "${margs[@]}" --policy spacetime --concurrency "$ones" --warmup "$warm" \
          --duration "$secs" --drain "$drain" --quiet --csv "$out/serve_overhead_inprocess.csv" >/dev/null
        load_run "$(limit 60)" --models-from-server --concurrency "$ones" --warmup "$warm" --duration "$secs" \
          --drain "$drain" --label "$name-one" --quiet --csv "$out/serve_overhead_http.csv" >/dev/null
        # p50: drive's column 16, load's 13; the k-th run of each side is round k.
        d=$(awk -F, -v l="$name-one" '$1 == l {print $16}' "$out/serve_overhead_inprocess.csv" 2>/dev/null)
        h=$(awk -F, -v l="$name-one" '$1 == l {print $13}' "$out/serve_overhead_http.csv" 2>/dev/null)
        paste -d' ' <(echo "$d") <(echo "$h") |
          awk -v m="$name" 'NF == 2 {printf "%s,spacetime,%d,%s,%s,%.3f\n", m, NR, $1, $2, $2 - $1}' >>"$out/serve_overhead.csv"
        awk -F, 'NR > 1 {printf "serve: one request at a time, round %s: p50 in process %s ms, HTTP %s ms: HTTP adds %s ms\n", $3, $4, $5, $6}' \
          "$out/serve_overhead.csv"
      fi
    fi
    serve_stop
  done

  # The tables: every run of both paths, and each policy's highest rate
  # with attainment >= 99% at it and every lower rate.
  echo "path,policy,rate,offered_per_s,completed_per_s,p50_ms,p99_ms,attainment" >"$out/serve.csv"
  # drive: $2 policy, $8 rate, $14 offered, $15 completed, $16 p50, $17 p99, $19 attainment
  [ -f "$out/serve_inprocess.csv" ] &&
    awk -F, -v l="$name" 'NR > 1 && $1 == l {printf "inprocess,%s,%s,%s,%s,%s,%s,%s\n", $2, $8, $14, $15, $16, $17, $19}' \
      "$out/serve_inprocess.csv" >>"$out/serve.csv"
  # load: $1 label (the policy), $5 rate, $11 offered, $12 completed, $13 p50, $14 p99, $16 attainment
  [ -f "$out/serve_http.csv" ] &&
    awk -F, 'NR > 1 {printf "http,%s,%s,%s,%s,%s,%s,%s\n", $1, $5, $11, $12, $13, $14, $16}' "$out/serve_http.csv" \
      >>"$out/serve.csv"
  echo "path,policy,max_rate_99,max_rate_999" >"$out/serve_capacity.csv"
  sort -t, -k1,1 -k2,2 -k3,3g <(tail -n +2 "$out/serve.csv") | awk -F, '
    {k = $1 "," $2; if (!(k in seen)) {seen[k] = 1; order[++n] = k; ok99[k] = ok999[k] = 1}
     if ($8 == "" || $8 + 0 < 0.99) ok99[k] = 0; else if (ok99[k]) m99[k] = $3
     if ($8 == "" || $8 + 0 < 0.999) ok999[k] = 0; else if (ok999[k]) m999[k] = $3}
    END {for (i = 1; i <= n; i++) printf "%s,%s,%s\n", order[i], m99[order[i]], m999[order[i]]}' >>"$out/serve_capacity.csv"
  echo "serve: highest rate held at >= 99% attainment (path,policy,99%,99.9%):"
  tail -n +2 "$out/serve_capacity.csv" | sed 's/^/  /'
  echo "serve: done in ${SECONDS}s"
}

# fig_stage STAGE: runs one of the stages above, its output to STAGE.log too.
fig_stage() {
  trap 'mps_stop; serve_stop' EXIT
  trap 'mps_stop; serve_stop; exit 1' INT TERM
  case $1 in
  fig2 | fig3 | fig4 | fig5 | serve) "$1" ;;
  *) echo "figs.sh: unknown stage '$1'" >&2; return 2 ;;
  esac
}
