#!/usr/bin/env bash
# The cached-path benchmark's shared pieces, for bench/run.sh and bench/profile.sh. Source it after
# scripts/lib.sh:
#
#   ensure_oha, ensure_inferno     install on demand (cargo install --locked), export OHA / INFERNO_DIR
#   mix_limiter_env                the limiter settings of the mix: on, with a quota that never binds
#   mix_headers KEY                sets MIX_HEADERS: bench.sh -H arguments of a browser (with the key)
#   mix_prepare URL KEY            writes MIX_BODIES (DF_BENCH_MIX distinct products, one per line)
#                                  and makes every one of them cached (bench/cached_mix.py)
#   proc_ticks PID                 utime + stime of PID, in clock ticks (/proc/PID/stat)
#   hwm_reset PID / hwm_kb PID     reset / read the peak RSS (VmHWM) of PID
# shellcheck shell=bash

if [[ -n "${_DF_CACHED_LIB_LOADED:-}" ]]; then return 0; fi
_DF_CACHED_LIB_LOADED=1

MIX_N="${DF_BENCH_MIX:-200}"
MIX_BODIES="$DF_DATA_DIR/run/cached-mix-bodies.txt"
# the first origin of the allow-list (DF_CORS_ORIGINS, else the API's default list)
MIX_ORIGIN="${DF_CORS_ORIGINS:-https://www.dropstackerpro.com}"
MIX_ORIGIN="${MIX_ORIGIN%%,*}"
MIX_UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

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

# inferno-collapse-perf and inferno-flamegraph (flame graphs from `perf script`)
ensure_inferno() {
  local bin
  bin="$(command -v inferno-flamegraph || echo "$HOME/.cargo/bin/inferno-flamegraph")"
  if [[ ! -x "$bin" ]]; then
    log "inferno not found: cargo install inferno --locked"
    cargo install inferno --locked
    bin="$HOME/.cargo/bin/inferno-flamegraph"
  fi
  [[ -x "$bin" && -x "$(dirname "$bin")/inferno-collapse-perf" ]] || die "inferno still not found"
  INFERNO_DIR="$(dirname "$bin")"
  export INFERNO_DIR
}

# The environment the API runs the mix with: the limiter on as shipped, with a quota that never binds.
mix_limiter_env() {
  export DF_RATE_LIMIT_ENABLED=true DF_RATE_LIMIT_IP=1000000000/60 DF_RATE_LIMIT_KEY=1000000000/60
}

# mix_headers KEY: what a browser sends with the API key (bench.sh -H pairs) -> MIX_HEADERS
mix_headers() {
  # shellcheck disable=SC2034  # used by the scripts that source this file
  MIX_HEADERS=(-H "Authorization: Bearer $1" -H 'Accept: application/json' -H 'Accept-Encoding: gzip, br'
    -H "Origin: $MIX_ORIGIN" -H "User-Agent: $MIX_UA")
}

# mix_prepare URL KEY: the body file, and every product in it cached (first submit waits for the
# sandbox's answer, the second must be a hit).
mix_prepare() {
  local url="$1" key="$2"
  mkdir -p "$(dirname "$MIX_BODIES")"
  python3 "$DF_ROOT/bench/cached_mix.py" bodies --out "$MIX_BODIES" -n "$MIX_N" >/dev/null
  log "making $MIX_N products cached (Prefer: wait=30, then a hit check)"
  python3 "$DF_ROOT/bench/cached_mix.py" warm --url "$url" --key "$key" --bodies "$MIX_BODIES" >&2 \
    || die "the mix's products are not all cached"
}

proc_ticks() {
  local st
  st="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  st="${st##*) }"
  # fields after "(comm) ": state is 1, utime 12, stime 13
  awk '{ print $12 + $13 }' <<<"$st"
}
hwm_reset() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || warn "cannot reset the peak RSS of pid $1 (not root?)"; }
hwm_kb() { awk '/^VmHWM:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0; }
