#!/usr/bin/env bash
# Starts bin/loyaltyd on a fresh database with rate limits off, waits for /readyz, runs
# `loyaltyctl bench http` against it (arguments pass through), stops it.
# BENCH_PORT (default 18089) and BENCH_DB (default loyalty_bench) choose where it runs;
# loyaltyd's log is kept in bin/loyaltyd-bench.log.
set -euo pipefail

port=${BENCH_PORT:-18089}
db=${BENCH_DB:-loyalty_bench}
server=postgres://postgres@127.0.0.1:5432
case "$db" in loyalty_bench*) ;; *) echo "BENCH_DB must start with loyalty_bench" >&2; exit 2 ;; esac

if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
  echo "something already answers on port $port: set BENCH_PORT" >&2; exit 1
fi

psql "$server/postgres" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"

data=$(mktemp -d)
log=bin/loyaltyd-bench.log
export LOYALTY_DATABASE_URL="$server/$db?sslmode=disable"
export LOYALTY_JWT_SECRET=bench-http-secret-bench-http-secret
export LOYALTY_DATA_DIR=$data
export LOYALTY_HTTP_ADDR=127.0.0.1:$port
export LOYALTY_RATE_CLAIMS_PER_USER=0 LOYALTY_RATE_EXCHANGES_PER_USER=0 LOYALTY_RATE_CLAIMS_PER_BATCH=0
export LOYALTY_COURIER_STEP=${LOYALTY_COURIER_STEP:-1s}

# The claim scenario's third side: a durable Redis of its own (appendfsync always, on a free
# port, in a scratch directory), when redis-server is installed. BENCH_REDIS=host:port uses
# one that already runs instead; BENCH_REDIS=off leaves Redis out.
redis_pid=
redis_args=()
if [ "${BENCH_REDIS:-}" = off ]; then
  :
elif [ -n "${BENCH_REDIS:-}" ]; then
  redis_args=(--redis "$BENCH_REDIS")
elif command -v redis-server >/dev/null 2>&1; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$data/redis"
  redis-server --bind 127.0.0.1 --port "$rport" --dir "$data/redis" --appendonly yes --appendfsync always \
    --save "" --logfile "$data/redis/redis.log" --daemonize no &
  redis_pid=$!
  redis_args=(--redis "127.0.0.1:$rport")
else
  echo "redis-server not installed: the claim scenario runs without its Redis side" >&2
fi

./bin/loyaltyd >"$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap stop EXIT

for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "loyaltyd exited:" >&2; tail -20 "$log" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "loyaltyd not ready after 30s:" >&2; tail -20 "$log" >&2; exit 1; }

./bin/loyaltyctl bench http --url "http://127.0.0.1:$port" "${redis_args[@]}" "$@"
