#!/bin/sh
# make demo: two godwit hosts on this machine, each a godwitd with its own
# directories and relocation port on 127.0.0.1. Two domains are created on
# A from xl-style configs: "demo", whose guest keeps checking every page of
# memory it writes, and "disk", with a raw image in the directory both
# daemons share, whose guest keeps writing and checking every block of it.
# Their consoles are shown, then both are live-migrated to B and back
# while their guests go on checking; `godwit list` shows both sides before
# and after, and a fresh VM verifies the image at the end. As root, a third
# domain, "web", answers a client on a bridge while it moves A -> B, and
# the client says how many answers it got and how long it saw nothing.
# Everything is removed at the end.
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

# The network part (root only): bridge $BR with no address on this host,
# and a client namespace $NS on it through a veth, 10.98.76.1/24.
BR=gwdemo$$
NS=gwdemo-$$
net_cleanup() {
	[ -n "${NET:-}" ] || return 0
	ip netns del "$NS" 2>/dev/null || true
	ip link del "gwdc$$" 2>/dev/null || true
	ip link del "$BR" 2>/dev/null || true
}

cleanup() {
	for h in a b; do
		for d in demo disk web; do
			on $h destroy $d >/dev/null 2>&1 || true
		done
	done
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	net_cleanup
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
# A service on the network: the net guest answers UDP on a tap in bridge
# $BR; a client in its own namespace asks 1000 times a second while the
# domain moves from A to B, and says what it saw.
net_demo() {
	if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
		say "a service on the network: skipped (needs root and /dev/net/tun)"
		return 0
	fi
	NET=1
	ip link add "$BR" type bridge
	ip link set "$BR" up
	ip netns add "$NS"
	ip link add "gwdc$$" type veth peer name eth0 netns "$NS"
	ip link set "gwdc$$" master "$BR" up
	ip -n "$NS" addr add 10.98.76.1/24 dev eth0
	ip -n "$NS" link set eth0 up
	ip -n "$NS" link set lo up
	cat >"$DEMO/web.cfg" <<CFG
# A guest that answers ARP, ping and a numbered UDP echo (port 7) on a
# virtio-net NIC whose tap goes into bridge $BR.
name = "web"
memory = 32
kernel = "$BUILD/guests/net.elf"
extra = "ip=10.98.76.2"
vif = [ "mac=00:16:3e:de:00:01, bridge=$BR" ]
on_poweroff = "destroy"
CFG
	# The memory-checking guest's two vCPUs would take the CPU that the
	# net guest's driver needs here (it runs emulated, KVM-HERE.md).
	on a pause demo
	say "a service on the network: godwit create web.cfg on A"
	sed 's/^/    /' "$DEMO/web.cfg"
	on a create "$DEMO/web.cfg"
	on a list -l web
	ip netns exec "$NS" ping -c 1 -w 20 10.98.76.2 | sed -n 2p | sed 's/^/    /'
	say "the client asks 1000 times a second while web moves A -> B"
	ip netns exec "$NS" "$BUILD/tests/kvm/gw-net-client" 10.98.76.2 7 \
		--seconds 60 --until "$DEMO/web.stop" >"$DEMO/web.json" &
	c=$!
	sleep 1
	on a migrate web 127.0.0.1:$PORT_B 2>&1 | tee "$DEMO/web.mig" |
		sed 's/^/    /'
	settle a b web
	sleep 1
	touch "$DEMO/web.stop"
	wait "$c"
	python3 - "$DEMO/web.json" "$DEMO/web.mig" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
d = re.search(r"downtime ([\d.]+) ms", open(sys.argv[2]).read())
print("    client: %d requests, %d answered, %d lost (%d of them sent outside"
      " the blackout), %d duplicated, %d reordered" % (
          s["sent"], s["answered"], s["lost"], s["lost_outside_blackout"],
          s["duplicated"], s["reordered"]))
print("    blackout (longest gap between answers): %.1f ms; godwit's "
      "downtime: %s ms; round trip median %.2f ms" % (
          s["blackout_ms"], d.group(1) if d else "?", s["rtt_median_ms"]))
PY
	on b destroy web
}
net_demo

say "done: every domain moved while running, nothing lost"
