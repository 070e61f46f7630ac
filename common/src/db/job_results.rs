//! The `job_results` table: one row per succeeded search or suppliers job, written once.
//!
//! Validation results keep their own table (`validation_results`, with product and model
//! columns); the other result-bearing kinds share this one, keyed by their cache key.

use serde_json::Value;
use sqlx::PgPool;

use crate::domain::{JobId, JobKind};

/// Stores a job's result and marks the job succeeded, in one statement: only while `owner` still
/// holds the job's lease, and never twice (`on conflict (job_id) do nothing`). `result` is the
/// JSON text of the document (serialised once, also used for the cache). True if the job was
/// completed by this call.
pub async fn complete(
    exec: impl sqlx::PgExecutor<'_>,
    job_id: JobId,
    cache_key: &str,
    kind: JobKind,
    result: &str,
    owner: &str,
) -> Result<bool, sqlx::Error> {
    let completed: i64 = sqlx::query_scalar(
        "with done as (
             update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                    lease_expires_at = null, state_version = state_version + 1, updated_at = now()
             where id = $1 and status = 'running' and lease_owner = $5
             returning id
         ), stored as (
             insert into job_results (job_id, cache_key, kind, result)
             select id, $2, $3, $4::text::jsonb from done
             on conflict (job_id) do nothing
         )
         select count(*) from done",
    )
    .bind(job_id.0)
    .bind(cache_key)
    .bind(kind.as_str())
    .bind(result)
    .bind(owner)
    .fetch_one(exec)
    .await?;
    Ok(completed == 1)
}

/// The newest result for a cache key younger than `ttl_secs` (used when Redis lost the cache
/// entry): returns the document and the seconds it has left to live.
pub async fn fresh_for_key(pool: &PgPool, cache_key: &str, ttl_secs: f64) -> Result<Option<(Value, u64)>, sqlx::Error> {
    let row: Option<(Value, f64)> = sqlx::query_as(
        "select result, $2 - extract(epoch from now() - created_at)::float8
         from job_results where cache_key = $1 order by created_at desc limit 1",
    )
    .bind(cache_key)
    .bind(ttl_secs)
    .fetch_optional(pool)
    .await?;
    Ok(row.filter(|(_, left)| *left >= 1.0).map(|(v, left)| (v, left as u64)))
}
