#!/usr/bin/env bash
# Runs docker-compose.yml for real on a machine WITHOUT an image registry, checks it, tears it down.
#
#   scripts/compose-test.sh          (root; a few minutes the first time, the Debian images are cached)
#
# 1. installs docker.io, docker-compose and debootstrap (Debian) when missing; starts
#    `dockerd --storage-driver=vfs` when no Docker daemon answers (and stops it at the end only
#    if it started it)
# 2. deploy/compose/build-local-images.sh: debootstraps Debian bookworm from the configured apt
#    mirror and `docker import`s the base (dropforge-local/bookworm-app:1) and the stand-ins for
#    the pulled images (dropforge-local/{postgres:15,redis:7.0,prometheus:2.42}, from Debian's
#    packages); stages target/release/dropforge-{api,worker,sandbox} (cargo on the host) for
#    deploy/compose/Dockerfile.app, which compose builds
# 3. docker-compose -f docker-compose.yml -f deploy/compose/override.local.yml up -d --build
#    (project "dropforge-compose-test", host ports $DF_COMPOSE_API_PORT etc., default 28080/29090, below the ephemeral port range)
# 4. waits for every healthcheck and for `migrate` to exit 0, creates a key with
#    `dropforge-api keys create` inside the api container, runs a validation through the API,
#    checks that Prometheus scrapes every target (/api/v1/targets all "up") and loaded the rules
# 5. tears everything down, also on failure: containers, network, volumes, the app image; the
#    Debian-derived images stay cached for the next run unless DF_COMPOSE_PURGE=1
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"
[[ $EUID -eq 0 ]] || die "run as root (dockerd, debootstrap, docker import)"

WORK="$DF_DATA_DIR/compose"
PROJECT="dropforge-compose-test"
export DF_COMPOSE_API_PORT="${DF_COMPOSE_API_PORT:-28080}"
export DF_COMPOSE_PROMETHEUS_PORT="${DF_COMPOSE_PROMETHEUS_PORT:-29090}"
export DF_COMPOSE_GRAFANA_PORT="${DF_COMPOSE_GRAFANA_PORT:-23000}"
T0=$SECONDS
RESULT="FAILED"
mkdir -p "$WORK"
LOGF="$WORK/compose-test.log"
: >"$LOGF"

# ---------------------------------------------------------------- 1. Docker
ensure_packages dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap
# the Debian client matches the Debian daemon (another docker client may shadow it on PATH)
DOCKER=docker
[[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker
DC=(docker-compose -p "$PROJECT" -f docker-compose.yml -f deploy/compose/override.local.yml)
STARTED_DOCKERD=""
HAD_DOCKER0="x"
UP=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n "$UP" ]]; then
    log "tearing down (containers, network, volumes, built images)"
    "${DC[@]}" down -v --remove-orphans >>"$LOGF" 2>&1 || warn "compose down failed (see $LOGF)"
    "$DOCKER" rmi dropforge-local/app:compose >>"$LOGF" 2>&1
    left="$("$DOCKER" ps -a --filter "label=com.docker.compose.project=$PROJECT" -q; "$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$PROJECT")"
    [[ -z "$left" ]] || warn "left behind by compose down: $left"
  fi
  rm -rf "$WORK/app-context"
  if [[ -n "${DF_COMPOSE_PURGE:-}" ]]; then
    "$DOCKER" rmi dropforge-local/bookworm-app:1 dropforge-local/postgres:15 dropforge-local/redis:7.0 dropforge-local/prometheus:2.42 >>"$LOGF" 2>&1
    "$DOCKER" image prune -f >>"$LOGF" 2>&1
    rm -f "$WORK/bookworm-minbase.tar"
  fi
  if [[ -n "$STARTED_DOCKERD" ]]; then
    log "stopping the dockerd this script started (pid $STARTED_DOCKERD)"
    kill -TERM "$STARTED_DOCKERD" 2>/dev/null
    local deadline=$((SECONDS + 40))
    while pid_alive "$STARTED_DOCKERD" && ((SECONDS < deadline)); do sleep 0.5; done
    pid_alive "$STARTED_DOCKERD" && { warn "dockerd ignored SIGTERM: SIGKILL"; kill -KILL "$STARTED_DOCKERD"; }
    # the bridge it created (its iptables chains stay, empty, as after any dockerd stop)
    [[ -z "$HAD_DOCKER0" ]] && ip link delete docker0 2>/dev/null
  fi
  log "compose-test: $RESULT in $((SECONDS - T0)) s (log: $LOGF)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if "$DOCKER" info >/dev/null 2>&1; then
  log "a Docker daemon answers: using it ($("$DOCKER" info --format '{{.ServerVersion}} {{.Driver}}'))"
else
  log "starting dockerd --storage-driver=vfs"
  HAD_DOCKER0="$(ip link show docker0 2>/dev/null || true)"
  start_dockerd() {
    setsid dockerd --storage-driver=vfs --pidfile "$WORK/dockerd.pid" "$@" >"$WORK/dockerd.log" 2>&1 </dev/null &
    STARTED_DOCKERD=$!
    local deadline=$((SECONDS + 60))
    until "$DOCKER" info >/dev/null 2>&1; do
      pid_alive "$STARTED_DOCKERD" || { STARTED_DOCKERD=""; return 1; }
      ((SECONDS < deadline)) || return 1
      sleep 0.5
    done
  }
  if ! start_dockerd; then
    tail -n 5 "$WORK/dockerd.log" >&2
    warn "dockerd did not start; retrying without iptables (bridge networks still work, ports via docker-proxy)"
    [[ -n "$STARTED_DOCKERD" ]] && { kill -TERM "$STARTED_DOCKERD"; sleep 3; }
    start_dockerd --iptables=false || { tail -n 20 "$WORK/dockerd.log" >&2; die "dockerd does not start"; }
  fi
  log "dockerd up (pid $STARTED_DOCKERD, $("$DOCKER" info --format '{{.ServerVersion}} {{.Driver}}'))"
fi

# ---------------------------------------------------------------- 2. images
for b in dropforge-api dropforge-worker dropforge-sandbox; do
  [[ -x target/release/$b ]] || { ensure_rust; cargo build --release --bins; break; }
done
DOCKER="$DOCKER" deploy/compose/build-local-images.sh "$WORK" 2>&1 | tee -a "$LOGF" >&2
[[ "${PIPESTATUS[0]}" == 0 ]] || die "building the local images failed"

# ---------------------------------------------------------------- 3. up
"${DC[@]}" config -q || die "docker-compose config (with the override) is invalid"
docker-compose -f docker-compose.yml config -q || die "docker-compose.yml alone is invalid"
for p in "$DF_COMPOSE_API_PORT" "$DF_COMPOSE_PROMETHEUS_PORT"; do
  if port_open 127.0.0.1 "$p" || ss -Htan state all "( sport = :$p )" | grep -q .; then die "port $p is taken (set DF_COMPOSE_*_PORT)"; fi
done
log "docker-compose up -d --build (project $PROJECT; api :$DF_COMPOSE_API_PORT, prometheus :$DF_COMPOSE_PROMETHEUS_PORT)"
UP=1
"${DC[@]}" build >>"$LOGF" 2>&1 || { tail -n 30 "$LOGF" >&2; die "docker-compose build failed"; }
"${DC[@]}" up -d >>"$LOGF" 2>&1 || { tail -n 30 "$LOGF" >&2; "${DC[@]}" ps >&2; die "docker-compose up failed"; }

# ---------------------------------------------------------------- 4. checks
cid() { "${DC[@]}" ps -q "$1"; }
health() { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(cid "$1")" 2>/dev/null; }
SERVICES=(postgres redis sandbox api worker prometheus)
deadline=$((SECONDS + 300))
while :; do
  states=""; all=1
  for s in "${SERVICES[@]}"; do h="$(health "$s")"; states+="$s=$h "; [[ "$h" == healthy ]] || all=0; done
  m="$("$DOCKER" inspect -f '{{.State.Status}}:{{.State.ExitCode}}' "$(cid migrate)" 2>/dev/null || echo missing)"
  states+="migrate=$m"
  [[ "$m" == exited:0 ]] || all=0
  ((all)) && break
  if [[ "$m" == exited:[1-9]* ]] || ((SECONDS > deadline)); then
    "${DC[@]}" ps >&2; "${DC[@]}" logs --tail 30 >&2 || true
    die "not healthy: $states"
  fi
  sleep 3
done
log "every healthcheck passes: $states"

out="$("${DC[@]}" exec -T api dropforge-api keys create --tenant compose-test 2>>"$LOGF")" || die "keys create failed"
KEY="$(sed -n 's/^[[:space:]]*api_key:[[:space:]]*//p' <<<"$out" | head -n 1)"
[[ -n "$KEY" ]] || die "no api_key in: $out"
API="http://127.0.0.1:$DF_COMPOSE_API_PORT"
code="$(curl -s -m 40 -o "$WORK/validation.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Prefer: wait=30' \
  -H 'Content-Type: application/json' -d '{"product":{"source":"aliexpress","id":"1005000000000001"}}' "$API/v1/validations")"
status="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("status"), (d.get("result") or {}).get("verdict"))' "$WORK/validation.json" 2>/dev/null || echo '?')"
[[ "$code" == 200 && "$status" == succeeded* ]] || die "validation through the API: HTTP $code, $status ($(head -c 300 "$WORK/validation.json"))"
log "validation through the API: HTTP 200, $status"
code2="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"product":{"source":"aliexpress","id":"1005000000000001"}}' "$API/v1/validations")"
log "the same validation again: HTTP $code2 (cache)"
[[ "$code2" == 200 ]] || die "second validation: $code2"
curl -fsS -m 5 -o /dev/null "$API/ready" || die "/ready is not 200"

PROM="http://127.0.0.1:$DF_COMPOSE_PROMETHEUS_PORT"
deadline=$((SECONDS + 120))
while :; do
  t="$(curl -fsS -m 5 "$PROM/api/v1/targets" 2>/dev/null || true)"
  summary="$(python3 -c '
import json, sys
d = json.loads(sys.stdin.read() or "{}")
ts = (d.get("data") or {}).get("activeTargets") or []
print(len(ts), sum(t["health"] == "up" for t in ts), " ".join(t["labels"]["job"] + "=" + t["health"] for t in ts))
' <<<"$t" 2>/dev/null || echo "0 0 -")"
  read -r n up rest <<<"$summary"
  ((n >= 4 && n == up)) && break
  ((SECONDS < deadline)) || die "Prometheus targets not all up: $summary"
  sleep 5
done
log "Prometheus scrapes every target: $rest"
rules="$(curl -fsS -m 5 "$PROM/api/v1/rules" | python3 -c 'import json,sys; g=json.load(sys.stdin)["data"]["groups"]; print(len(g), sum(len(x["rules"]) for x in g))')"
log "Prometheus rule groups / rules loaded: $rules"
[[ "${rules%% *}" -ge 2 ]] || die "rules not loaded"

RESULT="PASSED"
echo
echo "compose-test PASSED $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - T0)) s: services healthy (${SERVICES[*]}), migrate exited 0,"
echo "  keys create + POST /v1/validations -> 200 $status (then 200 from the cache), Prometheus targets all up ($rest), rules $rules"
