#!/usr/bin/env bash
# A store interrupted by the previous binary is recovered by this one.
# tests/vectors/intent/cert-reissue-<id>.json is, byte for byte, the
# intent file that signet built at 5e0a5d7 (main 7f10cb9 and the one-line
# URI guard fix: nothing of issue 18's changes to the commit path) left
# when SIGKILLed at the 6th write of `cert reissue fw`: the new
# certificate staged (cut mid-write, empty), no audit record yet.  Put in
# a store made by this binary, with its staged file, the next command
# rolls it back: one line on stderr, one `recovered` record naming
# the intent, the staged file gone, the current certificate untouched,
# audit verify and custody pass.  And this binary still writes intents
# with the same fields in the same order, so the older binary can read
# them too.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
export SIGNET_NOW=2026-12-07T04:00:00Z
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 40
cp -a "$S" "$T/pristine"

id=52ec10b6d1a9b2742bb99cfa589b0d10
fx="$TOP/tests/vectors/intent/cert-reissue-$id.json"
mkdir -p "$S/intents"
cp "$fx" "$S/intents/$id.json"
staged="$S/certs/fw/55C56FA508AF4E9AB89DAEB6C4804722.pem.signet-$id.tmp"
: >"$staged"
cur=$(sha256sum <"$S/certs/fw/current.pem")
records=$(wc -l <"$S/audit.log")
head -c 4096 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw --out "$T/img.sig"
eq "$(grep -c '^signet: recovered' "$T/err")" 1 "recovery lines"
has "$T/err" "^signet: recovered: 'cert.reissue' of fw was interrupted; rolled it back \(recorded in the audit log\)$"
[ ! -e "$staged" ] || fail "the staged certificate of the interrupted reissue is left"
[ -z "$(ls "$S/intents")" ] || fail "the old intent is left: $(ls "$S/intents")"
eq "$(sha256sum <"$S/certs/fw/current.pem")" "$cur" "current certificate changed by the rollback"
eq "$(wc -l <"$S/audit.log")" "$((records + 2))" "records after the recovery and the sign"
eq "$(grep '"op":"recovered"' "$S/audit.log" | tail -1 | jq -r '"\(.label) \(.details.interrupted) \(.details.intent) \(.details.staged_files_removed)"')" \
  "fw cert.reissue $id 1" "the recovered record"
eq "$(tail -1 "$S/audit.log" | jq -r .op)" sign "the command's own record after the recovery"
sig 0 audit verify
sig 0 audit custody

# This binary's intent for the same command: the same fields, in the same order, of the same types.
want=$(jq -c '[to_entries[] | [.key, (.value | type)]]' "$fx")
got=
for i in $(seq 1 40); do
  rm -rf "$S"; cp -a "$T/pristine" "$S"
  strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when=$i "$SIGNET" cert reissue fw >/dev/null 2>&1
  f=$(ls "$S"/intents/*.json 2>/dev/null | head -1)
  if [ -n "$f" ] && [ -s "$f" ] && jq -e . "$f" >/dev/null 2>&1; then
    got=$(jq -c '[to_entries[] | [.key, (.value | type)]]' "$f")
    break
  fi
done
[ -n "$got" ] || fail "no write of cert reissue left an intent file to compare"
eq "$got" "$want" "intent fields of this binary and the previous one"
