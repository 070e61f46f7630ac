//! Webhook events of jobs: their bodies (rendered by `common`) and their outbox write.

use dropforge_common::{
    contract::EventType,
    db::webhooks::{self, NewDelivery},
    domain::{JobId, TenantId},
};
use sqlx::PgExecutor;

pub use dropforge_common::webhook::payload::{job_failed, job_succeeded};

/// Records the event's delivery in the outbox (same transaction as the job's final state).
pub async fn enqueue(
    exec: impl PgExecutor<'_>,
    tenant: uuid::Uuid,
    id: JobId,
    url: &str,
    event_type: EventType,
    payload: &str,
) -> Result<bool, sqlx::Error> {
    webhooks::enqueue(
        exec,
        &NewDelivery {
            tenant_id: TenantId(tenant),
            job_id: id,
            event_type: event_type.as_str(),
            url,
            payload,
        },
    )
    .await
}
