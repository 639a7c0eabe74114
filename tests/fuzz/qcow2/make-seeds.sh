#!/bin/sh
# Write the qcow2 fuzz target's seeds with qemu-img and qemu-io: small
# images (512-byte and 4 KiB clusters, several refcount widths) holding
# data, zero clusters, discarded ranges, a backing file reference, a
# compressed cluster. Run from anywhere; needs qemu-utils.
set -eu
out=$(dirname "$0")/../corpus/qcow2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
mk() { # name, qemu-img create options, size, qemu-io commands...
	name=$1 opts=$2 size=$3
	shift 3
	qemu-img create -q -f qcow2 -o "$opts" "$tmp/$name" "$size"
	for c in "$@"; do
		qemu-io -f qcow2 -c "$c" "$tmp/$name" >/dev/null
	done
	cp "$tmp/$name" "$out/$name"
}
mk empty-512 cluster_size=512 64K
mk data-512 cluster_size=512 256K "write -P 0x5a 0 3000" "write -P 1 100k 512"
mk zero-512 cluster_size=512 256K "write -P 7 0 8k" "write -z 1k 2k" \
	"write -z -u 4k 1k" "discard 6k 1k"
mk refbits1-512 cluster_size=512,refcount_bits=1 128K "write -P 3 0 4k"
mk refbits64-512 cluster_size=512,refcount_bits=64 128K "write -P 3 8k 4k"
mk data-4k cluster_size=4096 1M "write -P 9 0 12k" "write -z 64k 8k"
qemu-img create -q -f raw "$tmp/base.raw" 64K
mk backing-512 cluster_size=512,backing_file=base.raw,backing_fmt=raw 64K \
	"write -P 2 1k 1k"
head -c 4096 /dev/zero | tr '\0' 'x' >"$tmp/c.raw"
qemu-img convert -q -c -f raw -O qcow2 -o cluster_size=4096 "$tmp/c.raw" \
	"$out/compressed-4k"
ls -l "$out"
