#!/usr/bin/env bash
# Cross-checks `cargo xtask bench emulator` with an external load generator: starts the release
# binary on a fresh SQLite file, runs wrk's anonymous sign-ins for N seconds (which also fills the
# database, as the xtask bench does), then N seconds of refresh-token rotations (one chain of
# tokens per connection, see refresh.lua), and stops the server.
#
#   cargo build --release -p nhost-auth-emulator
#   crates/nhost-auth-emulator/benches/wrk.sh [binary] [seconds] [connections] [wrk threads]
#
# Defaults: target/release/nhost-auth-emulator, 10 s, 64 connections, 1 wrk thread (the
# server gets the rest of the machine). Needs `wrk` (Debian: `apt-get install wrk`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$here/../../../target}/release/nhost-auth-emulator}
seconds=${2:-10}
connections=${3:-64}
threads=${4:-1}

dir=$(mktemp -d)
log=$dir/server.log
cleanup() {
    if [[ -n ${server:-} ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# Port 0: any free port; the first line the binary prints is its URL.
DATABASE_URL="sqlite:$dir/emulator.sqlite" AUTH_PORT=0 AUTH_RATE_LIMIT_ENABLE=false \
    "$binary" >"$dir/stdout" 2>"$log" &
server=$!
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$dir/stdout" 2>/dev/null | head -1 || true)
    [[ -n $url ]] && break
    sleep 0.1
done
[[ -n ${url:-} ]] || { echo "the emulator did not start:" >&2; cat "$log" >&2; exit 1; }
echo "server: $binary at $url, SQLite file; wrk: $threads thread(s), $connections connections, $seconds s per scenario"

echo "== POST /signin/anonymous"
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/signin.lua" "$url"
echo "== POST /token (refresh), on the database the sign-ins filled"
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/refresh.lua" "$url"
