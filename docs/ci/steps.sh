#!/usr/bin/env bash
# The steps of the CI pipeline, one command each, so that every CI system (github-actions.yml,
# gitlab-ci.yml beside this file) and tests/test_ci_pipeline.py run the same commands:
#
#   steps.sh install     a venv with the harness ($VENV, default .venv; $TRT_HARNESS_PIP: more pip
#                        arguments, e.g. your TVM wheel built with TensorRT)
#   steps.sh shard K N   the K-th of N parts of the op suites -> $CI_OUT/shards/shard-K-of-N.jsonl
#                        (and .rc, its exit code: 0 clean or known departures only, 1 a new departure)
#   steps.sh merge       join the N parts (all must be there) -> $CI_OUT/results.jsonl
#   steps.sh gate        compare with $CI_OUT/baseline/results.jsonl, if the CI put one there
#                        -> $CI_OUT/gate.txt, gate.json; exit 1 on a regression
#   steps.sh report      $CI_OUT/report/index.html (with the baseline and the gate's verdict)
#   steps.sh baseline    $CI_OUT/new-baseline/results.jsonl, the next baseline: only when every
#                        shard and the gate passed (the CI calls it on the default branch only)
#
# Environment: CI_OUT (default ci-out); TRT_HARNESS_ARGS, more arguments for every shard (word-split:
# "--trt-backend tvm-cuda --trt-reference tvm-cuda -n 8"); every shard must draw the same cases, so
# give a dev/nightly profile its --trt-seed here.  TRT_HARNESS: the trt-harness command (default:
# $VENV/bin/trt-harness if it exists, else trt-harness on PATH).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-.venv}
CI_OUT=${CI_OUT:-ci-out}
TRT_HARNESS_ARGS=${TRT_HARNESS_ARGS:-}
if [ -z "${TRT_HARNESS:-}" ]; then
  if [ -x "$VENV/bin/trt-harness" ]; then TRT_HARNESS="$VENV/bin/trt-harness"; else TRT_HARNESS=trt-harness; fi
fi
SHARDS="$CI_OUT/shards"
BASELINE="$CI_OUT/baseline/results.jsonl"
RESULTS="$CI_OUT/results.jsonl"

die() { echo "steps.sh: $*" >&2; exit 2; }

install() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086  # TRT_HARNESS_PIP is a list of pip arguments
  "$VENV/bin/pip" install -q -e "$REPO" ${TRT_HARNESS_PIP:-}
  "$VENV/bin/trt-harness" doctor | tail -n 4
}

shard() {
  local k=${1:?usage: steps.sh shard K N} n=${2:?usage: steps.sh shard K N} rc=0
  mkdir -p "$SHARDS"
  # shellcheck disable=SC2086  # TRT_HARNESS_ARGS is a list of arguments
  "$TRT_HARNESS" run --suite ops --trt-shard "$k/$n" --trt-results "$SHARDS/shard-$k-of-$n.jsonl" \
    --trt-report= --trt-repro-dir "$SHARDS/repro-$k-of-$n" --junitxml "$SHARDS/junit-$k-of-$n.xml" \
    $TRT_HARNESS_ARGS || rc=$?
  echo "$rc" > "$SHARDS/shard-$k-of-$n.rc"
  echo "shard $k/$n: exit $rc"
  return "$rc"
}

# The N of the shard files, after checking that all N parts of one run are there.
shard_count() {
  local files=("$SHARDS"/shard-*-of-*.jsonl) n k
  [ -e "${files[0]}" ] || die "no shard results in $SHARDS (did every shard job fail before writing any?)"
  n=${files[0]##*-of-}; n=${n%.jsonl}
  for ((k = 1; k <= n; k++)); do
    [ -f "$SHARDS/shard-$k-of-$n.jsonl" ] || die "shard $k of $n is missing from $SHARDS: its job did not finish"
  done
  [ "${#files[@]}" -eq "$n" ] || die "$SHARDS holds ${#files[@]} shard files for $n shards (several runs mixed?)"
  echo "$n"
}

merge() {
  local n k files=()
  n=$(shard_count)
  for ((k = 1; k <= n; k++)); do files+=("$SHARDS/shard-$k-of-$n.jsonl"); done
  "$TRT_HARNESS" merge "${files[@]}" -o "$RESULTS"
}

gate() {
  local rc=0
  if [ ! -f "$BASELINE" ]; then
    echo "gate: no baseline ($BASELINE): nothing to compare with; the default branch's next green run stores one" \
      | tee "$CI_OUT/gate.txt"
    echo 0 > "$CI_OUT/gate.rc"
    return 0
  fi
  "$TRT_HARNESS" gate "$BASELINE" "$RESULTS" --json "$CI_OUT/gate.json" > "$CI_OUT/gate.txt" || rc=$?
  cat "$CI_OUT/gate.txt"
  echo "$rc" > "$CI_OUT/gate.rc"
  return "$rc"
}

report() {
  local args=()
  [ -f "$BASELINE" ] && args=(--baseline "$BASELINE")
  "$TRT_HARNESS" report "$RESULTS" ${args[@]+"${args[@]}"} -o "$CI_OUT/report/index.html" \
    --title "tvm-trt-harness ${GITHUB_SHA:-${CI_COMMIT_SHA:-}}"
}

baseline() {
  local n k
  n=$(shard_count)
  for ((k = 1; k <= n; k++)); do
    [ "$(cat "$SHARDS/shard-$k-of-$n.rc" 2>/dev/null)" = 0 ] \
      || { echo "baseline not stored: shard $k of $n did not pass (exit $(cat "$SHARDS/shard-$k-of-$n.rc" 2>/dev/null || echo '?'))" >&2; return 1; }
  done
  [ "$(cat "$CI_OUT/gate.rc" 2>/dev/null)" = 0 ] || { echo "baseline not stored: the gate did not pass" >&2; return 1; }
  mkdir -p "$CI_OUT/new-baseline"
  cp "$RESULTS" "$CI_OUT/new-baseline/results.jsonl"
  echo "baseline: $CI_OUT/new-baseline/results.jsonl"
}

step=${1:-}
case "$step" in
  install | shard | merge | gate | report | baseline) shift; "$step" "$@" ;;
  *) die "unknown step '${step}'; steps: install, shard K N, merge, gate, report, baseline" ;;
esac
