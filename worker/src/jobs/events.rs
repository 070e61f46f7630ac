//! Webhook event payloads (Standard Webhooks: `type`, `timestamp`, `data`) and their outbox write.

use chrono::Utc;
use dropforge_common::{
    db::webhooks::{self, NewDelivery},
    domain::{JobId, JobKind, TenantId},
};
use serde_json::{Value, json};
use sqlx::PgExecutor;

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

/// Records the event's delivery in the outbox (same transaction as the job's final state).
pub async fn enqueue(
    exec: impl PgExecutor<'_>,
    tenant: uuid::Uuid,
    id: JobId,
    url: &str,
    event_type: &str,
    payload: &str,
) -> Result<bool, sqlx::Error> {
    webhooks::enqueue(
        exec,
        &NewDelivery {
            tenant_id: TenantId(tenant),
            job_id: id,
            event_type,
            url,
            payload,
        },
    )
    .await
}
