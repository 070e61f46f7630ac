//! HTTP routes, one module per resource.

pub mod health;
pub mod job_control;
pub mod jobs;
pub mod validations;
