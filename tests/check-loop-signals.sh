#!/usr/bin/env bash
# check-loop-signals.sh: the example service in an event loop (myservice-server-libevent,
# myservice-server-sd-event) leaves its loop on SIGINT and on SIGTERM: it exits 0, says it
# unregistered, and its name is gone from xnsd.
#
# Usage: check-loop-signals.sh XNSD XNSCTL SERVER...
set -eu

[ $# -ge 3 ] || { echo "usage: $0 XNSD XNSCTL SERVER..." >&2; exit 2; }
xnsd=$1 xnsctl=$2
shift 2
name="xns example: myservice, the four caller idioms"   # examples/myservice/api.h

# shellcheck source=procs.sh
. "$(dirname "$0")/procs.sh"
procs_setup xns-loop-signals
export XOUS_SOCKET=$dir/xns.sock

fail() {
        echo "check-loop-signals: FAIL: $*" >&2
        for log in "$dir"/*.log; do
                [ -f "$log" ] && sed "s/^/$(basename "$log" .log): /" "$log" >&2
        done
        exit 1
}

"$xnsd" --socket "$XOUS_SOCKET" 2>"$dir/xnsd.log" &
pids+=("$!")
wait_until "$xnsctl" status >/dev/null 2>&1 || fail "xnsd does not answer on $XOUS_SOCKET"

registered() {
        "$xnsctl" show "$name" >/dev/null 2>&1
}

# OP_ADD (3) answered: the server is in its loop, which watches the signals by then.
serving() {
        [ "$("$xnsctl" call --timeout 5 "$name" 3 2 40 2>/dev/null)" = 42 ]
}

# A shell starts background programs with SIGINT ignored; a terminal's Ctrl-C finds it at its
# default, so the server starts with both signals at their defaults.
for server in "$@"; do
        prog=$(basename "$server")
        for sig in INT TERM; do
                log=$dir/$prog-$sig.log
                env --default-signal=INT,TERM "$server" >"$log" 2>&1 &
                pid=$!
                pids+=("$pid")
                wait_until registered || fail "$prog did not register \"$name\""
                serving || fail "$prog does not answer OP_ADD"
                kill -"$sig" "$pid"
                wait_until exited "$pid" || fail "$prog still runs 10 s after SIG$sig"
                status=0
                wait "$pid" || status=$?
                [ "$status" -eq 0 ] || fail "$prog exited $status on SIG$sig"
                grep -q '^\[myservice\] unregistered, exiting$' "$log" || fail "$prog did not say it unregistered"
                ! registered || fail "\"$name\" is still registered after $prog exited"
                echo "check-loop-signals: $prog left its loop on SIG$sig, exited 0, unregistered"
        done
done
