//! Batches: their items, progress, and completion once every item ended.

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::{JobId, JobKind, TenantId};

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

/// Creates a batch job (never dispatched itself: its children are) in state `queued`.
pub async fn create(
    exec: impl PgExecutor<'_>,
    tenant: TenantId,
    input: &Value,
    webhook_url: Option<&str>,
    request_id: Option<&str>,
) -> Result<JobId, sqlx::Error> {
    let id = JobId::generate();
    sqlx::query(
        "insert into jobs (id, tenant_id, kind, status, input, webhook_url, request_id)
         values ($1, $2, $3, 'queued', $4, $5, $6)",
    )
    .bind(id.0)
    .bind(tenant.0)
    .bind(JobKind::Batch.as_str())
    .bind(input)
    .bind(webhook_url)
    .bind(request_id)
    .execute(exec)
    .await?;
    Ok(id)
}

/// Stores the items of a batch in one statement.
pub async fn add_items(exec: impl PgExecutor<'_>, batch: JobId, items: &[NewItem]) -> Result<(), sqlx::Error> {
    let positions: Vec<i32> = items.iter().map(|i| i.position).collect();
    let products: Vec<Value> = items.iter().map(|i| i.product.clone()).collect();
    let keys: Vec<String> = items.iter().map(|i| i.cache_key.clone()).collect();
    let jobs: Vec<Option<Uuid>> = items.iter().map(|i| i.job_id.map(|j| j.0)).collect();
    let results: Vec<Option<Value>> = items.iter().map(|i| i.result.clone()).collect();
    sqlx::query(
        "insert into batch_items (batch_id, position, product, cache_key, job_id, result)
         select $1, * from unnest($2::int[], $3::jsonb[], $4::text[], $5::uuid[], $6::jsonb[])",
    )
    .bind(batch.0)
    .bind(positions)
    .bind(products)
    .bind(keys)
    .bind(jobs)
    .bind(results)
    .execute(exec)
    .await?;
    Ok(())
}

/// An item as clients see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Item {
    /// Index in the submitted list.
    pub position: i32,
    /// The product.
    pub product: Value,
    /// `succeeded` for cached items, else the serving job's status.
    pub status: String,
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
    sqlx::query_as(
        "select bi.position, bi.product, coalesce(j.status, 'succeeded') as status, bi.job_id,
                bi.result is not null as cached, coalesce(bi.result, vr.result) as result, j.error
         from batch_items bi
         left join jobs j on j.id = bi.job_id
         left join validation_results vr on vr.job_id = bi.job_id
         where bi.batch_id = $1 order by bi.position",
    )
    .bind(batch.0)
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

/// Finishes the open batches that `child` belongs to (or every open batch, with `None`) once none
/// of their items is queued or running; returns the batches finished by this call. Run it after the
/// child's own state change committed, so the last child to finish always sees every other one.
///
/// Two statements, not one with `($1 is null or ...)`: under a generic plan that OR hides both the
/// child's `batch_items_job` lookup and the `jobs_in_flight` index, and every call scanned `jobs`.
pub async fn finish_ready(exec: impl PgExecutor<'_>, child: Option<JobId>) -> Result<Vec<Finished>, sqlx::Error> {
    match child {
        Some(child) => {
            sqlx::query_as(
                "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1,
                        updated_at = now()
                 where b.id in (select batch_id from batch_items where job_id = $1)
                   and b.kind = 'batch' and b.status in ('queued', 'running')
                   and not exists (select 1 from batch_items bi join jobs c on c.id = bi.job_id
                                   where bi.batch_id = b.id and c.status in ('queued', 'running'))
                 returning b.id, b.tenant_id, b.webhook_url",
            )
            .bind(child.0)
            .fetch_all(exec)
            .await
        }
        None => {
            sqlx::query_as(
                "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1,
                        updated_at = now()
                 where b.kind = 'batch' and b.status in ('queued', 'running')
                   and not exists (select 1 from batch_items bi join jobs c on c.id = bi.job_id
                                   where bi.batch_id = b.id and c.status in ('queued', 'running'))
                 returning b.id, b.tenant_id, b.webhook_url",
            )
            .fetch_all(exec)
            .await
        }
    }
}

/// Marks the open batches of `child` as running (their first item started or ended).
pub async fn mark_running(exec: impl PgExecutor<'_>, child: JobId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set status = 'running', started_at = coalesce(started_at, now()),
                state_version = state_version + 1, updated_at = now()
         where kind = 'batch' and status = 'queued' and id in (select batch_id from batch_items where job_id = $1)",
    )
    .bind(child.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// [`finish_ready`] for the batches of many children at once (the group commit of the worker):
/// one statement for every child that ended at the same moment.
pub async fn finish_ready_many(exec: impl PgExecutor<'_>, children: &[Uuid]) -> Result<Vec<Finished>, sqlx::Error> {
    if children.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1,
                updated_at = now()
         where b.id in (select batch_id from batch_items where job_id = any($1))
           and b.kind = 'batch' and b.status in ('queued', 'running')
           and not exists (select 1 from batch_items bi join jobs c on c.id = bi.job_id
                           where bi.batch_id = b.id and c.status in ('queued', 'running'))
         returning b.id, b.tenant_id, b.webhook_url",
    )
    .bind(children)
    .fetch_all(exec)
    .await
}

/// [`mark_running`] for the open batches of many children at once.
pub async fn mark_running_many(exec: impl PgExecutor<'_>, children: &[Uuid]) -> Result<(), sqlx::Error> {
    if children.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update jobs set status = 'running', started_at = coalesce(started_at, now()),
                state_version = state_version + 1, updated_at = now()
         where id in (select batch_id from batch_items where job_id = any($1))
           and kind = 'batch' and status = 'queued'",
    )
    .bind(children)
    .execute(exec)
    .await?;
    Ok(())
}
