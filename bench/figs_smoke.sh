#!/usr/bin/env bash
# figs_smoke.sh: the figure stages of bench/gpu/run.sh (fig2 fig3 fig4 fig5
# serve) on the CPU with tiny sweeps and ../shared's small models standing
# in for ResNet-50 and MobileNetV2, then bench/plot/plot_all.sh on what
# they wrote, and checks: every figure CSV has its columns and the rows its
# sweep should give, and a PNG and an SVG exist per plot. This tests the
# stages' plumbing, formats and plots without a GPU; its numbers are not
# results (the CSVs say cpu and name the stand-in model).
#
# Usage: bench/figs_smoke.sh CARAVEL OUT_DIR [STAGE ...]   (default: all five)
# Exit 0 when every check passed, 1 when one failed, 77 (CTest's skip) with
# the reason when ../shared's models or gnuplot are missing (the CSVs are
# still checked first in the latter case).
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CARAVEL OUT_DIR [fig2 fig3 fig4 fig5 serve ...]" >&2
  exit 2
fi
caravel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$2
shift 2
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(fig2 fig3 fig4 fig5 serve)
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/smoke_common.sh
. bench/smoke_common.sh

echo "figs_smoke: stages ${stages[*]} on the CPU into $out"
DEVICE=cpu CARAVEL=$caravel CARAVEL_SHARED_DIR=$shared OUT=$out bench/gpu/run.sh "${stages[@]}" >"$out/smoke.log" 2>&1
echo "figs_smoke: stages done (log: $out/smoke.log)"

for s in "${stages[@]}"; do
  case $s in
  fig2)
    check_csv fig2.csv "model,precision,device,batch,waves,wall_median_ms,wall_p99_ms,device_median_ms,device_p99_ms,inf_per_s,gflop_per_inference,time_basis,tflops,peak_tflops,share_of_peak,nominal_tflops,share_of_nominal" 2
    check_csv fig2_peak.csv "device,sms,clock_max_mhz,fp32_nominal_tflops,fp32_sgemm_tflops,tf32_gemm_tflops" 1
    # SqueezeNet 1.1 is about 0.35 GMAC a row: the FLOP count must see it.
    awk -F, 'NR > 1 && !($11 > 0.3 && $11 < 1.5) {exit 1}' "$out/fig2.csv" ||
      fail "fig2.csv: GFLOP per inference out of the stand-in's range"
    ;;
  fig3)
    check_csv fig3.csv "model,system,tenants,throughput_per_s,mean_ms,p99_ms,tenant_spread" 10
    ;;
  fig4)
    check_csv fig4.csv "model,system,tenants,tenant,completed,mean_ms,p50_ms,p99_ms" 20
    # Every policy has a row per tenant at each count (2 and 3).
    for sys in spacetime space time exclusive; do
      n=$(awk -F, -v s="caravel-$sys" '$2 == s' "$out/fig4.csv" | wc -l)
      [ "$n" = 5 ] || fail "fig4.csv: caravel-$sys has $n tenant rows, expected 2 + 3"
    done
    ;;
  fig5)
    check_csv fig5.csv "model,precision,policy,tenants,throughput_per_s,mean_ms,p99_ms,failed" 12
    check_csv fig5_wall.csv "label,policy,device,precision,tenants_loaded,device_bytes,host_bytes,load_s,stopped_by,message" 4
    ;;
  serve)
    check_csv serve.csv "path,policy,rate,offered_per_s,completed_per_s,p50_ms,p99_ms,attainment" 9
    check_csv serve_saturation.csv "model,tenants,concurrency,http_clients,inprocess_per_s,http_per_s,http_over_inprocess" 1
    check_csv serve_overhead.csv "model,policy,round,inprocess_p50_ms,http_p50_ms,overhead_ms" 1
    check_csv serve_capacity.csv "path,policy,max_rate_99,max_rate_999" 2
    ;;
  *) fail "unknown stage $s" ;;
  esac
done

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "SKIP: gnuplot is not installed (scripts/setup.sh installs gnuplot-nox): the CSVs were checked, the plots not"
  [ $failed = 0 ] && exit 77
  exit 1
fi
bench/plot/plot_all.sh "$out" || fail "plot_all.sh failed"
for s in "${stages[@]}"; do
  base=$s
  [ "$s" = fig3 ] && base=fig3_squeezenet1_1-for-resnet50
  for ext in png svg; do
    [ -s "$out/$base.$ext" ] || fail "$base.$ext was not made"
  done
done
[ $failed = 0 ] && echo "figs_smoke: every check passed"
exit $failed
