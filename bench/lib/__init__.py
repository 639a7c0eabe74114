"""Shared helpers for godwit's benchmarks (bench/*/run.py).

Python 3 standard library only. Modules:
  paths    where the repository, build tree and results live
  proc     start a VMM process, timestamp its serial lines, stop it
  qmp      a small QMP client (godwit's control socket and QEMU's -qmp)
  vmm      command lines for godwit and QEMU running the same PVH guest
  rss      /proc/PID/smaps: guest RAM mapping vs. the rest of the VMM
  disk     dd references, settling the disk, evicting a file from the page cache
  trace    perf tracepoints: where start-up time goes
  stats    min/median/max summaries and ratios
  machine  what machine the numbers come from
  report   results JSON and markdown tables under bench/results/
  cli      options every bench shares (--quick, --workdir, --out)
"""
