#!/usr/bin/env bash
# Shared shell functions for scripts/*.sh, bench/run.sh and .ci/run. Source it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: log/warn/die, ensure_packages, ensure_rust, pg_ready, redis_ready,
# pg_url_with_db, start_private_postgres/stop_private_postgres,
# start_private_redis/stop_private_redis, ensure_services, wait_http, port_open,
# stop_pidfile, ensure_schemathesis.
#
# Variables (all optional):
#   DF_ROOT        repository root (default: parent of this file's directory)
#   DF_SHARED      the read-only shared folder (default: "$(dirname "$DF_ROOT")/shared"; may be absent)
#   DF_DATA_DIR    private state: databases, logs, PID files (default: "$DF_ROOT/.data")
#   DATABASE_URL   (default postgres://postgres@127.0.0.1:5432/dropforge)
#   REDIS_URL      (default redis://127.0.0.1:6379)
#   DF_PRIVATE_PG_PORT / DF_PRIVATE_REDIS_PORT   ports of the private fallbacks (55432 / 56379)
# shellcheck shell=bash

if [[ -n "${_DF_LIB_LOADED:-}" ]]; then return 0; fi
_DF_LIB_LOADED=1

DF_ROOT="${DF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DF_SHARED="${DF_SHARED:-$(dirname "$DF_ROOT")/shared}"
DF_DATA_DIR="${DF_DATA_DIR:-$DF_ROOT/.data}"
DF_DEFAULT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/dropforge"
DF_DEFAULT_REDIS_URL="redis://127.0.0.1:6379"
DF_PRIVATE_PG_PORT="${DF_PRIVATE_PG_PORT:-55432}"
DF_PRIVATE_REDIS_PORT="${DF_PRIVATE_REDIS_PORT:-56379}"
export DF_ROOT DF_SHARED DF_DATA_DIR

# ---------------------------------------------------------------- logging
_df_tag() { basename "${0:-df}"; }
log() { printf '\033[1;34m[%s %s]\033[0m %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '\033[1;33m[%s %s] WARN:\033[0m %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\033[1;31m[%s %s] ERROR:\033[0m %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
# no colours when stderr is not a terminal
if [[ ! -t 2 ]]; then
  log() { printf '[%s %s] %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; }
  warn() { printf '[%s %s] WARN: %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; }
  die() { printf '[%s %s] ERROR: %s\n' "$(_df_tag)" "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
fi

# ---------------------------------------------------------------- packages
_DF_APT_UPDATED=""
_df_as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}
_df_pg_bindir() {
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"
}
# _df_have CHECK: CHECK is a binary name, or the pseudo-name "pg-server" (initdb + pg_ctl).
_df_have() {
  case "$1" in
    pg-server) [[ -n "$(_df_pg_bindir)" ]] ;;
    pymod-*) python3 -c "import ${1#pymod-}" >/dev/null 2>&1 ;;  # a Python module, e.g. pymod-yaml
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# ensure_packages [CHECK:PACKAGE ...] [--optional CHECK:PACKAGE ...]
# Installs, with apt-get (one `apt-get update` per process), the Debian packages whose CHECK
# binary is missing. Always checks the base set: postgresql (psql, initdb, pg_ctl),
# redis-server (redis-server, redis-cli), curl, jq, python3. Packages after --optional may fail
# to install (a warning, not an error).
ensure_packages() {
  local -a req=(psql:postgresql pg-server:postgresql redis-server:redis-server redis-cli:redis-server
    curl:curl jq:jq python3:python3) opt=()
  local optional=0 spec
  for spec in "$@"; do
    if [[ "$spec" == --optional ]]; then optional=1; continue; fi
    if ((optional)); then opt+=("$spec"); else req+=("$spec"); fi
  done
  local -a miss_req=() miss_opt=()
  for spec in "${req[@]}"; do _df_have "${spec%%:*}" || miss_req+=("${spec#*:}"); done
  for spec in "${opt[@]}"; do _df_have "${spec%%:*}" || miss_opt+=("${spec#*:}"); done
  # dedupe
  mapfile -t miss_req < <(printf '%s\n' "${miss_req[@]}" | sed '/^$/d' | sort -u)
  mapfile -t miss_opt < <(printf '%s\n' "${miss_opt[@]}" | sed '/^$/d' | sort -u)
  ((${#miss_req[@]} + ${#miss_opt[@]})) || return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${miss_req[*]} ${miss_opt[*]}) and no apt-get: install them by hand"
  _DF_APT_LOG="${TMPDIR:-/tmp}/dropforge-apt.log"
  if [[ -z "$_DF_APT_UPDATED" ]]; then
    log "apt-get update"
    _df_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || warn "apt-get update failed"
    _DF_APT_UPDATED=1
  fi
  if ((${#miss_req[@]})); then
    log "installing: ${miss_req[*]}"
    _df_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${miss_req[@]}" \
      >"$_DF_APT_LOG" 2>&1 || { tail -n 30 "$_DF_APT_LOG" >&2; die "apt-get install ${miss_req[*]} failed (log: $_DF_APT_LOG)"; }
  fi
  local p
  for p in "${miss_opt[@]}"; do
    log "installing (optional): $p"
    _df_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" \
      >"$_DF_APT_LOG" 2>&1 || warn "optional package $p could not be installed (log: $_DF_APT_LOG); continuing without it"
  done
}

# ensure_schemathesis: Schemathesis $DF_SCHEMATHESIS_VERSION (default 4.32.5) from PyPI in a
# virtualenv at $DF_SCHEMATHESIS_VENV (default $DF_DATA_DIR/schemathesis-venv); sets ST to its `st`.
# Installs python3 and python3-venv (Debian keeps ensurepip there) when missing; reuses the venv
# when it already holds that version.
ensure_schemathesis() {
  local version="${DF_SCHEMATHESIS_VERSION:-4.32.5}" venv="${DF_SCHEMATHESIS_VENV:-$DF_DATA_DIR/schemathesis-venv}"
  ST="$venv/bin/st"
  if [[ -x "$ST" && "$("$ST" --version 2>/dev/null)" == *" $version" ]]; then return 0; fi
  ensure_packages python3:python3 pymod-ensurepip:python3-venv
  log "installing Schemathesis $version into $venv"
  python3 -m venv --clear "$venv" || die "python3 -m venv $venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version" \
    || die "pip install schemathesis==$version failed"
  [[ "$("$ST" --version 2>/dev/null)" == *" $version" ]] || die "$ST does not report version $version"
}

# ensure_rust: cargo on PATH (adds ~/.cargo/bin when needed); never downloads toolchains.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found. Install a Rust toolchain (https://rustup.rs: rustup toolchain install stable, with the rustfmt and clippy components) and re-run; this script does not download toolchains."
  cargo --version >/dev/null 2>&1 || die "cargo is on PATH but does not run (rustup without a default toolchain?): try 'rustup default stable'"
}

# ---------------------------------------------------------------- URLs
# pg_url_with_db URL DB: the same server/user, another database (query string kept).
pg_url_with_db() {
  local url="$1" db="$2" re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
  [[ "$url" =~ $re ]] || { echo "$url"; return 1; }
  echo "${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
}
# pg_url_db URL: the database name in URL (empty if none)
pg_url_db() {
  local re='^postgres(ql)?://[^/?]*/([^?]*)'
  [[ "$1" =~ $re ]] && echo "${BASH_REMATCH[2]}"
}

# pg_ready URL: the PostgreSQL server of URL answers a query (tries URL's own database, then
# "postgres", so a not-yet-created application database still counts as ready).
pg_ready() {
  local url="${1:-${DATABASE_URL:-$DF_DEFAULT_DATABASE_URL}}" alt
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 timeout 10 psql "$url" -XAtq -c 'select 1' >/dev/null 2>&1 && return 0
  alt="$(pg_url_with_db "$url" postgres)" || return 1
  PGCONNECT_TIMEOUT=3 timeout 10 psql "$alt" -XAtq -c 'select 1' >/dev/null 2>&1
}

# redis_ready URL: PING answers PONG.
redis_ready() {
  local url="${1:-${REDIS_URL:-$DF_DEFAULT_REDIS_URL}}"
  command -v redis-cli >/dev/null 2>&1 || return 1
  [[ "$(timeout 5 redis-cli -u "$url" --no-auth-warning ping 2>/dev/null)" == PONG ]]
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# wait_http URL TIMEOUT_S [PID]: until URL answers 2xx; fails early when PID dies.
wait_http() {
  local url="$1" pid="${3:-}" deadline=$((SECONDS + ${2:-60}))
  while ((SECONDS < deadline)); do
    curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && return 0
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then return 2; fi
    sleep 0.2
  done
  return 1
}

# pid_alive PID: the process exists and is not a zombie waiting to be reaped.
pid_alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  st="${st##*) }"
  [[ "${st:0:1}" != Z ]]
}

# stop_pid NAME GRACE: the caller's global associative array PIDS maps NAME to a PID it started.
stop_pid() {  # stop_pid NAME GRACE: TERM, then KILL after GRACE seconds; only our own PIDs
  local name="$1" grace="$2" pid="${PIDS[$1]:-}"
  [[ -n "$pid" ]] || return 0
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if pid_alive "$pid"; then warn "$name (pid $pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
  unset 'PIDS[$name]'
}

# stop_pidfile PIDFILE [NAME_PATTERN] [GRACE_S]: TERM (then KILL after GRACE_S) the process in
# PIDFILE, only if it is alive and (when given) its command line matches NAME_PATTERN (guards
# against a recycled PID). Removes the PID file.
stop_pidfile() {
  local f="$1" pat="${2:-}" grace="${3:-15}" pid cmd
  [[ -f "$f" ]] || return 0
  pid="$(tr -dc '0-9' <"$f")"
  if [[ -n "$pid" ]] && pid_alive "$pid"; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ -n "$pat" && "$cmd" != *$pat* ]]; then
      warn "PID $pid in $f is now '$cmd', not $pat: leaving it alone"
    else
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + grace))
      while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
      if pid_alive "$pid"; then
        warn "PID $pid ($pat) ignored SIGTERM for ${grace}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- private PostgreSQL
# _df_pg_run CMD...: run as the postgres user when we are root (PostgreSQL refuses root).
_df_pg_run() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_private_postgres DIR PORT: a throw-away cluster in DIR/pgdata (trust auth, user
# "postgres", 127.0.0.1 only, socket in DIR), log DIR/postgres.log. No-op if it already runs.
start_private_postgres() {
  local dir="$1" port="$2" bindir data
  [[ -n "$dir" && -n "$port" ]] || die "usage: start_private_postgres DIR PORT"
  bindir="$(_df_pg_bindir)" || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  data="$dir/pgdata"
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run a private PostgreSQL as (apt-get install postgresql creates it)"
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" || die "user postgres cannot write $dir (a parent directory is not traversable?); set DF_DATA_DIR elsewhere"
  fi
  if [[ -f "$data/postmaster.pid" ]] && _df_pg_run "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "private PostgreSQL already running in $data"
    return 0
  fi
  if port_open 127.0.0.1 "$port"; then die "port $port is taken by another process; choose another with DF_PRIVATE_PG_PORT"; fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "initdb $data"
    _df_pg_run "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || _df_pg_run "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    _df_pg_run tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- DropForge private instance (scripts/lib.sh) ---
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 128MB
EOF
  fi
  log "starting private PostgreSQL on 127.0.0.1:$port ($data)"
  _df_pg_run "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null \
    || { tail -n 30 "$dir/postgres.log" >&2 || true; die "private PostgreSQL did not start"; }
  pg_ready "postgres://postgres@127.0.0.1:$port/postgres" || die "private PostgreSQL started but does not answer on $port"
}

# private_postgres_pid DIR: PID of the postmaster (empty if not running)
private_postgres_pid() {
  local f="$1/pgdata/postmaster.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(head -n 1 "$f")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

# stop_private_postgres DIR: fast shutdown of the cluster in DIR/pgdata (only that one).
stop_private_postgres() {
  local dir="$1" bindir
  [[ -f "$dir/pgdata/postmaster.pid" ]] || return 0
  bindir="$(_df_pg_bindir)" || return 1
  log "stopping private PostgreSQL ($dir/pgdata)"
  _df_pg_run "$bindir/pg_ctl" -D "$dir/pgdata" -m fast -w -t 60 stop >/dev/null || warn "pg_ctl stop failed"
}

# ---------------------------------------------------------------- private Redis
# start_private_redis DIR PORT [redis-server options, e.g. --appendonly yes]: daemonized,
# 127.0.0.1 only, data/PID/log in DIR. No-op if the instance of DIR already answers.
start_private_redis() {
  local dir="$1" port="$2"; shift 2 || die "usage: start_private_redis DIR PORT [--opt val ...]"
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found (apt-get install redis-server)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pidf="$dir/redis.pid" pid
  if [[ -f "$pidf" ]]; then
    pid="$(tr -dc '0-9' <"$pidf")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && redis_ready "redis://127.0.0.1:$port"; then
      log "private Redis already running (pid $pid, port $port)"
      return 0
    fi
  fi
  if port_open 127.0.0.1 "$port"; then die "port $port is taken by another process; choose another with DF_PRIVATE_REDIS_PORT"; fi
  log "starting private Redis on 127.0.0.1:$port ($dir)"
  redis-server --daemonize yes --dir "$dir" --port "$port" --bind 127.0.0.1 \
    --pidfile "$pidf" --logfile "$dir/redis.log" "$@" \
    || die "redis-server failed to start"
  local deadline=$((SECONDS + 20))
  until redis_ready "redis://127.0.0.1:$port"; do
    ((SECONDS < deadline)) || { tail -n 30 "$dir/redis.log" >&2 || true; die "private Redis does not answer on $port"; }
    sleep 0.1
  done
}

# private_redis_pid DIR
private_redis_pid() {
  local pid
  [[ -f "$1/redis.pid" ]] || return 0
  pid="$(tr -dc '0-9' <"$1/redis.pid")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

# stop_private_redis DIR: stops the redis-server whose PID file is DIR/redis.pid.
stop_private_redis() {
  [[ -f "$1/redis.pid" ]] || return 0
  log "stopping private Redis ($1)"
  stop_pidfile "$1/redis.pid" redis-server 20
}

# ---------------------------------------------------------------- services
# ensure_services: make DATABASE_URL and REDIS_URL point at servers that answer.
# Uses DATABASE_URL / REDIS_URL (or their defaults) when they answer; otherwise starts private
# instances under $DF_DATA_DIR/{postgres,redis} on $DF_PRIVATE_PG_PORT / $DF_PRIVATE_REDIS_PORT
# and exports matching URLs (same database name). Writes the result to
# $DF_DATA_DIR/run/services.env (sourceable).
ensure_services() {
  local db_url="${DATABASE_URL:-$DF_DEFAULT_DATABASE_URL}" redis_url="${REDIS_URL:-$DF_DEFAULT_REDIS_URL}" db
  if pg_ready "$db_url"; then
    log "PostgreSQL answers at $(_df_redact "$db_url")"
  else
    warn "PostgreSQL at $(_df_redact "$db_url") does not answer: using a private instance"
    start_private_postgres "$DF_DATA_DIR/postgres" "$DF_PRIVATE_PG_PORT"
    db="$(pg_url_db "$db_url")"
    db_url="postgres://postgres@127.0.0.1:$DF_PRIVATE_PG_PORT/${db:-dropforge}"
  fi
  if redis_ready "$redis_url"; then
    log "Redis answers at $(_df_redact "$redis_url")"
  else
    warn "Redis at $(_df_redact "$redis_url") does not answer: using a private instance (AOF on)"
    start_private_redis "$DF_DATA_DIR/redis" "$DF_PRIVATE_REDIS_PORT" --appendonly yes --appendfsync everysec
    redis_url="redis://127.0.0.1:$DF_PRIVATE_REDIS_PORT"
  fi
  export DATABASE_URL="$db_url" REDIS_URL="$redis_url"
  mkdir -p "$DF_DATA_DIR/run"
  {
    printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
    printf 'export REDIS_URL=%q\n' "$REDIS_URL"
  } >"$DF_DATA_DIR/run/services.env"
}

# _df_redact URL: hide a password in a URL for logs
_df_redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# ensure_database URL: create URL's database when missing (server must answer).
ensure_database() {
  local url="$1" db admin
  db="$(pg_url_db "$url")"; [[ -n "$db" ]] || return 0
  admin="$(pg_url_with_db "$url" postgres)"
  # psql expands :'var' only in input read from stdin/files, not in -c
  if [[ "$(PGCONNECT_TIMEOUT=5 psql "$admin" -XAtq -v ON_ERROR_STOP=1 -v db="$db" <<<"select 1 from pg_database where datname = :'db';")" != 1 ]]; then
    log "creating database $db"
    PGCONNECT_TIMEOUT=5 psql "$admin" -XAtq -v ON_ERROR_STOP=1 -v db="$db" <<<'create database :"db";' >/dev/null \
      || die "could not create database $db"
  fi
}
