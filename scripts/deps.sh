#!/bin/sh
# Install the Debian 12 packages godwit needs to build, test and benchmark.
# Called by `make deps` (and so by `make demo` and `make check`); only
# packages that are missing are installed, so a second run is a no-op.
set -eu

PKGS="meson ninja-build gcc pkg-config python3 binutils
libjson-c-dev libcmocka-dev libzstd-dev libsystemd-dev liburing-dev
clang clang-format libclang-rt-14-dev g++ valgrind libglib2.0-dev
qemu-system-x86 qemu-utils busybox-static cpio xz-utils iproute2 procps fio nftables
systemd libgnutls28-dev gnutls-bin openssh-client openssh-server
iputils-ping"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run make deps as root)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have empty package lists: update once, then install.
if ! apt-get install -y -q --no-install-recommends $missing; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
