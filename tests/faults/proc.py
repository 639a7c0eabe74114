"""Processes of one trial: the ones we start (with every output line
timestamped as it arrives), the ones godwitd starts (found in /proc by
the trial directory in their command line, their serial port read from
their pty), the signals we send to each, and the search for strays.

Times are time.monotonic() seconds throughout the campaign."""

import os
import re
import select
import signal
import subprocess
import threading
import time

SWEEP = re.compile(r"^dirty: sweep (\d+)$")
CRASH = re.compile(r"(Assertion .* failed|AddressSanitizer|runtime error:|"
                   r"Segmentation fault|core dumped|stack smashing)")


def now():
    return time.monotonic()


def is_bad_guest_line(line):
    """The dirty guest's own verdicts: CORRUPT (a stale or lost page)
    and BAD (a broken command line or boot)."""
    return "CORRUPT" in line or line.endswith(" BAD") or ": BAD" in line


class Lines:
    """Timestamped lines of one output stream, with waiting."""

    def __init__(self):
        self.items = []  # (t, text, backlog)
        self.cond = threading.Condition()
        self.closed = False
        self.closed_at = None

    def add(self, text, t=None, backlog=False):
        with self.cond:
            self.items.append((t if t is not None else now(), text,
                               backlog))
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            self.closed_at = now()
            self.cond.notify_all()

    def wait_for(self, rx, timeout, since=0.0):
        """The first line after `since` matching rx, or None."""
        rx = re.compile(rx) if isinstance(rx, str) else rx
        deadline = now() + timeout
        seen = 0
        with self.cond:
            while True:
                for t, text, _ in self.items[seen:]:
                    if t >= since:
                        m = rx.search(text)
                        if m:
                            return m
                seen = len(self.items)
                left = deadline - now()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.2))

    def first_time(self, rx):
        rx = re.compile(rx) if isinstance(rx, str) else rx
        with self.cond:
            for t, text, _ in self.items:
                if rx.search(text):
                    return t
        return None

    def snapshot(self):
        with self.cond:
            return list(self.items)

    def sweeps(self):
        """[(t, n, backlog)] of the dirty guest's sweep lines."""
        out = []
        for t, text, backlog in self.snapshot():
            m = SWEEP.match(text)
            if m:
                out.append((t, int(m.group(1)), backlog))
        return out

    def bad_lines(self):
        return [text for _, text, _ in self.snapshot()
                if is_bad_guest_line(text)]

    def tail(self, n=6):
        return [text for _, text, _ in self.snapshot()[-n:]]


def merged_env(extra):
    """os.environ with extra on top; a value None removes the variable."""
    environ = dict(os.environ)
    for k, v in (extra or {}).items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v
    return environ


def _pump(stream, lines):
    """Read lines as they come. A last line without its newline (the
    guest was paused or moved away in the middle of printing it; the
    rest comes out of the destination) is kept marked as partial, so
    that it is not read as a sweep number."""
    try:
        for raw in stream:
            text = raw.decode(errors="replace").rstrip("\r\n")
            lines.add(text if raw.endswith(b"\n") else text + " [partial]")
    except (OSError, ValueError):
        pass
    lines.close()


class Proc:
    """A process we started. out/err are its stdout/stderr lines."""

    def __init__(self, trial, name, argv, env=None, stdin=None,
                 capture=True):
        self.trial = trial
        self.name = name
        self.argv = list(argv)
        self.out, self.err = Lines(), Lines()
        self.signals = []  # (t, signo)
        self.started = now()
        environ = merged_env(env)
        self.popen = subprocess.Popen(
            self.argv, env=environ,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
            start_new_session=True)
        self.pid = self.popen.pid
        self.ended_at = None
        self.threads = []
        if capture:
            for s, l in ((self.popen.stdout, self.out),
                         (self.popen.stderr, self.err)):
                th = threading.Thread(target=_pump, args=(s, l),
                                      daemon=True)
                th.start()
                self.threads.append(th)
        else:
            self.out.close()
            self.err.close()
        trial.procs.append(self)

    def alive(self):
        if self.popen.poll() is None:
            return True
        if self.ended_at is None:
            # Its pipes closed when it ended: closer than our polling.
            ends = [x for x in (self.out.closed_at, self.err.closed_at)
                    if x is not None]
            self.ended_at = min([now()] + ends)
        return False

    def returncode(self):
        self.alive()
        return self.popen.returncode

    def wait(self, timeout):
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.alive()
        for th in self.threads:
            th.join(2)
        return self.popen.returncode

    def send(self, signo):
        """Send a signal and remember that we did (a death by a signal
        we did not send is a crash)."""
        self.signals.append((now(), signo))
        self.trial.note_signal(self.pid, signo)
        try:
            os.kill(self.pid, signo)
        except ProcessLookupError:
            pass

    def stopped(self):
        """Stopped by SIGSTOP and not continued since."""
        st = [s for _, s in self.signals
              if s in (signal.SIGSTOP, signal.SIGCONT)]
        return bool(st) and st[-1] == signal.SIGSTOP

    def crash(self):
        """Why this process's end is a crash, or None."""
        rc = self.returncode()
        if rc is None:
            return None
        if rc < 0 and -rc not in [s for _, s in self.signals]:
            return "%s (pid %d) died of signal %d that we did not send" % (
                self.name, self.pid, -rc)
        for _, text, _ in self.err.snapshot():
            if CRASH.search(text):
                return "%s: %s" % (self.name, text)
        return None

    def kill(self):
        """End it and its process group (cleanup: not a fault)."""
        if self.alive():
            self.signals.append((now(), signal.SIGKILL))
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(self.pid, signal.SIGCONT)
            except OSError:
                pass
            self.wait(5)


class PtyTap:
    """Reads a VMM's serial port from its pty (godwitd's VMMs), line by
    line. What was buffered before we opened it is marked backlog: its
    timestamps are not when the guest printed it."""

    def __init__(self, path):
        self.lines = Lines()
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        self.opened = now()
        self.stop = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        buf = b""
        try:
            while not self.stop:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if not r:
                    continue
                try:
                    data = os.read(self.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    break
                t = now()
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.lines.add(line.decode(errors="replace").rstrip("\r"),
                                   t, backlog=t - self.opened < 0.15)
        except OSError:
            pass  # EIO: the VMM closed its end
        self.lines.close()

    def close(self):
        self.stop = True
        self.th.join(1)
        try:
            os.close(self.fd)
        except OSError:
            pass


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace")
                    for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_state(pid):
    """The one-letter state from /proc/PID/stat, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid):
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def processes_naming(text):
    """[(pid, argv)] of live processes whose command line contains
    text (our trial directory), ourselves excluded."""
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        argv = proc_cmdline(pid)
        if argv and any(text in a for a in argv) and pid_alive(pid):
            found.append((pid, argv))
    return found


def arg_after(argv, flag):
    for i, a in enumerate(argv[:-1]):
        if a == flag:
            return argv[i + 1]
    return None


def kill_pid(pid, signo=signal.SIGKILL):
    try:
        os.kill(pid, signo)
        if signo == signal.SIGKILL:
            os.kill(pid, signal.SIGCONT)
    except OSError:
        pass
