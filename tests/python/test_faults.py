"""test_faults: a server process that dies while this one waits on it, a
blocked call beside other threads' calls, and a library that is not there."""
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest

import xous
from conftest import HERE, Helper, within
from helper_api import Op


def start_helper(procs):
    name = "pytest faults %s" % uuid.uuid4().hex[:8]
    return Helper(name, procs.python(os.path.join(HERE, "helper_server.py"), name))


def in_thread(call, *args, **kwargs):
    """Starts call in a thread; returns (thread, outcome), outcome filled with ('ok', value) or ('raised', exc)."""
    outcome = []

    def run():
        try:
            outcome.append(("ok", call(*args, **kwargs)))
        except Exception as e:
            outcome.append(("raised", e))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_blocked_call_does_not_block_other_threads(procs):
    helper = start_helper(procs)
    thread, outcome = in_thread(helper.conn.blocking_scalar, Op.HOLD, timeout=10)
    assert helper.process.read_line() == "held BLOCKING_SCALAR"
    assert helper.conn.blocking_scalar(Op.REPLY1, 1, 1, timeout=5) == (2,)     # the GIL is not held meanwhile
    assert helper.conn.blocking_scalar(Op.RELEASE, timeout=5) == (1,)
    thread.join(10)
    assert outcome and outcome[0][0] == "raised" and isinstance(outcome[0][1], xous.InternalError)


def test_server_killed_wakes_its_callers(procs):
    helper = start_helper(procs)
    with xous.Buffer.from_bytes(b"mine") as buf:
        call, called = in_thread(helper.conn.blocking_scalar, Op.HOLD, timeout=10)
        assert helper.process.read_line() == "held BLOCKING_SCALAR"
        lend, lent = in_thread(helper.conn.lend_mut, Op.HOLD, buf, 0, 4, timeout=10)
        assert helper.process.read_line() == "held MUTABLE_BORROW"
        helper.process.popen.send_signal(signal.SIGKILL)
        call.join(10)
        lend.join(10)
        for outcome in (called, lent):
            assert outcome and outcome[0][0] == "raised"
            assert isinstance(outcome[0][1], xous.ServerNotFoundError)
            assert (outcome[0][1].code, outcome[0][1].name) == (9, "SERVER_NOT_FOUND")
        assert buf.read(0, 4) == b"mine" and not buf.busy       # intact, and ours again
    with pytest.raises(xous.ServerNotFoundError):
        helper.conn.blocking_scalar(Op.REPLY1, timeout=5)


def test_receive_waiting_when_the_server_is_destroyed():
    server = xous.create_server()
    thread, outcome = in_thread(server.receive, timeout=10)
    # Destroyed while (or before) the other thread waits: either way it wakes with SERVER_NOT_FOUND.
    server.destroy()
    thread.join(10)
    assert outcome and outcome[0][0] == "raised" and isinstance(outcome[0][1], xous.ServerNotFoundError)


def test_no_library_is_an_import_error_that_says_what_to_do():
    env = dict(os.environ, XOUS_LIBRARY="/nonexistent/libxousclient.so.0")
    result = subprocess.run([sys.executable, "-c", "import xous"], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "cannot load /nonexistent/libxousclient.so.0" in result.stderr and "XOUS_LIBRARY" in result.stderr


def test_connect_blocking_started_before_the_registration(procs):
    """Started first, it returns once the name exists (or finds it, if the thread runs late)."""
    name = "pytest later %s" % uuid.uuid4().hex[:8]
    thread, outcome = in_thread(xous.connect_blocking, name)
    helper = Helper(name, procs.python(os.path.join(HERE, "helper_server.py"), name))
    thread.join(10)
    assert outcome and outcome[0][0] == "ok"
    assert outcome[0][1].blocking_scalar(Op.REPLY2, 1, 2, timeout=5) == (2, 1)
    assert within(5, helper.conn.blocking_scalar, Op.QUIT) == (1,)
