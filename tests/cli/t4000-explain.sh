#!/usr/bin/env bash
# explain: every documented FreeRTOS OTA code maps to its name (names as in
# ota_platform_interface.h / ota.h, written out here independently of the
# tables in src/formats/ota.c), every accepted input form works, malformed input is
# a usage error (exit 2) and an unknown code an honest "unknown" (exit 1).
# Needs no store.
. "$(dirname "$0")/../lib.sh"
export SIGNET_STORE="$T/no-store"

pal="e0 OtaPalUninitialized
e1 OtaPalOutOfMemory
e2 OtaPalNullFileContext
e3 OtaPalSignatureCheckFailed
e4 OtaPalRxFileCreateFailed
e5 OtaPalRxFileTooLarge
e6 OtaPalBootInfoCreateFailed
e7 OtaPalBadSignerCert
e8 OtaPalBadImageState
e9 OtaPalAbortFailed
ea OtaPalRejectFailed
eb OtaPalCommitFailed
ec OtaPalActivateFailed
ed OtaPalFileAbort
ee OtaPalFileClose
ef OtaPalRxFileResumeFailed"
while read -r code name; do
  sig 0 explain "0x000000$code: 0x00000000"
  has "$T/out" "^0x$code $name "
done <<<"$pal"

agent=(OtaErrNone OtaErrUninitialized OtaErrPanic OtaErrInvalidArg OtaErrAgentStopped
  OtaErrSignalEventFailed OtaErrRequestJobFailed OtaErrInitFileTransferFailed
  OtaErrRequestFileBlockFailed OtaErrCleanupControlFailed OtaErrCleanupDataFailed
  OtaErrUpdateJobStatusFailed OtaErrJobParserError OtaErrInvalidDataProtocol
  OtaErrMomentumAbort OtaErrDowngradeNotAllowed OtaErrSameFirmwareVersion
  OtaErrImageStateMismatch OtaErrNoActiveJob OtaErrUserAbort OtaErrFailedToEncodeCbor
  OtaErrFailedToDecodeCbor OtaErrActivateFailed OtaErrFileSizeOverflow)
for i in "${!agent[@]}"; do
  sig 0 explain "$(printf '0x%08x: 0x00000000' "$i")"
  has "$T/out" "^$i ${agent[$i]} "
done

jp=(x OtaJobParseErrNullJob OtaJobParseErrUpdateCurrentJob OtaJobParseErrZeroFileSize
  OtaJobParseErrNonConformingJobDoc OtaJobParseErrBadModelInitParams
  OtaJobParseErrNoContextAvailable OtaJobParseErrNoActiveJobs)
for i in 1 2 3 4 5 6 7; do
  sig 0 explain "0x0000000c: 0x0000000$i"
  has "$T/out" "^sub-error: $i ${jp[$i]}:"
done

# The forms a user pastes: short hex, sub-code shorthand, whole PAL status, JSON.
for form in 0xe3 e3 e3:0 E3:0 '0xe3000000' '"0x000000e3: 0x00000000"' 'reason: 0x000000e3: 0x00000000'; do
  sig 0 explain "$form"
  has "$T/out" "OtaPalSignatureCheckFailed"
done
sig 0 explain 0x000000e3: 0x00000000          # unquoted: two words
has "$T/out" "^0xe3 OtaPalSignatureCheckFailed"
sig 0 explain '{"status":"FAILED","statusDetails":{"reason":"0x000000e3: 0x00000000"}}'
has "$T/out" "OtaPalSignatureCheckFailed"
sig 0 explain '{"execution":{"status":"FAILED","statusDetails":{"detailsMap":{"reason":"0x000000e7: 0x00000000"}}}}'
has "$T/out" "OtaPalBadSignerCert"
echo '{"reason":"0x0000000c: 0x00000004"}' >"$T/sd.json"
run 0 "$SIGNET" explain - <"$T/sd.json"
has "$T/out" "OtaErrJobParserError"
has "$T/out" "OtaJobParseErrNonConformingJobDoc"

# 0xe3 and 0xe7 say the usual cause and the commands that check it.
sig 0 explain 0xe3
has "$T/out" "^usual cause: .*key whose public key is not the one baked"
has "$T/out" "signet verify .*--header"
has "$T/out" "signet key match"
sig 0 explain 0xe7
has "$T/out" "missing, empty or unparseable"
has "$T/out" "signet key match"

# JSON output has stable fields.
sig 0 --json explain "0x000000e3: 0x00000000"
[ "$(jq -r .name "$T/out")" = OtaPalSignatureCheckFailed ] || fail "json name"
[ "$(jq -r .code "$T/out")" = 227 ] || fail "json code"
[ "$(jq -r .sub_code "$T/out")" = 0 ] || fail "json sub_code"
[ "$(jq -r .kind "$T/out")" = pal ] || fail "json kind"

# Unknown codes: exit 1, honest.
sig 1 explain 0x55
has "$T/out" "unknown"
sig 1 explain 0xd0:0
sig 1 explain 24

# Malformed: exit 2, one error line.
for bad in zz "0xe3: zz" "0xe3 junk" "{not json" '{"status":"FAILED"}' "0x1234567890" ""; do
  sig 2 explain "$bad"
  one_line_error
done
sig 2 explain
sig 2 explain --bogus
sig 0 explain --list
has "$T/out" "OtaPalRxFileResumeFailed"
has "$T/out" "OtaJobParseErrNoActiveJobs"
