#!/usr/bin/env bash
# Builds, without any image registry, the images deploy/compose/override.local.yml uses instead of
# the ones docker-compose.yml pulls. Run by scripts/compose-test.sh; usable alone (root, a
# running Docker daemon):
#
#   deploy/compose/build-local-images.sh [WORKDIR]     (default .data/compose)
#
#   dropforge-local/bookworm-app:1   debootstrap --variant=minbase bookworm (+ ca-certificates, curl,
#                                    tini, wget) from the configured apt mirror, `docker import`ed:
#                                    the base of deploy/compose/Dockerfile.app (our binaries)
#   dropforge-local/postgres:15      that base + Debian's postgresql      (for postgres:16-bookworm)
#   dropforge-local/redis:7.0        that base + Debian's redis-server    (for redis:7-bookworm)
#   dropforge-local/prometheus:2.42  that base + Debian's prometheus      (for prom/prometheus:v2.55.1)
#
# The service images are made in a chroot and imported with their metadata (`docker import
# --change`), not with Dockerfile steps: on the vfs storage driver every build step copies and
# diffs the whole root filesystem, which takes minutes per step for these sizes. Each behaves like
# the official image for what docker-compose.yml uses (entrypoints in deploy/compose/images/).
# Existing images are kept (DF_COMPOSE_REBUILD=1 rebuilds them). Also stages the host-built
# binaries and deploy/compose/Dockerfile.app into WORKDIR/app-context.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mkdir -p "${1:-$ROOT/.data/compose}" && cd "${1:-$ROOT/.data/compose}" && pwd)"
DOCKER="${DOCKER:-docker}"
[[ -x /usr/bin/docker && "$DOCKER" == docker ]] && DOCKER=/usr/bin/docker
SRC="$ROOT/deploy/compose/images"
log() { printf '[build-local-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (debootstrap, chroot)"

MOUNTED=""
cleanup() { [[ -n "$MOUNTED" ]] && umount "$MOUNTED" 2>/dev/null; rm -rf "$WORK/rootfs-"*; }
trap cleanup EXIT

have_image() { [[ -z "${DF_COMPOSE_REBUILD:-}" ]] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
apt_mirror() { # the configured Debian mirror (deb822 `URIs:` or a one-line `deb` entry)
  local m
  m="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m 1 -E '/debian/?$' || true)"
  [[ -n "$m" ]] || m="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -m 1 -E '/debian/?$' || true)"
  echo "${m:-http://deb.debian.org/debian}"
}
slim() { # remove what no container needs: apt lists and caches, docs, man pages, locales
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb \
    "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/*
}
import_rootfs() { # import_rootfs DIR IMAGE [--change ...]
  local dir="$1" image="$2"; shift 2
  slim "$dir"
  "$DOCKER" rmi "$image" >/dev/null 2>&1 || true   # a rebuild must not leave the old one dangling
  tar --numeric-owner -C "$dir" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' "$@" - "$image" >/dev/null
  log "imported $image ($("$DOCKER" image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

# ---------------------------------------------------------------- the Debian base
BASE_TAR="$WORK/bookworm-minbase.tar"
if [[ ! -s "$BASE_TAR" || -n "${DF_COMPOSE_REBUILD:-}" ]]; then
  MIRROR="$(apt_mirror)"
  log "debootstrap bookworm (minbase + ca-certificates curl tini wget) from $MIRROR"
  rm -rf "$WORK/rootfs-base"; mkdir -p "$WORK/debs"
  debootstrap --variant=minbase --include=ca-certificates,curl,tini,wget --cache-dir="$WORK/debs" \
    bookworm "$WORK/rootfs-base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log $WORK/debootstrap.log)"; }
  tar --numeric-owner -C "$WORK/rootfs-base" -cf "$BASE_TAR" .
  rm -rf "$WORK/rootfs-base"
fi
new_rootfs() { rm -rf "$1"; mkdir -p "$1"; tar --numeric-owner -C "$1" -xf "$BASE_TAR"; }

if ! have_image dropforge-local/bookworm-app:1; then
  new_rootfs "$WORK/rootfs-app"
  import_rootfs "$WORK/rootfs-app" dropforge-local/bookworm-app:1 --change 'CMD ["/bin/bash"]'
fi

# chroot_install DIR PACKAGE...: Debian packages into a copy of the base; no service may start
# in the chroot (policy-rc.d), no PostgreSQL cluster is created (the entrypoint runs initdb)
chroot_install() {
  local r="$1"; shift
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  mkdir -p "$r/etc/postgresql-common"; echo "create_main_cluster = false" >"$r/etc/postgresql-common/createcluster.conf"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  mount -t proc proc "$r/proc"; MOUNTED="$r/proc"
  chroot "$r" apt-get update -qq >"$WORK/chroot-apt.log" 2>&1 || { cat "$WORK/chroot-apt.log" >&2; die "apt-get update in the chroot failed"; }
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$WORK/chroot-apt.log" 2>&1 \
    || { tail -n 20 "$WORK/chroot-apt.log" >&2; die "apt-get install $* in the chroot failed"; }
  umount "$r/proc"; MOUNTED=""
  rm -f "$r/usr/sbin/policy-rc.d"; : >"$r/etc/resolv.conf"
}

if ! have_image dropforge-local/postgres:15; then
  r="$WORK/rootfs-postgres"; new_rootfs "$r"
  log "PostgreSQL image: installing postgresql in the chroot"
  chroot_install "$r" postgresql
  # shellcheck disable=SC2012  # version directories: plain names
  pgbin="$(ls -d "$r"/usr/lib/postgresql/*/bin | sort -V | tail -n 1)"; pgbin="${pgbin#"$r"}"
  mkdir -p "$r/var/lib/postgresql/data" "$r/var/run/postgresql"
  chroot "$r" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
  chmod 700 "$r/var/lib/postgresql/data"
  install -m 755 "$SRC/postgres/docker-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
  import_rootfs "$r" dropforge-local/postgres:15 \
    --change "ENV PATH=$pgbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'USER postgres' --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' --change 'CMD ["postgres"]'
  rm -rf "$r"
fi

if ! have_image dropforge-local/redis:7.0; then
  r="$WORK/rootfs-redis"; new_rootfs "$r"
  log "Redis image: installing redis-server in the chroot"
  chroot_install "$r" redis-server
  mkdir -p "$r/data"; chroot "$r" chown redis:redis /data
  install -m 755 "$SRC/redis/docker-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
  import_rootfs "$r" dropforge-local/redis:7.0 \
    --change 'WORKDIR /data' --change 'VOLUME /data' --change 'USER redis' --change 'EXPOSE 6379' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' --change 'CMD ["redis-server"]'
  rm -rf "$r"
fi

if ! have_image dropforge-local/prometheus:2.42; then
  r="$WORK/rootfs-prometheus"; new_rootfs "$r"
  log "Prometheus image: installing prometheus in the chroot"
  chroot_install "$r" prometheus
  mkdir -p "$r/prometheus"; chroot "$r" chown nobody:nogroup /prometheus
  # Debian's package has no web UI assets; the HTTP API (targets, rules, queries) is complete
  import_rootfs "$r" dropforge-local/prometheus:2.42 \
    --change 'WORKDIR /prometheus' --change 'VOLUME /prometheus' --change 'USER nobody' --change 'EXPOSE 9090' \
    --change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
  rm -rf "$r"
fi

# ---------------------------------------------------------------- our binaries (cargo on the host)
for b in dropforge-api dropforge-worker dropforge-sandbox; do
  [[ -x "$ROOT/target/release/$b" ]] || die "$ROOT/target/release/$b missing: cargo build --release --bins"
done
rm -rf "$WORK/app-context"; mkdir -p "$WORK/app-context/bin"
cp "$ROOT/deploy/compose/Dockerfile.app" "$WORK/app-context/Dockerfile"
cp "$ROOT"/target/release/dropforge-{api,worker,sandbox} "$WORK/app-context/bin/"
log "staged $(du -sh "$WORK/app-context" | cut -f1) of binaries in $WORK/app-context (built $(date -r "$ROOT/target/release/dropforge-api" -u +%Y-%m-%dT%H:%MZ))"
