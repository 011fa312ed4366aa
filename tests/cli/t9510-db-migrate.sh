#!/usr/bin/env bash
# store migrate there and back: a file store (on a token behind a p11-kit
# server) copied into PostgreSQL keeps its chain byte for byte, verifiable
# before and after; a host joins it and signs; the database store written
# back to a new directory is a file store whose audit.log is the database's
# chain byte for byte, and audit verify passes there.  The sources are left
# exactly as they were.  Refusals: a database holding a store already, a
# target directory that exists, the wrong kind of --to.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_start
token_start

sig 0 init --module "$CLIENT" --token shared --pin-file "$T/pin"
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 20000 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw
sig 0 cert reissue fw
sig 0 audit verify
cp "$S/audit.log" "$T/file.log"
before=$(snapshot)

sig 2 store migrate --to "$T/elsewhere"
has "$T/err" "this is a file store"
sig 0 store migrate --to "$DB"
has "$T/out" "copied store $S into database postgresql:signet@"
eq "$(snapshot)" "$before" "the file store is left as it was"
db_records >"$T/db.log"
cmp -s "$T/file.log" "$T/db.log" || fail "the database's chain is not the file store's, byte for byte"
eq "$(db_sql "SELECT count(*) FROM signet_files WHERE path IN ('keys/fw.yaml', 'certs/fw/current.pem', 'audit.pub')")" 3 "store files in the database"
# A database that holds a store already is refused.
sig 3 store migrate --to "$DB"
one_line_error; has "$T/err" "holds a signet store already"

# A host joins it: its copy is the file store's chain, which verifies, then it goes on.
H="$T/host"
sig 0 --store "$H" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host alpha
head -c "$(wc -c <"$T/file.log")" "$H/audit.log" | cmp -s - "$T/file.log" || fail "the joined host's chain does not start with the file store's"
cmp -s "$S/certs/fw/current.pem" "$H/certs/fw/current.pem" || fail "the joined host lacks the current certificate"
sig 0 --store "$H" audit verify
sig 0 --store "$H" sign "$T/img" --key fw --out "$T/img2.sig"
base64 -d "$T/img2.sig" >"$T/s.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$T/img"
sig 0 --store "$H" audit verify

# And back: a file store of the database's chain.
sig 2 --store "$H" store migrate --to "$DB"
has "$T/err" "in a database already"
mkdir "$T/taken"; touch "$T/taken/x"
sig 3 --store "$H" store migrate --to "$T/taken"
one_line_error
# a file people write, shared through the database, goes back with the rest
printf 'release notes\n' >"$H/notes.txt"
sig 0 --store "$H" store put notes.txt
hbefore=$(cd "$H" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum | sha256sum)
sig 0 --store "$H" store migrate --to "$T/back"
has "$T/out" "as a file store"
eq "$(cd "$H" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum | sha256sum)" "$hbefore" "the host's directory is left as it was"
db_records >"$T/db2.log"
cmp -s "$T/back/audit.log" "$T/db2.log" || fail "the file store written back is not the database's chain, byte for byte"
head -c "$(wc -c <"$T/file.log")" "$T/back/audit.log" | cmp -s - "$T/file.log" || fail "the first file store's records changed on the way there and back"
hasnt "$T/back/signet.yaml" "postgresql"
cmp -s "$H/notes.txt" "$T/back/notes.txt" || fail "the file store written back lacks notes.txt, shared by store put"
[ ! -e "$T/back/shared.sha256" ] || fail "the host's shared.sha256 went into the file store"
sig 0 --store "$T/back" audit verify
has "$T/out" "audit log intact"
sig 0 --store "$T/back" key list
has "$T/out" "fw"
# The file store written back works: it signs, and its chain goes on.
sig 0 --store "$T/back" sign "$T/img" --key fw --out "$T/img3.sig"
sig 0 --store "$T/back" audit verify
