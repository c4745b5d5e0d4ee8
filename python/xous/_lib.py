"""_lib: libxousclient through ctypes: the library loaded, every function this
package calls given its prototype, and the conversions at that boundary."""
import ctypes
import math
import os

LIBRARY_ENV = "XOUS_LIBRARY"
SONAME = "libxousclient.so.0"
U32_MAX = 0xFFFFFFFF
NAME_MAX = 63           # XOUS_NAME_MAX: bytes of UTF-8


class c_sid(ctypes.Structure):
    """xous_sid_t: four 32-bit words."""
    _fields_ = [("w", ctypes.c_uint32 * 4)]


class c_scalar_reply(ctypes.Structure):
    """xous_scalar_reply_t: count (1, 2 or 5) words in v."""
    _fields_ = [("count", ctypes.c_uint32), ("v", ctypes.c_uint32 * 5)]


_err = ctypes.c_int     # xous_error_t
_u32 = ctypes.c_uint32
_cid = ctypes.c_uint32
_ptr = ctypes.c_void_p  # xous_buf_t *, xous_envelope_t *
_pu32 = ctypes.POINTER(ctypes.c_uint32)
_pptr = ctypes.POINTER(ctypes.c_void_p)

# name: (restype, argtypes), as in <xous/xous.h>
PROTOTYPES = {
    "xous_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    # names and servers
    "xous_register_name": (_err, [ctypes.c_char_p, _u32, ctypes.POINTER(c_sid)]),
    "xous_unregister_server": (_err, [c_sid]),
    "xous_request_connection": (_err, [ctypes.c_char_p, ctypes.POINTER(_cid)]),
    "xous_request_connection_blocking": (_err, [ctypes.c_char_p, ctypes.POINTER(_cid)]),
    "xous_trusted_init_done": (_err, [ctypes.POINTER(ctypes.c_bool)]),
    "xous_create_server": (_err, [ctypes.POINTER(c_sid)]),
    "xous_destroy_server": (_err, [c_sid]),
    "xous_connect": (_err, [c_sid, ctypes.POINTER(_cid)]),
    "xous_try_connect": (_err, [c_sid, ctypes.POINTER(_cid)]),
    "xous_disconnect": (_err, [_cid]),
    # buffers
    "xous_buf_new": (_ptr, [ctypes.c_size_t]),
    "xous_buf_data": (_ptr, [_ptr]),
    "xous_buf_len": (ctypes.c_size_t, [_ptr]),
    "xous_buf_free": (None, [_ptr]),
    "xous_buf_busy": (ctypes.c_bool, [_ptr]),
    # sending
    "xous_send_scalar": (_err, [_cid, _u32, _u32, _u32, _u32, _u32]),
    "xous_try_send_scalar": (_err, [_cid, _u32, _u32, _u32, _u32, _u32]),
    "xous_blocking_scalar": (_err, [_cid, _u32, _u32, _u32, _u32, _u32, ctypes.POINTER(c_scalar_reply)]),
    "xous_send": (_err, [_cid, _u32, _ptr, _u32, _u32]),
    "xous_lend": (_err, [_cid, _u32, _ptr, _u32, _u32]),
    "xous_lend_mut": (_err, [_cid, _u32, _ptr, _pu32, _pu32]),
    "xous_blocking_scalar_timeout": (_err, [_cid, _u32, _u32, _u32, _u32, _u32,
                                            ctypes.POINTER(c_scalar_reply), _u32]),
    "xous_lend_timeout": (_err, [_cid, _u32, _ptr, _u32, _u32, _u32]),
    "xous_lend_mut_timeout": (_err, [_cid, _u32, _ptr, _pu32, _pu32, _u32]),
    # receiving
    "xous_receive_message": (_err, [c_sid, _pptr]),
    "xous_receive_message_timeout": (_err, [c_sid, _pptr, _u32]),
    "xous_try_receive_message": (_err, [c_sid, _pptr]),
    "xous_reply_and_receive_next": (_err, [c_sid, _pptr]),
    "xous_server_get_fd": (_err, [c_sid, ctypes.POINTER(ctypes.c_int)]),
    # envelopes
    "xous_envelope_kind": (ctypes.c_int, [_ptr]),
    "xous_envelope_id": (_u32, [_ptr]),
    "xous_envelope_args": (_pu32, [_ptr]),
    "xous_envelope_buf": (_ptr, [_ptr]),
    "xous_envelope_buf_len": (ctypes.c_size_t, [_ptr]),
    "xous_envelope_offset": (_u32, [_ptr]),
    "xous_envelope_valid": (_u32, [_ptr]),
    "xous_envelope_set_offset_valid": (None, [_ptr, _u32, _u32]),
    "xous_envelope_sender_pid": (_u32, [_ptr]),
    "xous_return_scalar": (_err, [_ptr, _u32]),
    "xous_return_scalar2": (_err, [_ptr, _u32, _u32]),
    "xous_return_scalar5": (_err, [_ptr, _u32 * 5]),
    "xous_forward": (_err, [_ptr, _cid, _u32]),
    "xous_envelope_drop": (None, [_ptr]),
}


def load():
    """libxousclient with every prototype set: $XOUS_LIBRARY (a path) if set,
    else the installed libxousclient.so.0. ImportError when it cannot be
    loaded or lacks a function."""
    path = os.environ.get(LIBRARY_ENV) or SONAME
    try:
        library = ctypes.CDLL(path, use_errno=True)
    except OSError as e:
        raise ImportError("xous: cannot load %s (%s): install libxousclient0, or set %s to the library's path"
                          % (path, e, LIBRARY_ENV)) from e
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError("xous: %s has no %s(): not libxousclient, or an older one" % (path, name)) from None
        function.restype = restype
        function.argtypes = argtypes
    return library


lib = load()


def u32(value, what):
    """value, checked to be a 32-bit word (every scalar in Xous is one)."""
    if not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not 0 <= value <= U32_MAX:
        raise ValueError("%s must fit in 32 bits (0..%d), got %d" % (what, U32_MAX, value))
    return value


def timeout_ms(timeout):
    """A timeout in seconds (None: for ever) as the milliseconds the _timeout
    calls take: rounded up, so that a short wait is never no wait; capped
    below UINT32_MAX, which means for ever."""
    if timeout is None:
        return U32_MAX
    if timeout < 0:
        raise ValueError("timeout must be >= 0 seconds (or None: for ever), got %r" % (timeout,))
    return min(math.ceil(timeout * 1000), U32_MAX - 1)


def name_bytes(name):
    """A server name as the C calls take it: UTF-8, checked for NUL (which C would cut it at)."""
    if isinstance(name, str):
        name = name.encode("utf-8")
    if not isinstance(name, bytes):
        raise TypeError("a server name is a str, not %s" % type(name).__name__)
    if b"\0" in name:
        raise ValueError("a server name cannot contain NUL")
    return name
