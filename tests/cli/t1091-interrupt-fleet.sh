#!/usr/bin/env bash
# The interruption campaign of t1090 for `fleet build add`: SIGKILL injected
# (strace) at every write, rename, link, unlink, ftruncate and fsync it
# makes, in turn, and SIGTERM at random moments.  After each interruption
# the next state-changing command succeeds, `audit verify` and `audit
# custody` pass, no temporary file or intent is left, and the build record
# is visible exactly when its audit record is there (never before it), whole.
# Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 40
sig 0 header fw --out "$T/fw.h"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
rec="$S/fleets/gen1/1.0.yaml"
want_sha=$(sha256sum "$T/fw.h" | cut -d' ' -f1)
cmd="$SIGNET fleet build add gen1 1.0 $T/fw.h"
check_after() {
  local what=$1 records
  campaign_store_whole "$what"
  records=$(grep -c '"op":"fleet.build.add"' "$S/audit.log")
  if [ -e "$rec" ]; then
    eq "$records" 1 "$what: build record visible with $records audit records"
    eq "$(yaml_get "$rec" artefact_sha256)" "$want_sha" "$what: build record whole"
  else
    eq "$records" 0 "$what: audit record without its build record"
  fi
  # The build can be recorded (again, or now): once recorded it is refused, else it succeeds.
  if [ -e "$rec" ]; then
    $cmd >/dev/null 2>"$T/again.err" && fail "$what: a recorded build was recorded twice"
    grep -q "already exists" "$T/again.err" || { cat "$T/again.err"; fail "$what: refusal of the second add"; }
  else
    $cmd >/dev/null 2>"$T/again.err" || { cat "$T/again.err"; fail "$what: the add after the interruption failed"; }
    [ -e "$rec" ] || fail "$what: the add after the interruption left no record"
  fi
}

kills=0 terms=0 recovered=0
campaign_kills "fleet build add" "$cmd" check_after
campaign_terms "fleet build add" "$cmd" check_after 12
[ "$kills" -gt 5 ] || fail "only $kills injection points: strace saw too little"
note "SIGKILL at $kills injected syscalls, SIGTERM $terms times; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $terms terms, $recovered recoveries"
