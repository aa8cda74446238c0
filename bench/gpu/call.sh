#!/usr/bin/env bash
# One device call's wrapper: runs bench/gpu/run.sh with the given stages
# (environment passed through) into a scratch folder, then packs every log
# and CSV into $OUT/out.tgz, which comes back whole (the device tool
# returns only a few files of $OUT one by one). A stage cut by the call's
# time limit still leaves what it wrote: give this a limit a little under
# the call's (CALL_LIMIT seconds, default 560) so that the packing runs.
# Usage (on the GPU machine, repository root): bench/gpu/call.sh STAGE ...
# Back here: tar xzf <files_at>/out.tgz -C SOMEWHERE.
set -uo pipefail
dest=${OUT:?OUT must name the folder that comes back}
scratch=$(mktemp -d /tmp/caravel-call.XXXXXX)
OUT=$scratch timeout "${CALL_LIMIT:-560}" "$(dirname "$0")/run.sh" "$@" > "$scratch/call.log" 2>&1
rc=$?
echo "call.sh: run.sh $* rc=$rc" >> "$scratch/call.log"
tar czf "$dest/out.tgz" -C "$scratch" .
# The summary lines of the stages, for the call's reply.
grep -E "rc=|PASSED|FAILED|passed|^serve:|^sched:|^shared:|^goals:|^resnet50,|^mobilenet_v2,|GEMM-only|^bench:.*inferences|^mlp-a |^mobilenet_v2 |^model " "$scratch/call.log" | tail -n 60
exit $rc
