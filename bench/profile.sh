#!/usr/bin/env bash
# Profile the API on the cached path's realistic mix: a flame graph and the top symbols.
#
#   bench/profile.sh [SECONDS]        (default 15)
#
# 1. Builds dropforge-api with the cargo profile `profiling` (release + line tables) and frame
#    pointers (RUSTFLAGS=-C force-frame-pointers=yes; CFLAGS -fno-omit-frame-pointer for the C
#    code, mimalloc among it) in its own target dir, target/profiling, so that the release build
#    stays valid.
# 2. (Re)starts the stack with scripts/dev.sh (release worker and sandbox), the profiling API in
#    place of the release one (DF_API_BIN), the rate limiter on with a quota that never binds.
# 3. Makes the mix's products cached (bench/cached_mix.py) and drives the mix with oha
#    (bench.sh: 1,000 connections, SECONDS) while `perf record -F 999 -g --call-graph fp` samples
#    the API (from the 2nd second to one second before the end).
# 4. Writes bench/results/flame-cached-<stamp>.svg (inferno, installed on demand) and
#    flame-cached-<stamp>.txt (perf report --no-children --sort symbol, the top 40).
# The stack keeps running the profiling API afterwards; bench/run.sh restarts the release one.
#
# Environment (optional): DF_BENCH_CONNS (1000), DF_BENCH_MIX (200), DF_PROFILE_FREQ (999),
# DF_SKIP_BUILD=1 (no cargo build: use what is built), DF_PROFILE_KEEP=1 (keep perf.data in .data/run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/cached_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cached_lib.sh"
cd "$DF_ROOT"

SECS="${1:-15}"
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 4 && "$SECS" -le 300 ]] || die "usage: bench/profile.sh [SECONDS: 4..300]"
RES="$DF_ROOT/bench/results"
RUN="$DF_DATA_DIR/run"
STAMP="$(date +%Y%m%d-%H%M%S)"
SVG="$RES/flame-cached-$STAMP.svg"
TOP="$RES/flame-cached-$STAMP.txt"
DATA="$RUN/perf-cached-$STAMP.data"
TARGET_DIR="$DF_ROOT/target/profiling"
API_BIN="$TARGET_DIR/profiling/dropforge-api"
BENCH="$DF_SHARED/bench"
mkdir -p "$RES" "$RUN"

ensure_rust
ensure_packages perf:linux-perf
[[ -f "$BENCH/bench.sh" ]] || die "$BENCH/bench.sh not found: the load needs the shared harness"
ensure_oha
ensure_inferno

if [[ -z "${DF_SKIP_BUILD:-}" ]]; then
  log "building dropforge-api (profile profiling, frame pointers) into $TARGET_DIR"
  RUSTFLAGS="-C force-frame-pointers=yes" CFLAGS="-O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer" \
    cargo build --profile profiling --target-dir "$TARGET_DIR" -p dropforge-api --bin dropforge-api
fi
[[ -x "$API_BIN" ]] || die "$API_BIN not found (build it, or drop DF_SKIP_BUILD)"

mix_limiter_env
DF_API_BIN="$API_BIN" DF_PROFILE=release scripts/dev.sh start >"$RUN/profile-stack.log" 2>&1 \
  || { tail -n 30 "$RUN/profile-stack.log" >&2; die "stack start failed (log: $RUN/profile-stack.log)"; }
# shellcheck disable=SC1091
. "$RUN/stack.env"
API_PID="$(tr -dc '0-9' <"$RUN/api.pid")"
if [[ -z "$API_PID" ]] || ! kill -0 "$API_PID"; then die "no running api process"; fi
[[ "$(readlink -f "/proc/$API_PID/exe")" == "$(readlink -f "$API_BIN")" ]] || die "pid $API_PID is not $API_BIN"
log "profiling API up (pid $API_PID)"

out="$("$API_BIN" keys create --tenant bench)" || die "keys create --tenant bench failed"
KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
[[ -n "$KEY" ]] || die "could not read api_key from keys create"
mix_headers "$KEY"
mix_prepare "$DF_API_URL" "$KEY"

if [[ -f "$BENCH/quiet.sh" ]]; then bash "$BENCH/quiet.sh" 85 60 || warn "machine not quiet"; fi
log "driving the mix for ${SECS}s at ${DF_BENCH_CONNS:-1000} connections; perf record for $((SECS - 2))s"
bash "$BENCH/bench.sh" "$DF_API_URL/v1/validations" -c "${DF_BENCH_CONNS:-1000}" -z "${SECS}s" -r 1 \
  -l "dropforge mix (profiling build)" -S "$API_PID" -m POST -Z "$MIX_BODIES" "${MIX_HEADERS[@]}" &
LOAD=$!
sleep 1
perf record -F "${DF_PROFILE_FREQ:-999}" -g --call-graph fp -p "$API_PID" -o "$DATA" -- sleep $((SECS - 2)) \
  2>"$RUN/perf-record.log" || { cat "$RUN/perf-record.log" >&2; die "perf record failed"; }
wait "$LOAD" || warn "the load run failed"
grep -h 'samples' "$RUN/perf-record.log" >&2 || true

log "flame graph: ${SVG#"$DF_ROOT"/}"
perf script -i "$DATA" 2>/dev/null | "$INFERNO_DIR/inferno-collapse-perf" \
  | "$INFERNO_DIR/inferno-flamegraph" --title "dropforge-api, cached mix, ${SECS}s at ${DF_BENCH_CONNS:-1000} connections ($STAMP)" >"$SVG" \
  || die "flame graph failed"
{
  echo "# perf report --no-children --sort symbol: top 40 (dropforge-api, cached mix, $STAMP)"
  # awk reads to the end (no SIGPIPE for perf under pipefail)
  perf report -i "$DATA" --no-children --sort symbol --stdio -g none 2>/dev/null | awk '/^ +[0-9.]+%/ && n < 40 { sub(/[[:space:]]+-[[:space:]]+-[[:space:]]*$/, ""); sub(/[[:space:]]+$/, ""); print; n++ }'
} >"$TOP"
cat "$TOP"
if [[ -z "${DF_PROFILE_KEEP:-}" ]]; then rm -f "$DATA" "$DATA.old"; else log "perf data kept: $DATA"; fi
log "done: ${SVG#"$DF_ROOT"/}, ${TOP#"$DF_ROOT"/} (the stack still runs the profiling API; bench/run.sh restarts the release one)"
