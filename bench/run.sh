#!/usr/bin/env bash
# DropForge benchmarks, side by side with the reference peers (see bench/README.md).
#
#   bench/run.sh [cached|cached15|uncached|pipeline|history|pickup|all]     (default: all)
#
# cached     POST /v1/validations on a cached product, 1,000 connections x 10,000 requests, 3 runs,
#            against DropForge, the Express re-creation and the bare-axum floor (oha via bench.sh)
# cached15   the same for 15 s per run (-z 15s)
# uncached   bench/loadgen.py uncached: N distinct products, submit -> result latency, validations/s;
#            then bench/loadgen.py batches: N more as batches of 50 from 8 clients (accept latency);
#            both print CPU ms per validation of every component (/proc: api, worker, postgres,
#            redis, sandbox)
# pipeline   bench/pipeline.py: DF_BENCH_JOBS (100,000) canary jobs through the durable path,
#            jobs/s end to end and CPU ms per job per component
# history    pipeline + uncached again on a database seeded with 1,000,000 finished jobs
#            (bench/seed_history.sh; database dropforge_history, seeded once and reused)
# pickup     bench/loadgen.py pickup: M spaced jobs on an idle worker, enqueue -> start from PostgreSQL
#
# Environment (optional):
#   DF_BENCH_RESTART=1      restart the stack (scripts/dev.sh) even if a release stack is running
#   DF_RATE_LIMIT_ENABLED   false by default here (all load comes from one IP); see below
#   DF_BENCH_RUNS=3         repetitions per bench.sh scenario
#   DF_BENCH_CONNS=1000     connections (cached scenarios)
#   DF_BENCH_N=10000 DF_BENCH_C=1000 DF_BENCH_WAIT=30      uncached: products, connections, Prefer: wait
#   DF_BENCH_M=200          pickup jobs
#   DF_BENCH_PEERS=0        skip the reference peers
#   DF_BENCH_REBUILD_PEERS=1  rebuild the peers even when already built
#   DF_BENCH_QUIET=0        do not wait for an idle machine before each measurement
#   DF_BENCH_PIN=CPUSET     pin oha (bench.sh -L)
#   DF_BENCH_PROFILE=debug  smoke-test this script on a debug stack (figures need release)
#   PEERS_HOME              peers build/PID/log dir (default: .data/peers)
# Output: bench/results/runs-<stamp>.tsv (+ appended to runs.tsv), summary.md (this run),
#         results.jsonl (loadgen JSON lines).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DF_ROOT"

SCEN="${1:-all}"
case "$SCEN" in cached | cached15 | uncached | pipeline | history | pickup | all) ;; *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
RES="$DF_ROOT/bench/results"
RUN="$DF_DATA_DIR/run"
STAMP="$(date +%Y%m%d-%H%M%S)"
TSV="$RES/runs-$STAMP.tsv"
JSONL="$RES/results.jsonl"
BENCH="$DF_SHARED/bench"
RUNS="${DF_BENCH_RUNS:-3}"
PROFILE="${DF_BENCH_PROFILE:-release}"   # debug only to smoke-test this script; figures need release
CONNS="${DF_BENCH_CONNS:-1000}"
BODY='{"product":{"source":"aliexpress","id":"1005000000000001"}}'
export PEERS_HOME="${PEERS_HOME:-$DF_DATA_DIR/peers}"
# All load comes from 127.0.0.1, so the per-IP limit (100 / 15 min) would refuse it: benchmarks run
# with the limiter off unless told otherwise. To measure the edge's cost, run again with
# DF_RATE_LIMIT_ENABLED=true DF_RATE_LIMIT_IP=1000000000/60 DF_RATE_LIMIT_KEY=1000000000/60 DF_BENCH_RESTART=1.
export DF_RATE_LIMIT_ENABLED="${DF_RATE_LIMIT_ENABLED:-false}"
mkdir -p "$RES" "$RUN"

# ---------------------------------------------------------------- tools
# shellcheck disable=SC2119
ensure_packages
ensure_rust
ensure_oha() {
  OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
  if [[ ! -x "$OHA" ]]; then
    log "oha not found: cargo install oha --locked (waits for any install already in progress)"
    cargo install oha --locked
    OHA="$HOME/.cargo/bin/oha"
  fi
  [[ -x "$OHA" ]] || die "oha still not found"
  export OHA
}

# ---------------------------------------------------------------- peers
PEERS_STARTED=()
cleanup() {
  local p
  for p in "${PEERS_STARTED[@]}"; do "$BENCH/peers.sh" stop "$p" || true; done
}
trap cleanup EXIT

have_bench() { [[ -x "$BENCH/bench.sh" || -f "$BENCH/bench.sh" ]]; }
start_peers() {
  [[ "${DF_BENCH_PEERS:-1}" != 0 ]] || { warn "peers disabled (DF_BENCH_PEERS=0)"; return 0; }
  [[ -d "$BENCH" ]] || { warn "$BENCH not found: no reference peers"; return 0; }
  if [[ -n "${DF_BENCH_REBUILD_PEERS:-}" || ! -x "$PEERS_HOME/axum-floor/target/release/axum-floor" \
        || ! -d "$PEERS_HOME/express-seed/node_modules" ]]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to build the Express peer (apt-get install nodejs npm), or set DF_BENCH_PEERS=0"
    log "building peers in $PEERS_HOME"
    bash "$BENCH/peers.sh" build >"$RUN/peers-build.log" 2>&1 || { tail -n 30 "$RUN/peers-build.log" >&2; die "peers build failed"; }
  fi
  local p
  for p in express axum; do
    bash "$BENCH/peers.sh" stop "$p" || true   # a stale one of ours (PEERS_HOME is ours)
    bash "$BENCH/peers.sh" start "$p" >/dev/null || die "peer $p did not start (log: $PEERS_HOME/logs/$p.log)"
    PEERS_STARTED+=("$p")
    log "peer $p up (pid $(bash "$BENCH/peers.sh" pid "$p"))"
  done
  # prewarm the Express cache (first call pays the simulated 100-200 ms upstream)
  curl -fsS -m 10 -o /dev/null -H 'Content-Type: application/json' -d '{"productId":"p-1"}' \
    http://127.0.0.1:3901/api/validate || warn "express prewarm failed"
}
peer_pid() { bash "$BENCH/peers.sh" pid "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- DropForge stack
start_stack() {
  local profile=""
  if [[ -f "$RUN/stack.env" ]]; then profile="$(sed -n 's/^export DF_PROFILE=//p' "$RUN/stack.env")"; fi
  if [[ -z "${DF_BENCH_RESTART:-}" && "$profile" == "$PROFILE" ]] && scripts/dev.sh status >/dev/null 2>&1; then
    log "reusing the running $PROFILE stack (DF_BENCH_RESTART=1 to restart)"
  else
    DF_PROFILE="$PROFILE" scripts/dev.sh start
  fi
  # shellcheck disable=SC1091
  . "$RUN/stack.env"
  API_PID="$(tr -dc '0-9' <"$RUN/api.pid")"
  if [[ -z "$API_PID" ]] || ! kill -0 "$API_PID"; then die "no running api process"; fi
  local out
  out="$("$DF_ROOT/target/$PROFILE/dropforge-api" keys create --tenant bench)" || die "keys create --tenant bench failed"
  KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
  [[ -n "$KEY" ]] || die "could not read api_key from keys create"
  (umask 077; printf 'KEY=%q\n' "$KEY" >"$RUN/bench-key.env")
  # warm the cache of the benchmark product
  local code="" deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    code="$(curl -s -m 35 -o "$RUN/bench-warm.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
      -H 'Prefer: wait=30' -H 'Content-Type: application/json' -d "$BODY" "$DF_API_URL/v1/validations" || true)"
    [[ "$code" == 200 ]] && break
    if [[ "$code" == 429 ]]; then
      die "warm-up got 429: the API's rate limits (default 100 / 15 min per IP) must be raised for benchmarks; export the DF_* rate-limit settings before running (then DF_BENCH_RESTART=1)"
    fi
    sleep 1
  done
  [[ "$code" == 200 ]] || die "could not warm the cache (last HTTP $code, $RUN/bench-warm.json)"
  log "cache warm for product 1005000000000001"
}

# The PID listening on a TCP port (PostgreSQL's postmaster, redis-server).
listener_pid() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
url_port() { python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or sys.argv[2])' "$1" "$2"; }
# NAME=PID of every component whose CPU the job benchmarks account.
component_pids() {
  local out=() p
  for n in api worker sandbox; do
    p="$(tr -dc '0-9' <"$RUN/$n.pid" 2>/dev/null || true)"; [[ -n "$p" ]] && out+=("$n=$p")
  done
  p="$(listener_pid "$(url_port "$DATABASE_URL" 5432)")"; [[ -n "$p" ]] && out+=("postgres=$p")
  p="$(listener_pid "$(url_port "$REDIS_URL" 6379)")"; [[ -n "$p" ]] && out+=("redis=$p")
  echo "${out[@]}"
}

job_round() {
  local cpu
  cpu="$(component_pids)"
  log "CPU accounted for: $cpu"
  if want pipeline || want history; then
    quiet
    log "pipeline: ${DF_BENCH_JOBS:-100000} canary jobs"
    # shellcheck disable=SC2086
    python3 bench/pipeline.py --database-url "$DATABASE_URL" -n "${DF_BENCH_JOBS:-100000}" --cpu $cpu \
      --out "$JSONL" --label "$STAMP${1:+ $1}" || warn "pipeline: not every canary succeeded"
  fi
  if want uncached || want history; then
    quiet
    log "uncached: ${DF_BENCH_N:-10000} products, ${DF_BENCH_C:-1000} connections, Prefer: wait=${DF_BENCH_WAIT:-30}"
    # shellcheck disable=SC2086
    python3 bench/loadgen.py uncached --url "$DF_API_URL" --key "$KEY" -n "${DF_BENCH_N:-10000}" \
      -c "${DF_BENCH_C:-1000}" --wait "${DF_BENCH_WAIT:-30}" --out "$JSONL" --label "$STAMP${1:+ $1}" --redis-url "$REDIS_URL" --cpu $cpu \
      || warn "uncached: not every validation completed"
    quiet
    log "batches: ${DF_BENCH_N:-10000} products in batches of 50 from 8 clients"
    # shellcheck disable=SC2086
    python3 bench/loadgen.py batches --url "$DF_API_URL" --key "$KEY" -n "${DF_BENCH_N:-10000}" -c 8 \
      --out "$JSONL" --label "$STAMP${1:+ $1}" --redis-url "$REDIS_URL" --cpu $cpu || warn "batches: not every batch completed"
  fi
}

# Points the stack at a database seeded with 1,000,000 finished jobs (created and seeded once).
use_history_database() {
  local url
  url="$(pg_url_with_db "$DATABASE_URL" dropforge_history)"
  ensure_database "$url"
  DATABASE_URL="$url" "$DF_ROOT/target/$PROFILE/dropforge-api" migrate >/dev/null
  local have
  have="$(psql "$url" -XAtq -c "select count(*) from jobs where status = 'succeeded'")"
  if ((have < 1000000)); then
    log "seeding dropforge_history with 1,000,000 finished jobs (once)"
    # within the retention period (30 days): the history stays while the benchmark runs
    DF_SEED_DAYS=29 bash bench/seed_history.sh "$url" 1000000
  else
    log "dropforge_history already holds $have finished jobs"
  fi
  export DATABASE_URL="$url"
  DF_BENCH_RESTART=1 start_stack
}

quiet() {
  [[ "${DF_BENCH_QUIET:-1}" != 0 && -f "$BENCH/quiet.sh" ]] || return 0
  bash "$BENCH/quiet.sh" 85 60 || warn "machine not quiet: treat the next figures with care"
}

# bench LABEL URL PID extra-args...
bench() {
  local label="$1" url="$2" pid="$3"; shift 3
  local -a a=(-c "$CONNS" -r "$RUNS" -l "$label" -o "$TSV")
  [[ -n "$pid" ]] && a+=(-S "$pid")
  [[ -n "${DF_BENCH_PIN:-}" ]] && a+=(-L "$DF_BENCH_PIN")
  quiet
  bash "$BENCH/bench.sh" "$url" "${a[@]}" "$@" || warn "bench.sh failed for $label"
}

cached_round() {
  local shape_args=("$@") ep ap
  bench "dropforge POST /v1/validations (cached)" "$DF_API_URL/v1/validations" "$API_PID" \
    -m POST -d "$BODY" -H "Authorization: Bearer $KEY" "${shape_args[@]}"
  ep="$(peer_pid express)"; ap="$(peer_pid axum)"
  if [[ -n "$ep" ]]; then
    bench "express POST /api/validate (cached)" http://127.0.0.1:3901/api/validate "$ep" \
      -m POST -d '{"productId":"p-1"}' "${shape_args[@]}"
  fi
  if [[ -n "$ap" ]]; then
    bench "axum floor GET /" http://127.0.0.1:3904/ "$ap" "${shape_args[@]}"
  fi
}

summarize() {
  [[ -s "$TSV" ]] || return 0
  cat "$TSV" >>"$RES/runs.tsv"
  {
    echo "# DropForge benchmark $STAMP"
    echo
    echo "Machine: $(nproc) cores, $(uname -r); build: $PROFILE; oha $("$OHA" --version 2>/dev/null | awk '{print $2}'); runs per scenario: $RUNS"
    echo
    python3 "$BENCH/summarize.py" "$TSV"
    echo
    python3 - "$TSV" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split("\t")
    if len(p) < 10:
        continue
    rows.setdefault((p[0].split()[0], p[1]), []).append([float(x) for x in p[3:]])
med = lambda k, i: statistics.median(r[i] for r in rows[k])
print("## Goals (medians of this run)")
print()
for shape in sorted({s for _, s in rows}):
    df = ("dropforge", shape)
    if df not in rows:
        continue
    rps, p95, p99, errs = med(df, 0), med(df, 3), med(df, 4), med(df, 6)
    line = f"- `{shape}`: dropforge {rps:,.0f} req/s, p95 {p95:.1f} ms, p99 {p99:.1f} ms, errors {errs:.0f}"
    if ("express", shape) in rows:
        line += f"; vs express x{rps / med(('express', shape), 0):.2f}"
    if ("axum", shape) in rows:
        line += f"; vs axum floor x{rps / med(('axum', shape), 0):.2f}"
    if "z=" in shape:
        line += " (goal: >= 0.5 x axum, p99 < 50 ms)"
    else:
        line += " (goal: >= 5 x express, p95 < 40 ms, p99 < 100 ms, 0 errors)"
    print(line)
PY
  } >"$RES/summary.md"
  log "summary: $RES/summary.md"
  cat "$RES/summary.md"
}

# ---------------------------------------------------------------- main
want() { [[ "$SCEN" == all || "$SCEN" == "$1" ]]; }
if want cached || want cached15; then
  have_bench || die "$BENCH/bench.sh not found: the cached scenarios need the shared harness"
  ensure_oha
  start_peers
fi
start_stack
log "api pid $API_PID, results in $RES"
if want cached; then cached_round -n 10000; fi
if want cached15; then cached_round -z 15s; fi
summarize

if want uncached || want pipeline; then job_round; fi
if want history; then
  use_history_database
  job_round "history"
fi
if want pickup; then
  # the worker must be idle: let any backlog drain first (bounded)
  sleep 2
  log "pickup: ${DF_BENCH_M:-200} spaced jobs"
  python3 bench/loadgen.py pickup --url "$DF_API_URL" --key "$KEY" -m "${DF_BENCH_M:-200}" \
    --database-url "$DATABASE_URL" --out "$JSONL" --label "$STAMP" || warn "pickup: incomplete"
fi
if [[ -s "$TSV" ]]; then log "oha runs: ${TSV#"$DF_ROOT"/} (also appended to bench/results/runs.tsv); summary: bench/results/summary.md"; fi
if want uncached || want pickup || want pipeline || want history; then log "loadgen JSON lines: ${JSONL#"$DF_ROOT"/}"; fi
log "done ($SCEN)"
