#!/bin/sh
# check-units.sh: checks the systemd units and the sysusers.d entry as built:
# systemd-analyze verify must accept them without a single message (it only
# warns, and exits 0, about an unknown or misspelled directive), the
# hardening must keep the service's exposure score low, ExecStart must be
# where meson installs xnsd, their Documentation= pages must exist, and
# systemd-sysusers must create the xns user and group from the entry.
#
# Usage: tests/check-units.sh SERVICE SOCKET SYSUSERS XNSD EXECSTART [MANPAGE]...
#   SERVICE, SOCKET, SYSUSERS  the generated xnsd.service, xnsd.socket, xns.sysusers
#   XNSD                       the built daemon, put in ExecStart for the check
#   EXECSTART                  the ExecStart the installed unit must have
#   MANPAGE                    the built pages that Documentation= names
# Exit 77 (skipped) when systemd-analyze is missing or cannot run here.
set -u

[ $# -ge 5 ] || { echo "usage: $0 SERVICE SOCKET SYSUSERS XNSD EXECSTART [MANPAGE]..." >&2; exit 2; }
service=$1 socket=$2 sysusers=$3 xnsd=$4 execstart=$5
shift 5
# systemd-sysusers --root reads a relative path below the root: make it absolute.
case "$sysusers" in
/*) ;;
*) sysusers=$PWD/$sysusers ;;
esac

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "check-units: systemd-analyze is not installed (Debian package systemd); skipping"
        exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/xns-check-units.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT PIPE TERM          # so that the EXIT trap runs

failed=0
fail() {
        echo "check-units: $*" >&2
        failed=1
}

# Runs systemd-analyze; it must succeed and say nothing at all.
analyze_quiet() {
        if ! (cd "$dir/units" && timeout 60 systemd-analyze "$@") >"$dir/out" 2>&1; then
                fail "'systemd-analyze $*' failed:"
                sed 's/^/    /' "$dir/out" >&2
        elif [ -s "$dir/out" ]; then
                fail "'systemd-analyze $*' complained:"
                sed 's/^/    /' "$dir/out" >&2
        fi
}

# Can systemd-analyze verify run here at all? Try it on a unit known to be good.
mkdir "$dir/canary" "$dir/units" "$dir/root"
printf '[Unit]\nDescription=canary\n[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$dir/canary/canary.service"
if ! (cd "$dir/canary" && timeout 60 systemd-analyze verify --man=no ./canary.service) >"$dir/out" 2>&1 ||
   [ -s "$dir/out" ]; then
        echo "check-units: systemd-analyze verify does not work here; skipping. It said:"
        sed 's/^/    /' "$dir/out"
        exit 77
fi

# The installed unit starts the installed daemon.
got=$(sed -n 's/^ExecStart=//p' "$service")
[ "$got" = "$execstart" ] || fail "$service: ExecStart=$got, expected $execstart"

# verify wants ExecStart to exist: check a copy that starts the built xnsd.
cp "$socket" "$dir/units/xnsd.socket"
sed "s|^ExecStart=.*|ExecStart=$xnsd|" "$service" >"$dir/units/xnsd.service"

# Documentation=man:... is looked up with man: offer the built pages.
man=--man=no
if [ $# -gt 0 ] && command -v man >/dev/null 2>&1; then
        for page in "$@"; do
                section=${page##*.}
                mkdir -p "$dir/man/man$section"
                cp "$page" "$dir/man/man$section/"
        done
        export MANPATH="$dir/man"
        man=--man=yes
fi
analyze_quiet verify "$man" --recursive-errors=no ./xnsd.socket ./xnsd.service

# The gateway's unit, when given (XNSGW_SERVICE, XNSGW: the built one).
if [ -n "${XNSGW_SERVICE:-}" ]; then
        sed "s|^ExecStart=[^ ]*|ExecStart=$XNSGW|" "$XNSGW_SERVICE" >"$dir/units/xnsgw.service"
        analyze_quiet verify "$man" --recursive-errors=no ./xnsgw.service
fi

# The sandbox: an exposure score of 2.0 or less (it is 1.4 as shipped).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
        if ! (cd "$dir/units" && timeout 60 systemd-analyze security --offline=yes --threshold=20 \
                --no-pager ./xnsd.service) >"$dir/out" 2>&1; then
                fail "xnsd.service is less hardened than it should be:"
                grep -E 'Overall|✗' "$dir/out" | sed 's/^/    /' >&2
        fi
else
        echo "check-units: this systemd-analyze has no 'security --offline'; not scoring the sandbox"
fi

# sysusers.d: the entry creates user and group xns (in an empty root, dry run).
if command -v systemd-sysusers >/dev/null 2>&1; then
        mkdir -p "$dir/root/etc"
        if ! timeout 60 systemd-sysusers --dry-run --root="$dir/root" "$sysusers" >"$dir/out" 2>&1; then
                fail "systemd-sysusers rejects $sysusers:"
                sed 's/^/    /' "$dir/out" >&2
        else
                grep -q "Creating group 'xns'" "$dir/out" || fail "$sysusers does not create group xns"
                grep -q "Creating user 'xns'" "$dir/out" || fail "$sysusers does not create user xns"
        fi
else
        echo "check-units: systemd-sysusers is missing; not checking $sysusers"
fi

[ "$failed" -eq 0 ] && echo "check-units: xnsd.socket, xnsd.service, ${XNSGW_SERVICE:+xnsgw.service, }and xns.sysusers are fine"
exit "$failed"
