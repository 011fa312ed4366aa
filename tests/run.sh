#!/usr/bin/env bash
# Runs every test: the cmocka unit tests in $BUILD/unit, then every
# tests/cli/t*.sh (each against its own fresh SoftHSM2 token).  Ends with
# one line "N passed, N failed".  Exit 0 only when nothing failed.
#   tests/run.sh [PATTERN]   runs only CLI tests whose name contains PATTERN
#
# Other days: every CLI test that judges validity (issues, reissues, lints,
# renews, reports fleets or pins SIGNET_NOW) runs a second and a third time
# under libfaketime, 400 days from now and on 2038-02-01 (past the 32-bit
# time_t limit), so a test that passes only on the day it was written fails
# now, not when the calendar reaches it.  SIGNET_DATES=0 skips those runs;
# SIGNET_DATES=only runs nothing else.  NO_FAKE_STAT=1 keeps file times real.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0 fail=0 failed_names=()
pattern=${1:-}

if [ -z "$pattern" ] && [ "${SIGNET_DATES:-1}" != only ] && [ "${SIGNET_CAMPAIGNS:-0}" != only ]; then
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

# run_cli LABEL-PREFIX TEST...: runs each CLI test (under "${wrap[@]}"), counting into pass/fail.
wrap=(env)
run_cli() {
  local prefix=$1 t name log start rc secs; shift
  for t in "$@"; do
    name=$prefix$(basename "$t" .sh)
    log=$(mktemp)
    start=$(date +%s)
    "${wrap[@]}" bash "$t" >"$log" 2>&1; rc=$?
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
}

# The long fault campaigns (kills and I/O errors at every syscall of a
# command) run apart, in `make check-campaigns`, which CI runs too: they
# are most of the suite's time.  SIGNET_CAMPAIGNS=only runs just them,
# =1 runs them with the rest; a PATTERN runs whatever it names.
campaigns=" t1090-interrupt-campaign t1093-interrupt-import t1094-interrupt-custody t1096-interrupt-backup t1097-io-errors t1098-interrupt-ota-update t1101-io-errors-more t9525-db-interrupt-campaign t9555-db-backup-interrupt "
with_campaigns=${SIGNET_CAMPAIGNS:-0}
tests=()
for t in tests/cli/t[0-9]*.sh; do
  name=$(basename "$t" .sh)
  if [ -n "$pattern" ]; then
    [[ "$name" != *"$pattern"* ]] && continue
  elif [[ "$campaigns" == *" $name "* ]]; then
    [ "$with_campaigns" = 0 ] && continue
  else
    [ "$with_campaigns" = only ] && continue
  fi
  tests+=("$t")
done
dates=${SIGNET_DATES:-1}
[ "$with_campaigns" = only ] && dates=0
[ "$dates" = only ] || run_cli "" "${tests[@]}"

if [ "$dates" != 0 ]; then
  # What judges validity; the interruption and I/O-error campaigns test faults, not days, and are long.
  dated=()
  for t in "${tests[@]}"; do
    # the database-store tests (t95xx-db-*) test storage across hosts, not days: the file-store tests judge dates
    # t2022 sets the clock itself (faketime relative to the real one): under another day it judges nothing new
    case "$t" in *interrupt*|*t4050-sign-batch*|*t1097-io-errors*|*t95[0-9][0-9]-db-*|*t2022-cert-clock-behind*) continue ;; esac
    grep -qE 'cert (issue|reissue|import|lint|show|list)|renew|fleet (report|check)|check-expiry|SIGNET_NOW|ota-update|ota-json|rotate status' "$t" &&
      dated+=("$t")
  done
  # libfaketime is an LD_PRELOAD, and ASan's runtime must come first: a sanitizer build runs on today only.
  if [ -n "${SANITIZE:-}" ] && [ "${#dated[@]}" -gt 0 ]; then
    echo "# the ${#dated[@]} runs on other dates are skipped under SANITIZE=$SANITIZE (libfaketime's preload and the sanitizer runtime cannot both come first); run them in a plain build"
    dated=()
  fi
  if [ "${#dated[@]}" -gt 0 ]; then
    command -v faketime >/dev/null || { echo "tests/run.sh: faketime is not installed (apt-get install faketime)" >&2; exit 2; }
    # The faketime wrapper names its semaphore and shared memory by its pid and removes them at exit; one
    # killed (a test run stopped) leaves them, and a later wrapper given that pid fails ("sem_open: File
    # exists").  Those of processes that are gone are removed.
    for f in /dev/shm/faketime_shm_* /dev/shm/sem.faketime_sem_*; do
      [ -O "$f" ] && ! kill -0 "${f##*_}" 2>/dev/null && rm -f "$f"
    done
    for clock in '+400d' '@2038-02-01 00:00:00'; do
      wrap=(env NO_FAKE_STAT=1 faketime -f "$clock")
      label=${clock#@}
      run_cli "[${label% *}] " "${dated[@]}"
    done
    wrap=(env)
  fi
fi

if [ "${#failed_names[@]}" -gt 0 ]; then
  echo "failed: ${failed_names[*]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
