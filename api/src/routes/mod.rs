//! HTTP routes, one module per resource.

pub mod health;
pub mod jobs;
pub mod validations;
