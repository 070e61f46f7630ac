# The DropForge runtime image for machines without an image registry: the same runtime stage as
# ../../Dockerfile (user 10001, tini as PID 1, production defaults), on the local debootstrap
# base (ca-certificates, curl, tini from Debian bookworm), with the binaries cargo built on the
# host (bookworm's glibc, like the base). scripts/compose-test.sh stages this file and
# target/release/dropforge-{api,worker,sandbox} into .data/compose/app-context/ and builds it
# through deploy/compose/override.local.yml.
ARG BASE=dropforge-local/bookworm-app:1
FROM ${BASE}
RUN groupadd --system --gid 10001 dropforge \
 && useradd --system --uid 10001 --gid dropforge --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dropforge
COPY bin/ /usr/local/bin/
USER 10001:10001
ENV DF_ENV=production \
    DF_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8080 9464 9465 8089
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["dropforge-api"]
