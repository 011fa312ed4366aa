#!/usr/bin/env bash
# cert lint and cert show read certificates where firmware keeps them, as
# header, extract and verify do: a C header in every certificate form, a
# firmware image; a header holding nothing baked is reported, not called
# "malformed" when it is not.  Lint's two new findings: notBefore after
# notAfter (made with `openssl ca -startdate/-enddate`), keyCertSign on a
# leaf.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
cd "$T" || exit 1
for f in ota-pal codesigner der; do
  sig 0 header fw --format $f --out h-$f.h
  sig 0 cert lint h-$f.h
  has "$T/out" "^h-$f.h: certificate at line [0-9]+"
  has "$T/out" "^h-$f.h: 0 errors, 0 warnings"
  hasnt "$T/out" "malformed"
  sig 0 cert show h-$f.h
  has "$T/out" "^certificate h-$f.h, line [0-9]+"
  has "$T/out" "custody: +key 'fw' holds its private key"
done
head -c 3000 /dev/urandom >fw.bin; cat "$S/certs/fw/current.pem" >>fw.bin; printf '\0' >>fw.bin; head -c 99 /dev/urandom >>fw.bin
sig 0 cert show fw.bin
has "$T/out" "^certificate fw.bin, offset 0xbb8"
sig 0 cert lint fw.bin
# Not a certificate at all: the malformed finding, exit 1.
echo "hello" >txt
sig 1 cert lint txt
has "$T/out" "error malformed"
# Only in a comment: read, with a warning saying so.
{ echo "/*"; cat "$S/certs/fw/current.pem"; echo "*/"; } >commented.h
sig 0 cert show commented.h
has "$T/err" "bakes no certificate in; reading the one at line 2, which is in a comment"

# notBefore after notAfter.
mkdir ca && cd ca || exit 1
touch index.txt; echo 01 >serial
cat >ca.cnf <<'CNF'
[ ca ]
default_ca = d
[ d ]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[ p ]
commonName = supplied
[ ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out r.csr -subj /CN=inverted 2>/dev/null
openssl ca -batch -config ca.cnf -selfsign -keyfile k.pem -in r.csr -out inv.pem -startdate 20270101000000Z \
  -enddate 20260601000000Z -extensions ext >/dev/null 2>&1 || fail "openssl ca"
cd .. || exit 1
sig 1 cert lint ca/inv.pem --policy codesign-generic
has "$T/out" "error validity-inverted: the certificate's notBefore \\(2027-01-01\\) is after its notAfter \\(2026-06-01\\)"
# keyCertSign on a leaf.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key -out leaf.pem -subj /CN=leaf -days 30 \
  -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature,keyCertSign" \
  -addext "extendedKeyUsage=codeSigning" 2>/dev/null
sig 1 cert lint leaf.pem --policy codesign-generic
has "$T/out" "error ku-cert-sign-on-leaf"

# reissue takes the old certificate from where devices keep it too, and
# refuses a label that is also a file.
before=$(ls "$S/certs/fw" | wc -l)
sig 0 cert reissue h-ota-pal.h
[ "$(ls "$S/certs/fw" | wc -l)" -eq $((before + 1)) ] || fail "reissue from a header wrote no certificate"
cp "$S/certs/fw/current.pem" fw
sig 2 cert reissue fw
has "$T/err" "both the key 'fw' in custody and the file 'fw'"
sig 0 cert reissue ./fw
sig 0 cert reissue --file fw
