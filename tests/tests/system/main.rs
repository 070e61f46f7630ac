//! DropForge system tests: every test that starts processes or whole stacks (real PostgreSQL, real
//! Redis, the sandbox, the API and the worker, in-process or as child processes). Unit and
//! in-process crate tests stay in their crates (`common/tests`, `sandbox/tests`,
//! `api/tests/openapi.rs`, `worker/tests/upstream_contract.rs`, `worker/tests/webhook_delivery.rs`).
//!
//! Layout: one test binary (this file) and one harness, the [`support`] module. The harness is a
//! module of the binary, not a library of the package, so the package builds exactly one test
//! executable (no empty library test, no doctests), every helper is checked for use by the
//! compiler, and a test module is a plain file next to this one. Each test module is named after
//! the file it came from (`worker/tests/e2e_api.rs` is [`e2e_api`], `api/tests/shutdown.rs` is
//! [`api_shutdown`]); a test is selected with `cargo test -p dropforge-system-tests -- e2e_api::`.
//!
//! Running: the tests spawn `target/<profile>/dropforge-api` and `dropforge-worker`, found next to
//! this test executable (`DF_TEST_BIN_DIR` overrides the directory), so build them first:
//! `cargo build --workspace --bins` (`scripts/test.sh` does). Servers: `DATABASE_URL` /
//! `DF_TEST_DATABASE_URL` (each test creates and drops its own database) and `REDIS_URL` (each
//! test uses its own key prefix; tests that wipe or pause Redis start a [`support::PrivateRedis`]).
//!
//! All tests share one process: anything global (the metrics recorder, see
//! [`support::metrics_recorder`]) is installed once and seen by every test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod api_shutdown;
mod batches_e2e;
mod budgets;
mod canary;
mod e2e_api;
mod edge;
mod failure_modes;
mod key_cache;
mod keyword_cache;
mod metrics_at_start;
mod outage;
mod products_e2e;
mod reliability;
mod supervision;
mod table_upkeep;
mod wake_pickup;
mod webhooks_e2e;
