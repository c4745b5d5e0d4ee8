#!/bin/sh
# check-man.sh: renders each manual page given as it will be installed and
# fails on anything a reader would trip over: a warning from man or groff, a
# line wider than the 80-column terminal, a placeholder left unsubstituted,
# a byte outside ASCII in the source (write \(em, \(lq ... instead).
#
# Usage: tests/check-man.sh PAGE...     Exit 77 (skipped) without man or groff.
set -u

for tool in man groff col; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "check-man: $tool is not installed (contrib/deps.sh installs it); skipping"
                exit 77
        fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/xns-check-man.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT PIPE TERM          # so that the EXIT trap runs

failed=0
fail() {
        echo "check-man: $page: $*" >&2
        failed=1
}

# Runs a command; its stderr must stay empty.
quiet() {
        if ! "$@" >"$dir/out" 2>"$dir/err"; then
                fail "'$*' failed"
        fi
        if [ -s "$dir/err" ]; then
                fail "'$*' warned:"
                sed 's/^/    /' "$dir/err" >&2
        fi
}

for page in "$@"; do
        if [ ! -s "$page" ]; then
                fail "missing or empty"
                continue
        fi
        # The tbl line, if any, tells man to run tbl; groff is told directly.
        quiet env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page"
        quiet groff -t -man -ww -z "$page"

        width=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | col -bx | LC_ALL=C.UTF-8 wc -L)
        [ "$width" -le 80 ] || fail "renders $width columns wide at MANWIDTH=80 (break the long lines)"

        if grep -n '@[A-Za-z_]*@' "$page" >"$dir/out"; then
                fail "placeholders left:"
                sed 's/^/    /' "$dir/out" >&2
        fi
        if LC_ALL=C grep -n '[^ -~	]' "$page" >"$dir/out"; then
                fail "bytes outside ASCII:"
                sed 's/^/    /' "$dir/out" >&2
        fi
        if grep -q '^\.TS' "$page" && ! head -n 1 "$page" | grep -q "^'\\\\\" t"; then
                fail "has a table but no '\\\" t line, so man will not run tbl"
        fi
done

[ "$failed" -eq 0 ] && echo "check-man: $# pages render cleanly"
exit "$failed"
