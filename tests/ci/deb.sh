#!/bin/sh
# deb.sh: the Debian packages, built, checked and installed into this system.
# Builds them from a copy of the tree with dpkg-buildpackage (nocheck: .ci/run
# has run the suite already), after installing the build dependencies that
# debian/control declares (apt-get build-dep); fails on any lintian error or
# warning; installs them (apt-get install ./*.deb) and checks what the
# install did: the xns user and group, xnsd.socket enabled, xnsgw.service
# not, systemd-analyze verify of the installed units, the installed xnsd
# serving a socket made as xnsd.socket makes it, reached by xnsctl and by a
# program built with libxousclient-dev and pkg-config and by a Python client
# with python3-xous as a member of group xns, and refused to anyone else.
# Then removes them (programs and units
# gone, /etc/default/xnsgw kept) and purges them (conffile and enable state
# gone).
#
#   tests/ci/deb.sh                 (as root, or with sudo)
#
# Without systemd as PID 1 (CI's containers) the maintainer scripts skip
# starting and stopping units: what systemd itself would do (socket
# activation with SocketMode/SocketGroup, the sandbox of xnsd.service,
# stopping the units on removal) is not tested here; deb-systemd-helper's
# enable state and symlinks are.
#
# Purging xnsd deletes the xns user and group (debian/xnsd.postrm: purging
# removes what the package created); this script creates them again at the
# end if they existed before it ran, to leave the machine as it found it. It
# also purges the runtime libraries the install pulled in. The
# build tools (debhelper, lintian, the build dependencies) stay installed, as
# contrib/deps.sh's do. It refuses to run if any xns package is installed.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
packages="xnsd xnsctl xnsgw libxousclient0 libxousclient-dev python3-xous"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq"

installed() {
        dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q "install ok installed"
}

# Any trace of a package: installed, or removed with its conffiles left.
present() {
        dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qv "not-installed"
}

for p in $packages; do
        if present "$p"; then
                echo "deb.sh: $p is already on this system; purge it first (apt-get purge $packages)" >&2
                exit 1
        fi
done

workdir=$(mktemp -d "${TMPDIR:-/tmp}/xns-deb.XXXXXX")
chmod 0755 "$workdir"
had_user=0
getent passwd xns >/dev/null && had_user=1
had_group=0
getent group xns >/dev/null && had_group=1
pids=""
pulled=""
cleanup() {
        for pid in $pids; do
                kill "$pid" 2>/dev/null || true
        done
        for pid in $pids; do
                wait "$pid" 2>/dev/null || true
        done
        left=""
        for p in $packages $pulled; do
                if present "$p"; then left="$left $p"; fi
        done
        [ -z "$left" ] || $apt purge $left >/dev/null || true
        [ "$had_user" -eq 1 ] || ! getent passwd xns >/dev/null || $sudo userdel xns || true
        [ "$had_group" -eq 1 ] || ! getent group xns >/dev/null || $sudo groupdel xns || true
        # the purge took them: as they were before this script
        [ "$had_group" -eq 0 ] || getent group xns >/dev/null || $sudo groupadd --system xns || true
        [ "$had_user" -eq 0 ] || getent passwd xns >/dev/null ||
                $sudo useradd --system --gid xns --home-dir / --shell /usr/sbin/nologin xns || true
        rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

failed=0
fail() {
        echo "FAIL: $*"
        failed=1
}
pass() {
        echo "ok: $*"
}

start=$(date +%s)

# --- build dependencies, and a copy of the tree to build in ------------------
# dpkg-buildpackage writes its results to the parent of the tree: the copy is
# $workdir/xns, so they land in $workdir. The copy holds the files git knows
# (committed or not, less ignored ones), not the checkout's build directories.
echo "deb.sh: installing the build tools and build dependencies"
$sudo apt-get update -qq || echo "deb.sh: apt-get update reported errors, installing anyway" >&2
$apt install --no-install-recommends dpkg-dev lintian >/dev/null
mkdir "$workdir/xns"
git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        (cd "$src" && xargs -0 cp --parents -t "$workdir/xns")
(cd "$workdir/xns" && $apt -P nocheck build-dep ./ >/dev/null)

echo "deb.sh: dpkg-buildpackage -us -uc -b (nocheck)"
build_start=$(date +%s)
if ! (cd "$workdir/xns" && DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck \
        dpkg-buildpackage -us -uc -b) >"$workdir/build.log" 2>&1; then
        tail -50 "$workdir/build.log"
        echo "deb.sh: dpkg-buildpackage failed"
        exit 1
fi
echo "deb.sh: built in $(($(date +%s) - build_start)) s:"
(cd "$workdir" && ls -1 ./*.deb)
changes=$(ls "$workdir"/xns_*.changes)

# --- lintian: no errors, no warnings ------------------------------------------
echo "deb.sh: lintian $(basename "$changes")"
lintian --fail-on error,warning "$changes" 2>&1 | grep -v 'running with root privileges' | tee "$workdir/lintian.log"
if grep -q '^[EW]: ' "$workdir/lintian.log"; then
        fail "lintian reports errors or warnings"
else
        pass "lintian: no errors, no warnings"
fi

# --- install -------------------------------------------------------------------
dpkg-query -W -f='${Package}\n' | sort >"$workdir/before"
debs=""
for p in $packages; do
        debs="$debs $workdir/$(cd "$workdir" && ls "${p}"_*.deb)"
done
echo "deb.sh: apt-get install$(for d in $debs; do printf ' ./%s' "$(basename "$d")"; done)"
$apt install --no-install-recommends $debs >"$workdir/install.log" 2>&1 ||
        { cat "$workdir/install.log"; echo "deb.sh: install failed"; exit 1; }
dpkg-query -W -f='${Package}\n' | sort >"$workdir/after"
pulled=$(comm -13 "$workdir/before" "$workdir/after" | grep -vxF "$(echo "$packages" | tr ' ' '\n')" | tr '\n' ' ' || true)
[ -z "$pulled" ] || echo "deb.sh: the install pulled in: $pulled"

for p in $packages; do
        installed "$p" || fail "$p is not installed"
done
getent group xns >/dev/null && pass "group xns exists" || fail "no group xns"
getent passwd xns >/dev/null && pass "user xns exists: $(getent passwd xns)" || fail "no user xns"
[ "$(id -gn xns 2>/dev/null)" = xns ] || fail "user xns's group is not xns"

# What systemctl enable would have made, and deb-systemd-helper's record of it.
wants=/etc/systemd/system/sockets.target.wants/xnsd.socket
state=/var/lib/systemd/deb-systemd-helper-enabled/xnsd.socket.dsh-also
if [ -L "$wants" ] && [ "$(readlink -f "$wants")" = "$(readlink -f /lib/systemd/system/xnsd.socket)" ] &&
        grep -qx "$wants" "$state" 2>/dev/null; then
        pass "xnsd.socket enabled ($wants)"
else
        fail "xnsd.socket is not enabled"
fi
if ls /etc/systemd/system/*.wants/xnsgw.service >/dev/null 2>&1 ||
        ls /etc/systemd/system/*.wants/xnsd.service >/dev/null 2>&1; then
        fail "xnsgw.service or xnsd.service is enabled by the install"
else
        pass "xnsd.service and xnsgw.service not enabled (the socket starts xnsd; xnsgw needs /etc/default/xnsgw)"
fi
dpkg-query -W -f='${Conffiles}\n' xnsgw | grep -q ' /etc/default/xnsgw ' &&
        pass "/etc/default/xnsgw is a conffile of xnsgw" || fail "/etc/default/xnsgw is not a conffile of xnsgw"

units="/lib/systemd/system/xnsd.socket /lib/systemd/system/xnsd.service /lib/systemd/system/xnsgw.service"
if systemd-analyze verify $units >"$workdir/verify.log" 2>&1 && ! grep -q . "$workdir/verify.log"; then
        pass "systemd-analyze verify: the installed units, without a message"
else
        sed 's/^/  /' "$workdir/verify.log"
        fail "systemd-analyze verify of the installed units"
fi

[ "$(pkg-config --modversion libxousclient)" = 0.1.0 ] && pass "pkg-config libxousclient: 0.1.0" ||
        fail "pkg-config does not find libxousclient 0.1.0"
ldconfig -p | grep -q 'libxousclient\.so\.0 ' && pass "libxousclient.so.0 in the linker cache" ||
        fail "libxousclient.so.0 not in the linker cache"

# --- the installed xnsd, as xnsd.socket and xnsd.service run it ----------------
# systemd-socket-activate listens as systemd would and passes the socket
# (LISTEN_FDS) to xnsd run as user xns; the socket then gets xnsd.socket's
# SocketMode=0660 and SocketGroup=xns.
cat >"$workdir/client.c" <<'EOF'
/* client.c: registers a name with xnsd and connects to it. */
#include <stdio.h>
#include <xous/xous.h>

int main(void)
{
        xous_sid_t sid;
        xous_cid_t cid;
        xous_error_t r;

        r = xous_register_name("xns deb.sh client", 0, &sid);
        if (r != XOUS_OK) {
                fprintf(stderr, "xous_register_name: %d\n", (int)r);
                return 1;
        }
        r = xous_request_connection("xns deb.sh client", &cid);
        if (r != XOUS_OK) {
                fprintf(stderr, "xous_request_connection: %d\n", (int)r);
                return 1;
        }
        printf("connected\n");
        return 0;
}
EOF
# shellcheck disable=SC2046
if cc -o "$workdir/client" "$workdir/client.c" $(pkg-config --cflags --libs libxousclient) 2>"$workdir/cc.log"; then
        pass "a client builds with pkg-config --cflags --libs libxousclient"
else
        cat "$workdir/cc.log"
        fail "a client does not build against libxousclient-dev"
fi
chmod 0755 "$workdir/client"

sock=$workdir/run/xns.sock
mkdir "$workdir/run"
chmod 0755 "$workdir/run"
systemd-socket-activate --seqpacket -l "$sock" \
        setpriv --reuid=xns --regid=xns --init-groups /usr/sbin/xnsd 2>"$workdir/xnsd.log" &
pids="$pids $!"
i=0
until [ -S "$sock" ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || break
        sleep 0.1
done
chgrp xns "$sock" && chmod 0660 "$sock"

xns_gid=$(getent group xns | cut -d: -f3)
member="setpriv --reuid=nobody --regid=nogroup --groups=$xns_gid"
stranger="setpriv --reuid=nobody --regid=nogroup --clear-groups"
if $member xnsctl --socket "$sock" status >"$workdir/status.log" 2>&1; then
        pass "xnsctl status as a member of group xns: $(grep '^version' "$workdir/status.log")"
else
        cat "$workdir/status.log" "$workdir/xnsd.log"
        fail "xnsctl status as a member of group xns"
fi
if $member env XOUS_SOCKET="$sock" "$workdir/client" >"$workdir/client.log" 2>&1; then
        pass "the client as a member of group xns: $(cat "$workdir/client.log")"
else
        cat "$workdir/client.log"
        fail "the client as a member of group xns"
fi
cat >"$workdir/client.py" <<'EOF'
"""client.py: registers a name with xnsd, connects to it and calls it, with python3-xous."""
import threading

import xous

with xous.register_name("xns deb.sh python client") as server:
    def serve():
        with server.receive(timeout=10) as env:
            env.return_scalar(env.args[0] + env.args[1])

    thread = threading.Thread(target=serve)
    thread.start()
    with xous.connect("xns deb.sh python client") as conn:
        (total,) = conn.blocking_scalar(1, 2, 3, timeout=10)
        print("connected, 2+3=%d" % total)
    thread.join()
EOF
if $member env XOUS_SOCKET="$sock" timeout 30 /usr/bin/python3 "$workdir/client.py" >"$workdir/client-py.log" 2>&1; then
        pass "a Python client with python3-xous as a member of group xns: $(cat "$workdir/client-py.log")"
else
        cat "$workdir/client-py.log"
        fail "a Python client with python3-xous as a member of group xns"
fi
rc=0
$stranger xnsctl --socket "$sock" status >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] && pass "xnsctl status refused to a user not in group xns (exit 3)" ||
        fail "xnsctl status as a user not in group xns: exit $rc, expected 3"
if ps -o user= -C xnsd | grep -qx xns; then
        pass "xnsd runs as user xns"
else
        fail "xnsd does not run as user xns"
fi
for pid in $pids; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
done
pids=""

# --- remove, then purge --------------------------------------------------------
echo "deb.sh: apt-get remove $packages"
$apt remove $packages >/dev/null
for f in /usr/sbin/xnsd /usr/bin/xnsctl /usr/bin/xnsgw $units /usr/lib/sysusers.d/xns.conf \
         /usr/include/xous/xous.h /usr/lib/python3/dist-packages/xous; do
        [ ! -e "$f" ] || fail "$f is left after remove"
done
ls /usr/lib/*/libxousclient.so* >/dev/null 2>&1 && fail "libxousclient is left after remove"
[ -e /etc/default/xnsgw ] && pass "remove: programs, library and units gone; /etc/default/xnsgw kept" ||
        fail "/etc/default/xnsgw is gone after remove (a conffile stays until purge)"
getent passwd xns >/dev/null && pass "remove: user xns kept" || fail "remove deleted user xns"

# Only the packages with conffiles (xnsd's enable state, xnsgw's default file)
# are left for dpkg to purge.
left=""
for p in $packages; do
        if present "$p"; then left="$left $p"; fi
done
echo "deb.sh: apt-get purge$left"
$apt purge $left >/dev/null
[ ! -e /etc/default/xnsgw ] || fail "/etc/default/xnsgw is left after purge"
if ls /etc/systemd/system/*.wants/xnsd.socket /etc/systemd/system/*.wants/xns*.service \
        /var/lib/systemd/deb-systemd-helper-enabled/*xns* /var/lib/systemd/deb-systemd-helper-masked/*xns* \
        >/dev/null 2>&1; then
        fail "enable state or symlinks left after purge"
else
        pass "purge: /etc/default/xnsgw, the enable symlinks and deb-systemd-helper's state gone"
fi
for p in $packages; do
        ! present "$p" || fail "$p is still known to dpkg after purge"
done
if getent passwd xns >/dev/null || getent group xns >/dev/null; then
        fail "user or group xns left after purge"
else
        pass "purge: user and group xns gone"
fi

echo "deb.sh: $([ "$failed" -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - start)) s"
exit "$failed"
