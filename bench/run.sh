#!/usr/bin/env bash
# DropForge benchmarks, side by side with the reference peers (see bench/README.md).
#
#   bench/run.sh [cached|cached15|uncached|pipeline|history|pickup|fairness|layers|all]  (default: all)
#
# cached     POST /v1/validations, 1,000 connections x 10,000 requests, 3 runs (oha via bench.sh), on
#            the realistic mix: DF_BENCH_MIX (200) distinct cached products (oha -Z), the rate
#            limiter on with a quota that never binds, a browser's headers (Accept-Encoding, Origin,
#            Authorization, Accept, User-Agent); then one cached product with the limiter off (second
#            line); then the Express re-creation and the bare-axum floor. Every run prints the
#            server's CPU µs per request and peak RSS (bench/cached_lib.sh, bench/cached_mix.py)
# cached15   the same for 15 s per run (-z 15s)
# uncached   bench/loadgen.py uncached: N distinct products, submit -> result latency, validations/s;
#            then bench/loadgen.py batches: N more as batches of 50 from 8 clients (accept latency),
#            each client waiting for its batch (400 in flight), and N more with 3 batches in flight
#            per client (1,200 in flight, about the singles' 1,000: the worker saturated), and N
#            more sent at once (8 clients submit every batch without waiting for any to end: the
#            shape of the issue's first measurement, the whole run queued within seconds; the last
#            20 batches go one every 100 ms from one more client while the worker works through
#            that backlog: the accept latency of a batch while the worker is saturated);
#            all print CPU ms per validation of every component (/proc: api, worker, postgres,
#            redis, sandbox)
# pipeline   bench/pipeline.py: DF_BENCH_JOBS (100,000) canary jobs through the durable path,
#            jobs/s end to end and CPU ms per job per component
# history    pipeline + uncached again on a database seeded with 1,000,000 finished jobs
#            (bench/seed_history.sh; database dropforge_history, seeded once and reused)
# pickup     bench/loadgen.py pickup: M spaced jobs on an idle worker, enqueue -> start from PostgreSQL
# fairness   bench/fairness.py (tenants bench-fair-a/b): B's 100 singles at 10/s alone and behind A's
#            10,000 queued batch items, A alone and with B, dispatch share per second (Jain's index),
#            429s seen by B; dispatch round time at 10k/100k/1M queued rows (scratch database
#            dropforge_fairness_rounds); then again scaled down (A 1,000 items, B 20 singles at 1/s)
#            on a stack restarted with DF_BUDGET_ALIEXPRESS_PER_SEC=10 (restored afterwards). ~6 min
# layers     what each HTTP layer costs: the cached mix (limiter on) at a fixed DF_BENCH_LAYER_QPS
#            (6,000) req/s, DF_BENCH_RUNS x DF_BENCH_LAYER_SECS (8) s, with every layer, with one
#            left out at a time (DF_BENCH_LAYERS_OFF), with none, and with every layer again; the
#            API's CPU µs per request saved = the layer's cost. Not part of `all`. ~7 min at 3 runs
#
# Environment (optional):
#   DF_BENCH_RESTART=1      restart the stack (scripts/dev.sh) even if a release stack is running
#   DF_RATE_LIMIT_ENABLED   false by default here (all load comes from one IP; the cached mix
#                           turns it on with a quota that never binds); see below
#   DF_BENCH_RUNS=3         repetitions per bench.sh scenario
#   DF_BENCH_CONNS=1000     connections (cached scenarios)
#   DF_BENCH_MIX=200        distinct products of the cached mix
#   DF_BENCH_SINGLE=1       0: skip the single-product, limiter-off line of the cached scenarios
#   DF_BENCH_N=10000 DF_BENCH_C=1000 DF_BENCH_WAIT=30      uncached: products, connections, Prefer: wait
#   DF_BENCH_M=200          pickup jobs
#   DF_BENCH_ROUND_SIZES=10000,100000,1000000   fairness: queued rows at which the round is timed
#   DF_BENCH_PEERS=0        skip the reference peers
#   DF_BENCH_REBUILD_PEERS=1  rebuild the peers even when already built
#   DF_BENCH_QUIET=0        do not wait for an idle machine before each measurement
#   DF_BENCH_PIN=CPUSET     pin oha (bench.sh -L)
#   DF_BENCH_PROFILE=debug  smoke-test this script on a debug stack (figures need release)
#   PEERS_HOME              peers build/PID/log dir (default: .data/peers)
# Output: bench/results/runs-<stamp>.tsv (+ appended to runs.tsv; cached rows add CPU µs per
#         request and peak RSS MB), summary.md (this run), results.jsonl (loadgen JSON lines,
#         one line per cached run and one per cached comparison with the floor).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/cached_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cached_lib.sh"
cd "$DF_ROOT"

SCEN="${1:-all}"
case "$SCEN" in cached | cached15 | uncached | pipeline | history | pickup | fairness | layers | all) ;; *) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
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
# ensure_oha: bench/cached_lib.sh

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
# The limiter settings a stack runs with; bench/run.sh keeps "<api pid> <mode>" in $RUN/bench-mode.
limiter_mode() { echo "limiter=${DF_RATE_LIMIT_ENABLED:-} ip=${DF_RATE_LIMIT_IP:-} key=${DF_RATE_LIMIT_KEY:-}"; }
read_api_pid() {
  API_PID="$(tr -dc '0-9' <"$RUN/api.pid")"
  if [[ -z "$API_PID" ]] || ! kill -0 "$API_PID"; then die "no running api process"; fi
}

start_stack() {
  local profile="" api_bin="" mode
  mode="$(limiter_mode)"
  if [[ -f "$RUN/stack.env" ]]; then
    profile="$(sed -n 's/^export DF_PROFILE=//p' "$RUN/stack.env")"
    api_bin="$(sed -n 's/^export DF_API_BIN=//p' "$RUN/stack.env")"   # bench/profile.sh's API
  fi
  if [[ -z "${DF_BENCH_RESTART:-}" && "$profile" == "$PROFILE" && ( -z "$api_bin" || "$api_bin" == "''" ) ]] \
    && scripts/dev.sh status >/dev/null 2>&1 && ! stack_mode_differs "$mode"; then
    log "reusing the running $PROFILE stack (DF_BENCH_RESTART=1 to restart)"
  else
    DF_PROFILE="$PROFILE" DF_API_BIN="" scripts/dev.sh start
    echo "$(tr -dc '0-9' <"$RUN/api.pid") $mode" >"$RUN/bench-mode"
  fi
  # shellcheck disable=SC1091
  . "$RUN/stack.env"
  read_api_pid
  local out
  out="$("$DF_ROOT/target/$PROFILE/dropforge-api" keys create --tenant bench)" || die "keys create --tenant bench failed"
  KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
  [[ -n "$KEY" ]] || die "could not read api_key from keys create"
  (umask 077; printf 'KEY=%q\n' "$KEY" >"$RUN/bench-key.env")
  warm_single
}

# stack_mode_differs MODE: the running API was started by this script with other limiter settings.
stack_mode_differs() {
  local pid rec
  [[ -f "$RUN/bench-mode" ]] || return 1
  pid="$(tr -dc '0-9' <"$RUN/api.pid" 2>/dev/null || true)"
  read -r rec <"$RUN/bench-mode" || return 1
  [[ "${rec%% *}" == "$pid" && "${rec#* }" != "$1" ]]
}

# restart_with_limiter on|off|default: the stack (no rebuild) with the mix's limiter (on, a quota
# that never binds), with the limiter off, or as the environment says; no-op when it already runs so.
limiter_env() {
  case "$1" in
    on) mix_limiter_env ;;
    off) export DF_RATE_LIMIT_ENABLED=false ;;
    *) ;;
  esac
}
restart_with_limiter() {
  local mode
  mode="$(limiter_env "$1"; limiter_mode)"
  if [[ -f "$RUN/bench-mode" && "$(cat "$RUN/bench-mode")" == "$API_PID $mode" ]] && kill -0 "$API_PID" 2>/dev/null; then
    return 0
  fi
  log "restarting the stack with the rate limiter $1 ($mode)"
  (
    limiter_env "$1"
    DF_PROFILE="$PROFILE" DF_SKIP_BUILD=1 DF_API_BIN="" scripts/dev.sh start
  ) >"$RUN/bench-restart.log" 2>&1 || { tail -n 30 "$RUN/bench-restart.log" >&2; die "stack restart failed"; }
  read_api_pid
  echo "$API_PID $mode" >"$RUN/bench-mode"
}

# warm the cache of the single benchmark product
warm_single() {
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
    quiet
    log "batches, worker saturated: ${DF_BENCH_N:-10000} products in batches of 50 from 8 clients, 3 in flight each"
    # shellcheck disable=SC2086
    python3 bench/loadgen.py batches --url "$DF_API_URL" --key "$KEY" -n "${DF_BENCH_N:-10000}" -c 8 --window 3 \
      --out "$JSONL" --label "$STAMP${1:+ $1}" --redis-url "$REDIS_URL" --cpu $cpu || warn "batches (window 3): not every batch completed"
    quiet
    log "batches, all at once: ${DF_BENCH_N:-10000} products in batches of 50, 8 clients sending every batch without waiting, the last 20 sent one every 100 ms while the worker works through the backlog"
    # shellcheck disable=SC2086
    python3 bench/loadgen.py batches --url "$DF_API_URL" --key "$KEY" -n "${DF_BENCH_N:-10000}" -c 8 --open --probe 20 \
      --out "$JSONL" --label "$STAMP${1:+ $1}" --redis-url "$REDIS_URL" --cpu $cpu || warn "batches (open): not every batch completed"
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

# bench LABEL URL PID extra-args...: DF_BENCH_RUNS runs of bench.sh, one call each so that the
# server's CPU (utime + stime from /proc/PID/stat) and peak RSS (VmHWM, reset before the run) are
# read around every run. bench/cached_report.py adds both to the run's TSV row and writes a JSON
# line (scenario: $BENCH_SCEN).
BENCH_SCEN=""
bench() {
  local label="$1" url="$2" pid="$3"; shift 3
  local -a a=(-c "$CONNS" -r 1 -l "$label" -o "$TSV")
  [[ -n "$pid" ]] && a+=(-S "$pid")
  [[ -n "${DF_BENCH_PIN:-}" ]] && a+=(-L "$DF_BENCH_PIN")
  local i t0=0 t1=0 hwm=0 r0=0 r1=0 rpid="" runout="$RUN/bench-run.out" hz
  hz="$(getconf CLK_TCK)"
  # DropForge's lines also count the Redis server's CPU (the limiter's decisions, cache reads)
  [[ "$label" == dropforge* ]] && rpid="$(listener_pid "$(url_port "${REDIS_URL:-redis://127.0.0.1:6379}" 6379)")"
  for ((i = 1; i <= RUNS; i++)); do
    quiet
    if [[ -n "$pid" ]]; then hwm_reset "$pid"; t0="$(proc_ticks "$pid")"; fi
    [[ -n "$rpid" ]] && r0="$(proc_ticks "$rpid")"
    if ! bash "$BENCH/bench.sh" "$url" "${a[@]}" "$@" | tee "$runout"; then
      warn "bench.sh failed for $label (run $i)"
      continue
    fi
    if [[ -n "$pid" ]]; then t1="$(proc_ticks "$pid")"; hwm="$(hwm_kb "$pid")"; fi
    [[ -n "$rpid" ]] && r1="$(proc_ticks "$rpid")"
    python3 bench/cached_report.py row --tsv "$TSV" --jsonl "$JSONL" --out "$runout" --label "$label" \
      --scenario "${BENCH_SCEN:-$SCEN}" --stamp "$STAMP" --run "$i" --ticks "$t0" "$t1" --hz "$hz" \
      --hwm-kb "$hwm" --pid "$pid" --redis-ticks "$r0" "$r1" || warn "no CPU / RSS figures for $label (run $i)"
  done
}


# cached_round SCENARIO bench.sh-shape-args...: the realistic mix (limiter on, quota never binds),
# the single product (limiter off), then the peers.
cached_round() {
  BENCH_SCEN="$1"; shift
  local shape_args=("$@") ep ap
  restart_with_limiter on
  mix_headers "$KEY"
  mix_prepare "$DF_API_URL" "$KEY"
  bench "dropforge mix: $MIX_N cached products, limiter on, browser headers" "$DF_API_URL/v1/validations" \
    "$API_PID" -m POST -Z "$MIX_BODIES" "${MIX_HEADERS[@]}" "${shape_args[@]}"
  if [[ "${DF_BENCH_SINGLE:-1}" != 0 ]]; then
    restart_with_limiter off
    warm_single
    bench "dropforge single: 1 cached product, limiter off" "$DF_API_URL/v1/validations" "$API_PID" \
      -m POST -d "$BODY" -H "Authorization: Bearer $KEY" "${shape_args[@]}"
  fi
  ep="$(peer_pid express)"; ap="$(peer_pid axum)"
  if [[ -n "$ep" ]]; then
    bench "express POST /api/validate (cached)" http://127.0.0.1:3901/api/validate "$ep" \
      -m POST -d '{"productId":"p-1"}' "${shape_args[@]}"
  fi
  if [[ -n "$ap" ]]; then
    bench "axum floor GET /" http://127.0.0.1:3904/ "$ap" "${shape_args[@]}"
  fi
  BENCH_SCEN=""
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
    python3 bench/cached_report.py summary --tsv "$TSV" --jsonl "$JSONL" --stamp "$STAMP"
  } >"$RES/summary.md"
  log "summary: $RES/summary.md"
  cat "$RES/summary.md"
}

# ---------------------------------------------------------------- fairness
# fair_key TENANT: a fresh API key of TENANT (the tenant is created on first use).
fair_key() {
  local out
  out="$("$DF_ROOT/target/$PROFILE/dropforge-api" keys create --tenant "$1")" || die "keys create --tenant $1 failed"
  sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1
}
# fair_restart [VAR=VALUE...]: the stack again (no rebuild) with these settings on top of the
# environment; refreshes API_PID.
fair_restart() {
  (
    for kv in "$@"; do export "${kv?}"; done
    DF_PROFILE="$PROFILE" DF_SKIP_BUILD=1 DF_API_BIN="" scripts/dev.sh start
  ) >"$RUN/bench-fairness-restart.log" 2>&1 \
    || { tail -n 30 "$RUN/bench-fairness-restart.log" >&2; die "stack restart failed"; }
  API_PID="$(tr -dc '0-9' <"$RUN/api.pid")"
  rm -f "$RUN/bench-mode"   # the cached scenarios' record of the limiter mode no longer applies
}
fairness_round() {
  local ka kb scratch sizes="${DF_BENCH_ROUND_SIZES:-10000,100000,1000000}"
  ka="$(fair_key bench-fair-a)"; kb="$(fair_key bench-fair-b)"
  [[ -n "$ka" && -n "$kb" ]] || die "could not read the fairness keys"
  sleep 2   # let any earlier backlog drain (bounded)
  quiet
  log "fairness: B 100 singles at 10/s alone and behind A's 10,000 batch items; A alone and with B"
  timeout 300 python3 bench/fairness.py run --url "$DF_API_URL" --key-a "$ka" --key-b "$kb" \
    --database-url "$DATABASE_URL" --out "$JSONL" --label "$STAMP" --deadline 240 || warn "fairness: see above"
  scratch="$(pg_url_with_db "$DATABASE_URL" dropforge_fairness_rounds)"
  log "fairness: dispatch round time at $sizes queued rows (scratch database)"
  timeout 300 python3 bench/fairness.py rounds --scratch-url "$scratch" --api-bin "$DF_ROOT/target/$PROFILE/dropforge-api" \
    --sizes "$sizes" --out "$JSONL" --label "$STAMP" || warn "fairness rounds failed"
  log "fairness: scaled down with the real AliExpress budget (DF_BUDGET_ALIEXPRESS_PER_SEC=10)"
  fair_restart DF_BUDGET_ALIEXPRESS_PER_SEC=10
  timeout 200 python3 bench/fairness.py run --variant budget10 --url "$DF_API_URL" --key-a "$ka" --key-b "$kb" \
    --database-url "$DATABASE_URL" --out "$JSONL" --label "$STAMP" --b-n 20 --b-rate 1 --a-items 1000 \
    --a-threshold 800 --skip-a-alone --cancel-a --b-deadline 60 --deadline 150 || warn "fairness (budget 10/s): see above"
  fair_restart
}

# ---------------------------------------------------------------- layers
# Every layer DF_BENCH_LAYERS_OFF knows (common/src/config/sections.rs, HttpLayer::ALL).
LAYERS=(idempotency rate_limit body_limit compression timeout cors security_headers metrics trace request_id)
# layers_run NAME OFF: the stack restarted with DF_BENCH_LAYERS_OFF=OFF (the mix's limiter: on,
# quota never binds), a 3 s warm-up, then DF_BENCH_RUNS runs of the mix at a fixed rate
# (DF_BENCH_LAYER_QPS, below every configuration's saturation, so each does the same work per
# second), each with the API's CPU from /proc; bench/cached_report.py layer-row records them.
layers_run() {
  local name="$1" off="$2" i t0 t1 hwm out="$RUN/bench-layers-oha.json"
  local qps="${DF_BENCH_LAYER_QPS:-6000}" secs="${DF_BENCH_LAYER_SECS:-8}"
  log "layers: $name"
  (
    mix_limiter_env
    export DF_BENCH_LAYERS_OFF="$off"
    DF_PROFILE="$PROFILE" DF_SKIP_BUILD=1 DF_API_BIN="" scripts/dev.sh start
  ) >"$RUN/bench-layers-restart.log" 2>&1 || { tail -n 30 "$RUN/bench-layers-restart.log" >&2; die "stack restart failed"; }
  read_api_pid
  rm -f "$RUN/bench-mode"
  local -a load=(--no-tui -c 200 -q "$qps" -m POST -Z "$MIX_BODIES" -H 'Content-Type: application/json'
    "${MIX_HEADERS[@]}" "$DF_API_URL/v1/validations")
  "$OHA" -z 3s "${load[@]}" --output-format quiet >/dev/null 2>&1 || true
  for ((i = 1; i <= RUNS; i++)); do
    quiet
    hwm_reset "$API_PID"; t0="$(proc_ticks "$API_PID")"
    "$OHA" -z "${secs}s" "${load[@]}" --output-format json -o "$out" 2>/dev/null || { warn "oha failed ($name)"; continue; }
    t1="$(proc_ticks "$API_PID")"; hwm="$(hwm_kb "$API_PID")"
    python3 bench/cached_report.py layer-row --oha-json "$out" --tsv "$TSV" --jsonl "$JSONL" --label "layers: $name" \
      --shape "c=200 q=$qps z=${secs}s" --stamp "$STAMP" --run "$i" --ticks "$t0" "$t1" --hz "$(getconf CLK_TCK)" \
      --hwm-kb "$hwm" || warn "no figures for $name (run $i)"
  done
}
layers_round() {
  local layer all
  restart_with_limiter on
  mix_headers "$KEY"
  mix_prepare "$DF_API_URL" "$KEY"
  layers_run "all on" ""
  for layer in "${LAYERS[@]}"; do layers_run "without $layer" "$layer"; done
  all="$(IFS=,; echo "${LAYERS[*]}")"
  layers_run "without every layer" "$all"
  layers_run "all on (again, last)" ""
  python3 bench/cached_report.py layers --tsv "$TSV" --jsonl "$JSONL" --stamp "$STAMP" | tee "$RES/layers.md"
  log "layer costs: ${RES#"$DF_ROOT"/}/layers.md"
  DF_PROFILE="$PROFILE" DF_SKIP_BUILD=1 DF_API_BIN="" scripts/dev.sh start >"$RUN/bench-layers-restart.log" 2>&1 \
    || warn "could not restart the stack with every layer"
}

# ---------------------------------------------------------------- main
want() { [[ "$SCEN" == all || "$SCEN" == "$1" ]]; }
if [[ "$SCEN" == layers ]]; then
  have_bench || die "$BENCH/bench.sh not found: the layers scenario needs the shared harness"
  ensure_oha
  start_stack
  layers_round
  log "done (layers)"
  exit 0
fi
if want cached || want cached15; then
  have_bench || die "$BENCH/bench.sh not found: the cached scenarios need the shared harness"
  ensure_oha
  start_peers
fi
start_stack
log "api pid $API_PID, results in $RES"
if want cached; then cached_round cached -n 10000; fi
if want cached15; then cached_round cached15 -z 15s; fi
summarize
if { want cached || want cached15; } && { want uncached || want pipeline || want history || want pickup || want fairness; }; then
  restart_with_limiter default   # the job scenarios run as before: the limiter as the environment says
fi

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
if want fairness; then fairness_round; fi
if [[ -s "$TSV" ]]; then log "oha runs: ${TSV#"$DF_ROOT"/} (also appended to bench/results/runs.tsv); summary: bench/results/summary.md"; fi
if want uncached || want pickup || want pipeline || want history || want fairness; then log "loadgen JSON lines: ${JSONL#"$DF_ROOT"/}"; fi
log "done ($SCEN)"
