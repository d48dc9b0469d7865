#!/usr/bin/env bash
# The load benchmark: builds the release server, seeds a fresh database (users ada and bob,
# 10,000 recipes, 8,000 published), starts the server on a loopback port and drives it with wrk
# through ten scenarios, plus scenario 1 against a bare axum + sqlx "ceiling"
# (examples/ceiling.rs) and argon2id's own rate on this machine (examples/argon2_rate.rs).
# Prints requests/s, p50 and p99 per scenario and the server's memory, and writes the same as
# a markdown table to bench/results-<backend>.md.
#
#   bench/run.sh                                     # SQLite, in a temporary directory
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/run.sh
#       # PostgreSQL: the URL is a base; a fresh database smilecook_bench_<random> is created
#       # on its server and dropped at the end.
#
# Environment: BENCH_DURATION (seconds per scenario, 10), BENCH_CONNECTIONS (32),
# BENCH_FLOOD_CONNECTIONS (login flood of scenario 6, 16), BENCH_THREADS (wrk threads, nproc),
# BENCH_RECIPES (10000), BENCH_WARMUP (seconds of scenario 1 before measuring, 2),
# BENCH_ARGON2_SECONDS (3), BENCH_RUST_LOG (the server's RUST_LOG, info). The server reads the
# rest of its configuration from the environment as usual: with REDIS_URL set, the denylist and
# login throttling live in Redis (the results say which).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32}
FLOOD_CONNS=${BENCH_FLOOD_CONNECTIONS:-16}
RECIPES=${BENCH_RECIPES:-10000}
WARMUP=${BENCH_WARMUP:-2}
ARGON2_SECONDS=${BENCH_ARGON2_SECONDS:-3}
BASE_URL=${DATABASE_URL:-}
LUA="$ROOT/bench/graphql.lua"
PASSWORD=smilecook-demo

PIDS=()          # everything started in the background, stopped by `cleanup`
WORK=""
PG_ADMIN_URL=""
PG_DB=""
OK=0

die() {
  echo "bench: error: $*" >&2
  exit 1
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $PG_DB ]]; then
    psql "$PG_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null ||
      echo "bench: could not drop database $PG_DB" >&2
  fi
  if [[ -n $WORK ]]; then
    if [[ $OK == 1 ]]; then rm -rf "$WORK"; else echo "bench: logs kept in $WORK" >&2; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Drops a reaped process from PIDS, so that cleanup never signals a recycled process id.
forget() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  PIDS=("${keep[@]}")
}

need() {
  command -v "$1" >/dev/null || die "$1 is required${2:+ ($2)}"
}

# --- tools, database, build -------------------------------------------------------------------

need cargo
need wrk "apt-get install -y wrk"
need curl
need python3
[[ -f $LUA ]] || die "missing $LUA"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "BENCH_DURATION must be whole seconds"
[[ $CONNS =~ ^[0-9]+$ && $FLOOD_CONNS =~ ^[0-9]+$ ]] || die "connection counts must be numbers"
THREADS=${BENCH_THREADS:-$(nproc)}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smilecook-bench.XXXXXX")
if [[ -z $BASE_URL ]]; then
  BACKEND=sqlite
  DB_URL="sqlite://$WORK/bench.db?mode=rwc"
else
  BACKEND=postgres
  need psql "to create the benchmark database"
  [[ $BASE_URL == postgres://* || $BASE_URL == postgresql://* ]] ||
    die "DATABASE_URL must be a postgres:// URL (SQLite is the default without it)"
  PG_DB="smilecook_bench_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
  read -r PG_ADMIN_URL DB_URL < <(python3 - "$BASE_URL" "$PG_DB" <<'EOF'
import sys, urllib.parse as u
base, name = sys.argv[1], sys.argv[2]
parts = u.urlsplit(base)
admin = base if parts.path not in ("", "/") else parts._replace(path="/postgres").geturl()
print(admin, parts._replace(path="/" + name).geturl())
EOF
)
  # A name that is new by construction; CREATE fails rather than reuse an existing database.
  psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB" >/dev/null ||
    { PG_DB=""; die "cannot create a database on $BASE_URL"; }
fi

echo "== $BACKEND on $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $DURATION s per scenario"
echo "== building (cargo build --release, then the two examples)"
# Two invocations: examples bring in dev-dependencies, whose features would otherwise be
# unified into the server binary; the server measured is exactly `cargo build --release`'s.
(cd "$ROOT" && cargo build --release && cargo build --release --example ceiling --example argon2_rate)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET/release/smilecook"
CEILING="$TARGET/release/examples/ceiling"
ARGON2="$TARGET/release/examples/argon2_rate"

echo "== seeding $BACKEND with $RECIPES recipes"
"$BIN" seed --recipes "$RECIPES" --database-url "$DB_URL" >"$WORK/seed.log" 2>&1 ||
  { cat "$WORK/seed.log" >&2; die "seeding failed"; }
cat "$WORK/seed.log"

# --- helpers -----------------------------------------------------------------------------------

free_port() {
  local port
  for _ in $(seq 100); do
    port=$((18000 + RANDOM % 1000))
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
      "$port" 2>/dev/null && { echo "$port"; return; }
  done
  die "no free port in 18000-18999"
}

# body QUERY [VARIABLES_JSON] -> a GraphQL request body
body() {
  python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' \
    "$1" "${2:-{\}}"
}

# post PORT BODY [TOKEN] -> the response body
post() {
  curl -sS --max-time 30 "http://127.0.0.1:$1/graphql" -H 'Content-Type: application/json' \
    ${3:+-H "Authorization: Bearer $3"} --data-binary "$2"
}

# json EXPR < response: prints EXPR evaluated on the parsed response `r`; fails on GraphQL errors
json() {
  python3 -c '
import json, sys
r = json.load(sys.stdin)
if r.get("errors"):
    sys.exit("GraphQL errors: " + json.dumps(r["errors"])[:500])
print(eval(sys.argv[1]))' "$1"
}

status_kb() { # PID FIELD -> kB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

wait_ready() { # PORT PID LOG
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; die "the server exited during start-up"; }
    curl -fsS --max-time 1 "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return
    sleep 0.1
  done
  tail -20 "$3" >&2
  die "no answer on port $1 within 30 s"
}

start_sampler() { # PID FILE: the highest VmRSS seen, sampled every 0.1 s
  (
    peak=0
    while kill -0 "$1" 2>/dev/null; do
      rss=$(status_kb "$1" VmRSS)
      if [[ -n $rss && $rss -gt $peak ]]; then peak=$rss; echo "$peak" >"$2"; fi
      sleep 0.1
    done
  ) &
  SAMPLER=$!
  PIDS+=("$SAMPLER")
}

stop_sampler() {
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  forget "$SAMPLER"
}

# start_wrk NAME PORT CONNS BODY TOKEN: wrk in the background (its pid in WRK), output in WORK
start_wrk() {
  local threads=$((THREADS < $3 ? THREADS : $3))
  BENCH_BODY=$4 BENCH_TOKEN=$5 wrk -t"$threads" -c"$3" -d"${DURATION}s" --timeout 10s \
    -s "$LUA" "http://127.0.0.1:$2/graphql" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  WRK=$!
  PIDS+=("$WRK")
}

# finish_wrk NAME PID: waits for wrk, fails loudly on any error, sets RPS P50 P99
finish_wrk() {
  local rc=0
  wait "$2" || rc=$?
  forget "$2"
  [[ $rc == 0 ]] || { cat "$WORK/$1.out" "$WORK/$1.err" >&2; die "wrk failed in $1"; }
  local line
  line=$(grep '^RESULT' "$WORK/$1.out") || { cat "$WORK/$1.out" >&2; die "no result in $1"; }
  if grep -q 'first failing response' "$WORK/$1.err" || [[ $line != *" errors=0" ]]; then
    echo "$line" >&2
    cat "$WORK/$1.err" >&2
    die "scenario $1 returned errors"
  fi
  RPS=$(sed -E 's/.*rps=([^ ]+).*/\1/' <<<"$line")
  P50=$(sed -E 's/.*p50_ms=([^ ]+).*/\1/' <<<"$line")
  P99=$(sed -E 's/.*p99_ms=([^ ]+).*/\1/' <<<"$line")
}

ROWS=()      # markdown table rows
declare -A R # requests/s by scenario key, for the ratios
declare -A M # median latency (ms) by scenario key

record() { # KEY LABEL CONNS PEAK_RSS_KB END_RSS_KB
  R[$1]=$RPS
  M[$1]=$P50
  ROWS+=("| $2 | $3 | $RPS | $P50 | $P99 | $(mib "$4") | $(mib "$5") |")
  printf '%-44s %4s conns  %10s req/s  p50 %8s ms  p99 %8s ms  RSS peak %7s MiB\n' \
    "$2" "$3" "$RPS" "$P50" "$P99" "$(mib "$4")"
}

# scenario KEY LABEL PORT PID BODY TOKEN: one wrk run against the process PID on PORT
scenario() {
  post "$3" "$5" "$6" | json '"ok"' >/dev/null || die "scenario $2: the request fails"
  rm -f "$WORK/$1.rss"
  start_sampler "$4" "$WORK/$1.rss"
  start_wrk "$1" "$3" "$CONNS" "$5" "$6"
  finish_wrk "$1" "$WRK"
  stop_sampler
  record "$1" "$2" "$CONNS" "$(cat "$WORK/$1.rss" 2>/dev/null)" "$(status_kb "$4" VmRSS)"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# --- the server --------------------------------------------------------------------------------

JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export JWT_SECRET JWT_ISSUER=smilecook JWT_AUDIENCE=smilecook-api
PORT=$(free_port)
# Login throttling counts every password check while it runs (a correct one gives its attempt
# back when it succeeds), so the login floods of scenarios 5 and 6, 16 logins of one account
# at once, would be held to the account's allowance of 5: lift both allowances, this measures
# hashing. An hour-long access token outlives long runs. wrk sends everything from one address
# and one user: rate-limit budgets no run reaches (still spent, so their cost is measured).
# The server's cache of public answers gets a budget that scenario 10's distinct variable sets
# overflow (BENCH_CACHE_BYTES), so that its bound shows.
CACHE_BYTES=${BENCH_CACHE_BYTES:-33554432}
RUST_LOG=${BENCH_RUST_LOG:-info} "$BIN" serve --bind "127.0.0.1:$PORT" \
  --database-url "$DB_URL" --response-cache-bytes "$CACHE_BYTES" \
  --login-address-free-failures 1000000000 \
  --login-free-failures 1000000000 --access-token-ttl 1h \
  --rate-limit-address 1000000000 --rate-limit-user 1000000000 >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_ready "$PORT" "$SERVER" "$WORK/server.log"
IDLE_RSS=$(status_kb "$SERVER" VmRSS)
echo "== server pid $SERVER on 127.0.0.1:$PORT, idle RSS $(mib "$IDLE_RSS") MiB"

LOGIN_Q='mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }'
LOGIN_BODY=$(body "$LOGIN_Q" '{"input": {"login": "ada", "password": "'$PASSWORD'"}}')
TOKEN=$(post "$PORT" "$LOGIN_BODY" | json 'r["data"]["login"]["accessToken"]') ||
  die "cannot log in as ada"

PAGE_Q='query Page($after: String) { recipes(first: 20, after: $after) { edges { node { id name cookTime author { username } } } } }'
RECIPES_BODY=$(body "$PAGE_Q")
FIRST_PAGE=$(post "$PORT" "$RECIPES_BODY" "$TOKEN")
ROWS_ON_PAGE=$(json 'len(r["data"]["recipes"]["edges"])' <<<"$FIRST_PAGE")
[[ $ROWS_ON_PAGE == 20 ]] || die "scenario 1 returns $ROWS_ON_PAGE recipes, not 20"
RECIPE_ID=$(json 'r["data"]["recipes"]["edges"][0]["node"]["id"]' <<<"$FIRST_PAGE")

# The cursor 5,000 rows deep: 50 pages of 100.
DEEP_CURSOR=$(python3 - "$PORT" "$TOKEN" <<'EOF'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
query = "query Deep($after: String) { recipes(first: 100, after: $after) { pageInfo { endCursor hasNextPage } } }"
after = None
for _ in range(50):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        json.dumps({"query": query, "variables": {"after": after}}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    r = json.load(urllib.request.urlopen(req, timeout=30))
    if r.get("errors"):
        sys.exit("paging failed: " + json.dumps(r["errors"]))
    info = r["data"]["recipes"]["pageInfo"]
    if not info["hasNextPage"]:
        sys.exit("fewer than 5,000 published recipes")
    after = info["endCursor"]
print(after)
EOF
) || die "cannot page 5,000 rows deep"

if [[ $WARMUP -gt 0 ]]; then
  echo "== warming up: scenario 1 for ${WARMUP}s (not reported)"
  SAVED=$DURATION
  DURATION=$WARMUP
  start_wrk warmup "$PORT" "$CONNS" "$RECIPES_BODY" "$TOKEN"
  finish_wrk warmup "$WRK"
  DURATION=$SAVED
fi

echo "== scenarios: ${DURATION}s each, $CONNS connections, wrk threads $THREADS"
scenario s1 "1. recipes(first: 20) + author, authenticated" "$PORT" "$SERVER" "$RECIPES_BODY" "$TOKEN"

# --- the ceiling, right after scenario 1 --------------------------------------------------------

CEILING_PORT=$(free_port)
# The server's public keys, for tokens signed with ES256 or EdDSA (empty under HS256).
JWKS=$(curl -sf "http://127.0.0.1:$PORT/.well-known/jwks.json")
JWKS="$JWKS" CEILING_BIND="127.0.0.1:$CEILING_PORT" DATABASE_URL="$DB_URL" "$CEILING" \
  >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
for _ in $(seq 300); do
  kill -0 "$CEILING_PID" 2>/dev/null || { cat "$WORK/ceiling.log" >&2; die "the ceiling exited"; }
  grep -q 'listening' "$WORK/ceiling.log" && break
  sleep 0.1
done
grep -q 'listening' "$WORK/ceiling.log" || die "the ceiling did not start within 30 s"
# Same answer as the server's, or the comparison means nothing.
CEILING_PAGE=$(post "$CEILING_PORT" "$RECIPES_BODY" "$TOKEN")
python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' \
  "$FIRST_PAGE" "$CEILING_PAGE" || die "the ceiling's answer differs from the server's"
scenario ceiling "1c. the same, bare axum + sqlx (ceiling)" "$CEILING_PORT" "$CEILING_PID" \
  "$RECIPES_BODY" "$TOKEN"
CEILING_HWM=$(status_kb "$CEILING_PID" VmHWM)
kill -TERM "$CEILING_PID"
wait "$CEILING_PID" 2>/dev/null || true
forget "$CEILING_PID"

# --- the other scenarios --------------------------------------------------------------------

RECIPE_BODY=$(body 'query Recipe($id: ID!) { recipe(id: $id) { id name cookTime author { username } } }' \
  "{\"id\": \"$RECIPE_ID\"}")
scenario s2 "2. recipe(id), authenticated" "$PORT" "$SERVER" "$RECIPE_BODY" "$TOKEN"
scenario s3 "3. me (guard + denylist + user)" "$PORT" "$SERVER" \
  "$(body 'query Me { me { id username email } }')" "$TOKEN"
scenario s4 "4. { __typename }, anonymous (floor)" "$PORT" "$SERVER" "$(body '{ __typename }')" ""
# argon2id's own rate, right before and right after the login scenario (the server idles
# meanwhile): on a shared machine the rate drifts, and login is compared with the mean.
argon2_rate() {
  local line
  echo "   (argon2id alone on every core for ${ARGON2_SECONDS}s)" >&2
  line=$("$ARGON2" "$ARGON2_SECONDS") || die "argon2_rate failed"
  echo "   $line" >&2
  sed -E 's/.*argon2id_per_s=([^ ]+).*/\1/' <<<"$line"
}
# CPU clock ticks of PID's threads: "HASHING TOTAL", hashing being the `argon2-N` threads.
thread_ticks() {
  local task name ticks hashing=0 total=0
  for task in /proc/"$1"/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    ticks=$(awk '{ print $14 + $15 }' "$task/stat" 2>/dev/null) || continue
    total=$((total + ticks))
    [[ $name == argon2-* ]] && hashing=$((hashing + ticks))
  done
  echo "$hashing $total"
}
# How many steps below the server's own nice value its hashing threads run (ARGON2_NICE).
hashing_nice() {
  local task base
  base=$(awk '{ print $19 }' "/proc/$1/stat")
  for task in /proc/"$1"/task/*; do
    [[ $(cat "$task/comm" 2>/dev/null) == argon2-* ]] || continue
    awk -v base="$base" '{ print $19 - base }' "$task/stat"
    return
  done
  echo "unknown"
}
ARGON2_BEFORE=$(argon2_rate)
read -r HASH_T0 ALL_T0 < <(thread_ticks "$SERVER")
scenario s5 "5. login, valid password" "$PORT" "$SERVER" "$LOGIN_BODY" ""
read -r HASH_T1 ALL_T1 < <(thread_ticks "$SERVER")
HASH_SHARE=$(ratio $((HASH_T1 - HASH_T0)) $((ALL_T1 - ALL_T0)))
HASH_NICE=$(hashing_nice "$SERVER")
ARGON2_AFTER=$(argon2_rate)
ARGON2_RATE=$(awk -v a="$ARGON2_BEFORE" -v b="$ARGON2_AFTER" 'BEGIN { printf "%.1f", (a + b) / 2 }')

echo "   (6: scenario 1 and a login flood of $FLOOD_CONNS connections at once)"
rm -f "$WORK/s6.rss"
start_sampler "$SERVER" "$WORK/s6.rss"
start_wrk s6 "$PORT" "$CONNS" "$RECIPES_BODY" "$TOKEN"
PAGE_WRK=$WRK
start_wrk s6login "$PORT" "$FLOOD_CONNS" "$LOGIN_BODY" ""
finish_wrk s6login "$WRK"
LOGIN_RESULT=("$RPS" "$P50" "$P99")
finish_wrk s6 "$PAGE_WRK"
stop_sampler
S6_PEAK=$(cat "$WORK/s6.rss" 2>/dev/null)
S6_END=$(status_kb "$SERVER" VmRSS)
record s6 "6a. scenario 1 during a login flood" "$CONNS" "$S6_PEAK" "$S6_END"
RPS=${LOGIN_RESULT[0]} P50=${LOGIN_RESULT[1]} P99=${LOGIN_RESULT[2]}
record s6login "6b. the login flood itself" "$FLOOD_CONNS" "$S6_PEAK" "$S6_END"

scenario s7a "7a. recipes page 1" "$PORT" "$SERVER" "$RECIPES_BODY" "$TOKEN"
scenario s7b "7b. recipes page 5,000 rows deep (keyset)" "$PORT" "$SERVER" \
  "$(body "$PAGE_Q" "{\"after\": \"$DEEP_CURSOR\"}")" "$TOKEN"

# --- persisted documents and the server's cache of public answers --------------------------------

sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' "$1"; }
PAGE_HASH=$(sha256 "$PAGE_Q")
# Registered as an automatic persisted query (anonymous, as a browser would).
REGISTER=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sys.argv[2]}}}))' "$PAGE_Q" "$PAGE_HASH")
post "$PORT" "$REGISTER" | json '"ok"' >/dev/null || die "cannot register the page as a persisted query"
GET_PATH="/graphql?documentId=sha256:$PAGE_HASH"
CACHED_HEADERS=$(curl -sS -D - -o "$WORK/s8.body" "http://127.0.0.1:$PORT$GET_PATH")
grep -qi '^cache-control: public' <<<"$CACHED_HEADERS" || die "the page by id is not public: $CACHED_HEADERS"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.loads(sys.argv[2]); sys.exit(a != b)' \
  "$WORK/s8.body" "$FIRST_PAGE" || die "the page by id differs from scenario 1's"
rm -f "$WORK/s8.rss"
start_sampler "$SERVER" "$WORK/s8.rss"
export BENCH_PATH=$GET_PATH
start_wrk s8 "$PORT" "$CONNS" "" ""
unset BENCH_PATH
finish_wrk s8 "$WRK"
stop_sampler
record s8 "8. the page by persisted id, GET, anonymous (server cache)" "$CONNS" \
  "$(cat "$WORK/s8.rss" 2>/dev/null)" "$(status_kb "$SERVER" VmRSS)"

# 9: a write on one instance, seen by the cached answers of another. Instances agree on the
# epoch of public content through Redis (at once), or through PostgreSQL's NOTIFY (soon); two
# processes on one SQLite file without Redis do not (with SQLite there is one instance). Two
# fresh instances on the same database, with Redis when there is one (REDIS_URL, else a Redis
# answering on 127.0.0.1:6379), keep scenario 8's server as it was configured.
INVALIDATION="not measured: SQLite and no Redis runs one instance"
INVAL_REDIS=${REDIS_URL:-}
if [[ -z $INVAL_REDIS ]] && command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  INVAL_REDIS=redis://127.0.0.1:6379/
fi
if [[ -n $INVAL_REDIS || $BACKEND == postgres ]]; then
  INVAL_ARGS=(--database-url "$DB_URL" --rate-limit-address 1000000000 --rate-limit-user 1000000000)
  [[ -z $INVAL_REDIS ]] ||
    INVAL_ARGS+=(--redis-url "$INVAL_REDIS" --redis-key-prefix "smilecook-bench-$RANDOM$RANDOM:")
  INVAL_PIDS=()
  INVAL_PORTS=()
  for name in writer reader; do
    port=$(free_port)
    RUST_LOG=${BENCH_RUST_LOG:-info} "$BIN" serve --bind "127.0.0.1:$port" "${INVAL_ARGS[@]}" \
      >"$WORK/server-$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$port" "$pid" "$WORK/server-$name.log"
    INVAL_PIDS+=("$pid")
    INVAL_PORTS+=("$port")
  done
  INVAL_RESULT=$(python3 "$ROOT/bench/invalidation.py" "${INVAL_PORTS[0]}" "${INVAL_PORTS[1]}" "$TOKEN" 100) ||
    die "the invalidation measurement failed: $INVAL_RESULT"
  how="PostgreSQL NOTIFY"
  [[ -z $INVAL_REDIS ]] || how="the epoch in Redis"
  INVALIDATION="$INVAL_RESULT ($how)"
  echo "   9. invalidation across instances: $INVALIDATION"
  for pid in "${INVAL_PIDS[@]}"; do
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    forget "$pid"
  done
fi

# 10: 100,000 distinct variable sets, each answer kept: the cache's memory stays bounded.
DISTINCT_BODY=$(body 'query U($u: String!) { user(username: $u) { username } }' '{"u": "nobody-{n}"}')
RSS_BEFORE=$(status_kb "$SERVER" VmRSS)
SAVED=$DURATION
DURATION=$((DURATION > 30 ? DURATION : 30))
export BENCH_DISTINCT=1
start_wrk s10 "$PORT" "$CONNS" "$DISTINCT_BODY" ""
unset BENCH_DISTINCT
finish_wrk s10 "$WRK"
DURATION=$SAVED
DISTINCT_SENT=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$(grep '^RESULT' "$WORK/s10.out")")
RSS_AFTER=$(status_kb "$SERVER" VmRSS)
record s10 "10. distinct variables each request, anonymous" "$CONNS" "$RSS_AFTER" "$RSS_AFTER"

PEAK_RSS=$(status_kb "$SERVER" VmHWM)
END_RSS=$(status_kb "$SERVER" VmRSS)

# --- report ------------------------------------------------------------------------------------

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null) ]] ||
  COMMIT="$COMMIT (with uncommitted changes)"
STORES="denylist in the database, login throttling in memory (no REDIS_URL)"
[[ -z ${REDIS_URL:-} ]] || STORES="denylist and login throttling in Redis (REDIS_URL)"
SUMMARY=(
  "- ours / ceiling (scenario 1): **$(ratio "${R[s1]}" "${R[ceiling]}")** of the bare axum + sqlx handler's requests/s"
  "- scenario 1 / GraphQL floor (scenario 4): $(ratio "${R[s1]}" "${R[s4]}")"
  "- deep page / page 1 (7b / 7a): $(ratio "${R[s7b]}" "${R[s7a]}") of the requests/s, **$(ratio "${M[s7b]}" "${M[s7a]}")** of the median latency"
  "- scenario 1 during the login flood / alone (6a / 1): $(ratio "${R[s6]}" "${R[s1]}") of the requests/s, **$(ratio "${M[s6]}" "${M[s1]}")** times the median latency"
  "- argon2id alone (m=19456 KiB, t=2, p=1, every core): **$ARGON2_RATE** verifications/s (mean of $ARGON2_BEFORE before and $ARGON2_AFTER after scenario 5); login / argon2id: $(ratio "${R[s5]}" "$ARGON2_RATE") alone (scenario 5), $(ratio "${R[s6login]}" "$ARGON2_RATE") under the mixed load (6b); in scenario 5 the hashing threads used $HASH_SHARE of the server's CPU time"
  "- cached page by persisted id / ceiling (8 / 1c): **$(ratio "${R[s8]}" "${R[ceiling]}")** of the bare axum + sqlx handler's requests/s"
  "- invalidation across instances (bench/invalidation.py, 100 writes, 4 readers hammering the other instance): $INVALIDATION"
  "- the server cache under $DISTINCT_SENT distinct variable sets (scenario 10; RESPONSE_CACHE_BYTES $(mib $((CACHE_BYTES / 1024))) MiB): RSS $(mib "$RSS_BEFORE") MiB before, $(mib "$RSS_AFTER") MiB after"
  "- server memory: idle $(mib "$IDLE_RSS") MiB (VmRSS before any load), peak $(mib "$PEAK_RSS") MiB (VmHWM), $(mib "$END_RSS") MiB at the end; ceiling peak $(mib "$CEILING_HWM") MiB"
)

{
  echo "# Load benchmark: $BACKEND"
  echo
  echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); overwritten by each run."
  echo
  echo "- machine: $(nproc) CPUs, $CPU, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- code: commit $COMMIT, $(rustc --version 2>/dev/null || echo rustc unknown), release build"
  echo "- server: $STORES; hashing threads at nice +$HASH_NICE (ARGON2_NICE)"
  echo "- data: users ada and bob (the seed command writes two), $RECIPES recipes, 4 in 5 published"
  echo "- load: wrk over loopback, $DURATION s per scenario, $CONNS connections ($FLOOD_CONNS for the login flood), $THREADS threads; server and wrk share the machine"
  echo
  echo "| scenario | connections | requests/s | p50 ms | p99 ms | peak RSS MiB | RSS after MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  printf '%s\n' "${SUMMARY[@]}"
  echo
  echo "Peak RSS is the highest VmRSS sampled every 0.1 s during the scenario (for 1c, the ceiling's);"
  echo "6a and 6b share one measurement. The ceiling (\`examples/ceiling.rs\`) verifies the same JWT"
  echo "(no denylist lookup: our \`recipes\` resolver does not consult the token at all), runs the"
  echo "same two SQL statements (checked against smilecook's at its start-up) with plain sqlx on the"
  echo "pool \`smilecook::db::connect\` opens (same size and pragmas), and its answer is checked to"
  echo "equal the server's."
} >"$ROOT/bench/results-$BACKEND.md"

echo
printf '%s\n' "${SUMMARY[@]}"
echo
echo "== written to bench/results-$BACKEND.md"
OK=1
