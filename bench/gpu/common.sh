# shellcheck shell=bash
# shellcheck disable=SC2154 # device, cv, data, out, stage: set by run.sh, which sources this
# common.sh: what the stages of bench/gpu/figs.sh and bench/gpu/scale.sh
# share (sourced by each): defaults per device, the stage's clock, the
# tenants' model files, starting and stopping `caravel serve`, and plain
# HTTP through bash's /dev/tcp (the GPU machine has no curl to rely on).
#
# From run.sh: device (cuda, or cpu for the CPU smoke paths), cv (the
# caravel command), data (../shared's models and anchors), out, stage.

# dflt CPU_VALUE CUDA_VALUE: the default of a setting on this device.
dflt() { if [ "$device" = cpu ]; then echo "$1"; else echo "$2"; fi; }

# The stage's clock: clock_start SECONDS; limit WANTED: a timeout that ends
# before the stage's end (at least 1); fits NEEDED WHAT: whether that much
# time is left (else says what is skipped).
clock_start() { end=$((SECONDS + $1)); }
limit() {
  local l=$((end - SECONDS - 5))
  [ "$l" -lt 1 ] && l=1
  [ "$l" -lt "$1" ] && echo "$l" || echo "$1"
}
fits() { [ $((end - SECONDS)) -ge "$1" ] || { echo "$stage: skipped for time: $2"; false; }; }

# tenant_dir ARCH [CLASSES]: where the CUDA stages keep ARCH's exported
# tenants: /tmp/tenants/ARCH for torchvision's own head (1000 classes),
# /tmp/tenants/ARCH-cCLASSES for a head of CLASSES classes (another family).
tenant_dir() {
  if [ -z "${2:-}" ] || [ "$2" = 1000 ]; then echo "/tmp/tenants/$1"; else echo "/tmp/tenants/$1-c$2"; fi
}

# tenant_export ARCH R [CLASSES]: exports R tenants of ARCH (with a head of
# CLASSES classes) unless they are there (bench/gpu/export_tenants.py).
tenant_export() {
  local arch=$1 n=$2 classes=${3:-} dir
  dir=$(tenant_dir "$arch" "$classes")
  [ -f "$dir/tenant_$(printf %03d $((n - 1))).onnx" ] && return 0
  echo "$stage: exporting $n $arch tenants${classes:+ with $classes classes} ($(date +%T))" >&2
  timeout "$(limit 240)" python3 bench/gpu/export_tenants.py "$arch" "$n" "$dir" ${classes:+--classes "$classes"} >&2
}

# tenant_files ARCH R [CLASSES]: the model files of R tenants of ARCH, one a
# line (at most 64 on CUDA, exported when missing; the stand-ins on the
# CPU, which have torchvision's head only).
tenant_files() {
  local arch=$1 r=$2 classes=${3:-}
  if [ "$device" = cpu ]; then
    if [ -n "$classes" ] && [ "$classes" != 1000 ]; then
      echo "$stage: no CPU stand-in for $arch with a $classes-class head" >&2
      return 1
    fi
    case $arch in
    resnet50) printf '%s\n' "$data"/models/squeezenet1_1-seed*/model.onnx ;;
    mobilenet_v2) echo "$data/models/mobilenet_v2-seed1/model.onnx" ;;
    *) echo "$stage: no CPU stand-in for $arch" >&2; return 1 ;;
    esac
    return 0
  fi
  local n=$((r < 64 ? r : 64)) i dir f
  dir=$(tenant_dir "$arch" "$classes")
  tenant_export "$arch" "$n" "$classes"
  for i in $(seq 0 $((n - 1))); do
    f=$dir/tenant_$(printf %03d "$i").onnx
    [ -f "$f" ] || { echo "$stage: $f is missing (export failed)" >&2; return 1; }
    echo "$f"
  done
}

# model_name ARCH: what the CSVs call the model: ARCH on CUDA, the stand-in
# on the CPU (squeezenet1_1-for-resnet50), so that no CPU row passes for
# the model it stands in for.
model_name() {
  if [ "$device" = cpu ]; then
    case $1 in resnet50) echo squeezenet1_1-for-resnet50 ;; mobilenet_v2) echo mobilenet_v2-seed1 ;; *) echo "$1" ;; esac
  else
    echo "$1"
  fi
}

# model_args ARCH R: sets the array margs to --model F for R tenants' files.
model_args() {
  local files f
  files=$(tenant_files "$1" "$2") || return 1
  margs=()
  for f in $files; do margs+=(--model "$f"); done
}

# Options every caravel run gets on this device: the CPU smoke path runs
# kernels on one thread (two shared cores).
device_args=(--device "$device")
[ "$device" = cpu ] && device_args+=(--threads 1)

# ---- caravel serve -----------------------------------------------------------------

# server_start NAME ARGS...: `caravel serve ARGS` in the background (no
# metrics port, warnings only), stdout to $out/NAME.out and stderr to
# $out/NAME.log; its pid in server_pid and added to server_pids, which
# servers_stop ends.
server_pids=()
server_start() {
  local name=$1
  shift
  "$cv" serve "$@" --metrics-port -1 --log-level warn >"$out/$name.out" 2>"$out/$name.log" &
  server_pid=$!
  server_pids+=("$server_pid")
}

# server_url NAME PID SECONDS: waits at most SECONDS for the server started
# as NAME to print its 'listening on' line and prints its URL; nothing when
# it exited or did not get there in time (a line on stderr every 10 s
# while its tenants load).
server_url() {
  local name=$1 pid=$2 s
  for s in $(seq "$(($3 * 10))"); do
    grep -q '^listening on ' "$out/$name.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    [ $((s % 100)) = 0 ] && echo "$stage: waiting for $name to load its tenants ($((s / 10)) s)" >&2
    sleep 0.1
  done
  sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$out/$name.out"
}

# servers_stop: SIGTERM to every server started, then waits for each (they
# answer what is in flight and exit).
servers_stop() {
  local p
  for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null; done
  server_pids=()
}

# ---- HTTP without curl -------------------------------------------------------------

# http_get HOST:PORT PATH: the response to GET PATH, status line and headers
# included (HTTP/1.0, so the server closes when done; 10 s at most).
http_get() {
  local hp=$1
  (
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$hp" >&3
    timeout 10 cat <&3
  ) 2>/dev/null
}

# http_status HOST:PORT PATH: the status code of GET PATH (empty when no answer).
http_status() { http_get "$1" "$2" | head -n 1 | awk '{print $2}'; }

# http_body HOST:PORT PATH: the body of GET PATH.
http_body() { http_get "$1" "$2" | sed '1,/^\r*$/d'; }

# wait_ready HOST:PORT SECONDS: until GET /v2/health/ready answers 200.
wait_ready() {
  local s
  for s in $(seq "$(($2 * 10))"); do
    [ "$(http_status "$1" /v2/health/ready)" = 200 ] && return 0
    sleep 0.1
  done
  false
}
