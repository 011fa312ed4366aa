#!/usr/bin/env bash
# A slow clock makes no certificate current.  With the host's clock behind
# the newest audit record (by more than five minutes), cert reissue would
# sign a certificate valid from the wrong "now" and make an already
# expired one current.  cert issue, reissue and import refuse (and renew,
# which reissues): exit 1, one line naming both times, a refused record,
# nothing else written.  A clock a minute or two behind is fine.
. "$(dirname "$0")/../lib.sh"
command -v faketime >/dev/null || fail "faketime is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key generate k2
cp "$S/certs/fw/current.pem" "$T/fw.pem"
last=$(last_record time)
now=$(date -u -d "$last" +%s)

# behind ARGS...: signet ARGS with the clock 3 days behind the newest record, refused.
behind() {
  local snap before
  snap=$(snapshot_records)
  before=$(wc -l <"$S/audit.log")
  SIGNET_NOW=$((now - 3 * 86400)) sig 1 "$@"
  one_line_error
  has "$T/err" "^signet: the clock says $(date -u -d @$((now - 3 * 86400)) +%Y-%m-%dT%H:%M:%SZ), earlier than the newest audit record of '$S/audit.log' \($last\): no certificate for '[a-z0-9]+' is issued or made current with a clock that is behind"
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

# The same with the host clock itself behind (libfaketime), not only SIGNET_NOW.
run 1 env NO_FAKE_STAT=1 faketime -f '-2d' "$SIGNET" cert reissue fw
has "$T/err" "earlier than the newest audit record"

# Within the slack (two minutes behind): issued as usual.
SIGNET_NOW=$((now - 120)) sig 0 cert reissue fw
hasnt "$T/err" "clock"
sig 0 audit verify
exit 0
