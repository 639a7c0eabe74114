#!/bin/sh
# make demo: two godwit hosts on this machine, each a godwitd with its own
# directories and relocation port on 127.0.0.1. Two domains are created on
# A from xl-style configs: "demo", whose guest keeps checking every page of
# memory it writes, and "disk", with a raw image in the directory both
# daemons share, whose guest keeps writing and checking every block of it.
# Their consoles are shown, then both are live-migrated to B and back
# while their guests go on checking; `godwit list` shows both sides before
# and after, and a fresh VM verifies the image at the end. Everything is
# removed at the end.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${GODWIT_BUILD:-$ROOT/build}
DEMO=$(mktemp -d /tmp/godwit-demo.XXXXXX)
PORT_A=18102
PORT_B=18202
PIDS=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { # on HOST godwit-args...: the CLI talking to that host's daemon
	host=$1; shift
	GODWIT_RUN_DIR=$DEMO/$host/run "$BUILD/godwit" "$@"
}

cleanup() {
	for h in a b; do
		for d in demo disk; do
			on $h destroy $d >/dev/null 2>&1 || true
		done
	done
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DEMO"
}
trap cleanup EXIT INT TERM

start_daemon() { # start_daemon HOST PORT
	mkdir -p "$DEMO/$1"
	"$BUILD/godwitd" --run-dir "$DEMO/$1/run" --state-dir "$DEMO/$1/state" \
		--log-file "$DEMO/$1/godwitd.log" --hooks-dir "$DEMO/hooks" \
		--relocation-address 127.0.0.1 --relocation-port "$2" \
		2>>"$DEMO/$1/godwitd.stderr" &
	PIDS="$PIDS $!"
	for _ in $(seq 100); do
		[ -S "$DEMO/$1/run/godwitd.sock" ] && return 0
		sleep 0.05
	done
	echo "demo: godwitd for host $1 did not start; its log:" >&2
	cat "$DEMO/$1/godwitd.log" >&2
	exit 1
}

# A migration ends when the VM runs on the destination; each daemon then
# takes a moment to see it (B registers the arrival once its control
# socket answers, A reaps its VMM). Wait for both, at most 10 s.
settle() { # settle FROM TO DOMAIN
	for _ in $(seq 200); do
		if on "$2" list 2>/dev/null | grep -q "^$3 " &&
		   ! on "$1" list 2>/dev/null | grep -q "^$3 "; then
			return 0
		fi
		sleep 0.05
	done
	echo "demo: the daemons did not settle; their logs:" >&2
	tail -n 5 "$DEMO/a/godwitd.log" "$DEMO/b/godwitd.log" >&2
	exit 1
}

# A few lines of a domain's console; a guest that found damage fails the
# demo.
show_console() { # show_console HOST DOMAIN SECONDS
	on "$1" console "$2" </dev/null >"$DEMO/console.txt" 2>&1 &
	c=$!
	sleep "$3"
	kill "$c" 2>/dev/null || true
	wait "$c" 2>/dev/null || true
	grep -a -E '^(dirty|blk):' "$DEMO/console.txt" | tail -n 2 |
		sed 's/^/    /'
	if grep -aq -E 'CORRUPT|BAD' "$DEMO/console.txt"; then
		echo "demo: the guest of $2 found damage" >&2
		exit 1
	fi
}

migrate_both() { # migrate_both FROM TO PORT
	for d in demo disk; do
		on "$1" migrate "$d" "127.0.0.1:$3"
		settle "$1" "$2" "$d"
	done
}

say "two hosts: godwitd A (relocation 127.0.0.1:$PORT_A) and B (127.0.0.1:$PORT_B)"
start_daemon a $PORT_A
start_daemon b $PORT_B

cat >"$DEMO/demo.cfg" <<CFG
# A 2-vCPU guest that rewrites 256 MiB at 200 MiB/s and checks, before
# every write, that each page still holds what it last wrote there.
name = "demo"
memory = 512
vcpus = 2
kernel = "$BUILD/guests/smp-dirty.elf"
extra = "mib=256 rate=200 fill=1"
on_poweroff = "destroy"
on_crash = "preserve"
CFG
truncate -s 64M "$DEMO/disk.img"
cat >"$DEMO/disk.cfg" <<CFG
# A guest with a 64 MiB virtio-blk disk (a raw image both hosts see) that
# writes every block, reads it back and checks it, pass after pass, with
# up to 32 requests in flight.
name = "disk"
memory = 64
kernel = "$BUILD/guests/blk.elf"
extra = "qd=32 pattern=rand mix=1"
disk = [ "$DEMO/disk.img,raw,xvda,rw" ]
on_poweroff = "destroy"
on_crash = "preserve"
CFG
say "host A: godwit create demo.cfg; godwit create disk.cfg"
sed 's/^/    /' "$DEMO/demo.cfg" "$DEMO/disk.cfg"
on a create "$DEMO/demo.cfg"
on a create "$DEMO/disk.cfg"

say "godwit list -l on A, then on B"
on a list -l
on b list

say "the guests on A (their consoles)"
show_console a demo 2
show_console a disk 2

say "host A: godwit migrate --verbose demo 127.0.0.1:$PORT_B, then disk"
on a migrate --verbose demo 127.0.0.1:$PORT_B
settle a b demo
on a migrate disk 127.0.0.1:$PORT_B
settle a b disk

say "godwit list on A, then on B"
on a list
on b list

say "the same guests on B, still checking: no page or block lost"
show_console b demo 2
show_console b disk 2

say "and back: both domains from B to A"
migrate_both b a $PORT_A
on a list
show_console a demo 2
show_console a disk 2

say "a fresh VM reads the whole image once the disk's domain is gone"
on a destroy disk
for _ in $(seq 200); do
	on a list 2>/dev/null | grep -q '^disk ' || break
	sleep 0.05
done
out=$("$BUILD/godwit" run --kernel "$BUILD/guests/blk.elf" --memory 64 \
	--qmp none --serial stdio --cmdline mode=verify \
	--disk "$DEMO/disk.img,raw,xvda,ro" 2>&1) || true
echo "$out" | grep -a '^blk:' | sed 's/^/    /'
if ! echo "$out" | grep -q '^blk: done passes=1$'; then
	echo "demo: the image did not verify: $out" >&2
	exit 1
fi
say "done: both domains moved A -> B -> A while running, nothing lost"
