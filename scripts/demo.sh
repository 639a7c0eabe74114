#!/bin/sh
# make demo: two godwit hosts on this machine, each a godwitd with its own
# directories and relocation port on 127.0.0.1. A domain is created on A
# from an xl-style config, its console shown, then live-migrated to B
# while its guest keeps checking every page of memory it writes; `godwit
# list` shows both sides before and after. Everything is removed at the end.
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
		on $h destroy demo >/dev/null 2>&1 || true
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
settle() { # settle FROM TO
	for _ in $(seq 200); do
		if on "$2" list 2>/dev/null | grep -q '^demo ' &&
		   ! on "$1" list 2>/dev/null | grep -q '^demo '; then
			return 0
		fi
		sleep 0.05
	done
	echo "demo: the daemons did not settle; their logs:" >&2
	tail -n 5 "$DEMO/a/godwitd.log" "$DEMO/b/godwitd.log" >&2
	exit 1
}

show_console() { # show_console HOST SECONDS: a few lines of serial output
	on "$1" console demo </dev/null >"$DEMO/console.txt" 2>&1 &
	c=$!
	sleep "$2"
	kill "$c" 2>/dev/null || true
	wait "$c" 2>/dev/null || true
	grep -a '^dirty:' "$DEMO/console.txt" | tail -n 3 | sed 's/^/    /'
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
say "host A: godwit create demo.cfg"
sed 's/^/    /' "$DEMO/demo.cfg"
on a create "$DEMO/demo.cfg"

say "godwit list on A, then on B"
on a list
on b list

say "the guest on A (its console)"
show_console a 2

say "host A: godwit migrate --verbose demo 127.0.0.1:$PORT_B"
on a migrate --verbose demo 127.0.0.1:$PORT_B
settle a b

say "godwit list on A, then on B"
on a list
on b list

say "the same guest on B, still sweeping, no page lost"
show_console b 2
if grep -aq CORRUPT "$DEMO/console.txt"; then
	echo "demo: the guest found a corrupted page" >&2
	exit 1
fi

say "and back: godwit migrate demo 127.0.0.1:$PORT_A (from B)"
on b migrate demo 127.0.0.1:$PORT_A
settle b a
on a list
show_console a 2
say "done: the domain moved A -> B -> A while running"
