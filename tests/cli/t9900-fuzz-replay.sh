#!/usr/bin/env bash
# The committed fuzz corpora (tests/fuzz/corpus/<parser>, seeds and every
# crash found so far) replayed through each harness with the plain driver:
# no clang needed; under `make SANITIZE=address,undefined check` the driver
# carries the sanitizers, halting on the first report.
. "$(dirname "$0")/../lib.sh"
n=0
for src in "$TOP"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c) parser=${name#fuzz_}
  bin="$BUILD/fuzz-replay/$name"
  [ -x "$bin" ] || fail "$bin is not built (make check builds it)"
  [ -d "$TOP/tests/fuzz/corpus/$parser" ] || fail "no seed corpus tests/fuzz/corpus/$parser"
  [ "$(ls "$TOP/tests/fuzz/corpus/$parser" | wc -l)" -gt 0 ] || fail "empty corpus tests/fuzz/corpus/$parser"
  out=$(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$bin" "$TOP/tests/fuzz/corpus/$parser" 2>"$T/err") ||
    { cat "$T/err"; fail "$name crashed on its corpus"; }
  grep -q 'inputs replayed' <<<"$out" || fail "$name: no summary"
  grep -q '^==.*ERROR\|runtime error' "$T/err" && { cat "$T/err"; fail "$name: sanitizer report"; }
  n=$((n + 1))
done
[ "$n" -ge 12 ] || fail "only $n harnesses"
echo "replayed $n corpora"
