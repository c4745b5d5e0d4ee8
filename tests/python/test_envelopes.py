"""test_envelopes: this process as the server, callers in other processes
(xnsctl call, helper_caller.py): receiving, iteration, the drop as a context
manager, the drop on garbage, deferred answers, forwarding, reply_and_receive_next."""
import gc
import os

import pytest

import xous
from conftest import HERE
from helper_api import Op

CALLER = os.path.join(HERE, "helper_caller.py")


def xnsctl_call(procs, name, *words, scalar=False):
    """xnsctl call NAME WORDS... in a process of its own (-n: a Scalar); -t 10 bounds its wait."""
    return procs.start([os.environ["XNSCTL"], "-t", "10", "call"] + (["-n"] if scalar else []) + [name]
                       + [str(w) for w in words])


def test_receive_a_blocking_scalar_from_another_process(procs, name):
    with xous.register_name(name) as server:
        caller = xnsctl_call(procs, name, 3, 40, 2)
        env = server.receive(timeout=10)
        assert (env.kind, env.id, env.args[:2]) == (xous.Kind.BLOCKING_SCALAR, 3, (40, 2))
        assert env.sender_pid == caller.pid
        assert env.buf is None
        with env:
            env.return_scalar(env.args[0] + env.args[1])
        assert env.dropped
        assert caller.wait() == 0
        assert caller.lines == ["42"]


def test_with_drop_returns_a_mutable_borrow(procs, name):
    with xous.register_name(name) as server:
        caller = procs.python(CALLER, name, 4, "lend_mut", "hello")
        assert caller.read_line() == "sent"
        with server.receive(timeout=10) as env:
            assert (env.kind, env.id, env.offset, env.valid) == (xous.Kind.MUTABLE_BORROW, 4, 0, 5)
            view = env.buf
            assert (view.nbytes, view.readonly) == (4096, False)
            view[:5] = env.payload().upper()
            env.set_offset_valid(1, 3)
            assert caller.popen.poll() is None      # still waiting: nothing is answered before the drop
        assert caller.read_line() == "1 3 %s" % b"ELL".hex()
        with pytest.raises(ValueError):
            view[0]                                 # released at the drop
        with pytest.raises(ValueError):
            env.buf
        assert caller.wait() == 0


def test_borrow_is_read_only_here(procs, name):
    with xous.register_name(name) as server:
        caller = procs.python(CALLER, name, 5, "lend", "look, don't touch")
        with server.receive(timeout=10) as env:
            assert env.kind == xous.Kind.BORROW
            assert env.buf.readonly
            with pytest.raises(TypeError):
                env.buf[0] = 0
            assert env.payload() == b"look, don't touch"
        assert caller.wait() == 0
        assert caller.lines[-1].endswith(b"look, don't touch".hex())


def test_drop_refused_while_a_slice_lives_and_the_caller_waits(procs, name):
    with xous.register_name(name) as server:
        caller = procs.python(CALLER, name, 4, "lend_mut", "abc")
        env = server.receive(timeout=10)
        head = env.buf[:3]
        with pytest.raises(BufferError):
            env.drop()
        assert not env.dropped
        assert bytes(head) == b"abc"                # still mapped: the drop did not happen
        del head
        env.drop()
        assert caller.wait() == 0
        assert caller.lines[-1] == "0 3 %s" % b"abc".hex()


def test_envelope_garbage_is_dropped(procs, name):
    """The safety net: the last reference gone, the envelope is dropped (answered)."""
    with xous.register_name(name) as server:
        caller = xnsctl_call(procs, name, 1, 5)
        env = server.receive(timeout=10)
        env.return_scalar(6)
        del env
        gc.collect()
        assert caller.wait() == 0
        assert caller.lines == ["6"]


def test_unanswered_blocking_scalar_drop_wakes_the_caller_with_an_error(procs, name):
    with xous.register_name(name) as server:
        caller = xnsctl_call(procs, name, 1)
        with server.receive(timeout=10):
            pass
        assert caller.wait() == 1
        assert "internal error" in caller.stderr()


def test_iteration_receives_envelopes(procs, name):
    with xous.register_name(name) as server:
        for n in range(3):
            assert xnsctl_call(procs, name, 10 + n, n, scalar=True).wait() == 0
        seen = []
        for env in server:
            with env:
                seen.append((env.kind, env.id, env.args[0]))
                if len(seen) == 3:
                    break
        assert sorted(seen) == [(xous.Kind.SCALAR, 10 + n, n) for n in range(3)]   # three callers: any order
        assert server.try_receive() is None


def test_deferred_answer_while_serving_others(procs, name):
    with xous.register_name(name) as server:
        first = xnsctl_call(procs, name, 1, 100)
        with server.receive(timeout=10) as env:
            kept = env.defer()
        assert env.dropped and not kept.dropped     # defer() moved it out; the with dropped nothing
        second = xnsctl_call(procs, name, 2, 200)
        with server.receive(timeout=10) as env:
            env.return_scalar(env.args[0] + 1)
        assert second.wait() == 0 and second.lines == ["201"]
        assert first.popen.poll() is None           # the kept one still waits
        with kept:
            kept.return_scalar(kept.args[0] + 1)
        assert first.wait() == 0 and first.lines == ["101"]


def test_forward_to_a_server_in_another_process(procs, name, helper):
    with xous.register_name(name) as server:
        caller = xnsctl_call(procs, name, 77, 2, 3)
        with server.receive(timeout=10) as env:
            env.forward(helper.conn, Op.REPLY1)
        assert caller.wait() == 0
        assert caller.lines == ["5"]


def test_reply_and_receive_next(procs, name):
    with xous.register_name(name) as server:
        first = xnsctl_call(procs, name, 1, 1)
        env = server.receive(timeout=10)
        env.return_scalar(11)
        second = xnsctl_call(procs, name, 1, 2)
        nxt = server.reply_and_receive_next(env)
        assert env.dropped
        assert first.wait() == 0 and first.lines == ["11"]
        with nxt:
            nxt.return_scalar(12)
        assert second.wait() == 0 and second.lines == ["12"]


def test_return_scalar_twice_is_double_free(procs, name):
    with xous.register_name(name) as server:
        caller = xnsctl_call(procs, name, 1)
        with server.receive(timeout=10) as env:
            env.return_scalar(1, 2, 3, 4, 5)
            with pytest.raises(xous.DoubleFreeError) as info:
                env.return_scalar(1)
            assert info.value.code == 25
            with pytest.raises(ValueError):
                env.return_scalar(1, 2, 3)
        assert caller.wait() == 0
        assert caller.lines == ["1 2 3 4 5"]


def test_destroy_refused_while_an_envelope_is_unanswered(procs, name):
    server = xous.register_name(name)
    caller = xnsctl_call(procs, name, 1)
    env = server.receive(timeout=10)
    with pytest.raises(xous.ServerQueueFullError):
        server.destroy()
    env.drop()
    server.destroy()
    assert caller.wait() == 1
