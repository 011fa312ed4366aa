#!/usr/bin/env bash
# make demo: the end-to-end story on the embedded default, in a throwaway
# store.  Each area of signet adds its chapter as tests/demo.d/NN-*.sh,
# sourced in order with $SIGNET, $S (the store) and $W (a work dir) set.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
SIGNET="$BUILD/signet"
W=$(mktemp -d /tmp/signet-demo.XXXXXX)
S="$W/store"
export SIGNET_STORE="$S" SIGNET_POLICY_DIR="$TOP/policies"
trap 'rm -rf "$W"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
for chapter in "$TOP"/tests/demo.d/[0-9]*.sh; do
  # shellcheck source=/dev/null
  . "$chapter"
done
printf '\ndemo finished: every step above ran against a real SoftHSM2 token in %s (now removed)\n' "$S"
