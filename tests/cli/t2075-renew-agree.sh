#!/usr/bin/env bash
# Issue 17 item 2: one rule decides whether a certificate is due, and every
# command agrees with renew.  Four keys under aws-freertos-esp32 (30-day
# window, 365-day certificates), judged on 2026-09-23: 'soon' has 20 days
# left, 'later' 100 days of 365, 'gone' expired, 'short' a fresh 20-day
# certificate (a third of its life is its window, so renew leaves it
# alone: nothing else may advise renew for it).  renew --check, --dry-run,
# renew, cert list/show/lint and fleet check (one fleet baking each key's
# certificate) must name the same certificates, before and after renew.
# A certificate that is expired or not yet valid is never made current.
# One an outside CA issued is due like any other, but renew cannot reissue
# it: every command says so and names cert csr/import instead.
. "$(dirname "$0")/../lib.sh"
new_store
for k in soon later gone short; do sig 0 key generate $k; done
SIGNET_NOW=2025-10-13T00:00:00Z sig 0 cert issue soon     # ends 2026-10-13
SIGNET_NOW=2026-01-01T00:00:00Z sig 0 cert issue later    # ends 2027-01-01
SIGNET_NOW=2025-01-01T00:00:00Z sig 0 cert issue gone     # ended 2026-01-01
export SIGNET_NOW=2026-09-23T00:00:00Z                    # the whole scenario, from here
sig 0 cert issue short --days 20                          # ends 2026-10-13, like soon
cat >"$S/fleets.yaml" <<YAML
fleets:
YAML
for k in soon later gone short; do
  sig 0 header $k --out "$T/$k.h"
  printf '  - name: f-%s\n    builds: [ { version: "1", artefact: %s, devices: 10 } ]\n' $k "$T/$k.h" >>"$S/fleets.yaml"
done

# agree WANT: every command names exactly the keys in WANT (sorted, comma-joined) as due.
agree() {
  local want=$1 k
  sig "$([ -n "$want" ] && echo 1 || echo 0)" --json renew --check
  eq "$(jq -r '[.due[].label] | sort | join(",")' "$T/out")" "$want" "renew --check"
  sig 0 --json cert list
  eq "$(jq -r '[.certificates[] | select(.renew_due) | .label] | sort | join(",")' "$T/out")" "$want" "cert list"
  eq "$(jq -r '[.certificates[] | select(.renew_due and (.current | not))] | length' "$T/out")" 0 "a non-current certificate said due"
  local shown="" linted="" rc
  for k in gone later short soon; do
    sig 0 --json cert show $k
    [ "$(jq -r .renew_due "$T/out")" = true ] && shown="$shown,$k"
    sig 0 cert show $k
    if [[ ",$want," == *",$k,"* ]]; then
      has "$T/out" "^  renewal: +due since [0-9-]+ \(.*\): 'signet renew' reissues it$"
    else
      has "$T/out" "^  renewal: +due on [0-9-]+ \(.*\); 'signet renew' leaves it alone until then$"
    fi
    "$SIGNET" cert lint $k >"$T/out" 2>"$T/err"; rc=$?
    [ $rc -le 1 ] || fail "cert lint $k: exit $rc"
    if grep -Eq "(expires-soon|expired): .*run 'signet renew'" "$T/out"; then linted="$linted,$k"; fi
  done
  eq "${shown#,}" "$want" "cert show"
  eq "${linted#,}" "$want" "cert lint"
  sig "$([ -n "$want" ] && echo 1 || echo 0)" --json fleet check
  eq "$(jq -r '[.findings[] | select(.action == "renew") | .key] | sort | join(",")' "$T/out")" "$want" "fleet check"
  eq "$(jq -r '[.findings[] | select(.command | test("signet renew"))] | length' "$T/out")" \
    "$(jq -r '[.findings[] | select(.action == "renew")] | length' "$T/out")" "fleet advises renew only for renew's certificates"
}

agree gone,soon
# The words, once: when each fell due and why.
sig 1 renew --check
has "$T/out" "^soon: certificate [0-9A-F]+ expires on 2026-10-13T00:00:00Z \(20 days\), due for renewal since 2026-09-13 \(policy aws-freertos-esp32's 30-day renewal window\)$"
has "$T/out" "^gone: certificate [0-9A-F]+ expired on 2026-01-01T00:00:00Z"
hasnt "$T/out" "^(short|later):"
sig 0 cert show short
has "$T/out" "^  renewal: +due on 2026-10-06 \(a third of its 20-day lifetime, which is no longer than the 30-day renewal window\)"
sig 0 cert lint short
hasnt "$T/out" "expires-soon|renew"
sig 0 cert lint soon
has "$T/out" "warning expires-soon: the certificate expires on 2026-10-13, in 20 days, and has been due for renewal since 2026-09-13 \(policy aws-freertos-esp32's 30-day renewal window\): run 'signet renew', which reissues it for the same key$"
sig 1 cert lint gone
has "$T/out" "error expired: .*run 'signet renew', which reissues it for the same key$"
sig 0 fleet check f-later f-short
has "$T/out" "all 2 fleets ok"
sig 0 --json fleet report f-short f-later
eq "$(jq -r '[.rows[] | "\(.fleet):\(.deadline)"] | sort | join(" ")' "$T/out")" \
  "f-later:2026-12-02T00:00:00Z f-short:2026-10-06T08:00:00Z" "renew deadlines are the dates renew acts from"
sig 0 cert list
has "$T/out" "^soon .*  \(current, due for renewal: signet renew\)$"
has "$T/out" "^short .*  \(current\)$"

# Devices that check expiry need a rebuild for soon and short alike, but only soon's
# certificate is renew's to reissue: the rebuild says so.
{ echo "fleets:"; for k in soon short; do
  printf '  - name: x-%s\n    checks_expiry: true\n    builds: [ { version: "1", artefact: %s, devices: 10 } ]\n' $k "$T/$k.h"
done; } >"$T/strict.yaml"
sig 1 --json fleet check --inventory "$T/strict.yaml"
eq "$(jq -r '[.findings[] | "\(.key):\(.action):\(.command)"] | sort | join(" | ")' "$T/out")" \
  "short:rebuild:signet cert reissue short && signet header short --out ota_demo_config_signer.h | soon:rebuild:signet renew && signet header soon --out ota_demo_config_signer.h" \
  "rebuild commands"

# --dry-run names the same and changes nothing.
before=$(snapshot)
sig 0 renew --dry-run
eq "$(grep -c ': would reissue it$' "$T/out")" 2 "dry-run count"
has "$T/out" "^gone: .*would reissue it$"
has "$T/out" "^soon: .*would reissue it$"
eq "$(snapshot)" "$before" "store changed by --dry-run"

sig 0 renew
has "$T/out" "renewed 2 of 2 due certificates"
agree ""
sig 0 renew
has "$T/out" "^nothing to renew: 4 certificates checked, none due for renewal; the first to fall due is 'short', on 2026-10-06$"

# The superseded certificate of soon is a file now, not a current certificate: renew would
# not act on it, so lint names cert reissue.
old=$(ls "$S/certs/soon" | grep -v current | head -1)
[ "$(openssl x509 -in "$S/certs/soon/$old" -noout -enddate)" = "notAfter=Oct 13 00:00:00 2026 GMT" ] ||
  old=$(ls "$S/certs/soon" | grep -v current | tail -1)
cp "$S/certs/soon/$old" "$T/old-soon.pem"
sig 0 cert lint "$T/old-soon.pem"
has "$T/out" "warning expires-soon: .*reissue it with 'signet cert reissue'"
hasnt "$T/out" "run 'signet renew'"
sig 0 cert show "$T/old-soon.pem"
has "$T/out" "^  renewal: +not by 'signet renew'"

# The 20-day certificate, two weeks on: due by a third of its life, and everyone says so.
export SIGNET_NOW=2026-10-07T00:00:00Z
agree short
sig 0 renew
has "$T/out" "^short: reissued, same key"
agree ""

# Never made current: an expired certificate, or one not yet valid (a clock gone wrong).
old_gone=$(for f in "$S"/certs/gone/*.pem; do
  [ "$(basename "$f")" = current.pem ] && continue
  openssl x509 -in "$f" -noout -enddate | grep -q 2026 && echo "$f"; done | head -1)
[ -n "$old_gone" ] || fail "gone's expired certificate not kept"
before=$(snapshot)
sig 1 cert import gone "$old_gone"
one_line_error
has "$T/err" "^signet: the certificate for 'gone' expired on 2026-01-01, so it is not made the current one; nothing written$"
eq "$(snapshot)" "$before" "store changed by a refused import"
SIGNET_NOW=2025-06-01T00:00:00Z sig 1 cert import later "$S/certs/later/current.pem"
one_line_error
has "$T/err" "^signet: the certificate for 'later' is not valid before 2026-01-01, so it is not made the current one; nothing written$"
eq "$(snapshot)" "$before" "store changed by a refused import"
sig 0 audit verify

# A certificate an outside CA issued: due, but renew cannot reissue it (signet does not
# hold the CA's key).  Every command says it is due and what does renew it (cert csr,
# the CA, cert import); none says 'signet renew'.
export SIGNET_NOW=2026-10-07T00:00:00Z
sig 0 key generate ext
sig 0 cert csr ext --out "$T/ext.csr"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
"$TOP/tests/vectors/cert/mkcert.sh" "$T/ca.pem" "$T/ca.key" 20250101000000Z 20350101000000Z sha256 "/CN=Outside CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
mkdir -p "$T/ca"
: >"$T/ca/index.txt"
echo 4A0001 >"$T/ca/serial"
printf '[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\norganizationName = optional\n[ext]\nbasicConstraints = CA:FALSE\nauthorityKeyIdentifier = keyid:always\n' \
  "$T/ca" "$T/ca" "$T/ca" "$T/ca" >"$T/ca/ca.cnf"
run 0 openssl ca -batch -config "$T/ca/ca.cnf" -cert "$T/ca.pem" -keyfile "$T/ca.key" -in "$T/ext.csr" -out "$T/ext.pem" \
  -startdate 20251020000000Z -enddate 20261020000000Z -md sha256 -extensions ext -notext -preserveDN
sig 0 cert import ext "$T/ext.pem"
before=$(snapshot)
sig 1 --json renew --check
eq "$(jq -r '[.due[] | "\(.label):\(.renewable)"] | join(",")' "$T/out")" "ext:false" "renew --check of an outside CA's certificate"
sig 0 renew --dry-run
has "$T/out" "^ext: certificate 4A0001 expires on 2026-10-20T00:00:00Z \(13 days\), due for renewal since 2026-09-20 \(policy aws-freertos-esp32's 30-day renewal window\); its issuer's key is not in custody, so renew cannot reissue it$"
sig 1 renew
one_line_error
has "$T/err" "^signet: the certificate of 'ext' is due, but an outside CA issued it, so renew cannot reissue it$"
has "$T/err" "^hint: make a request with 'signet cert csr ext', have that CA sign it, then 'signet cert import ext FILE'$"
eq "$(snapshot)" "$before" "store changed by a renew that could not act"
sig 0 cert lint ext
has "$T/out" "warning expires-soon: .*its issuer's key is not in custody, so 'signet renew' cannot reissue it: make a request with 'signet cert csr', have that CA sign it, then 'signet cert import'$"
hasnt "$T/out" "run 'signet renew'"
sig 0 cert show ext
has "$T/out" "^  renewal: +due since 2026-09-20 .*so 'signet renew' cannot reissue it"
sig 0 --json cert list ext
eq "$(jq -r '.certificates[] | select(.current) | "\(.renew_due) \(.renew_by_renew)"' "$T/out")" "true false" "cert list of an outside CA's certificate"
sig 0 cert list ext
has "$T/out" "\(current, due for renewal: its CA signs a new one, see cert show\)$"
sig 0 header ext --out "$T/ext.h"
printf 'fleets:\n  - name: f-ext\n    builds: [ { version: "1", artefact: %s, devices: 10 } ]\n' "$T/ext.h" >"$T/ext.yaml"
sig 1 --json fleet check --inventory "$T/ext.yaml"
eq "$(jq -r '[.findings[] | "\(.action):\(.command)"] | join(" ")' "$T/out")" "renew:signet cert csr ext --out ext.csr" "fleet command for an outside CA's certificate"
has "$T/out" "an outside CA issued it, so renew cannot reissue it"
