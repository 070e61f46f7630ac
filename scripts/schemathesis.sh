#!/usr/bin/env bash
# Schemathesis against the live API: a private stack (sandbox + worker + api from target/<profile>,
# a fresh database, a unique Redis prefix, free ports), an API key, then `st run` on the served
# /openapi.json with every check (server errors, status codes, content types, response schemas
# and headers, negative and positive data, missing headers, unsupported methods, ignored auth,
# stateful use-after-free and resource availability), a bounded number of examples per operation
# and a fixed seed. Zero failures required.
#
#   scripts/schemathesis.sh              run it (about 2 minutes once the binaries are built)
#   scripts/schemathesis.sh -- ARGS...   extra `st run` arguments, e.g. -- --include-path /v1/jobs
#
# Environment (optional):
#   DF_PROFILE=debug|release   binaries to run (default: the more recently built profile)
#   DF_ST_MAX_EXAMPLES=N       examples per operation and phase (50)
#   DF_ST_SEED=N               Hypothesis seed (20261202)
#   DF_ST_WORKERS=N            concurrent Schemathesis workers (1)
#   DF_ST_TIMEOUT=S            hard bound on the `st run` itself (300)
#   DF_ST_KEEP=1               keep the temp dir (logs of the stack) for inspection
#   DF_SCHEMATHESIS_VERSION    Schemathesis from PyPI (4.32.5), installed into .data/schemathesis-venv
#   DATABASE_URL / REDIS_URL   servers to use (as scripts/test.sh: the local ones, else private)
# Reports (JUnit XML, NDJSON events, a pytest file reproducing failures) and the document tested
# (openapi.json) go to .data/schemathesis/. Only its own database and Redis keys (prefix dfst-<pid>-<random>) are
# created and removed; it stops only the processes it started, by PID.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

EXTRA=()
case "${1:-}" in
  "") ;;
  --) shift; EXTRA=("$@") ;;
  -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (use -- before st run arguments)" ;;
esac

T0=$SECONDS
ensure_packages
ensure_schemathesis

# ------------------------------------------------------------------ binaries
newest_profile() {
  local p best="" best_t=0 t exe
  for p in debug release; do
    t=0
    for exe in dropforge-api dropforge-worker dropforge-sandbox; do
      [[ -x "target/$p/$exe" ]] || { t=0; break; }
      t="$(stat -c %Y "target/$p/$exe")"
    done
    if ((t > best_t)); then best="$p" best_t="$t"; fi
  done
  echo "$best"
}
PROFILE="${DF_PROFILE:-$(newest_profile)}"
if [[ -z "$PROFILE" ]]; then
  ensure_rust
  log "no binaries in target/: cargo build --workspace --bins"
  cargo build --workspace --bins
  PROFILE=debug
fi
BIN="$DF_ROOT/target/$PROFILE"
for exe in dropforge-api dropforge-worker dropforge-sandbox; do
  [[ -x "$BIN/$exe" ]] || die "$BIN/$exe not found: build first (cargo build --workspace --bins)"
done

# ------------------------------------------------------------------ private stack
TMP="" DB_NAME="" DB_ADMIN="" PREFIX="" ST_REDIS=""
declare -A PIDS=()

# shellcheck disable=SC2317  # reached through the EXIT trap
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
  local name
  for name in api worker sandbox hook; do stop_pid "$name" 20; done
  if [[ -n "$DB_NAME" && -n "$DB_ADMIN" ]]; then
    PGCONNECT_TIMEOUT=5 psql "$DB_ADMIN" -XAtq -v ON_ERROR_STOP=1 -v db="$DB_NAME" \
      <<<'drop database if exists :"db" with (force);' >/dev/null 2>&1 || warn "could not drop database $DB_NAME"
    DB_NAME=""
  fi
  if [[ -n "$PREFIX" && -n "$ST_REDIS" ]]; then
    redis-cli -u "$ST_REDIS" --no-auth-warning --scan --pattern "${PREFIX}:*" 2>/dev/null \
      | xargs -d '\n' -r -n 200 redis-cli -u "$ST_REDIS" --no-auth-warning del >/dev/null 2>&1 || true
    PREFIX=""
  fi
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    stop_private_postgres "$TMP/data/postgres" 2>/dev/null || true
    stop_private_redis "$TMP/data/redis" 2>/dev/null || true
    if [[ -n "${DF_ST_KEEP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    TMP=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() {  # start_bg NAME CMD...: background process, log in $TMP/NAME.log
  local name="$1"; shift
  "$@" >"$TMP/$name.log" 2>&1 </dev/null &
  PIDS[$name]=$!
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/dfst.XXXXXX")"
# private fallbacks (only when the configured servers do not answer) live under our temp dir
DF_DATA_DIR="$TMP/data" ensure_services
ST_REDIS="$REDIS_URL"
DB_NAME="dfst_$$_${RANDOM}"
DB_ADMIN="$(pg_url_with_db "$DATABASE_URL" postgres)"
DB_URL="$(pg_url_with_db "$DATABASE_URL" "$DB_NAME")"
ensure_database "$DB_URL"
PREFIX="dfst-$$-${RANDOM}${RANDOM}"

mapfile -t PORTS < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
for s in ss: print(s.getsockname()[1])
for s in ss: s.close()')
API="http://127.0.0.1:${PORTS[0]}"
SANDBOX="http://127.0.0.1:${PORTS[3]}"
# Every webhook_url Schemathesis sends is pointed here (scripts/schemathesis_hooks.py).
HOOK_URL="http://127.0.0.1:${PORTS[4]}/hook"
# The limiter stays in the path (RateLimit headers on every /v1 answer) but never binds. Deadlines
# are generous (a 503 fails `not_a_server_error`, and a busy 2-core machine is no API defect);
# Prefer: wait is capped at 2 s so waiting requests do not dominate the run.
E=(env -u DF_CACHE_REDIS_URL
  DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL" DF_REDIS_PREFIX="$PREFIX"
  DF_API_LISTEN="127.0.0.1:${PORTS[0]}" DF_API_METRICS_LISTEN="127.0.0.1:${PORTS[1]}"
  DF_WORKER_METRICS_LISTEN="127.0.0.1:${PORTS[2]}" DF_SANDBOX_LISTEN="127.0.0.1:${PORTS[3]}"
  DF_ALIEXPRESS_BASE_URL="$SANDBOX" DF_META_GRAPH_BASE_URL="$SANDBOX" DF_YOUTUBE_BASE_URL="$SANDBOX"
  DF_SANDBOX_LATENCY_SCALE=0 DF_RATE_LIMIT_IP=100000000/60 DF_RATE_LIMIT_KEY=100000000/60
  DF_RATE_LIMIT_TIMEOUT_MS=2000 DF_API_REDIS_TIMEOUT_MS=2000 DF_API_DB_ACQUIRE_TIMEOUT_MS=10000
  DF_API_MAX_WAIT_SECS=2
  DF_DB_MAX_CONNECTIONS=10 DF_WORKER_CONCURRENCY=32 DF_CANARY_INTERVAL_MS=0
  DF_WORKER_SHUTDOWN_SECS=5 DF_API_DRAIN_SECS=0 DF_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32
  RUST_LOG="${RUST_LOG:-warn}")
log "stack ($PROFILE): db $DB_NAME, redis prefix $PREFIX, api $API, sandbox $SANDBOX"

"${E[@]}" "$BIN/dropforge-api" migrate >"$TMP/migrate.log" 2>&1 || { tail -n 30 "$TMP/migrate.log" >&2; die "migrate failed"; }
# a webhook receiver that accepts every event (204)
start_bg hook python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "${PORTS[4]}"
start_bg sandbox "${E[@]}" "$BIN/dropforge-sandbox"
wait_http "$SANDBOX/__sandbox/health" 60 "${PIDS[sandbox]}" || { tail -n 30 "$TMP/sandbox.log" >&2; die "sandbox did not start"; }
start_bg worker "${E[@]}" "$BIN/dropforge-worker"
wait_http "http://127.0.0.1:${PORTS[2]}/health" 60 "${PIDS[worker]}" || { tail -n 30 "$TMP/worker.log" >&2; die "worker did not start"; }
start_bg api "${E[@]}" "$BIN/dropforge-api"
wait_http "$API/ready" 60 "${PIDS[api]}" || { tail -n 30 "$TMP/api.log" >&2; die "api did not become ready"; }

OUT="$("${E[@]}" "$BIN/dropforge-api" keys create --tenant schemathesis 2>"$TMP/keys.log")" \
  || { tail -n 20 "$TMP/keys.log" >&2; die "keys create failed"; }
KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$OUT" | head -n 1)"
[[ -n "$KEY" ]] || die "no api_key in 'keys create' output"
log "stack up in $((SECONDS - T0)) s"

# ------------------------------------------------------------------ st run
REPORT="$DF_DATA_DIR/schemathesis"
rm -rf "$REPORT"
mkdir -p "$REPORT"
# the document under test, kept with the reports
curl -fsS -m 10 -o "$REPORT/openapi.json" "$API/openapi.json" || warn "could not save $API/openapi.json"
COLOR=(--no-color)
[[ -t 1 ]] && COLOR=()
ST_ARGS=(--config-file "$DF_ROOT/scripts/schemathesis.toml" run "$API/openapi.json"
  --checks all
  # DELETE /v1/jobs/{id} cancels: the job stays readable (status `canceled`, its delivery log),
  # by design (README, "Using the API"); use-after-free assumes a DELETE removes the resource.
  --exclude-checks use_after_free
  --max-examples "${DF_ST_MAX_EXAMPLES:-50}"
  --seed "${DF_ST_SEED:-20261202}"
  --workers "${DF_ST_WORKERS:-1}"
  --request-timeout 40
  --generation-database none
  --report 'junit,ndjson,pytest' --report-dir "$REPORT"
  "${EXTRA[@]}")
log "st ${ST_ARGS[*]}"
RC=0
# Hypothesis keeps nothing between runs (its directory is in the temp dir); the hooks and the
# configuration are documented in docs/TESTING.md.
timeout --signal=INT --kill-after=10 "${DF_ST_TIMEOUT:-300}" \
  env DF_ST_API_KEY="$KEY" DF_ST_WEBHOOK_URL="$HOOK_URL" HYPOTHESIS_STORAGE_DIRECTORY="$TMP/hypothesis" SCHEMATHESIS_HOOKS="$DF_ROOT/scripts/schemathesis_hooks.py" \
  "$ST" "${COLOR[@]}" "${ST_ARGS[@]}" || RC=$?
if ((RC == 124)); then warn "st run exceeded DF_ST_TIMEOUT=${DF_ST_TIMEOUT:-300} s"; fi
for name in api worker sandbox hook; do
  pid_alive "${PIDS[$name]}" || { warn "$name died during the run"; tail -n 30 "$TMP/$name.log" >&2; RC=1; }
done
if ((RC != 0)); then
  warn "API log (last 40 lines, $TMP/api.log):"
  tail -n 40 "$TMP/api.log" >&2 || true
  DF_ST_KEEP=1
fi
if ((RC == 0)); then
  echo "schemathesis.sh: OK — $((SECONDS - T0))s (reports in $REPORT)"
else
  echo "schemathesis.sh: FAIL (st exit $RC) — $((SECONDS - T0))s (reports in $REPORT, logs in $TMP)"
fi
exit "$RC"
