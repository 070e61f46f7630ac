//! Typed contracts between the API, the worker and clients: job inputs ([`input`]), job errors
//! ([`error`]), result documents ([`result`]) and event payloads ([`event`]).
//!
//! The API serialises them, the worker deserialises them (and the reverse for results and
//! errors); each type serialises to exactly the JSON clients see and PostgreSQL stores, and
//! derives `utoipa::ToSchema` where clients see it.

pub mod error;
pub mod event;
pub mod input;
pub mod result;

pub use error::{JobError, JobErrorCode};
pub use event::{BatchEvent, EventType, JobEvent, JobsFinished};
pub use input::{
    BatchInput, BatchOptions, CanaryInput, JobInput, SearchInput, SuppliersInput, ValidationInput, WebhookInput,
};
pub use result::{
    JobResult, SearchProduct, SearchResult, Supplier, SupplierRatings, SuppliersProduct, SuppliersResult,
    ValidationContext, ValidationOptions, ValidationResult,
};
