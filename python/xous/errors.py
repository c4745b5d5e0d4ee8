"""errors: Xous's errors as Python exceptions, one class per Xous error.

Every failure of a Xous call raises a subclass of XousError, which carries
the Xous number (.code), its name (.name, as in XOUS_ERR_<name>) and what it
means (.text). The classes are made from the same list the C library uses
(xous-codes.h), named after the error: SERVER_NOT_FOUND is
ServerNotFoundError, INTERNAL_ERROR is InternalError, TIMEOUT is
xous.TimeoutError, which is also the built-in TimeoutError:

    try:
        conn = xous.connect("no such name")
    except xous.ServerNotFoundError as e:
        print(e.code, e.name)                   # 9 SERVER_NOT_FOUND

    except builtins.TimeoutError catches a Xous TIMEOUT too.
"""
import builtins

from ._codes import ERRORS
from ._lib import lib

NAME_OF = {code: name for code, name, _ in ERRORS}
TEXT_OF = {code: text for code, _, text in ERRORS}


class XousError(Exception):
    """A Xous call failed. .code is Xous's error number, .name its name
    ('SERVER_NOT_FOUND'), .text what it means, .what the call that failed
    (or None). Each error has its subclass (ServerNotFoundError, ...):
    catch those, or this for any."""

    code = None

    def __init__(self, code=None, what=None):
        if code is None:
            code = type(self).code
        self.code = code
        self.name = NAME_OF.get(code, "ERROR_%s" % code)
        self.text = TEXT_OF.get(code, "unknown error")
        self.what = what
        message = "%s (%s, %s)" % (self.text, self.name, code)
        super().__init__("%s: %s" % (what, message) if what else message)


def _class_name(name):
    """SERVER_NOT_FOUND -> ServerNotFoundError; INTERNAL_ERROR -> InternalError."""
    camel = "".join(word.capitalize() for word in name.split("_"))
    return camel if camel.endswith("Error") else camel + "Error"


def _make_class(code, name, text):
    bases = (XousError, builtins.TimeoutError) if name == "TIMEOUT" else (XousError,)
    doc = "Xous error %d, %s: %s." % (code, name, text)
    return type(_class_name(name), bases, {"code": code, "__doc__": doc, "__module__": __name__})


BY_CODE = {code: _make_class(code, name, text) for code, name, text in ERRORS}
globals().update({cls.__name__: cls for cls in BY_CODE.values()})

__all__ = ["XousError", "error", "check", "strerror"] + [cls.__name__ for cls in BY_CODE.values()]


def error(code, what=None):
    """The exception for Xous error number code: an instance of its subclass,
    or of XousError itself for a number outside Xous's list."""
    return BY_CODE.get(code, XousError)(code, what)


def check(code, what):
    """Raises the exception for code unless it is 0 (XOUS_OK)."""
    if code != 0:
        raise error(code, what)


def strerror(code):
    """libxousclient's text for error number code (xous_strerror)."""
    return lib.xous_strerror(code).decode("utf-8")
