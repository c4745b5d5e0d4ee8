#!/usr/bin/env bash
# run-demo.sh: runs the example service and its caller against a private xnsd.
#
# Usage: examples/run-demo.sh [--loop libevent|sd-event] [path/to/xnsd]   (default: build/xnsd/xnsd)
# --loop runs the service in that event loop (myservice-server-libevent, myservice-server-sd-event:
# two servers watched from one thread) instead of myservice-server, which blocks in
# xous_receive_message(). The example programs and xnsctl are taken from the same build directory
# as xnsd (in an installed tree: examples/ and bin/ beside xnsd's sbin/).
set -eu

usage() {
        echo "usage: $0 [--loop libevent|sd-event] [path/to/xnsd]" >&2
        exit 2
}

server_name=myservice-server
if [ "${1:-}" = --loop ]; then
        case "${2:-}" in
        libevent | sd-event) server_name=myservice-server-$2 ;;
        *) usage ;;
        esac
        shift 2
fi
[ $# -le 1 ] || usage

top=$(cd "$(dirname "$0")/.." && pwd)
xnsd=${1:-$top/build/xnsd/xnsd}
bin=$(dirname "$xnsd")/../examples
server=$bin/$server_name
xnsctl=$(dirname "$xnsd")/../xnsctl/xnsctl
[ -x "$xnsctl" ] || xnsctl=$(dirname "$xnsd")/../bin/xnsctl
for prog in "$xnsd" "$xnsctl" "$server" "$bin/myservice-caller"; do
        if [ ! -x "$prog" ]; then
                echo "run-demo: $prog is missing; build first: meson setup build && ninja -C build" >&2
                exit 1
        fi
done

# Retries a command for up to 5 s.
wait_until() {
        for _ in $(seq 50); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

exited() {
        ! kill -0 "$1" 2>/dev/null
}

# True once xnsd answers a request (its status), or once process $1 (xnsd) is gone.
answers_or_exited() {
        "$xnsctl" status >/dev/null 2>&1 || exited "$1"
}

# Everything lives in a private directory, removed at exit with every process started here
# (asked to stop, killed if it does not).
dir=$(mktemp -d "${TMPDIR:-/tmp}/xns-demo.XXXXXX")
pids=()
cleanup() {
        set +e
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null && ! wait_until exited "$pid" && kill -KILL "$pid" 2>/dev/null
        done
        wait 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

# 1. The daemon, on its own socket; the examples find it through XOUS_SOCKET.
#    Its log goes to a file, shown if something fails.
export XOUS_SOCKET=$dir/xns.sock
"$xnsd" --socket "$XOUS_SOCKET" 2>"$dir/xnsd.log" &
xnsd_pid=$!
pids+=("$xnsd_pid")
if ! wait_until answers_or_exited "$xnsd_pid" || exited "$xnsd_pid"; then
        echo "run-demo: xnsd does not answer on $XOUS_SOCKET; its log:" >&2
        cat "$dir/xnsd.log" >&2
        exit 1
fi
echo "== xnsd is listening on $XOUS_SOCKET"

# 2. The service registers its name and waits for messages; its lines start with [myservice].
echo "== starting $server_name; myservice-caller then drives it through the four caller idioms"
"$server" &
server_pid=$!
pids+=("$server_pid")

# 3. The caller connects by name, goes through the four idioms and asks the service to quit.
#    It gets 30 s: a hang is a failure.
status=0
timeout 30 "$bin/myservice-caller" || status=$?

# 4. Having acknowledged OP_QUIT, the service exits on its own.
if [ "$status" -eq 0 ]; then
        if wait_until exited "$server_pid" && wait "$server_pid"; then
                echo "== demo passed"
        else
                echo "== $server_name did not exit cleanly after OP_QUIT" >&2
                status=1
        fi
fi
if [ "$status" -ne 0 ]; then
        echo "== demo FAILED; xnsd's log:" >&2
        cat "$dir/xnsd.log" >&2
fi
exit "$status"
