# Chapter 6: moving devices to a new signing key without stranding any.
# The legacy key (imported in chapter 2: it lived in a file, custody cannot
# vouch for copies) is replaced by a key generated on the token.  Devices
# trust only the key baked into their firmware, so the move goes through a
# stepping stone: firmware baking the NEW certificate, signed with the OLD
# key.  Sourced by tests/demo.sh ($SIGNET, $S, $W, $TOP set); needs chapter
# 2's `legacy` key and chapter 5's fleets.yaml.
step "60. The devices of fleet field-gen1 (firmware 3.2) bake the LEGACY key's certificate"
"$SIGNET" header legacy --out "$S/field-3.2_ota_demo_config.h" >/dev/null 2>&1
cat >>"$S/fleets.yaml" <<'YAML'
  - name: field-gen1
    rollout_days: 28
    builds:
      - { version: "3.2", artefact: field-3.2_ota_demo_config.h, devices: 4200 }
YAML
show "$SIGNET" fleet build list field-gen1

step "61. Start the rotation: a new key on the token, and a lineage statement signed by the OLD key"
show "$SIGNET" key generate fw-next --alg ecdsa-p256
show "$SIGNET" cert issue fw-next
show "$SIGNET" rotate start legacy fw-next --reason "legacy key existed in a file before import"
show cat "$S/rotations/legacy.lineage.json"; echo

step "62. Anyone with the old certificate checks the statement, without signet"
show openssl x509 -in "$S/certs/legacy/current.pem" -pubkey -noout -out "$W/legacy.pub"
show openssl dgst -sha256 -verify "$W/legacy.pub" -signature "$S/rotations/legacy.lineage.sig" "$S/rotations/legacy.lineage.json"

step "63. The stepping stone: firmware 4.0 bakes the NEW certificate and is signed with the OLD key"
"$SIGNET" header fw-next --out "$W/fw-next_ota_demo_config.h" >/dev/null 2>&1
{ printf 'firmware 4.0\n'; head -c 8192 /dev/urandom; cat "$W/fw-next_ota_demo_config.h"; } >"$S/field-4.0.bin"
cat >>"$S/fleets.yaml" <<'YAML'
      - { version: "4.0", artefact: field-4.0.bin, devices: 0 }
YAML
show "$SIGNET" sign "$S/field-4.0.bin" --key legacy --fleet field-gen1 --out "$W/field-4.0.sig"
printf '# a device still on 3.2 checks it with the key it bakes (mbedTLS, as ota_pal.c):\n'
show "$SIGNET" verify "$S/field-4.0.bin" --sig "$W/field-4.0.sig" --header "$S/field-3.2_ota_demo_config.h"

step "64. Signing for that fleet with the NEW key is refused before any OTA job exists (exit 1)"
show "$SIGNET" sign "$S/field-4.0.bin" --key fw-next --fleet field-gen1 --out "$W/too-early.sig" || true
"$SIGNET" sign "$S/field-4.0.bin" --key fw-next --out "$W/too-early.sig" >/dev/null 2>&1
printf '# what those devices would have said, had it been sent anyway:\n'
show "$SIGNET" verify "$S/field-4.0.bin" --sig "$W/too-early.sig" --header "$S/field-3.2_ota_demo_config.h" || true

step "65. Progress, and a finish that is refused while devices trust only the old key"
show "$SIGNET" rotate status legacy
show "$SIGNET" rotate finish legacy || true

step "66. The campaign reaches the fleet: every device runs the stepping stone"
sed -i 's/artefact: field-3.2_ota_demo_config.h, devices: 4200 }/artefact: field-3.2_ota_demo_config.h, devices: 0 }/; s/artefact: field-4.0.bin, devices: 0 }/artefact: field-4.0.bin, devices: 4200 }/' "$S/fleets.yaml"
show "$SIGNET" rotate status legacy
show "$SIGNET" sign "$S/field-4.0.bin" --key fw-next --fleet field-gen1 --out "$W/field-4.1.sig"

step "67. Finish: the legacy key is retired; it stays on the token for devices back from a shelf"
show "$SIGNET" rotate finish legacy
show "$SIGNET" key show legacy
show "$SIGNET" sign "$S/field-4.0.bin" --key legacy --out "$W/retired.sig" || true
show "$SIGNET" audit verify
