#!/usr/bin/env bash
# sign --format mcuboot interrupted: SIGKILL injected (strace) at every
# write, rename, link, unlink and fsync the command makes, in turn.  After
# each (and after SIGTERM at random moments), the next command works, `audit verify` passes, no temporary file is
# left, and a signed image that exists has its audit record (the record
# names its SHA-256) and boots (the independent verifier accepts it):
# never a signed image without its record.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
MV="$BUILD/fakes/mcubootverify"
[ -x "$MV" ] || fail "$MV is not built (make check builds it)"
new_store
sig 0 key generate boot
sig 0 key pubkey boot --out "$T/boot.pem"
{ head -c 32 /dev/zero; head -c 3000 /dev/urandom; } >"$T/fw.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
cmd="$SIGNET sign $T/fw.bin --key boot --format mcuboot --version 1.0.0 --pad --slot-size 0x4000 --out $T/od/fw.signed.bin"

check_after() {
  local what=$1 f=$T/od/fw.signed.bin
  campaign_store_whole "$what" "$SIGNET" sign "$T/fw.bin" --key boot --format mcuboot --out "$T/od/next.bin"
  if [ -e "$f" ]; then
    grep -q "\"output_sha256\":\"$(sha256sum "$f" | cut -c1-64)\"" "$S/audit.log" ||
      fail "$what: a signed image without its audit record"
    "$MV" "$f" "$T/boot.pem" >/dev/null || fail "$what: the signed image left behind does not boot"
    signed=$((signed + 1))
  fi
}

kills=0 terms=0 recovered=0 signed=0
campaign_kills "sign --format mcuboot" "$cmd" check_after "write rename link unlink fsync"
[ "$kills" -ge 10 ] || fail "only $kills injection points"
campaign_terms "sign --format mcuboot" "$cmd" check_after 8
note "SIGKILL at $kills syscalls, SIGTERM $terms times; $signed times the signed image was already committed"
echo "campaign: $kills kills, $terms terms, $signed committed"
