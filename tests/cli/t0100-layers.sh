#!/usr/bin/env bash
# The floors (docs/development.md, "Layout"): no #include in src/ or
# include/ points up a floor, and the check itself fails on one that does
# (an upward include injected into a copy of the tree).
set -eu
cd "$(dirname "$0")/../.."
tests/layers.sh
tests/layers.sh --self-test
