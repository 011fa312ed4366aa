#!/usr/bin/env bash
# sign --ota-update: the whole `aws iot create-ota-update --cli-input-json`
# document (otaUpdateId, targets, protocols, files[] with fileName,
# fileLocation (S3 or stream), codeSigning.customCodeSigning, roleArn);
# the certificate chain in full when a CA in custody issued the signer
# certificate; the note beside it on the double-base64 trap; the image's
# base64 SHA-256 for `aws s3api put-object --checksum-sha256`.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate ca
sig 0 cert issue ca --as-ca --subject "CN=fw-root" --days 3650
sig 0 key generate fw
sig 0 cert issue fw --ca ca
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 300000 /dev/urandom >"$T/app.bin"
ARGS=(--ota-id rel-1_4_2 --role-arn arn:aws:iam::123456789012:role/ota --targets arn:aws:iot:eu-west-1:123456789012:thinggroup/gen2,arn:aws:iot:eu-west-1:123456789012:thing/bench)

sig 0 sign "$T/app.bin" --key fw --ota-update "$T/ota.json" "${ARGS[@]}" --s3 bucket=fw-bucket,key=app/1.4.2.bin,version=v7 --cert-name /spiffs/signer.crt
cp "$T/err" "$T/sign.err"
sha_b64=$(openssl dgst -sha256 -binary "$T/app.bin" | base64)
has "$T/out" "image SHA-256 \(base64, for aws s3api put-object --checksum-sha256\): ${sha_b64//+/\\+}$"
J="$T/ota.json"
eq "$(jq -r .otaUpdateId "$J")" rel-1_4_2 otaUpdateId
eq "$(jq -r .roleArn "$J")" arn:aws:iam::123456789012:role/ota roleArn
eq "$(jq -r '.targets | join(" ")' "$J")" "arn:aws:iot:eu-west-1:123456789012:thinggroup/gen2 arn:aws:iot:eu-west-1:123456789012:thing/bench" targets
eq "$(jq -r '.protocols | join(",")' "$J")" MQTT protocols
eq "$(jq -r '.files | length' "$J")" 1 files
eq "$(jq -r '.files[0].fileName' "$J")" app.bin fileName
eq "$(jq -r '.files[0].fileLocation.s3Location | .bucket + " " + .key + " " + .version' "$J")" "fw-bucket app/1.4.2.bin v7" s3Location
C='.files[0].codeSigning.customCodeSigning'
eq "$(jq -r "$C.hashAlgorithm + \" \" + $C.signatureAlgorithm" "$J")" "SHA256 ECDSA" algorithms
eq "$(jq -r "$C.certificateChain.certificateName" "$J")" /spiffs/signer.crt certificateName
# The independent peer: the AWS CLI's own service model (botocore) accepts the document.
run 0 python3 "$TOP/tests/tools/ota_update_check.py" "$J"
# The signature is the image's, base64 once (not twice).
jq -r "$C.signature.inlineDocument" "$J" | base64 -d >"$T/sig.der"
[ "$(head -c1 "$T/sig.der" | xxd -p)" = 30 ] || fail "inlineDocument is not base64 of a DER signature (double-encoded?)"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/sig.der" "$T/app.bin"
cmp <(base64 -d "$T/app.bin.sig") "$T/sig.der" || fail "document and .sig differ"
# The chain: signer then the CA in custody; openssl verifies it.
jq -r "$C.certificateChain.inlineDocument" "$J" >"$T/chain.pem"
eq "$(grep -c 'BEGIN CERTIFICATE' "$T/chain.pem")" 2 "certificates in the chain"
cmp <(openssl x509 -in "$T/chain.pem") "$S/certs/fw/current.pem" || fail "first in the chain is not the signer"
awk '/BEGIN/{n++} n==2' "$T/chain.pem" >"$T/ca.pem"
cmp <(openssl x509 -in "$T/ca.pem") <(openssl x509 -in "$S/certs/ca/current.pem") || fail "second in the chain is not the CA"
run 0 openssl verify -CAfile "$T/ca.pem" "$S/certs/fw/current.pem"
# The note beside it.
has "$T/ota.json.README" "cli-binary-format base64"
has "$T/ota.json.README" "raw-in-base64-out"
has "$T/ota.json.README" "AWS CLI v1"
has "$T/ota.json.README" "0xe3"
has "$T/ota.json.README" "--checksum-sha256 ${sha_b64//+/\\+}"
has "$T/sign.err" "warning: AWS CLI v1, or v2 with '--cli-binary-format raw-in-base64-out'"

# A stream, HTTP and MQTT, a self-signed signer: chain of one.
sig 0 key generate solo
sig 0 cert issue solo
sig 0 sign "$T/app.bin" --key solo --out "$T/solo.sig" --ota-update "$T/s.json" "${ARGS[@]}" --stream fw-stream-7 --protocols MQTT,HTTP --file-name /ota/app
eq "$(jq -r '.files[0].fileLocation.stream | .streamId + " " + (.fileId|tostring)' "$T/s.json")" "fw-stream-7 0" stream
eq "$(jq -r '.protocols | join(",")' "$T/s.json")" MQTT,HTTP protocols
eq "$(jq -r '.files[0].fileName' "$T/s.json")" /ota/app fileName
eq "$(jq -r "$C.certificateChain.inlineDocument" "$T/s.json" | grep -c 'BEGIN CERTIFICATE')" 1 "self-signed chain"
run 0 python3 "$TOP/tests/tools/ota_update_check.py" "$T/s.json"

# Usage errors, before anything is signed.
rm -f "$T/app.bin.sig"
sig 2 sign "$T/app.bin" --key fw --ota-update "$T/x.json" --ota-id a --targets t --s3 bucket=b,key=k
has "$T/err" "needs --ota-id, --role-arn and --targets"
sig 2 sign "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}"
has "$T/err" "--s3 bucket=..,key=.. or --stream ID"
sig 2 sign "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --s3 bucket=b,key=k --stream s
sig 2 sign "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --s3 bucket=b
has "$T/err" "--s3 takes bucket=NAME,key=KEY"
sig 2 sign "$T/app.bin" --key fw --ota-id a
has "$T/err" "go with --ota-update FILE"
sig 2 sign "$T/app.bin" "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --stream s
sig 2 sign "$T/app.bin" --key fw --ota-update "$T/x.json" "${ARGS[@]}" --stream s --protocols FTP
[ ! -e "$T/x.json" ] && [ ! -e "$T/app.bin.sig" ] || fail "files written on a usage error"
# No certificate: refused before signing.
sig 0 key generate nocert
sig 3 sign "$T/app.bin" --key nocert --ota-update "$T/x.json" "${ARGS[@]}" --stream s
has "$T/err" "--ota-update needs a certificate for key 'nocert'"
[ ! -e "$T/x.json" ] || fail "document written without a certificate"
sig 0 audit verify
