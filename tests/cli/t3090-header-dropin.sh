#!/usr/bin/env bash
# The ota-pal header as a drop-in (issue 17 item 8), checked with gcc
# -Wall -Werror and the mbedTLS device stand-in on real-shaped configs
# carrying another signer: FreeRTOS's ota_demo_config.h (the define inside
# "#ifndef") and an esp-aws-iot-style ota_config.h (an unconditional
# define), each included before and after signet's header.  Three orders
# compile and bake signet's certificate; the unconditional config included
# after it fails -Werror and, without it, bakes the stock certificate --
# what the header, --help and docs say -- and `signet verify --header`
# agrees with the device on that.  `--update` on the unconditional config
# is the way that works: it compiles with -Werror and bakes signet's.
. "$(dirname "$0")/../lib.sh"
two_keys
X=otapalconfigCODE_SIGNING_CERTIFICATE
cd "$T" || exit 1
oldpem="$S/certs/old/current.pem"
lits() { sed 's/.*/    "&\\n" \\/' "$1"; }
sig 0 header fw --out signet_signer.h
# The header says what must not come after it, and the one thing to do.
has signet_signer.h "A config included AFTER it must define the macro only inside"
has signet_signer.h "^ \\*   signet header LABEL --format ota-pal --update path/to/config.h$"
sig 0 header --help
has "$T/out" "use --update on that config instead"
hasnt "$T/out" "before or after"

# FreeRTOS ota_demo_config.h shape: default unless defined.
{ echo '#ifndef OTA_DEMO_CONFIG_H'; echo '#define OTA_DEMO_CONFIG_H'
  echo "#ifndef $X"; echo "    #define $X \\"; lits "$oldpem" | sed 's/^/    /'; echo '        ""'; echo '#endif'
  echo '#define APP_VERSION_MAJOR    1'; echo '#endif'; } >guarded.h
# esp-aws-iot ota_config.h shape: defined unconditionally.
{ echo '#ifndef OTA_CONFIG_H_'; echo '#define OTA_CONFIG_H_'
  echo '#define otaconfigMAX_NUM_BLOCKS_REQUEST    ( 1U )'
  echo "#define $X \\"; lits "$oldpem"; echo '    ""'
  echo '#define otaconfigLOG_LEVEL    LOG_INFO'; echo '#endif /* OTA_CONFIG_H_ */'; } >plain.h
cp plain.h plain.orig
head -c 30000 /dev/urandom >img.bin
sig 0 sign img.bin --key fw --out fw.sig
sig 0 sign img.bin --key old --out old.sig

# dev NAME FIRST SECOND [CFLAGS]: the stand-in built with FIRST then SECOND included.
dev() { printf '#include "%s"\n#include "%s"\n' "$2" "$3" >"$1.h"
  cc -Wall ${4:--Werror} -I. -DBAKED_HEADER="\"$1.h\"" "$TOP/tests/vectors/device/otapal_standin.c" -o "$1" \
    -lmbedx509 -lmbedcrypto 2>"$1.cc"; }
# baked NAME WANT: the device accepts WANT's signature and rejects the other's; signet, on the same text, agrees.
baked() { local k
  cat "$(sed -n 's/#include "\(.*\)"/\1/p' "$1.h" | head -1)" "$(sed -n 's/#include "\(.*\)"/\1/p' "$1.h" | tail -1)" >"$1.flat.h"
  for k in fw old; do
    "./$1" img.bin "$k.sig" >/dev/null 2>&1; d=$?
    "$SIGNET" verify img.bin --sig "$k.sig" --header "$1.flat.h" >"$T/out" 2>"$T/err"; v=$?
    [ "$d" -eq "$v" ] || { cat "$T/out" "$T/err"; fail "$1 with $k.sig: device $d, signet verify $v"; }
    [ "$d" -eq "$([ "$k" = "$2" ] && echo 0 || echo 1)" ] || fail "$1: $k.sig gives $d: $2's certificate is not the one baked"
  done; }

for cfg in guarded plain; do
  dev "$cfg-after" "$cfg.h" signet_signer.h || { cat "$cfg-after.cc"; fail "$cfg.h then signet's header: -Werror fails"; }
  baked "$cfg-after" fw
done
dev guarded-before signet_signer.h guarded.h || { cat guarded-before.cc; fail "signet's header then guarded.h: -Werror fails"; }
baked guarded-before fw
# The one order that cannot work from a header: the unconditional define comes last.
dev plain-before signet_signer.h plain.h && fail "signet's header then plain.h compiled with -Werror"
has plain-before.cc "\"$X\" redefined"
dev plain-before signet_signer.h plain.h -Wno-error || { cat plain-before.cc; fail "plain-before does not compile at all"; }
baked plain-before old

# --update on that config: only its definition changes; it compiles with -Werror alone and bakes fw.
sig 0 header fw --update plain.h
has "$T/err" "^updated plain.h"
eq "$(grep -c "#define $X" plain.h)" 1 "definitions after --update"
head -3 plain.h | cmp - <(head -3 plain.orig) || fail "bytes before the definition changed"
tail -2 plain.h | cmp - <(tail -2 plain.orig) || fail "bytes after the definition changed"
printf '#include "plain.h"\n' >updated.h
cc -Wall -Werror -I. -DBAKED_HEADER='"updated.h"' "$TOP/tests/vectors/device/otapal_standin.c" -o updated \
  -lmbedx509 -lmbedcrypto || fail "updated plain.h does not compile with -Werror"
for k in fw old; do
  ./updated img.bin "$k.sig" >/dev/null 2>&1; d=$?
  "$SIGNET" verify img.bin --sig "$k.sig" --header plain.h >"$T/out" 2>"$T/err"; v=$?
  eq "$d $v" "$([ "$k" = fw ] && echo '0 0' || echo '1 1')" "updated plain.h with $k.sig (device, signet)"
done
exit 0
