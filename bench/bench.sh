#!/usr/bin/env bash
# burrow benchmark: throughput / latency / CPU / memory of burrow vs direct, ssh -R and socat,
# on loopback.  Usage: bench/bench.sh [--quick] [--bin PATH] [--json FILE] [--only burrow,ssh,socat]
# The work is done by bench.py (python3 standard library only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# 1000 connections through a tunnel need several thousand fds in the relays: raise to the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
cd "$here/.."
exec "$py" "$here/bench.py" "$@"
