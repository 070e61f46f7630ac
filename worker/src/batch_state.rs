//! Batch bookkeeping, shared by the jobs (a validation that serves batch items ended) and the
//! reconciler (its sweep): a batch finishes when the last of its items ended, and its
//! `batch.completed` webhook event is written in the same transaction (the outbox).

use dropforge_common::{
    contract::{BatchEvent, EventType},
    db::{
        batches::{self, Finished},
        webhooks::{self, NewDelivery},
    },
    domain::{JobId, TenantId},
    events::publish_many,
};
use redis::aio::ConnectionManager;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Writes the `batch.completed` events of batches that just finished (in their transaction).
async fn announce(tx: &mut Transaction<'_, Postgres>, finished: &[Finished]) -> Result<(), sqlx::Error> {
    for batch in finished {
        if let Some(url) = batch.webhook_url.as_deref() {
            let id = JobId(batch.id);
            let payload =
                serde_json::to_string(&BatchEvent::completed(id)).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let delivery = NewDelivery {
                tenant_id: TenantId(batch.tenant_id),
                job_id: id,
                event_type: EventType::BatchCompleted.as_str(),
                url,
                payload: &payload,
            };
            webhooks::enqueue(&mut **tx, &delivery).await?;
        }
    }
    Ok(())
}

/// Finishes every open batch whose items all ended (the reconciler's sweep for batches whose last
/// item ended without finishing them: a canceled item, a crash between the two steps).
pub async fn finish_all_ready(
    pool: &PgPool,
    events_conn: &ConnectionManager,
    prefix: &str,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let finished = batches::finish_ready(&mut *tx, None).await?;
    announce(&mut tx, &finished).await?;
    tx.commit().await?;
    let ids: Vec<JobId> = finished.iter().map(|b| JobId(b.id)).collect();
    publish_many(events_conn, prefix, &ids).await;
    Ok(finished.len())
}

/// Finishes (or marks running) the batches of children that ended at the same moment (the
/// worker's group commit): one transaction, one statement to finish their ready batches, one to
/// mark the others running.
pub async fn after_children(
    pool: &PgPool,
    events_conn: &ConnectionManager,
    prefix: &str,
    children: &[Uuid],
) -> Result<usize, sqlx::Error> {
    if children.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let finished = batches::finish_ready_many(&mut *tx, children).await?;
    announce(&mut tx, &finished).await?;
    batches::mark_running_many(&mut *tx, children).await?;
    tx.commit().await?;
    let ids: Vec<JobId> = finished.iter().map(|b| JobId(b.id)).collect();
    publish_many(events_conn, prefix, &ids).await;
    Ok(finished.len())
}
