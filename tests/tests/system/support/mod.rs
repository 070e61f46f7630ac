//! The one harness of the system tests, shared by every module of the binary.
//!
//! - [`env`]: [`TestEnv`] (a fresh database and Redis prefix per test, the sandbox in-process, the
//!   API and the worker in-process or as child processes) with its [`EnvOptions`], the paths of
//!   the workspace binaries, [`Process`] (a child killed on drop), [`free_port`] and the
//!   process-wide metrics recorder;
//! - [`client`]: [`http_client`], the API [`Client`] and [`header`];
//! - [`problem`](mod@problem): the problem-document assertion;
//! - [`redis`](mod@self::redis): [`PrivateRedis`], a private `redis-server` a test may wipe or
//!   pause.

pub mod client;
pub mod env;
pub mod problem;
pub mod redis;

pub use self::{
    client::{Client, header, http_client},
    env::{EnvOptions, Process, TestEnv, free_port, metrics_recorder, pg_server_url, product_id, redis_url},
    problem::{assert_problem_document, problem},
    redis::PrivateRedis,
};
