//! HTTP routes, one module per resource.

pub mod batches;
pub mod health;
pub mod job_control;
pub mod jobs;
pub mod products;
pub mod validations;
