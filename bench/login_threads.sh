#!/usr/bin/env bash
# Where a login flood's CPU goes, per thread name: starts BINARY on PORT with a fresh SQLite
# database (bench/serve.sh), registers one user, floods `login` with wrk (32 connections,
# SECONDS, default 10) and prints the cores each kind of server thread used meanwhile
# (utime + stime from /proc/PID/task/*/stat). The hashing threads are `argon2-N`.
#
#   bench/login_threads.sh target/release/smilecook 18101 10
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$1 PORT=$2 SECS=${3:-10}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install -y wrk)" >&2; exit 1; }
pid=$("$ROOT/bench/serve.sh" "$BIN" "$PORT")
trap 'kill "$pid" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$PORT/graphql"
curl -sS "$url" -H 'Content-Type: application/json' --data-binary \
  '{"query":"mutation { register(input: {username: \"ada\", email: \"ada@example.com\", password: \"smilecook-demo\"}) { id } }"}' \
  >/dev/null
login='{"query":"mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }","variables":{"input":{"login":"ada","password":"smilecook-demo"}}}'

# Clock ticks per thread name, summed over the threads of that name.
ticks() {
  for task in /proc/"$pid"/task/*; do
    printf '%s %s\n' "$(cat "$task/comm" | tr ' ' _)" "$(awk '{ print $14 + $15 }' "$task/stat")"
  done | awk '{ t[$1] += $2 } END { for (k in t) print k, t[k] }' | sort
}
before=$(ticks)
start=$(date +%s.%N)
BENCH_BODY=$login wrk -t2 -c32 -d"${SECS}s" -s "$ROOT/bench/graphql.lua" "$url" | grep RESULT
end=$(date +%s.%N)
hz=$(getconf CLK_TCK)
join <(echo "$before") <(ticks) | awk -v s="$(echo "$end - $start" | bc)" -v hz="$hz" \
  '{ printf "%-18s %5.2f cores\n", $1, ($3 - $2) / hz / s }'
