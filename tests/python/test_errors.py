"""test_errors: Xous's errors as exceptions, with the Xous name and number,
from the one list the C library uses."""
import builtins

import pytest

import xous
from xous import errors
from xous._codes import ERRORS


def test_every_error_has_the_librarys_text_and_a_class():
    assert len(ERRORS) == 39
    for code, name, text in ERRORS:
        assert xous.strerror(code) == text, name
        cls = errors.BY_CODE[code]
        assert issubclass(cls, xous.XousError)
        e = errors.error(code, "a call")
        assert type(e) is cls
        assert (e.code, e.name, e.text) == (code, name, text)
        assert str(e) == "a call: %s (%s, %d)" % (text, name, code)


def test_class_names_follow_the_xous_names():
    assert xous.ServerNotFoundError.code == 9
    assert xous.ServerExistsError.code == 8
    assert xous.MemoryInUseError.code == 4
    assert xous.InternalError.code == 14
    assert xous.UnavailableError.code == 35
    assert xous.TimeoutError.code == 13
    assert xous.TimeoutError is not builtins.TimeoutError
    assert issubclass(xous.TimeoutError, builtins.TimeoutError)


def test_a_number_outside_the_list_is_a_plain_xous_error():
    e = errors.error(99)
    assert type(e) is xous.XousError
    assert (e.code, e.name) == (99, "ERROR_99")
    assert xous.strerror(99) == "unknown error"


def test_check_raises_only_for_errors():
    errors.check(0, "fine")
    with pytest.raises(xous.SecurityError) as info:
        errors.check(39, "f")
    assert info.value.name == "SECURITY_ERROR"


def test_a_failed_call_raises_its_error_naming_the_call():
    with pytest.raises(xous.ServerNotFoundError) as info:
        xous.connect("pytest: no server has this name")
    assert info.value.code == 9
    assert info.value.name == "SERVER_NOT_FOUND"
    assert "connect('pytest: no server has this name')" in str(info.value)
    assert "SERVER_NOT_FOUND, 9" in str(info.value)


def test_kinds_have_xous_numbers():
    assert [(k.name, int(k)) for k in xous.Kind] == [
        ("MUTABLE_BORROW", 0), ("BORROW", 1), ("MOVE", 2), ("SCALAR", 3), ("BLOCKING_SCALAR", 4)]


def test_timeouts_are_checked():
    conn = xous.Connection(2)
    with pytest.raises(ValueError):
        conn.blocking_scalar(0, timeout=-1)
    with pytest.raises(ValueError):
        conn.send_scalar(1 << 32)
    with pytest.raises(ValueError):
        xous.connect("a\0b")
