#!/usr/bin/env bash
# backup --recipient CERT: a recovery certificate made with the openssl
# CLI (RSA, then EC P-256); restore needs its private key.  The archive is
# standard CMS AuthEnvelopedData (AES-256-GCM; RSA-OAEP / ECDH key
# transport) that `openssl cms -decrypt` opens too.  A wrong key and a
# damaged archive are refused (exit 3) with nothing written; the wrong
# kind of secret is a usage error.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 key pubkey fw --out "$T/fw.pub.pem"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -out "$T/rsa.crt" -subj /CN=signet-recovery \
  -days 3650 2>/dev/null || fail "openssl could not make the RSA recovery certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ec.key" -out "$T/ec.crt" \
  -subj /CN=signet-recovery-ec -days 3650 2>/dev/null || fail "openssl could not make the EC recovery certificate"

sig 0 backup "$T/rsa.sbk" --recipient "$T/rsa.crt"
has "$T/out" "CMS AuthEnvelopedData, AES-256-GCM"
has "$S/audit.log" '"encryption":"cms-authenveloped-aes-256-gcm"'

# An independent peer opens it: the payload starts with the store magic.
tail -c +11 "$T/rsa.sbk" | openssl cms -decrypt -inform DER -recip "$T/rsa.crt" -inkey "$T/rsa.key" -binary \
  -out "$T/payload" 2>"$T/cms.err" || { cat "$T/cms.err"; fail "openssl cms cannot open the archive"; }
eq "$(head -c 8 "$T/payload")" SGTSTORE "payload magic"
tail -c +11 "$T/rsa.sbk" | openssl cms -cmsout -print -inform DER >"$T/cms.txt"
has "$T/cms.txt" "id-smime-ct-authEnvelopedData"
has "$T/cms.txt" "aes-256-gcm"
has "$T/cms.txt" "rsaesOaep"

sig 0 restore "$T/rsa.sbk" --store "$T/r1" --recipient-key "$T/rsa.key"
printf 'image\n' >"$T/img"
sig 0 --store "$T/r1" sign "$T/img" --key fw
base64 -d "$T/img.sig" >"$T/img.der"
openssl dgst -sha256 -verify "$T/fw.pub.pem" -signature "$T/img.der" "$T/img" >/dev/null ||
  fail "signature from the restored store does not verify with the original key"

sig 0 backup "$T/ec.sbk" --recipient "$T/ec.crt"
tail -c +11 "$T/ec.sbk" | openssl cms -cmsout -print -inform DER >"$T/cms.txt"
has "$T/cms.txt" "dhSinglePass-stdDH-sha256kdf-scheme"
sig 0 restore "$T/ec.sbk" --check --recipient-key "$T/ec.key"
has "$T/out" "^  key fw +ok"

# An encrypted recovery key is opened with --passphrase-file.
printf 'recovery key passphrase\n' >"$T/kpass"
openssl pkey -in "$T/rsa.key" -aes-256-cbc -passout file:"$T/kpass" -out "$T/rsa-enc.key"
sig 0 restore "$T/rsa.sbk" --store "$T/r2" --recipient-key "$T/rsa-enc.key" --passphrase-file "$T/kpass"
sig 3 restore "$T/rsa.sbk" --store "$T/r3" --recipient-key "$T/rsa-enc.key"
has "$T/err" "cannot read private key '$T/rsa-enc.key'"
[ ! -e "$T/r3" ] || fail "written without the key"

# The wrong recovery key, a damaged archive: exit 3, nothing written.
sig 3 restore "$T/rsa.sbk" --store "$T/r3" --recipient-key "$T/ec.key"
one_line_error
has "$T/err" "the recipient key does not open it, or the archive is damaged"
size=$(stat -c %s "$T/rsa.sbk")
for off in 300 $((size / 2)) $((size - 1)); do
  cp "$T/rsa.sbk" "$T/flip.sbk"
  orig=$(xxd -s "$off" -l 1 -p "$T/rsa.sbk")
  printf '%02x' $(( 0x$orig ^ 0x01 )) | xxd -r -p | dd of="$T/flip.sbk" bs=1 seek="$off" conv=notrunc status=none
  sig 3 restore "$T/flip.sbk" --store "$T/r3" --recipient-key "$T/rsa.key"
  one_line_error
  has "$T/err" "damaged"
done
head -c $((size - 20)) "$T/rsa.sbk" >"$T/short.sbk"
sig 3 restore "$T/short.sbk" --store "$T/r3" --recipient-key "$T/rsa.key"
has "$T/err" "damaged"
[ ! -e "$T/r3" ] || fail "a refused restore wrote the store"
ls -a "$T" | grep -q '\.r3\.restore' && fail "temporary left behind"

# Plain CMS EnvelopedData has no integrity tag: refused even though the key opens it.
{ printf 'SIGNETBK\001\002'; openssl cms -encrypt -aes-256-cbc -binary -in "$T/payload" -outform DER "$T/rsa.crt"; } >"$T/cbc.sbk"
sig 3 restore "$T/cbc.sbk" --store "$T/r3" --recipient-key "$T/rsa.key"
has "$T/err" "not CMS AuthEnvelopedData"

# A certificate of a key in custody cannot be a recipient: that key never decrypts.
sig 0 cert issue fw
sig 3 backup "$T/self.sbk" --recipient "$S/certs/fw/current.pem"
one_line_error
has "$T/err" "recipient '$S/certs/fw/current.pem' is key 'fw' in custody, which can never decrypt"
[ ! -e "$T/self.sbk" ] || fail "archive sealed to a custody key written"

# The wrong kind of secret for the archive is a usage error.
printf 'correct horse battery staple\n' >"$T/pass"
sig 2 restore "$T/rsa.sbk" --store "$T/r3" --passphrase-file "$T/pass"
has "$T/err" "restore it with --recipient-key"
sig 0 backup "$T/p.sbk" --passphrase-file "$T/pass" --scrypt-n 15
sig 2 restore "$T/p.sbk" --store "$T/r3" --recipient-key "$T/rsa.key"
has "$T/err" "restore it with --passphrase-file or --passphrase-fd"
[ ! -e "$T/r3" ] || fail "written by a refused restore"
exit 0
