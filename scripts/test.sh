#!/usr/bin/env bash
# Run every check and test of the workspace: rustfmt, clippy (-D warnings), a debug build of the
# binaries (tests spawn target/debug/dropforge-*), cargo test, the observability checks (promtool,
# dashboards on a live Prometheus) and the offline Kubernetes manifest validation. Exits non-zero
# when any step fails; the last line is a one-line summary.
#
#   scripts/test.sh
#
# Environment (optional):
#   DF_TEST_FILTER=NAME     only tests whose name contains NAME (passed to cargo test)
#   DF_TEST_FAIL_FAST=1     stop at the first failing step
#   DF_TEST_THREADS=N       cargo test --test-threads (2)
#   DATABASE_URL/REDIS_URL  servers to use (default: the local ones, else private instances)
# Exported to the tests:
#   DATABASE_URL            <server>/dropforge_test  (tests create their own databases from it)
#   DF_TEST_DATABASE_URL    <server>/postgres        (admin connection)
#   REDIS_URL
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

T0=$SECONDS
ensure_packages promtool:prometheus prometheus:prometheus pymod-yaml:python3-yaml
ensure_rust
ensure_services

DATABASE_URL="$(pg_url_with_db "$DATABASE_URL" dropforge_test)"
DF_TEST_DATABASE_URL="$(pg_url_with_db "$DATABASE_URL" postgres)"
export DATABASE_URL DF_TEST_DATABASE_URL REDIS_URL
ensure_database "$DATABASE_URL"
# sqlx compile-time checked queries: use the offline data when the repo has it
if [[ -d "$DF_ROOT/.sqlx" && -z "${SQLX_OFFLINE:-}" ]]; then export SQLX_OFFLINE=true; fi
export RUST_LOG="${RUST_LOG:-warn}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
log "DATABASE_URL=$(_df_redact "$DATABASE_URL") REDIS_URL=$REDIS_URL"

declare -a RESULTS=()
FAILED=0
# step NAME CMD...: run one step, record ok/FAIL and its time
step() {
  local name="$1" t=$SECONDS rc=0; shift
  log "== $name: $*"
  "$@" || rc=$?
  if ((rc == 0)); then RESULTS+=("$name ok ($((SECONDS - t))s)")
  else
    RESULTS+=("$name FAIL ($((SECONDS - t))s)"); FAILED=1
    warn "$name failed (exit $rc)"
    if [[ -n "${DF_TEST_FAIL_FAST:-}" ]]; then summary; fi
  fi
}
summary() {
  local joined
  printf -v joined '%s, ' "${RESULTS[@]}"
  joined="${joined%, }"
  if ((FAILED)); then
    echo "test.sh: FAIL — $joined — total $((SECONDS - T0))s"
    exit 1
  fi
  echo "test.sh: OK — $joined — total $((SECONDS - T0))s"
  exit 0
}


filter=()
[[ -n "${DF_TEST_FILTER:-}" ]] && filter=("$DF_TEST_FILTER")

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step build cargo build --workspace --bins
step test cargo test --workspace --no-fail-fast -- --test-threads="${DF_TEST_THREADS:-2}" "${filter[@]}"
# Schemathesis (every check, fixed seed, bounded examples) against a private live stack on the
# debug binaries just built: zero failures (docs/TESTING.md).
step schemathesis env DF_PROFILE="${DF_PROFILE:-debug}" scripts/schemathesis.sh
# A Python client generated from /openapi.json (openapi-python-client) decodes a recorded answer
# of every operation and every job kind from a private live stack on the debug binaries.
step openapi-client env DF_PROFILE="${DF_PROFILE:-debug}" scripts/openapi-client-test.sh
# Prometheus config and alert-rule unit tests (promtool), dashboard checks, and a real Prometheus
# scraping a running stack: every dashboard panel must return data.
step observability scripts/observability-test.sh
# Kubernetes manifests rendered and validated offline (schemas, CRDs, policies, negative copies).
step k8s scripts/k8s-validate.sh
summary
