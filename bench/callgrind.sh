#!/usr/bin/env bash
# Instructions per request of scenario 1, counted by valgrind's callgrind: repeatable on a shared,
# noisy machine where requests/s move by 20% between runs (bench/NOTES.md, section 5).
#
#   bench/callgrind.sh [server|ceiling] [REQUESTS] [QUERY]
#
# Seeds a fresh SQLite database as bench/run.sh does, starts the release server (or the ceiling,
# examples/ceiling.rs) under callgrind with instrumentation off, warms it up with 20 requests,
# then counts REQUESTS (200) requests of QUERY (scenario 1's) sent one after another over one
# keep-alive connection. Prints the instructions per request and leaves the profile in
# bench/callgrind.<target>.out for `callgrind_annotate --inclusive=yes`.
# The server reads the rest of its configuration from the environment (METRICS_BIND, OTEL_*).
# Needs: valgrind, curl, python3; a release build (`cargo build --release`, and
# `cargo build --release --example ceiling` for the ceiling).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=${1:-server}
N=${2:-200}
Q=${3:-'query Page($after: String) { recipes(first: 20, after: $after) { edges { node { id name cookTime author { username } } } } }'}
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=${BENCH_BIN:-"$TARGET/release/smilecook"}  # BENCH_BIN: another build, to compare
OUT="$ROOT/bench/callgrind.$WHAT.out"
case $WHAT in
  server) CMD=("$BIN" serve --database-url) ;;
  ceiling) CMD=("$TARGET/release/examples/ceiling") ;;
  *) echo "usage: $0 [server|ceiling] [REQUESTS] [QUERY]" >&2; exit 2 ;;
esac
[[ -x ${CMD[0]} ]] || { echo "build first: ${CMD[0]} is missing" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DB="sqlite://$WORK/db.sqlite?mode=rwc"
"$BIN" seed --recipes 10000 --database-url "$DB" >/dev/null
export JWT_SECRET JWT_ISSUER=smilecook JWT_AUDIENCE=smilecook-api
export RATE_LIMIT_ADDRESS=1000000000 RATE_LIMIT_USER=1000000000  # budgets no run reaches
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [[ $WHAT == server ]]; then
  # Budgets no run reaches: still spent, so what the rate limits cost is counted.
  CMD+=("$DB" --bind "127.0.0.1:$PORT" --access-token-ttl 1h --rate-limit-address 1000000000
    --rate-limit-user 1000000000)
else
  export CEILING_BIND="127.0.0.1:$PORT" DATABASE_URL="$DB"
fi
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT.%p" "${CMD[@]}" \
  >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
  grep -q 'listening' "$WORK/server.log" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done

# An access token as the server issues them (the ceiling issues none): HS256 over the claims.
TOKEN=$(python3 - <<'PY'
import base64, hashlib, hmac, json, os, time, uuid
b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
now = int(time.time())
claims = {"sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "type": "access", "fresh": True,
          "sid": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 3600,
          "iss": "smilecook", "aud": "smilecook-api"}
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
sig = hmac.new(os.environ["JWT_SECRET"].encode(), head.encode(), hashlib.sha256).digest()
print(head + "." + b64(sig))
PY
)

send() { # COUNT: requests over one keep-alive connection, each checked
  python3 - "$PORT" "$TOKEN" "$Q" "$1" <<'PY'
import http.client, json, sys
port, token, query, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = json.dumps({"query": query, "variables": {}})
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
conn, done = http.client.HTTPConnection("127.0.0.1", port), 0
while done < n:
    try:
        conn.request("POST", "/graphql", body=body, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
    except (http.client.HTTPException, ConnectionError):
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port)
        continue
    if response.status != 200 or "errors" in payload:
        sys.exit(f"bad answer: {response.status} {json.dumps(payload)[:300]}")
    done += 1
PY
}

send 20
callgrind_control -i on "$PID" >/dev/null
send "$N"
callgrind_control -i off "$PID" >/dev/null
callgrind_control -d "$PID" >/dev/null
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
# The dump holds just the measured requests; the file written at exit holds nothing (instr off).
DUMP=$(ls -t "$OUT".*.1 | head -1)
mv "$DUMP" "$OUT"
rm -f "$OUT".*
TOTAL=$(awk '/^totals:/ { print $2 }' "$OUT")
echo "$WHAT: $TOTAL instructions for $N requests: $((TOTAL / N)) per request (profile: $OUT)"
