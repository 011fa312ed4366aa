#!/usr/bin/env bash
# key list / key show print each key's RFC 7512 URI, built from what the
# token reports, and other tools take it as is: GnuTLS p11tool finds the one
# private key it names, OpenSSL's pkcs11 engine signs with it, signet's own
# --key accepts it.  URI query attributes signet does not honour (pin-value,
# pin-source, module-path, module-name) are refused with exit 2 and one line,
# never ignored, and the PIN never echoed.
. "$(dirname "$0")/../lib.sh"
[ -x /usr/bin/p11tool ] || fail "p11tool missing (Debian package gnutls-bin)"
ENGINE=$(find /usr/lib -path '*engines-3/pkcs11.so' 2>/dev/null | head -1)
[ -n "$ENGINE" ] || fail "OpenSSL pkcs11 engine missing (Debian package libengine-pkcs11-openssl)"
new_store
peer_env
sig 0 key generate fw
sig 0 key generate legacy --alg rsa-2048 --policy codesign-generic
id=$(yaml_get "$S/keys/fw.yaml" id)
serial=$(pkcs11-tool --module "$SOFTHSM_MODULE" -L 2>/dev/null | sed -n 's/.*serial num *: *\([0-9a-f]*\).*/\1/p' | head -1)
[ -n "$serial" ] || fail "no token serial from pkcs11-tool"

sig 0 key show fw
uri=$(sed -n 's/^uri: *//p' "$T/out")
[ -n "$uri" ] || fail "key show prints no uri"
# The token part is the token's own (pkcs11-tool reads the serial), the id
# is the record's, percent-encoded, the type is private.
case "$uri" in pkcs11:*) ;; *) fail "not a PKCS#11 URI: $uri" ;; esac
for part in "token=signet" "serial=$serial" "manufacturer=SoftHSM%20project" "model=SoftHSM%20v2" \
            "object=fw" "type=private" "id=$(echo "$id" | sed 's/../%&/g')"; do
  tr ';' '\n' <<<"${uri#pkcs11:}" | grep -qixF "$part" || fail "URI lacks $part: $uri"
done
sig 0 --json key show fw
eq "$(jq -r .uri "$T/out")" "$uri" "key show --json uri"
sig 0 --json key list
eq "$(jq -r '.keys[] | select(.label == "fw") | .uri' "$T/out")" "$uri" "key list --json uri"
ruri=$(jq -r '.keys[] | select(.label == "legacy") | .uri' "$T/out")
case "$ruri" in *object=legacy*type=private*) ;; *) fail "legacy URI: $ruri" ;; esac
sig 0 key list
has "$T/out" "PKCS#11 URI$"
eq "$(awk '$1 == "fw" {print $NF}' "$T/out")" "$uri" "key list uri column"

# GnuTLS p11tool: the URI names exactly the private key fw (PIN from the environment).
GNUTLS_PIN=$(user_pin); export GNUTLS_PIN
/usr/bin/p11tool --provider "$SOFTHSM_MODULE" --login --list-all "$uri" >"$T/gnutls" 2>&1 || { cat "$T/gnutls"; fail "p11tool"; }
eq "$(grep -c '^Object' "$T/gnutls")" 1 "objects p11tool finds by the URI"
has "$T/gnutls" "Type: Private key \(EC"
has "$T/gnutls" "Label: fw$"
has "$T/gnutls" "ID: $(echo "$id" | sed 's/../&:/g; s/:$//')$"
# ... and p11tool does judge the token part: another serial finds nothing.
/usr/bin/p11tool --provider "$SOFTHSM_MODULE" --login --list-all "${uri/serial=$serial/serial=0000000000000000}" >"$T/gnutls" 2>&1
hasnt "$T/gnutls" "^Object"
unset GNUTLS_PIN

# OpenSSL's pkcs11 engine signs with the key the URI names (PIN in a 0600 config file).
cat >"$T/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $SOFTHSM_MODULE
PIN = $(user_pin)
init = 0
CNF
chmod 600 "$T/openssl.cnf"
head -c 10000 /dev/urandom >"$T/img"
sig 0 key pubkey fw --out "$T/fw.pub"
sig 0 key pubkey legacy --out "$T/legacy.pub"
for k in fw legacy; do
  u=$uri; [ "$k" = legacy ] && u=$ruri
  OPENSSL_CONF="$T/openssl.cnf" openssl dgst -sha256 -engine pkcs11 -keyform engine -sign "$u" -out "$T/$k.sig" "$T/img" \
    >"$T/ossl" 2>&1 || { cat "$T/ossl"; fail "openssl pkcs11 engine cannot sign with $u"; }
  run 0 openssl dgst -sha256 -verify "$T/$k.pub" -signature "$T/$k.sig" "$T/img"
done
# signet's own --key takes it too.
sig 0 sign "$T/img" --key "$uri" --out "$T/img.sig"
has "$T/out" "with key 'fw'"

# Query attributes are refused before the token is touched: exit 2, one
# line naming the attribute, the PIN not echoed, the store as it was.
before=$(snapshot)
for q in "pin-value=9876543210" "pin-source=file:$S/hsm/user.pin" "module-path=$SOFTHSM_MODULE" "module-name=softhsm2"; do
  for cmd in "sign $T/img --key $uri?$q --out $T/q.sig" "key show $uri?$q" "key pubkey pkcs11:object=fw?$q" \
             "key adopt other --uri pkcs11:object=fw?$q"; do
    # shellcheck disable=SC2086
    sig 2 $cmd
    one_line_error
    has "$T/err" "^signet: PKCS#11 URI: query attribute '${q%%=*}' is not honoured by signet; "
    hasnt "$T/err" "9876543210"
  done
done
has "$T/err" "the module is the one in the store's signet.yaml"
sig 2 key show "$uri?pin-value=9876543210"
has "$T/err" "the PIN comes from --pin-file, --pin-fd or the store's pin_source"
[ ! -e "$T/q.sig" ] || fail "signed despite a refused URI"
eq "$(snapshot)" "$before" "store changed by refused URIs"
sig 2 init --store "$T/s2" --module "$SOFTHSM_MODULE" --token "pkcs11:token=signet?module-path=/tmp/evil.so" --pin-file /dev/null
has "$T/err" "query attribute 'module-path'"
[ ! -e "$T/s2" ] || fail "store created for a refused URI"

# A key whose pair is gone from the token gets no URI (one that names
# nothing would be a false statement), with one warning; the others keep theirs.
sig 0 key generate gone
gid=$(yaml_get "$S/keys/gone.yaml" id)
for t in privkey pubkey; do p11tool --login --pin "$(user_pin)" --delete-object --type "$t" --label gone >/dev/null 2>&1 || fail "delete $t"; done
forget_deleted
sig 0 key show gone
hasnt "$T/out" "^uri:"
has "$T/err" "^signet: warning: token 'signet' holds no public key for 'gone' \(id $gid\): no PKCS#11 URI"
sig 0 key list
has "$T/out" "^gone .* -$"
eq "$(awk '$1 == "fw" {print $NF}' "$T/out")" "$uri" "fw's uri beside a vanished key"

# A token signet cannot read leaves the URIs out with one warning; the records are still listed.
sed -i 's/^\(  token: \).*/\1nosuch/' "$S/signet.yaml"
sig 0 key list
has "$T/out" "^fw .* -$"
eq "$(grep -c '^signet: ' "$T/err")" 1 "lines on stderr without the token"
has "$T/err" "^signet: warning: PKCS#11 URIs left out: .*nosuch"
sig 0 --json key list
eq "$(jq -c '[.keys[] | has("uri")] | all' "$T/out")" true "json uri present without the token"
eq "$(jq -r '.keys[0].uri' "$T/out")" null "json uri without the token"
sig 0 --json key show fw
eq "$(jq -c '.uri' "$T/out")" null "key show json uri without the token"
exit 0
