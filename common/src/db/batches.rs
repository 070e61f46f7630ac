//! Batches: their items, progress, and completion once every item ended.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::jobs::JobRecord;
pub use super::transitions::{finish_ready, finish_ready_many, mark_running, mark_running_many};
use crate::domain::{JobId, JobKind, JobStatus, TenantId};

/// One item of a batch to store.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Index in the submitted list.
    pub position: i32,
    /// `{source, id}`.
    pub product: Value,
    /// Cache key of its result.
    pub cache_key: String,
    /// The job serving it (misses).
    pub job_id: Option<JobId>,
    /// Its result, when it came from the cache.
    pub result: Option<Value>,
}

/// A batch to write with the jobs serving its misses ([`super::jobs::create_batch`]): the batch
/// job (never dispatched itself: its children are), in state `queued`, and its items.
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    /// The batch's id (its children's `parent_id`).
    pub id: JobId,
    /// Owner.
    pub tenant: TenantId,
    /// The batch's input as submitted (normalised).
    pub input: &'a Value,
    /// Its webhook target.
    pub webhook_url: Option<&'a str>,
    /// Request id for log correlation.
    pub request_id: Option<&'a str>,
    /// Its items; a miss names the id its job gets.
    pub items: &'a [NewItem],
}

impl NewBatch<'_> {
    /// The batch's record as written: the columns PostgreSQL fills in came back from the insert,
    /// the rest are what was written, so the caller can answer without reading the row again.
    pub(super) fn record(
        &self,
        attempts: i32,
        state_version: i32,
        next_run_at: DateTime<Utc>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> JobRecord {
        JobRecord {
            id: self.id.0,
            tenant_id: self.tenant.0,
            kind: JobKind::Batch,
            status: JobStatus::Queued,
            input: self.input.clone(),
            error: None,
            attempts,
            state_version,
            parent_id: None,
            webhook_url: self.webhook_url.map(str::to_owned),
            next_run_at,
            created_at,
            started_at: None,
            finished_at: None,
            updated_at,
            result: None,
        }
    }
}

impl NewItem {
    /// The item as a client sees it right after its batch was stored, when its job (if any) was
    /// created by the same submission: `queued`, or `succeeded` with its cached result.
    pub fn as_submitted(&self) -> Item {
        Item {
            position: self.position,
            product: self.product.clone(),
            status: if self.job_id.is_some() {
                JobStatus::Queued
            } else {
                JobStatus::Succeeded
            },
            job_id: self.job_id.map(|j| j.0),
            cached: self.result.is_some(),
            result: self.result.clone(),
            error: None,
        }
    }
}

/// An item as clients see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Item {
    /// Index in the submitted list.
    pub position: i32,
    /// The product.
    pub product: Value,
    /// `succeeded` for cached items, else the serving job's status.
    pub status: JobStatus,
    /// The serving job (absent for cached items).
    pub job_id: Option<Uuid>,
    /// True when the result came from the cache at submit time.
    pub cached: bool,
    /// The result, once there is one.
    pub result: Option<Value>,
    /// The error of a failed item.
    pub error: Option<Value>,
}

/// The items of a batch, in submitted order.
pub async fn items(pool: &PgPool, batch: JobId) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as!(
        Item,
        r#"select bi.position, bi.product, coalesce(j.status, 'succeeded') as "status!: JobStatus", bi.job_id,
                bi.result is not null as "cached!", coalesce(bi.result, vr.result) as result, j.error
         from batch_items bi
         left join jobs j on j.id = bi.job_id
         left join validation_results vr on vr.job_id = bi.job_id
         where bi.batch_id = $1 order by bi.position"#,
        batch.0,
    )
    .fetch_all(pool)
    .await
}

/// A batch that just finished.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Finished {
    /// Batch id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Where to send `batch.completed`.
    pub webhook_url: Option<String>,
}
