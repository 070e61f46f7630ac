#!/usr/bin/env bash
# Scale-out test on ONE machine, loopback only: the multi-machine topology of docs/DEPLOY.md with
# Debian's own packages, then faults under a bounded load.
#
#   PostgreSQL (private initdb) <- PgBouncer 1.18 (SESSION mode)
#   Redis primary + replica (AOF everysec) + 3 Sentinels <- HAProxy (routes to role:master)
#   sandbox, 2 workers, 2 APIs (target/release) -> nginx (deploy/nginx/nginx.conf) <- load client
#
#   scripts/scaleout-test.sh        ~5 minutes; prints a markdown table; exit 1 on a failed expectation
#
# Scenarios (each load: POST /v1/validations of distinct products with `Prefer: wait=10` from
# deploy/scaleout/loadgen.py, $DF_SCALEOUT_CONCURRENCY clients for $DF_SCALEOUT_DURATION s, fault
# at 6 s):
#   a   the per-IP limit (DF_RATE_LIMIT_IP=20/600) holds across both APIs behind nginx, and a
#       forged X-Forwarded-For changes nothing (nginx replaces it; the API ignores it from
#       untrusted peers)
#   b1  SIGTERM one API (graceful drain)         b2  SIGKILL one API (crash)
#   c   SIGKILL the Redis primary: Sentinel promotes the replica, HAProxy and the apps follow
#   d   restart PgBouncer (down ~3 s): 503s, then recovery
# For each: client errors by status, jobs lost (accepted, not succeeded in PostgreSQL after a
# settle time), duplicated results, recovery time.
#
# Everything it starts runs from $DF_SCALEOUT_DIR (default .data/scaleout) on ports
# $DF_SCALEOUT_PORT_BASE+ (default 27000..27099) and is stopped on exit, also on failure.
# It never touches the shared PostgreSQL/Redis. Needs root or sudo for apt-get only; PostgreSQL
# and PgBouncer run as the `postgres` user.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

DIR="${DF_SCALEOUT_DIR:-$DF_DATA_DIR/scaleout}"
# below the kernel's ephemeral range (32768-60999): a client socket can hold any port inside it
B="${DF_SCALEOUT_PORT_BASE:-27000}"
DURATION="${DF_SCALEOUT_DURATION:-20}"
CONC="${DF_SCALEOUT_CONCURRENCY:-12}"
IP_LIMIT=20
BIN="$DF_ROOT/target/release"
LOADGEN="$DF_ROOT/deploy/scaleout/loadgen.py"
TPL="$DF_ROOT/deploy/scaleout"

PG_PORT=$((B + 32)) PGB_PORT=$((B + 33))
R1_PORT=$((B + 79)) R2_PORT=$((B + 80)) S1_PORT=$((B + 81)) S2_PORT=$((B + 82)) S3_PORT=$((B + 83)) HA_PORT=$((B + 90))
SANDBOX_PORT=$((B + 89)) NGINX_PORT=$((B + 70))
API1_PORT=$((B + 71)) API2_PORT=$((B + 72)) API1_M=$((B + 64)) API2_M=$((B + 66))
W1_M=$((B + 65)) W2_M=$((B + 67))
ALL_PORTS=("$PG_PORT" "$PGB_PORT" "$R1_PORT" "$R2_PORT" "$S1_PORT" "$S2_PORT" "$S3_PORT" "$HA_PORT" "$SANDBOX_PORT"
  "$NGINX_PORT" "$API1_PORT" "$API2_PORT" "$API1_M" "$API2_M" "$W1_M" "$W2_M")
PG_DIRECT="postgres://postgres@127.0.0.1:$PG_PORT/dropforge"
PG_POOLED="postgres://postgres@127.0.0.1:$PGB_PORT/dropforge"
REDIS_STABLE="redis://127.0.0.1:$HA_PORT"
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
FAILED=()
expect() { # expect DESCRIPTION CONDITION-EXIT-STATUS
  if [[ "$2" == 0 ]]; then log "expectation met: $1"; else warn "EXPECTATION FAILED: $1"; FAILED+=("$1"); fi
}

# ---------------------------------------------------------------- cleanup (always)
STARTED=0
cleanup() {
  local rc=$?
  ((STARTED)) || exit "$rc"
  set +e
  log "cleaning up everything this run started (logs stay in $DIR)"
  stop_pidfile "$DIR/nginx/nginx.pid" "nginx: master" 10
  local n
  for n in api1 api2; do stop_pidfile "$DIR/run/$n.pid" dropforge-api 15; done
  for n in worker1 worker2; do stop_pidfile "$DIR/run/$n.pid" dropforge-worker 20; done
  stop_pidfile "$DIR/run/sandbox.pid" dropforge-sandbox 10
  stop_pidfile "$DIR/haproxy/haproxy.pid" haproxy 10
  for n in 1 2 3; do stop_pidfile "$DIR/sentinel$n/sentinel.pid" sentinel 10; done
  stop_private_redis "$DIR/redis1"
  stop_private_redis "$DIR/redis2"
  stop_pidfile "$DIR/pgbouncer/pgbouncer.pid" pgbouncer 10
  stop_private_postgres "$DIR/postgres"
  log "cleanup done"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
ensure_packages nginx:nginx pgbouncer:pgbouncer redis-sentinel:redis-sentinel haproxy:haproxy
for b in dropforge-api dropforge-worker dropforge-sandbox; do
  if [[ ! -x "$BIN/$b" ]]; then
    ensure_rust
    log "building release binaries (cargo build --release --bins)"
    cargo build --release --bins
    break
  fi
done
for p in "${ALL_PORTS[@]}"; do
  # any socket on the port (a listener, or a client connection that holds it as its local port)
  if port_open 127.0.0.1 "$p" || ss -Htan state all "( sport = :$p )" | grep -q .; then
    die "port $p is in use (set DF_SCALEOUT_PORT_BASE to move the whole range)"
  fi
done
if [[ -d "$DIR" ]]; then
  # a previous run's leftovers must not be running
  for f in "$DIR"/run/*.pid "$DIR"/*/*.pid "$DIR"/postgres/pgdata/postmaster.pid; do
    [[ -f "$f" ]] || continue
    pid="$(head -n 1 "$f" | tr -dc '0-9')"
    [[ -n "$pid" ]] && pid_alive "$pid" && die "a previous run is still running (pid $pid from $f); stop it first"
  done
  rm -rf "$DIR"
fi
mkdir -p "$DIR/run" "$DIR/results"
STARTED=1
T_START=$SECONDS

# ---------------------------------------------------------------- PostgreSQL + PgBouncer
start_private_postgres "$DIR/postgres" "$PG_PORT"
log "migrating (directly, not through the pooler)"
env -i PATH="$PATH" DATABASE_URL="$PG_DIRECT" "$BIN/dropforge-api" migrate >"$DIR/run/migrate.log" 2>&1 \
  || { cat "$DIR/run/migrate.log"; die "migrate failed"; }

mkdir -p "$DIR/pgbouncer"
sed -e "s#@PG_PORT@#$PG_PORT#g" -e "s#@PORT@#$PGB_PORT#g" -e "s#@DIR@#$DIR/pgbouncer#g" "$TPL/pgbouncer.ini" >"$DIR/pgbouncer/pgbouncer.ini"
printf '"postgres" ""\n' >"$DIR/pgbouncer/userlist.txt"
chown -R postgres: "$DIR/pgbouncer"
start_pgbouncer() {
  _df_pg_run pgbouncer -d "$DIR/pgbouncer/pgbouncer.ini" >>"$DIR/pgbouncer/start.log" 2>&1 || return 1
  local deadline=$((SECONDS + 15))
  until pg_ready "$PG_POOLED"; do ((SECONDS < deadline)) || return 1; sleep 0.1; done
}
log "starting PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}') (session mode) on $PGB_PORT"
start_pgbouncer || { tail -n 20 "$DIR/pgbouncer/pgbouncer.log"; die "PgBouncer did not start"; }

# ---------------------------------------------------------------- Redis primary/replica + Sentinels + HAProxy
start_private_redis "$DIR/redis1" "$R1_PORT" --appendonly yes --appendfsync everysec --save ""
start_private_redis "$DIR/redis2" "$R2_PORT" --appendonly yes --appendfsync everysec --save "" --replicaof 127.0.0.1 "$R1_PORT"
for n in 1 2 3; do
  d="$DIR/sentinel$n"; mkdir -p "$d"
  port_var="S${n}_PORT"
  sed -e "s#@PORT@#${!port_var}#g" -e "s#@DIR@#$d#g" -e "s#@PRIMARY_PORT@#$R1_PORT#g" "$TPL/sentinel.conf" >"$d/sentinel.conf"
  redis-sentinel "$d/sentinel.conf" || die "sentinel $n did not start"
done
mkdir -p "$DIR/haproxy"
sed -e "s#@PIDFILE@#$DIR/haproxy/haproxy.pid#" -e "s#@STATS_SOCKET@#$DIR/haproxy/stats.sock#" \
  -e "s#@BIND@#127.0.0.1:$HA_PORT#" -e "s#@REDIS1@#127.0.0.1:$R1_PORT#" -e "s#@REDIS2@#127.0.0.1:$R2_PORT#" \
  "$TPL/haproxy-redis.cfg" >"$DIR/haproxy/haproxy.cfg"
haproxy -c -f "$DIR/haproxy/haproxy.cfg" >/dev/null || die "haproxy config invalid"
haproxy -D -f "$DIR/haproxy/haproxy.cfg" || die "haproxy did not start"   # pidfile: in the config
redis_port_via_haproxy() { timeout 2 redis-cli -p "$HA_PORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^tcp_port://p'; }
deadline=$((SECONDS + 30))
until [[ "$(redis_port_via_haproxy)" == "$R1_PORT" ]]; do ((SECONDS < deadline)) || die "HAProxy does not route to the primary"; sleep 0.2; done
deadline=$((SECONDS + 30))
until [[ "$(timeout 2 redis-cli -p "$S1_PORT" sentinel ckquorum dfqueue 2>/dev/null)" == *"OK 3 usable"* ]] \
  && [[ "$(timeout 2 redis-cli -p "$R2_PORT" info replication | tr -d '\r' | sed -n 's/^master_link_status://p')" == up ]]; do
  ((SECONDS < deadline)) || die "Sentinels/replica not ready"; sleep 0.5
done
log "Redis: primary $R1_PORT, replica $R2_PORT in sync, 3 sentinels (quorum 2), HAProxy $HA_PORT -> primary"

# ---------------------------------------------------------------- the apps
APP_ENV=(PATH="$PATH" HOME="$HOME" DF_ENV=development DF_LOG_FORMAT=json
  DATABASE_URL="$PG_POOLED" REDIS_URL="$REDIS_STABLE" DF_REDIS_PREFIX=dfso
  DF_ALIEXPRESS_BASE_URL="http://127.0.0.1:$SANDBOX_PORT" DF_META_GRAPH_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"
  DF_YOUTUBE_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"
  DF_RATE_LIMIT_IP="$IP_LIMIT/600" DF_RATE_LIMIT_KEY=1000000/60 DF_RATE_LIMIT_REPLICAS=2 DF_TRUSTED_PROXIES=127.0.0.1/32
  DF_WORKER_SHUTDOWN_SECS=10)
start_proc() { # start_proc NAME HEALTH_URL BINARY [VAR=VALUE...]
  local name="$1" url="$2" exe="$3" pid rc=0; shift 3
  setsid nohup env -i "${APP_ENV[@]}" "$@" "$exe" >>"$DIR/run/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$DIR/run/$name.pid"
  wait_http "$url" 60 "$pid" || rc=$?
  ((rc == 0)) || { tail -n 30 "$DIR/run/$name.log" >&2; die "$name did not start"; }
  log "$name up (pid $pid)"
}
start_api() { # start_api 1|2
  local port_var="API$1_PORT" m_var="API$1_M"
  start_proc "api$1" "http://127.0.0.1:${!port_var}/ready" "$BIN/dropforge-api" \
    DF_API_LISTEN="127.0.0.1:${!port_var}" DF_API_METRICS_LISTEN="127.0.0.1:${!m_var}" DF_DB_MAX_CONNECTIONS=10
}
start_proc sandbox "http://127.0.0.1:$SANDBOX_PORT/__sandbox/health" "$BIN/dropforge-sandbox" \
  DF_SANDBOX_LISTEN="127.0.0.1:$SANDBOX_PORT" DF_SANDBOX_LATENCY_SCALE=0.3
start_proc worker1 "http://127.0.0.1:$W1_M/health" "$BIN/dropforge-worker" DF_WORKER_METRICS_LISTEN="127.0.0.1:$W1_M" \
  DF_WORKER_CONCURRENCY=64 DF_DB_MAX_CONNECTIONS=8
start_proc worker2 "http://127.0.0.1:$W2_M/health" "$BIN/dropforge-worker" DF_WORKER_METRICS_LISTEN="127.0.0.1:$W2_M" \
  DF_WORKER_CONCURRENCY=64 DF_DB_MAX_CONNECTIONS=8
start_api 1
start_api 2

# ---------------------------------------------------------------- nginx (the real file, addresses substituted)
mkdir -p "$DIR/nginx/logs" "$DIR/nginx/tmp"
sed -e "s#^pid /run/nginx-dropforge.pid;#pid $DIR/nginx/nginx.pid;#" \
  -e "s#/var/log/nginx/dropforge-#$DIR/nginx/logs/#g" \
  -e "s#/var/lib/nginx/#$DIR/nginx/tmp/#g" \
  -e "s#server 127.0.0.1:8081 #server 127.0.0.1:$API1_PORT #" \
  -e "s#server 127.0.0.1:8082 #server 127.0.0.1:$API2_PORT #" \
  -e "s#listen 80 #listen 127.0.0.1:$NGINX_PORT #" \
  deploy/nginx/nginx.conf >"$DIR/nginx/nginx.conf"
if grep -nE '/run/nginx-dropforge|/var/log/nginx|/var/lib/nginx|127\.0\.0\.1:808[12] |listen 80 ' "$DIR/nginx/nginx.conf"; then
  die "deploy/nginx/nginx.conf changed shape: the substitutions above no longer apply"
fi
if [[ $EUID -eq 0 ]]; then chown -R www-data: "$DIR/nginx/tmp"; else sed -i '/^user /d' "$DIR/nginx/nginx.conf"; fi
nginx -t -q -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" || die "nginx -t failed"
nginx -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" || die "nginx did not start"
wait_http "$NGINX_URL/ready" 20 || die "nginx does not reach the APIs"
log "nginx $NGINX_URL -> api1 :$API1_PORT, api2 :$API2_PORT"

out="$(env -i "${APP_ENV[@]}" "$BIN/dropforge-api" keys create --tenant scaleout 2>>"$DIR/run/keys.log")"
KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
[[ -n "$KEY" ]] || die "keys create failed"
code="$(curl -s -m 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Prefer: wait=10' \
  -H 'Content-Type: application/json' -d '{"product":{"source":"aliexpress","id":"1005000000000001"}}' "$NGINX_URL/v1/validations")"
[[ "$code" == 200 ]] || die "smoke validation through nginx answered $code"
log "stack up in $((SECONDS - T_START)) s; smoke validation through nginx: 200"

LG=(python3 "$LOADGEN")
R="$DIR/results"
run() { # run NAME DIGIT NET DESC FAULT_CMD
  log "scenario $1: $4 (${DURATION}s, $CONC clients, fault at 6 s)"
  "${LG[@]}" run --url "$NGINX_URL" --key "$KEY" --name "$1" --digit "$2" --source-net "$3" --desc "$4" \
    --duration "$DURATION" --concurrency "$CONC" --wait 10 --fault-at 6 --fault-cmd "$5" --out "$R/$1.json" \
    || warn "scenario $1: the fault command failed"
}
# shell text for a fault command: wait (at most 60 s) until PID has exited (a zombie counts as gone)
# shellcheck disable=SC2016  # expanded by the fault command's shell, not here
wait_gone() { printf 'for i in $(seq 600); do st=$(awk '"'"'{print $3}'"'"' /proc/%s/stat 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ] && break; sleep 0.1; done; ' "$1"; }
# shell text: seconds since the shell variable t (set with t=$(date +%%s.%%N))
# shellcheck disable=SC2016
since_t='$(awk "BEGIN {printf \"%.2f\", $(date +%s.%N) - $t}")'


# ---------------------------------------------------------------- (a) per-IP limit across both APIs
log "scenario a: $((2 * IP_LIMIT + 10)) POSTs from ONE address (127.0.0.77) through nginx, each with a forged X-Forwarded-For"
"${LG[@]}" burst --url "$NGINX_URL" --key "$KEY" --name a --digit 1 --count $((2 * IP_LIMIT + 10)) \
  --source-ip 127.0.0.77 --spoof-xff --desc "per-IP limit $IP_LIMIT/600 s across 2 APIs via nginx, forged XFF" --out "$R/a.json"
log "scenario a2: $((IP_LIMIT + 10)) GETs straight to api2 from 127.0.0.78 (an untrusted peer) with forged XFF"
"${LG[@]}" burst --url "http://127.0.0.1:$API2_PORT" --key "$KEY" --name a2 --count $((IP_LIMIT + 10)) --method GET \
  --source-ip 127.0.0.78 --spoof-xff --desc "straight to one API from an untrusted peer, forged XFF" --out "$R/a2.json"
sleep 1.5   # nginx access log flush=1s
A_OK="$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["records"] if r["status"] in (200,202)))' "$R/a.json")"
A2_OK="$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["records"] if r["status"]==200))' "$R/a2.json")"
SPLIT="$(awk '$1 == "127.0.0.77" {for (i = 1; i <= NF; i++) if ($i ~ /^up=/) n[$i]++} END {for (k in n) printf "%s:%d ", k, n[k]}' "$DIR/nginx/logs/access.log")"
log "a: allowed $A_OK of $((2 * IP_LIMIT + 10)) through nginx (upstreams: $SPLIT); a2: allowed $A2_OK of $((IP_LIMIT + 10)) direct"
expect "a: the per-IP limit allows exactly $IP_LIMIT across both APIs (got $A_OK)" "$( ((A_OK == IP_LIMIT)) && echo 0 || echo 1)"
expect "a: both APIs answered the burst ($SPLIT)" "$([[ "$SPLIT" == *"$API1_PORT"* && "$SPLIT" == *"$API2_PORT"* ]] && echo 0 || echo 1)"
expect "a2: a forged XFF from an untrusted peer is ignored (allowed $A2_OK, limit $IP_LIMIT)" "$( ((A2_OK == IP_LIMIT)) && echo 0 || echo 1)"

# ---------------------------------------------------------------- (b) lose one API
API1_PID="$(cat "$DIR/run/api1.pid")"
run b1 2 127.2 "SIGTERM api1 (graceful drain) under load" \
  "kill -TERM $API1_PID; t=\$(date +%s.%N); $(wait_gone "$API1_PID") echo \"api1 exited $since_t s after SIGTERM\""
start_api 1
wait_http "$NGINX_URL/ready" 20 || true
sleep 6   # nginx fail_timeout (5 s): let it try api1 again
API2_PID="$(cat "$DIR/run/api2.pid")"
run b2 3 127.3 "SIGKILL api2 (crash) under load" "kill -KILL $API2_PID; $(wait_gone "$API2_PID") echo 'api2 killed'"
start_api 2
sleep 6

# ---------------------------------------------------------------- (c) lose the Redis primary
R1_PID="$(private_redis_pid "$DIR/redis1")"
run c 4 127.4 "SIGKILL the Redis primary under load (Sentinel failover)" \
  "kill -KILL $R1_PID; t=\$(date +%s.%N); for i in \$(seq 600); do p=\$(timeout 1 redis-cli -p $HA_PORT info server 2>/dev/null | tr -d '\r' | sed -n 's/^tcp_port://p'); [ \"\$p\" = $R2_PORT ] && break; sleep 0.1; done; echo \"primary killed; replica $R2_PORT promoted and reached through HAProxy $since_t s later\""
expect "c: the replica is the primary now" "$([[ "$(redis_port_via_haproxy)" == "$R2_PORT" ]] && echo 0 || echo 1)"
sleep 3

# ---------------------------------------------------------------- (d) restart the pooler
run d 5 127.5 "restart PgBouncer (down ~3 s) under load" \
  "p=\$(cat $DIR/pgbouncer/pgbouncer.pid); kill -TERM \$p; $(wait_gone "\$p") sleep 3; runuser -u postgres -- pgbouncer -d $DIR/pgbouncer/pgbouncer.ini && echo 'PgBouncer stopped (immediate shutdown), restarted 3 s later'"

# ---------------------------------------------------------------- accounting
log "settling: waiting for every accepted job to finish, then counting in PostgreSQL (directly)"
"${LG[@]}" report --psql "psql $PG_DIRECT" --settle 90 --json-out "$R/report.json" --markdown "$R/table.md" \
  "$R/a.json" "$R/b1.json" "$R/b2.json" "$R/c.json" "$R/d.json" >"$R/report.out"
python3 - "$R/report.json" >"$R/expect.txt" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
for r in rep["runs"]:
    print(f"{r['name']} lost {r['lost']} == 0", int(r["lost"] != 0))
    print(f"{r['name']} duplicated results {r['dup_results']} == 0 and duplicated jobs {r['dup_jobs']} == 0", int(r["dup_results"] + r["dup_jobs"] != 0))
    print(f"{r['name']} stuck jobs {r['stuck']} == 0", int(r["stuck"] != 0))
    errs = sum(v for k, v in r["statuses"].items() if str(k) not in ("200", "202", "429"))
    if r["name"] == "b1":
        print(f"b1 (graceful) client errors {errs} == 0", int(errs != 0))
    if r["name"] == "b2":
        print(f"b2 (crash) errors only from requests in flight at the kill: {r['errors_started_after_fault']} == 0 and {errs} <= {r['inflight_at_fault']}",
              int(r["errors_started_after_fault"] != 0 or errs > r["inflight_at_fault"]))
    if r["name"] == "c":
        print(f"c (Redis failover) recovered within 30 s ({r['recovery'] or 0} s)", int((r["recovery"] or 0) > 30))
    if r["name"] == "d":
        print(f"d (pooler restart) recovered within 15 s of the restart ({r['recovery_after_restore'] or 0} s)", int((r["recovery_after_restore"] or 0) > 15))
print(f"every accepted job finished (unfinished: {rep['pending_after_settle']})", int(rep["pending_after_settle"] != 0))
PY
while read -r line; do
  expect "${line% *}" "${line##* }"
done <"$R/expect.txt"

ERRS="$(for n in api1 api2 worker1 worker2; do printf '%s:%s ' "$n" "$(grep -c '"level":"ERROR"' "$DIR/run/$n.log" || true)"; done)"
echo
echo "## Scale-out test $(date -u +%Y-%m-%dT%H:%MZ) ($((SECONDS - T_START)) s, scripts/scaleout-test.sh)"
echo
echo "Per-IP limit (a): $A_OK of $((2 * IP_LIMIT + 10)) POSTs from one address allowed through nginx (limit $IP_LIMIT; upstreams $SPLIT);"
echo "straight to one API from an untrusted peer with forged X-Forwarded-For: $A2_OK of $((IP_LIMIT + 10)) allowed."
echo
cat "$R/table.md"
echo
echo "ERROR log lines: $ERRS (logs in $DIR/run)"
if ((${#FAILED[@]})); then
  echo
  echo "FAILED expectations (${#FAILED[@]}):"; printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
echo "all expectations met"
