#!/usr/bin/env bash
# Bash completion: commands, subcommands and flags from signet's own help,
# key labels from the store, policy names; `make install` puts it (and the
# man page) where bash-completion and man look.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw-main
sig 0 key generate fw-backup
export PATH="$BUILD:$PATH"
# shellcheck disable=SC1091
. "$TOP/contrib/bash-completion/signet"
complete -p signet | grep -q _signet || fail "completion not registered"
# comp WORDS...: completes the last word; the candidates go to $T/comp, one a line.
comp() {
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
  _signet
  printf '%s\n' "${COMPREPLY[@]}" >"$T/comp"
}
comp signet ""
for c in init key cert renew header extract sign verify explain audit policy help; do has "$T/comp" "^$c$"; done
comp signet k
eq "$(cat "$T/comp")" key "prefix"
comp signet key ""
for c in generate import adopt list show pubkey match; do has "$T/comp" "^$c$"; done
comp signet key adopt fw --
for f in --id --uri --accept-extractable --policy --pin-file --json; do has "$T/comp" "^$f$"; done
comp signet sign img.bin --key ""
has "$T/comp" "^fw-main$"
has "$T/comp" "^fw-backup$"
comp signet sign img.bin --key fw-m
eq "$(cat "$T/comp")" fw-main "label prefix"
comp signet --store "$S" key show ""
has "$T/comp" "^fw-backup$"
comp signet sign --ota
has "$T/comp" "^--ota-update$"
has "$T/comp" "^--ota-json$"
comp signet key generate x --policy ""
has "$T/comp" "^aws-freertos-esp32$"
has "$T/comp" "^codesign-generic$"
comp signet key generate x --alg ecdsa
eq "$(tr '\n' ' ' <"$T/comp")" "ecdsa-p256 ecdsa-p384 " "algorithms"
comp signet --js
eq "$(cat "$T/comp")" --json "global option"

# sign offers its own flags, read from 'signet sign --help', never the AWS CLI
# flags its help quotes (--cli-input-json, --cli-binary-format).
comp signet sign img.bin --
"$SIGNET" sign --help >"$T/help"
for f in --key --out --ota-json --cert-name --hash --fleet --pin-file --pin-fd --ota-update --ota-id \
         --role-arn --targets --s3 --stream --protocols --file-name; do
  has "$T/comp" "^$f$"; grep -q -- "$f" "$T/help" || fail "$f is not in sign --help"
done
hasnt "$T/comp" "^--cli-"
grep -q -- "--cli-input-json" "$T/help" || fail "sign --help no longer quotes the AWS CLI: this check proves nothing"
# Flags given together in the option table ("--pin-file F, --pin-fd N") are all offered.
comp signet cert reissue fw-main --pin
eq "$(tr '\n' ' ' <"$T/comp")" "--pin-fd --pin-file " "cert PIN flags"
comp signet sign --key fw-main img.bin --h
eq "$(tr '\n' ' ' <"$T/comp")" "--hash --header-size " "sign flags by prefix"

# fleet: second-level subcommands, then fleet names (fleets.yaml and recorded
# builds), nothing for VERSION, files for ARTEFACT.
cat >"$S/fleets.yaml" <<'YAML'
fleets:
  - name: sensors-gen2
    builds: []
  - { name: "gateways" }
YAML
mkdir -p "$S/fleets/lab-rack"
comp signet fleet build ""
eq "$(tr '\n' ' ' <"$T/comp")" "add list " "fleet build subcommands"
comp signet fleet build add ""
eq "$(sort "$T/comp" | tr '\n' ' ')" "gateways lab-rack sensors-gen2 " "fleet names for build add"
comp signet fleet build add sensors-gen2 ""
eq "$(wc -c <"$T/comp")" 1 "nothing offered for VERSION"
: >"$T/app-1.4.2.bin"
comp signet fleet build add sensors-gen2 1.4.2 "$T/app-1.4"
eq "$(cat "$T/comp")" "$T/app-1.4.2.bin" "files for ARTEFACT"
comp signet fleet build add --devices 10 sensors-gen2 1.4.2 "$T/app-1.4"
eq "$(cat "$T/comp")" "$T/app-1.4.2.bin" "--devices N is not an operand"
comp signet fleet report s
eq "$(cat "$T/comp")" sensors-gen2 "fleet names for report"
comp signet fleet build add sensors-gen2 1.4.2 x --d
eq "$(cat "$T/comp")" --devices "fleet flags"

# make install puts the completion and the man page in place.
run 0 make -C "$TOP" -s install DESTDIR="$T/inst" BUILD="$BUILD"
cmp "$T/inst/usr/local/share/bash-completion/completions/signet" "$TOP/contrib/bash-completion/signet" || fail "completion not installed"
[ -s "$T/inst/usr/local/share/man/man1/signet.1" ] || fail "man page not installed"
[ -x "$T/inst/usr/local/bin/signet" ] || fail "binary not installed"
