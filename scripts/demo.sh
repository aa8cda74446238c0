#!/usr/bin/env bash
# The main job (`make demo`): a demo model repository of five tenants in two
# families, one inference per tenant with `caravel run`, every tenant
# checked against onnxruntime's outputs with `caravel check`, each family
# as one wave, then the repository served under each scheduling policy and
# the policies compared (scripts/demo_serve.sh).
# Usage: scripts/demo.sh BUILD_DIR
# Exits with `caravel check`'s status (non-zero too if a `caravel run` failed).
# Needs .venv (scripts/setup.sh) only to (re)generate demo-repo/, which
# happens when it is missing or when its generator or the pinned Python
# packages changed since it was written.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
if [ ! -x "$1/caravel" ]; then
  echo "demo: $1/caravel not found; build first (make demo does)" >&2
  exit 1
fi
caravel="$(cd "$1" && pwd)/caravel"
cd "$(dirname "$0")/.."

repo=demo-repo
generator=tools/make_demo_repo.py
stamp=$repo/.generated-by
heading() { printf '\n== %s ==\n' "$1"; }

heading "Demo model repository ($repo/)"
# The stamp records what made the repository, so a changed generator or a
# changed onnxruntime pin regenerates it and nothing else does.
want_stamp=$(sha256sum "$generator" scripts/requirements.txt)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  echo "up to date: $(find "$repo" -mindepth 1 -maxdepth 1 -type d | wc -l) tenants"
else
  if [ ! -x .venv/bin/python3 ]; then
    echo "demo: .venv is missing; run scripts/setup.sh first" >&2
    exit 1
  fi
  # Written beside and swapped in whole, so an interrupted run never leaves
  # a half-written repository that looks current.
  rm -rf "$repo.tmp"
  .venv/bin/python3 "$generator" "$repo.tmp"
  echo "$want_stamp" >"$repo.tmp/.generated-by"
  rm -rf "$repo"
  mv "$repo.tmp" "$repo"
fi

heading "One inference per tenant (caravel run, batch 1)"
run_failed=0
for version_dir in "$repo"/*/1; do
  tenant=$(basename "$(dirname "$version_dir")")
  if out=$("$caravel" run --model "$version_dir/model.onnx" \
             --input "$version_dir/test_data_set_0/input_0.pb" 2>&1); then
    [ -n "$out" ] || out="(caravel run printed nothing)"
    while IFS= read -r line; do
      printf '%-6s %s\n' "$tenant" "$line"
    done <<<"$out"
  else
    printf '%-6s FAILED: %s\n' "$tenant" "$out"
    run_failed=1
  fi
done

heading "Every tenant against onnxruntime's outputs (caravel check $repo/*/1)"
status=0
"$caravel" check "$repo"/*/1 || status=$?

# The multi-tenant part: each family's tenants in one wave (rows stacked,
# one launch per step, each tenant with its own weights), compared with the
# same tenants run alone.
heading "Each family as one wave (caravel wave): three CNN tenants, two MLP tenants"
"$caravel" wave --rows 1,3,2 --model "$repo/cnn-a/1/model.onnx" \
  --model "$repo/cnn-b/1/model.onnx" --model "$repo/cnn-c/1/model.onnx" || status=1
"$caravel" wave --rows 2,1 --model "$repo/mlp-a/1/model.onnx" --model "$repo/mlp-b/1/model.onnx" || status=1

# Serving: the same repository behind `caravel serve` under each policy,
# loaded over HTTP by `caravel load` as Triton's clients would load it.
heading "Serving the repository under each policy (caravel serve + caravel load, ~1 minute)"
scripts/demo_serve.sh "$(dirname "$caravel")" "$repo" || status=1

if [ "$status" -eq 0 ] && [ "$run_failed" -ne 0 ]; then
  status=1
fi
exit "$status"
