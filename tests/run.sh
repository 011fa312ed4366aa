#!/usr/bin/env bash
# Runs every test: the cmocka unit tests in $BUILD/unit, then every
# tests/cli/t*.sh (each against its own fresh SoftHSM2 token).  Ends with
# one line "N passed, N failed".  Exit 0 only when nothing failed.
#   tests/run.sh [PATTERN]   runs only CLI tests whose name contains PATTERN
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0 fail=0 failed_names=()
pattern=${1:-}

if [ -z "$pattern" ]; then
  for t in "$BUILD"/unit/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
    p=${p:-0} f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)) fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
      failed_names+=("$(basename "$t")")
      printf '%s\n' "$out" | sed 's/^/    /'
      echo "FAIL unit/$(basename "$t") ($p passed, $f failed)"
    else
      echo "ok   unit/$(basename "$t") ($p tests)"
    fi
  done
fi

for t in tests/cli/t[0-9]*.sh; do
  name=$(basename "$t" .sh)
  [ -n "$pattern" ] && [[ "$name" != *"$pattern"* ]] && continue
  log=$(mktemp)
  start=$(date +%s)
  bash "$t" >"$log" 2>&1; rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); echo "ok   $name (${secs}s)"
  else
    fail=$((fail + 1)); failed_names+=("$name")
    sed 's/^/    /' "$log" | tail -40
    echo "FAIL $name (exit $rc)"
  fi
  rm -f "$log"
done

if [ "${#failed_names[@]}" -gt 0 ]; then
  echo "failed: ${failed_names[*]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
