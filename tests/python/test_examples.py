"""test_examples: Python and C across processes, through the example service
(examples/myservice): the C caller against the Python service
(examples/python/myservice.py), the Python caller (examples/python/caller.py)
and this process against the C service, and the two Python ones together."""
import os
import re
import sys

import xous
from conftest import SOURCE_ROOT, START_TIMEOUT, program, within

EXAMPLES = os.path.join(SOURCE_ROOT, "examples", "python")
sys.path.insert(0, EXAMPLES)
import myservice_api as api  # noqa: E402

PY_SERVICE = os.path.join(EXAMPLES, "myservice.py")
PY_CALLER = os.path.join(EXAMPLES, "caller.py")
RUN_TIMEOUT = 30        # seconds for a caller to go through the four idioms (about 1 s)


def start_c_service(procs):
    service = procs.start([program("MYSERVICE_SERVER")])
    service.wait_line("registered")
    return service


def start_py_service(procs):
    service = procs.python(PY_SERVICE)
    service.wait_line("registered")
    return service


def run_caller(caller, service):
    assert caller.wait(RUN_TIMEOUT) == 0, "caller failed:\n%s\n%s" % ("\n".join(caller.lines), caller.stderr())
    assert "all four idioms gave the expected answers" in caller.lines[-1]
    assert service.wait() == 0, service.stderr()        # it acknowledged OP_QUIT and left


def test_api_matches_the_c_header():
    """myservice_api.py says what myservice/api.h says: the name, the text limit, every opcode."""
    with open(os.path.join(SOURCE_ROOT, "examples", "myservice", "api.h")) as f:
        header = f.read()
    assert re.search(r'#define SERVER_NAME_MYSERVICE "([^"]*)"', header).group(1) == api.SERVER_NAME
    assert int(re.search(r"#define MYSERVICE_TEXT_MAX (\d+)", header).group(1)) == api.TEXT_MAX
    for enum_name in ("myservice_opcode", "myservice_event"):
        body = re.search(r"enum %s \{(.*?)\};" % enum_name, header, re.S).group(1)
        names = re.findall(r"^\s*(OP_[A-Z_]+),", body, re.M)
        assert names
        assert [getattr(api, n) for n in names] == list(range(len(names))), enum_name


def test_c_caller_against_the_python_service(procs):
    service = start_py_service(procs)
    run_caller(procs.start([program("MYSERVICE_CALLER")]), service)
    assert any("answered the parked OP_WAIT_TICKS" in line for line in service.lines)


def test_python_caller_against_the_c_service(procs):
    service = start_c_service(procs)
    run_caller(procs.python(PY_CALLER), service)


def test_python_caller_against_the_python_service(procs):
    service = start_py_service(procs)
    run_caller(procs.python(PY_CALLER), service)


def test_this_process_calls_the_c_service(procs):
    """Every kind, and the C service pushing ticks to a Python server here."""
    service = start_c_service(procs)
    conn = within(START_TIMEOUT, xous.connect_blocking, api.SERVER_NAME)
    assert conn.blocking_scalar(api.OP_ADD, 40, 2, timeout=5) == (42,)
    conn.send_scalar(api.OP_LOG_COUNT, 5)
    conn.send(api.OP_STORE, xous.Buffer.from_bytes(b"from python"), 0, 11)
    assert conn.blocking_scalar(api.OP_STATS, timeout=5) == (5, 11)
    with xous.Buffer.from_bytes(b"shout") as page:
        assert conn.lend_mut(api.OP_UPPERCASE, page, 0, 5, timeout=5) == (0, 5)
        assert page.read(0, 5) == b"SHOUT"
        conn.lend(api.OP_PRINT, page, 0, 5, timeout=5)
    with xous.create_server() as listener:
        conn.send_scalar(api.OP_SUBSCRIBE, *listener.sid)
        ticks = []
        while len(ticks) < 3:
            with listener.receive(timeout=5) as env:
                assert (env.kind, env.id, env.sender_pid) == (xous.Kind.SCALAR, api.OP_TICK, service.pid)
                ticks.append(env.args[0])
        assert ticks == list(range(ticks[0], ticks[0] + 3))
        assert conn.blocking_scalar(api.OP_UNSUBSCRIBE, *listener.sid, timeout=5) == (1,)
        while (env := listener.try_receive()) is not None:     # pushed before the unsubscribe
            env.drop()
    first, last = conn.blocking_scalar(api.OP_WAIT_TICKS, 2, timeout=5)
    assert last == first + 1
    assert conn.blocking_scalar(api.OP_QUIT, timeout=5) == (1,)
    assert service.wait() == 0
    assert any('OP_PRINT (Borrow): "SHOUT"' in line for line in service.lines)


def readme_snippets():
    """The python code blocks of the README's Python section."""
    with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
        section = f.read().split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_snippets(procs, xnsd):
    """The README's caller against the C service, prints what its comments say; its server answers."""
    caller_code, server_code = readme_snippets()
    server_code = "import xous\n\n" + server_code     # the snippet goes on from the one before
    for i, code in enumerate((caller_code, server_code)):
        with open(os.path.join(xnsd.dir, "readme%d.py" % i), "w") as f:
            f.write(code)
    service = start_c_service(procs)
    caller = procs.python(os.path.join(xnsd.dir, "readme0.py"))
    assert caller.wait(RUN_TIMEOUT) == 0, caller.stderr()
    assert caller.lines == ["(42,)", "b'HELLO, XNS'"]
    with xous.connect(api.SERVER_NAME) as conn:
        assert conn.blocking_scalar(api.OP_QUIT, timeout=5) == (1,)
    assert service.wait() == 0
    adder = procs.python(os.path.join(xnsd.dir, "readme1.py"))
    conn = within(START_TIMEOUT, xous.connect_blocking, "demo: adder")
    assert conn.blocking_scalar(0, 2, 3, timeout=5) == (5,)
    conn.disconnect()
    adder.stop()
