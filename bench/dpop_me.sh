#!/usr/bin/env bash
# `{ me { id username } }` with a Bearer token, then with a DPoP-bound token and a fresh proof
# per request (made ahead, each used once), against one release server on a fresh SQLite
# database. Usage: bench/dpop_me.sh BINARY PORT [SECONDS] [CONNECTIONS] [PROOFS]
# Needs wrk, Node and clients/node_modules (the `dpop` library).
set -euo pipefail
bin=$1 port=$2 seconds=${3:-8} conns=${4:-32} count=${5:-250000}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
url="http://127.0.0.1:$port/graphql"
RUST_LOG=warn "$bin" --bind "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db?mode=rwc" \
  --jwt-secret "bench-secret-bench-secret-bench-secret-0123" --dpop-proof-max-age 300s \
  --login-address-free-failures 1000000 --rate-limit-address 1000000000 --rate-limit-user 1000000000 >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
gql() { curl -sf "$url" -H 'content-type: application/json' -d "$1"; }
gql '{"query":"mutation { register(input: {username: \"ada\", email: \"ada@example.com\", password: \"bench password\"}) { id } }"}' >/dev/null
bearer=$(gql '{"query":"mutation { login(input: {login: \"ada\", password: \"bench password\"}) { accessToken } }"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
threads=2
run() { # name, script, extra env
  local name=$1 script=$2; shift 2
  env "$@" WRK_THREADS=$threads wrk --latency -t$threads -c"$conns" -d"${seconds}s" -s "$script" "$url" >"$dir/$name"
  awk -v name="$name" '/Requests\/sec/ {rps=$2} /50%/ {p50=$2} /99%/ {p99=$2} /^refused/ {refused=$2}
    END {printf "%-7s %10s req/s  p50 %-8s p99 %-8s refused %s\n", name, rps, p50, p99, refused+0}' "$dir/$name"
}
TOKEN=$bearer wrk -t1 -c"$conns" -d2s -s "$here/me.lua" "$url" >/dev/null  # warm-up
run bearer "$here/me.lua" TOKEN="$bearer"
node "$here/dpop_proofs.mjs" "$url" ada "bench password" "$count" "$dir/token" "$dir/proofs"
run dpop "$here/dpop_me.lua" TOKEN="$(cat "$dir/token")" PROOFS="$dir/proofs"
echo "server RSS after: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
