//! Webhook event bodies, rendered in one place so an event for a job run by the worker and one
//! for a request answered from the cache look the same (the payload types live in
//! [`crate::contract::event`]).

use serde::Serialize;

use crate::{
    contract::{JobError, JobEvent, JobResult},
    domain::{JobId, JobKind},
};

/// The JSON text of an event body, exactly as it is signed and sent.
///
/// Serialising a contract type cannot fail (every map key is a string and every `Serialize` is
/// derived); should it ever, the error is logged and an empty object is sent instead of a panic.
pub fn render(event: &impl Serialize) -> String {
    serde_json::to_string(event).unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhook event did not serialise");
        "{}".to_owned()
    })
}

/// The body of a `job.succeeded` event: the job with its result.
pub fn job_succeeded(id: JobId, kind: JobKind, result: JobResult) -> String {
    render(&JobEvent::succeeded(id, kind, result))
}

/// The body of a `job.failed` event: the job with its error.
pub fn job_failed(id: JobId, kind: JobKind, error: JobError) -> String {
    render(&JobEvent::failed(id, kind, error))
}
