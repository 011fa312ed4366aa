#!/usr/bin/env bash
# Device truth: a stand-in for ESP32's ota_pal (tests/vectors/device/
# otapal_standin.c, mbedTLS, the config header compiled in, the baked
# constant parsed with its NUL, mbedtls_pk_verify over SHA-256 of the
# image) and `signet verify --header` must agree, fixture by fixture and
# signature by signature: a good header; PEM lines without "\n"; a PEM
# with a base64 line lost; a certificate in a comment above the real one;
# #if 0 / #else, #if 1, #if MACRO; a later #undef/#define; the signet
# header included before and after a stock FreeRTOS ota_demo_config.h
# (placeholder or another certificate in its #ifndef block); the stock
# config alone.  Each image is signed twice (key fw, key old), so every
# fixture has an accepted and a rejected case where the certificate that
# is really compiled in decides.  Where the two disagree, the test fails.
. "$(dirname "$0")/../lib.sh"
two_keys
X=otapalconfigCODE_SIGNING_CERTIFICATE
F="$T/fx"; mkdir -p "$F"
head -c 100000 /dev/urandom >"$T/fw.bin"
sig 0 sign "$T/fw.bin" --key fw --out "$T/fw.sig"
sig 0 sign "$T/fw.bin" --key old --out "$T/old.sig"
cc -Wall -Werror -c -o /dev/null -x c /dev/null || fail "no compiler"

fwpem="$S/certs/fw/current.pem"; oldpem="$S/certs/old/current.pem"
lits() { sed 's/.*/    "&\\n" \\/' "$1"; }            # one "line\n" literal per PEM line
macro() { echo "#define $X \\"; lits "$1"; echo '    ""'; }

sig 0 header fw --out "$F/good.h"
sig 0 header fw --out "$F/signet_fw.h"
# PEM lines that lost their "\n" (the old template comment's form).
{ echo "#define $X \\"; sed 's/.*/    "&" \\/' "$fwpem"; echo '    ""'; } >"$F/nonl.h"
# One base64 line lost.
n=$(grep -n 'BEGIN CERTIFICATE' "$F/good.h" | cut -d: -f1)
sed "$((n + 2))d" "$F/good.h" >"$F/trunc.h"
cmp -s "$F/good.h" "$F/trunc.h" && fail "trunc.h not truncated"
# An old signer "kept for reference" in a comment above the real macro, and the reverse.
{ echo "/* previous signer, for reference:"; cat "$fwpem"; echo "*/"; macro "$oldpem"; } >"$F/comment.h"
{ echo "/* previous signer, for reference:"; cat "$oldpem"; echo "*/"; macro "$fwpem"; } >"$F/comment2.h"
{ echo "// old:"; sed 's#^#// #' "$fwpem"; macro "$oldpem"; } >"$F/linecomment.h"
# Conditionals.
{ echo "#if 0"; macro "$fwpem"; echo "#else"; macro "$oldpem"; echo "#endif"; } >"$F/if0.h"
{ echo "#if 1"; macro "$fwpem"; echo "#else"; macro "$oldpem"; echo "#endif"; } >"$F/if1.h"
{ echo "#define USE_NEW_SIGNER 1"; echo "#if USE_NEW_SIGNER"; macro "$fwpem"; echo "#elif 1"; macro "$oldpem"; echo "#endif"; } >"$F/ifmacro.h"
{ echo "#define LEGACY"; echo "#ifdef LEGACY"; macro "$oldpem"; echo "#else"; macro "$fwpem"; echo "#endif"; } >"$F/ifdef.h"
# A later redefinition wins.
{ macro "$fwpem"; echo "#undef $X"; macro "$oldpem"; } >"$F/undef.h"
# A stock FreeRTOS ota_demo_config.h: default only if not defined yet.
stock() {
  echo "#ifndef _OTA_DEMO_CONFIG_H_"; echo "#define _OTA_DEMO_CONFIG_H_"
  echo "/* Certificate used for validating code signing signatures in the OTA PAL. */"
  echo "#ifndef $X"
  if [ -n "$1" ]; then echo "    #define $X \\"; lits "$1" | sed 's/^/    /'; echo '        ""'
  else echo "    #define $X    \"Insert code signing certificate...\""; fi
  echo "#endif"; echo "#ifndef APP_VERSION_MAJOR"; echo "    #define APP_VERSION_MAJOR    0"; echo "#endif"
  echo "#endif /* _OTA_DEMO_CONFIG_H_ */"
}
stock "" >"$F/stock.h"
stock "$oldpem" >"$F/stock_old.h"
for s in stock stock_old; do
  cat "$F/signet_fw.h" "$F/$s.h" >"$F/before_$s.h"
  cat "$F/$s.h" "$F/signet_fw.h" >"$F/after_$s.h"
  printf '#include "signet_fw.h"\n#include "%s.h"\n' "$s" >"$F/inc_before_$s.h"
  printf '#include "%s.h"\n#include "signet_fw.h"\n' "$s" >"$F/inc_after_$s.h"
done

# standin FIXTURE: the device, built with FIXTURE compiled in (-Wall -Werror: a header that warns fails).
build() { cc -Wall -Werror -I"$F" -DBAKED_HEADER="\"$1\"" "$TOP/tests/vectors/device/otapal_standin.c" \
  -o "$T/dev-${1%.h}" -lmbedx509 -lmbedcrypto 2>"$T/cc.err" || { cat "$T/cc.err"; fail "$1 does not compile"; }; }
# agree FIXTURE SIG EXPECTED [STANDIN_FIXTURE]
agree() {
  local fx=$1 s=$2 want=$3 dev=${4:-$1} d v
  "$T/dev-${dev%.h}" "$T/fw.bin" "$T/$s.sig" >"$T/dev.out" 2>&1; d=$?
  "$SIGNET" verify "$T/fw.bin" --sig "$T/$s.sig" --header "$F/$fx" >"$T/out" 2>"$T/err"; v=$?
  [ "$d" -le 1 ] || { cat "$T/dev.out"; fail "$dev: the stand-in failed to run ($d)"; }
  [ "$d" -eq "$v" ] || { cat "$T/dev.out" "$T/out" "$T/err"; fail "$fx with $s.sig: device says $d, signet verify says $v"; }
  [ "$d" -eq "$want" ] || { cat "$T/dev.out" "$T/out"; fail "$fx with $s.sig: expected $want from both, got $d"; }
}
for fx in good nonl trunc comment comment2 linecomment if0 if1 ifmacro ifdef undef stock; do build "$fx.h"; done
for s in stock stock_old; do build "inc_before_$s.h"; build "inc_after_$s.h"; done

agree good.h fw 0;          agree good.h old 1
agree nonl.h fw 1;          agree nonl.h old 1
has "$T/out" "rejects every update"
has "$T/out" "mbedTLS error"
agree trunc.h fw 1;         agree trunc.h old 1
has "$T/out" "rejects every update"
agree comment.h fw 1;       agree comment.h old 0
agree comment2.h fw 0;      agree comment2.h old 1
agree linecomment.h fw 1;   agree linecomment.h old 0
agree if0.h fw 1;           agree if0.h old 0
agree if1.h fw 0;           agree if1.h old 1
agree ifmacro.h fw 0;       agree ifmacro.h old 1
agree ifdef.h fw 1;         agree ifdef.h old 0
agree undef.h fw 1;         agree undef.h old 0
agree stock.h fw 1;         agree stock.h old 1
has "$T/out" "placeholder"
for s in stock stock_old; do
  agree "before_$s.h" fw 0 "inc_before_$s.h"; agree "before_$s.h" old 1 "inc_before_$s.h"
  agree "after_$s.h" fw 0 "inc_after_$s.h";   agree "after_$s.h" old 1 "inc_after_$s.h"
done

# What verify says names the reason; JSON carries the device library.
sig 1 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/comment.h"
has "$T/out" "not baked \\(in a comment: not compiled in\\)"
sig 1 --json verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/nonl.h"
jq -e '.device_rejects_every_update == true and (.device_library | startswith("mbed TLS 2."))' "$T/out" >/dev/null || fail "verify json"

# key match takes only what is baked: comment.h bakes old's certificate, not fw's.
sig 0 key match "$F/comment.h"
has "$T/out" ":[0-9]+: certificate CN=ota-signer .*: held by key 'old'"
has "$T/out" "not baked, not matched: in a comment"
hasnt "$T/out" "held by key 'fw'"
run 1 "$SIGNET" key match "$F/nonl.h"
has "$T/out" "not baked, not matched: the device cannot parse it"
hasnt "$T/out" "held by key"
run 1 "$SIGNET" key match "$F/stock.h"
has "$T/out" "placeholder"
sig 0 key match "$F/after_stock_old.h"
has "$T/out" "held by key 'fw'"
hasnt "$T/out" "held by key 'old'"

# extract shows the state and the device column.
sig 0 extract "$F/if0.h"
has "$T/out" "in an inactive #if branch: not compiled in"
has "$T/out" "device parses: yes"
run 1 "$SIGNET" extract "$F/trunc.h"
has "$T/out" "broken: +the CERTIFICATE does not parse|broken: +the CERTIFICATE base64 does not decode"

# A condition on a build flag: undecided without it (verify says so, exit 3,
# and never claims acceptance); with the build's -D / -U, signet and the
# device built with the same flag agree.
{ echo "#ifdef USE_NEW_SIGNER"; macro "$fwpem"; echo "#else"; macro "$oldpem"; echo "#endif"; } >"$F/flag.h"
sig 3 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/flag.h"
one_line_error
has "$T/err" "conditional: depends on a macro defined elsewhere"
for flag in -DUSE_NEW_SIGNER -UUSE_NEW_SIGNER; do
  cc -Wall -Werror -I"$F" -DBAKED_HEADER='"flag.h"' $flag "$TOP/tests/vectors/device/otapal_standin.c" \
    -o "$T/dev-flag" -lmbedx509 -lmbedcrypto || fail "flag.h does not compile"
  for s in fw old; do
    "$T/dev-flag" "$T/fw.bin" "$T/$s.sig" >/dev/null 2>&1; d=$?
    "$SIGNET" verify "$T/fw.bin" --sig "$T/$s.sig" --header "$F/flag.h" ${flag:0:2} "${flag:2}" >"$T/out" 2>"$T/err"; v=$?
    [ "$d" -eq "$v" ] || { cat "$T/out" "$T/err"; fail "flag.h $flag with $s.sig: device $d, signet $v"; }
  done
done
sig 0 key match -D USE_NEW_SIGNER "$F/flag.h"
has "$T/out" "held by key 'fw'"
sig 0 key match --undefine USE_NEW_SIGNER "$F/flag.h"
has "$T/out" "held by key 'old'"
sig 0 extract --define USE_NEW_SIGNER=1 "$F/flag.h"
has "$T/out" "in an inactive #if branch"
sig 2 extract -D "9bad" "$F/flag.h"
