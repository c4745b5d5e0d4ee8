"""envelope: Envelope, one message as its server received it, and Kind, the five kinds."""
import ctypes
import enum
import threading

from ._codes import KINDS
from ._lib import lib, u32
from ._memory import Memory
from .errors import check

Kind = enum.IntEnum("Kind", [(name, number) for number, name in KINDS], module=__name__)
Kind.__doc__ = """The kind of a message, with Xous's numbers: MUTABLE_BORROW (0),
BORROW (1), MOVE (2), SCALAR (3), BLOCKING_SCALAR (4)."""


class _EnvelopeHandle:
    """Owns the xous_envelope_t: drops it once, at Envelope.drop() or when
    the last reference (the Envelope, or a view of its memory) goes."""

    def __init__(self, pointer):
        self.pointer = pointer
        self.lock = threading.Lock()

    def drop(self, _drop=lib.xous_envelope_drop):
        with self.lock:
            pointer, self.pointer = self.pointer, None
        if pointer:
            _drop(pointer)

    __del__ = drop


class Envelope:
    """A message received by a server (Server.receive, iteration).

    .kind (Kind), .id (the opcode), .args (four words; zeros for memory
    kinds), .sender_pid, and for the memory kinds .buf, a memoryview of the
    message's memory (read-only for a Borrow: writing raises TypeError),
    with .offset and .valid, the caller's.

    Every envelope is dropped exactly once, and the drop is the answer
    (Xous's return-on-Drop): a Borrow or MutableBorrow goes back to its
    caller, who resumes (with the offset and valid set here); an answered
    BlockingScalar delivers its answer, an unanswered one wakes its caller
    with InternalError; a Scalar or Move is freed. Drop it:

      - at the end of a `with env:` block (how Python spells Rust's scope
        drop), or by env.drop();
      - as a safety net, when the Envelope is garbage: in CPython as soon as
        the last reference goes, e.g. when `for env in server:` moves on.

    Keeping the object instead (in a list, an attribute) is a deferred
    response: the caller stays blocked while the server goes on serving,
    until the kept envelope is dropped.

    The drop releases .buf; it raises BufferError, and does not drop, while
    another view of the memory (a slice of .buf kept in a variable, say) is
    alive, so that no view can outlive the mapping. Use `with env.buf[a:b]
    as part:` or copy (bytes(...)) what must outlive the envelope.
    """

    def __init__(self, pointer):
        self._handle = _EnvelopeHandle(pointer)
        self.kind = Kind(lib.xous_envelope_kind(pointer))
        self.id = lib.xous_envelope_id(pointer)
        words = lib.xous_envelope_args(pointer)
        self.args = tuple(words[i] for i in range(4))
        self.sender_pid = lib.xous_envelope_sender_pid(pointer)
        self.offset = lib.xous_envelope_offset(pointer)
        self.valid = lib.xous_envelope_valid(pointer)
        address, length = lib.xous_envelope_buf(pointer), lib.xous_envelope_buf_len(pointer)
        self._memory = Memory(address, length, self.kind == Kind.BORROW, self._handle) if address else None

    def __repr__(self):
        state = " dropped" if self.dropped else ""
        return "<xous.Envelope %s id=%d from pid %d%s>" % (self.kind.name, self.id, self.sender_pid, state)

    @property
    def dropped(self):
        """True once dropped (or handed back by reply_and_receive_next)."""
        return self._handle.pointer is None

    @property
    def is_memory(self):
        """True for Move, Borrow and MutableBorrow."""
        return self.kind in (Kind.MOVE, Kind.BORROW, Kind.MUTABLE_BORROW)

    @property
    def buf(self):
        """The message's memory as a memoryview (read-only for a Borrow);
        None for scalar kinds. Released at the drop."""
        self._live()
        if self._memory is None:
            return None
        return self._memory.view()

    def payload(self):
        """A copy of the valid bytes: buf[offset:offset + valid]. ValueError
        if they lie outside the buffer or this is no memory message."""
        buf = self.buf
        if buf is None:
            raise ValueError("a %s carries no memory" % self.kind.name)
        if self.offset > len(buf) or self.valid > len(buf) - self.offset:
            raise ValueError("offset %d and valid %d lie outside the %d-byte buffer"
                             % (self.offset, self.valid, len(buf)))
        return buf[self.offset:self.offset + self.valid].tobytes()

    def set_offset_valid(self, offset, valid):
        """The offset and valid a MutableBorrow returns to its caller at the drop."""
        lib.xous_envelope_set_offset_valid(self._live(), u32(offset, "offset"), u32(valid, "valid"))
        self.offset, self.valid = offset, valid

    def return_scalar(self, *values):
        """Records the answer to a BlockingScalar, 1, 2 or 5 words; the drop
        sends it. DoubleFreeError for a second answer or another kind."""
        words = [u32(v, "an answer word") for v in values]
        pointer = self._live()
        if len(words) == 1:
            check(lib.xous_return_scalar(pointer, words[0]), "return_scalar")
        elif len(words) == 2:
            check(lib.xous_return_scalar2(pointer, words[0], words[1]), "return_scalar")
        elif len(words) == 5:
            check(lib.xous_return_scalar5(pointer, (ctypes.c_uint32 * 5)(*words)), "return_scalar")
        else:
            raise ValueError("a BlockingScalar is answered with 1, 2 or 5 words, not %d" % len(words))

    def forward(self, conn, new_id):
        """Passes the message on to the server behind conn (a Connection)
        under opcode new_id; its answer goes to the original caller. The
        memory is unmapped here (buf released first); the envelope must
        still be dropped, which then sends nothing."""
        pointer = self._live()
        if self._memory is not None:
            self._memory.close("forwarding the envelope")
        check(lib.xous_forward(pointer, conn.cid, u32(new_id, "new_id")), "forward")
        self._memory = None

    def defer(self):
        """Moves the message out of this Envelope into a new one, returned,
        for a deferred response: keep that one and drop it later; this one
        is left empty (dropped), so the end of its `with` block drops
        nothing. Rust's Option<MessageEnvelope>::take()."""
        self._live()
        moved = Envelope.__new__(Envelope)
        moved.__dict__.update(self.__dict__)
        self._handle = _EnvelopeHandle(None)
        self._memory = None
        return moved

    def drop(self):
        """Drops the envelope: the answer goes (see the class). A second drop does nothing."""
        if self.dropped:
            return
        if self._memory is not None:
            self._memory.close("dropping the envelope")
        self._memory = None
        self._handle.drop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.drop()

    def _live(self):
        pointer = self._handle.pointer
        if pointer is None:
            raise ValueError("the envelope is dropped")
        return pointer

    def _take(self):
        """The xous_envelope_t for reply_and_receive_next, which drops it."""
        pointer = self._live()
        if self._memory is not None:
            self._memory.close("dropping the envelope")
        self._memory = None
        with self._handle.lock:
            self._handle.pointer = None
        return pointer
