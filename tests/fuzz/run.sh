#!/usr/bin/env bash
# Runs libFuzzer harnesses (built by `make fuzz-build` into build/fuzz/) for
# FUZZ_SECONDS each, FUZZ_JOBS at a time, halting on the first ASan or UBSan
# report.  Seeds: tests/fuzz/corpus/<parser>; new inputs: build/fuzz/corpus/<parser>;
# crashes: build/fuzz/crash/; logs: build/fuzz/log/.  Prints executions per target
# and exits 1 when anything crashed.
#   tests/fuzz/run.sh fuzz_yaml fuzz_policy ...
set -u
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
mkdir -p build/fuzz/log build/fuzz/crash

one() {
  local name=$1 parser=${1#fuzz_}
  mkdir -p "build/fuzz/corpus/$parser" "tests/fuzz/corpus/$parser"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "build/fuzz/$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -rss_limit_mb=2048 \
    -timeout=20 -artifact_prefix="build/fuzz/crash/$name-" \
    "build/fuzz/corpus/$parser" "tests/fuzz/corpus/$parser" >"build/fuzz/log/$name.log" 2>&1
  local rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/log/$name.log" | tail -1)
  echo "$name: ${execs:-?} executions in ${FUZZ_SECONDS}s, exit $rc"
}
export -f one
export FUZZ_SECONDS
printf '%s\n' "$@" | xargs -P "$FUZZ_JOBS" -I{} bash -c 'one {}'
if ls build/fuzz/crash/* >/dev/null 2>&1; then
  echo "crashes (reproduce with build/fuzz/<name> FILE):"; ls -1 build/fuzz/crash
  exit 1
fi
