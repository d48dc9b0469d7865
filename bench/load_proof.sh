#!/usr/bin/env bash
# The proof that the test suite does not depend on a quiet machine: the whole suite (`cargo
# test`), RUNS times on SQLite and RUNS times on PostgreSQL + Redis, while two shell loops keep
# both cores busy. Runs a commit (default HEAD) from a worktree of its own, so that editing the
# checkout during the hour it takes changes nothing; prints one line per run.
#
#   bench/load_proof.sh [COMMIT] [RUNS]        # e.g. bench/load_proof.sh HEAD 10
#
# Environment: TEST_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test) and TEST_REDIS_URL
# (redis://127.0.0.1:6379/); LOAD_PROOF_DIR (where the worktree, its target and the logs go,
# default a temporary directory, kept when a run fails).
set -uo pipefail
commit=$(git rev-parse "${1:-HEAD}") runs=${2:-10}
pg=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis=${TEST_REDIS_URL:-redis://127.0.0.1:6379/}
dir=${LOAD_PROOF_DIR:-$(mktemp -d)}
git worktree add --detach "$dir/tree" "$commit" >/dev/null || exit 1
cd "$dir/tree" || exit 1
export CARGO_TARGET_DIR="$dir/target"
# Each PostgreSQL run leaves ~200 test databases; a DROP DATABASE is a checkpoint, minutes for
# all of them under load. So the databases of one run are dropped in the background while the
# next goes on (its own are created after the list is taken).
drop_databases() {
  psql "$pg" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'smilecook_test_%'" |
    while read -r db; do psql "$pg" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
}
echo "load proof of $(git log --oneline -1 | cut -c1-60), $runs runs per backend, logs in $dir"
cargo test --no-run >"$dir/build.log" 2>&1 || { echo "the build failed: $dir/build.log"; exit 1; }
(while :; do :; done) & busy1=$!
(while :; do :; done) & busy2=$!
trap 'kill $busy1 $busy2 2>/dev/null' EXIT
failed=0
run() { # name, env...
  local name=$1 started log; shift
  for i in $(seq 1 "$runs"); do
    started=$(date +%s) log="$dir/$name-$i.log"
    if env "$@" cargo test --no-fail-fast >"$log" 2>&1; then result=pass; else result=FAIL failed=1; fi
    echo "$name run $i: $result ($(($(date +%s) - started)) s, $(grep -c '^test result: ok' "$log") test binaries passed, load $(cut -d' ' -f1 /proc/loadavg))"
    if [[ $name == postgres ]]; then drop_databases & fi
  done
}
run sqlite
drop_databases
run postgres TEST_DATABASE_URL="$pg" TEST_REDIS_URL="$redis"
kill $busy1 $busy2 2>/dev/null
wait # for the background drops
drop_databases
cd - >/dev/null && git worktree remove --force "$dir/tree"
exit $failed
