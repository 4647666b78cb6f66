#!/bin/sh
# `make run`: a burrow server and client on loopback exposing a small static
# web server through a tunnel. Prints the URL; Ctrl-C stops everything.
set -eu
cd "$(dirname "$0")/.."
BIN=${BURROW_BIN:-build/burrow}
dir=$(mktemp -d /tmp/burrow-demo.XXXXXX)
pids=""
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
	echo "demo: stopped"
}
trap cleanup INT TERM EXIT

# Wait until a log file has a line matching a regex; prints the match.
wait_log() {
	i=0
	while [ $i -lt 100 ]; do
		if m=$(grep -o -m1 -E "$2" "$1" 2>/dev/null); then echo "$m"; return 0; fi
		i=$((i + 1)); sleep 0.1
	done
	echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

mkdir -p "$dir/www"
cat >"$dir/www/index.html" <<HTML
<!doctype html><title>burrow demo</title>
<h1>Hello through burrow</h1>
<p>This page is served on a private port and reached through a burrow tunnel.</p>
HTML

# The "private" service: a static web server on a port the OS picks.
/usr/bin/python3 -u -c '
import http.server, functools, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
print("web listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()' "$dir/www" >"$dir/web.log" 2>&1 &
pids="$pids $!"
web=$(wait_log "$dir/web.log" '127\.0\.0\.1:[0-9]+')

BURROW_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export BURROW_TOKEN
# Also a shared HTTP port: names under the domain localhost (which curl and
# browsers resolve to this machine) go to the client that registers them.
"$BIN" server --listen 127.0.0.1:0 --state-dir "$dir/state" --require-tls yes \
	--http 127.0.0.1:0 --domain localhost 2>"$dir/server.log" &
pids="$pids $!"
ctl=$(wait_log "$dir/server.log" 'server listening on [0-9.:]+' | awk '{print $4}')
# The server's key, as it logs it: the client trusts exactly that one.
key=$(wait_log "$dir/server.log" 'SHA256:[A-Za-z0-9+/]+')

"$BIN" client --server "tls://$ctl" --fingerprint "$key" -R "0:$web" -R "http:demo:$web" \
	2>"$dir/client.log" &
pids="$pids $!"
pub=$(wait_log "$dir/client.log" 'listening on [0-9.:]+ ->' | awk '{print $3}')
url=$(wait_log "$dir/client.log" 'http://demo\.localhost:[0-9]+/')

tail -n +1 "$dir/server.log" "$dir/client.log" | sed 's/^/  /'
if curl -fsS "http://$pub/" | grep -q "Hello through burrow"; then
	echo "demo: fetched http://$pub/ through the tunnel: OK"
fi
hport=${url#http://demo.localhost:}
hport=${hport%/}
if curl -fsS --resolve "demo.localhost:$hport:127.0.0.1" "$url" | grep -q "Hello through burrow"; then
	echo "demo: fetched $url through the shared HTTP port: OK"
fi
cat <<MSG

  private web server : http://$web/
  burrow server      : $ctl (control port, TLS; key $key)
  public tunnel      : http://$pub/   <- open this
  web address        : $url   <- or this (a name on the shared HTTP port)

  Press Ctrl-C to stop.
MSG
tail -f -n 0 "$dir/server.log" "$dir/client.log" &
pids="$pids $!"
wait
