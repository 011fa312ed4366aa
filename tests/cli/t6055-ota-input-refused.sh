#!/usr/bin/env bash
# OTA input a device can use (issue 17, items 10 and 12): sign --ota-update /
# --ota-json refuse, before the token signs and writing nothing, a hash the
# devices cannot verify (FreeRTOS: SHA256 or SHA1; and the key's policy),
# an otaUpdateId (or role ARN, stream id, targets) the AWS service model
# refuses, and a signer certificate that is expired or not yet valid.  The
# independent peer is the AWS CLI's own model (botocore, via
# tests/tools/ota_update_check.py): what signet writes passes it, what
# signet refuses fails it.  And `sign -`: the image from standard input.
. "$(dirname "$0")/../lib.sh"
CHECK=(python3 "$TOP/tests/tools/ota_update_check.py")
export SIGNET_NOW=2026-01-10T00:00:00Z
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 30
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 70000 /dev/urandom >"$T/app.bin"
ARGS=(--ota-id rel-1_4_2 --role-arn arn:aws:iam::123456789012:role/ota --targets arn:aws:iot:eu-west-1:123456789012:thinggroup/gen2 --stream fw-stream-7)
C='.files[0].codeSigning.customCodeSigning'

# nothing_written FILE...: none of the files exists, and no IMAGE.sig beside the image.
nothing_written() { for f in "$@" "$T/app.bin.sig"; do [ ! -e "$f" ] || fail "$f written by a refused sign"; done; }

# refused RC WHAT ARGS...: sign is refused with exit RC and one line matching WHAT; a verdict
# (exit 1) adds one 'refused' audit record and nothing else, a usage error (2) changes nothing.
refused() {
  local rc=$1 what=$2 before records n
  shift 2
  before=$(snapshot); records=$(snapshot_records); n=$(wc -l <"$S/audit.log")
  sig "$rc" sign "$@"
  one_line_error
  has "$T/err" "$what"
  if [ "$rc" = 1 ]; then
    eq "$(snapshot_records)" "$records" "store changed apart from the audit log"
    eq "$(wc -l <"$S/audit.log")" $((n + 1)) "audit records added"
    eq "$(last_record result)" refused "last record"
  else
    eq "$(snapshot)" "$before" "store changed by a usage error"
  fi
}

# A good document first: the service model accepts it.
sig 0 sign "$T/app.bin" --key fw --ota-update "$T/good.json" "${ARGS[@]}"
run 0 "${CHECK[@]}" "$T/good.json"
eq "$(jq -r "$C.hashAlgorithm" "$T/good.json")" SHA256 hashAlgorithm
rm -f "$T/app.bin.sig"

# The hash: SHA384 no FreeRTOS device verifies; SHA1 is not what this policy's devices (ESP32) verify.
refused 1 "sign --ota-update: hashAlgorithm SHA384: FreeRTOS devices verify SHA256 \(ECDSA\) or SHA1" \
  "$T/app.bin" --key fw --hash sha384 --ota-update "$T/x.json" "${ARGS[@]}"
has "$T/err" "nothing signed"
nothing_written "$T/x.json" "$T/x.json.README"
refused 1 "sign --ota-json: hashAlgorithm SHA512" "$T/app.bin" --key fw --hash sha512 --ota-json "$T/x.json"
nothing_written "$T/x.json"
refused 1 "hashAlgorithm SHA1: key 'fw' is under policy 'aws-freertos-esp32', whose devices verify SHA256" \
  "$T/app.bin" --key fw --hash sha1 --ota-update "$T/x.json" "${ARGS[@]}"
nothing_written "$T/x.json"
# TI CC3220 (RSA, SHA1): its policy's hash is what goes into the OTA input, SHA256 is refused for it.
sig 0 key generate ti --alg rsa-2048 --policy aws-freertos-ti-cc3220
sig 0 cert issue ti
sig 0 sign "$T/app.bin" --key ti --out "$T/ti.sig" --ota-update "$T/ti.json" "${ARGS[@]}"
run 0 "${CHECK[@]}" "$T/ti.json"
eq "$(jq -r "$C.hashAlgorithm + \" \" + $C.signatureAlgorithm" "$T/ti.json")" "SHA1 RSA" "cc3220 algorithms"
refused 1 "hashAlgorithm SHA256: key 'ti' is under policy 'aws-freertos-ti-cc3220', whose devices verify SHA1" \
  "$T/app.bin" --key ti --hash sha256 --ota-json "$T/x.json"
nothing_written "$T/x.json"
# The model itself takes any string as hashAlgorithm: the refusal is signet's, from what devices verify.
jq "$C.hashAlgorithm = \"SHA384\"" "$T/good.json" >"$T/h.json"
run 0 "${CHECK[@]}" "$T/h.json"
# A plain signature (no OTA input) may still use another hash.
sig 0 sign "$T/app.bin" --key fw --hash sha384 --out "$T/384.sig"
base64 -d "$T/384.sig" >"$T/384.der"
run 0 openssl dgst -sha384 -verify "$T/fw.pub" -signature "$T/384.der" "$T/app.bin"

# otaUpdateId outside the model's pattern or length: exit 2, nothing touched.  The model refuses the same ids.
long=$(printf 'a%.0s' $(seq 1 129))
for id in 'fw 1.4.2' 'rel-1.4.2' "$long" 'fw/1' ''; do
  refused 2 "--ota-id '.*' is not an otaUpdateId AWS accepts" \
    "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --ota-id "$id"
  jq --arg id "$id" '.otaUpdateId = $id' "$T/good.json" >"$T/id.json"
  run 1 "${CHECK[@]}" "$T/id.json"
  has "$T/out" "otaUpdateId"
done
nothing_written "$T/x.json"
# The longest id the model allows is written, and passes it.
max=${long:1}
sig 0 sign "$T/app.bin" --key fw --out "$T/max.sig" --ota-update "$T/max.json" "${ARGS[@]}" --ota-id "$max"
run 0 "${CHECK[@]}" "$T/max.json"
eq "$(jq -r .otaUpdateId "$T/max.json")" "$max" "128-character otaUpdateId"
# The other fields signet writes there: role ARN length, stream id pattern, at least one target.
refused 2 "--role-arn 'arn:ota' is not a role ARN AWS accepts" "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --role-arn arn:ota
jq '.roleArn = "arn:ota"' "$T/good.json" >"$T/r.json"
run 1 "${CHECK[@]}" "$T/r.json"
refused 2 "--stream 'fw stream' is not a streamId" "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --stream 'fw stream'
refused 2 "--targets names no thing" "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --targets ,
nothing_written "$T/x.json"

# The signer certificate: expired (AWS refuses it) or not yet valid.  Devices ignore expiry, so plain signing goes on.
SIGNET_NOW=2026-03-01T00:00:00Z refused 1 "sign --ota-update: the certificate of key 'fw' \(serial [0-9A-F]+\) expired 2026-02-09" \
  "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}"
has "$T/err" "^hint: 'signet cert reissue fw'"
nothing_written "$T/x.json"
SIGNET_NOW=2026-03-01T00:00:00Z refused 1 "sign --ota-json: the certificate of key 'fw' .* expired" \
  "$T/app.bin" --key fw --ota-json "$T/x.json"
nothing_written "$T/x.json"
SIGNET_NOW=2026-03-01T00:00:00Z sig 0 sign "$T/app.bin" --key fw --out "$T/late.sig"
rm -f "$T/late.sig"
SIGNET_NOW=2026-01-01T00:00:00Z refused 1 "sign --ota-update: the certificate of key 'fw' .* is not valid before 2026-01-10" \
  "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}"
nothing_written "$T/x.json"
# A reissued certificate (same key) makes the OTA input good again.
SIGNET_NOW=2026-03-01T00:00:00Z sig 0 cert reissue fw
SIGNET_NOW=2026-03-01T00:00:00Z sig 0 sign "$T/app.bin" --key fw --ota-update "$T/again.json" "${ARGS[@]}"
run 0 "${CHECK[@]}" "$T/again.json"
rm -f "$T/app.bin.sig"
export SIGNET_NOW=2026-03-01T00:00:00Z

# sign -: the image from standard input, one image, --out required.
run 0 "$SIGNET" sign - --key fw --out "$T/in.sig" <"$T/app.bin"
has "$T/out" "^signed standard input \(SHA-256 $(sha256sum "$T/app.bin" | cut -d' ' -f1)\)"
base64 -d "$T/in.sig" >"$T/in.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/in.der" "$T/app.bin"
eq "$(last_record details.image)" - "record's image"
eq "$(last_record details.image_sha256)" "$(sha256sum "$T/app.bin" | cut -d' ' -f1)" "record's image_sha256"
# From a pipe, signature to standard output.
cat "$T/app.bin" | "$SIGNET" sign - --key fw --out - >"$T/pipe.sig" 2>"$T/err" || fail "sign - --out - from a pipe"
base64 -d "$T/pipe.sig" >"$T/pipe.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/pipe.der" "$T/app.bin"
# signet's own verify agrees.
run 0 "$SIGNET" verify "$T/app.bin" --sig "$T/in.sig" --cert "$S/certs/fw/current.pem"
before=$(snapshot)
run 2 "$SIGNET" sign - --key fw <"$T/app.bin"
one_line_error
has "$T/err" "signing standard input needs --out SIG"
run 2 "$SIGNET" sign - "$T/app.bin" --key fw --out "$T/two.sig" <"$T/app.bin"
has "$T/err" "'-' \(standard input\) is one image"
run 2 "$SIGNET" sign - --key fw --out "$T/in2.sig" --ota-update "$T/x.json" "${ARGS[@]}" <"$T/app.bin"
has "$T/err" "--ota-update of standard input needs --file-name"
eq "$(snapshot)" "$before" "store changed by usage errors"
nothing_written "$T/x.json" "$T/two.sig" "$T/in2.sig"
# The whole OTA input from standard input: the digests read once, the document passes the model.
cat "$T/app.bin" | "$SIGNET" sign - --key fw --out "$T/in3.sig" --ota-update "$T/in.json" "${ARGS[@]}" --file-name /ota/app.bin \
  >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "sign - --ota-update"; }
run 0 "${CHECK[@]}" "$T/in.json"
eq "$(jq -r '.files[0].fileName' "$T/in.json")" /ota/app.bin fileName
jq -r "$C.signature.inlineDocument" "$T/in.json" | base64 -d >"$T/in3.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/in3.der" "$T/app.bin"
sha_b64=$(openssl dgst -sha256 -binary "$T/app.bin" | base64)
has "$T/in.json.README" "--checksum-sha256 ${sha_b64//+/\\+}"
has "$T/in.json.README" "Image \(standard input\): SHA-256 $(sha256sum "$T/app.bin" | cut -d' ' -f1)"
sig 0 audit verify
