#!/usr/bin/env bash
# A slow clock makes no certificate current.  With the host's clock behind
# the newest audit record (by more than five minutes), cert reissue would
# sign a certificate valid from the wrong "now" and make an already
# expired one current.  cert issue, reissue and import refuse (and renew,
# which reissues): exit 1, one line naming both times, a refused record,
# nothing else written.  A clock a minute or two behind is fine, and so is
# a time set on purpose with SIGNET_NOW (its records keep the real time).
. "$(dirname "$0")/../lib.sh"
command -v faketime >/dev/null || fail "faketime is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key generate k2
cp "$S/certs/fw/current.pem" "$T/fw.pem"
last=$(last_record time)

# behind ARGS...: signet ARGS with the host clock 3 days behind, refused.
behind() {
  local snap before
  snap=$(snapshot_records)
  before=$(wc -l <"$S/audit.log")
  run 1 env NO_FAKE_STAT=1 faketime -f '-3d' "$SIGNET" "$@"
  one_line_error
  has "$T/err" "^signet: the clock says [0-9-]{10}T[0-9:]{8}Z, earlier than the newest audit record of '$S/audit.log' \($last\): no certificate for '[a-z0-9]+' is issued or made current with a clock that is behind"
  said=$(sed -n 's/^signet: the clock says \([^,]*\),.*/\1/p' "$T/err")
  [ $(( $(date -u -d "$last" +%s) - $(date -u -d "$said" +%s) )) -ge $((3 * 86400 - 60)) ] ||
    fail "the clock the refusal names ($said) is not the host's, 3 days behind $last"
  has "$T/err" "^hint: set this host's clock right"
  eq "$(snapshot_records)" "$snap" "store after a refusal with the clock behind ($*)"
  eq "$(wc -l <"$S/audit.log")" $((before + 1)) "records after the refusal ($*)"
  eq "$(last_record result)" refused "the refusal's record ($*)"
}
behind cert reissue fw
eq "$(last_record op)" cert.reissue "op of the refused reissue"
behind cert issue k2
behind cert import fw "$T/fw.pem"
cmp -s "$S/certs/fw/current.pem" "$T/fw.pem" || fail "fw's current certificate changed"

# Within the slack (two minutes behind): issued as usual.
run 0 env NO_FAKE_STAT=1 faketime -f '-120s' "$SIGNET" cert reissue fw
hasnt "$T/err" "clock"
# A time set on purpose is not a slow clock: the real one is compared.
SIGNET_NOW=$(date -u -d "$last - 30 days" +%Y-%m-%dT%H:%M:%SZ) sig 0 cert issue k2
sig 0 audit verify
exit 0
