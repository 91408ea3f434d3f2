#!/usr/bin/env bash
# Starts bin/loyaltyd on a fresh database with rate limits off, waits for /readyz, runs
# `loyaltyctl bench http` against it (arguments pass through), stops it.
# BENCH_PORT (default 18089) and BENCH_DB (default loyalty_bench) choose where it runs;
# loyaltyd's log is kept in bin/loyaltyd-bench.log.
# BENCH_PROCS=3 starts three loyaltyd (ports BENCH_PORT, +1, +2) and spreads the clients over
# them; they share one bus and one courier, so it needs BENCH_NATS_URL (a NATS server with
# JetStream that nothing else uses: the streams and consumers are the platform's) and starts a
# `loyaltyd courier-sim` itself.
set -euo pipefail

port=${BENCH_PORT:-18089}
db=${BENCH_DB:-loyalty_bench}
server=postgres://postgres@127.0.0.1:5432
case "$db" in loyalty_bench*) ;; *) echo "BENCH_DB must start with loyalty_bench" >&2; exit 2 ;; esac

if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
  echo "something already answers on port $port: set BENCH_PORT" >&2; exit 1
fi

psql "$server/postgres" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"

# The baseline opens one connection per client beside loyaltyd's pools: a PostgreSQL without
# room for both fails the run half-way (a test suite running beside it takes its share too).
clients=64
prev=
for a in "$@"; do
  if [ "$prev" = --clients ]; then clients=$a; fi
  case "$a" in --clients=*) clients=${a#--clients=} ;; esac
  prev=$a
done
free=$(psql "$server/postgres" -qAt -c "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
need=$((clients + 30 * ${BENCH_PROCS:-1} + 5))
if [ "$free" -lt "$need" ]; then
  echo "PostgreSQL has $free free connections; this run needs about $need ($clients clients, ${BENCH_PROCS:-1} loyaltyd): raise max_connections or stop what holds them" >&2
  exit 2
fi

data=$(mktemp -d)
log=bin/loyaltyd-bench.log
: >"$log"
export LOYALTY_DATABASE_URL="$server/$db?sslmode=disable"
export LOYALTY_JWT_SECRET=bench-http-secret-bench-http-secret
export LOYALTY_DATA_DIR=$data
export LOYALTY_RATE_CLAIMS_PER_USER=0 LOYALTY_RATE_EXCHANGES_PER_USER=0 LOYALTY_RATE_CLAIMS_PER_BATCH=0
export LOYALTY_COURIER_STEP=${LOYALTY_COURIER_STEP:-1s}

procs=${BENCH_PROCS:-1}
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$data"
}
trap stop EXIT

if [ "$procs" -gt 1 ]; then
  if [ -z "${BENCH_NATS_URL:-}" ]; then
    echo "BENCH_PROCS=$procs needs BENCH_NATS_URL: a NATS server with JetStream for this run alone" >&2; exit 2
  fi
  courier_port=$((port + 100))
  ./bin/loyaltyd courier-sim --addr "127.0.0.1:$courier_port" --step "$LOYALTY_COURIER_STEP" >>"$log" 2>&1 &
  pids+=($!)
  export LOYALTY_NATS_URL=$BENCH_NATS_URL LOYALTY_COURIER_URL=http://127.0.0.1:$courier_port
  # Every process keeps the default pool; PostgreSQL's max_connections must hold them all.
fi

# The claim scenario's third side: a durable Redis of its own (appendfsync always, on a free
# port, in a scratch directory), when redis-server is installed. BENCH_REDIS=host:port uses
# one that already runs instead; BENCH_REDIS=off leaves Redis out.
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
  pids+=($!)
  redis_args=(--redis "127.0.0.1:$rport")
else
  echo "redis-server not installed: the claim scenario runs without its Redis side" >&2
fi

urls=()
for i in $(seq 0 $((procs - 1))); do
  p=$((port + i))
  if [ "$i" -gt 0 ] && curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; then
    echo "something already answers on port $p: set BENCH_PORT" >&2; exit 1
  fi
  LOYALTY_HTTP_ADDR=127.0.0.1:$p LOYALTY_DATA_DIR=$data/$i ./bin/loyaltyd >>"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  # The first one creates the schema; the others start once it is ready.
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "loyaltyd exited:" >&2; tail -20 "$log" >&2; exit 1; fi
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null || { echo "loyaltyd on $p not ready after 30s:" >&2; tail -20 "$log" >&2; exit 1; }
  urls+=("http://127.0.0.1:$p")
done

./bin/loyaltyctl bench http --url "$(IFS=,; echo "${urls[*]}")" "${redis_args[@]}" "$@"
