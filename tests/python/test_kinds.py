"""test_kinds: every message kind from this process to a Python server in
another (helper_server.py), and Buffers as memoryviews."""
import zlib

import pytest

import xous
from helper_api import Op


def test_scalar_arrives_in_order_before_a_later_blocking_scalar(helper):
    (before,) = helper.conn.blocking_scalar(Op.GET_COUNT, timeout=5)
    for n in (1, 2, 3):
        helper.conn.send_scalar(Op.COUNT, n)
    helper.conn.try_send_scalar(Op.COUNT, 4)
    assert helper.conn.blocking_scalar(Op.GET_COUNT, timeout=5) == (before + 10,)


@pytest.mark.parametrize("op, args, answer", [
    (Op.REPLY1, (2, 3), (5,)),
    (Op.REPLY2, (2, 3), (3, 2)),
    (Op.REPLY5, (1, 2, 3, 0xFFFFFFF0), (1, 2, 3, 0xFFFFFFF0, 0xFFFFFFF6)),
])
def test_blocking_scalar_answers_1_2_or_5_words(helper, op, args, answer):
    assert helper.conn.blocking_scalar(op, *args) == answer
    assert helper.conn.blocking_scalar(op, *args, timeout=5) == answer


def test_blocking_scalar_dropped_unanswered_is_internal_error(helper):
    with pytest.raises(xous.InternalError) as info:
        helper.conn.blocking_scalar(Op.UNANSWERED, timeout=5)
    assert (info.value.code, info.value.name) == (14, "INTERNAL_ERROR")


def test_move_gives_the_buffer_away(helper):
    data = b"moved to the server " * 300     # more than one page
    buf = xous.Buffer.from_bytes(data)
    assert len(buf) == 8192
    view = buf.memoryview()
    helper.conn.send(Op.STORE, buf, 0, len(data))
    assert buf.freed
    with pytest.raises(ValueError):
        view[0]                         # released: the pages are the server's
    with pytest.raises(ValueError):
        buf.memoryview()
    assert helper.conn.blocking_scalar(Op.GET_STORED, timeout=5) == (len(data), zlib.crc32(data))


def test_move_refused_while_a_slice_lives(helper):
    buf = xous.Buffer.from_bytes(b"abc")
    head = buf.memoryview()[:3]
    with pytest.raises(BufferError):
        helper.conn.send(Op.STORE, buf, 0, 3)
    assert not buf.freed and bytes(head) == b"abc"
    del head
    helper.conn.send(Op.STORE, buf, 0, 3)
    assert helper.conn.blocking_scalar(Op.GET_STORED, timeout=5) == (3, zlib.crc32(b"abc"))


def test_borrow_is_read_only_in_the_server(helper):
    text = b"lent, not given"
    with xous.Buffer.from_bytes(text) as buf:
        helper.conn.lend(Op.BORROW, buf, 0, len(text), timeout=5)
        crc, write_refused, length, _, _ = helper.conn.blocking_scalar(Op.GET_BORROW, timeout=5)
        assert (crc, length) == (zlib.crc32(text), 4096)
        assert write_refused == 1        # its memoryview is read-only: TypeError
        assert buf.read(0, len(text)) == text
        helper.conn.lend(Op.BORROW, buf, 5, 3)
        assert helper.conn.blocking_scalar(Op.GET_BORROW, timeout=5)[0] == zlib.crc32(text[5:8])


def test_mutable_borrow_changes_come_back_with_offset_and_valid(helper):
    with xous.Buffer(4096) as buf:
        buf.write(b"__hello, xns")
        view = buf.memoryview()
        offset, valid = helper.conn.lend_mut(Op.UPPER, buf, 2, 10, timeout=5)
        assert (offset, valid) == (3, 9)
        assert bytes(view[:12]) == b"__HELLO, XNS"
        assert helper.conn.lend_mut(Op.UPPER, buf, 0, 2) == (1, 1)


def test_buffer_is_a_memoryview_of_whole_pages():
    with xous.Buffer(1) as buf:
        view = buf.memoryview()
        assert (len(buf), view.nbytes, view.format, view.readonly) == (4096, 4096, "B", False)
        assert bytes(view) == bytes(4096)               # zeroed
        view[10:13] = b"xyz"
        assert buf.read(10, 3) == b"xyz"
        assert buf.memoryview() is view
        with pytest.raises(ValueError):
            buf.write(b"x", 4096)
    assert buf.freed
    with pytest.raises(ValueError):
        view[0]
    buf.free()                                          # a second free does nothing
    with pytest.raises(ValueError):
        xous.Buffer(0)


def test_free_refused_while_a_view_of_the_memory_lives():
    buf = xous.Buffer(4096)
    part = buf.memoryview()[100:200]
    again = memoryview(part)
    with pytest.raises(BufferError):
        buf.free()
    part.release()
    with pytest.raises(BufferError):
        buf.free()
    del again
    buf.free()
    assert buf.freed


def test_a_lent_buffer_of_a_freed_buffer_is_refused(helper):
    buf = xous.Buffer(4096)
    buf.free()
    with pytest.raises(ValueError):
        helper.conn.lend(Op.BORROW, buf)
