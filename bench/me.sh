#!/usr/bin/env bash
# Throughput of `{ me { id username } }` against a release server on a fresh SQLite database
# whose denylist holds 10,000 entries. Usage: bench/me.sh BINARY PORT [SECONDS] [CONNECTIONS]
# Extra environment (e.g. DATABASE_URL, REDIS_URL) is passed to the server.
set -euo pipefail
bin=$1 port=$2 seconds=${3:-8} conns=${4:-32}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
export DATABASE_URL=${DATABASE_URL:-"sqlite://$dir/bench.db?mode=rwc"}
RUST_LOG=warn "$bin" --bind "127.0.0.1:$port" --rate-limit-address 1000000000 --rate-limit-user 1000000000 \
  --jwt-secret "bench-secret-bench-secret-bench-secret-0123" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
python3 "$here/fill_denylist.py" "$DATABASE_URL" 10000
kill $pid; wait $pid 2>/dev/null || true  # restart so an in-process copy loads the entries
RUST_LOG=warn "$bin" --bind "127.0.0.1:$port" --rate-limit-address 1000000000 --rate-limit-user 1000000000 \
  --jwt-secret "bench-secret-bench-secret-bench-secret-0123" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
export TOKEN=$(python3 "$here/client.py" "$port" ada)
(cd "$here" && python3 -c "import client, os; client.check_me($port, os.environ['TOKEN'], os.environ.get('DOCUMENT'))")
wrk -t1 -c"$conns" -d2s -s "$here/me.lua" "http://127.0.0.1:$port/graphql" >/dev/null  # warm-up
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # user + system, in clock ticks
before=$(cpu)
wrk -t1 -c"$conns" -d"${seconds}s" -s "$here/me.lua" "http://127.0.0.1:$port/graphql" >"$dir/wrk"
after=$(cpu)
requests=$(awk '/requests in/ {print $1}' "$dir/wrk")
rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk")
non2xx=$(awk '/Non-2xx/ {print $5}' "$dir/wrk")
echo "$rps req/s, server CPU $(( (after - before) * 1000000 / $(getconf CLK_TCK) / requests )) us/request${non2xx:+, $non2xx non-2xx}"
echo "health: $(curl -s "http://127.0.0.1:$port/health")"
