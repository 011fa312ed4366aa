#!/usr/bin/env bash
# help, --help on every command, --version, and exit 2 for usage errors.
. "$(dirname "$0")/../lib.sh"
sig 0 --version
has "$T/out" "^signet [0-9]+\.[0-9]+\.[0-9]+$"
sig 0 help
for cmd in $(sed -n 's/^  \([a-z]*\)  .*/\1/p' "$T/out"); do
  sig 0 "$cmd" --help
  has "$T/out" "usage: signet $cmd"
  sig 0 help "$cmd"
  has "$T/out" "usage: signet $cmd"
done
sig 2 frobnicate
one_line_error
has "$T/err" "unknown command 'frobnicate'"
sig 2 --frob
sig 2
sig 2 help frobnicate
sig 2 key
has "$T/err" "missing subcommand"
sig 2 audit frob
sig 2 key list --bogus
has "$T/err" "unknown option '--bogus'"
