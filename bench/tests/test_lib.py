"""Unit tests of bench/lib that need no KVM, QEMU or root:
python3 -m unittest discover -s bench/tests"""
import json
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import qmp, report, rss, speed, stats, trace  # noqa: E402
from lib.proc import Line  # noqa: E402

SMAPS = """\
555a26f9f000-555a26fbe000 r-xp 00005000 fe:00 5309961                    /work/main/build/godwit
Size:                124 kB
Rss:                 124 kB
Pss:                  62 kB
555a388c6000-555a38910000 rw-p 00000000 00:00 0                          [heap]
Rss:                 108 kB
Pss:                 108 kB
7f4135dd9000-7f413ddd9000 rw-s 00000000 00:01 184966                     /memfd:godwit-ram (deleted)
Rss:               10224 kB
Pss:               10224 kB
7f51dbe00000-7f51e3e00000 rw-p 00000000 00:00 0 
Rss:                 512 kB
Pss:                 512 kB
"""


class SmapsTest(unittest.TestCase):
    def test_parse(self):
        maps = rss.parse_smaps(SMAPS)
        self.assertEqual(len(maps), 4)
        self.assertEqual(maps[0].path, "/work/main/build/godwit")
        self.assertEqual(maps[0].kind(), "file")
        self.assertEqual(maps[1].kind(), "anon")
        self.assertEqual(maps[2].kind(), "shmem")
        self.assertEqual(maps[2].rss, 10224 * 1024)
        self.assertEqual(maps[3].size, 128 << 20)

    def test_godwit_memfd_wins(self):
        ram = rss.find_guest_ram(rss.parse_smaps(SMAPS), 128 << 20)
        self.assertTrue(ram.path.startswith("/memfd:godwit-ram"))

    def test_anonymous_ram_block(self):
        text = "\n".join(l for l in SMAPS.splitlines()
                         if "memfd" not in l and "10224" not in l)
        ram = rss.find_guest_ram(rss.parse_smaps(text), 128 << 20)
        self.assertEqual(ram.path, "")
        self.assertEqual(ram.size, 128 << 20)

    def test_godwit_huge_page_file(self):
        text = SMAPS.replace("/memfd:godwit-ram (deleted)",
                             "/godwit-ram (deleted)")
        ram = rss.find_guest_ram(rss.parse_smaps(text), 128 << 20)
        self.assertTrue(ram.path.startswith("/godwit-ram"))
        self.assertEqual(ram.kind(), "shmem")

    def test_no_mapping_big_enough(self):
        self.assertIsNone(rss.find_guest_ram(rss.parse_smaps(SMAPS)[:2], 1 << 30))


class SpeedTest(unittest.TestCase):
    @staticmethod
    def lines(rates, t0=10.0, tick=0.01):
        """One sweep line per tick; rates[i] sweeps/s during tick i."""
        out, n, t = [], 0.0, t0
        for i, r in enumerate(rates):
            t += tick
            n += r * tick
            out.append(Line(t, "dirty: sweep %d" % int(n), i))
        return out

    def test_rate(self):
        pts = speed.points(self.lines([1000] * 100))
        self.assertAlmostEqual(speed.rate(pts), 1000, delta=15)
        self.assertIsNone(speed.rate(pts[:1]))

    def test_time_to_fraction(self):
        # 20 ticks at a tenth of the speed, then full speed.
        pts = speed.points(self.lines([100] * 20 + [1000] * 30))
        t = speed.time_to_fraction(pts, 10.0, 1000)
        self.assertTrue(0.23 <= t <= 0.27, t)
        self.assertIsNone(speed.time_to_fraction(pts, 10.0, 5000))
        # Lines before the VM ran do not count.
        self.assertIsNone(speed.time_to_fraction(pts, 11.0, 1000))


class StatsTest(unittest.TestCase):
    def test_summary(self):
        s = stats.summary([3, 1, 2, None])
        self.assertEqual((s["n"], s["min"], s["median"], s["max"]), (3, 1, 2, 3))
        self.assertIsNone(stats.summary([]))

    def test_ratios(self):
        self.assertEqual(stats.ratio(1, 4), 0.25)
        self.assertIsNone(stats.ratio(1, 0))
        self.assertEqual(stats.median_ratio({"median": 2}, {"median": 4}), 0.5)
        self.assertEqual(stats.mb_per_s(2e6, 2), 1.0)


class ReportTest(unittest.TestCase):
    def test_table(self):
        t = report.table(["a", "b"], [(1, "x")]).splitlines()
        self.assertEqual(t, ["| a | b |", "|---|---|", "| 1 | x |"])

    def test_fmt(self):
        self.assertEqual(report.fmt(None), "-")
        self.assertEqual(report.fmt(1.25, 1, " ms"), "1.2 ms")
        self.assertEqual(report.fmt_mmm({"n": 3, "min": 1, "median": 2, "max": 3}),
                         "2.0 (1.0-3.0)")
        self.assertEqual(report.fmt_mmm({"n": 1, "min": 2.0, "median": 2.0, "max": 2.0}),
                         "2.0")


class TraceTest(unittest.TestCase):
    def test_parse(self):
        text = """\
 7849  2450.610590:  sched:sched_process_exec: filename=/usr/bin/timeout pid=7849
 7851  2450.611770:  sched:sched_process_exec: filename=/usr/bin/qemu-system-x86_64 pid=7851
 7853  2450.662962:  syscalls:sys_enter_ioctl: fd: 0x0000000b, cmd: 0x0000ae80, arg: 0x0
 7853  2450.663962:  syscalls:sys_enter_ioctl: fd: 0x0000000b, cmd: 0x0000ae80, arg: 0x0
 7853  2450.768311: syscalls:sys_enter_writev: fd: 0x00000001, vec: 0x7f, vlen: 0x1
 7853  2450.769311:  syscalls:sys_enter_ioctl: fd: 0x0000000b, cmd: 0x0000ae80, arg: 0x0
"""
        ph = trace.parse(text, "/usr/bin/qemu-system-x86_64")
        self.assertAlmostEqual(ph["setup_s"], 0.051192, places=6)
        self.assertAlmostEqual(ph["guest_to_first_output_s"], 0.105349, places=6)
        self.assertEqual(ph["kvm_runs_before_output"], 2)
        self.assertIsNone(trace.parse(text, "godwit"))


class QMPTest(unittest.TestCase):
    def test_session(self):
        a, b = socket.socketpair()

        def peer():
            f = b.makefile("rwb", buffering=0)
            f.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            for line in f:
                msg = json.loads(line)
                if msg["execute"] == "query-status":
                    f.write(b'{"event": "STOP"}\r\n')
                    f.write(json.dumps({"return": {"status": "paused"},
                                        "id": msg["id"]}).encode() + b"\r\n")
                elif msg["execute"] == "bad":
                    f.write(json.dumps({"error": {"class": "GenericError",
                                                  "desc": "no"},
                                        "id": msg["id"]}).encode() + b"\n")
                else:
                    f.write(json.dumps({"return": {}, "id": msg["id"]}).encode() + b"\n")

        t = threading.Thread(target=peer, daemon=True)
        t.start()
        q = qmp.QMP(a)
        q.greeting = q._read(qmp.proc.now() + 5)
        q.execute("qmp_capabilities")
        self.assertEqual(q.status(), "paused")
        self.assertEqual(q.events, [{"event": "STOP"}])
        with self.assertRaises(qmp.QMPError):
            q.execute("bad")
        q.close()
        b.close()


if __name__ == "__main__":
    unittest.main()
