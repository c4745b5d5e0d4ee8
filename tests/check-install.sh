#!/bin/sh
# check-install.sh: installs the build into a private DESTDIR and checks what a
# user gets: the programs, the library (soname, only xous_* exported, every
# function of the header), the header, the .pc file, the systemd units, the
# manual pages, the Python package (imported and called). Then builds the
# example service (its three servers) and caller OUT OF TREE, from a copy of
# their sources, with nothing but what pkg-config says about the installed
# libxousclient (and, for the event-loop servers, the system's libevent_core
# and libsystemd), and runs them (examples/run-demo.sh, once per server)
# against the installed xnsd with the installed library.
#
# Usage: tests/check-install.sh BUILDDIR SOURCEDIR
# Environment (tests/meson.build sets it): the install paths as meson has
# them, absolute: XNS_PREFIX XNS_BINDIR XNS_SBINDIR XNS_LIBDIR XNS_INCLUDEDIR
# XNS_MANDIR XNS_UNITDIR XNS_SYSUSERSDIR; XNS_PYTHONDIR, where the xous package
# goes, and XNS_PYTHON, the python3 it is for; XNS_HAVE_XNSCTL=1 when xnsctl is built;
# XNS_SANITIZE: meson's b_sanitize.
# Exit 77 (skipped) when a tool it needs is missing.
set -u

[ $# -eq 2 ] || { echo "usage: $0 BUILDDIR SOURCEDIR" >&2; exit 2; }
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)

for tool in meson cc pkg-config readelf nm timeout; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "check-install: $tool is not installed; skipping"
                exit 77
        fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xns-check-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM          # so that the EXIT trap runs
root=$tmp/root

failed=0
fail() {
        echo "check-install: $*" >&2
        failed=1
}

# --- install -----------------------------------------------------------------
if ! timeout 120 meson install -C "$build" --no-rebuild --quiet --destdir "$root" >"$tmp/install.log" 2>&1; then
        echo "check-install: meson install failed:" >&2
        cat "$tmp/install.log" >&2
        exit 1
fi

expect_file() {
        [ -f "$root$1" ] || fail "not installed: $1"
}

expect_executable() {
        [ -f "$root$1" ] && [ -x "$root$1" ] || fail "not installed as a program: $1"
}

# --- programs ----------------------------------------------------------------
expect_executable "$XNS_SBINDIR/xnsd"
expect_executable "$XNS_BINDIR/xnsgw"
if [ "${XNS_HAVE_XNSCTL:-0}" = 1 ]; then
        expect_executable "$XNS_BINDIR/xnsctl"
else
        echo "check-install: xnsctl is not built; not checking it"
fi

# --- the library -------------------------------------------------------------
lib=$root$XNS_LIBDIR/libxousclient.so.0
if [ ! -e "$lib" ]; then
        fail "not installed: $XNS_LIBDIR/libxousclient.so.0"
else
        soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
        [ "$soname" = libxousclient.so.0 ] || fail "libxousclient.so.0 has soname '$soname'"
        readelf -d "$lib" | grep -Eq '\((RPATH|RUNPATH)\)' && fail "the installed library keeps an RPATH/RUNPATH"
        [ -e "$root$XNS_LIBDIR/libxousclient.so" ] || fail "no libxousclient.so for linking with -lxousclient"

        # Exported: functions only, all xous_*; the version node (type A) aside.
        nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort >"$tmp/exported"
        grep -v '^xous_' "$tmp/exported" >"$tmp/foreign"
        if [ -s "$tmp/foreign" ]; then
                fail "libxousclient exports symbols that are not xous_*: $(tr '\n' ' ' <"$tmp/foreign")"
        fi
        # And every function the header declares.
        sed -n 's/^[a-z].*[ *]\(xous_[a-z0-9_]*\)(.*/\1/p' "$root$XNS_INCLUDEDIR/xous/xous.h" 2>/dev/null |
                sort -u >"$tmp/declared"
        [ -s "$tmp/declared" ] || fail "found no functions in the installed header"
        comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/unexported"
        [ -s "$tmp/unexported" ] && fail "declared in xous.h but not exported: $(tr '\n' ' ' <"$tmp/unexported")"
fi

# --- header and pkg-config -----------------------------------------------------
header=$root$XNS_INCLUDEDIR/xous/xous.h
expect_file "$XNS_INCLUDEDIR/xous/xous.h"
if [ -f "$header" ]; then
        # It includes only the C library's headers and its own installed
        # ones, and compiles on its own as C99.
        expect_file "$XNS_INCLUDEDIR/xous/xous-codes.h"
        grep '^#include' "$header" | grep -v '<std[a-z]*\.h>' | while read -r _ inc; do
                inc=${inc#<}; inc=${inc%>}
                [ -f "$root$XNS_INCLUDEDIR/$inc" ] || echo "$inc"
        done >"$tmp/includes"
        [ -s "$tmp/includes" ] &&
                fail "xous.h includes headers that are not installed: $(tr '\n' ' ' <"$tmp/includes")"
        printf '#include <xous/xous.h>\nint main(void) { return xous_strerror(XOUS_OK) == 0; }\n' >"$tmp/h.c"
        cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$root$XNS_INCLUDEDIR" "$tmp/h.c" \
                >"$tmp/h.log" 2>&1 || { fail "xous.h does not compile alone as C99:"; cat "$tmp/h.log" >&2; }
fi
pcdir=$root$XNS_LIBDIR/pkgconfig
expect_file "$XNS_LIBDIR/pkgconfig/libxousclient.pc"

# --- systemd units, sysusers, manual pages -----------------------------------------
expect_file "$XNS_UNITDIR/xnsd.socket"
expect_file "$XNS_UNITDIR/xnsd.service"
if [ -f "$root$XNS_UNITDIR/xnsd.service" ]; then
        grep -qx "ExecStart=$XNS_SBINDIR/xnsd" "$root$XNS_UNITDIR/xnsd.service" ||
                fail "xnsd.service does not start $XNS_SBINDIR/xnsd"
fi
expect_file "$XNS_SYSUSERSDIR/xns.conf"
expect_file "$XNS_MANDIR/man8/xnsd.8"
expect_file "$XNS_MANDIR/man8/xnsgw.8"
expect_file "$XNS_UNITDIR/xnsgw.service"
if [ -f "$root$XNS_UNITDIR/xnsgw.service" ]; then
        grep -qx "ExecStart=$XNS_BINDIR/xnsgw \$XNSGW_ARGS" "$root$XNS_UNITDIR/xnsgw.service" ||
                fail "xnsgw.service does not start $XNS_BINDIR/xnsgw"
fi
expect_file "$XNS_MANDIR/man1/xnsctl.1"
expect_file "$XNS_MANDIR/man3/libxousclient.3"

# --- the Python package, imported from where it is installed -----------------------
if [ -n "${XNS_PYTHONDIR:-}" ] && [ -n "${XNS_PYTHON:-}" ]; then
        for f in __init__.py _codes.py _lib.py _memory.py buffer.py connection.py envelope.py errors.py server.py; do
                expect_file "$XNS_PYTHONDIR/xous/$f"
        done
        # Under /usr and /usr/local, for the system's python3, it goes where
        # that python3 looks by itself: `import xous` after `meson install`,
        # no PYTHONPATH. (Another python3, from pyenv or a venv, may search
        # no directory under those prefixes at all.)
        case "$XNS_PREFIX:$XNS_PYTHON" in
        /usr:/usr/bin/* | /usr/local:/usr/bin/*)
                "$XNS_PYTHON" -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$XNS_PYTHONDIR" ||
                        fail "$XNS_PYTHONDIR (the Python package) is not on $XNS_PYTHON's sys.path"
                ;;
        esac
        # A library built with ASan needs its runtime first, which python3
        # is not linked with: preloaded (and no leak check of the interpreter).
        preload=""
        case "${XNS_SANITIZE:-none}" in
        *address*) preload=$(cc -print-file-name=libasan.so) ;;
        esac
        # With the installed library, against a socket where no xnsd is:
        # every call reaches libxousclient, which answers UNAVAILABLE.
        if ! env PYTHONPATH="$root$XNS_PYTHONDIR" XOUS_LIBRARY="$root$XNS_LIBDIR/libxousclient.so.0" \
                XOUS_SOCKET="$tmp/no-xnsd.sock" PYTHONDONTWRITEBYTECODE=1 ${preload:+LD_PRELOAD="$preload"} \
                ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" timeout 30 "$XNS_PYTHON" -c '
import sys, xous
assert xous.__file__.startswith(sys.argv[1]), xous.__file__
assert xous.strerror(9) == "server not found" and xous.ServerNotFoundError.code == 9
try:
    xous.connect("anything")
except xous.UnavailableError:
    pass
else:
    raise SystemExit("connect without xnsd did not raise UnavailableError")
' "$root" >"$tmp/python.log" 2>&1; then
                fail "the installed Python package does not work with the installed library:"
                cat "$tmp/python.log" >&2
        fi
fi

# --- the examples, out of tree, against the installed library only -------------
mkdir -p "$tmp/examples/src" "$tmp/demo/sbin" "$tmp/demo/bin" "$tmp/demo/examples"
cp "$src/examples/caller.c" "$src/examples/myservice/"*.[ch] "$tmp/examples/src/"
# A sanitized build (-Db_sanitize) installs a library that needs the
# sanitizer runtime loaded first: its users are built the same way.
sanitize=""
case "${XNS_SANITIZE:-none}" in
none | "") ;;
*) sanitize="-fsanitize=$XNS_SANITIZE" ;;
esac
pc() {
        PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} PKG_CONFIG_SYSROOT_DIR=$root \
                pkg-config "$@" libxousclient
}
if ! flags=$(pc --cflags --libs 2>"$tmp/pc.log"); then
        fail "pkg-config cannot use the installed libxousclient.pc:"
        cat "$tmp/pc.log" >&2
elif [ "$(pc --variable=pcfiledir)" != "$pcdir" ]; then
        fail "pkg-config found a libxousclient.pc other than the installed one: $(pc --variable=pcfiledir)"
else
        case " $flags " in
        *"$src"* | *"$build"*) fail "pkg-config flags point into the source or build tree: $flags" ;;
        esac
        # shellcheck disable=SC2046,SC2086 # the flags are words
        (
                cd "$tmp/examples/src" &&
                cc -Wall -Wextra -o ../myservice-server main.c serve.c ticker.c $flags $sanitize -pthread &&
                cc -Wall -Wextra -o ../myservice-caller caller.c myservice.c $flags $sanitize -pthread &&
                cc -Wall -Wextra -o ../myservice-server-libevent main-libevent.c serve.c ticker.c $flags \
                        $(pkg-config --cflags --libs libevent_core) $sanitize -pthread &&
                cc -Wall -Wextra -o ../myservice-server-sd-event main-sd-event.c serve.c ticker.c $flags \
                        $(pkg-config --cflags --libs libsystemd) $sanitize -pthread
        ) >"$tmp/cc.log" 2>&1
        if [ $? -ne 0 ]; then
                fail "the examples do not build against the installed library (flags: $flags):"
                cat "$tmp/cc.log" >&2
        elif [ -s "$tmp/cc.log" ]; then
                echo "check-install: compiler warnings building the examples:"
                cat "$tmp/cc.log"
        fi
fi

# run-demo.sh takes the programs from XNSD/../examples and xnsctl (with which it
# waits for xnsd) from XNSD/../bin: lay them out so.
if [ -x "$tmp/examples/myservice-caller" ] && [ -x "$root$XNS_SBINDIR/xnsd" ] && [ -x "$root$XNS_BINDIR/xnsctl" ]; then
        cp "$root$XNS_SBINDIR/xnsd" "$tmp/demo/sbin/xnsd"
        cp "$root$XNS_BINDIR/xnsctl" "$tmp/demo/bin/xnsctl"
        cp "$tmp/examples/"myservice-* "$tmp/demo/examples/"
        export LD_LIBRARY_PATH=$root$XNS_LIBDIR
        used=$(ldd "$tmp/demo/examples/myservice-caller" | sed -n 's/.*libxousclient[^ ]* => \([^ ]*\).*/\1/p')
        case "$used" in
        "$root"/*) ;;
        *) fail "the examples would use '$used', not the installed libxousclient" ;;
        esac
        for loop in "" libevent sd-event; do
                if ! TMPDIR=$tmp timeout 90 "$src/examples/run-demo.sh" ${loop:+--loop "$loop"} "$tmp/demo/sbin/xnsd" \
                        >"$tmp/demo.log" 2>&1; then
                        fail "the examples built out of tree fail against the installed xnsd and library${loop:+ (--loop $loop)}:"
                        cat "$tmp/demo.log" >&2
                elif ! grep -q '^== demo passed' "$tmp/demo.log"; then
                        fail "run-demo.sh${loop:+ --loop $loop} exited 0 but did not say '== demo passed'"
                fi
        done
fi

[ "$failed" -eq 0 ] && echo "check-install: the installed tree is complete, and the examples build and run from it"
exit "$failed"
