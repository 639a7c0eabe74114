"""Start a VMM process and timestamp every line it prints.

The spawn time is taken with time.perf_counter() immediately before the
fork, so "process start -> X" includes fork/exec and dynamic linking, the
same for every VMM. Two reader threads stamp each stdout line (the guest's
serial port when run with --serial stdio / -serial stdio) and each stderr
line (the VMM's own log) with perf_counter() as soon as it is read. The
stamp is at most a thread wake-up (well under a millisecond) late.

Only processes started here are ever signalled, by their own pid.
"""
import os
import re
import signal
import subprocess
import threading
import time

now = time.perf_counter


class ProcessError(RuntimeError):
    pass


class Line:
    __slots__ = ("t", "text", "index")

    def __init__(self, t, text, index):
        self.t = t
        self.text = text
        self.index = index

    def __repr__(self):
        return "Line(%.4f, %r)" % (self.t, self.text)


class VMProcess:
    """A child process whose stdout and stderr are read line by line."""

    def __init__(self, argv, name):
        self.argv = [str(a) for a in argv]
        self.name = name
        self._cond = threading.Condition()
        self.out = []  # Line list: the serial console
        self.err = []  # Line list: the VMM's log
        self._eof = 0
        self.t_spawn = now()
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, close_fds=True)
        self.pid = self.popen.pid
        self._threads = [
            threading.Thread(target=self._reader, args=(self.popen.stdout,
                                                        self.out), daemon=True),
            threading.Thread(target=self._reader, args=(self.popen.stderr,
                                                        self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _reader(self, f, lines):
        for raw in iter(f.readline, b""):
            t = now()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                lines.append(Line(t, text, len(lines)))
                self._cond.notify_all()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    def alive(self):
        return self.popen.poll() is None

    def wait_line(self, pattern, timeout, start=0, stream="out"):
        """First line at index >= start matching regex pattern.

        Raises ProcessError on timeout or if the process ends first.
        """
        rx = re.compile(pattern)
        lines = self.out if stream == "out" else self.err
        deadline = now() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(lines):
                    if rx.search(lines[i].text):
                        return lines[i]
                    i += 1
                if self._eof == 2:
                    raise ProcessError("%s ended (status %s) before printing /%s/; "
                                       "last output: %s" % (
                                           self.name, self.popen.poll(), pattern,
                                           self.tail()))
                left = deadline - now()
                if left <= 0:
                    raise ProcessError("%s: no /%s/ within %.0f s; last output: %s"
                                       % (self.name, pattern, timeout, self.tail()))
                self._cond.wait(left)

    def first_line(self, timeout):
        return self.wait_line(r"", timeout)

    def lines_matching(self, pattern, stream="out"):
        rx = re.compile(pattern)
        with self._cond:
            lines = list(self.out if stream == "out" else self.err)
        return [ln for ln in lines if rx.search(ln.text)]

    def nlines(self):
        with self._cond:
            return len(self.out)

    def tail(self, n=4):
        with self._cond:
            both = sorted(self.out[-n:] + self.err[-n:], key=lambda ln: ln.t)
        return " | ".join(ln.text for ln in both[-n:]) or "(nothing)"

    def wait(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(1)
        return rc

    def stop(self, timeout=5):
        """Make sure the process is gone: SIGTERM, then SIGKILL."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.popen.kill()
                self.wait(timeout)
        for f in (self.popen.stdout, self.popen.stderr):
            try:
                f.close()
            except OSError:
                pass
        return self.popen.returncode


def run_timed(argv, timeout=None, check=True):
    """Run a short command; returns (seconds, CompletedProcess)."""
    t0 = now()
    cp = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                        capture_output=True, timeout=timeout, text=True)
    dt = now() - t0
    if check and cp.returncode != 0:
        raise ProcessError("%s failed (%d): %s" % (argv[0], cp.returncode,
                                                    cp.stderr.strip()))
    return dt, cp


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
