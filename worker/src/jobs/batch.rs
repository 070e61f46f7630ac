//! Batch bookkeeping in the worker: a batch finishes when the last of its items ended, and its
//! `batch.completed` webhook is written in the same transaction (the outbox).

use chrono::Utc;
use dropforge_common::{db::batches, domain::JobId, events::publish_finished};
use redis::aio::ConnectionManager;
use serde_json::json;
use sqlx::PgPool;

use super::events;

/// Finishes the batches `child` serves (or every ready batch, with `None`) once all their items
/// ended; marks them running otherwise. Call after the child's own state change committed.
pub async fn after_child(
    pool: &PgPool,
    events_conn: &ConnectionManager,
    prefix: &str,
    child: Option<JobId>,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let finished = batches::finish_ready(&mut *tx, child).await?;
    for batch in &finished {
        if let Some(url) = batch.webhook_url.as_deref() {
            let id = JobId(batch.id);
            let payload = json!({
                "type": "batch.completed",
                "timestamp": Utc::now(),
                "data": {"id": id, "kind": "batch", "status": "succeeded", "links": {"self": format!("/v1/jobs/{id}")}},
            })
            .to_string();
            events::enqueue(&mut *tx, batch.tenant_id, id, url, "batch.completed", &payload).await?;
        }
    }
    if let (true, Some(child)) = (finished.is_empty(), child) {
        batches::mark_running(&mut *tx, child).await?;
    }
    tx.commit().await?;
    for batch in &finished {
        publish_finished(events_conn, prefix, JobId(batch.id)).await;
    }
    Ok(finished.len())
}
