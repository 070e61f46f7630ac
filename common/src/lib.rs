//! Shared core of DropForge: configuration, domain types, score-v1, database and cache access,
//! the apalis queue wrapper, completion events and metric names. No HTTP framework code lives here.

pub mod apikey;
pub mod batching;
pub mod cache;
pub mod coalesce;
pub mod config;
pub mod contract;
pub mod country;
pub mod db;
pub mod domain;
pub mod events;
pub mod job_state;
pub mod keyword;
pub mod metric_names;
pub mod product;
pub mod queue;
pub mod scoring;
pub mod shutdown;
pub mod telemetry;
pub mod wake;
pub mod webhook;

pub use job_state::{JobClass, JobKind, JobStatus};
