#!/usr/bin/env bash
# Observability checks: Prometheus config and rules, promtool unit tests (and proof that they
# bite), docker-compose structure, the Grafana dashboards (static), and a live run: a private
# stack (sandbox + worker + api from target/<profile>, a fresh database, a unique Redis prefix,
# free ports) under a small bounded load, scraped every second by a private Prometheus; then
# every dashboard query must return data and every metric a dashboard names must be scraped.
#
#   scripts/observability-test.sh            all steps
#   scripts/observability-test.sh --static   everything except the live run (no binaries needed)
#
# Environment (optional):
#   DF_PROFILE=debug|release   which target/ binaries the live run uses (debug)
#   DF_OBS_KEEP=1              keep the temp dir (logs, scrape, Prometheus data) for inspection
#   DATABASE_URL / REDIS_URL   servers to use (as scripts/test.sh: the local ones, else private)
# The live run only creates and drops its own database and deletes its own Redis keys
# (prefix dfobs-<pid>-<random>); it stops only the processes it started, by PID.
# The last line is a one-line summary; exit status non-zero when any step fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

LIVE=1
case "${1:-}" in
  --static) LIVE=0 ;;
  "") ;;
  -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (--static)" ;;
esac

T0=$SECONDS
declare -a RESULTS=()
FAILED=0
step() {
  local name="$1" t=$SECONDS rc=0; shift
  log "== $name"
  "$@" || rc=$?
  if ((rc == 0)); then RESULTS+=("$name ok ($((SECONDS - t))s)")
  else RESULTS+=("$name FAIL ($((SECONDS - t))s)"); FAILED=1; warn "$name failed (exit $rc)"; fi
}

command -v promtool >/dev/null 2>&1 || ensure_packages promtool:prometheus
command -v python3 >/dev/null 2>&1 || ensure_packages python3:python3

# ------------------------------------------------------------------ (a) promtool
promtool_checks() {
  promtool check config prometheus.yml || return 1
  promtool check rules prometheus/alerts.yml || return 1
  (cd prometheus && promtool test rules alerts.test.yml) || return 1
  # the compose variant: same rules file, service DNS names
  local d; d="$(mktemp -d)"
  mkdir -p "$d/prometheus"
  cp prometheus/prometheus.compose.yml "$d/prometheus.yml"
  cp prometheus/alerts.yml "$d/prometheus/alerts.yml"
  local rc=0
  promtool check config "$d/prometheus.yml" || rc=1
  rm -rf "$d"
  return "$rc"
}

# Each mutation (a sed expression on a copy of alerts.yml) changes one threshold, window or
# `for:`; the unit tests must then FAIL. Proves the tests bite (docs/design/webhooks-and-edge.md §6 O1).
MUTATIONS=(
  's/mean1m > 0.5$/mean1m > 0.7/'
  '0,/for: 5m/s//for: 1m/'
  's/error_ratio1m > 0.01/error_ratio1m > 0.02/'
  's/hit_ratio5m < 0.70/hit_ratio5m < 0.60/'
  's/sum(dropforge_db_pool_connections) > 800/sum(dropforge_db_pool_connections) > 900/'
  's/utilization > 0.8/utilization > 0.96/'
  's/rate1m > 0.85/rate1m > 0.95/'
  's/limit_ratio > 0.85/limit_ratio > 0.95/'
  's/state="queued"}) > 1000/state="queued"}) > 2000/'
  's/state="queued"}\[10m\])) > 0/state="queued"}[10m])) >= 0/'
  's/job_age_seconds) > 300/job_age_seconds) > 600/'
  's/failure_ratio10m > 0.05/failure_ratio10m > 0.15/'
  's/state="dead"}) > 0/state="dead"}) > 5/'
  's/outcome!="delivered"/outcome!="retry"/'
  's/failure_ratio10m > 0.10/failure_ratio10m > 0.30/'
  's/outcome!~"ok|not_found"/outcome!~"ok"/'
  's/error_ratio5m > 0.20/error_ratio5m > 0.30/'
  's/fallback_total\[2m\])) > 0/fallback_total[2m])) > 100/'
  's/backend_errors_total\[2m\])) > 0/backend_errors_total[2m])) > 100/'
  's/up{job=~"dropforge-api|dropforge-worker"} == 0/up == 0/'
  's/seconds_count\[2m\])) or on() vector(0)) == 0/seconds_count[2m])) or on() vector(0)) == 1/'
  's/seconds_bucket\[5m\]))) > 5/seconds_bucket[5m]))) > 10/'
)
mutation_tests() {
  local d m out bad=0 n=0
  d="$(mktemp -d)"
  for m in "${MUTATIONS[@]}"; do
    n=$((n + 1))
    cp prometheus/alerts.yml prometheus/alerts.test.yml "$d/"
    sed -i "$m" "$d/alerts.yml"
    if cmp -s prometheus/alerts.yml "$d/alerts.yml"; then
      warn "mutation '$m' changed nothing (alerts.yml edited? update MUTATIONS)"; bad=1; continue
    fi
    if out="$(cd "$d" && promtool test rules alerts.test.yml 2>&1)"; then
      warn "mutation '$m': promtool test rules still passes — the tests do not cover it"; bad=1
    elif ! grep -q FAILED <<<"$out"; then
      warn "mutation '$m': promtool failed without FAILED (rule file broken?):"; echo "$out" >&2; bad=1
    else
      printf '  mutation %2d FAILED as expected: %-70s %s\n' "$n" "$m" "$(grep -m1 -o 'alertname: [A-Za-z]*, time: [0-9ms]*' <<<"$out" || true)"
    fi
  done
  rm -rf "$d"
  ((bad == 0)) && log "all $n mutations made the unit tests fail"
  return "$bad"
}

# ------------------------------------------------------------------ compose
compose_check() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -f docker-compose.yml config -q
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f docker-compose.yml config -q
  else
    log "no docker compose: structural check with python3"
    python3 - <<'EOF'
import os, re, sys
try:
    import yaml
except ImportError:
    print("PyYAML not installed: docker-compose.yml structure not checked"); sys.exit(0)
d = yaml.safe_load(open("docker-compose.yml"))
s = d["services"]
errs = []
need = {"postgres", "redis", "sandbox", "migrate", "api", "worker", "prometheus", "grafana"}
if set(s) != need: errs.append(f"services {sorted(s)} != {sorted(need)}")
for name in ("postgres", "redis", "sandbox", "api", "worker", "prometheus", "grafana"):
    if "test" not in (s.get(name, {}).get("healthcheck") or {}): errs.append(f"{name}: no healthcheck")
dep = s["api"]["depends_on"]
if dep.get("migrate", {}).get("condition") != "service_completed_successfully": errs.append("api must wait for migrate to complete")
for x in ("postgres", "redis"):
    if dep.get(x, {}).get("condition") != "service_healthy": errs.append(f"api must wait for {x} healthy")
if "--appendonly" not in s["redis"]["command"]: errs.append("redis without AOF")
if s["migrate"]["command"] != ["dropforge-api", "migrate"]: errs.append("migrate command")
for name, svc in s.items():
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./") and not os.path.exists(src): errs.append(f"{name}: {src} does not exist")
    for k, val in (svc.get("environment") or {}).items():
        if val is None: errs.append(f"{name}: {k} has no value")
print("\n".join(errs) if errs else f"docker-compose.yml: {len(s)} services, structure OK")
sys.exit(1 if errs else 0)
EOF
  fi
}

# ------------------------------------------------------------------ (c) live
PROFILE="${DF_PROFILE:-debug}"
BIN="$DF_ROOT/target/$PROFILE"
TMP=""
declare -A PIDS=()
DB_ADMIN="" DB_NAME="" PREFIX="" LIVE_REDIS=""

live_cleanup() {
  local name
  for name in prometheus api worker sandbox hook; do stop_pid "$name" 45; done
  if [[ -n "$DB_NAME" && -n "$DB_ADMIN" ]]; then
    PGCONNECT_TIMEOUT=5 psql "$DB_ADMIN" -XAtq -v ON_ERROR_STOP=1 -v db="$DB_NAME" \
      <<<'drop database if exists :"db" with (force);' >/dev/null 2>&1 || warn "could not drop database $DB_NAME"
    DB_NAME=""
  fi
  if [[ -n "$PREFIX" && -n "$LIVE_REDIS" ]]; then
    redis-cli -u "$LIVE_REDIS" --no-auth-warning --scan --pattern "*${PREFIX}*" 2>/dev/null \
      | xargs -d '\n' -r -n 200 redis-cli -u "$LIVE_REDIS" --no-auth-warning del >/dev/null 2>&1 || true
    local left
    left="$(redis-cli -u "$LIVE_REDIS" --no-auth-warning --scan --pattern "*${PREFIX}*" 2>/dev/null | wc -l)"
    ((left == 0)) || warn "$left Redis keys with prefix $PREFIX could not be deleted"
    PREFIX=""
  fi
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    # private PostgreSQL / Redis that ensure_services may have started under our temp dir
    stop_private_postgres "$TMP/data/postgres" 2>/dev/null || true
    stop_private_redis "$TMP/data/redis" 2>/dev/null || true
    if [[ -n "${DF_OBS_KEEP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    TMP=""
  fi
}
trap live_cleanup EXIT
trap 'exit 130' INT TERM

start_bg() {  # start_bg NAME LOG CMD...: background process with the live environment
  local name="$1" logf="$2"; shift 2
  "$@" >"$logf" 2>&1 </dev/null &
  PIDS[$name]=$!
}

live_test() {
  local exe
  for exe in dropforge-api dropforge-worker dropforge-sandbox; do
    [[ -x "$BIN/$exe" ]] || { warn "$BIN/$exe not found: build first (cargo build --workspace --bins)"; return 1; }
  done
  command -v prometheus >/dev/null 2>&1 || { warn "prometheus binary not found (apt-get install prometheus)"; return 1; }
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/dfobs.XXXXXX")"
  # private fallbacks (only when the configured servers do not answer) live under our temp dir
  DF_DATA_DIR="$TMP/data" ensure_services
  LIVE_REDIS="$REDIS_URL"
  DB_NAME="dfobs_$$_${RANDOM}"
  DB_ADMIN="$(pg_url_with_db "$DATABASE_URL" postgres)"
  local db_url; db_url="$(pg_url_with_db "$DATABASE_URL" "$DB_NAME")"
  ensure_database "$db_url"
  PREFIX="dfobs-$$-${RANDOM}${RANDOM}"

  local -a ports
  mapfile -t ports < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1", 0))
for s in ss: print(s.getsockname()[1])
for s in ss: s.close()')
  local p_api="${ports[0]}" p_apim="${ports[1]}" p_wm="${ports[2]}" p_sb="${ports[3]}" p_prom="${ports[4]}" p_hook="${ports[5]}"
  local api="http://127.0.0.1:$p_api" sb="http://127.0.0.1:$p_sb" prom="http://127.0.0.1:$p_prom"
  local -a E=(env -u DF_CACHE_REDIS_URL
    DATABASE_URL="$db_url" REDIS_URL="$REDIS_URL" DF_REDIS_PREFIX="$PREFIX"
    DF_API_LISTEN="127.0.0.1:$p_api" DF_API_METRICS_LISTEN="127.0.0.1:$p_apim"
    DF_WORKER_METRICS_LISTEN="127.0.0.1:$p_wm" DF_SANDBOX_LISTEN="127.0.0.1:$p_sb"
    DF_ALIEXPRESS_BASE_URL="$sb" DF_META_GRAPH_BASE_URL="$sb" DF_YOUTUBE_BASE_URL="$sb"
    DF_SANDBOX_LATENCY_SCALE=0.1 DF_RATE_LIMIT_IP=1000000/60 DF_DB_MAX_CONNECTIONS=5
    DF_WEBHOOK_ALLOW_CIDRS=127.0.0.0/8 "DF_RATE_LIMIT_ROUTES=GET /v1/jobs=3/60"
    DF_WORKER_CONCURRENCY=16 DF_REDIS_GRACE_SECS=1 DF_RECONCILE_MS=500 DF_WORKER_SHUTDOWN_SECS=5
    DF_LOG_FORMAT=json RUST_LOG=info)
  log "live: db $DB_NAME, redis prefix $PREFIX, api :$p_api (metrics :$p_apim), worker metrics :$p_wm, sandbox :$p_sb, prometheus :$p_prom"

  "${E[@]}" "$BIN/dropforge-api" migrate >"$TMP/migrate.log" 2>&1 || { tail -n 30 "$TMP/migrate.log" >&2; return 1; }

  # Prometheus first, so the rates cover the whole load; same job names as prometheus.yml
  cat >"$TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ["$DF_ROOT/prometheus/alerts.yml"]
scrape_configs:
  - {job_name: dropforge-api, static_configs: [{targets: ["127.0.0.1:$p_apim"]}]}
  - {job_name: dropforge-worker, static_configs: [{targets: ["127.0.0.1:$p_wm"]}]}
  - {job_name: dropforge-sandbox, static_configs: [{targets: ["127.0.0.1:$p_sb"]}]}
  - {job_name: prometheus, static_configs: [{targets: ["127.0.0.1:$p_prom"]}]}
EOF
  promtool check config "$TMP/prometheus.yml" >/dev/null || return 1
  start_bg prometheus "$TMP/prometheus.log" prometheus --config.file="$TMP/prometheus.yml" \
    --storage.tsdb.path="$TMP/tsdb" --web.listen-address="127.0.0.1:$p_prom" --log.level=warn
  # a webhook receiver that accepts every event (204)
  start_bg hook "$TMP/hook.log" python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204); self.end_headers()
        print("event", flush=True)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$p_hook"
  start_bg sandbox "$TMP/sandbox.log" "${E[@]}" "$BIN/dropforge-sandbox"
  wait_http "$sb/__sandbox/health" 60 "${PIDS[sandbox]}" || { tail -n 30 "$TMP/sandbox.log" >&2; return 1; }
  start_bg worker "$TMP/worker.log" "${E[@]}" "$BIN/dropforge-worker"
  wait_http "http://127.0.0.1:$p_wm/health" 60 "${PIDS[worker]}" || { tail -n 30 "$TMP/worker.log" >&2; return 1; }
  start_bg api "$TMP/api.log" "${E[@]}" "$BIN/dropforge-api"
  wait_http "$api/health" 60 "${PIDS[api]}" || { tail -n 30 "$TMP/api.log" >&2; return 1; }
  wait_http "$api/ready" 30 || { warn "$api/ready is not 200"; tail -n 30 "$TMP/api.log" >&2; return 1; }
  wait_http "$prom/-/ready" 30 "${PIDS[prometheus]}" || { tail -n 30 "$TMP/prometheus.log" >&2; return 1; }

  local out key
  out="$("${E[@]}" "$BIN/dropforge-api" keys create --tenant obs 2>"$TMP/keys.log")" || { tail -n 20 "$TMP/keys.log" >&2; return 1; }
  key="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
  [[ -n "$key" ]] || { warn "no api_key in 'keys create' output"; return 1; }

  # ---- bounded load: 50 distinct products (misses, jobs, upstream calls), 2 repeats each
  # (cache hits), a few 404s (unknown job, unmatched route) and a 400/422 (bad body)
  log "live: load (50 validations with Prefer: wait=10, 100 repeats, 10 errors)"
  local ids i
  ids="$(for i in $(seq 1 50); do printf '10050000001%05d\n' "$i"; done)"
  # shellcheck disable=SC2317  # called through xargs bash -c
  validate() {
    curl -s -o /dev/null -m 20 -w '%{http_code}\n' -H "Authorization: Bearer $key" -H 'Prefer: wait=10' \
      -H 'Content-Type: application/json' -d "{\"product\":{\"source\":\"aliexpress\",\"id\":\"$1\"}}" "$api/v1/validations" || echo 000
  }
  export -f validate; export key api
  {
    xargs -P 8 -I{} bash -c 'validate {}' <<<"$ids"
    printf '%s\n%s\n' "$ids" "$ids" | xargs -P 8 -I{} bash -c 'validate {}'
    for i in 1 2 3 4 5; do
      curl -s -o /dev/null -m 5 -w '%{http_code}\n' -H "Authorization: Bearer $key" "$api/v1/jobs/00000000-0000-0000-0000-00000000000$i" || echo 000
      curl -s -o /dev/null -m 5 -w '%{http_code}\n' "$api/v1/no-such-route-$i" || echo 000
    done
    curl -s -o /dev/null -m 5 -w '%{http_code}\n' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"product":{}}' "$api/v1/validations" || echo 000
    # rate limiting: GET /v1/jobs is limited to 3 a minute here, so 3 of these 6 get 429
    for i in 1 2 3 4 5 6; do
      curl -s -o /dev/null -m 5 -w '%{http_code}\n' -H "Authorization: Bearer $key" "$api/v1/jobs?limit=1" || echo 000
    done
  } >"$TMP/codes.txt"
  log "live: HTTP status counts: $(sort "$TMP/codes.txt" | uniq -c | awk '{printf "%s x%s  ", $2, $1}')"

  if (($(grep -c '^200$' "$TMP/codes.txt" || true) < 50)); then
    warn "fewer than 50 validations answered 200"; tail -n 20 "$TMP/api.log" "$TMP/worker.log" >&2
    return 1
  fi

  # ---- reconciler repair: stop the worker, queue 3 jobs, lose them from Redis, restart the
  # worker: its reconciler re-dispatches them (dropforge_reconciler_actions_total{action="redispatched"})
  log "live: reconciler repair (worker stopped, queued jobs removed from Redis, worker restarted)"
  stop_pid worker 20
  for i in 1 2 3; do
    curl -s -o /dev/null -m 10 -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d "{\"product\":{\"source\":\"aliexpress\",\"id\":\"10050000002000$i\"}}" "$api/v1/validations" || true
  done
  redis-cli -u "$REDIS_URL" --no-auth-warning --scan --pattern "*${PREFIX}:queue*" 2>/dev/null \
    | xargs -d '\n' -r -n 200 redis-cli -u "$REDIS_URL" --no-auth-warning del >/dev/null
  sleep 1.5
  start_bg worker "$TMP/worker2.log" "${E[@]}" "$BIN/dropforge-worker"
  wait_http "http://127.0.0.1:$p_wm/health" 60 "${PIDS[worker]}" || { tail -n 30 "$TMP/worker2.log" >&2; return 1; }
  local deadline=$((SECONDS + 30))
  until curl -fsS -m 2 "http://127.0.0.1:$p_wm/metrics" 2>/dev/null | grep -q '^dropforge_reconciler_actions_total'; do
    if ((SECONDS >= deadline)); then warn "the restarted worker did not re-dispatch the lost jobs within 30 s"; break; fi
    sleep 0.5
  done

  # ---- let Prometheus scrape and evaluate the recording rules (group interval 15 s)
  # ---- webhooks (after the worker restart, so the scraped worker is the one that delivers):
  # 5 validations whose signed events go to the local receiver
  log "live: webhooks (5 validations with a webhook_url on a local receiver)"
  for i in 1 2 3 4 5; do
    curl -s -o /dev/null -m 20 -H "Authorization: Bearer $key" -H 'Prefer: wait=10' -H 'Content-Type: application/json' \
      -d "{\"product\":{\"id\":\"10050000003000$i\"},\"webhook_url\":\"http://127.0.0.1:$p_hook/hook\"}" "$api/v1/validations" || true
  done
  local waited=0
  while (($(grep -c '^event$' "$TMP/hook.log" 2>/dev/null || true) < 5 && waited < 150)); do sleep 0.1; waited=$((waited + 1)); done
  log "live: webhook events received: $(grep -c '^event$' "$TMP/hook.log" 2>/dev/null || true)"
  log "live: waiting 20 s for scrapes and rule evaluations"
  sleep 20
  : >"$TMP/scrape.txt"
  local u
  for u in "http://127.0.0.1:$p_apim/metrics" "http://127.0.0.1:$p_wm/metrics" "$sb/metrics"; do
    curl -fsS -m 5 "$u" >>"$TMP/scrape.txt" || { warn "could not scrape $u"; return 1; }
  done
  # O2: latency is a histogram (not a summary) with a 0.5 s bucket edge
  grep -q '^# TYPE dropforge_http_request_duration_seconds histogram' "$TMP/scrape.txt" \
    || { warn "dropforge_http_request_duration_seconds is not exposed as a histogram"; return 1; }
  grep -q '^dropforge_http_request_duration_seconds_bucket{.*le="0.5"' "$TMP/scrape.txt" \
    || { warn "no le=\"0.5\" bucket for dropforge_http_request_duration_seconds"; return 1; }
  local lint
  lint="$(curl -fsS -m 5 "http://127.0.0.1:$p_apim/metrics" | promtool check metrics 2>&1; curl -fsS -m 5 "http://127.0.0.1:$p_wm/metrics" | promtool check metrics 2>&1)" || true
  if [[ -n "$lint" ]]; then log "live: promtool check metrics (informational): $(sort -u <<<"$lint" | sed 's/^/\n    /' | tr -d '\n')"; fi
  # the rules loaded and evaluate without errors
  curl -fsS -m 5 "$prom/api/v1/rules" | python3 -c '
import json, sys
d = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in d for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") not in ("ok", "unknown")]
print(f"prometheus: {len(d)} rule groups, {len(rules)} rules loaded, unhealthy: {bad or 0}")
sys.exit(1 if bad or not rules else 0)' || return 1

  python3 "$DF_ROOT/scripts/dashboards_check.py" --prometheus "$prom" --metrics-file "$TMP/scrape.txt"
}

step promtool promtool_checks
step mutations mutation_tests
step compose compose_check
step dashboards-static python3 scripts/dashboards_check.py --static
if ((LIVE)); then step dashboards-live live_test; else RESULTS+=("dashboards-live skipped (--static)"); fi

printf -v joined '%s, ' "${RESULTS[@]}"
if ((FAILED)); then echo "observability-test.sh: FAIL — ${joined%, } — total $((SECONDS - T0))s"; exit 1; fi
echo "observability-test.sh: OK — ${joined%, } — total $((SECONDS - T0))s"
