#!/usr/bin/env bash
# C read as the compiler reads it (issue 17 item 6): #if conditions over
# what the config itself defines, FreeRTOS style ("#define X ( 1 )", as in
# iot-reference-stm32u5's ota_config.h), suffixed literals, macros in
# macros, arithmetic, ?: and defined.  For each fixture the device stand-in
# (tests/vectors/device/otapal_standin.c, mbedTLS, the header compiled in
# with -Wall -Werror) and `signet verify --header` must give the same verdict
# for a good and a wrong signature; where the value really comes from
# another file, signet still says "conditional" (exit 3) and never claims.
. "$(dirname "$0")/../lib.sh"
two_keys
X=otapalconfigCODE_SIGNING_CERTIFICATE
F="$T/fx"; mkdir -p "$F"
head -c 50000 /dev/urandom >"$T/fw.bin"
sig 0 sign "$T/fw.bin" --key fw --out "$T/fw.sig"
sig 0 sign "$T/fw.bin" --key old --out "$T/old.sig"
fwpem="$S/certs/fw/current.pem"; oldpem="$S/certs/old/current.pem"
macro() { echo "#define $X \\"; sed 's/.*/    "&\\n" \\/' "$1"; echo '    ""'; }

# The issue's reproduction: the flag on, then off.
{ echo '#define TAI ( 1 )'; echo '#if ( TAI == 1 )'; macro "$fwpem"; echo '#endif'; } >"$F/tai1.h"
{ echo '#define TAI ( 0 )'; echo '#if ( TAI == 1 )'; macro "$fwpem"; echo '#endif'; } >"$F/tai0.h"
# An STM32U5-shaped ota_config.h: the flag chooses between two signers.
{ echo '#ifndef OTA_CONFIG_H'; echo '#define OTA_CONFIG_H'
  echo '#define otaconfigMAX_NUM_BLOCKS_REQUEST        ( 1U )'
  echo '#define OTA_USE_NEW_SIGNER                     ( 1 )   /* rotated 2026 */'
  echo '#if ( OTA_USE_NEW_SIGNER == 1 ) && ( otaconfigMAX_NUM_BLOCKS_REQUEST >= 1U )'; macro "$fwpem"
  echo '#else'; macro "$oldpem"; echo '#endif'; echo '#endif /* OTA_CONFIG_H */'; } >"$F/stm32.h"
# Suffixes, hex, macros in macros, arithmetic, ?:, defined without parentheses.
{ echo '#define BASE 0x10UL'; echo '#define LEVEL ( BASE / 8 + 1 )'; echo '#define HAVE_OTA'
  echo '#if defined HAVE_OTA && ( LEVEL == 3 ? 1 : 0 ) && !defined(NO_OTA_HERE_UNDEFINED) || 0'
  macro "$oldpem"; echo '#elif LEVEL > 2'; macro "$fwpem"; echo '#endif'; } >"$F/arith.h"
# defined(NO_...) above is never seen in the file: undecided.  Here it is #undef'd: decided.
{ echo '#define BASE 0x10UL'; echo '#define LEVEL ( BASE / 8 + 1 )'; echo '#undef NO_OTA'
  echo '#if ( LEVEL == 3 ) && !defined(NO_OTA)'; macro "$oldpem"
  echo '#elif LEVEL > 2'; macro "$fwpem"; echo '#endif'; } >"$F/arith2.h"
# A ternary choosing the branch.
{ echo '#define GEN 2'; echo '#if GEN == 1 ? 1 : GEN == 2 ? 0 : 1'; macro "$oldpem"; echo '#else'; macro "$fwpem"; echo '#endif'; } >"$F/ternary.h"

# standin FIXTURE: the device built with FIXTURE compiled in.
build() { cc -Wall -Werror -I"$F" -DBAKED_HEADER="\"$1\"" "$TOP/tests/vectors/device/otapal_standin.c" \
  -o "$T/dev-${1%.h}" -lmbedx509 -lmbedcrypto 2>"$T/cc.err" || { cat "$T/cc.err"; fail "$1 does not compile"; }; }
# agree FIXTURE SIG EXPECTED
agree() {
  local fx=$1 s=$2 want=$3 d v
  "$T/dev-${fx%.h}" "$T/fw.bin" "$T/$s.sig" >"$T/dev.out" 2>&1; d=$?
  "$SIGNET" verify "$T/fw.bin" --sig "$T/$s.sig" --header "$F/$fx" >"$T/out" 2>"$T/err"; v=$?
  [ "$d" -le 1 ] || { cat "$T/dev.out"; fail "$fx: the stand-in failed to run ($d)"; }
  [ "$d" -eq "$v" ] || { cat "$T/dev.out" "$T/out" "$T/err"; fail "$fx with $s.sig: device says $d, signet verify says $v"; }
  [ "$d" -eq "$want" ] || { cat "$T/dev.out" "$T/out"; fail "$fx with $s.sig: expected $want from both, got $d"; }
}
for fx in tai1 stm32 arith2 ternary; do build "$fx.h"; done
agree tai1.h fw 0;    agree tai1.h old 1
agree stm32.h fw 0;   agree stm32.h old 1
agree arith2.h fw 1;  agree arith2.h old 0
agree ternary.h fw 0; agree ternary.h old 1

# ( 1 ): compiled in, and said so.
sig 0 extract "$F/tai1.h"
has "$T/out" "tai1.h:[0-9]+: certificate"
hasnt "$T/out" "conditional|not compiled in"
sig 0 key match "$F/tai1.h"
has "$T/out" "held by key 'fw'"
# ( 0 ): not compiled in, and verify says nothing is baked (exit 3), never "accepted".
sig 0 extract "$F/tai0.h"
has "$T/out" "in an inactive #if branch: not compiled in"
sig 3 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/tai0.h"
one_line_error
has "$T/err" "tai0.h"
has "$T/err" "not compiled in"
hasnt "$T/out" "accept"
# STM32U5 shape: exactly one certificate baked, the other in an inactive branch.
sig 0 --json extract "$F/stm32.h"
eq "$(jq '[.files[0].found[] | select(.baked == true)] | length' "$T/out")" 1 "stm32.h baked count"
eq "$(jq -r '[.files[0].found[].state] | sort | join(",")' "$T/out")" "compiled,inactive" "stm32.h states"

# What the file cannot tell stays conditional: the value comes from another file.
{ echo '#include "ota_flags.h"'; echo '#if ( OTA_USE_NEW_SIGNER == 1 )'; macro "$fwpem"; echo '#endif'; } >"$F/elsewhere.h"
sig 3 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/elsewhere.h"
one_line_error
has "$T/err" "conditional: depends on a macro defined elsewhere"
# ... and the build's -D decides it, evaluated the same way.
sig 0 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/elsewhere.h" -D "OTA_USE_NEW_SIGNER=( 1 )"
sig 3 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/elsewhere.h" -D "OTA_USE_NEW_SIGNER=0"
one_line_error
# arith.h: defined(NO_OTA_HERE_UNDEFINED) is never seen, but "|| 0" cannot rescue it: undecided.
sig 3 verify "$T/fw.bin" --sig "$T/fw.sig" --header "$F/arith.h"
has "$T/err" "conditional"
exit 0
