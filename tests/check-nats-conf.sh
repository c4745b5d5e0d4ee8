#!/bin/sh
# check-nats-conf.sh: the example NATS configurations of contrib/nats parse
# and hold together (nats-server -t). Usage: check-nats-conf.sh NATS_SERVER FILE...
nats_server=$1
shift
if [ -z "$nats_server" ] || [ ! -x "$nats_server" ]; then
        echo "nats-server is not installed (contrib/deps.sh installs it): skipped"
        exit 77
fi
for f in "$@"; do
        "$nats_server" -t -c "$f" || { echo "$f: nats-server -t rejects it"; exit 1; }
done
