//! Webhook event bodies (Standard Webhooks: `type`, `timestamp`, `data`), built in one place so an
//! event for a job run by the worker and one for a request answered from the cache look the same.

use chrono::Utc;
use serde_json::{Value, json};

use crate::domain::{JobId, JobKind};

/// The body of a `job.succeeded` / `job.failed` event: the job with its result or error.
pub fn job_event(event_type: &str, id: JobId, kind: JobKind, result: Option<&Value>, error: Option<&Value>) -> String {
    let status = if event_type == "job.succeeded" {
        "succeeded"
    } else {
        "failed"
    };
    json!({
        "type": event_type,
        "timestamp": Utc::now(),
        "data": {"id": id, "kind": kind.as_str(), "status": status, "result": result, "error": error},
    })
    .to_string()
}
