#!/usr/bin/env bash
# Starts BINARY on PORT with a fresh SQLite database (unless DATABASE_URL is set), waits for
# /health and prints the pid. Usage: bench/serve.sh BINARY PORT  (kill the pid when done; the
# temporary directory with the database and the log stays in /tmp)
set -euo pipefail
bin=$1 port=$2
dir=$(mktemp -d)
export DATABASE_URL=${DATABASE_URL:-"sqlite://$dir/bench.db?mode=rwc"}
# Rate-limit budgets no load from one address reaches (still spent, so their cost is measured).
RUST_LOG=warn "$bin" --bind "127.0.0.1:$port" --rate-limit-address 1000000000 --rate-limit-user 1000000000 \
  --jwt-secret "bench-secret-bench-secret-bench-secret-0123" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo $pid
