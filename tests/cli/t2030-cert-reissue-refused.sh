#!/usr/bin/env bash
# Reissue refuses what would break devices or the store: a certificate
# whose key is not in custody (exit 1, the plain consequence, store and
# audit log untouched), input that is not a certificate, a certificate
# from a CA whose key signet does not hold; and a reissue whose audit
# record cannot be written is undone (fail closed).
. "$(dirname "$0")/../lib.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/lost.key" 2>/dev/null
"$MKCERT" "$T/lost.pem" "$T/lost.key" now-400d now-10d sha256 "/CN=ota-signer" \
  "keyUsage = critical,digitalSignature" "extendedKeyUsage = codeSigning"
rm "$T/lost.key"
before=$(snapshot_records)
log_before=$(wc -l <"$S/audit.log")
sig 1 cert reissue "$T/lost.pem"
one_line_error
has "$T/err" "cannot reissue '$T/lost.pem': no key in custody holds its private key"
has "$T/err" "devices that trust this certificate cannot be updated with a new key; see \`signet key import\` if you still have the original private key file"
eq "$(snapshot_records)" "$before" "store changed by a refused reissue"
# The attempt is on record (refused), and only that.
eq "$(wc -l <"$S/audit.log")" "$((log_before + 1))" "audit records after a refused reissue"
eq "$(last_record result)" refused "result of the refused reissue's record"
eq "$(last_record op)" cert.reissue "op of the refused reissue's record"
has "$S/audit.log" "\"result\":\"refused\",\"details\":{\"reason\":\"cannot reissue .*lost.pem"
sig 0 audit verify
sig 1 --json cert reissue "$T/lost.pem"
eq "$(cat "$T/out")" "" "stdout of a refused reissue"

# Not a certificate, missing file, unknown label: exit 3, one line.
echo "hello" >"$T/junk.pem"
sig 3 cert reissue "$T/junk.pem"
one_line_error
has "$T/err" "'$T/junk.pem' is not a certificate"
sig 3 cert reissue "$T/nothere.pem"
one_line_error
has "$T/err" "'$T/nothere.pem' is neither a key in custody nor a certificate file"
sig 3 cert reissue nokey
sig 2 cert reissue
eq "$(snapshot_records)" "$before" "store changed by bad input"

# Key in custody, but its certificate came from a CA signet does not hold.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ext-ca.key" 2>/dev/null
"$MKCERT" "$T/ext-ca.pem" "$T/ext-ca.key" now-10d now+3650d sha256 "/CN=External CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
sig 0 cert csr fw --out "$T/fw.csr"
openssl x509 -req -in "$T/fw.csr" -CA "$T/ext-ca.pem" -CAkey "$T/ext-ca.key" -CAcreateserial -days 100 \
  -copy_extensions copy -out "$T/ext.pem" 2>/dev/null
sig 0 cert import fw "$T/ext.pem"
before=$(snapshot_records)
sig 1 cert reissue fw
one_line_error
has "$T/err" "was issued by 'CN=External CA', whose key is not in custody"
has "$T/err" "hint: make a request with 'signet cert csr fw'"
eq "$(snapshot_records)" "$before" "store changed by a refused CA reissue"
eq "$(last_record result)" refused "result of the refused CA reissue's record"

# Fail closed: the audit record cannot be written, so no certificate is kept.
sig 0 cert issue fw
cur=$(cat "$S/certs/fw/current.pem")
n=$(ls "$S/certs/fw" | wc -l)
cp "$S/audit.head" "$T/head"
rm "$S/audit.head" && mkdir "$S/audit.head"
sig 3 cert reissue fw
one_line_error
has "$T/err" "audit"
has "$T/err" "was not kept"
eq "$(ls "$S/certs/fw" | wc -l)" "$n" "certificate files after a failed audit"
eq "$(cat "$S/certs/fw/current.pem")" "$cur" "current.pem after a failed audit"
sig 3 cert issue fw
eq "$(ls "$S/certs/fw" | wc -l)" "$n" "certificate files after a failed audit (issue)"
rmdir "$S/audit.head" && cp "$T/head" "$S/audit.head"
sig 0 audit verify
