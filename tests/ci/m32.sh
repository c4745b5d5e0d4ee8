#!/bin/sh
# m32.sh: word-size interop. libxousclient and the interop programs of
# tests/m32 are built -m32 (Debian's i386 multiarch packages) and run against
# a 64-bit xnsd and the same programs built 64-bit, both ways: a 32-bit client
# of a 64-bit server, and a 64-bit client of a 32-bit server (plus 64/64 as
# the baseline and 32/32). Every message kind crosses in each direction.
# Then the same pairs across hosts: two hosts (a 64-bit xnsd and xnsgw
# each) on a one-node NATS server, the server on one, the client on the other;
# and a third host whose xnsd and xnsgw are 32-bit too, with a 32-bit server
# for a 64-bit host's client and the other way round.
#
#   tests/ci/m32.sh                 (as root, or with sudo for apt-get)
#
# Where the kernel runs no 32-bit programs (a PVM guest's, for one: "Exec
# format error" though CONFIG_IA32_EMULATION is set), the 32-bit programs run
# under qemu-i386, QEMU's user-mode emulation (Debian's qemu-user), installed
# here then: their system calls still reach this kernel, their sockets,
# memfds and shared rings the 64-bit xnsd and programs, as natively.
#
# XNS_BUILD64 (default build-m32host), XNS_BUILD32 (default build-m32: the
# client side) and XNS_BUILD32_HOST (default build-m32-daemons: xnsd, xnsgw)
# are the build directories, set up here when missing; XNS_M32_TIMEOUT bounds
# each program, in seconds (default 60).
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
build64=${XNS_BUILD64:-build-m32host}
build32=${XNS_BUILD32:-build-m32}
build32h=${XNS_BUILD32_HOST:-build-m32-daemons}
limit=${XNS_M32_TIMEOUT:-60}
i386_packages="file gcc-multilib libprotobuf-c-dev:i386 libsystemd-dev:i386 libnats-dev:i386
               libevent-core-2.1-7:i386"
# libevent-dev is not Multi-Arch: same (its event-config.h is the word
# size's own), so its i386 headers and .pc are unpacked here, not installed.
case $build32h in
/*) libevent32=$build32h.libevent ;;
*) libevent32=$src/$build32h.libevent ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

installed() {
        dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The i386 side: gcc -m32 with its libc, and the i386 libraries of
# protobuf-c, libsystemd, libnats and libevent (the amd64 -dev packages of
# the first three are Multi-Arch: same, so both stay installed).
install_i386() {
        missing=""
        for p in $i386_packages; do
                installed "$p" || missing="$missing $p"
        done
        [ -z "$missing" ] && return 0
        dpkg --print-foreign-architectures | grep -qx i386 || $sudo dpkg --add-architecture i386
        echo "m32.sh: installing:$missing"
        # A mirror caught mid-sync fails one index; the install says whether that mattered.
        $sudo apt-get update -qq || echo "m32.sh: apt-get update reported errors, installing anyway" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

# libevent's i386 headers, .pc and link-time library, in $libevent32: those
# of the very version whose runtime library is installed. Put together
# beside it and moved into place last, so a run cut short leaves nothing
# that looks finished.
unpack_libevent32() {
        [ -f "$libevent32/usr/lib/i386-linux-gnu/pkgconfig/libevent_core.pc" ] && return 0
        version=$(dpkg-query -W -f='${Version}' libevent-core-2.1-7:i386)
        rm -rf "$libevent32" "$libevent32.tmp" "$workdir/deb" && mkdir -p "$workdir/deb"
        # With no package lists, or old ones: fetched, and one more try.
        download() { (cd "$workdir/deb" && apt-get download "libevent-dev:i386=$version") >"$workdir/download.log" 2>&1; }
        download || { $sudo apt-get update -qq || echo "m32.sh: apt-get update reported errors" >&2; download; } ||
                { cat "$workdir/download.log"; return 1; }
        dpkg-deb -x "$workdir"/deb/libevent-dev_*_i386.deb "$libevent32.tmp"
        # Its .so points at the runtime library, installed (Multi-Arch: same).
        ln -sf /usr/lib/i386-linux-gnu/libevent_core-2.1.so.7 "$libevent32.tmp/usr/lib/i386-linux-gnu/libevent_core.so"
        sed -i "s|^prefix=/usr\$|prefix=$libevent32/usr|" "$libevent32.tmp/usr/lib/i386-linux-gnu/pkgconfig/libevent_core.pc"
        mv "$libevent32.tmp" "$libevent32"
}

build() {
        echo "m32.sh: building $build64 (64-bit: xnsd, interop programs), $build32 (-m32: libxousclient," \
             "interop programs) and $build32h (-m32: xnsd, xnsgw)"
        [ -f "$build64/build.ninja" ] || meson setup "$build64" -Dexamples=false >"$workdir/setup64.log" 2>&1 ||
                { cat "$workdir/setup64.log"; return 1; }
        meson compile -C "$build64" xnsd xnsctl xnsgw tests/m32/interop-server tests/m32/interop-client \
                >"$workdir/build64.log" 2>&1 ||
                { cat "$workdir/build64.log"; return 1; }
        [ -f "$build32/build.ninja" ] ||
                meson setup "$build32" --cross-file tests/m32/i386.ini -Dclient_only=true -Dexamples=false \
                        >"$workdir/setup32.log" 2>&1 || { cat "$workdir/setup32.log"; return 1; }
        meson compile -C "$build32" >"$workdir/build32.log" 2>&1 || { cat "$workdir/build32.log"; return 1; }
        unpack_libevent32
        [ -f "$build32h/build.ninja" ] ||
                meson setup "$build32h" --cross-file tests/m32/i386.ini -Dhost_only=true \
                        -Dpkg_config_path="$libevent32/usr/lib/i386-linux-gnu/pkgconfig" \
                        >"$workdir/setup32h.log" 2>&1 || { cat "$workdir/setup32h.log"; return 1; }
        meson compile -C "$build32h" >"$workdir/build32h.log" 2>&1 || { cat "$workdir/build32h.log"; return 1; }
}

# Sets exec32 to what runs a 32-bit program here: nothing where the kernel
# does, else qemu-i386 (installed when missing).
choose_exec32() {
        exec32=""
        "$build32h/xnsd/xnsd" --version >/dev/null 2>&1 && return 0
        echo "m32.sh: this kernel ($(uname -r)) runs no 32-bit programs: running them under qemu-i386"
        if ! command -v qemu-i386 >/dev/null 2>&1; then
                $sudo apt-get update -qq || echo "m32.sh: apt-get update reported errors, installing anyway" >&2
                DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-user
        fi
        exec32=qemu-i386
        "$exec32" "$build32h/xnsd/xnsd" --version >/dev/null ||
                { echo "m32.sh: qemu-i386 does not run $build32h/xnsd/xnsd either"; return 1; }
}

# What runs program $1: $exec32 for a 32-bit one, nothing for the others.
runner() {
        case $(file -L "$1") in
        *"ELF 32-bit"*) echo "$exec32" ;;
        esac
}

expect_elf() {
        file -L "$1" | grep -q "ELF $2-bit" || { echo "m32.sh: $1 is not ELF $2-bit: $(file -L "$1")"; return 1; }
}

# Waits up to 10 s for a line matching $2 in file $1, while process $3 lives.
wait_for_line() {
        i=0
        while ! grep -q "$2" "$1" 2>/dev/null; do
                kill -0 "$3" 2>/dev/null || return 1
                i=$((i + 1))
                [ "$i" -le 100 ] || return 1
                sleep 0.1
        done
}

# Waits up to 10 s until xnsd (process $1) answers a request: xnsctl status.
wait_answering() {
        i=0
        until "$build64/xnsctl/xnsctl" status >/dev/null 2>&1; do
                kill -0 "$1" 2>/dev/null || return 1
                i=$((i + 1))
                [ "$i" -le 100 ] || return 1
                sleep 0.1
        done
}

# Waits up to 10 s until the gateway (process $3) of the xnsd on socket $1
# hears every host of $2 ("b c"), as xnsctl status shows.
wait_hosts() {
        i=0
        until XOUS_SOCKET=$1 "$build64/xnsctl/xnsctl" status 2>/dev/null |
                        awk -v want="$2" '/^hosts:/ { n = split(want, w, " "); for (k = 1; k <= n; k++)
                                if (index(" " substr($0, 7) " ", " " w[k] " ") == 0) exit 1; found = 1 }
                                END { exit !found }'; do
                kill -0 "$3" 2>/dev/null || return 1
                i=$((i + 1))
                [ "$i" -le 100 ] || return 1
                sleep 0.1
        done
}

# One server and one client through the daemon; 0 when both pass. With
# $4 and $5, the server's and the client's xnsd sockets (another host each).
run_pair() {
        name=$1 server=$2 client=$3 rc_server=0 rc_client=0
        server_sock=${4:-$XOUS_SOCKET} client_sock=${5:-$XOUS_SOCKET}
        XOUS_SOCKET=$server_sock timeout -k 5 "$limit" $(runner "$server") "$server" \
                >"$workdir/$name.server.log" 2>&1 &
        server_pid=$!
        pids="$pids $server_pid"
        if wait_for_line "$workdir/$name.server.log" "serving" "$server_pid"; then
                XOUS_SOCKET=$client_sock timeout -k 5 "$limit" $(runner "$client") "$client" \
                        >"$workdir/$name.client.log" 2>&1 ||
                        rc_client=$?
        else
                echo "interop-server did not come up" >"$workdir/$name.client.log"
                rc_client=1
                kill "$server_pid" 2>/dev/null || true
        fi
        wait "$server_pid" || rc_server=$?
        if [ "$rc_client" -eq 0 ] && [ "$rc_server" -eq 0 ]; then
                echo "PASS $name: $(grep '^1\.\.' "$workdir/$name.client.log" | cut -c4-) checks"
                return 0
        fi
        echo "FAIL $name: client exit $rc_client, server exit $rc_server"
        sed 's/^/  client: /' "$workdir/$name.client.log"
        sed 's/^/  server: /' "$workdir/$name.server.log"
        return 1
}

workdir=$(mktemp -d "${TMPDIR:-/tmp}/xns-m32.XXXXXX")
pids=""
cleanup() {
        for pid in $pids; do
                kill "$pid" 2>/dev/null || true
        done
        for pid in $pids; do
                wait "$pid" 2>/dev/null || true
        done
        rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start=$(date +%s)
contrib/deps.sh
install_i386
build

for f in "$build32/libxousclient/libxousclient.so.0" "$build32/tests/m32/interop-client" \
         "$build32/tests/m32/interop-server" "$build32h/xnsd/xnsd" "$build32h/xnsgw/xnsgw"; do
        expect_elf "$f" 32
done
for f in "$build64/xnsd/xnsd" "$build64/tests/m32/interop-client" "$build64/tests/m32/interop-server"; do
        expect_elf "$f" 64
done
choose_exec32

XOUS_SOCKET=$workdir/xns.sock
export XOUS_SOCKET
"$build64/xnsd/xnsd" --socket "$XOUS_SOCKET" 2>"$workdir/xnsd.log" &
xnsd_pid=$!
pids="$pids $xnsd_pid"
wait_answering "$xnsd_pid" || { cat "$workdir/xnsd.log"; exit 1; }

failed=0
run_pair "server64-client64" "$build64/tests/m32/interop-server" "$build64/tests/m32/interop-client" || failed=1
run_pair "server64-client32" "$build64/tests/m32/interop-server" "$build32/tests/m32/interop-client" || failed=1
run_pair "server32-client64" "$build32/tests/m32/interop-server" "$build64/tests/m32/interop-client" || failed=1
run_pair "server32-client32" "$build32/tests/m32/interop-server" "$build32/tests/m32/interop-client" || failed=1

# Across hosts: a NATS server (JetStream, a random port it writes down),
# hosts a and b, the interop name exported.
nats-server -js -a 127.0.0.1 -p -1 --ports_file_dir "$workdir" -sd "$workdir/js" >"$workdir/nats.log" 2>&1 &
nats_pid=$!
pids="$pids $nats_pid"
wait_for_line "$workdir/nats-server_$nats_pid.ports" "nats://" "$nats_pid" ||
        { echo "FAIL: nats-server did not start"; cat "$workdir/nats.log"; exit 1; }
nats_url=$(sed -n 's|.*"\(nats://[^"]*\)".*|\1|p' "$workdir/nats-server_$nats_pid.ports" | head -n 1)
# a and b: 64-bit hosts; c: a 32-bit one.
for h in a b c; do
        daemons=$build64
        [ "$h" = c ] && daemons=$build32h
        $(runner "$daemons/xnsd/xnsd") "$daemons/xnsd/xnsd" --socket "$workdir/$h.sock" 2>"$workdir/xnsd-$h.log" &
        pids="$pids $!"
        XOUS_SOCKET=$workdir/$h.sock
        wait_answering "$!" || { cat "$workdir/xnsd-$h.log"; exit 1; }
        $(runner "$daemons/xnsgw/xnsgw") "$daemons/xnsgw/xnsgw" --socket "$workdir/$h.sock" --nats "$nats_url" \
                --host "$h" --export xns.interop 2>"$workdir/xnsgw-$h.log" &
        pids="$pids $!"
        eval "gw_$h=\$!"
done
XOUS_SOCKET=$workdir/xns.sock
if ! wait_hosts "$workdir/a.sock" "b c" "$gw_a" || ! wait_hosts "$workdir/b.sock" "a c" "$gw_b" ||
   ! wait_hosts "$workdir/c.sock" "a b" "$gw_c"; then
        echo "FAIL: the gateways do not hear each other"
        sed 's/^/  /' "$workdir/xnsgw-a.log" "$workdir/xnsgw-b.log" "$workdir/xnsgw-c.log"
        exit 1
fi
for s in 64 32; do
        for c in 64 32; do
                eval "sb=\$build$s cb=\$build$c"
                run_pair "across-server$s-client$c" "$sb/tests/m32/interop-server" "$cb/tests/m32/interop-client" \
                        "$workdir/a.sock" "$workdir/b.sock" || failed=1
        done
done
# The 32-bit host c, its programs 32-bit too, with the 64-bit host a.
run_pair "host32-server32-host64-client64" "$build32/tests/m32/interop-server" \
        "$build64/tests/m32/interop-client" "$workdir/c.sock" "$workdir/a.sock" || failed=1
run_pair "host64-server64-host32-client32" "$build64/tests/m32/interop-server" \
        "$build32/tests/m32/interop-client" "$workdir/a.sock" "$workdir/c.sock" || failed=1
for h in a b c; do
        eval "gw=\$gw_$h"
        if ! kill -0 "$gw" 2>/dev/null; then
                echo "FAIL: the gateway of host $h died"
                sed 's/^/  /' "$workdir/xnsgw-$h.log"
                failed=1
        fi
done

if ! kill -0 "$xnsd_pid" 2>/dev/null; then
        echo "FAIL: xnsd died"
        failed=1
fi
if grep -v ': info: ' "$workdir/xnsd.log" | grep -q .; then
        echo "FAIL: xnsd complained:"
        sed 's/^/  xnsd: /' "$workdir/xnsd.log"
        failed=1
fi
echo "m32.sh: $([ "$failed" -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - start)) s${exec32:+ (32-bit programs under $exec32)}"
exit "$failed"
