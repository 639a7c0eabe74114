"""Resident memory of a VMM process, split into guest RAM and the rest.

Method: /proc/PID/smaps lists every mapping with its own Rss. Guest RAM
is one mapping in both VMMs we measure: godwit maps its memfd
("/memfd:godwit-ram"), QEMU an anonymous mapping of exactly the RAM size.
We take the mapping named like godwit's memfd if present, else the
anonymous mapping whose size is closest to (and at least) the configured
RAM size, and report its Rss as "guest RAM resident"; everything else is
"VMM RSS beyond guest memory", broken down into anonymous, file-backed
(binary and shared libraries, shared with other processes) and shmem.
Rss counts pages mapped into this process; Pss divides shared ones by
their sharers and is reported too. Pages of godwit's memfd that are not
mapped would be missed by both; they are counted separately from the
memfd's allocated size (st_blocks via /proc/PID/fd) when it can be read.
"""
import os
import re

_HDR = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) (\S+) (\d+)\s*(.*)$")
# godwit's guest RAM file: a private huge-page tmpfs file (memory_backing
# thp, the default), or a memfd where it cannot have one.
GODWIT_RAM = ("/godwit-ram", "/memfd:godwit-ram")


class Mapping:
    __slots__ = ("start", "end", "perms", "path", "kb")

    def __init__(self, start, end, perms, path):
        self.start, self.end, self.perms, self.path = start, end, perms, path
        self.kb = {}

    @property
    def size(self):
        return self.end - self.start

    @property
    def rss(self):
        return self.kb.get("Rss", 0) * 1024

    def kind(self):
        if self.path.startswith(("/memfd:", "/dev/shm", "/SYSV",
                                 GODWIT_RAM[0])):
            return "shmem"
        if self.path.startswith("/") and "(deleted)" not in self.path:
            return "file"
        return "anon"  # [heap], [stack], anon_inode:..., unnamed


def parse_smaps(text):
    maps = []
    for line in text.splitlines():
        m = _HDR.match(line)
        if m:
            maps.append(Mapping(int(m.group(1), 16), int(m.group(2), 16),
                                m.group(3), m.group(7).strip()))
            continue
        if maps and ":" in line:
            key, _, val = line.partition(":")
            parts = val.split()
            if len(parts) == 2 and parts[1] == "kB":
                maps[-1].kb[key] = int(parts[0])
    return maps


def read_smaps(pid):
    with open("/proc/%d/smaps" % pid) as f:
        return parse_smaps(f.read())


def find_guest_ram(maps, ram_bytes):
    named = [m for m in maps if m.path.startswith(GODWIT_RAM)]
    if named:
        return max(named, key=lambda m: m.size)
    anon = [m for m in maps if not m.path and m.size >= ram_bytes]
    if not anon:
        return None
    return min(anon, key=lambda m: (m.size - ram_bytes, -m.rss))


def _memfd_allocated(pid):
    """Bytes allocated in godwit's RAM memfd (st_blocks), or None."""
    fd_dir = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(fd_dir):
            link = os.readlink(os.path.join(fd_dir, fd))
            if link.startswith(GODWIT_RAM):
                return os.stat(os.path.join(fd_dir, fd)).st_blocks * 512
    except OSError:
        pass
    return None


def measure(pid, ram_bytes):
    """Dict of byte counts: total and guest-RAM Rss, the rest by kind."""
    maps = read_smaps(pid)
    ram = find_guest_ram(maps, ram_bytes)
    out = {"total_rss": 0, "total_pss": 0, "guest_ram_rss": 0,
           "beyond_rss": 0, "beyond_pss": 0, "beyond_anon": 0,
           "beyond_file": 0, "beyond_shmem": 0,
           "guest_ram_mapping": None, "guest_ram_allocated": None}
    for m in maps:
        rss, pss = m.rss, m.kb.get("Pss", 0) * 1024
        out["total_rss"] += rss
        out["total_pss"] += pss
        if m is ram:
            out["guest_ram_rss"] = rss
            continue
        out["beyond_rss"] += rss
        out["beyond_pss"] += pss
        out["beyond_" + m.kind()] += rss
    if ram is not None:
        out["guest_ram_mapping"] = "%s %#x bytes" % (ram.path or "anonymous",
                                                     ram.size)
    out["guest_ram_allocated"] = _memfd_allocated(pid)
    return out
