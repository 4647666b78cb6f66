#!/usr/bin/env bash
# burrow benchmark: throughput / latency / connections per second / CPU / memory / churn / callgrind of
# burrow (default and mux) vs direct, ssh -R and socat, on loopback; and burrow over TLS (aes128-gcm,
# chacha20) vs ssh -R with the same ciphers; and burrow over WebSocket (ws vs plain, wss vs TLS) and over the
# http transport (http vs plain, https vs TLS); burrow -D vs ssh -D; and UDP datagrams/s and loss through a
# UDP tunnel (-R udp:) vs direct, 1,400 and 16,000 B (--only udp; the full run includes it, --quick does not); and
# keep-alive HTTP requests through the server's shared HTTP port (--http, -R http:NAME:...) vs nginx direct and
# ssh -R: requests/s, latency added at half load, memory per idle connection, and requests/s over HTTPS (the server's
# --https port terminating TLS, --https-certs) vs nginx over TLS (--only vhost; full run, not --quick).
# Usage: bench/bench.sh [--quick] [--callgrind|--no-callgrind] [--bin PATH] [--json FILE]
#                       [--only burrow,mux,ssh,socat,callgrind,tls,tls-burrow,tls-ssh,ws,http,web,forward,udp,vhost]
#                       [--keep-tmp]
# The work is done by bench.py (python3 standard library only); the udp rows build bench/udpblast.c with cc, the
# vhost rows bench/httpload.c (and make their certificate with openssl).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# 10,000 connections through a tunnel need 10,000+ fds in the bench, the echo service and each relay:
# raise to the hard limit (bench.py skips the 10,000 test, and says so, when it is too low).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
cd "$here/.."
exec "$py" "$here/bench.py" "$@"
