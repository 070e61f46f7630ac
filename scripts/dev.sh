#!/usr/bin/env bash
# Run the whole DropForge stack locally: PostgreSQL + Redis (reused, or private ones under .data),
# then the sandbox (fake upstreams), the worker and the API, built in release mode.
#
#   scripts/dev.sh [start]       build, migrate, (re)start sandbox + worker + api, print a dev key
#   scripts/dev.sh stop          stop the app processes this script started (PID files only)
#   scripts/dev.sh stop --all    ... and the private PostgreSQL / Redis under .data (if any)
#   scripts/dev.sh status        what runs, health, URLs
#   scripts/dev.sh env           print the environment (sourceable) the stack runs with
#
# Environment (optional): DATABASE_URL, REDIS_URL, DF_API_LISTEN, DF_API_METRICS_LISTEN,
# DF_WORKER_METRICS_LISTEN, DF_SANDBOX_LISTEN, DF_SANDBOX_LATENCY_SCALE and every other DF_*
# setting are passed through to the binaries. Script-only knobs:
#   DF_PROFILE=release|debug   build profile (release)
#   DF_SKIP_BUILD=1            use the binaries already in target/<profile>
#   DF_API_BIN                 run this API binary instead (bench/profile.sh's profiling build)
#   DF_WORKER_BIN              run this worker binary instead (a profiling build, an A/B)
#   DF_DATA_DIR                state directory (<repo>/.data); logs + PID files in $DF_DATA_DIR/run
#   DF_DEV_TENANT              tenant of the printed key (dev)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

RUN="$DF_DATA_DIR/run"
PROFILE="${DF_PROFILE:-release}"
BIN="$DF_ROOT/target/$PROFILE"
TENANT="${DF_DEV_TENANT:-dev}"
APPS=(sandbox worker api)          # start order; stop order is the reverse
mkdir -p "$RUN"

# host:port -> http://host:port (wildcard addresses are reached via loopback)
base_url() {
  local a="$1"
  a="${a/#0.0.0.0:/127.0.0.1:}"; a="${a/#\[::\]:/[::1]:}"
  echo "http://$a"
}
API_URL="$(base_url "${DF_API_LISTEN:-127.0.0.1:8080}")"
API_METRICS_URL="$(base_url "${DF_API_METRICS_LISTEN:-127.0.0.1:9464}")"
WORKER_METRICS_URL="$(base_url "${DF_WORKER_METRICS_LISTEN:-127.0.0.1:9465}")"
SANDBOX_URL="$(base_url "${DF_SANDBOX_LISTEN:-127.0.0.1:8089}")"

bin_of() { echo "dropforge-$1"; }
health_of() {
  case "$1" in
    sandbox) echo "$SANDBOX_URL/__sandbox/health" ;;
    worker) echo "$WORKER_METRICS_URL/health" ;;
    api) echo "$API_URL/health" ;;
  esac
}
pid_of() { local f="$RUN/$1.pid" p; [[ -f "$f" ]] || return 0; p="$(tr -dc '0-9' <"$f")"; [[ -n "$p" ]] && pid_alive "$p" && echo "$p"; return 0; }

stop_apps() {
  local i name
  for ((i = ${#APPS[@]} - 1; i >= 0; i--)); do
    name="${APPS[i]}"
    if [[ -n "$(pid_of "$name")" ]]; then log "stopping $name (pid $(pid_of "$name"))"; fi
    # the worker drains for up to DF_WORKER_SHUTDOWN_SECS (30): allow a little more
    stop_pidfile "$RUN/$name.pid" "$(bin_of "$name")" "$([[ $name == worker ]] && echo 40 || echo 15)"
  done
}

# hostport of a URL
hp_of() { local u="${1#http://}"; echo "${u%%/*}"; }

start_app() {
  local name="$1" exe pid url rc
  exe="$BIN/$(bin_of "$name")"
  if [[ "$name" == api && -n "${DF_API_BIN:-}" ]]; then exe="$DF_API_BIN"; fi
  if [[ "$name" == worker && -n "${DF_WORKER_BIN:-}" ]]; then exe="$DF_WORKER_BIN"; fi
  [[ -x "$exe" ]] || die "$exe not found (build failed or DF_SKIP_BUILD with nothing built)"
  url="$(health_of "$name")"
  local hp; hp="$(hp_of "$url")"
  if port_open "${hp%:*}" "${hp##*:}"; then
    die "$hp is already in use by a process this script did not start; stop it or set the DF_*_LISTEN variables"
  fi
  : >"$RUN/$name.log"
  # setsid: survive the terminal; nohup: ignore SIGHUP. Both exec, so $! is the binary's PID.
  setsid nohup "$exe" >>"$RUN/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$RUN/$name.pid"
  rc=0; wait_http "$url" 60 "$pid" || rc=$?
  if ((rc != 0)); then
    if ((rc == 2)); then warn "$name exited during start-up"; else warn "$name did not answer $url within 60 s"; fi
    echo "----- last 40 lines of $RUN/$name.log -----" >&2
    tail -n 40 "$RUN/$name.log" >&2 || true
    echo "-----" >&2
    stop_apps
    die "$name failed to start"
  fi
  log "$name up (pid $pid, $url)"
}

# create_key TENANT -> sets KEY and SECRET; saves them to $RUN/$TENANT-key.env (mode 600)
create_key() {
  local tenant="$1" out
  out="$("$BIN/dropforge-api" keys create --tenant "$tenant" 2>>"$RUN/keys.log")" \
    || { tail -n 20 "$RUN/keys.log" >&2; die "dropforge-api keys create --tenant $tenant failed"; }
  KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
  SECRET="$(sed -n 's/^[[:space:]]*webhook_secret:[[:space:]]*//p' <<<"$out" | head -n 1)"
  [[ -n "$KEY" ]] || die "could not read 'api_key:' from keys create output"
  (umask 077; printf 'KEY=%q\nSECRET=%q\n' "$KEY" "$SECRET" >"$RUN/$tenant-key.env")
}

# reuse the saved key of TENANT if the API still accepts it
load_or_create_key() {
  local tenant="$1" code
  KEY="" SECRET=""
  if [[ -f "$RUN/$tenant-key.env" ]]; then
    # shellcheck disable=SC1090
    . "$RUN/$tenant-key.env"
    code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$API_URL/v1/jobs/00000000-0000-0000-0000-000000000000" || true)"
    if [[ "$code" == 401 || "$code" == 403 || "$code" == 000 || -z "$KEY" ]]; then KEY=""; fi
  fi
  if [[ -z "$KEY" ]]; then create_key "$tenant"; log "created API key for tenant $tenant"; else log "reusing the saved key of tenant $tenant"; fi
}

cmd_start() {
  # shellcheck disable=SC2119  # no extra packages
  ensure_packages
  ensure_rust
  ensure_services
  if [[ -z "${DF_SKIP_BUILD:-}" ]]; then
    log "cargo build --workspace --bins ($PROFILE)"
    if [[ "$PROFILE" == release ]]; then cargo build --release --workspace --bins
    else cargo build --workspace --bins; fi
  fi
  stop_apps
  log "migrating $(_df_redact "$DATABASE_URL")"
  "$BIN/dropforge-api" migrate >"$RUN/migrate.log" 2>&1 || { cat "$RUN/migrate.log" >&2; die "dropforge-api migrate failed"; }
  # the environment the binaries run with (sourceable; no secrets beyond the URLs)
  {
    printf 'export DATABASE_URL=%q\nexport REDIS_URL=%q\n' "$DATABASE_URL" "$REDIS_URL"
    printf 'export DF_API_URL=%q\nexport DF_PROFILE=%q\nexport DF_API_BIN=%q\n' "$API_URL" "$PROFILE" "${DF_API_BIN:-}"
  } >"$RUN/stack.env"
  local name
  for name in "${APPS[@]}"; do start_app "$name"; done
  if ! wait_http "$API_URL/ready" 30; then warn "$API_URL/ready is not 200 yet (PostgreSQL / Redis / migrations?)"; fi

  load_or_create_key "$TENANT"
  local body='{"product":{"source":"aliexpress","id":"1005000000000001"}}' code
  code="$(curl -s -m 15 -o "$RUN/smoke.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Prefer: wait=10' \
    -H 'Content-Type: application/json' -d "$body" "$API_URL/v1/validations" || true)"
  cat <<EOF

DropForge is running ($PROFILE build; logs and PID files in $RUN)
  api       $API_URL         (metrics $API_METRICS_URL/metrics)
  worker    $WORKER_METRICS_URL/metrics
  sandbox   $SANDBOX_URL
  postgres  $(_df_redact "$DATABASE_URL")
  redis     $REDIS_URL

  tenant          $TENANT
  api_key         $KEY
  webhook_secret  $SECRET

Try it (a scored product; the first call waits up to 10 s for the worker, later calls hit the cache):
  curl -s -H "Authorization: Bearer $KEY" -H 'Prefer: wait=10' -H 'Content-Type: application/json' -d '$body' $API_URL/v1/validations

Stop: scripts/dev.sh stop        Status: scripts/dev.sh status
EOF
  if [[ "$code" == 200 ]]; then
    log "smoke check: POST /v1/validations -> 200"
  else
    warn "smoke check: POST /v1/validations -> HTTP $code (body in $RUN/smoke.json; see $RUN/api.log, $RUN/worker.log)"
  fi
}

cmd_status() {
  local name pid url state rc=0
  for name in "${APPS[@]}"; do
    pid="$(pid_of "$name")"; url="$(health_of "$name")"
    if [[ -z "$pid" ]]; then state="stopped"; rc=1
    elif curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; then state="running (pid $pid) healthy"
    else state="running (pid $pid) NOT healthy at $url"; rc=1; fi
    printf '  %-8s %s\n' "$name" "$state"
  done
  if [[ -f "$RUN/stack.env" ]]; then
    # shellcheck disable=SC1091
    (. "$RUN/stack.env"; printf '  %-8s %s\n  %-8s %s\n' postgres "$(_df_redact "$DATABASE_URL")" redis "$REDIS_URL")
  fi
  pid="$(private_postgres_pid "$DF_DATA_DIR/postgres")"; [[ -n "$pid" ]] && printf '  %-8s private PostgreSQL running (pid %s, port %s)\n' "" "$pid" "$DF_PRIVATE_PG_PORT"
  pid="$(private_redis_pid "$DF_DATA_DIR/redis")"; [[ -n "$pid" ]] && printf '  %-8s private Redis running (pid %s, port %s)\n' "" "$pid" "$DF_PRIVATE_REDIS_PORT"
  if curl -fsS -m 2 -o /dev/null "$API_URL/ready" 2>/dev/null; then echo "  api ready: yes"; else echo "  api ready: no"; fi
  return "$rc"
}

case "${1:-start}" in
  start | restart | up) cmd_start ;;
  stop | down)
    stop_apps
    if [[ "${2:-}" == --all ]]; then
      stop_private_postgres "$DF_DATA_DIR/postgres"
      stop_private_redis "$DF_DATA_DIR/redis"
    fi
    log "stopped" ;;
  status) cmd_status ;;
  env) cat "$RUN/stack.env" 2>/dev/null || die "stack not started yet" ;;
  -h | --help | help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (start | stop [--all] | status | env)" ;;
esac
