"""_memory: mapped memory of the C library (a buffer's, an envelope's) shown to
Python as a memoryview that cannot outlive the mapping.

One memoryview per mapping is handed out (format 'B', read-only for a
Borrow). Before the C library unmaps the memory (a buffer freed or moved, an
envelope dropped or forwarded) close() releases that view and checks that no
other view into the memory is alive: slices of it, memoryviews of it, buffers
exported from it (numpy, ...). If one is, close() raises BufferError and the
memory stays mapped, as mmap.close() does: a view used after its mapping went
away would read freed memory, so that can never happen.

The check counts references to the ctypes array under the views: every view
derived from it holds one, through its buffer (CPython's reference counting).
Each array also holds its owner, the object whose last reference unmaps the
memory: so the memory stays mapped while any view lives, whatever the
program does with the Buffer or Envelope object.
"""
import ctypes
import sys

# References to the array when no view exists: ours and getrefcount()'s argument.
_UNVIEWED_REFS = 2


class Memory:
    """address..address+length, mapped while owner lives."""

    def __init__(self, address, length, readonly, owner):
        self._array = (ctypes.c_ubyte * length).from_address(address)
        self._array.xous_owner = owner
        self._readonly = readonly
        self._view = None

    def view(self):
        """The memoryview of the whole memory (made once, until close())."""
        if self._view is None:
            with memoryview(self._array) as raw:
                view = raw.cast("B")
            if self._readonly:
                with view:
                    view = view.toreadonly()
            self._view = view
        return self._view

    def close(self, what):
        """Releases the view handed out; raises BufferError, leaving the
        memory mapped, if any other view into it is still alive."""
        if self._view is not None:
            try:
                self._view.release()
            except BufferError:
                raise BufferError("%s: its memoryview has exported its buffer (to numpy, a ctypes "
                                  "object, ...); release that first" % what) from None
            self._view = None
        alive = sys.getrefcount(self._array) - _UNVIEWED_REFS
        if alive > 0:
            raise BufferError("%s: %d view(s) of its memory are still alive (slices or memoryviews of "
                              "its memoryview); release them first (del, .release(), or `with view:`)"
                              % (what, alive))
