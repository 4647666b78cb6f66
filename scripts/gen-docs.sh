#!/bin/sh
# Regenerates the option table in docs/configuration.md from the option table
# in src/config/config.c (via `burrow config-reference`), between the markers
#   <!-- options:begin --> and <!-- options:end -->.
# --check: fail if the file is out of date instead of rewriting it.
set -eu
cd "$(dirname "$0")/.."
doc=docs/configuration.md
bin=${BURROW_BIN:-build/burrow}
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.table"' EXIT
"$bin" config-reference >"$tmp.table"
awk -v table="$tmp.table" '
	/<!-- options:begin -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
	/<!-- options:end -->/ { skip = 0 }
	!skip { print }
' "$doc" >"$tmp"
if [ "${1:-}" = "--check" ]; then
	if ! cmp -s "$tmp" "$doc"; then
		echo "docs: $doc is out of date: run 'make docs'" >&2
		diff -u "$doc" "$tmp" >&2 || true
		exit 1
	fi
	echo "docs: configuration reference up to date"
else
	cp "$tmp" "$doc"
fi
