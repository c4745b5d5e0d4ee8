"""test_names: registering names, connecting by name and by SID, and their errors."""
import json
import os
import subprocess

import pytest

import xous
from conftest import START_TIMEOUT, within
from helper_api import Op


def test_register_connect_unregister(name):
    with xous.register_name(name) as server:
        assert server.name == name
        conn = xous.connect(name)
        assert conn.cid == xous.connect(name).cid      # the same server: the same CID
        conn.disconnect()
    assert server.destroyed
    with pytest.raises(xous.ServerNotFoundError):
        xous.connect(name)


def test_duplicate_name_is_server_exists(name):
    with xous.register_name(name):
        with pytest.raises(xous.ServerExistsError) as info:
            xous.register_name(name)
    assert (info.value.code, info.value.name) == (8, "SERVER_EXISTS")
    assert "SERVER_EXISTS, 8" in str(info.value)


def test_missing_name_is_server_not_found():
    with pytest.raises(xous.ServerNotFoundError) as info:
        xous.connect("pytest: nobody registered this")
    assert (info.value.code, info.value.name) == (9, "SERVER_NOT_FOUND")


@pytest.mark.parametrize("bad", ["", "x" * 64])
def test_bad_name_is_invalid_string(bad):
    with pytest.raises(xous.InvalidStringError) as info:
        xous.register_name(bad)
    assert (info.value.code, info.value.name) == (7, "INVALID_STRING")


def test_a_name_of_63_bytes_is_fine():
    name = "p" * xous.NAME_MAX
    with xous.register_name(name):
        xous.connect(name).disconnect()


def test_connection_limit_is_access_denied(name):
    with xous.register_name(name, max_conns=1):
        xous.connect(name)
        with pytest.raises(xous.AccessDeniedError) as info:
            xous.connect(name)
        assert info.value.code == 23
        assert xous.trusted_init_done()


def test_anonymous_server_by_sid():
    with xous.create_server() as server:
        assert server.name is None
        conn = xous.try_connect_sid(server.sid)
        assert conn.cid == xous.connect_sid(tuple(server.sid)).cid
        conn.send_scalar(7, 1, 2, 3, 4)
        with server.receive(timeout=5) as env:
            assert (env.kind, env.id, env.args) == (xous.Kind.SCALAR, 7, (1, 2, 3, 4))
        conn.disconnect()
    with pytest.raises(xous.ServerNotFoundError):
        xous.try_connect_sid(server.sid)


def test_sid_prints_as_xnsctl_shows_it(helper, xnsd):
    """The SID another process registered, as it printed it and as xnsd lists it."""
    out = subprocess.run([os.environ["XNSCTL"], "--socket", xnsd.sock, "--json", "list"], capture_output=True,
                         timeout=10, check=True).stdout
    sids = {entry["name"]: entry["sid"] for entry in json.loads(out)["names"]}
    assert sids[helper.name] == str(helper.sid)
    assert xous.Sid.from_hex(str(helper.sid)) == helper.sid


def test_connect_blocking_finds_a_name_registered_in_another_process(helper):
    conn = within(START_TIMEOUT, xous.connect_blocking, helper.name)
    assert conn.cid == helper.conn.cid
    assert conn.blocking_scalar(Op.REPLY1, 20, 22, timeout=5) == (42,)
