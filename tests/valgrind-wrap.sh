#!/bin/sh
# valgrind-wrap.sh: runs a program under valgrind memcheck so that any error,
# and any definite or indirect leak, makes it exit 99. For the `valgrind`
# test setups of tests/meson.build: XNSD_WRAPPER (the daemon) and the test
# programs' exe_wrapper.
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        ${XNS_VALGRIND_FLAGS:-} "$@"
