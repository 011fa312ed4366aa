#!/usr/bin/env bash
# header: the plain-file forms (cert-der, cert-pem: TI CC3220 loads the
# signer certificate from its file system), and --update: in a stock
# FreeRTOS ota_demo_config.h only the definition of the symbol changes
# (diff shows every other byte kept), the result compiles and the stand-in
# device accepts an image signed by the key; a file where the symbol is
# missing or defined twice is refused and left alone.  An argument that is
# both a key label and a file is refused naming both; ./fw or --file picks
# the file.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
cd "$T" || exit 1
cert="$S/certs/fw/current.pem"

sig 0 header fw --format cert-der --out signer.der
openssl x509 -in "$cert" -outform DER | cmp - signer.der || fail "cert-der is not the certificate"
sig 0 header fw --format cert-pem --out signer.pem
openssl x509 -in "$cert" | cmp - signer.pem || fail "cert-pem is not the certificate"
sig 2 header fw --format cert-pem --update signer.pem
one_line_error

X=otapalconfigCODE_SIGNING_CERTIFICATE
cat >ota_demo_config.h <<CFG
/* Stock configuration, as shipped. */
#ifndef _OTA_DEMO_CONFIG_H_
#define _OTA_DEMO_CONFIG_H_

/**
 * @brief Certificate used for validating code signing signatures in the OTA PAL.
 * (a string "#define $X" in this comment is not a definition)
 */
#ifndef $X
    #define $X    "Insert code signing certificate..."
#endif

#ifndef APP_VERSION_MAJOR
    #define APP_VERSION_MAJOR    0
#endif
#define otaconfigMAX_NUM_BLOCKS_REQUEST   1U
#endif /* _OTA_DEMO_CONFIG_H_ */
CFG
cp ota_demo_config.h orig.h
sig 1 extract ota_demo_config.h
has "$T/out" "placeholder"
sig 0 header fw --update ota_demo_config.h
has "$T/err" "^updated ota_demo_config.h"
# Every byte outside the definition is kept: the diff touches only lines 10.. of the define.
diff orig.h ota_demo_config.h >d.txt
[ "$(grep -c '^<' d.txt)" -eq 1 ] || { cat d.txt; fail "--update removed more than the definition"; }
grep -q "^< *#define $X *\"Insert code signing certificate...\"$" d.txt || { cat d.txt; fail "wrong line replaced"; }
sed -n '/^#define\|^ *#define/p' ota_demo_config.h | grep -c "$X" | grep -qx 1 || fail "not one definition after update"
head -9 ota_demo_config.h | cmp - <(head -9 orig.h) || fail "bytes before the definition changed"
tail -6 ota_demo_config.h | cmp - <(tail -6 orig.h) || fail "bytes after the definition changed"
sig 0 extract ota_demo_config.h
has "$T/out" "baked: +yes"
hasnt "$T/out" "placeholder"
head -c 20000 /dev/urandom >img.bin
sig 0 sign img.bin --key fw
cc -Wall -Werror -I. -DBAKED_HEADER='"ota_demo_config.h"' "$TOP/tests/vectors/device/otapal_standin.c" -o dev \
  -lmbedx509 -lmbedcrypto || fail "updated config does not compile"
run 0 ./dev img.bin img.bin.sig
sig 0 verify img.bin --sig img.bin.sig --header ota_demo_config.h
# Updating again is idempotent.
cp ota_demo_config.h once.h
sig 0 header fw --update ota_demo_config.h
cmp once.h ota_demo_config.h || fail "second update changed the file"
# A variable definition (the codesigner form) is replaced too.
printf '#include <stddef.h>\nstatic const char signingcredentialSIGNING_CERTIFICATE_PEM[] = "paste here";\nint x;\n' >cs.h
sig 0 header fw --format codesigner --update cs.h
has cs.h '^int x;$'
has cs.h '^#include <stddef.h>$'
has cs.h '^static const char signingcredentialSIGNING_CERTIFICATE_PEM\[\] =$'
sig 0 extract cs.h
has "$T/out" "baked: +yes"
# The declaration's specifiers on the line before its name go with it.
printf '/* x */\nstatic const char\n    signingcredentialSIGNING_CERTIFICATE_PEM[] = "paste here";\nint z;\n' >cs2.h
sig 0 header fw --format codesigner --update cs2.h
has cs2.h '^/\* x \*/$'
has cs2.h '^int z;$'
[ "$(grep -c 'static const char' cs2.h)" -eq 1 ] || { cat cs2.h; fail "specifiers duplicated"; }
cc -Wall -Werror -fsyntax-only -x c cs2.h 2>/dev/null || cc -Wall -fsyntax-only -x c cs2.h || fail "cs2.h does not compile"

# Refusals: missing, twice; the file is left alone.
printf '/* nothing here */\nint y;\n' >none.h
cp none.h none.orig
sig 3 header fw --update none.h
one_line_error
has "$T/err" "does not define $X"
cmp none.h none.orig || fail "refused update changed the file"
{ echo "#if defined(A)"; echo "#define $X \"a\""; echo "#else"; echo "#define $X \"b\""; echo "#endif"; } >twice.h
cp twice.h twice.orig
sig 3 header fw --update twice.h
one_line_error
has "$T/err" "defines $X 2 times"
cmp twice.h twice.orig || fail "refused update changed the file"
sig 2 header fw --out x.h --update twice.h

# Label and file with the same name (issue 12): refused naming both; ./fw and --file pick the file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out fw -subj /CN=file-fw -days 30 2>/dev/null
sig 2 header fw
one_line_error
has "$T/err" "'fw' is both the key 'fw' in custody and the file 'fw'"
has "$T/err" "\\./fw"
sig 0 header ./fw --format cert-pem
openssl x509 -in fw | cmp - "$T/out" || fail "./fw did not pick the file"
sig 0 header fw --file --format cert-pem
openssl x509 -in fw | cmp - "$T/out" || fail "--file did not pick the file"
sig 2 cert show fw
has "$T/err" "both the key 'fw'"
sig 0 cert show ./fw
has "$T/out" "subject: +CN=file-fw"
sig 0 cert show fw --file
has "$T/out" "subject: +CN=file-fw"
sig 2 cert lint fw
sig 1 cert lint --file fw --policy codesign-generic
has "$T/out" "^fw: error eku-missing"
mkdir elsewhere && cd elsewhere || exit 1
sig 0 cert show fw
has "$T/out" "subject: +CN=ota-signer"
sig 3 cert show nosuch
has "$T/err" "unknown label 'nosuch'"
