//! dropforge-worker: the only caller of external APIs — runs jobs, scores, stores, caches, announces.

pub mod batch_state;
pub mod canary;
pub mod dispatcher;
pub mod jobs;
pub mod leases;
pub mod reconciler;
pub mod retention;
pub mod runtime;
pub mod upkeep;
pub mod upstream;
pub mod webhook;
