"""xous: Xous-style IPC between Linux processes, from Python (xns).

Xous's messages over xnsd, through libxousclient: server names, connections,
the five message kinds, and the rule that a server answers by dropping the
envelope. The daemon's socket is $XOUS_SOCKET, else /run/xns/xns.sock; the
library is libxousclient.so.0, or the one $XOUS_LIBRARY names.

A server:

    import xous

    with xous.register_name("demo: adder") as server:
        for env in server:                      # one Envelope per message
            with env:                           # dropped (answered) at the end
                if env.id == 1 and env.kind == xous.Kind.BLOCKING_SCALAR:
                    env.return_scalar(env.args[0] + env.args[1])

A caller:

    conn = xous.connect_blocking("demo: adder")
    print(conn.blocking_scalar(1, 2, 3))        # (5,)
    with xous.Buffer(4096) as buf:              # shared memory, whole pages
        buf.write(b"hello")
        offset, valid = conn.lend_mut(2, buf, 0, 5, timeout=1.0)

Names: register_name(), create_server(), connect(), connect_blocking(),
connect_sid(), try_connect_sid(), trusted_init_done(). Classes: Server,
Connection, Envelope, Buffer, Sid, Kind. Errors: XousError and one subclass
per Xous error (ServerNotFoundError, TimeoutError, ...; see xous.errors).
Timeouts are in seconds (float); None waits for ever. Every call that waits
releases the GIL. Sending a Move gives the buffer away. libxousclient(3)
describes every call in detail.
"""
from ._lib import NAME_MAX
from .buffer import Buffer
from .connection import Connection, Sid, connect, connect_blocking, connect_sid, trusted_init_done, try_connect_sid
from .envelope import Envelope, Kind
from . import errors
from .errors import XousError, strerror
from .server import Server, create_server, register_name

# One class per Xous error (ServerNotFoundError, TimeoutError, ...), here as in xous.errors.
globals().update({cls.__name__: cls for cls in errors.BY_CODE.values()})

# What help(xous) lists; the error classes are listed in help(xous.errors).
__all__ = ["Buffer", "Connection", "Envelope", "Kind", "NAME_MAX", "Server", "Sid", "XousError", "connect",
           "connect_blocking", "connect_sid", "create_server", "register_name", "strerror", "trusted_init_done",
           "try_connect_sid"]
