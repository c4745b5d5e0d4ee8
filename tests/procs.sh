# shellcheck shell=bash
# procs.sh: sourced by the tests' shell scripts: waiting for a condition, and a private directory
# removed at exit with every process the script started (asked to stop, killed if it does not).
# After `procs_setup NAME`: $dir is the directory; add each started pid to the array pids.

# Retries a command for up to 10 s.
wait_until() {
        for _ in $(seq 100); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

exited() {
        ! kill -0 "$1" 2>/dev/null
}

procs_cleanup() {
        set +e
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null && ! wait_until exited "$pid" && kill -KILL "$pid" 2>/dev/null
        done
        wait 2>/dev/null
        rm -rf "$dir"
}

procs_setup() {
        dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
        pids=()
        trap procs_cleanup EXIT
}
