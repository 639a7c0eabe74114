#!/usr/bin/python3
"""The campaign's own checks, on made-up observations: they must see a
double run where there is one and never where there is none (an
unconfirmed source paused in postmigrate, a source still "running"
during its final copy, a destination that never got YOURS, a source
that resumed only after the destination died), and the relay must find
handover messages split across reads; the lines that count as verdicts,
and mutated records that are not re-sealed. Runs in a second, no KVM; `make
faults` and `make faults-smoke` run it first."""

import io
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kinds_save  # noqa: E402
import migration  # noqa: E402
import proc  # noqa: E402
import relay  # noqa: E402
import watch  # noqa: E402
from lib import stream  # noqa: E402  (tests/kvm/lib: kinds_save puts it on the path)


class FakeProbe:
    def __init__(self, samples):
        self.samples = samples

    def snapshot(self):
        return list(self.samples)


def samples(spec, start=0.0, step=0.1):
    """spec: [(status, mig)] one per step; each sample takes 10 ms."""
    out, t = [], start
    for st, mig in spec:
        out.append((t, t + 0.01, st, mig))
        t += step
    return out


class TwiceByProbes(unittest.TestCase):
    def test_handover_is_not_twice(self):
        # The source says running while its final copy is active, then
        # postmigrate; the destination answers nothing, then running.
        src = samples([("running", "none")] * 3 + [("running", "active")] * 5
                      + [("postmigrate", "completed")] * 3)
        dst = samples([(None, None)] * 6 + [("running", "none")] * 5)
        self.assertIsNone(watch.twice_by_probes(FakeProbe(src),
                                                FakeProbe(dst)))

    def test_unconfirmed_is_not_twice(self):
        src = samples([("running", "active")] * 3 +
                      [("postmigrate", "unconfirmed")] * 10)
        dst = samples([("running", "none")] * 13)
        self.assertIsNone(watch.twice_by_probes(FakeProbe(src),
                                                FakeProbe(dst)))

    def test_destination_without_yours_is_not_twice(self):
        # The destination holds the VM paused (or in a state of its own)
        # while the source resumed after a failure.
        for st in ("paused", "prelaunch", "inmigrate"):
            src = samples([("running", "active")] * 3 +
                          [("running", "failed")] * 10)
            dst = samples([(st, "none")] * 13)
            self.assertIsNone(watch.twice_by_probes(FakeProbe(src),
                                                    FakeProbe(dst)), st)

    def test_resumed_after_destination_died_is_not_twice(self):
        src = samples([("running", "active")] * 5 +
                      [("running", "failed")] * 5)
        dst = samples([("running", "none")] * 4, start=0.05)
        self.assertIsNone(watch.twice_by_probes(FakeProbe(src),
                                                FakeProbe(dst)))

    def test_both_running_is_twice(self):
        src = samples([("running", "active")] * 3 +
                      [("running", "failed")] * 10)
        dst = samples([("running", "none")] * 13, start=0.05)
        self.assertIsNotNone(watch.twice_by_probes(FakeProbe(src),
                                                   FakeProbe(dst)))

    def test_unpaused_unconfirmed_is_twice(self):
        # An operator's unpause of an unconfirmed source: failed after.
        src = samples([("postmigrate", "unconfirmed")] * 5 +
                      [("running", "failed")] * 5)
        dst = samples([("running", "none")] * 10, start=0.05)
        self.assertIsNotNone(watch.twice_by_probes(FakeProbe(src),
                                                   FakeProbe(dst)))


def sweeps(first_n, t0, t1, per_s=10, backlog=False):
    out, n, t = [], first_n, t0
    while t < t1:
        out.append((t, n, backlog))
        n += 3
        t += 1.0 / per_s
    return out


class TwiceBySweeps(unittest.TestCase):
    def test_handover(self):
        src = sweeps(1, 0.0, 2.0)
        dst = sweeps(src[-1][1] + 2, 2.05, 4.0)
        self.assertEqual(watch.twice_by_sweeps(src, dst), (None, None))

    def test_one_after_the_other_is_a_note(self):
        src = sweeps(1, 0.0, 2.0) + sweeps(62, 3.0, 4.0)
        dst = sweeps(61, 2.05, 2.9)
        ev, note = watch.twice_by_sweeps(src, dst)
        self.assertIsNone(ev)
        self.assertIsNotNone(note)

    def test_overlap_is_twice(self):
        src = sweeps(1, 0.0, 2.0) + sweeps(62, 2.1, 4.0)
        dst = sweeps(61, 2.05, 4.0)
        ev, _ = watch.twice_by_sweeps(src, dst)
        self.assertIsNotNone(ev)

    def test_backlog_does_not_count(self):
        # Lines read from a pty buffer all carry the time they were read.
        src = sweeps(1, 0.0, 2.0) + sweeps(62, 2.1, 2.2)
        dst = sweeps(61, 2.5, 2.6, per_s=1000, backlog=True)
        ev, _ = watch.twice_by_sweeps(src, dst)
        self.assertIsNone(ev)

    def test_went_back(self):
        self.assertIsNone(watch.went_back([(0, 1, 0), (1, 5, 0), (2, 5, 0)]))
        self.assertIsNotNone(watch.went_back([(0, 4, 0), (1, 3, 0)]))


class PartialLine(unittest.TestCase):
    def test_cut_line_is_not_a_sweep(self):
        # The source paused in the middle of "dirty: sweep 912".
        lines = proc.Lines()
        proc._pump(io.BytesIO(b"dirty: sweep 839\ndirty: sweep 9"), lines)
        self.assertEqual([n for _, n, _ in lines.sweeps()], [839])
        self.assertIsNone(watch.went_back(lines.sweeps()))


def message(mtype):
    m = bytearray(136)
    struct.pack_into("<IIQ", m, 0, 0x48574447, mtype, 1234)
    struct.pack_into("<I", m, 132, relay.crc32c(bytes(m)))
    return bytes(m)


class RelayFramer(unittest.TestCase):
    def test_message_type(self):
        self.assertEqual(relay.message_type(message(2)), "YOURS")
        bad = bytearray(message(2))
        bad[20] ^= 1
        self.assertIsNone(relay.message_type(bytes(bad)))

    def test_split_message_found(self):
        seen = []

        class Conn(relay._Conn):
            def __init__(self):
                self.r = type("R", (), {"plan": None, "event":
                                        lambda s, n, w: seen.append(w)})()
                self.no, self.dead, self.done = 0, set(), False
                self.cut_dirs = set()
                self.count = {"fwd": 0, "bwd": 0}
                self.out = b""

            def _send(self, to, data):
                self.out += data

        c = Conn()
        data = b"\x01" * 1000 + message(1) + message(3)
        left = b""
        for i in range(0, len(data), 97):
            left = c._feed("bwd", "src", left + data[i:i + 97])
        c._send("src", left)
        self.assertEqual(seen, ["bwd RECEIVED", "bwd CONFIRMED"])
        self.assertEqual(c.out, data)


class Verdicts(unittest.TestCase):
    """The lines that count as a party's verdict (godwit's own words)."""

    def test_receiver_gave_up(self):
        rx = migration.DST_GAVE_UP
        for line in [
                "godwit: error: restore migration from 10.232.0.1:52820: "
                "record PAGE_DATA (0x1) at offset 416: cannot read the page "
                "data: Connection timed out (no progress for 8.0 s (stall "
                "timeout))",
                "godwit: error: migration from 127.0.0.1:35346: the source "
                "did not hand the VM over: the peer closed the connection; "
                "discarding the VM",
                "godwit: answering DISCARDED for arrival 9529b1293c5b32ba "
                "for 60 s (a signal ends it)"]:
            self.assertTrue(rx.search(line), line)
        for line in [
                "godwit: receiving a migration from 127.0.0.1:35346",
                "godwit: error: vm vm: migration to 10.232.0.2:8002 failed, "
                "VM resumed: sending the VM: no progress for 8.0 s"]:
            self.assertFalse(rx.search(line), line)

    def test_cli_unconfirmed(self):
        rx = migration.CLI_UNCONFIRMED
        self.assertTrue(rx.search(
            "godwit: migrate vm: handed over to 127.0.0.1:1, no "
            "confirmation: the peer closed the connection; asking the "
            "destination"))
        self.assertTrue(rx.search(
            "godwit: migrate vm: unconfirmed: handed over to h:1, no "
            "confirmation: x; the VM stays paused here"))
        self.assertFalse(rx.search(
            "godwit: migrated vm to h:1: confirmed by asking the "
            "destination; downtime unknown, total 13149.3 ms"))


def sealed_stream(n=5):
    """A revision-2 stream of n small records and END, every check value
    right (tests/kvm/lib/stream.py seals it)."""
    hdr = stream.HEADER.pack(b"GODWITSV", 2, 0, 64 + stream.ID_LEN, 0,
                             1 << 20, 1, 0, b"x" * 12, 0, 0, 0)
    recs = b"".join(stream.REC.pack(1, 8, 0, 0) + struct.pack("<Q", i)
                    for i in range(n))
    recs += stream.REC.pack(stream.END, stream.END_BODY.size, 0, 0) + \
        b"\0" * stream.END_BODY.size
    return stream.Stream(hdr + b"\x11" * stream.ID_LEN + recs).encode()


class Mutations(unittest.TestCase):
    """Records are cut and spliced as written, never re-sealed: a
    re-sealed stream is a forgery no checksum can tell."""

    def test_not_resealed(self):
        import random
        a = sealed_stream()
        self.assertEqual(stream.Stream(a).encode(), a)
        for how in ("delete-record", "duplicate-record", "swap-records"):
            for seed in range(5):
                bad, what = kinds_save.mutate(random.Random(seed), how,
                                              [a, a])
                self.assertNotIn("not parsed", what)
                s = stream.Stream(bad)
                if bad != a:  # a swap of a record with itself changes none
                    self.assertNotEqual(s.encode(), bad, what)
                self.assertEqual(s.raw(), bad)


if __name__ == "__main__":
    unittest.main(verbosity=1)
