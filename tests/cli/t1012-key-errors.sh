#!/usr/bin/env bash
# Bad input: duplicate label, bad label, unknown algorithm, missing
# module, corrupt or unknown fields in signet.yaml, no store.  Each is one
# line naming the thing, the documented exit code, the store unchanged.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
peer_env
before=$(snapshot)
objs=$(token_objects)

sig 3 key generate fw
one_line_error
has "$T/err" "key 'fw' already exists"
eq "$(snapshot)" "$before" "store changed by duplicate label"
eq "$(token_objects)" "$objs" "token objects changed by duplicate label"

sig 2 key generate ../evil
one_line_error
has "$T/err" "invalid key label '../evil'"
sig 2 key generate k --alg dsa-1024
has "$T/err" "unknown key algorithm 'dsa-1024'"
sig 2 key generate
has "$T/err" "missing LABEL"
# The store's default policy (aws-freertos-esp32) allows only P-256.
sig 3 key generate k --alg rsa-2048
one_line_error
has "$T/err" "policy 'aws-freertos-esp32' does not allow rsa-2048 keys \(it allows: ecdsa-p256\)"
sig 3 key generate k --policy nosuch
has "$T/err" "no policy 'nosuch'"
sig 2 key generate k --pin 1234
has "$T/err" "unknown option '--pin'"
eq "$(snapshot)" "$before" "store changed by usage errors"

cp "$S/signet.yaml" "$T/good.yaml"
sed -i 's|^  module: .*|  module: "/nonexistent/module.so"|' "$S/signet.yaml"
before=$(snapshot)
sig 4 key generate k2
one_line_error
has "$T/err" "cannot load PKCS#11 module '/nonexistent/module.so'"
eq "$(snapshot)" "$before" "store changed by missing module"

printf 'hsm:\n  module: [unclosed\n' >"$S/signet.yaml"
before=$(snapshot)
sig 3 key list
one_line_error
has "$T/err" "signet.yaml:[0-9]+: malformed YAML"
sig 3 key generate k3
eq "$(snapshot)" "$before" "store changed by corrupt config"

cp "$T/good.yaml" "$S/signet.yaml"
printf 'colour: blue\n' >>"$S/signet.yaml"
sig 3 key list
one_line_error
has "$T/err" "signet.yaml:$(wc -l <"$S/signet.yaml"): unknown field 'colour'"

cp "$T/good.yaml" "$S/signet.yaml"
sig 3 --store "$T/nowhere" key list
has "$T/err" "no store at '$T/nowhere'"
has "$T/err" "^hint: create one with 'signet --store $T/nowhere init'"

sig 1 key show nosuch
has "$T/err" "no key 'nosuch' in custody"
sig 0 key show fw
