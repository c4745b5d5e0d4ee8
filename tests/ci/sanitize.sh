#!/bin/sh
# sanitize.sh: hostile-input CI. The whole test suite built with ASan+UBSan
# (build-asan: gcc, -Db_sanitize=address,undefined; UBSan findings are fatal,
# LeakSanitizer checks every process at exit), then the libFuzzer targets of
# tests/fuzz (build-fuzz: clang, -Dfuzz=true, same sanitizers): every seed of
# tests/fuzz/corpus once, then the targets fuzzing side by side for
# XNS_FUZZ_SECONDS (default 60). Exits non-zero on any failure.
#
#   tests/ci/sanitize.sh            (from a fresh clone, after contrib/deps.sh;
#                                    as root, or with sudo for apt-get)
#
# A crash leaves its input in build-fuzz/fuzz-artifacts/; replay it with
#   build-fuzz/tests/fuzz/fuzz-route build-fuzz/fuzz-artifacts/route-crash-...
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
fuzz_seconds=${XNS_FUZZ_SECONDS:-60}
packages="clang libclang-rt-14-dev"     # clang's sanitizer runtimes and libFuzzer

contrib/deps.sh
missing=""
for p in $packages; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "sanitize.sh: installing:$missing"
        $sudo apt-get update -qq || echo "$(basename "$0"): apt-get update reported errors, installing anyway" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

t0=$(date +%s)
step() {
        echo "== sanitize.sh: $* ($(($(date +%s) - t0)) s)"
}

# Sets up DIR with OPTIONS, or brings an existing DIR to them.
configure() {
        dir=$1
        shift
        if [ -f "$dir/build.ninja" ]; then
                meson configure "$dir" "$@" >/dev/null
        else
                meson setup "$dir" "$@" >/dev/null
        fi
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

step "the test suite under ASan+UBSan (build-asan)"
configure build-asan -Db_sanitize=address,undefined -Db_lundef=false
timeout 600 ninja -C build-asan
timeout 900 meson test -C build-asan --print-errorlogs --num-processes 2

step "the fuzz targets (build-fuzz, clang)"
CC=clang configure build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dtests=false -Dexamples=false
timeout 600 ninja -C build-fuzz
timeout 300 meson test -C build-fuzz --suite fuzz --print-errorlogs

targets="route channel wire frame"
step "fuzzing fuzz-route, fuzz-channel, fuzz-wire and fuzz-frame, ${fuzz_seconds} s each, side by side"
work=build-fuzz/fuzz-corpus
artifacts=build-fuzz/fuzz-artifacts
mkdir -p "$work/route" "$work/channel" "$work/wire" "$work/frame" "$artifacts"
# New inputs go to $work (kept between runs of one checkout); the seeds are
# read from the source tree. -timeout: one input may take at most 10 s.
fuzz() {
        name=$1 max_len=$2
        timeout $((fuzz_seconds + 120)) "build-fuzz/tests/fuzz/fuzz-$name" \
                -max_total_time="$fuzz_seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
                -artifact_prefix="$artifacts/$name-" "$work/$name" "tests/fuzz/corpus/$name" \
                >"build-fuzz/fuzz-$name.log" 2>&1
}
fuzz route 8192 &
route_pid=$!
fuzz channel 8192 &
channel_pid=$!
fuzz wire 1100 &
wire_pid=$!
# A frame's head is at most 1 KiB; 70000 leaves room for a call of 16 pages.
fuzz frame 70000 &
frame_pid=$!
status=0
wait "$route_pid" || status=1
wait "$channel_pid" || status=1
wait "$wire_pid" || status=1
wait "$frame_pid" || status=1

for name in $targets; do
        echo "-- fuzz-$name: $(grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' \
                "build-fuzz/fuzz-$name.log" | tr -s ' \t' ' ' | tr '\n' ' ')"
done
if [ "$status" -ne 0 ]; then
        for name in $targets; do
                echo "-- build-fuzz/fuzz-$name.log (tail):"
                tail -n 60 "build-fuzz/fuzz-$name.log"
        done
        echo "sanitize.sh: a fuzzer failed; its input is in $artifacts/:" >&2
        ls -l "$artifacts" >&2
        exit 1
fi
step "passed"
