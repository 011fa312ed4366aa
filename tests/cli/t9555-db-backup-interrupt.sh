#!/usr/bin/env bash
# The campaign of t9550's kills (make check-campaigns): on a database-backed
# store (PostgreSQL on a unix socket, two hosts, one token behind a p11-kit
# server), `backup` SIGKILLed at every write, rename, unlink, fsync and
# sendto (each message to PostgreSQL) in turn, and `restore --db` into a
# fresh database at every sendto, write, rename, unlink and fsync.  A
# backup leaves an archive only with its record; a restore leaves the
# database empty (the next restore succeeds) or holding the whole store and
# the restore record (the same restore run again completes a directory the
# kill did not let it put in place).  tests/dbstore.sh has the checks.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_start
token_start
A="$T/hostA"
sig 0 --store "$A" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
sig 0 --store "$T/hostB" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
sig 0 --store "$A" key generate fw
sig 0 --store "$A" cert issue fw
sig 0 --store "$T/hostB" key generate boot
sig 0 --store "$T/hostB" cert issue boot
head -c 5000 /dev/urandom >"$T/img"
sig 0 --store "$T/hostB" sign "$T/img" --key boot
printf 'correct horse battery staple\n' >"$T/pass"

db_backup_kills all "$A"
sig 0 --store "$A" audit verify
sig 0 --store "$A" audit custody
# the newest backup, so that the token's anchor names a record it holds
sig 0 --store "$A" backup "$T/now.sbk" --passphrase-file "$T/pass" --scrypt-n 15
n=$(( $(db_sql "SELECT count(*) FROM signet_audit") - 1 ))
db_restore_kills all "$T/now.sbk" "$n"
