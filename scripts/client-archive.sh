#!/bin/sh
# Build libgodwit-client.a so that it exports only the public API:
# link the library and the layers under it (static archives) into one
# relocatable object, make every defined symbol but godwit_* local, and
# archive that one object. An application that defines read_full() or
# log_msg() itself then links against it without a clash.
# Usage: client-archive.sh OUT.a LIB.a...
set -eu
out=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ld -r -o "$tmp/godwit-client.o" --whole-archive "$@" --no-whole-archive
objcopy --wildcard --keep-global-symbol='godwit_*' "$tmp/godwit-client.o"
rm -f "$out"
ar rcs "$out" "$tmp/godwit-client.o"
