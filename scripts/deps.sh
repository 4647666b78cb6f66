#!/bin/sh
# Installs the Debian packages burrow needs to build, test, bench and demo.
# Idempotent and quiet when everything is already there.
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libevent-dev libssl-dev libyaml-dev libcmocka-dev libhttp-parser-dev libwslay-dev
libjansson-dev libcrypt-dev
python3 python3-pytest openssh-server openssh-client curl socat openssl iperf3 sockperf
iproute2 iptables procps tinyproxy dante-server python3-websockets nginx-light
dnsutils dnsmasq-base pebble"
# `scripts/deps.sh bench`: also what the benchmark drives.
if [ "${1:-}" = bench ]; then
	PKGS="$PKGS wrk valgrind"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
