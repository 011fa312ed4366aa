#!/usr/bin/env bash
# Issue 12 item 7: renew goes on past a certificate it cannot read; cert
# show of an unknown label says so; an encrypted key file without a
# terminal fails once, clearly; a key record that disagrees with the
# token's key is refused; a missing module is said without a CKR code; an
# audit log that cannot take the record costs one error line, not two.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 key generate k2
sig 0 cert issue fw --subject CN=fw
sig 0 cert issue k2 --subject CN=k2
echo firmware >"$T/fw.bin"

# renew: fw's current certificate is garbage, k2's is due: k2 is still reported.
# "Later" is five years after today (whatever today is), past the certificates' year.
later=$(date -u -d '+5 years' +%Y-%m-%dT00:00:00Z)
cp "$S/certs/fw/current.pem" "$T/fw-current.pem"
echo garbage >"$S/certs/fw/current.pem"
SIGNET_NOW=$later sig 3 renew --dry-run
has "$T/out" "^k2: certificate [0-9A-F]+ expired on .*: would reissue it$"
has "$T/out" "^1 certificate could not be read \(see the errors above\)$"
one_line_error
has "$T/err" "fw"
cp "$T/fw-current.pem" "$S/certs/fw/current.pem"
SIGNET_NOW=$later sig 1 renew --check

# cert show of a label nobody has: unknown label, not "cannot read".
sig 3 cert show nosuch
one_line_error
has "$T/err" "^signet: unknown label 'nosuch': no key of that name in custody and no such file$"

# An encrypted key file and no terminal: one clear line, no prompt.
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -aes256 -passout pass:secret -out "$T/enc.pem"
chmod 600 "$T/enc.pem"
run 3 setsid "$SIGNET" key import legacy --private-key "$T/enc.pem" </dev/null
one_line_error
has "$T/err" "^signet: '$T/enc\.pem' is an encrypted private key and there is no terminal to ask for its passphrase$"
hasnt "$T/err" "pass phrase"
hasnt "$T/out" "pass phrase"

# A key record that disagrees with the token's key is refused, naming both.
sig 0 key generate bare
cp "$S/keys/bare.yaml" "$T/bare.yaml"
sed -i 's/^algorithm: .*/algorithm: "ecdsa-p384"/' "$S/keys/bare.yaml"
sig 3 sign --key bare "$T/fw.bin" --out "$T/fw.sig"
one_line_error
has "$T/err" "^signet: key record 'bare' does not match token 'signet': the record says ecdsa-p384, the token's key with id [0-9a-f]+ is ecdsa-p256$"
cp "$T/bare.yaml" "$S/keys/bare.yaml"
sed -i 's/^spki_sha256: "./spki_sha256: "X/' "$S/keys/bare.yaml"
sig 3 sign --key bare "$T/fw.bin" --out "$T/fw.sig"
one_line_error
has "$T/err" "^signet: key record 'bare' does not match token 'signet': the record says spki:X[0-9a-f]{11}, the token's key with id [0-9a-f]+ is spki:[0-9a-f]{12}$"
[ ! -e "$T/fw.sig" ] || fail "signed with a key its record does not describe"
cp "$T/bare.yaml" "$S/keys/bare.yaml"
sig 0 sign --key bare "$T/fw.bin" --out "$T/fw.sig"

# The audit log cannot take the record: one line saying what did not happen and why.
cp "$S/audit.log" "$T/audit.log"
echo '{"not":"chained"}' >>"$S/audit.log"
sig 3 sign --key fw "$T/fw.bin" --out "$T/fw2.sig"
one_line_error
has "$T/err" "^signet: 1 image not signed \(no audit record\): audit log '$S/audit\.log'"
[ ! -e "$T/fw2.sig" ] || fail "signature published without its audit record"
cp "$T/audit.log" "$S/audit.log"

# A missing module: said plainly, no CKR code.
cp "$S/signet.yaml" "$T/signet.yaml"
sed -i "s|$SOFTHSM_MODULE|/nonexistent/libnope.so|" "$S/signet.yaml"
sig 4 sign --key fw "$T/fw.bin" --out "$T/fw3.sig"
one_line_error
has "$T/err" "^signet: cannot load PKCS#11 module '/nonexistent/libnope\.so': .*No such file or directory$"
hasnt "$T/err" "CKR_"
cp "$T/signet.yaml" "$S/signet.yaml"
echo "small edges ok"
