//! The bodies the API answers with, as types: each serialises the answer and is its OpenAPI schema.
//! Job inputs, results and errors inside them are the typed contract of `dropforge_common::contract`.

pub mod batch;
pub mod cached;
pub mod delivery;
pub mod job;

pub use batch::{BatchItem, BatchProgress, CachedBatch};
pub use cached::{CachedSearch, CachedSuppliers, CachedValidation, SearchAnswer, SuppliersAnswer, ValidationAnswer};
pub use delivery::{DeliveryAttempt, DeliveryLog};
pub use job::{BatchJob, Job, JobPage, job_location};
