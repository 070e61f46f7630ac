# DropForge: one image with the three binaries (dropforge-api, dropforge-worker,
# dropforge-sandbox); docker-compose.yml picks the binary per service with `command:`.
#
#   docker build -t dropforge:local .
#   docker run --rm dropforge:local dropforge-api --help
#
# Migrations are embedded in dropforge-api (`dropforge-api migrate`); no queries are checked
# at compile time, so the build needs no database.
#
# Needs BuildKit (RUN --mount cache mounts; the default builder since Docker 23, or
# DOCKER_BUILDKIT=1); no `# syntax=` line, so the builder's own Dockerfile frontend is used and
# nothing extra is pulled. The base images can be mirrors:
#   docker build --build-arg RUST_IMAGE=registry.example.com/rust:1-bookworm \
#                --build-arg RUNTIME_IMAGE=registry.example.com/debian:bookworm-slim -t dropforge:local .
# Without any registry see deploy/compose/ (binaries built on the host, local Debian base).
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target/ between builds; the binaries are copied
# out of the cached target/ because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/dropforge-api target/release/dropforge-worker target/release/dropforge-sandbox /out/

# ---------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: TLS to the real upstreams; curl: container healthchecks; tini: PID 1 that
# forwards SIGTERM (graceful drain) and reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dropforge \
 && useradd --system --uid 10001 --gid dropforge --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dropforge
COPY --from=builder /out/ /usr/local/bin/
USER 10001:10001
# Production defaults; every DF_* setting can be overridden per service.
ENV DF_ENV=production \
    DF_LOG_FORMAT=json \
    RUST_LOG=info
# api 8080, api metrics 9464, worker metrics 9465, sandbox 8089
EXPOSE 8080 9464 9465 8089
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["dropforge-api"]
