#!/bin/sh
# Installs, from Debian's packages, whatever building and testing xns needs
# and this machine lacks. Uses sudo when not run as root.
set -e

packages="gcc pkg-config meson ninja-build protobuf-c-compiler libprotobuf-c-dev libevent-dev check libjansson-dev libsystemd-dev procps dbus-daemon dbus-broker man-db groff-base bsdextrautils systemd nats-server libnats-dev tshark python3 python3-pytest"

missing=""
for p in $packages; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing:$missing"
# A mirror caught mid-sync fails one index (often a foreign architecture's);
# the install says whether that mattered.
$sudo apt-get update -qq || echo "deps.sh: apt-get update reported errors, installing anyway" >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
case " $missing " in
*" nats-server "*)
        # The tests start their own servers on free high ports and never use it.
        echo "deps.sh: Debian's nats-server package enables nats-server.service (port 4222);" \
             "xns does not need it: systemctl disable --now nats-server" >&2
        ;;
esac
