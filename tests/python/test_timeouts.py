"""test_timeouts: calls and receives that give up, in seconds; a buffer
whose lend timed out stays busy until the server drops it."""
import builtins
import time

import pytest

import xous
from conftest import wait_until
from helper_api import Op

SHORT = 0.15    # seconds


def release_parked(helper, expected):
    assert helper.conn.blocking_scalar(Op.RELEASE, timeout=5) == (expected,)


def expect_timeout(call, *args, **kwargs):
    start = time.monotonic()
    with pytest.raises(xous.TimeoutError) as info:
        call(*args, **kwargs)
    assert time.monotonic() - start >= SHORT
    assert (info.value.code, info.value.name) == (13, "TIMEOUT")
    assert isinstance(info.value, builtins.TimeoutError)


def test_blocking_scalar_to_a_server_that_never_answers(helper):
    expect_timeout(helper.conn.blocking_scalar, Op.HOLD, 1, 2, timeout=SHORT)
    release_parked(helper, 1)
    assert helper.conn.blocking_scalar(Op.REPLY1, 1, 2, timeout=5) == (3,)


def test_zero_timeout_gives_up_at_once(helper):
    with pytest.raises(TimeoutError):
        helper.conn.blocking_scalar(Op.HOLD, timeout=0)
    release_parked(helper, 1)


@pytest.mark.parametrize("kind", ["lend", "lend_mut"])
def test_timed_out_lend_leaves_the_buffer_busy(helper, kind):
    lend = getattr(helper.conn, kind)
    with xous.Buffer.from_bytes(b"held") as buf:
        assert not buf.busy
        expect_timeout(lend, Op.HOLD, buf, 0, 4, timeout=SHORT)
        assert buf.busy
        for again in (lambda: helper.conn.lend(Op.BORROW, buf, timeout=5),
                      lambda: helper.conn.lend_mut(Op.UPPER, buf, 0, 4),
                      lambda: helper.conn.send(Op.STORE, buf, 0, 4)):
            with pytest.raises(xous.MemoryInUseError) as info:
                again()
            assert (info.value.code, info.value.name) == (4, "MEMORY_IN_USE")
        assert buf.busy and not buf.freed
        release_parked(helper, 1)
        # Nothing waits on the buffer's return: poll busy, as tests/test-timeouts.c does.
        wait_until(lambda: not buf.busy, what="the buffer's return")
        assert helper.conn.lend_mut(Op.UPPER, buf, 0, 4, timeout=5) == (1, 3)
        assert buf.read(0, 4) == b"HELD"


def test_a_busy_buffer_may_be_freed(helper):
    buf = xous.Buffer(4096)
    expect_timeout(helper.conn.lend, Op.HOLD, buf, timeout=SHORT)
    assert buf.busy
    buf.free()
    assert buf.freed and not buf.busy
    release_parked(helper, 1)


def test_receive_on_an_idle_server_times_out():
    with xous.create_server() as server:
        expect_timeout(server.receive, timeout=SHORT)
        with pytest.raises(xous.TimeoutError):
            server.receive(timeout=0)
        assert server.try_receive() is None
        with server.connect() as conn:
            conn.send_scalar(9)
            with server.receive(timeout=5) as env:
                assert env.id == 9
