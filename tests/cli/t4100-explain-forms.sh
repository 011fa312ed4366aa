#!/usr/bin/env bash
# explain, the forms beyond v3 PAL codes: OtaErr_t 24 (v3.4.0+), the
# pre-v3 amazon-freertos kOTA_Err_* words (names written out here from
# aws_iot_ota_agent.h, independently of src/ota.c) with their PAL detail
# and a signed platform sub-error, the "rejected: 0x..." / "aborted: 0x..."
# job-status forms with the causing error decoded (v3 PAL, v3 agent,
# pre-v3), and the second reading printed where versions differ.
. "$(dirname "$0")/../lib.sh"
export SIGNET_STORE="$T/no-store"

sig 0 explain "0x00000018: 0x00000000"
has "$T/out" "^24 OtaErrEmptyJobDocument "
has "$T/out" "other reading: .*v3.4.0"
sig 0 explain 0x17
has "$T/out" "^23 OtaErrFileSizeOverflow"

legacy="01 kOTA_Err_SignatureCheckFailed
02 kOTA_Err_BadSignerCert
03 kOTA_Err_OutOfMemory
04 kOTA_Err_ActivateFailed
05 kOTA_Err_CommitFailed
06 kOTA_Err_RejectFailed
07 kOTA_Err_AbortFailed
08 kOTA_Err_PublishFailed
09 kOTA_Err_BadImageState
0a kOTA_Err_NoActiveJob
0b kOTA_Err_NoFreeContext
0c kOTA_Err_HTTPInitFailed
0d kOTA_Err_HTTPRequestFailed
10 kOTA_Err_FileAbort
11 kOTA_Err_FileClose
12 kOTA_Err_RxFileCreateFailed
13 kOTA_Err_BootInfoCreateFailed
14 kOTA_Err_RxFileTooLarge
20 kOTA_Err_NullFilePtr
21 kOTA_Err_MomentumAbort
22 kOTA_Err_DowngradeNotAllowed
23 kOTA_Err_SameFirmwareVersion
24 kOTA_Err_JobParserError
25 kOTA_Err_FailedToEncodeCBOR
26 kOTA_Err_ImageStateMismatch
27 kOTA_Err_GenericIngestError
28 kOTA_Err_UserAbort
29 kOTA_Err_ResetNotSupported
2a kOTA_Err_TopicTooLarge
2b kOTA_Err_SelfTestTimerFailed
2c kOTA_Err_EventQueueSendFailed
2d kOTA_Err_InvalidDataProtocol
fe kOTA_Err_Panic
ff kOTA_Err_Uninitialized"
while read -r code name; do
  sig 0 explain "0x${code}000000: 0x00000000"
  has "$T/out" "^0x${code}000000 $name \\(pre-v3"
  sig 0 --json explain "0x${code}000000"
  jq -e ".kind == \"legacy_agent\" and .name == \"$name\"" "$T/out" >/dev/null || fail "json for $name"
done <<<"$legacy"

# The issue's example: signature check failed on a pre-v3 agent, signed platform sub-error.
sig 0 explain '"reason":"0x01000000: 0xfffffffe"'
has "$T/out" "^0x01000000 kOTA_Err_SignatureCheckFailed"
has "$T/out" "sub-error: -2 \\(-0x0002\\) as a signed platform error"
has "$T/out" "check with: signet verify"
# PAL detail in the low bits (TI CC3220: sl_FsClose error folded into FileClose).
sig 0 explain 0x11fff1c4
has "$T/out" "^0x11fff1c4 kOTA_Err_FileClose .*PAL detail 0xfff1c4"
has "$T/out" "CC3220"
# A v3 PAL failure whose sub-error is an mbedTLS code.
sig 0 explain "0x000000e3: 0xffffb080"
has "$T/out" "-20352 \\(-0x4f80\\) .*ECP - Bad input parameters"

# rejected: / aborted: with the causing error.
sig 0 explain "rejected: 0x00000000"
has "$T/out" "^rejected \\(OTA image state"
has "$T/out" "no error given"
sig 0 explain "aborted: 0xe3000000"
has "$T/out" "^aborted "
has "$T/out" "0xe3 OtaPalSignatureCheckFailed \\(OTA PAL, v3\\)"
sig 0 explain "rejected: 0x01000000"
has "$T/out" "kOTA_Err_SignatureCheckFailed \\(pre-v3 agent\\)"
sig 0 explain "aborted: 0x0000000e"
has "$T/out" "14 OtaErrMomentumAbort \\(OTA agent, v3\\)"
sig 0 --json explain '{"statusDetails":{"reason":"aborted: 0x02000000"}}'
jq -e '.kind == "image_state" and .cause_kind == "legacy_agent" and .cause_name == "kOTA_Err_BadSignerCert"' "$T/out" >/dev/null || fail "aborted json"
sig 0 explain "aborted: 0x77000000"
has "$T/out" "not a known OTA error"

# Unknown stays unknown; --list includes the pre-v3 table.
sig 1 explain 0x30000000
has "$T/out" "unknown"
sig 0 explain --list
has "$T/out" "^legacy_agent"
has "$T/out" "kOTA_Err_InvalidDataProtocol"
