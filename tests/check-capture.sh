#!/usr/bin/env bash
# check-capture.sh: xnsctl capture of the example's four idioms, decoded by
# contrib/wireshark/xns.lua in Debian's tshark, field by field.
#
# Usage: check-capture.sh XNSD XNSCTL MYSERVICE-SERVER MYSERVICE-CALLER XNS.LUA
# Exit 77 (skipped) without tshark.
set -eu

xnsd=$1 xnsctl=$2 server=$3 caller=$4 lua=$5
name="xns example: myservice, the four caller idioms"   # examples/myservice/api.h

if ! command -v tshark >/dev/null; then
        echo "check-capture: tshark is not installed; skipping"
        exit 77
fi

fail() {
        echo "check-capture: FAIL: $*" >&2
        [ -f "$dir/xnsd.log" ] && sed 's/^/xnsd: /' "$dir/xnsd.log" >&2
        [ -f "$dir/capture.err" ] && sed 's/^/xnsctl capture: /' "$dir/capture.err" >&2
        exit 1
}

# shellcheck source=procs.sh
. "$(dirname "$0")/procs.sh"
procs_setup xns-capture
export HOME=$dir                # tshark's preferences and caches stay here
sock=$dir/xns.sock
export XOUS_SOCKET=$sock

decode() {
        tshark -r "$dir/capture.pcapng" -X lua_script:"$lua" "$@" 2>"$dir/tshark.err"
}

# 1. A private xnsd, answering.
"$xnsd" --socket "$sock" 2>"$dir/xnsd.log" &
xnsd_pid=$!
pids+=("$xnsd_pid")
wait_until "$xnsctl" -s "$sock" status >/dev/null 2>&1 || fail "xnsd does not answer on $sock"

# 2. The capture; its pcapng header is written once xnsd granted the monitor.
"$xnsctl" -s "$sock" capture --snaplen 16 >"$dir/capture.pcapng" 2>"$dir/capture.err" &
capture_pid=$!
pids+=("$capture_pid")
header_written() {
        [ "$(stat -c %s "$dir/capture.pcapng")" -ge 48 ] || exited "$capture_pid"
}
wait_until header_written && ! exited "$capture_pid" || fail "the capture did not start"

# 3. The example: the caller goes through the four idioms and asks the
#    service to quit, which it then does.
"$server" >"$dir/server.out" &
server_pid=$!
pids+=("$server_pid")
"$caller" >"$dir/caller.out" 2>&1 &
caller_pid=$!
pids+=("$caller_pid")
wait "$caller_pid" || fail "myservice-caller failed: $(cat "$dir/caller.out")"
wait_until exited "$server_pid" || fail "myservice-server did not exit after OP_QUIT"

# 4. xnsd sent the OP_QUIT event (opcode 9) before the caller had its answer
#    back; once it is in the file, the capture is stopped and must write
#    whatever else it had received, and exit 0.
quit_captured() {
        [ -n "$(decode -Y "xns.pid == $caller_pid && xns.id == 9" -T fields -e xns.id)" ]
}
wait_until quit_captured || fail "the OP_QUIT event never reached the capture"
kill -INT "$capture_pid"
wait "$capture_pid" || fail "xnsctl capture exited $? on SIGINT"
! grep -q "cut short\|appears to be damaged" "$dir/tshark.err" || fail "tshark: $(cat "$dir/tshark.err")"

# 5. The caller's messages to the service, in order: what the service got and
#    answered. Payloads are the first 16 bytes of the buffer as it was when
#    the message ended (so OP_UPPERCASE's shows the service's change). The
#    SID words of OP_SUBSCRIBE and OP_UNSUBSCRIBE and the tick numbers
#    OP_WAIT_TICKS answers vary: blanked out.
decode -Y "xns.pid == $caller_pid && xns.server == \"$name\"" -T fields -E separator='|' \
       -e xns.kind -e xns.id -e xns.args -e xns.len -e xns.error -e xns.reply -e xns.payload_len -e xns.payload |
        awk -F'|' -v OFS='|' '$2 == 6 || $2 == 7 { $3 = "SID" } $2 == 8 { $6 = "FIRST,LAST" } { print }' >"$dir/got"
cat >"$dir/want" <<'EOF'
Scalar|0|1,0,0,0|0|ok||0|
Scalar|0|2,0,0,0|0|ok||0|
Scalar|0|3,0,0,0|0|ok||0|
Move|1|0,0,0,0|4096|ok||16|61206e6f746520666f72207468652073
BlockingScalar|2|0,0,0,0|0|ok|6,22|0|
BlockingScalar|3|2,3,0,0|0|ok|5|0|
MutableBorrow|4|0,0,0,0|4096|ok||16|48454c4c4f2c20584e53000000000000
Borrow|5|0,0,0,0|4096|ok||16|48454c4c4f2c20584e53000000000000
Scalar|6|SID|0|ok||0|
BlockingScalar|7|SID|0|ok|1|0|
BlockingScalar|8|5,0,0,0|0|ok|FIRST,LAST|0|
BlockingScalar|9|0,0,0,0|0|ok|1|0|
EOF
diff -u "$dir/want" "$dir/got" >&2 || fail "decoded fields differ from what the caller sent (- expected, + decoded)"

# 6. The service's pushes to the caller's anonymous server (idiom 3): shown
#    by SID, and the info column as xns.lua writes it.
ticks=$(decode -Y "xns.pid == $server_pid && xns.id == 0 && xns.kind == \"Scalar\"" -T fields -e xns.server | sort -u)
[[ $ticks =~ ^[0-9a-f]{32}$ ]] || fail "the ticks pushed to the caller's server: '$ticks', expected its SID alone"
info=$(decode -Y "xns.id == 3 && xns.pid == $caller_pid" -T fields -e _ws.col.Info)
[ "$info" = "pid $caller_pid -> $name BlockingScalar #3" ] || fail "info column '$info'"

echo "check-capture: $(wc -l <"$dir/got") messages of the four idioms decoded as sent"
