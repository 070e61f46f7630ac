#!/usr/bin/env bash
# Chaos suite: faults injected one at a time under a steady client load, each scored from
# PostgreSQL (the source of truth). See docs/CHAOS.md.
#
#   scripts/chaos.sh                              every scenario (7½-10½ min), table in bench/results/chaos-<date>.md
#   DF_CHAOS_ONLY=redis-flushall scripts/chaos.sh one scenario (a comma-separated list works too)
#   DF_CHAOS_SKIP=sandbox-down-60s scripts/chaos.sh
#
# Everything runs privately on 127.0.0.1: its own PostgreSQL (initdb in a temp dir) and Redis,
# the sandbox, two APIs, two workers (release binaries, built here) and a webhook receiver, on
# ports $DF_CHAOS_PORT_BASE+ (default 28000..28099), under a temp dir removed on exit with every
# process it started (also on failure or Ctrl-C). The shared PostgreSQL/Redis are never touched.
#
# Load per scenario (scripts/chaos/driver.py load): $DF_CHAOS_RATE (100) single validations/s of
# distinct products (every 50th is a cached product, every 10th carries a webhook_url) plus a
# batch of 10 distinct products every 2 s, round-robin over both APIs, for $DF_CHAOS_PHASE_SECS
# (24) s; the fault starts $DF_CHAOS_FAULT_AT (5) s in. Then the driver waits (at most
# $DF_CHAOS_DRAIN_SECS, 90 s) for every job to end and counts. Exit 1 when a scenario loses,
# duplicates or strands a job, misses a webhook event, gets an answer other than 2xx/429/503, or
# when a worker process no longer takes validation jobs afterwards (the probe, docs/CHAOS.md).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

SCENARIOS=(worker-kill9 worker-sigterm redis-restart-nopersist redis-restart-aof redis-flushall redis-pause
  pg-restart pg-down pg-terminate sandbox-down-20s sandbox-down-60s backlog-2000)
B="${DF_CHAOS_PORT_BASE:-28000}"
PHASE="${DF_CHAOS_PHASE_SECS:-24}"
FAULT_AT="${DF_CHAOS_FAULT_AT:-5}"
RATE="${DF_CHAOS_RATE:-100}"
DRAIN="${DF_CHAOS_DRAIN_SECS:-90}"
SANDBOX_LATENCY="${DF_CHAOS_SANDBOX_LATENCY:-1.0}"
BIN="$DF_ROOT/target/release"
DRIVER="$DF_ROOT/scripts/chaos/driver.py"
PG_PORT=$((B + 32)) REDIS_PORT=$((B + 79)) SANDBOX_PORT=$((B + 89)) HOOK_PORT=$((B + 90))
API1_PORT=$((B + 71)) API2_PORT=$((B + 72)) API1_M=$((B + 64)) API2_M=$((B + 66)) W1_M=$((B + 65)) W2_M=$((B + 67))
ALL_PORTS=("$PG_PORT" "$REDIS_PORT" "$SANDBOX_PORT" "$HOOK_PORT" "$API1_PORT" "$API2_PORT" "$API1_M" "$API2_M" "$W1_M" "$W2_M")

selected=()
IFS=',' read -r -a only <<<"${DF_CHAOS_ONLY:-}"
IFS=',' read -r -a skip <<<"${DF_CHAOS_SKIP:-}"
for s in "${only[@]}" "${skip[@]}"; do
  [[ " ${SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario '$s'; known: ${SCENARIOS[*]}"
done
for s in "${SCENARIOS[@]}"; do
  if ((${#only[@]})) && [[ " ${only[*]} " != *" $s "* ]]; then continue; fi
  if ((${#skip[@]})) && [[ " ${skip[*]} " == *" $s "* ]]; then continue; fi
  selected+=("$s")
done
((${#selected[@]})) || die "no scenario selected"

# ---------------------------------------------------------------- cleanup (always)
DIR=""
LOAD_PID=""
HOOK_PID=""
cleanup() {
  local rc=$?
  set +e
  [[ -n "$DIR" ]] || exit "$rc"
  log "cleaning up every process this run started, then $DIR"
  [[ -n "$LOAD_PID" ]] && kill -TERM "$LOAD_PID" 2>/dev/null
  [[ -n "$HOOK_PID" ]] && kill -TERM "$HOOK_PID" 2>/dev/null
  local n p
  for n in api1 api2 worker1 worker2 sandbox; do stop_pidfile "$DIR/run/$n.pid" "dropforge-" 15; done
  p="$(private_redis_pid "$DIR/redis")"
  [[ -n "$p" ]] && kill -CONT "$p" 2>/dev/null   # a SIGSTOPped Redis cannot act on SIGTERM
  stop_private_redis "$DIR/redis"
  stop_private_postgres "$DIR/pg"
  if ((rc != 0)) && [[ -n "${RESULTS_LOGS:-}" ]]; then
    mkdir -p "$RESULTS_LOGS"
    for f in "$DIR"/run/*.log "$DIR"/pg/postgres.log "$DIR"/redis/redis.log "$DIR"/r/*.marks "$DIR"/r/*.row.json \
      "$DIR"/r/hooks.jsonl; do
      [[ -f "$f" ]] && tail -n 3000 "$f" >"$RESULTS_LOGS/$(basename "$f")"
    done
    log "logs of the failed run kept in $RESULTS_LOGS"
  fi
  if [[ -n "${DF_CHAOS_KEEP:-}" ]]; then log "DF_CHAOS_KEEP: leaving $DIR"; else rm -rf "$DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
ensure_packages ss:iproute2
ensure_rust
log "building release binaries (cargo build --release --bins)"
cargo build --release --bins 2>&1 | tail -n 3 >&2
for p in "${ALL_PORTS[@]}"; do
  # a listener, or a live client socket holding the port (TIME-WAIT does not stop a bind: SO_REUSEADDR)
  if port_open 127.0.0.1 "$p" || ss -Htan exclude time-wait "( sport = :$p )" | grep -q .; then
    die "port $p is in use (set DF_CHAOS_PORT_BASE to move the whole range)"
  fi
done
DIR="$(mktemp -d "${TMPDIR:-/tmp}/dfchaos.XXXXXX")"
chmod 755 "$DIR"   # the private PostgreSQL runs as user postgres and must traverse it
mkdir -p "$DIR/run" "$DIR/r"
R="$DIR/r"
STAMP="$(date -u +%F)"
SUFFIX=""
((${#only[@]})) && SUFFIX="-$(IFS=-; echo "${only[*]}")"
RESULTS_MD="$DF_ROOT/bench/results/chaos-$STAMP$SUFFIX.md"
RESULTS_LOGS="$DF_ROOT/bench/results/chaos-$STAMP$SUFFIX-logs"
RESULTS_JSON="$DF_ROOT/bench/results/chaos-$STAMP$SUFFIX.json"
mkdir -p "$DF_ROOT/bench/results"
T_START=$SECONDS

# ---------------------------------------------------------------- PostgreSQL, Redis
PG_DIR="$DIR/pg"
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/dropforge"
start_private_postgres "$PG_DIR" "$PG_PORT"
ensure_database "$PG_URL"
REDIS_OPTS=(--save "" --appendonly no)
start_private_redis "$DIR/redis" "$REDIS_PORT" "${REDIS_OPTS[@]}"
REDIS_URL_P="redis://127.0.0.1:$REDIS_PORT"
rcli() { timeout 5 redis-cli -p "$REDIS_PORT" "$@"; }
psql_q() { PGCONNECT_TIMEOUT=3 timeout 20 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
PG_BINDIR="$(_df_pg_bindir)"
pg_ctl_() { _df_pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DIR/pgdata" "$@"; }

# ---------------------------------------------------------------- the apps
APP_ENV=(PATH="$PATH" HOME="$HOME" DF_ENV=development DF_LOG_FORMAT=json RUST_LOG=info
  REDIS_URL="$REDIS_URL_P" DF_REDIS_PREFIX=dfchaos
  DF_ALIEXPRESS_BASE_URL="http://127.0.0.1:$SANDBOX_PORT" DF_META_GRAPH_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"
  DF_YOUTUBE_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"
  DF_RATE_LIMIT_IP=1000000/60 DF_RATE_LIMIT_KEY=1000000/60 DF_RATE_LIMIT_REPLICAS=2
  DF_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32 DF_WORKER_SHUTDOWN_SECS=10)
log "migrating"
env -i "${APP_ENV[@]}" DATABASE_URL="$PG_URL" "$BIN/dropforge-api" migrate >"$DIR/run/migrate.log" 2>&1 \
  || { cat "$DIR/run/migrate.log" >&2; die "migrate failed"; }

start_proc() { # start_proc NAME HEALTH_URL BINARY [VAR=VALUE...]
  local name="$1" url="$2" exe="$3" pid rc=0; shift 3
  setsid nohup env -i "${APP_ENV[@]}" "$@" "$exe" >>"$DIR/run/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$DIR/run/$name.pid"
  wait_http "$url" 60 "$pid" || rc=$?
  ((rc == 0)) || { tail -n 30 "$DIR/run/$name.log" >&2; die "$name did not start"; }
  log "$name up (pid $pid)"
}
start_sandbox() {
  start_proc sandbox "http://127.0.0.1:$SANDBOX_PORT/__sandbox/health" "$BIN/dropforge-sandbox" \
    DF_SANDBOX_LISTEN="127.0.0.1:$SANDBOX_PORT" DF_SANDBOX_LATENCY_SCALE="$SANDBOX_LATENCY"
}
start_worker() { # start_worker 1|2
  local m="W$1_M"
  start_proc "worker$1" "http://127.0.0.1:${!m}/health" "$BIN/dropforge-worker" \
    DATABASE_URL="$PG_URL?application_name=dfchaos-worker" DF_WORKER_METRICS_LISTEN="127.0.0.1:${!m}" \
    DF_WORKER_CONCURRENCY=128 DF_DB_MAX_CONNECTIONS=10
}
start_api() { # start_api 1|2
  local port="API$1_PORT" m="API$1_M"
  start_proc "api$1" "http://127.0.0.1:${!port}/ready" "$BIN/dropforge-api" \
    DATABASE_URL="$PG_URL?application_name=dfchaos-api" DF_API_LISTEN="127.0.0.1:${!port}" \
    DF_API_METRICS_LISTEN="127.0.0.1:${!m}" DF_DB_MAX_CONNECTIONS=10
}
pidof_() { tr -dc '0-9' <"$DIR/run/$1.pid"; }
# reap NAME: wait for the process (our child) to exit; its exit status in REAPED
REAPED=""
reap() { REAPED=0; wait "$(pidof_ "$1")" 2>/dev/null || REAPED=$?; }

start_sandbox
start_worker 1
start_worker 2
start_api 1
start_api 2

out="$(env -i "${APP_ENV[@]}" DATABASE_URL="$PG_URL" "$BIN/dropforge-api" keys create --tenant chaos 2>>"$DIR/run/keys.log")"
KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
WHSEC="$(sed -n 's/^[[:space:]]*webhook_secret:[[:space:]]*//p' <<<"$out" | head -n 1)"
[[ -n "$KEY" && -n "$WHSEC" ]] || die "keys create failed: $out"
TENANT="$(psql_q "select id from tenants where name = 'chaos'")"

python3 "$DRIVER" receiver --port "$HOOK_PORT" --secret "$WHSEC" --out "$R/hooks.jsonl" >"$DIR/run/receiver.log" 2>&1 &
HOOK_PID=$!
deadline=$((SECONDS + 10))
until port_open 127.0.0.1 "$HOOK_PORT"; do ((SECONDS < deadline)) || die "webhook receiver did not start"; sleep 0.1; done

code="$(curl -s -m 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Prefer: wait=10' \
  -H 'Content-Type: application/json' -d '{"product":{"source":"aliexpress","id":"1005000000000001"}}' \
  "http://127.0.0.1:$API1_PORT/v1/validations")"
[[ "$code" == 200 ]] || die "smoke validation answered $code"
log "stack up in $((SECONDS - T_START)) s (PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, APIs :$API1_PORT :$API2_PORT, 2 workers, sandbox :$SANDBOX_PORT)"

# ---------------------------------------------------------------- fault helpers
MARKS=""
mark() { echo "$1 $(date +%s.%N)" >>"$MARKS"; }
note() { echo "note $*" >>"$MARKS"; log "  $*"; }
running_jobs() { psql_q "select count(*) from jobs where status = 'running'" 2>/dev/null || echo '?'; }
redis_restart() { # redis_restart DOWN_SECS: SIGKILL Redis, restart it DOWN_SECS later with REDIS_OPTS
  local p before after
  p="$(private_redis_pid "$DIR/redis")"
  before="$(rcli dbsize)"
  mark begin
  kill -KILL "$p"
  while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
  sleep "$1"
  rm -f "$DIR/redis/redis.pid"
  start_private_redis "$DIR/redis" "$REDIS_PORT" "${REDIS_OPTS[@]}"
  mark end
  after="$(rcli dbsize)"
  note "Redis SIGKILLed, restarted $1 s later: $before keys before, $after after"
}

fault_worker_kill9() {
  local n; n="$(running_jobs)"
  mark begin
  kill -KILL "$(pidof_ worker1)"
  reap worker1
  note "worker1 SIGKILLed (exit $REAPED) with $n jobs running in all; restarted 5 s later"
  sleep 5
  start_worker 1
  mark end
}
fault_worker_sigterm() {
  local t0 n; n="$(running_jobs)"
  mark begin
  t0="$(date +%s%N)"
  kill -TERM "$(pidof_ worker1)"
  reap worker1
  note "worker1 SIGTERM with $n jobs running in all: drained and exited with status $REAPED after $((($(date +%s%N) - t0) / 1000000)) ms; restarted"
  start_worker 1
  mark end
}
fault_redis_restart_nopersist() { REDIS_OPTS=(--save "" --appendonly no); redis_restart 3; }
pre_redis_restart_aof() {
  REDIS_OPTS=(--save "" --appendonly yes --appendfsync everysec)
  rcli config set appendonly yes >/dev/null
  local deadline=$((SECONDS + 30))
  until rcli info persistence | tr -d '\r' | grep -q '^aof_rewrite_in_progress:0' \
    && rcli info persistence | tr -d '\r' | grep -q '^aof_enabled:1'; do
    ((SECONDS < deadline)) || die "Redis AOF did not turn on"; sleep 0.2
  done
}
fault_redis_restart_aof() { redis_restart 3; }
fault_redis_flushall() {
  local before; before="$(rcli dbsize)"
  mark begin
  rcli flushall >/dev/null
  mark end
  note "FLUSHALL removed $before keys"
}
fault_redis_pause() {
  local p; p="$(private_redis_pid "$DIR/redis")"
  mark begin
  kill -STOP "$p"
  sleep 10
  kill -CONT "$p"
  mark end
  note "Redis SIGSTOPped for 10 s, then SIGCONT"
}
fault_pg_restart() {
  local t0=$SECONDS
  mark begin
  pg_ctl_ restart -m fast -w -t 60 >/dev/null
  mark end
  note "pg_ctl restart -m fast took $((SECONDS - t0)) s"
}
fault_pg_down() {
  mark begin
  pg_ctl_ stop -m fast -w -t 60 >/dev/null
  sleep 10
  start_private_postgres "$PG_DIR" "$PG_PORT"
  mark end
  note "PostgreSQL stopped (-m fast), started again 10 s later"
}
fault_pg_terminate() {
  local total
  mark begin
  # one psql session, one statement every 200 ms for 10 s (a psql per round would stretch it)
  total="$(for _ in $(seq 50); do
      echo "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
            where application_name = 'dfchaos-api' and pid <> pg_backend_pid();"
      sleep 0.2
    done | PGCONNECT_TIMEOUT=3 timeout 30 psql "$PG_URL" -XAtq 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')"
  mark end
  note "pg_terminate_backend of the APIs' connections every 200 ms for 10 s: $total terminated"
}
sandbox_down() {
  mark begin
  kill -KILL "$(pidof_ sandbox)"
  reap sandbox
  sleep "$1"
  start_sandbox
  mark end
  note "sandbox SIGKILLed, restarted $1 s later"
}
fault_sandbox_down_20s() { sandbox_down 20; }
fault_sandbox_down_60s() { sandbox_down 60; }

declare -A DESC=(
  [worker-kill9]="SIGKILL worker1 under load, restart it 5 s later"
  [worker-sigterm]="SIGTERM worker1 (graceful drain), restart it"
  [redis-restart-nopersist]="Redis SIGKILLed, restarted 3 s later without persistence (all data lost)"
  [redis-restart-aof]="Redis SIGKILLed, restarted 3 s later from its AOF (everysec)"
  [redis-flushall]="Redis FLUSHALL"
  [redis-pause]="Redis SIGSTOP for 10 s"
  [pg-restart]="PostgreSQL pg_ctl restart -m fast"
  [pg-down]="PostgreSQL stopped for 10 s"
  [pg-terminate]="pg_terminate_backend of the APIs' connections every 200 ms for 10 s"
  [sandbox-down-20s]="sandbox (all three upstreams) down 20 s"
  [sandbox-down-60s]="sandbox (all three upstreams) down 60 s"
  [backlog-2000]="both workers stopped, 2,000 validations queued, workers restarted"
)

# ---------------------------------------------------------------- scenarios
APIS="http://127.0.0.1:$API1_PORT,http://127.0.0.1:$API2_PORT"
HOOK_URL="http://127.0.0.1:$HOOK_PORT/hook"
ROWS=()
account() { # account NAME
  python3 "$DRIVER" account --name "$1" --load "$R/$1.load.json" --marks "$MARKS" --psql-url "$PG_URL" \
    --tenant "$TENANT" --hooks "$R/hooks.jsonl" --drain-secs "$DRAIN" --out "$R/$1.row.json" --api "$APIS" --key "$KEY" \
    || warn "accounting of $1 failed"
  ROWS+=("$R/$1.row.json")
}
# quiesce: before a scenario, wait (at most 60 s) until no job of the tenant is open, so one
# scenario's leftovers do not blur the next one's figures; say so in the notes when they remain
quiesce() {
  local open deadline=$((SECONDS + 60))
  while open="$(psql_q "select count(*) from jobs where tenant_id = '$TENANT' and status in ('queued','scheduled','running')" 2>/dev/null)" \
    && [[ "$open" != 0 ]] && ((SECONDS < deadline)); do
    sleep 1
  done
  [[ "${open:-?}" == 0 ]] || note "started with ${open:-?} jobs of earlier scenarios still open"
}
# worker_done N: validations worker N has finished (its own counter, since its last start)
worker_done() {
  local m="W$1_M"
  curl -s -m 3 "http://127.0.0.1:${!m}/metrics" 2>/dev/null | grep '^dropforge_jobs_finished_total{' \
    | grep 'kind="validation"' | grep 'outcome="succeeded"' | awk '{ n += $NF } END { print n + 0 }'
}
# probe NAME TAG: after the drain, 100 fresh validations must be taken by BOTH worker processes
# (a worker whose validation consumer died while its other kinds live on looks healthy otherwise)
probe() {
  local name="$1" tag="$2" b1 b2 d1=0 d2=0 deadline
  b1="$(worker_done 1)"; b2="$(worker_done 2)"
  python3 "$DRIVER" load --api "$APIS" --key "$KEY" --tag "$tag" --rate 50 --count 100 --batch-every 0 \
    --webhook-every 0 --retry-503 0 --out "$R/$name.probe.json" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    d1=$(($(worker_done 1) - b1)); d2=$(($(worker_done 2) - b2))
    ((d1 + d2 >= 98)) && break   # every 50th probe product is the cached one
    sleep 0.5
  done
  if ((d1 > 0 && d2 > 0)); then
    python3 "$DRIVER" amend --row "$R/$name.row.json" --note "probe after the drain: worker1 ran $d1, worker2 $d2 of 98 fresh validations" || warn "no row to amend"
  else
    python3 "$DRIVER" amend --row "$R/$name.row.json" \
      --failure "probe: a worker takes no validation jobs any more (worker1 ran $d1, worker2 $d2 of 98 in 30 s)" || warn "no row to amend"
  fi
  log "  probe: worker1 ran $d1, worker2 $d2 of 98 fresh validations"
}
run_scenario() { # run_scenario INDEX NAME
  local tag="$1" name="$2" t0=$SECONDS
  MARKS="$R/$name.marks"
  echo "desc ${DESC[$name]}" >"$MARKS"
  quiesce
  log "scenario $name: ${DESC[$name]} (load ${PHASE} s at $RATE/s, fault at ${FAULT_AT} s)"
  if declare -F "pre_${name//-/_}" >/dev/null; then "pre_${name//-/_}"; fi
  python3 "$DRIVER" load --api "$APIS" --key "$KEY" --tag "$tag" --duration "$PHASE" --rate "$RATE" \
    --batch-every 2 --batch-size 10 --webhook-url "$HOOK_URL/$name" --webhook-every 10 --out "$R/$name.load.json" &
  LOAD_PID=$!
  sleep "$FAULT_AT"
  "fault_${name//-/_}"
  wait "$LOAD_PID" || warn "load of $name exited non-zero"
  LOAD_PID=""
  account "$name"
  probe "$name" $((tag + 50))
  log "scenario $name done in $((SECONDS - t0)) s"
}
run_backlog() { # run_backlog INDEX
  local tag="$1" name=backlog-2000 t0=$SECONDS rc1 n
  MARKS="$R/$name.marks"
  echo "desc ${DESC[$name]}" >"$MARKS"
  quiesce
  log "scenario $name: ${DESC[$name]}"
  mark begin
  kill -TERM "$(pidof_ worker1)" "$(pidof_ worker2)"
  reap worker1; rc1=$REAPED
  reap worker2
  note "both workers SIGTERMed (exit $rc1, $REAPED)"
  python3 "$DRIVER" load --api "$APIS" --key "$KEY" --tag "$tag" --rate 150 --count 1530 \
    --batch-every 1 --batch-size 50 --batches 10 --webhook-url "$HOOK_URL/$name" --webhook-every 10 \
    --out "$R/$name.load.json" &
  LOAD_PID=$!
  wait "$LOAD_PID" || warn "load of $name exited non-zero"
  LOAD_PID=""
  n="$(psql_q "select count(*) from jobs where status = 'queued' and kind = 'validation'")"
  start_worker 1
  start_worker 2
  mark end
  note "$n validation jobs queued when the workers came back"
  account "$name"
  probe "$name" $((tag + 50))
  log "scenario $name done in $((SECONDS - t0)) s"
}

i=10
for s in "${selected[@]}"; do
  i=$((i + 1))
  if [[ "$s" == backlog-2000 ]]; then run_backlog "$i"; else run_scenario "$i" "$s"; fi
done

# ---------------------------------------------------------------- results
WALL=$((SECONDS - T_START))
ERRS="$(for n in api1 api2 worker1 worker2; do printf '%s: %s, ' "$n" "$(grep -c '"level":"ERROR"' "$DIR/run/$n.log" || true)"; done)"
rc=0
{
  echo "## Chaos suite, $(date -u +%Y-%m-%dT%H:%MZ) (scripts/chaos.sh, $WALL s, commit $(git -C "$DF_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "Load per scenario: $RATE single validations/s of distinct products (every 50th cached, every 10th with a"
  echo "webhook; a 503 is retried once after its Retry-After) + a batch of 10 every 2 s over two APIs for $PHASE s,"
  echo "fault at $FAULT_AT s; two workers, one private PostgreSQL, one private Redis (queue and cache), the sandbox"
  echo "at latency scale $SANDBOX_LATENCY."
  echo
} >"$R/head.md"
python3 "$DRIVER" table --out "$R/table.md" "${ROWS[@]}" >/dev/null || rc=1
python3 -c 'import json, sys; json.dump([json.load(open(p)) for p in sys.argv[2:]], open(sys.argv[1], "w"), indent=1)' \
  "$RESULTS_JSON" "${ROWS[@]}" || true
{
  cat "$R/head.md" "$R/table.md"
  echo
  echo "ERROR log lines: ${ERRS%, }."
} >"$RESULTS_MD"
echo
cat "$RESULTS_MD"
echo
if ((rc)); then
  log "FAILED: at least one scenario lost, duplicated or stranded a job, or got an answer other than 2xx/429/503 ($RESULTS_MD)"
  exit 1
fi
log "all scenarios passed in $WALL s ($RESULTS_MD)"
