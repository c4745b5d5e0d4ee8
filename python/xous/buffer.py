"""buffer: Buffer, the shared memory a memory message carries (xous_buf_t)."""
import ctypes
import os
import threading

from ._lib import lib
from ._memory import Memory


class _BufferHandle:
    """Owns the xous_buf_t: frees it once, at free() or when the last
    reference (the Buffer, or a view of its memory) goes."""

    def __init__(self, pointer):
        self.pointer = pointer
        self.lock = threading.Lock()

    def take(self):
        """The pointer, now the caller's to free or give away; None if gone."""
        with self.lock:
            pointer, self.pointer = self.pointer, None
        return pointer

    def free(self, _free=lib.xous_buf_free):
        _free(self.take())

    __del__ = free


class Buffer:
    """Memory for Move, Borrow and MutableBorrow messages: shared memory (a
    sealed memfd), a whole number of 4096-byte pages, zeroed when made.

    Lending a buffer copies nothing, so a lend costs the same at every size:
    make one and lend it again and again. Its bytes are a writable
    memoryview (buf.memoryview(), or buf.write() and buf.read()).

    A buffer is freed by free(), at the end of a `with Buffer(n) as buf:`
    block, or when it is garbage. Sending it (Connection.send, a Move) gives
    it away. Either way its memoryview is released first; free() and send()
    raise BufferError while another view of its memory (a slice of the
    memoryview, say) is alive, so that none can outlive the memory.
    """

    def __init__(self, size):
        """A buffer of at least size bytes (rounded up to whole pages).
        ValueError for 0 or more than 4294963200; OSError when the system
        has no memory or descriptors left."""
        pointer = lib.xous_buf_new(size)
        if not pointer:
            errno = ctypes.get_errno()
            if errno == 22:
                raise ValueError("a buffer is 1 to 4294963200 bytes, not %d" % size)
            raise OSError(errno, "xous_buf_new(%d): %s" % (size, os.strerror(errno)))
        self._handle = _BufferHandle(pointer)
        self._size = lib.xous_buf_len(pointer)
        self._memory = Memory(lib.xous_buf_data(pointer), self._size, False, self._handle)

    @classmethod
    def from_bytes(cls, data):
        """A new buffer (whole pages) that starts with a copy of data."""
        buf = cls(max(len(data), 1))
        buf.write(data)
        return buf

    def __len__(self):
        return self._size

    def __repr__(self):
        state = "freed" if self.freed else "busy" if self.busy else "%d bytes" % self._size
        return "<xous.Buffer %s>" % state

    @property
    def freed(self):
        """True once freed or given away by a Move."""
        return self._handle.pointer is None

    @property
    def busy(self):
        """True while a lend of this buffer that timed out has not come back:
        the server has not dropped the envelope yet. Meanwhile the bytes are
        the server's (do not touch them) and lending or sending the buffer
        raises MemoryInUseError. False once back, or freed."""
        pointer = self._handle.pointer
        return bool(pointer) and lib.xous_buf_busy(pointer)

    def memoryview(self):
        """The buffer's bytes as a writable memoryview (format 'B'), the same
        one until the buffer is freed or sent; released then."""
        self._check_alive()
        return self._memory.view()

    def write(self, data, offset=0):
        """Copies data (bytes-like) into the buffer at offset."""
        end = offset + len(data)
        if offset < 0 or end > self._size:
            raise ValueError("%d bytes at offset %d do not fit in %d" % (len(data), offset, self._size))
        self.memoryview()[offset:end] = data

    def read(self, offset=0, length=None):
        """A copy of length bytes (default: to the end) from offset, as bytes."""
        end = self._size if length is None else offset + length
        if offset < 0 or end < offset or end > self._size:
            raise ValueError("%s bytes at offset %d are outside %d" % (length, offset, self._size))
        return self.memoryview()[offset:end].tobytes()

    def free(self):
        """Unmaps and frees the buffer; a second free does nothing. A busy
        buffer may be freed: the server's late drop harms no one."""
        if self.freed:
            return
        self._memory.close("freeing the buffer")
        self._handle.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def _check_alive(self):
        if self.freed:
            raise ValueError("the buffer is freed (or was sent)")

    def _pointer(self):
        """The xous_buf_t for a lend."""
        self._check_alive()
        return self._handle.pointer

    def _pointer_to_give(self, what):
        """The xous_buf_t for a Move, its memoryview released (the C library
        frees the buffer once the Move succeeded); _given() after it did."""
        self._check_alive()
        self._memory.close(what)
        return self._handle.pointer

    def _given(self):
        """A Move succeeded: the buffer is the server's and freed here."""
        self._handle.take()
