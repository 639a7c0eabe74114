#!/usr/bin/python3
"""The guests' virtio side against devices nobody here wrote: QEMU microvm's
virtio-mmio transport with its virtio-blk, virtio-console and virtio-net.

Proves the contracts of guests/README.md: the blk guest's passes, its
verify rule on an image written by an earlier run (after clean ends, a
kill -9 in mid-pass, stale and corrupted sectors put there by this test),
console=virtio for output and input, discovery from the ACPI DSDT and
from virtio_mmio.device= (QEMU without ACPI), refusal of legacy devices,
and the net guest answering ARP, ping and UDP echo from a network
namespace. Every case starts
  qemu-system-x86_64 -enable-kvm -M microvm -cpu qemu64,-cx16 -m 256
      -global virtio-mmio.force-legacy=false -kernel X.elf -append ARGS
      -device isa-debug-exit,iobase=0xf4,iosize=0x04 -nodefaults ...
plus its devices (QEMU 7.2's virtio-mmio defaults to the legacy
interface, which the guests refuse). Images live in a temporary
directory per case; QEMU processes, namespaces and taps are removed
before the test ends.

Usage: test_qemu_virtio.py BUILD_DIR [CASE_NAME...]
Exit status: 0 pass, 1 failure, 77 skipped (no /dev/kvm or no QEMU).
"""

import concurrent.futures
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import test_qemu_guests as h
from test_qemu_guests import expect, debug_exit, run_to_exit, only_prefix

WORKERS = 2
MODERN = ["-global", "virtio-mmio.force-legacy=false"]
SECTOR_MAGIC = 0x31534b4c42574447  # "GDWBLKS1", guests/blk.h


def qemu(elf, append, devices=(), machine="microvm", modern=True,
         serial=("-nographic", "-serial", "stdio"), mem=256):
    cmd = [h.QEMU, "-enable-kvm", "-M", machine, "-cpu", "qemu64,-cx16",
           "-m", str(mem), "-kernel", elf, "-append", append,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-nodefaults", "-no-user-config"] + list(serial)
    return cmd + (MODERN if modern else []) + list(devices)


def disk(path, aio="threads", extra="", dev_opts=""):
    return ["-drive", "file=%s,if=none,id=d0,format=raw,aio=%s%s" %
            (path, aio, extra),
            "-device", "virtio-blk-device,drive=d0" + dev_opts]


def image(tmp, name, mib):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    return path


# --- blk -----------------------------------------------------------------

def blk_run(build, img, append, aio="threads", passes=None, machine="microvm",
            dev_opts=""):
    """A blk run that must end with done passes=K and status 0."""
    g = yield qemu(build + "/blk.elf", append,
                   disk(img, aio, dev_opts=dev_opts), machine=machine)
    rc = run_to_exit(g, 90)
    only_prefix(g, "blk")
    want = passes if passes is not None else \
        int(re.search(r"passes=(\d+)", append).group(1))
    expect(g.lines[:1] == ["blk: ready"], "first line %r" % g.lines[:1])
    expect(g.lines[-1:] == ["blk: done passes=%d" % want],
           "last line %r, want done passes=%d" % (g.lines[-1:], want))
    seen = [int(l.split()[2]) for l in g.lines if l.startswith("blk: pass ")]
    expect(seen and seen == sorted(seen) and seen[-1] == want,
           "pass lines %r not increasing to %d" % (seen, want))
    expect(rc == debug_exit(0), "exit status %d" % rc)
    return g


def blk_verify_fails(build, img, pattern):
    g = yield qemu(build + "/blk.elf", "mode=verify", disk(img))
    rc = run_to_exit(g, 60)
    expect(len(g.lines) == 2 and g.lines[0] == "blk: ready" and
           re.fullmatch(pattern, g.lines[1]), "lines %r, want %s" %
           (g.lines, pattern))
    expect(rc == debug_exit(3), "exit status %d" % rc)
    return g


def blk_passes(build, aio):
    """Several passes at qd 1 and 128, bs 4 KiB and 64 KiB, then verify."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 1)
        yield from blk_run(build, img, "passes=2 qd=1 bs=4096", aio)
        yield from blk_run(build, img, "passes=3 qd=128 bs=65536", aio)
        img2 = image(tmp, "disk2.raw", 4)
        yield from blk_run(build, img2,
                           "passes=3 qd=128 bs=4096 pattern=rand", aio)
        yield from blk_run(build, img2, "passes=2 qd=1 bs=65536", aio)
        for i in (img, img2):
            yield from blk_run(build, i, "mode=verify", aio, passes=1)


def case_blk_threads(build):
    yield from blk_passes(build, "threads")


def case_blk_io_uring(build):
    yield from blk_passes(build, "io_uring")


def sector_offset(img, nth):
    """Byte offset of the nth data sector (the data area starts at 8)."""
    return (8 + nth) * 512


def case_blk_corrupt(build):
    """A sector overwritten behind the guest's back is reported exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 2)
        yield from blk_run(build, img, "passes=1 qd=32")
        lba = 8 + 1000
        with open(img, "r+b") as f:
            f.seek(lba * 512)
            magic = struct.unpack("<Q", f.read(8))[0]
            expect(magic == SECTOR_MAGIC, "sector %d holds %x" % (lba, magic))
            f.seek(lba * 512)
            f.write(struct.pack("<Q", 0x1122334455667788))
        yield from blk_verify_fails(
            build, img, r"blk: CORRUPT lba=%x expected=%x "
            r"found=1122334455667788" % (lba, SECTOR_MAGIC))


def case_blk_stale(build):
    """A block from an older generation (a lost write) fails verify, with
    the generations as expected and found."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 2)
        yield from blk_run(build, img, "passes=1 qd=32")
        old = os.path.join(tmp, "old.raw")
        shutil.copy(img, old)
        yield from blk_run(build, img, "passes=2 qd=32 bs=16384")
        lba = 8 + 333
        with open(old, "rb") as f:
            f.seek(lba * 512)
            block = f.read(4096)
        with open(img, "r+b") as f:
            f.seek(lba * 512)
            f.write(block)
        # Committed generation 3 (1 + 2 passes), found 1.
        yield from blk_verify_fails(
            build, img, r"blk: CORRUPT lba=%x expected=3 found=1" % lba)


def case_blk_killed(build):
    """kill -9 in the middle of a pass leaves a disk that verify accepts
    (every sector holds the committed generation or the next)."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 4)
        g = yield qemu(build + "/blk.elf", "passes=0 qd=64 pattern=rand",
                       disk(img, "io_uring"))
        expect(g.wait_line(r"blk: pass 2", 60), "no second pass")
        time.sleep(0.05)
        g.kill()
        yield from blk_run(build, img, "mode=verify", passes=1)


def case_blk_discard(build):
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 2)
        yield from blk_run(build, img, "passes=2 qd=16 discard=1")
        yield from blk_run(build, img, "mode=verify", passes=1)


def case_blk_read_stats(build):
    """stats=1 adds figures to the pass lines; mix=1 mixes reads and
    writes; mode=read reads only (and checks the mixed passes' disk)."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 2)
        g = yield from blk_run(build, img, "passes=1 qd=8 stats=1")
        rate = r"MBps=\d+\.\d iops=\d+"
        expect(re.fullmatch(r"blk: pass 1 write %s read %s" % (rate, rate),
                            g.lines[1]), "stats line %r" % g.lines[1])
        g = yield from blk_run(build, img, "passes=2 qd=16 mix=1 stats=1 "
                               "pattern=rand")
        expect(all(re.fullmatch(r"blk: pass \d mix %s" % rate, l)
                   for l in g.lines[1:-1]), "lines %r" % g.lines)
        before = open(img, "rb").read()
        g = yield from blk_run(build, img, "mode=read passes=2 stats=1 "
                               "pattern=rand")
        expect(all(re.fullmatch(r"blk: pass \d read %s" % rate, l)
                   for l in g.lines[1:-1]), "lines %r" % g.lines)
        expect(open(img, "rb").read() == before, "mode=read wrote")


def case_blk_cmdline_discovery(build):
    """Without ACPI, QEMU describes the device on the command line."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 1)
        yield from blk_run(build, img, "passes=1 qd=4",
                           machine="microvm,acpi=off")
        yield from blk_run(build, img, "mode=verify", passes=1,
                           machine="microvm,acpi=off")


def case_blk_plain_ring(build):
    """A device without EVENT_IDX and INDIRECT_DESC: two ring descriptors
    per request, notifications and interrupts by the ring flags."""
    opts = ",event_idx=off,indirect_desc=off"
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 2)
        yield from blk_run(build, img, "passes=2 qd=128 pattern=rand",
                           dev_opts=opts)
        yield from blk_run(build, img, "passes=2 qd=1 bs=65536",
                           dev_opts=opts)
        yield from blk_run(build, img, "mode=verify", passes=1)


def case_blk_no_room(build):
    """128 requests of 1 MiB in flight need more than 64 MiB of RAM."""
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 1)
        g = yield qemu(build + "/blk.elf", "passes=1 qd=128 bs=1048576",
                       disk(img), mem=64)
        rc = run_to_exit(g, 30)
        expect(len(g.lines) == 1 and re.fullmatch(
            r"blk: BAD qd=128 bs=1048576 do not fit: room for \d+ "
            r"requests \(queue of 256, \d+ MiB free\)", g.lines[0]),
            "lines %r" % g.lines)
        expect(rc == debug_exit(3), "exit status %d" % rc)


def case_blk_blank_verify(build):
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 1)
        yield from blk_verify_fails(
            build, img, r"blk: BAD no commit record in sector 0 \(first "
            r"word 0\): not a disk written by mode=write")


def case_blk_legacy_refused(build):
    with tempfile.TemporaryDirectory() as tmp:
        img = image(tmp, "disk.raw", 1)
        g = yield qemu(build + "/blk.elf", "passes=1", disk(img),
                       modern=False)
        rc = run_to_exit(g, 30)
        expect(len(g.lines) == 1 and re.fullmatch(
            r"blk: BAD virtio-mmio device 2 at 0x[0-9a-f]+ has version 1, "
            r"not 2 \(legacy devices are not driven\)", g.lines[0]),
            "lines %r" % g.lines)
        expect(rc == debug_exit(3), "exit status %d" % rc)


def case_blk_no_device(build):
    g = yield qemu(build + "/blk.elf", "passes=1")
    rc = run_to_exit(g, 30)
    expect(g.lines == ["blk: BAD no virtio block device (virtio-mmio, "
                       "type 2)"], "lines %r" % g.lines)
    expect(rc == debug_exit(3), "exit status %d" % rc)


# --- console=virtio --------------------------------------------------------

def vcon(tmp):
    """virtio-console port 0 on QEMU's stdio; the UART into a file."""
    uart = os.path.join(tmp, "uart.out")
    return uart, ["-display", "none", "-monitor", "none",
                  "-serial", "file:" + uart], \
        ["-device", "virtio-serial-device",
         "-chardev", "stdio,id=c0,signal=off",
         "-device", "virtconsole,chardev=c0"]


def case_console_dirty(build):
    with tempfile.TemporaryDirectory() as tmp:
        uart, serial, devs = vcon(tmp)
        g = yield qemu(build + "/dirty.elf", "mib=16 sweeps=100 "
                       "console=virtio", devs, serial=serial)
        rc = run_to_exit(g, 40)
        only_prefix(g, "dirty")
        expect(g.lines[:1] == ["dirty: ready mib=16"] and
               g.lines[-1:] == ["dirty: done sweeps=100"],
               "lines %r" % g.lines)
        expect(rc == debug_exit(0), "exit status %d" % rc)
        expect(open(uart).read() == "", "output on the UART: %r" %
               open(uart).read())


def case_console_smp(build):
    """Two CPUs: every line still comes whole through the console."""
    with tempfile.TemporaryDirectory() as tmp:
        uart, serial, devs = vcon(tmp)
        g = yield qemu(build + "/smp-dirty.elf", "mib=32 sweeps=200 "
                       "console=virtio", devs + ["-smp", "2"],
                       serial=serial)
        rc = run_to_exit(g, 40)
        only_prefix(g, "dirty")
        expect(g.lines[:1] == ["dirty: ready mib=32 cpus=2"] and
               g.lines[-1:] == ["dirty: done sweeps=200"],
               "lines %r" % g.lines)
        expect(rc == debug_exit(0), "exit status %d" % rc)


def case_console_echo(build):
    """lifecycle's input test through virtio-console."""
    with tempfile.TemporaryDirectory() as tmp:
        uart, serial, devs = vcon(tmp)
        g = yield qemu(build + "/lifecycle.elf", "action=echo "
                       "console=virtio", devs, serial=serial)
        expect(g.wait_line(r"lifecycle: start", 20), "no start line")
        g.send(b"a")
        expect(g.wait_line(r"lifecycle: got 61", 10), "'a' not echoed")
        g.send(b"Zq")
        expect(g.wait_line(r"lifecycle: got 71", 10), "'q' not echoed")
        rc = run_to_exit(g, 10)
        expect(g.lines == ["lifecycle: start", "lifecycle: got 61",
                           "lifecycle: got 5a", "lifecycle: got 71"],
               "lines %r" % g.lines)
        expect(rc == debug_exit(0), "exit status %d after q" % rc)
        expect(open(uart).read() == "", "output on the UART")


def case_console_missing(build):
    g = yield qemu(build + "/dirty.elf", "mib=16 console=virtio")
    rc = run_to_exit(g, 30)
    expect(g.lines == ["dirty: BAD console=virtio: no virtio console "
                       "(virtio device type 3)"], "lines %r" % g.lines)
    expect(rc == debug_exit(3), "exit status %d" % rc)


def case_console_blk(build):
    """Two virtio devices at once: blk output through virtio-console."""
    with tempfile.TemporaryDirectory() as tmp:
        uart, serial, devs = vcon(tmp)
        img = image(tmp, "disk.raw", 1)
        g = yield qemu(build + "/blk.elf", "passes=2 qd=8 console=virtio",
                       devs + disk(img), serial=serial)
        rc = run_to_exit(g, 40)
        expect(g.lines[:1] == ["blk: ready"] and
               g.lines[-1:] == ["blk: done passes=2"], "lines %r" % g.lines)
        expect(rc == debug_exit(0), "exit status %d" % rc)


# --- net -------------------------------------------------------------------

GUEST_IP = "10.77.0.2"
HOST_IP = "10.77.0.1"
QEMU_MAC = "52:54:00:12:34:56"
TAP = "gwtap0"


class NetNs:
    """A network namespace with a tap (HOST_IP/24) for one QEMU."""

    count = 0

    def __init__(self):
        NetNs.count += 1
        self.name = "gwvirtio%d_%d" % (os.getpid(), NetNs.count)
        self.made = False

    def ip(self, *args):
        subprocess.run(["ip", "netns", "exec", self.name, "ip"] + list(args),
                       check=True, capture_output=True)

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True,
                       capture_output=True)
        self.made = True
        self.ip("link", "set", "lo", "up")
        self.ip("tuntap", "add", "dev", TAP, "mode", "tap")
        self.ip("addr", "add", HOST_IP + "/24", "dev", TAP)
        self.ip("link", "set", TAP, "up")
        return self

    def __exit__(self, *exc):
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name],
                           capture_output=True)

    def wrap(self, cmd):
        return ["ip", "netns", "exec", self.name] + cmd

    def run(self, cmd, timeout=60):
        return subprocess.run(self.wrap(cmd), capture_output=True,
                              text=True, timeout=timeout)

    def helper(self, *args):
        """This file as a client inside the namespace (see helper_main)."""
        return subprocess.Popen(self.wrap([sys.executable,
                                           os.path.abspath(__file__)] +
                                          [str(a) for a in args]),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


def net_qemu(build, ns, append, qmp=None, dev_opts=""):
    dev = ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % TAP,
           "-device", "virtio-net-device,netdev=n0" + dev_opts]
    if qmp:
        dev += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
    return ns.wrap(qemu(build + "/net.elf", append, dev))


def ready_line(mac=QEMU_MAC):
    return "net: ready ip=%s mac=%s" % (GUEST_IP, mac)


def udp_client(ns, count, sizes, burst):
    p = ns.helper("--udp-client", GUEST_IP, count, sizes, burst)
    out, _ = p.communicate(timeout=60)
    expect(p.returncode == 0, "udp client failed: %r" % out)
    return out.strip()


def served_of(g):
    return [int(l.split()[2]) for l in g.lines
            if l.startswith("net: served ")]


def case_net_ping_udp(build):
    """ARP, ping and UDP echo (sequence numbers in order, payloads intact,
    a burst of 64, the largest payload and one too large)."""
    with NetNs() as ns:
        g = yield net_qemu(build, ns, "ip=" + GUEST_IP)
        expect(g.wait_line(re.escape(ready_line()), 20), "no ready line")
        r = ns.run(["ping", "-c", "5", "-i", "0.2", "-W", "2", GUEST_IP])
        expect(" 5 received" in r.stdout, "ping: %r" % r.stdout)
        out = udp_client(ns, 200, "1,18,512,1464", 64)
        expect(out == "ok replies=264 seq=1-264 toolarge=dropped",
               "udp client: %r" % out)
        time.sleep(0.3)
        g.wait_line(r"net: served 27\d", 2)
        served = served_of(g)
        # One ARP reply, 5 echo replies, 264 UDP replies.
        expect(served and served[-1] == 270 and served == sorted(served),
               "served lines %r, want increasing to 270" % served)
        expect(g.proc.poll() is None, "guest ended")
        only_prefix(g, "net")


def case_net_plain(build):
    """A device without EVENT_IDX, MRG_RXBUF, control queue and status."""
    with NetNs() as ns:
        g = yield net_qemu(build, ns, "ip=" + GUEST_IP, dev_opts=(
            ",event_idx=off,mrg_rxbuf=off,ctrl_vq=off,status=off,"
            "guest_announce=off"))
        expect(g.wait_line(re.escape(ready_line()), 20), "no ready line")
        r = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", GUEST_IP])
        expect(" 3 received" in r.stdout, "ping: %r" % r.stdout)
        out = udp_client(ns, 50, "7,1464", 32)
        expect(out == "ok replies=82 seq=1-82 toolarge=dropped",
               "udp client: %r" % out)


def case_net_mac(build):
    with NetNs() as ns:
        g = yield net_qemu(build, ns, "ip=%s mac=02:00:00:00:00:07 port=9"
                           % GUEST_IP)
        expect(g.wait_line(re.escape(ready_line("02:00:00:00:00:07")), 20),
               "no ready line")
        r = ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", GUEST_IP])
        expect(" 2 received" in r.stdout, "ping: %r" % r.stdout)
        r = ns.run(["ip", "neigh", "show", GUEST_IP])
        expect("02:00:00:00:00:07" in r.stdout, "neighbour %r" % r.stdout)
        p = ns.helper("--udp-client", GUEST_IP, 5, "32", 0, 9)
        out, _ = p.communicate(timeout=60)
        expect(out.strip() == "ok replies=5 seq=1-5 toolarge=dropped",
               "udp client on port 9: %r" % out)


def qmp_command(path, cmd, args):
    import json
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()
    for c in ({"execute": "qmp_capabilities"},
              {"execute": cmd, "arguments": args}):
        f.write(json.dumps(c) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" not in r:
                break
        expect("return" in r, "qmp %s: %r" % (c["execute"], r))
    s.close()


def case_net_announce(build):
    """announce-self: the guest sends a gratuitous ARP and acknowledges
    (twice, so the first acknowledgement cleared the announce bit)."""
    with NetNs() as ns, tempfile.TemporaryDirectory() as tmp:
        qmp = os.path.join(tmp, "qmp")
        g = yield net_qemu(build, ns, "ip=" + GUEST_IP, qmp=qmp)
        expect(g.wait_line(re.escape(ready_line()), 20), "no ready line")
        for n in (1, 2):
            w = ns.helper("--arp-watch", TAP, GUEST_IP, QEMU_MAC)
            expect(w.stdout.readline().strip() == "watching", "watcher")
            qmp_command(qmp, "announce-self", {"initial": 50, "max": 100,
                                               "rounds": 1, "step": 50})
            out, _ = w.communicate(timeout=30)
            expect(out.strip() == "gratuitous arp",
                   "announce %d: watcher says %r" % (n, out))
        time.sleep(0.2)
        expect(g.proc.poll() is None, "guest ended: %r" % g.lines)
        only_prefix(g, "net")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_net_idle(build):
    """An idle net guest halts its vCPU between interrupts (guest_ops.idle)
    instead of spinning in ring 3: it must use well under a core. Load on
    the host can only lower the figure, so this cannot fail spuriously."""
    with NetNs() as ns:
        g = yield net_qemu(build, ns, "ip=" + GUEST_IP)
        expect(g.wait_line(re.escape(ready_line()), 20), "no ready line")
        time.sleep(0.3)
        before = cpu_seconds(g.proc.pid)
        time.sleep(2)
        used = cpu_seconds(g.proc.pid) - before
        expect(used < 0.3, "idle guest used %.2f s of CPU in 2 s" % used)
        r = ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", GUEST_IP])
        expect(" 2 received" in r.stdout, "ping after idling: %r" % r.stdout)


def case_net_bad_cmdline(build):
    for append, line in (
            ("", "net: BAD ip=A.B.C.D is required"),
            ("ip=10.0.0.300", "net: BAD ip=10.0.0.300 is not an IPv4 address"),
            ("ip=10.0.0.1 mac=01:00:00:00:00:01",
             "net: BAD mac=01:00:00:00:00:01 is not a unicast MAC address"),
            ("ip=10.0.0.1", "net: BAD no virtio network device "
             "(virtio-mmio, type 1)")):
        g = yield qemu(build + "/net.elf", append)
        rc = run_to_exit(g, 30)
        expect(g.lines == [line], "lines %r, want %r" % (g.lines, line))
        expect(rc == debug_exit(3), "exit status %d" % rc)


CASES = [
    # Longest first, so that two workers finish together.
    case_blk_threads, case_blk_io_uring, case_net_ping_udp, case_net_idle,
    case_blk_plain_ring, case_blk_cmdline_discovery, case_net_mac,
    case_blk_killed, case_blk_stale, case_net_plain, case_blk_read_stats,
    case_blk_discard, case_net_announce, case_console_blk,
    case_net_bad_cmdline, case_blk_corrupt, case_console_smp,
    case_console_dirty, case_console_echo, case_blk_blank_verify,
    case_blk_legacy_refused, case_blk_no_device, case_blk_no_room,
    case_console_missing,
]


# --- helpers run inside a network namespace ---------------------------------

def udp_client_main(ip, count, sizes, burst, port=7):
    """count request-reply rounds cycling through payload sizes, then burst
    datagrams at once; every reply must carry its payload and the guest's
    numbering 1, 2, 3... in order. Then one payload too large (1465) must
    get no reply, and the numbering must not have moved."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    sizes = [int(x) for x in sizes.split(",")]
    seq = 0

    def payload(i, size):
        body = struct.pack(">Q", i) + bytes((i + k) & 0xff for k in range(64))
        return (body * (size // len(body) + 1))[:size]

    def check(data, want):
        nonlocal seq
        if data[:-8] != want:
            raise SystemExit("bad payload for %r: %r" % (want[:8], data[:16]))
        got = struct.unpack(">Q", data[-8:])[0]
        if got != seq + 1:
            raise SystemExit("sequence %d after %d" % (got, seq))
        seq = got

    for i in range(count):
        p = payload(i, sizes[i % len(sizes)])
        s.sendto(p, (ip, port))
        check(s.recvfrom(2048)[0], p)
    sent = [payload(count + i, 100) for i in range(burst)]
    for p in sent:
        s.sendto(p, (ip, port))
    for p in sent:
        check(s.recvfrom(2048)[0], p)
    s.sendto(b"x" * 1465, (ip, port))
    s.settimeout(0.5)
    try:
        s.recvfrom(2048)
        big = "answered"
    except socket.timeout:
        big = "dropped"
    print("ok replies=%d seq=1-%d toolarge=%s" % (count + burst, seq, big))


def arp_watch_main(tap, ip, mac):
    """Print 'gratuitous arp' when one from mac for ip crosses tap."""
    import socket
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind((tap, 0))
    s.settimeout(10)
    print("watching", flush=True)
    want_ip = socket.inet_aton(ip)
    want_mac = bytes.fromhex(mac.replace(":", ""))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            f = s.recv(2048)
        except socket.timeout:
            break
        a = f[14:42]
        if len(a) == 28 and f[6:12] == want_mac and a[8:14] == want_mac \
                and a[14:18] == want_ip and a[24:28] == want_ip:
            print("gratuitous arp")
            return
    print("none")


def helper_main(argv):
    if argv[1] == "--udp-client":
        udp_client_main(argv[2], int(argv[3]), argv[4], int(argv[5]),
                        *(int(x) for x in argv[6:]))
    elif argv[1] == "--arp-watch":
        arp_watch_main(*argv[2:5])
    return 0


def net_skip_reason():
    if os.geteuid() != 0:
        return "network namespaces and taps need root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun does not exist"
    if not shutil.which("ip") or not shutil.which("ping"):
        return "ip (iproute2) or ping (iputils-ping) is not installed"
    return None


def main(argv):
    if len(argv) < 2:
        print("usage: test_qemu_virtio.py BUILD_DIR [CASE...]")
        return 2
    reason = h.skip_reason()
    if reason:
        print("SKIP: %s" % reason)
        return 77
    build = os.path.join(os.path.abspath(argv[1]), "guests")
    if not os.path.exists(os.path.join(build, "blk.elf")):
        build = os.path.abspath(argv[1])
    cases = [c for c in CASES if len(argv) < 3 or c.__name__ in argv[2:]]
    why = net_skip_reason()
    if why:
        print("SKIP the net cases: %s" % why)
        cases = [c for c in cases if not c.__name__.startswith("case_net_")
                 or c is case_net_bad_cmdline]
    t0 = time.monotonic()
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        for name, err, took in pool.map(lambda c: h.run_case(c, build),
                                        cases):
            print("%-4s %-32s %5.1f s%s" % (
                "ok" if not err else "FAIL", name, took,
                "\n    " + err if err else ""), flush=True)
            failed += 1 if err else 0
    print("%d of %d cases failed, %.1f s" % (failed, len(cases),
                                             time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--"):
        sys.exit(helper_main(sys.argv))
    sys.exit(main(sys.argv))
