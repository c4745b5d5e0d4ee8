#!/bin/sh
# check-man-sync.sh: fails when a manual page and the code it documents have
# drifted apart.
#
#   check-man-sync.sh api HEADER PAGE CODES
#       Every function declared in HEADER is in PAGE's SYNOPSIS with the same
#       prototype and is described further down; every error code and message
#       kind of CODES (xous-codes.h, X(number, NAME ...) lines) and
#       XOUS_NAME_MAX of HEADER appear with their numbers.
#   check-man-sync.sh options PROGRAM PAGE
#       The options (and commands, if any) of 'PROGRAM --help' and those the
#       page's OPTIONS (and COMMANDS) section describes are the same.
#
# Exit 77 (skipped) without man.
set -u

if ! command -v man >/dev/null 2>&1 || ! command -v col >/dev/null 2>&1; then
        echo "check-man-sync: man is not installed (contrib/deps.sh installs it); skipping"
        exit 77
fi
[ $# -eq 3 ] || [ $# -eq 4 -a "$1" = api ] ||
        { echo "usage: $0 api HEADER PAGE CODES | options PROGRAM PAGE" >&2; exit 2; }
mode=$1 source=$2 page=$3 codes=${4:-}

dir=$(mktemp -d "${TMPDIR:-/tmp}/xns-check-man-sync.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT PIPE TERM          # so that the EXIT trap runs

failed=0
fail() {
        echo "check-man-sync: $page: $*" >&2
        failed=1
}

# The page as a reader sees it, wide enough that nothing is broken or
# hyphenated; then split into its sections, one file each (SYNOPSIS ...).
LC_ALL=C.UTF-8 MANWIDTH=250 man -l "$page" 2>/dev/null | col -bx >"$dir/page.txt"
[ -s "$dir/page.txt" ] || { fail "does not render"; exit 1; }
awk -v dir="$dir" '
        /^[A-Z][A-Z ]*$/ { section = $0; gsub(/ /, "_", section); next }
        section != ""    { print > (dir "/sec." section) }
' "$dir/page.txt"
touch "$dir/sec.SYNOPSIS" "$dir/sec.OPTIONS" "$dir/sec.COMMANDS"
sed -n '/^DESCRIPTION$/,$p' "$dir/page.txt" >"$dir/body.txt"

# Joins C declarations that span lines, drops comments and extra blanks:
# one prototype per line, "type name(args);".
prototypes() {
        sed 's|/\*.*\*/||g' "$1" | awk '
                /xous_[a-z0-9_]*\(/ && !/^[ \t]*(#|\/?\*)/ { decl = ""; open = 1 }
                open { decl = decl " " $0 }
                open && /\);/ {
                        sub(/\);.*/, ");", decl)
                        gsub(/[ \t]+/, " ", decl)
                        gsub(/\( /, "(", decl); gsub(/ \)/, ")", decl); gsub(/ ,/, ",", decl)
                        sub(/^ /, "", decl)
                        print decl
                        open = 0
                }' | sort -u
}

check_api() {
        header=$source

        prototypes "$header" >"$dir/header.protos"
        prototypes "$dir/sec.SYNOPSIS" >"$dir/page.protos"
        [ -s "$dir/header.protos" ] || { fail "no prototypes found in $header"; return; }
        comm -23 "$dir/header.protos" "$dir/page.protos" >"$dir/missing"
        if [ -s "$dir/missing" ]; then
                fail "SYNOPSIS lacks or misspells these prototypes of $header:"
                sed 's/^/    /' "$dir/missing" >&2
        fi
        comm -13 "$dir/header.protos" "$dir/page.protos" >"$dir/extra"
        if [ -s "$dir/extra" ]; then
                fail "SYNOPSIS has prototypes that $header does not declare:"
                sed 's/^/    /' "$dir/extra" >&2
        fi
        sed 's/.*[ *]\(xous_[a-z0-9_]*\)(.*/\1/' "$dir/header.protos" >"$dir/functions"
        while read -r fn; do
                grep -q "$fn()" "$dir/body.txt" || fail "$fn() is never described"
        done <"$dir/functions"

        for macro in $(sed -n 's/^#define \(XOUS_[A-Z_]*_AUTO\) .*/\1/p' "$header"); do
                grep -qw "$macro" "$dir/sec.SYNOPSIS" || fail "SYNOPSIS lacks $macro"
        done
        # Error codes: "N  NAME" in the table; kinds and the name limit: "NAME (N)".
        { echo "0 XOUS_OK"
          sed -n '/FOREACH_ERROR/,/^$/s/^[ \t]*X(\([0-9]*\), \([A-Z_]*\),.*/\1 XOUS_ERR_\2/p' "$codes"; } >"$dir/errors"
        [ "$(wc -l <"$dir/errors")" -eq 40 ] || fail "expected the 40 codes 0..39 in $codes"
        while read -r num name; do
                grep -Eq "(^| )$num +$name( |\$)" "$dir/body.txt" || fail "error $name is not listed as number $num"
        done <"$dir/errors"
        { sed -n '/FOREACH_KIND/,/^$/s/^[ \t]*X(\([0-9]*\), \([A-Z_]*\)).*/\1 XOUS_MSG_\2/p' "$codes"
          sed -n 's/^#define \(XOUS_NAME_MAX\) \([0-9]*\).*/\2 \1/p' "$header"; } >"$dir/numbers"
        [ "$(wc -l <"$dir/numbers")" -eq 6 ] || fail "expected 5 kinds in $codes and XOUS_NAME_MAX in $header"
        while read -r num name; do
                grep -q "$name ($num)" "$dir/body.txt" || fail "$name is not given as ($num)"
        done <"$dir/numbers"
}

# Long options, one per line, from text.
long_options() {
        grep -o -- '--[a-z][a-z-]*' "$@" | sort -u
}

check_options() {
        program=$source

        "$program" --help >"$dir/help.txt" 2>&1 || { fail "'$program --help' failed"; return; }
        long_options "$dir/help.txt" >"$dir/help.opts"
        # The page's options: the tags of its OPTIONS section.
        grep -E '^ {7}-' "$dir/sec.OPTIONS" | long_options >"$dir/page.opts"
        comm -23 "$dir/help.opts" "$dir/page.opts" >"$dir/missing"
        [ -s "$dir/missing" ] && fail "OPTIONS does not describe: $(tr '\n' ' ' <"$dir/missing")"
        comm -13 "$dir/help.opts" "$dir/page.opts" >"$dir/extra"
        [ -s "$dir/extra" ] && fail "OPTIONS describes what --help does not have: $(tr '\n' ' ' <"$dir/extra")"
        # Short options: "-x, --long" in both.
        grep -oE -- '-[a-zA-Z], --[a-z-]+' "$dir/help.txt" | sort -u >"$dir/help.short"
        grep -oE -- '-[a-zA-Z], --[a-z-]+' "$dir/sec.OPTIONS" | sort -u >"$dir/page.short"
        cmp -s "$dir/help.short" "$dir/page.short" ||
                fail "short options differ: --help has '$(tr '\n' ' ' <"$dir/help.short")', the page '$(tr '\n' ' ' <"$dir/page.short")'"

        # Commands: the first word of each line of --help's "Commands:" block,
        # and the tags of the page's COMMANDS section.
        awk '/^Commands:/ { on = 1; next } /^[^ ]/ { on = 0 } on && /^  [a-z]/ { print $1 }' \
                "$dir/help.txt" | sort -u >"$dir/help.cmds"
        grep -E '^ {7}[a-z]' "$dir/sec.COMMANDS" | awk '{ print $1 }' | sort -u >"$dir/page.cmds"
        cmp -s "$dir/help.cmds" "$dir/page.cmds" ||
                fail "commands differ: --help has '$(tr '\n' ' ' <"$dir/help.cmds")', the page '$(tr '\n' ' ' <"$dir/page.cmds")'"
}

case "$mode" in
api) check_api ;;
options) check_options ;;
*) echo "check-man-sync: unknown mode '$mode'" >&2; exit 2 ;;
esac

[ "$failed" -eq 0 ] && echo "check-man-sync: $page matches $source"
exit "$failed"
