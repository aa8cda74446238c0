# shellcheck shell=bash
# shellcheck disable=SC2154 # device, cv, data, out, stage: set by run.sh, which sources this
# scale.sh: the multi-GPU scaling run (issue 13) as the stage `scale` of
# run.sh, which sources this file and calls scale_stage. For N = 1, 2, 4, 8
# GPUs (those the machine has), ResNet-50 and MobileNetV2 tenants in
# several families are served and loaded through HTTP:
#
#   multi   one `caravel serve --device cuda:0-(N-1)`: a scheduler per GPU,
#           each family placed whole on one GPU (placement.c), one HTTP
#           server in front;
#   nginx   N `caravel serve --device cuda:i`, one per GPU, each loading the
#           whole repository, behind nginx routing each family to one of
#           them by a consistent hash of its key (caravel nginx-conf,
#           with the servers' ports chosen so that the families spread
#           evenly over the ring: --spread-ports). Skipped, with a line
#           saying so, where no nginx is found.
#
# At each point: the closed-loop saturation through HTTP, then Poisson
# rates at fractions of it, refined by bisection, for the highest rate at
# which SLO attainment holds SCALE_TARGET (99%) at it and every lower rate
# tried: that rate's completed requests/s is the point's throughput. Then
# throughput_N / (N x throughput_1) is the scaling efficiency. Load comes
# from several `caravel load` processes at once (one is one thread), each
# a share of the rate or of the outstanding requests; their rows are merged
# (bench/README.md says how). CSVs: scale.csv (a row per setup and N),
# scale_runs.csv (a row per load run), scale_load.csv (caravel load's own
# rows, one per generator). Bounded by SCALE_SECONDS; each point gets an
# equal share of the time left, and what does not fit is skipped with a
# line saying so.
#
# Families are whole tasks: the tenants of one family are fine-tuned copies
# of one architecture with the same classifier head; another head size
# (SCALE_CLASSES: 1000, 365, ... classes, export_tenants.py --classes) is
# another family at the same cost. With 8 heads of each architecture every
# GPU count up to 8 gets whole families of both, so that per-family fusion
# is kept and every GPU gets the same work. Placement spreads them because
# each device has a budget (SCALE_DEVICE_MEMORY) and the repository loads
# in name order, a family's tenants one after the other: each family goes
# to the device with the most room left.
#
# DEVICE=cpu (the smoke path of bench/scale_smoke.sh) runs the same on
# logical CPU devices (cpu:0,1) with ../shared's small models standing in:
# one family per architecture, tiny runs; its numbers are not results.

# shellcheck source=bench/gpu/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---- settings ----------------------------------------------------------------------

scale_settings() {
  gpus_wanted=${SCALE_GPUS:-$(dflt "1 2" "1 2 4 8")}
  setups=${SCALE_SETUPS:-multi nginx}
  archs=${SCALE_MODELS:-resnet50 mobilenet_v2}
  classes=${SCALE_CLASSES:-$(dflt 1000 "1000 365 200 196 102 101 37 10")}
  per_family=${SCALE_TENANTS:-$(dflt 2 4)}
  precision=${SCALE_PRECISION:-fp32}
  slo=${SCALE_SLO_MS:-$(dflt 1000 50)}
  target=${SCALE_TARGET:-0.99}
  # 96 outstanding a GPU: 768 at 8 GPUs, under the ~1020 connections one
  # caravel serve accepts (libmicrohttpd's default limit); the rates go on
  # above the saturation where it is reached before the GPUs are full.
  conc_per_gpu=${SCALE_CONCURRENCY:-$(dflt 4 96)}
  fractions=${SCALE_FRACTIONS:-$(dflt 0.5 0.5,0.7,0.8,0.9,1.0)}
  above=${SCALE_ABOVE:-$(dflt 0 3)}
  refine=${SCALE_REFINE:-$(dflt 0 2)}
  clients_per_gpu=${SCALE_CLIENTS:-$(dflt 1 2)}
  threads_per_gpu=${SCALE_HTTP_THREADS:-$(dflt 1 8)}
  connections=${SCALE_CONNECTIONS:-256}
  run_s=${SCALE_RUN_SECONDS:-$(dflt 0.5 3)}
  warm_s=${SCALE_WARMUP_SECONDS:-$(dflt 0.2 1)}
  drain_s=${SCALE_DRAIN_SECONDS:-$(dflt 1 2)}
  budget=${SCALE_DEVICE_MEMORY:-$(dflt 1G 60G)}
  # nginx's workers: two a GPU by default (a number or auto); more would
  # keep more idle keep-alive connections (32 a worker) to each server.
  nginx_workers=${SCALE_NGINX_WORKERS:-}
  # More of caravel nginx-conf's options (--max-fails, --fail-timeout ...):
  # by default the deployment's own (docs/DEPLOY.md).
  read -ra nginx_args <<<"${SCALE_NGINX_ARGS:-}"
  # The repository and nginx's folders: under $out on the CPU (the test's
  # own folder); on the GPU machine in /tmp, out of what comes back (the
  # repository is links to /tmp/tenants).
  repo=${SCALE_REPO:-$(dflt "$out/scale-repo" /tmp/caravel-scale-repo)}
  nginx_root=$(dflt "$out/scale-nginx" /tmp/caravel-scale-nginx)
  # Seconds one load run takes at most (generators start, warm up, measure,
  # drain, report).
  run_cost=$(awk -v w="$warm_s" -v r="$run_s" -v d="$drain_s" 'BEGIN {printf "%d", w + r + d + 3.5}')
  if [ "$device" = cpu ]; then
    ngpus=${SCALE_CPU_DEVICES:-8}
    card=cpu unit=device
  else
    ngpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
    card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
    card=${card//,/ } unit=GPU
  fi
  gpu_counts=()
  local n
  for n in $gpus_wanted; do
    if [ "$n" -le "$ngpus" ]; then gpu_counts+=("$n"); else echo "scale: $(units "$n"): this machine has $ngpus, skipped"; fi
  done
}

# units N: "1 GPU", "2 GPUs" (devices on the CPU).
units() { if [ "$1" = 1 ]; then echo "1 $unit"; else echo "$1 ${unit}s"; fi; }

# device_list N: the --device value of one server over the first N devices.
device_list() {
  if [ "$1" = 1 ]; then echo "$device:0"; else echo "$device:0-$(($1 - 1))"; fi
}

# one_device I: the --device arguments of a server on device I alone.
one_device() {
  if [ "$device" = cpu ]; then echo "--device cpu --threads 1"; else echo "--device cuda:$1"; fi
}

# ---- the repository ----------------------------------------------------------------

# scale_repo: exports what is missing (every family at once, in the
# background: one torch process each) and writes the repository:
# ARCH_cCLASSES_tK/1/model.onnx (a link), config.json with the SLO and the
# precision. Sets nfamilies, ntenants, models_label.
scale_repo() {
  local arch c k f pids=() files name
  if [ "$device" = cuda ]; then
    for arch in $archs; do
      for c in $classes; do
        tenant_export "$arch" "$per_family" "$c" &
        pids+=($!)
      done
    done
    [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
  fi
  rm -rf "$repo"
  mkdir -p "$repo"
  nfamilies=0 ntenants=0 models_label=""
  for arch in $archs; do
    name=$(model_name "$arch")
    models_label=${models_label:+$models_label+}$name
    for c in $classes; do
      files=$(tenant_files "$arch" "$per_family" "$c") || return 1
      read -ra flist <<<"$(echo "$files" | tr '\n' ' ')"
      for k in $(seq 0 $((per_family - 1))); do
        f=${flist[$((k % ${#flist[@]}))]}
        local dir
        dir=$repo/${name}_c${c}_t$(printf %02d "$k")
        mkdir -p "$dir/1"
        ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$dir/1/model.onnx"
        echo "{\"slo_ms\": $slo, \"precision\": \"$precision\"}" >"$dir/config.json"
        ntenants=$((ntenants + 1))
      done
      nfamilies=$((nfamilies + 1))
    done
  done
  echo "scale: $ntenants tenants in $nfamilies families ($models_label with heads of ${classes// /, } classes," \
    "$per_family tenants each), $precision, SLO $slo ms"
}

# ---- load ------------------------------------------------------------------------------

# load_point SETUP N URL KIND VALUE: one run of caravel load with
# clients_per_gpu x N generators, each a share of VALUE (KIND rate: Poisson
# requests/s; concurrency: requests outstanding), and their rows merged
# into scale_runs.csv. Sets r_completed, r_p50, r_p99, r_att (empty when
# no generator reported).
gen_pids=()
load_point() {
  local setup=$1 n=$2 u=$3 kind=$4 value=$5 gens g share dir rc=0
  gens=$((clients_per_gpu * n))
  dir=$(mktemp -d)
  gen_pids=()
  for g in $(seq 1 "$gens"); do
    if [ "$kind" = rate ]; then
      share=(--rate "$(awk -v v="$value" -v g="$gens" 'BEGIN {printf "%.3f", v / g}')" --connections "$connections")
    else
      share=(--concurrency $(((value + gens - 1) / gens)))
    fi
    timeout -k 5 "$(limit $((run_cost + 30)))" "$cv" load --url "$u" --models-from-server "${share[@]}" --slo "$slo" \
      --seed "$g" --warmup "$warm_s" --duration "$run_s" --drain "$drain_s" --label "$setup-$n-$kind-$value-g$g" \
      --csv "$dir/g$g.csv" --quiet >/dev/null 2>>"$out/scale_progress.log" &
    gen_pids+=($!)
  done
  for g in "${gen_pids[@]}"; do wait "$g" || rc=$?; done
  gen_pids=()
  [ $rc = 0 ] || echo "scale: $setup, $(units "$n"): a caravel load exited $rc ($(tail -n 1 "$out/scale_progress.log" 2>/dev/null))"
  # caravel load's CSV: $11 offered/s, $12 completed/s, $13 p50, $14 p99,
  # $16 attainment, $17 arrivals, $20 503s, $21-$23 errors, no answer, bad
  # responses, $24 unfinished. Sums, attainment over all arrivals, p50 the
  # arrivals' weighted mean of the generators' p50s, p99 the highest of
  # their p99s.
  local merged
  merged=$(cat "$dir"/g*.csv 2>/dev/null | awk -F, '$1 == "label" {next}
    {off += $11; comp += $12; p50 += $13 * $17; if ($14 > p99) p99 = $14; att += $16 * $17; arr += $17
     r503 += $20; err += $21 + $22 + $23; unf += $24; k++}
    END {if (k) printf "%.1f,%.1f,%.3f,%.3f,%.5f,%d,%d,%d,%d,%d", off, comp, (arr ? p50 / arr : 0), p99, (arr ? att / arr : 0), arr, r503, err, unf, k}')
  if [ ! -f "$out/scale_load.csv" ]; then head -q -n 1 "$dir"/g*.csv 2>/dev/null | head -n 1 >"$out/scale_load.csv"; fi
  cat "$dir"/g*.csv 2>/dev/null | grep -v '^label,' >>"$out/scale_load.csv"
  rm -rf "$dir"
  r_completed="" r_p50="" r_p99="" r_att=""
  if [ -z "$merged" ]; then
    echo "scale: $setup, $(units "$n"): $kind $value: no generator reported"
    return 1
  fi
  local rate="" conc=""
  if [ "$kind" = rate ]; then rate=$value; else conc=$value; fi
  echo "$setup,$n,$([ "$kind" = rate ] && echo poisson || echo closed),$rate,$conc,$gens,$merged" >>"$out/scale_runs.csv"
  IFS=, read -r _ r_completed r_p50 r_p99 r_att _ <<<"$merged"
  echo "$merged" | awk -F, -v s="$setup, $(units "$n")" -v k="$kind" -v v="$value" -v g="$gens" '{
    printf "scale: %s: %s: completed %s/s, p50 %.2f ms, p99 %.2f ms, attainment %.2f%% of %d arrivals (503: %d, errors %d, unfinished %d; %d generators)\n",
      s, (k == "rate" ? "poisson " v "/s" : "closed loop, " v " outstanding"), $2, $3, $4, 100 * $5, $6, $7, $8, $9, g}'
}

# capacity SETUP N URL: the point: saturation, the sweep, the bisection;
# appends its row to scale.csv (efficiencies filled in at the end).
capacity() {
  local setup=$1 n=$2 u=$3 sat rates r ok="" bad="" ok_row="" i mid
  load_point "$setup" "$n" "$u" concurrency $((conc_per_gpu * n)) || return 1
  sat=$r_completed
  rates=$(awk -v s="$sat" -v f="$fractions" 'BEGIN {m = split(f, x, ","); for (i = 1; i <= m; i++) {r = int(x[i] * s + 0.5); if (r < 1) r = 1; print r}}')
  for r in $rates; do
    pfits "poisson $r/s" || break
    load_point "$setup" "$n" "$u" rate "$r" || break
    if held; then ok=$r ok_row="$r_completed,$r_p50,$r_p99,$r_att"; else bad=$r; break; fi
  done
  # Every fraction held: on above the saturation (20% a step), since a
  # closed loop of conc_per_gpu outstanding may not fill the GPUs.
  for i in $(seq 1 "$above"); do
    { [ -z "$bad" ] && [ -n "$ok" ]; } || break
    r=$(awk -v a="$ok" 'BEGIN {printf "%d", a * 1.2 + 0.5}')
    pfits "poisson $r/s (above the saturation)" || break
    load_point "$setup" "$n" "$u" rate "$r" || break
    if held; then ok=$r ok_row="$r_completed,$r_p50,$r_p99,$r_att"; else bad=$r; fi
  done
  # Bisection between the highest rate held and the lowest missed.
  for i in $(seq 1 "$refine"); do
    [ -n "$bad" ] || break
    mid=$(awk -v a="${ok:-0}" -v b="$bad" 'BEGIN {printf "%d", (a + b) / 2 + 0.5}')
    { [ "$mid" -gt "${ok:-0}" ] && [ "$mid" -lt "$bad" ]; } || break
    pfits "poisson $mid/s (bisection $i)" || break
    load_point "$setup" "$n" "$u" rate "$mid" || break
    if held; then ok=$mid ok_row="$r_completed,$r_p50,$r_p99,$r_att"; else bad=$mid; fi
  done
  [ -n "$ok_row" ] || ok_row=",,,"
  point_row="$setup,$n,$card,$(date -u +%F),$models_label,$precision,$nfamilies,$ntenants,$slo,$target,$sat,$ok,$ok_row"
  local pct
  pct=$(awk -v t="$target" 'BEGIN {printf "%g%%", 100 * t}')
  if [ -n "$ok" ]; then
    echo "scale: $setup, $(units "$n"): $pct attainment held up to $ok/s offered, $(echo "$ok_row" | cut -d, -f1)/s completed" \
      "(lowest rate missed: ${bad:-none})"
  else
    echo "scale: $setup, $(units "$n"): no rate tried held $pct attainment"
  fi
}

# held: whether the last load_point met the target attainment.
held() { awk -v a="$r_att" -v t="$target" 'BEGIN {exit !(a != "" && a >= t)}'; }

# pfits WHAT: whether one more load run fits in the point's share and the
# stage's clock.
pfits() {
  local left=$((point_end < end ? point_end - SECONDS : end - SECONDS))
  [ "$left" -ge "$run_cost" ] || { echo "scale: skipped for time: $1"; false; }
}

# ---- where the work went --------------------------------------------------------------

# status_families HOST:PORT [LABEL]: "device family completed" for each
# family and device of the server's status document (LABEL for the
# device when given: the server's GPU behind nginx).
status_families() {
  http_body "$1" /v2/caravel/status |
    grep -o '"family":"[0-9a-f]*","device":"[^"]*","tenants":\[[^]]*\],"submitted":[0-9]*,"completed":[0-9]*' |
    sed 's/^"family":"\([0-9a-f]*\)","device":"\([^"]*\)".*"completed":\([0-9]*\)$/\2 \1 \3/' |
    awk -v l="${2:-}" '{print (l != "" ? l : $1), $2, $3}'
}

# ready_tenants HOST:PORT: the server's READY tenants.
ready_tenants() { http_body "$1" /v2/caravel/status | grep -o '"state":"READY"' | wc -l; }

# spread N: from status_families lines on stdin: families that completed
# requests on the least and the most busy device, families served on more
# than one device, and the busiest device's completed requests over the
# mean per device (1 is even), comma-separated.
spread() {
  awk -v n="$1" '$3 > 0 {
      done_on[$1] += $3
      if (!(($1, $2) in seen)) {seen[$1, $2] = 1; fams[$1]++; devs[$2]++}}
    END {
      lo = -1; hi = 0; k = 0
      for (d in fams) {k++; if (fams[d] > hi) hi = fams[d]; if (lo < 0 || fams[d] < lo) lo = fams[d]}
      if (k < n || lo < 0) lo = 0
      split_ = 0; for (f in devs) if (devs[f] > 1) split_++
      total = 0; busiest = 0; for (d in done_on) {total += done_on[d]; if (done_on[d] > busiest) busiest = done_on[d]}
      printf "%d,%d,%d,%.3f", lo, hi, split_, (total > 0 ? busiest / (total / n) : 0)}'
}

# ---- the two setups --------------------------------------------------------------------

# multi_point N: one server over N devices.
multi_point() {
  local n=$1 name=scale_multi_$1 url hp kernel_threads=()
  [ "$device" = cpu ] && kernel_threads=(--threads 1)
  server_start "$name" --model-repository "$repo" --device "$(device_list "$n")" --device-memory "$budget" \
    --http-port 0 --http-threads $((threads_per_gpu * n)) "${kernel_threads[@]}"
  url=$(server_url "$name" "$server_pid" "$(limit 240)")
  if [ -z "$url" ]; then
    echo "scale: multi $n: caravel serve did not start: $(tail -n 1 "$out/$name.log")"
    servers_stop
    return 1
  fi
  hp=${url#http://}
  echo "scale: multi, $(units "$n"): $(ready_tenants "$hp") tenants ready at $url after $((SECONDS - point_start)) s"
  point_row=""
  capacity multi "$n" "$url"
  local sp
  sp=$(status_families "$hp" | spread "$n")
  servers_stop
  [ -n "$point_row" ] && echo "$point_row,,,$sp" >>"$out/scale.csv"
  echo "scale: multi, $(units "$n"): families served per $unit $(echo "$sp" | cut -d, -f1-2 | tr , -)," \
    "families split $(echo "$sp" | cut -d, -f3), the busiest $unit completed $(echo "$sp" | cut -d, -f4) x the mean"
}

# find_nginx: the nginx to run ($NGINX, the bundle's (scripts/gpu_bundle.sh:
# /tmp/cv/nginx/nginx beside /tmp/cv/bin/caravel), then PATH, then
# Debian's place), or nothing.
find_nginx() {
  local c
  for c in "${NGINX:-}" "$(dirname "$cv")/../nginx/nginx" "$(command -v nginx 2>/dev/null)" /usr/sbin/nginx; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
}

# Ports: nginx listens at one from 10000-19999, the servers behind it at
# ports from 20000-32767: both below Linux's ephemeral range (32768 and up,
# /proc/sys/net/ipv4/ip_local_port_range), from which every client socket
# of the machine (the load generators', other tests' under ctest -j) takes
# its port, so that none takes ours between the check and the bind (it
# did: "bind() ... Address already in use").
# free_port: a loopback port of 10000-19999 nothing listens on.
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % 10000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
}

nginx_pid=""
nginx_stop() {
  if [ -n "$nginx_pid" ]; then
    kill -QUIT "$nginx_pid" 2>/dev/null # graceful: what is in flight is answered
    local s
    for s in $(seq 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
    nginx_pid=""
  fi
}

# nginx_point N: N servers, one a device, behind nginx.
nginx_point() {
  local n=$1 dir=$nginx_root/$1 lport i addr url sp=""
  rm -rf "$dir"
  mkdir -p "$dir"
  # nginx's workers run as nobody when it starts as root: they must reach
  # its folder.
  chmod 755 "$nginx_root" "$dir"
  lport=$(free_port)
  local access=off
  [ "$device" = cpu ] && access=access.log
  if ! "$cv" nginx-conf --out "$dir" --families "$families_map" --spread-ports "127.0.0.1:$n" \
      --port-range 20000-32767 --listen "127.0.0.1:$lport" --worker-processes "${nginx_workers:-$(dflt 1 $((2 * n)))}" --access-log "$access" \
      "${nginx_args[@]}" >"$dir/nginx_conf.log" 2>&1; then
    echo "scale: nginx $n: caravel nginx-conf failed: $(tail -n 1 "$dir/nginx_conf.log")"
    return 1
  fi
  sed 's/^/scale: nginx '"$n"': /' "$dir/nginx_conf.log" | grep -v '^scale: nginx [0-9]*: wrote '
  local addrs=() pids=()
  mapfile -t addrs <"$dir/servers"
  for i in $(seq 0 $((n - 1))); do
    addr=${addrs[$i]}
    # shellcheck disable=SC2046 # one_device's words are separate arguments
    server_start "scale_nginx_${n}_$i" --model-repository "$repo" $(one_device "$i") --http-port "${addr##*:}" \
      --http-threads "$threads_per_gpu"
    pids+=("$server_pid")
  done
  for i in $(seq 0 $((n - 1))); do
    url=$(server_url "scale_nginx_${n}_$i" "${pids[$i]}" "$(limit 240)")
    if [ -z "$url" ]; then
      echo "scale: nginx $n: server $i did not start: $(tail -n 1 "$out/scale_nginx_${n}_$i.log")"
      servers_stop
      return 1
    fi
  done
  # The bundle's nginx finds the libraries it brought in its lib/.
  LD_LIBRARY_PATH=$(dirname "$nginx")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' >"$dir/nginx.out" 2>&1 &
  nginx_pid=$!
  if ! wait_ready "127.0.0.1:$lport" 15; then
    echo "scale: nginx $n: nginx is not answering on $lport: $(tail -n 2 "$dir/error.log" "$dir/nginx.out" 2>/dev/null | tr '\n' ' ')"
    nginx_stop
    servers_stop
    return 1
  fi
  echo "scale: nginx, $(units "$n"): $n server(s) of $(ready_tenants "${addrs[0]}") tenants ready behind nginx at" \
    "http://127.0.0.1:$lport after $((SECONDS - point_start)) s"
  point_row=""
  capacity nginx "$n" "http://127.0.0.1:$lport"
  sp=$(for i in $(seq 0 $((n - 1))); do status_families "${addrs[$i]}" "$i"; done | spread "$n")
  nginx_stop
  servers_stop
  cp "$dir/placement.tsv" "$out/scale_nginx_${n}_placement.tsv" 2>/dev/null
  cp "$dir/error.log" "$out/scale_nginx_${n}_error.log" 2>/dev/null
  # A server that failed a request (a 503 included) is out for the
  # fail_timeout, and its families go to the next one: say how often.
  local outs
  outs=$(grep -c 'upstream server temporarily disabled' "$dir/error.log" 2>/dev/null)
  [ "${outs:-0}" = 0 ] || echo "scale: nginx, $(units "$n"): nginx took a server out $outs times (scale_nginx_${n}_error.log)"
  [ -n "$point_row" ] && echo "$point_row,,,$sp" >>"$out/scale.csv"
  echo "scale: nginx, $(units "$n"): families served per server $(echo "$sp" | cut -d, -f1-2 | tr , -)," \
    "the busiest server completed $(echo "$sp" | cut -d, -f4) x the mean"
}

# ---- the stage -----------------------------------------------------------------------

scale_header="setup,gpus,card,date,models,precision,families,tenants,slo_ms,target,saturation_per_s,rate_per_s,throughput_per_s,p50_ms,p99_ms,attainment,efficiency,saturation_efficiency,families_per_gpu_min,families_per_gpu_max,split_families,busiest_gpu_share"
runs_header="setup,gpus,kind,rate,concurrency,generators,offered_per_s,completed_per_s,p50_ms,p99_ms,attainment,arrivals,rejected_503,errors,unfinished,generators_reporting"

# scale_efficiency: fills scale.csv's efficiency columns: a row's
# throughput (and saturation) over N x the same setup's, card's and
# precision's 1-GPU row (the last one), and prints the table.
scale_efficiency() {
  local f=$out/scale.csv
  [ -f "$f" ] || return 0
  awk -F, -v OFS=, 'NR == FNR {if (FNR > 1 && $2 == 1) {k = $1 SUBSEP $3 SUBSEP $6; t1[k] = $13; s1[k] = $11}; next}
    FNR == 1 {print; next}
    {k = $1 SUBSEP $3 SUBSEP $6
     $17 = (t1[k] > 0 && $13 != "") ? sprintf("%.3f", $13 / ($2 * t1[k])) : ""
     $18 = (s1[k] > 0 && $11 != "") ? sprintf("%.3f", $11 / ($2 * s1[k])) : ""
     print}' "$f" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  echo "scale: throughput at >= $target attainment against GPU count (efficiency: throughput_N / (N x throughput_1)):"
  awk -F, 'NR > 1 {printf "  %-5s %s x %d: %9s/s at %s/s offered, p99 %s ms, attainment %s, efficiency %s; closed loop %s/s, efficiency %s\n",
                   $1, $3, $2, ($13 != "" ? $13 : "-"), ($12 != "" ? $12 : "-"), ($15 != "" ? $15 : "-"),
                   ($16 != "" ? sprintf("%.2f%%", 100 * $16) : "-"), ($17 != "" ? $17 : "-"), $11, ($18 != "" ? $18 : "-")}' "$f"
}

scale_stop() {
  local p
  for p in "${gen_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  nginx_stop
  servers_stop
}

scale_stage() {
  trap 'scale_stop' EXIT
  trap 'scale_stop; exit 1' INT TERM
  clock_start "${SCALE_SECONDS:-480}"
  scale_settings
  echo "scale: $card x $ngpus; $unit counts ${gpu_counts[*]}; setups $setups ($(date +%T))"
  # Every connection is a file: the servers and nginx may hold a thousand.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  [ ${#gpu_counts[@]} -gt 0 ] || { echo "scale: no GPU count to run"; return 1; }
  scale_repo || { echo "scale: the repository could not be made"; return 1; }
  [ -f "$out/scale.csv" ] || echo "$scale_header" >"$out/scale.csv"
  [ -f "$out/scale_runs.csv" ] || echo "$runs_header" >"$out/scale_runs.csv"
  local todo=() setup n
  for setup in $setups; do
    case $setup in
    multi) ;;
    nginx)
      nginx=$(find_nginx)
      if [ -z "$nginx" ]; then
        echo "scale: nginx is not installed here (nor beside caravel, as scripts/gpu_bundle.sh carries it): the nginx half is skipped"
        continue
      fi
      # The family map, as a deployment makes it (caravel families loads
      # the repository where the servers do, for the precision's sake).
      families_map=$out/scale_families.map
      if ! timeout "$(limit 240)" "$cv" families --model-repository "$repo" --device "$device" >"$families_map" \
          2>"$out/scale_families.log"; then
        echo "scale: caravel families failed ($(tail -n 1 "$out/scale_families.log")): the nginx half is skipped"
        continue
      fi
      echo "scale: nginx: $nginx; $(grep -cv '^#' "$families_map") models in $(grep -v '^#' "$families_map" | awk '{print $2}' | sort -u | wc -l) families"
      ;;
    *) echo "scale: unknown setup '$setup' (multi or nginx)"; continue ;;
    esac
    for n in "${gpu_counts[@]}"; do todo+=("$setup:$n"); done
  done
  local k=0 p share
  for p in "${todo[@]}"; do
    setup=${p%%:*} n=${p##*:}
    # An equal share of what is left for each point still to run.
    share=$(((end - SECONDS - 10) / (${#todo[@]} - k)))
    k=$((k + 1))
    point_start=$SECONDS point_end=$((SECONDS + share))
    fits 30 "$setup on $(units "$n")" || continue
    echo "scale: $setup, $(units "$n"), at most $share s ($(date +%T))"
    "${setup}_point" "$n"
  done
  scale_efficiency
  echo "scale: done in ${SECONDS}s ($(date +%T))"
}
