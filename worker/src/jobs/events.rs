//! Webhook event payloads (Standard Webhooks: `type`, `timestamp`, `data`) and their outbox write.

use dropforge_common::{
    db::webhooks::{self, NewDelivery},
    domain::{JobId, TenantId},
};
use sqlx::PgExecutor;

pub use dropforge_common::webhook::payload::job_event;

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
