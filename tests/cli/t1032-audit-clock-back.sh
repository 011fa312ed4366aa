#!/usr/bin/env bash
# A clock that goes backwards: records a host wrote with its clock set back
# keep the chain whole, but their dates are out of order.  audit verify
# says so in one warning (and in --json), instead of accepting record times
# that go back a year without a word; a few seconds of slack are allowed.
. "$(dirname "$0")/../lib.sh"
command -v faketime >/dev/null || fail "faketime is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 audit verify
hasnt "$T/err" "warning"
sig 0 --json audit verify
eq "$(jq -r '.records_dated_back, .first_record_dated_back' "$T/out" | tr '\n' ' ')" "0 null " "no record dated back"

# The host's clock stepped back 400 days for one command.
run 0 env NO_FAKE_STAT=1 faketime -f '-400d' "$SIGNET" key generate k2
n=$(wc -l <"$S/audit.log")
sig 0 audit verify
has "$T/out" "^audit log intact: $n records"
has "$T/err" "^signet: warning: record $n of '.*audit.log' is dated before the record ahead of it \(1 record goes back in time, by up to (399d 23h5[0-9]m|400d 00h0[0-9]m)\): the clock of the host that wrote it went backwards"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "one warning line"
sig 0 --json audit verify
eq "$(jq -r '.intact, .records_dated_back, .first_record_dated_back' "$T/out" | tr '\n' ' ')" "true 1 $n " "json says which record"

# Back on time, the next record is later again: still one record out of order, the first one.
sig 0 key generate k3
sig 0 audit verify
has "$T/err" "record $n of .* \(1 record goes back in time"
