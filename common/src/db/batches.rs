//! Batches: their items, progress, and completion once every item ended.

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
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

/// Creates a batch job (never dispatched itself: its children are) in state `queued` together with
/// its items, in one statement, and answers its record as written: the columns PostgreSQL fills in
/// come back from the insert, the rest are what this call wrote, so the caller can answer without
/// reading the row again.
///
/// The items may name child jobs that the same transaction creates afterwards
/// (`batch_items.job_id` is checked at commit): the children's creation then comes last, so the
/// tenant's scheduling row it updates stays locked only until the commit.
pub async fn create(
    exec: impl PgExecutor<'_>,
    tenant: TenantId,
    input: &Value,
    webhook_url: Option<&str>,
    request_id: Option<&str>,
    items: &[NewItem],
) -> Result<JobRecord, sqlx::Error> {
    let id = JobId::generate();
    let positions: Vec<i32> = items.iter().map(|i| i.position).collect();
    let products: Vec<Value> = items.iter().map(|i| i.product.clone()).collect();
    let keys: Vec<String> = items.iter().map(|i| i.cache_key.clone()).collect();
    let jobs: Vec<Option<Uuid>> = items.iter().map(|i| i.job_id.map(|j| j.0)).collect();
    let results: Vec<Option<Value>> = items.iter().map(|i| i.result.clone()).collect();
    let row = sqlx::query!(
        "with batch as (
             insert into jobs (id, tenant_id, kind, status, input, webhook_url, request_id)
             values ($1, $2, $3, 'queued', $4, $5, $6)
             returning attempts, state_version, next_run_at, created_at, updated_at
         ), listed as (
             insert into batch_items (batch_id, position, product, cache_key, job_id, result)
             select $1, * from unnest($7::int[], $8::jsonb[], $9::text[], $10::uuid[], $11::json[])
         )
         select attempts, state_version, next_run_at, created_at, updated_at from batch",
        id.0,
        tenant.0,
        JobKind::Batch.as_str(),
        input,
        webhook_url,
        request_id,
        &positions,
        &products,
        &keys,
        &jobs as &[Option<Uuid>],
        &results as &[Option<Value>],
    )
    .fetch_one(exec)
    .await?;
    Ok(JobRecord {
        id: id.0,
        tenant_id: tenant.0,
        kind: JobKind::Batch,
        status: JobStatus::Queued,
        input: input.clone(),
        error: None,
        attempts: row.attempts,
        state_version: row.state_version,
        parent_id: None,
        webhook_url: webhook_url.map(str::to_owned),
        next_run_at: row.next_run_at,
        created_at: row.created_at,
        started_at: None,
        finished_at: None,
        updated_at: row.updated_at,
        result: None,
    })
}

/// Points the items of `batch` that name `from[i]` at `to[i]` instead: the batch's miss joined a
/// job already in flight, whose id replaces the one the item was written with.
pub async fn repoint_items(
    exec: impl PgExecutor<'_>,
    batch: JobId,
    from: &[Uuid],
    to: &[Uuid],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "update batch_items bi set job_id = m.to_id
         from unnest($2::uuid[], $3::uuid[]) as m(from_id, to_id)
         where bi.batch_id = $1 and bi.job_id = m.from_id",
        batch.0,
        from,
        to,
    )
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
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
