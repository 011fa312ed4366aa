#!/usr/bin/env bash
# explain, the forms beyond v3 PAL codes: OtaErr_t 24 (v3.4.0+), the
# pre-v3 amazon-freertos kOTA_Err_* words (names written out here from
# aws_iot_ota_agent.h, independently of src/formats/ota.c) with their PAL detail
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

# What users paste from device logs and job documents (issue 17, item 9).
# A job status published with a "Msg: " prefix, the document after it.
sig 0 explain 'Msg: {"status":"FAILED","statusDetails":{"reason":"0x000000e3: 0x00000000"}}'
has "$T/out" "^0xe3 OtaPalSignatureCheckFailed"
sig 0 explain '[OTA] Published to $aws/things/t/jobs/j/update Msg: {"statusDetails":{"reason":"rejected: 0x01000000"}} (2)'
has "$T/out" "^rejected "
has "$T/out" "kOTA_Err_SignatureCheckFailed \\(pre-v3 agent\\)"
# v3's failed close of the received file: Error=(NAME:0xSUB), sub-error the PAL's 24 bits.
sig 0 explain '[ERROR] [OTA] Failed to close the OTA file: Error=(OtaPalSignatureCheckFailed:0x000000)'
has "$T/out" "^0xe3 OtaPalSignatureCheckFailed \\(OTA PAL error, platform sub-error 0x00000000, none\\)"
has "$T/out" "^read as: an OTA library v3 agent log 'Error=\\(PAL status:platform sub-error\\)'"
has "$T/out" "check with: signet verify"
sig 0 explain 'Error=(OtaPalBadSignerCert:0xffd79b)'
has "$T/out" "^sub-error: -10341 "
has "$T/out" "^sub-error on TI CC3220 \\(SimpleLink sl_FsClose\\): SL_ERROR_FS_FILE_NOT_EXISTS"
# OtaErr_t=NAME, alone and with the PAL status beside it.
sig 0 explain 'OtaErr_t=OtaErrJobParserError'
has "$T/out" "^12 OtaErrJobParserError \\(OTA agent error\\)"
sig 0 explain 'Failed to set image state with reason: OtaErr_t=OtaErrUpdateJobStatusFailed, OtaPalStatus_t=OtaPalCommitFailed, state=2, reason=0'
has "$T/out" "^11 OtaErrUpdateJobStatusFailed"
has "$T/out" "^PAL status: 0xeb OtaPalCommitFailed"
# Every name `explain --list` shows is a reason of its own, and names the same code.
sig 0 --json explain --list
jq -r '.[] | "\(.kind)\t\(.code)\t\(.name)"' "$T/out" >"$T/names"
[ "$(wc -l <"$T/names")" -ge 97 ] || fail "explain --list shows too few names"
while IFS=$'\t' read -r kind code name; do
  sig 0 --json explain "$name"
  eq "$(jq -r .name "$T/out")" "$( [ "${kind%% *}" = job_parse ] && echo OtaErrJobParserError || echo "$name")" "name of $name"
  if [ "$kind" = job_parse ]; then
    eq "$(jq -r .sub_name "$T/out")" "$name" "job-parse $name"
  else
    eq "$(jq -r .code "$T/out")" "$code" "code of $name"
  fi
done <"$T/names"
# Names are read in any case; a made-up name is not a reason.
sig 0 explain otapalsignaturecheckfailed
has "$T/out" "^0xe3 OtaPalSignatureCheckFailed"
sig 2 explain OtaPalSignatureCheckFaild
one_line_error
has "$T/err" "not an OTA error name signet knows"

# IngestResult_t (ota_private.h; values written out here from the header): decimal, negative = failed.
ingest="-1 IngestResultFileComplete
-2 IngestResultSigCheckFail
-3 IngestResultFileCloseFail
-4 IngestResultNullInput
-5 IngestResultBadFileHandle
-6 IngestResultUnexpectedBlock
-7 IngestResultBlockOutOfRange
-8 IngestResultBadData
-9 IngestResultWriteBlockFailed
-10 IngestResultNoDecodeMemory
-127 IngestResultUninitialized
0 IngestResultAccepted_Continue
1 IngestResultDuplicate_Continue"
while read -r code name; do
  sig 0 explain "IngestResult_t $code"
  has "$T/out" "^$code $name \\(IngestResult_t"
done <<<"$ingest"
# `signet explain -2` is a reason, not an option: before and after global options, and as -- -2.
sig 0 explain -2
has "$T/out" "^-2 IngestResultSigCheckFail "
has "$T/out" "^other reading: a bare negative number is read as IngestResult_t"
sig 0 --json explain -8
jq -e '.kind == "ingest_result" and .code == -8 and .name == "IngestResultBadData"' "$T/out" >/dev/null || fail "json of -8"
sig 0 explain -8 --json
jq -e '.code == -8' "$T/out" >/dev/null || fail "explain -8 --json"
sig 0 explain -- -2
has "$T/out" "^-2 IngestResultSigCheckFail"
# -4 and -10 had other names before v3: both readings are given.
sig 0 explain -4
has "$T/out" "pre-v3: eIngest_Result_NullContext"
sig 0 explain eIngest_Result_NullResultPointer
has "$T/out" "^-10 IngestResultNoDecodeMemory"
has "$T/out" "pre-v3: eIngest_Result_NullResultPointer"
sig 1 explain -50
has "$T/out" "^-50: unknown: not an IngestResult_t value"
sig 2 explain -2x
one_line_error

# pre-v3 amazon-freertos: "Error (%u:%d) closing OTA file": 17 is 0x11 kOTA_Err_FileClose,
# 16766875 is 0xffd79b, the PAL's 24 bits: -10341, SimpleLink's SL_ERROR_FS_FILE_NOT_EXISTS on CC3220.
sig 0 explain '[prvIngestDataBlock] Error (17:16766875) closing OTA file.'
has "$T/out" "^0x11ffd79b kOTA_Err_FileClose \\(pre-v3"
has "$T/out" "^read as: a pre-v3 amazon-freertos agent log 'Error \\(17:16766875\\)'.* \\(17 = 0x11\\).*\\(0xffd79b\\)"
has "$T/out" "^PAL detail: -10341 as a signed 24-bit platform code; on TI CC3220 .*SL_ERROR_FS_FILE_NOT_EXISTS"
has "$T/out" "^usual cause: for a signed image: the signer certificate file the job names \\(certfile\\)"
has "$T/out" "^other reading: the first number is the high byte of a pre-v3 kOTA_Err_\\* word"
# Unquoted, as several words.
sig 0 explain Error '(17:16766875)' closing OTA file
has "$T/out" "^0x11ffd79b kOTA_Err_FileClose"
# The later pre-v3 form prints the detail in hex.
sig 0 explain 'Error (1:0xffd7cf) closing OTA file'
has "$T/out" "^0x01ffd7cf kOTA_Err_SignatureCheckFailed"
has "$T/out" "SL_ERROR_FS_WRONG_SIGNATURE_SECURITY_ALERT"
sig 1 explain 'Error (99:5) closing OTA file'
has "$T/out" "unknown"
for bad in 'Error (300:1) closing OTA file' 'Error=(NoSuchName:0x0)' 'OtaErr_t=Bogus' 'IngestResult_t' '[INFO] nothing here'; do
  sig 2 explain "$bad"
  one_line_error
done
