#!/usr/bin/env bash
# fleet build add: reads what the artefact bakes in with the extract reader
# (a header, a binary image), records fleets/<fleet>/<version>.yaml
# atomically with the artefact's SHA-256 and each trusted SPKI with its
# certificate's subject, serial and validity, appends an audit record, and
# warns about a key not in custody.  Refusals change nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
fleet_fixtures
records=$(wc -l <"$S/audit.log")

sig 0 fleet build add gen2 1.4.2 "$T/fw.bin" --devices 120000
has "$T/out" "^recorded build 1\.4\.2 of fleet gen2 \($S/fleets/gen2/1\.4\.2\.yaml\)$"
has "$T/out" "^  trusts $FW_SPKI held by key 'fw'$"
rec="$S/fleets/gen2/1.4.2.yaml"
eq "$(yaml_get "$rec" artefact_sha256)" "$(sha256sum "$T/fw.bin" | cut -d' ' -f1)" "artefact SHA-256"
eq "$(yaml_get "$rec" artefact)" "$T/fw.bin" "artefact path"
has "$rec" "^devices: 120000$"
has "$rec" "^  - spki_sha256: \"$FW_SPKI\"$"
has "$rec" "^    serial: \"$(openssl x509 -in "$S/certs/fw/current.pem" -noout -serial | cut -d= -f2)\"$"
has "$rec" "^    not_after: \"2027-01-01T00:00:00Z\"$"
has "$rec" "^    subject: \"CN=ota-signer\"$"
eq "$(stat -c %a "$rec")" 600 "record mode"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one audit record"
eq "$(tail -1 "$S/audit.log" | jq -r '"\(.op) \(.result) \(.details.fleet) \(.details.version) \(.details.keys[0].custody)"')" \
  "fleet.build.add ok gen2 1.4.2 fw" "audit record"
sig 0 audit verify

# A build baking a key nobody holds is recorded, with a warning: exactly what the report must show.
sig 0 --json fleet build add gen1 0.9.0 "$T/lost.h"
has "$T/err" "^signet: warning: build 0\.9\.0 of fleet gen1 bakes no key in custody: its devices are stranded"
eq "$(jq -r '"\(.stranded) \(.keys[0].spki_sha256) \(.keys[0].custody)"' "$T/out")" "true $LOST_SPKI null" "json"

# Two keys baked in one header: one held, one not.
# (two constants under their own names: one header redefining the same macro bakes only the last)
(cd "$T" && "$SIGNET" header ./lost.pem --format codesigner --out "$T/lost-cs.h" >/dev/null 2>&1) || fail "codesigner header of lost.pem"
cat "$T/fw.h" "$T/lost-cs.h" >"$T/both.h"
sig 0 fleet build add gen3 3.0 "$T/both.h"
has "$T/out" "trusts $LOST_SPKI NOT HELD"
has "$T/err" "also trusts a key that is not in custody"

sig 0 fleet build list
has "$T/out" "^gen1 +0\.9\.0 +0 +spki:${LOST_SPKI:0:12} +NOT HELD +[0-9]{4}-[0-9]{2}-[0-9]{2} +recorded$"
has "$T/out" "^gen2 +1\.4\.2 +120000 +fw +held +2027-01-01 +recorded$"
sig 0 --json fleet build list gen3
eq "$(jq -r '[.[] | .custody // "none"] | join(",")' "$T/out")" "fw,none" "gen3 keys"
SIGNET_NOW=2026-06-01T00:00:00Z sig 1 fleet check gen1
has "$T/out" "^gen1 0\.9\.0 spki:${LOST_SPKI:0:12}: stranded"
SIGNET_NOW=2026-06-01T00:00:00Z sig 0 fleet check gen2 gen3

# A TLS root and the device's own TLS certificate baked beside the update key (as FreeRTOS demos bake
# democonfigROOT_CA_PEM and keyCLIENT_CERTIFICATE_PEM): still keys the build is taken to trust (signet
# cannot know which constant the OTA code verifies with), each said for what it is, and recorded so.
pem_c() { printf 'static const char %s[] =\n' "$1"; sed 's/.*/    "&\\n"/' "$2"; echo ';'; }
spki_of() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" -subj "/CN=Example Root CA" \
  -days 3650 -addext basicConstraints=critical,CA:TRUE -out "$T/ca.pem" >/dev/null 2>&1 || fail "root CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/dev.key" -subj "/CN=device-0001" \
  -days 3650 -addext basicConstraints=CA:FALSE -addext extendedKeyUsage=clientAuth -out "$T/dev.pem" >/dev/null 2>&1 ||
  fail "device certificate"
{ cat "$T/fw.h"; pem_c root_ca "$T/ca.pem"; pem_c device_cert "$T/dev.pem"; } >"$T/tls.h"
sig 0 fleet build add gen4 4.0 "$T/tls.h"
has "$T/out" "^  trusts $FW_SPKI held by key 'fw'$"
has "$T/out" "^  trusts $(spki_of "$T/ca.pem") NOT HELD \('CN=Example Root CA': a CA certificate, without the code-signing usage\)$"
has "$T/out" "^  trusts $(spki_of "$T/dev.pem") NOT HELD \('CN=device-0001': a certificate for other uses, without the code-signing usage\)$"
has "$S/fleets/gen4/4.0.yaml" '^    usage: "a CA certificate"$'
has "$S/fleets/gen4/4.0.yaml" '^    usage: "a certificate for other uses"$'
eq "$(tail -1 "$S/audit.log" | jq -r '[.details.keys[] | .usage // "-"] | join(",")')" \
  "-,a CA certificate,a certificate for other uses" "usages on record"
SIGNET_NOW=2026-06-01T00:00:00Z sig 0 --json fleet report
ca=$(spki_of "$T/ca.pem")
eq "$(jq -r --arg k "${ca:0:16}" '.rows[] | select(.fleet == "gen4") | .sentence | select(contains($k))' "$T/out")" \
  "key ${ca:0:16}... ('CN=Example Root CA': a CA certificate, without the code-signing usage) is not in custody, but these devices also trust 'fw', which is in custody" \
  "the report's sentence on the root CA baked beside fw"
# A record that says anything else there is refused where it is read, in one line.
cp "$S/fleets/gen4/4.0.yaml" "$T/gen4.keep"
sed -i 's/usage: "a CA certificate"/usage: "my own words"/' "$S/fleets/gen4/4.0.yaml"
sig 3 fleet build list gen4
one_line_error
has "$T/err" "4\.0\.yaml:[0-9]+: field 'usage'"
cp "$T/gen4.keep" "$S/fleets/gen4/4.0.yaml"
sig 0 fleet build list gen4

# Refusals leave the store as it was.
before=$(snapshot)
sig 3 fleet build add gen2 1.4.2 "$T/fw.h"
one_line_error
has "$T/err" "1\.4\.2\.yaml"
head -c 10000 /dev/urandom >"$T/blank.bin"
sig 3 fleet build add gen2 1.5.0 "$T/blank.bin"
one_line_error
has "$T/err" "artefact '$T/blank.bin' bakes in no certificate or public key"
sig 3 fleet build add gen2 1.5.0 "$T/nonexistent.bin"
one_line_error
sig 2 fleet build add ../etc 1.0 "$T/fw.h"
sig 2 fleet build add gen2 1/0 "$T/fw.h"
sig 2 fleet build add gen2 1.0
sig 2 fleet build add gen2 1.0 "$T/fw.h" --devices many
eq "$(snapshot)" "$before" "store changed by a refused build add"
[ ! -e "$S/fleets/gen2/1.5.0.yaml" ] || fail "record written for an artefact without keys"
