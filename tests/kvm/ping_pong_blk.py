#!/usr/bin/python3
"""make ping-pong-200: a long campaign, not part of the kvm suite. The blk
guest writes and checks its disk (a raw image in one directory both
sides use) throughout HOPS live migrations between two receivers in
turn (godwit migrate-receive, as test_migrate.py's ping-pong does):

- after every hop the guest must complete another pass on the new host
  (each pass writes every block and reads each back and checks it, with
  128 requests in flight: a lost or stale write, a wrong completion
  reports CORRUPT or BAD, a lost request hangs the pass);
- every VMM process logs (debug) the part of each ring it served: used
  index from, to and how many requests it completed; hop h must start
  exactly where hop h-1 ended, and complete exactly the requests between:
  no request lost (a gap) or done twice (an overlap);
- at the end a fresh VM verifies the whole image (mode=verify).

Prints a summary: hops, passes, requests, downtime and migration time
(min, median, p90, max). Exit 0 when every check held.

Usage: ping_pong_blk.py BUILD_DIR [HOPS]   (HOPS: 200)
"""

import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.gw import Env, TestFailure, check, require_kvm  # noqa: E402
from lib.net import receiver  # noqa: E402
from test_blk import WORKLOAD, blk_vm, image, keeps_passing, verify  # noqa

MIB = 1 << 20
RING = re.compile(r"xvda: queue 0: (\d+) requests completed, "
                  r"used index (\d+) to (\d+)")
MIGRATED = re.compile(r"total ([\d.]+) ms, downtime ([\d.]+) ms")


def ring_of(vm):
    """(completed, from, to) of queue 0, from the ended process's log."""
    m = RING.search(vm.stderr())
    check(m, "%s: no ring line in its log" % vm.name)
    return tuple(int(x) for x in m.groups())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def summary(xs):
    return "min %.2f, median %.2f, p90 %.2f, max %.2f" % (
        min(xs), statistics.median(xs), pct(xs, 90), max(xs))


def campaign(env, hops):
    img = image(env, size=16 * MIB)
    vm = blk_vm(env, img, WORKLOAD, name="vm0")
    first_pass = last = keeps_passing(vm, 1)
    downtime, total, requests = [], [], 0
    end = None
    start = time.time()
    for h in range(hops):
        dst = receiver(env, name="vm%d" % (h + 1))
        rc, _, err = env.godwit_cmd("migrate", vm.qmp_path, dst.addr,
                                    timeout=300)
        check(rc == 0, "hop %d: migrate: %s" % (h + 1, err))
        m = MIGRATED.search(err)
        check(m, "hop %d: no figures: %s" % (h + 1, err))
        total.append(float(m.group(1)))
        downtime.append(float(m.group(2)))
        check(vm.wait(30) == 0, "hop %d: the source did not end" % (h + 1))
        done, frm, to = ring_of(vm)
        check(end is None or frm == end,
              "hop %d: ring continues at %d, the last one ended at %d"
              % (h + 1, frm, -1 if end is None else end))
        check(done % 65536 == (to - frm) % 65536,
              "hop %d: %d requests completed between indices %d and %d"
              % (h + 1, done, frm, to))
        requests += done
        end = to
        n = keeps_passing(dst, 1)
        check(n > last, "hop %d: pass %d after %d" % (h + 1, n, last))
        last = n
        vm = dst
        if (h + 1) % 20 == 0:
            print("hop %d: pass %d, downtime %s ms" %
                  (h + 1, last, summary(downtime[-20:])), flush=True)
    last = keeps_passing(vm, 1)
    vm.quit()
    done, frm, to = ring_of(vm)
    check(frm == end, "last VM: ring continues at %d, not %d" % (frm, end))
    requests += done
    wall = time.time() - start
    verify(env, img)
    print("ping-pong: %d hops in %.0f s, image %s (16 MiB, raw), guest %s"
          % (hops, wall, img, WORKLOAD))
    print("  guest passes %d to %d (%d passes, each writes and checks every "
          "block), no CORRUPT or BAD" % (first_pass, last, last - first_pass))
    print("  requests completed by the devices: "
          "%d; every hop continued the ring where the last one ended "
          "(0 lost, 0 done twice)" % requests)
    print("  downtime ms: %s" % summary(downtime))
    print("  migration total ms: %s" % summary(total))
    print("  final mode=verify by a fresh VM: ok")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: %s BUILD_DIR [HOPS]" % sys.argv[0])
    hops = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    require_kvm()
    os.environ["GODWIT_DEBUG"] = "1"
    env = Env()
    try:
        campaign(env, hops)
    except TestFailure as e:
        print("ping-pong FAILED: %s" % e)
        sys.exit(1)
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
