#!/usr/bin/env bash
# Files people write into a database-backed store (issue 20 follow-up):
# `signet store put` shares them through the command's transaction, one
# store.put record per file (path, sha256, size).  Two hosts on one
# PostgreSQL and one token (t9500's setup): a two-person-rule policy and
# its allowed_signers put on host A govern a sign on host B (refused
# without approvals, recorded as B's refusal; signed with two); a
# fleets.yaml (and the header it names) put on A is what `fleet report` and
# `rotate status` on B count; a local edit on B not put is refused in one
# line by every command, is neither lost nor used, and a put from B shares
# it; a file B has that was never shared is refused where it is read; a
# newer put from A replaces B's untouched copy; a put from B over a
# version A shared since B took its copy is refused (it would undo A's);
# a broken policy, a policy
# asking for more approvers than its allowed_signers names, and
# command-owned or host-local paths are refused, nothing recorded; audit
# verify on both hosts.  Then a file store: the record alone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
two_hosts
db_sha() { db_sql "SELECT encode(sha256(content), 'hex') FROM signet_files WHERE path = '$1'"; }
sha() { sha256sum "$1" | cut -c1-64; }
# put_recorded REL HOST: the newest store.put record for REL names its hash and size, made by HOST.
put_recorded() {
  eq "$(db_sql "SELECT host || ' ' || (convert_from(record, 'UTF8')::json->>'result') || ' ' || (convert_from(record, 'UTF8')::json->'details'->>'sha256') || ' ' || (convert_from(record, 'UTF8')::json->'details'->>'size') FROM signet_audit WHERE convert_from(record, 'UTF8')::json->>'op' = 'store.put' AND convert_from(record, 'UTF8')::json->'details'->>'path' = '$1' ORDER BY seq DESC LIMIT 1")" \
    "$2 ok $(db_sha "$1") $(db_sql "SELECT length(content) FROM signet_files WHERE path = '$1'")" "the store.put record of $1"
}

sa 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
sb 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
sa 0 key generate fw
sa 0 cert issue fw --subject "CN=fw"

# A two-person rule, written on host A and put there.
mkdir -p "$A/policies"
for n in ed p256; do
  case $n in p256) a="-t ecdsa -b 256";; *) a="-t ed25519";; esac
  ssh-keygen -q $a -N '' -C "$n@example.com" -f "$T/$n" >/dev/null
  echo "$n@example.com $(cut -d' ' -f1-2 "$T/$n.pub")" >>"$A/approvers"
done
{ sed "s/^name: .*/name: release/" "$TOP/policies/codesign-generic.yaml"
  echo "approvals: { required: 2, allowed_signers: approvers, max_age: 24h }"; } >"$A/policies/release.yaml"
n=$(db_count)
sa 0 store put approvers "$A/policies/release.yaml"
has "$T/out" "^shared approvers \\(sha256 $(sha "$A/approvers"), [0-9]+ bytes\\) with every host of database postgresql:signet@"
has "$T/out" "^shared policies/release.yaml "
eq "$(( $(db_count) - n ))" 2 "one record per file put"
put_recorded approvers alpha
put_recorded policies/release.yaml alpha
eq "$(db_sha policies/release.yaml)" "$(sha "$A/policies/release.yaml")" "the policy in the database"
sa 0 key generate rel --policy release

# Host B takes both at its next command, and the policy governs its sign.
head -c 3000 /dev/urandom >"$T/img.bin"
n=$(db_count)
sb 1 sign "$T/img.bin" --key rel --out "$T/img.sig"
one_line_error
has "$T/err" "^signet: key 'rel' signs only with 2 approvals \\(policy release\\): none given"
[ ! -e "$T/img.sig" ] || fail "host B signed without approvals"
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host B did not take the policy"
cmp -s "$A/approvers" "$B/approvers" || fail "host B did not take allowed_signers"
eq "$(( $(db_count) - n ))" 1 "one record for the refused sign"
eq "$(db_sql "SELECT host || ' ' || (convert_from(record, 'UTF8')::json->>'op') || ' ' || (convert_from(record, 'UTF8')::json->>'result') FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
  "beta sign refused" "host B's refusal is on record"
mkdir "$T/ap"
sb 0 approve request "$T/img.bin" --key rel --out "$T/ap/req.json"
for n in ed p256; do
  ssh-keygen -Y sign -f "$T/$n" -n signet-release "$T/ap/req.json" 2>/dev/null || fail "ssh-keygen -Y sign $n"
  mv "$T/ap/req.json.sig" "$T/ap/req.json.$n.sig"
done
sb 0 sign "$T/img.bin" --key rel --out "$T/img.sig" --approvals "$T/ap"
[ -s "$T/img.sig" ] || fail "host B did not sign with two approvals"
eq "$(tail -1 "$B/audit.log" | jq -r '"\(.op) \(.result) \(.host) \(.details.approval.approvers | length)"')" \
  "sign ok beta 2" "host B's sign, approved"

# A fleets.yaml host B wrote for itself, never shared: refused where it is read.
echo "fleets: []" >"$B/fleets.yaml"
sb 3 fleet report
one_line_error
has "$T/err" "^signet: fleets.yaml on this host was never shared: "
rm "$B/fleets.yaml"

# fleets.yaml and the header it names, put on host A: host B counts them.
sa 0 header fw --out "$A/fw.h"
cat >"$A/fleets.yaml" <<YAML
fleets:
  - name: gen1
    builds:
      - { version: 1.0, artefact: fw.h, devices: 500 }
YAML
sa 0 --json store put fleets.yaml fw.h
eq "$(jq -r '"\(.database) \(.files | length) \(.files[0].path) \(.files[0].sha256) \(.files[1].path)"' "$T/out")" \
  "postgresql:signet@$PGD 2 fleets.yaml $(sha "$A/fleets.yaml") fw.h" "store put --json"
put_recorded fleets.yaml alpha
sb 0 --json fleet report
eq "$(jq -r '.summary.devices' "$T/out")" 500 "host B's fleet report counts host A's fleets.yaml"
sa 0 key generate k2
sa 0 rotate start fw k2
sb 0 rotate status fw
has "$T/out" "^  gen1 +500 +0 +0 +0 "
cmp -s "$A/fw.h" "$B/fw.h" || fail "host B did not take the header fleets.yaml names"


# A local edit on host B, not put: every command refuses it in one line; it is neither lost nor used.
echo "# tightened on beta" >>"$B/policies/release.yaml"
cp "$B/policies/release.yaml" "$T/edited.yaml"
n=$(db_count)
want="^signet: policies/release.yaml on this host was edited but not shared: 'signet store put policies/release.yaml' shares it with every host \\(or remove it to take the store's\\)$"
for c in "key list" "sign $T/img.bin --key rel --out $T/img2.sig" "audit verify"; do
  sb 3 $c
  one_line_error
  has "$T/err" "$want"
done
[ ! -e "$T/img2.sig" ] || fail "host B signed with an edit it did not share"
eq "$(db_count)" "$n" "records after refusals of a local edit"
cmp -s "$T/edited.yaml" "$B/policies/release.yaml" || fail "host B's local edit was lost"
sa 0 key list    # host A is not concerned
# Removing it takes the store's again.
rm "$B/policies/release.yaml"
sb 0 key list
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host B did not take the store's policy back"

# A newer put from host A replaces host B's untouched copy at B's next command.
sed -i 's/max_age: 24h/max_age: 12h/' "$A/policies/release.yaml"
sa 0 store put policies/release.yaml
put_recorded policies/release.yaml alpha
sb 0 policy show release
has "$T/out" "expires 12h00m after it is made"
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host B kept the older policy"

# An edit on host B, put from B: shared, and host A takes it.
echo "# reviewed on beta" >>"$B/policies/release.yaml"
sb 0 store put "$B/policies/release.yaml"
put_recorded policies/release.yaml beta
sa 0 key list
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host A did not take host B's put"

# Both hosts edit it; A puts first: B's put would undo A's, so it is refused, nothing recorded, B's edit kept.
echo "# edit on alpha" >>"$A/policies/release.yaml"
echo "# edit on beta" >>"$B/policies/release.yaml"
cp "$B/policies/release.yaml" "$T/beta.yaml"
sa 0 store put policies/release.yaml
n=$(db_count)
sb 3 store put policies/release.yaml
one_line_error
has "$T/err" "^signet: policies/release.yaml was shared by another host since this host took it; putting this host's edit would undo that: move it aside, run any command to take the store's, merge, then put it$"
eq "$(db_count)" "$n" "records after a put over another host's"
cmp -s "$T/beta.yaml" "$B/policies/release.yaml" || fail "host B's edit was lost"
mv "$B/policies/release.yaml" "$T/beta-aside.yaml"
sb 0 key list
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host B did not take host A's put"
echo "# edit on beta" >>"$B/policies/release.yaml"
sb 0 store put policies/release.yaml
put_recorded policies/release.yaml beta
sa 0 key list
cmp -s "$A/policies/release.yaml" "$B/policies/release.yaml" || fail "host A did not take host B's merged put"

# A file host B has that was never shared: refused where it is read, other commands go on.
sed "s/^name: .*/name: local/" "$TOP/policies/codesign-generic.yaml" >"$B/policies/local.yaml"
n=$(db_count)
sb 3 key generate loc --policy local
one_line_error
has "$T/err" "^signet: policies/local.yaml on this host was never shared: 'signet store put policies/local.yaml' shares it with every host \\(or remove it\\)$"
eq "$(db_count)" "$n" "records after a never-shared policy was refused"
sb 0 key list
sb 0 store put policies/local.yaml
sa 0 policy show local
sa 0 key generate loc --policy local

# Refused puts: nothing recorded, nothing in the database.
n=$(db_count)
printf 'name: bad\nkey: [\n' >"$A/policies/bad.yaml"
sa 3 store put policies/bad.yaml
one_line_error
has "$T/err" "^signet: $A/policies/bad.yaml:[0-9]+: "
{ sed "s/^name: .*/name: three/" "$TOP/policies/codesign-generic.yaml"
  echo "approvals: { required: 3, allowed_signers: approvers }"; } >"$A/policies/three.yaml"
sa 3 store put policies/three.yaml
one_line_error
has "$T/err" "^signet: $A/policies/three.yaml: approvals: required is 3 but $A/approvers names 2 distinct principals$"
sed "s/^name: .*/name: other/" "$TOP/policies/codesign-generic.yaml" >"$A/policies/misnamed.yaml"
sa 3 store put policies/misnamed.yaml
has "$T/err" "names itself 'other'"
echo "fleets: {}" >"$T/fleets.bad"; cp "$A/fleets.yaml" "$T/fleets.good"; cp "$T/fleets.bad" "$A/fleets.yaml"
sa 3 store put fleets.yaml
one_line_error
has "$T/err" "^signet: $A/fleets.yaml:1: "
cp "$T/fleets.good" "$A/fleets.yaml"
echo "carol@example.com not-a-key" >>"$A/approvers"
sa 3 store put approvers
one_line_error
has "$T/err" "^signet: $A/approvers:3: "
sed -i '$d' "$A/approvers"
for p in keys/fw.yaml certs/fw audit.log audit.pub rotations/fw.yaml fleets/x.yaml; do
  sa 2 store put "$p"
  one_line_error
  has "$T/err" "is written by signet's own commands"
done
for p in signet.yaml lock intents/x.json hsm/x shared.sha256; do
  sa 2 store put "$p"
  has "$T/err" "is this host's own"
done
sa 2 store put ../outside
sa 2 store put /etc/hostname
has "$T/err" "is not inside the store"
sa 3 store put nothing-here
one_line_error
eq "$(db_count)" "$n" "records after refused puts"
eq "$(db_sql "SELECT count(*) FROM signet_files WHERE path IN ('policies/bad.yaml', 'policies/three.yaml', 'policies/misnamed.yaml')")" 0 "refused files in the database"
eq "$(db_sha fleets.yaml)" "$(sha "$A/fleets.yaml")" "fleets.yaml after a refused put"
rm "$A/policies/bad.yaml" "$A/policies/three.yaml" "$A/policies/misnamed.yaml"

# One chain, verified from both hosts.
sa 0 audit verify
sb 0 audit verify
cmp -s "$A/audit.log" "$B/audit.log" || fail "the hosts' chains differ"
eq "$(db_sql "SELECT count(*) FROM signet_audit WHERE convert_from(record, 'UTF8')::json->>'op' = 'store.put'")" 9 "store.put records"

# A file store: the record alone, an audit trail of policy and inventory changes.
new_store
mkdir -p "$S/policies"
sed "s/^name: .*/name: fs/" "$TOP/policies/codesign-generic.yaml" >"$S/policies/fs.yaml"
before=$(wc -l <"$S/audit.log")
sig 0 store put policies/fs.yaml
has "$T/out" "^recorded policies/fs.yaml \\(sha256 $(sha "$S/policies/fs.yaml"), $(stat -c %s "$S/policies/fs.yaml") bytes\\)$"
eq "$(( $(wc -l <"$S/audit.log") - before ))" 1 "one record on a file store"
eq "$(last_record op) $(last_record result) $(last_record details.path) $(last_record details.sha256) $(last_record details.size)" \
  "store.put ok policies/fs.yaml $(sha "$S/policies/fs.yaml") $(stat -c %s "$S/policies/fs.yaml")" "the file store's store.put record"
[ ! -e "$S/shared.sha256" ] || fail "a file store keeps a manifest of shared files"
echo "# local" >>"$S/policies/fs.yaml"
sig 0 policy show fs    # a file store has one copy: nothing to diverge from
sig 0 audit verify
hasnt "$T/out" "refused attempts"
