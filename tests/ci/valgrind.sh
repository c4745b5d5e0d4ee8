#!/bin/sh
# valgrind.sh: the integration suites with every xnsd they start under
# valgrind memcheck (meson test --setup valgrind): a memcheck error, or a
# definite or indirect leak, makes xnsd exit 99 and the harness fails the
# suite. Then the same suites with the test programs, and every child they
# fork, under memcheck too (--setup valgrindall). build-vg is a plain build.
# Exits non-zero on any failure.
#
#   tests/ci/valgrind.sh            (from a fresh clone, after contrib/deps.sh;
#                                    as root, or with sudo for apt-get)
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"

contrib/deps.sh
if ! dpkg-query -W -f='${Status}\n' valgrind 2>/dev/null | grep -q "install ok installed"; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "valgrind.sh: installing: valgrind"
        $sudo apt-get update -qq || echo "$(basename "$0"): apt-get update reported errors, installing anyway" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends valgrind
fi

t0=$(date +%s)
step() {
        echo "== valgrind.sh: $* ($(($(date +%s) - t0)) s)"
}

step "build (build-vg)"
[ -f build-vg/build.ninja ] || meson setup build-vg >/dev/null
timeout 600 ninja -C build-vg

step "integration suites, xnsd under memcheck"
timeout 900 meson test -C build-vg --setup valgrind --suite integration --print-errorlogs --num-processes 2

step "integration suites, the test programs under memcheck too"
timeout 1200 meson test -C build-vg --setup valgrindall --suite integration --print-errorlogs --num-processes 2
step "passed"
