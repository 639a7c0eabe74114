#!/bin/sh
# Build the initramfs of godwit's Linux boot test from busybox-static.
#
# usage: scripts/mkinitramfs.sh OUTDIR
#
# Writes OUTDIR/initramfs.cpio.gz. Its /init mounts /proc and /sys, prints
# GODWIT-LINUX-BOOTED on the console and powers the machine off at once
# (busybox `poweroff -f`: reboot(2) with no init system, so the kernel goes
# straight to ACPI S5). A second run with the output present does nothing.
#
# /dev/console must exist in the archive or the kernel starts /init with
# no stdin/stdout. Creating a device node needs root, so that one entry is
# written by hand in the "newc" format (Documentation/driver-api/
# early-userspace/buffer-format.rst) and the kernel unpacks it followed by
# the cpio archive of the regular files.
set -eu

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
[ -s "$out/initramfs.cpio.gz" ] && exit 0
busybox=/bin/busybox
if ! [ -x "$busybox" ] || ! "$busybox" --list | grep -qx poweroff; then
	die "busybox-static is not installed (run make deps)"
fi
file -L "$busybox" 2>/dev/null | grep -q dynamically &&
	die "$busybox is dynamically linked; install busybox-static"
command -v cpio >/dev/null || die "cpio is not installed (run make deps)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "$out/.initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# One newc entry: name, mode (octal), device major, minor; no data.
# The header is 110 bytes; header + name + NUL is padded to 4 bytes.
newc_entry() {
	namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 $((0$2)) 0 0 1 0 0 0 0 "$3" "$4" $namesize 0
	printf '%s\0' "$1"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	[ $pad -gt 0 ] && head -c $pad /dev/zero
	return 0
}

root=$tmp/root
mkdir -p "$root/bin" "$root/proc" "$root/sys"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cat >"$root/init" <<'EOF'
#!/bin/sh
# godwit Linux boot test: prove userspace runs, then power off.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo GODWIT-LINUX-BOOTED
/bin/busybox poweroff -f
# Only reached if poweroff failed: stay alive so the panic is not hidden.
echo "GODWIT-LINUX-POWEROFF-FAILED"
exec /bin/busybox sleep 3600
EOF
chmod 755 "$root/init"

{
	newc_entry dev 040755 0 0
	newc_entry dev/console 020600 5 1
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0)
} | gzip -9n >"$tmp/initramfs.cpio.gz"
mv "$tmp/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
echo "mkinitramfs: wrote $out/initramfs.cpio.gz"
