#!/usr/bin/env bash
# The subscription benchmark: builds the release server and examples/subscribers.rs, starts the
# server on a loopback port with a fresh SQLite database (or DATABASE_URL / REDIS_URL as given),
# opens SUBSCRIBERS authenticated graphql-transport-ws connections subscribed to
# recipePublished, and measures delivery of a publish to all of them, the server's memory per
# idle subscribed connection, and the time from a logout to the close of one user's sockets.
#
#   bench/subscribers.sh                       # 10 users x 1,000 connections, SQLite
#   BENCH_USERS=4 BENCH_PER_USER=250 bench/subscribers.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/ \
#     bench/subscribers.sh                     # PostgreSQL + Redis (bench users are added)
#
# The server runs on its defaults except the connection limits, raised so that one client
# address (loopback) may hold every connection and one user its share: MAX_CONNECTIONS_PER_ADDRESS
# and MAX_CONNECTIONS_PER_USER. BENCH_PUBLISHES (5) publishes are measured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USERS=${BENCH_USERS:-10}
PER_USER=${BENCH_PER_USER:-1000}
PUBLISHES=${BENCH_PUBLISHES:-5}
TOTAL=$((USERS * PER_USER))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smilecook-subscribers.XXXXXX")
SERVER=""
cleanup() {
  if [[ -n $SERVER ]]; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  echo "bench: server log in $WORK/server.log" >&2
}
trap cleanup EXIT

# Each side holds one descriptor per connection, and a few more.
ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) -gt $((TOTAL + 256)) ]] ||
  { echo "bench: needs $((TOTAL + 256)) file descriptors, ulimit -Hn is $(ulimit -Hn)" >&2; exit 1; }

echo "== building (cargo build --release, then the client example)"
(cd "$ROOT" && cargo build --release && cargo build --release --example subscribers)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL=${DATABASE_URL:-"sqlite://$WORK/bench.db?mode=rwc"}
RUST_LOG=${BENCH_RUST_LOG:-warn} \
  MAX_CONNECTIONS_PER_ADDRESS=$((TOTAL + 100)) MAX_CONNECTIONS_PER_USER=$PER_USER \
  "$TARGET/release/smilecook" --bind "127.0.0.1:$port" \
  --jwt-secret "bench-secret-bench-secret-bench-secret-0123" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo "== $(curl -sf "http://127.0.0.1:$port/health"), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))"

"$TARGET/release/examples/subscribers" --url "http://127.0.0.1:$port" --pid "$SERVER" \
  --users "$USERS" --per-user "$PER_USER" --publishes "$PUBLISHES"
