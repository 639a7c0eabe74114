#!/bin/sh
# Fetch Debian's current x86-64 kernel for godwit's Linux boot test.
#
# usage: scripts/fetch-linux.sh OUTDIR
#
# Writes OUTDIR/vmlinuz (the bzImage, for the Linux 64-bit boot protocol)
# and OUTDIR/vmlinux (the ELF inside it, for PVH boot). Nothing is
# installed: the package named by linux-image-amd64's dependency is fetched
# with `apt-get download` and unpacked with `dpkg-deb -x`. The ELF is cut
# out of the bzImage using the setup header's payload_offset/payload_length
# (Documentation/arch/x86/boot.rst) and decompressed with the Debian tool
# for its magic. A second run with both outputs present does nothing.
set -eu

die() {
	echo "fetch-linux: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
if [ -s "$out/vmlinuz" ] && [ -s "$out/vmlinux" ]; then
	exit 0
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "$out/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Little-endian unsigned integer of $3 bytes at offset $2 of file $1.
le_uint() {
	od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' '
}

# The versioned image package (linux-image-6.1.0-NN-amd64 or similar).
resolve_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ <>]*\).*/\1/p' | head -n 1
}

download() {
	pkg=$(resolve_pkg)
	[ -n "$pkg" ] || return 1
	echo "fetch-linux: downloading $pkg"
	(cd "$tmp" && apt-get download -q "$pkg")
}

# Package lists can be missing or stale (404s): refresh them only then.
if ! download; then
	[ "$(id -u)" -eq 0 ] || die "apt-get download failed; run as root so apt-get update can refresh the package lists"
	echo "fetch-linux: download failed, running apt-get update"
	apt-get update -q
	download || die "cannot download the kernel package"
fi

dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/root"
vmlinuz=
for f in "$tmp"/root/boot/vmlinuz-*; do
	[ -f "$f" ] && vmlinuz=$f && break
done
[ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in the package"

# Setup header fields: the protected-mode code starts after
# (setup_sects + 1) sectors (0 means 4); the payload offset counts from it.
setup_sects=$(le_uint "$vmlinuz" $((0x1f1)) 1)
[ "$setup_sects" -eq 0 ] && setup_sects=4
payload_offset=$(le_uint "$vmlinuz" $((0x248)) 4)
payload_length=$(le_uint "$vmlinuz" $((0x24c)) 4)
[ "$payload_length" -gt 0 ] || die "bzImage has no payload (protocol < 2.08?)"
start=$(((setup_sects + 1) * 512 + payload_offset))
tail -c +$((start + 1)) "$vmlinuz" | head -c "$payload_length" >"$tmp/payload"

# Except for gzip (whose trailer carries it already), the kernel build
# appends the decompressed size as 4 extra bytes: drop them so the tools
# do not see trailing garbage.
magic=$(od -An -tx1 -N 6 "$tmp/payload" | tr -d ' ')
strip=4
case "$magic" in
1f8b*) tool="gzip -dc" strip=0 ;;
fd377a585a00) tool="xz -dc" ;;
28b52ffd*) tool="zstd -dcq" ;;
02214c18*) tool="lz4 -dc" ;;
425a68*) tool="bzip2 -dc" ;;
5d0000*) tool="xz -dc --format=lzma" ;;
*) die "unknown payload compression (magic $magic)" ;;
esac
head -c $((payload_length - strip)) "$tmp/payload" | $tool >"$tmp/vmlinux" ||
	die "decompressing the payload with '$tool' failed"

[ "$(od -An -tx1 -N 4 "$tmp/vmlinux" | tr -d ' ')" = 7f454c46 ] ||
	die "decompressed payload is not an ELF file"
# XEN_ELFNOTE_PHYS32_ENTRY (18): the PVH entry point godwit boots through.
readelf -n "$tmp/vmlinux" |
	grep -q -E '^ +Xen .*(\(0x00000012\)|PHYS32_ENTRY)' ||
	die "vmlinux has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"

mv "$vmlinuz" "$out/vmlinuz"
mv "$tmp/vmlinux" "$out/vmlinux"
echo "fetch-linux: wrote $out/vmlinuz and $out/vmlinux ($(basename "$vmlinuz"))"
