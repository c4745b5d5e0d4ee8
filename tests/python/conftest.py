"""conftest: a private xnsd for the whole run, and the processes tests start.

meson (tests/meson.build) sets the environment: XNSD (and XNSD_WRAPPER, which
runs it, in the valgrind setups), XNSCTL, XOUS_LIBRARY
(the built libxousclient), PYTHONPATH (build/python, examples/python),
MYSERVICE_SERVER and MYSERVICE_CALLER (the C example programs, when built).
xnsd starts on a socket in a fresh temporary directory and is waited for
through its readiness notification (NOTIFY_SOCKET, READY=1), the tests' own
processes through the first line they print; everything started is killed
by pid and the directory removed at the end.
"""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
START_TIMEOUT = 10.0    # seconds for a process to say it is ready
EXIT_TIMEOUT = 10.0     # seconds for a process to exit when it should


def program(variable):
    """The program meson passed in variable; the test is skipped without it."""
    path = os.environ.get(variable)
    if not path:
        pytest.skip("%s is not set (not built?)" % variable)
    return path


class Process:
    """A process a test started, its stdout read line by line with a deadline."""

    def __init__(self, argv, tmpdir):
        self.argv = argv
        self.stderr_path = os.path.join(tmpdir, "stderr-%s" % uuid.uuid4().hex[:8])
        with open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        self.lines = []
        self._pending = b""

    @property
    def pid(self):
        return self.popen.pid

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def read_line(self, timeout=START_TIMEOUT):
        """The next line of stdout (without its newline); AssertionError if
        none comes within timeout or the process ends first."""
        deadline = time.monotonic() + timeout
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError("%s printed no line within %g s; stderr:\n%s" % (self.argv[0], timeout,
                                                                                    self.stderr()))
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError("%s ended (%s) before printing a line; stderr:\n%s"
                                     % (self.argv[0], self.popen.wait(EXIT_TIMEOUT), self.stderr()))
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        self.lines.append(line.decode(errors="replace"))
        return self.lines[-1]

    def wait_line(self, needle, timeout=START_TIMEOUT):
        """Reads lines until one contains needle; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(deadline - time.monotonic(), 0))
            if needle in line:
                return line

    def wait(self, timeout=EXIT_TIMEOUT):
        """The exit status, the rest of stdout read; AssertionError if it does not exit in time."""
        try:
            out, _ = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %g s" % (self.argv[0], timeout)) from None
        self.lines += (self._pending + out).decode(errors="replace").splitlines()
        self._pending = b""
        return self.popen.returncode

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited within EXIT_TIMEOUT; reaped either way."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(EXIT_TIMEOUT)
        self.popen.stdout.close()


class Processes:
    """Starts processes for one test and stops every one of them at its end."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.started = []

    def start(self, argv):
        process = Process([str(a) for a in argv], self.tmpdir)
        self.started.append(process)
        return process

    def python(self, script, *args):
        """A Python script of this directory or examples/python, by the interpreter running the tests."""
        return self.start([sys.executable, script] + list(args))

    def stop_all(self):
        for process in reversed(self.started):
            process.stop()


def wait_ready(notify, daemon, timeout):
    """Waits for READY=1 on the notify socket; AssertionError if daemon exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("xnsd did not report READY=1 within %g s" % timeout)
        # A short slice, so that a daemon that died is noticed at once.
        ready, _, _ = select.select([notify], [], [], min(left, 0.2))
        if ready and b"READY=1" in notify.recv(4096).split(b"\n"):
            return
        if daemon.poll() is not None:
            raise AssertionError("xnsd exited (%s) before it was ready" % daemon.returncode)


def pytest_configure(config):
    """meson's timeout sends SIGTERM: unwind, so that the fixtures stop what they started."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)


def within(timeout, call, *args):
    """call(*args) for a call that cannot be given a timeout (connect_blocking):
    in a thread, so that one that never returns fails the test after timeout
    seconds instead of hanging the run (the thread stays blocked until exit)."""
    outcome = []

    def run():
        try:
            outcome.append((True, call(*args)))
        except BaseException as e:
            outcome.append((False, e))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert outcome, "%s%r did not return within %g s" % (call.__name__, args, timeout)
    returned, value = outcome[0]
    if not returned:
        raise value
    return value


class Daemon:
    """The running xnsd: .sock, its socket; .dir, the run's temporary directory."""

    def __init__(self, sock, tmpdir):
        self.sock, self.dir = sock, tmpdir


@pytest.fixture(scope="session", autouse=True)
def xnsd():
    """A private xnsd on DIR/xns.sock, XOUS_SOCKET pointing at it for this
    process (before its first call) and every one it starts."""
    tmpdir = tempfile.mkdtemp(prefix="xns-python.")
    sock = os.path.join(tmpdir, "xns.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(tmpdir, "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmpdir, "notify.sock"))
    # XNSD_WRAPPER (meson test --setup valgrind) runs xnsd under memcheck, as the C harness does.
    wrapper = [os.environ["XNSD_WRAPPER"]] if os.environ.get("XNSD_WRAPPER") else []
    with open(os.path.join(tmpdir, "xnsd.log"), "wb") as log:
        daemon = subprocess.Popen(wrapper + [os.environ["XNSD"], "--socket", sock], env=env,
                                  stdin=subprocess.DEVNULL, stderr=log)
    try:
        wait_ready(notify, daemon, START_TIMEOUT)
        os.environ["XOUS_SOCKET"] = sock
        yield Daemon(sock, tmpdir)
    finally:
        daemon.terminate()
        try:
            daemon.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(EXIT_TIMEOUT)
        notify.close()
        with open(os.path.join(tmpdir, "xnsd.log"), errors="replace") as log:
            xnsd_log = log.read()
        shutil.rmtree(tmpdir)
    assert daemon.returncode == 0, "xnsd exited with %s; its log:\n%s" % (daemon.returncode, xnsd_log)


@pytest.fixture
def procs(xnsd):
    """Start processes with procs.start(argv) / procs.python(script, ...); all are stopped at the end."""
    processes = Processes(xnsd.dir)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def name(request):
    """A server name unique to this test."""
    return "pytest %s %s" % (request.node.name[:40], uuid.uuid4().hex[:8])


def wait_until(condition, timeout=START_TIMEOUT, what="the condition"):
    """Polls condition() until true (for what no call waits on, like Buffer.busy); AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError("%s did not happen within %g s" % (what, timeout))
        time.sleep(0.005)


class Helper:
    """helper_server.py running in a process of its own: .name, .sid, .conn (ours to it), .process."""

    def __init__(self, name, process):
        import xous

        self.name, self.process = name, process
        self.sid = xous.Sid.from_hex(process.read_line().split()[1])
        self.conn = xous.connect(name)


@pytest.fixture(scope="module")
def helper(xnsd):
    """A Python server in another process (helper_server.py) for the module's tests; asked to quit at the end."""
    from helper_api import Op

    processes = Processes(xnsd.dir)
    try:
        name = "pytest helper %s" % uuid.uuid4().hex[:8]
        helper = Helper(name, processes.python(os.path.join(HERE, "helper_server.py"), name))
        yield helper
        assert helper.conn.blocking_scalar(Op.QUIT, timeout=EXIT_TIMEOUT) == (1,)
        assert helper.process.wait() == 0, helper.process.stderr()
        helper.conn.disconnect()
    finally:
        processes.stop_all()
