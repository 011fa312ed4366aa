# Sourced by every tests/cli/t*.sh.  Gives each test a private temp dir
# ($T), a fresh store with its own SoftHSM2 token (new_store), and
# assertions that stop the test with a message naming what failed.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
SIGNET="$BUILD/signet"
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
T=$(mktemp -d /tmp/signet-test.XXXXXX)
S="$T/store"
export SIGNET_STORE="$S"
export SIGNET_POLICY_DIR="$TOP/policies"
# Only the test's own shell cleans up: a background subshell killed mid-test must not remove $T.
trap '[ "$BASHPID" = "$$" ] && rm -rf "$T"' EXIT
# Sanitizer builds: full stacks so the libp11 suppression matches reliably.
export ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TOP/tests/lsan.supp:print_suppressions=0}

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }

# run EXPECTED_RC CMD...: runs CMD, stdout to $T/out, stderr to $T/err.
run() {
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "--- stdout"; cat "$T/out"; echo "--- stderr"; cat "$T/err"
    fail "expected exit $want, got $rc: $*"
  fi
}
# sig EXPECTED_RC ARGS...: run signet with ARGS.
sig() { local want=$1; shift; run "$want" "$SIGNET" "$@"; }

# has FILE REGEX: FILE has a line matching REGEX (grep -E).
has() { grep -Eq -- "$2" "$1" || { echo "--- $1"; cat "$1"; fail "'$1' lacks /$2/"; }; }
hasnt() { ! grep -Eq -- "$2" "$1" || { echo "--- $1"; cat "$1"; fail "'$1' has /$2/"; }; }
# one_line_error: stderr has exactly one "signet:" error line (a hint may follow).
one_line_error() {
  [ "$(grep -c '^signet: ' "$T/err")" -eq 1 ] || { cat "$T/err"; fail "expected one error line"; }
  ! grep -q 'error:[0-9A-F]\{8\}:' "$T/err" || fail "raw OpenSSL error codes on stderr"
}
eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"; }

# new_store [ARGS...]: a store in $S with a fresh embedded SoftHSM2 token.
new_store() { sig 0 --store "$S" init "$@"; }
# two_keys: a new store holding keys fw and old, each with its certificate (the device-agreement scenes).
two_keys() { new_store; local k; for k in fw old; do sig 0 key generate "$k"; sig 0 cert issue "$k"; done; }
# Environment for peers (pkcs11-tool, softhsm2-util) to see the store's token.
peer_env() { export SOFTHSM2_CONF="$S/hsm/softhsm2.conf"; }
user_pin() { cat "$S/hsm/user.pin"; }
p11tool() { SOFTHSM2_CONF="$S/hsm/softhsm2.conf" pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signet "$@"; }

# snapshot: a digest of every file signet keeps in the store.  The lock
# files, SoftHSM2's own token files and their known-good copy are left out
# (a failed login legitimately bumps the token's PIN counter); tests check
# token objects with pkcs11-tool.  snapshot_records leaves out the audit log
# and head too, for refusals, which add a `refused` record and nothing else.
snapshot() { (cd "$S" && find . \( -path ./hsm/tokens -o -path ./hsm/good \) -prune -o -type f ! -name lock ! -name guard.lock -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
snapshot_records() { (cd "$S" && find . \( -path ./hsm/tokens -o -path ./hsm/good \) -prune -o -type f ! -name lock ! -name guard.lock ! -name 'audit.log' ! -name audit.head -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
# last_record FIELD: a field of the newest audit record.
last_record() { tail -1 "$S/audit.log" | jq -r ".$1"; }
# forget_deleted: after deleting objects from the store's token behind signet's back (pkcs11-tool), drops
# their known-good copies too; the token guard brings back a key object file signet did not destroy.
forget_deleted() { local g; for g in "$S"/hsm/good/*/*.object; do [ -e "$S/hsm/tokens/${g#"$S"/hsm/good/}" ] || rm "$g"; done; }
# token_objects: the objects on the store's token as pkcs11-tool lists them.
# token_objects: the token's objects, labels and ids; the chain's anchor by its name (the head its label holds,
# rewritten in place at every signed head, left out: docs/audit.md).
token_objects() { p11tool --login --pin "$(user_pin)" --list-objects 2>/dev/null | grep -E 'Object|label|ID' |
  sed "s/\(signet-audit-head-[0-9a-f]*\) signed [^']*/\1/"; }
# yaml_get FILE KEY: value of a top-level "key: value" line, quotes removed.
yaml_get() { sed -n "s/^$2: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$1" | head -1; }
