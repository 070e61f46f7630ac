//! The `validation_results` table: one row per succeeded validation job, written once.

use serde_json::Value;
use sqlx::PgPool;

use crate::{domain::JobId, product::ProductRef};

/// A validation result to store.
#[derive(Debug, Clone)]
pub struct NewResult<'a> {
    /// The job that produced it.
    pub job_id: JobId,
    /// Cache key it answers (product + options + model).
    pub cache_key: &'a str,
    /// The product.
    pub product: &'a ProductRef,
    /// Scoring model.
    pub model: &'a str,
    /// True when an upstream other than AliExpress is missing.
    pub partial: bool,
    /// The result document as JSON text.
    pub result: &'a str,
}

/// What [`complete_validation`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The job was completed by this call (the caller still held its lease).
    pub completed: bool,
    /// The job serves at least one batch item (its batches may now be finished).
    pub in_batch: bool,
}

/// Stores a validation result and marks its job succeeded, in one statement: only while `owner`
/// still holds the job's lease, and never twice (`on conflict (job_id) do nothing`). `result` is
/// the JSON text of the document (serialised once, also used for the cache). True if the job was
/// completed by this call.
pub async fn complete_validation(
    exec: impl sqlx::PgExecutor<'_>,
    r: &NewResult<'_>,
    owner: &str,
) -> Result<Completion, sqlx::Error> {
    let (completed, in_batch): (i64, bool) = sqlx::query_as(
        "with done as (
             update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                    lease_expires_at = null, state_version = state_version + 1, updated_at = now()
             where id = $1 and status = 'running' and lease_owner = $8
             returning id
         ), stored as (
             insert into validation_results (job_id, cache_key, product_source, product_id, model, partial, result)
             select id, $2, $3, $4, $5, $6, $7::text::jsonb from done
             on conflict (job_id) do nothing
         )
         select count(*), exists(select 1 from batch_items where job_id = $1) from done",
    )
    .bind(r.job_id.0)
    .bind(r.cache_key)
    .bind(&r.product.source)
    .bind(&r.product.id)
    .bind(r.model)
    .bind(r.partial)
    .bind(r.result)
    .bind(owner)
    .fetch_one(exec)
    .await?;
    Ok(Completion {
        completed: completed == 1,
        in_batch,
    })
}

/// The newest result for a cache key younger than its TTL (used when Redis lost the cache entry):
/// returns the document and the seconds it has left to live.
pub async fn fresh_for_key(
    pool: &PgPool,
    cache_key: &str,
    full_ttl_secs: f64,
    partial_ttl_secs: f64,
) -> Result<Option<(Value, u64)>, sqlx::Error> {
    let row: Option<(Value, f64)> = sqlx::query_as(
        "select result, (case when partial then $3 else $2 end) - extract(epoch from now() - created_at)::float8
         from validation_results where cache_key = $1 order by created_at desc limit 1",
    )
    .bind(cache_key)
    .bind(full_ttl_secs)
    .bind(partial_ttl_secs)
    .fetch_optional(pool)
    .await?;
    Ok(row.filter(|(_, left)| *left >= 1.0).map(|(v, left)| (v, left as u64)))
}

/// [`fresh_for_key`] for many keys in one query: `(cache key, document, seconds left)` per fresh hit.
pub async fn fresh_for_keys(
    pool: &PgPool,
    cache_keys: &[String],
    full_ttl_secs: f64,
    partial_ttl_secs: f64,
) -> Result<Vec<(String, Value, u64)>, sqlx::Error> {
    if cache_keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Value, f64)> = sqlx::query_as(
        "select distinct on (cache_key) cache_key, result,
                (case when partial then $3 else $2 end) - extract(epoch from now() - created_at)::float8
         from validation_results where cache_key = any($1) order by cache_key, created_at desc",
    )
    .bind(cache_keys)
    .bind(full_ttl_secs)
    .bind(partial_ttl_secs)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, left)| *left >= 1.0)
        .map(|(k, v, left)| (k, v, left as u64))
        .collect())
}

/// An owned [`NewResult`], for group commits.
#[derive(Debug, Clone)]
pub struct OwnedResult {
    /// The job that produced it.
    pub job_id: JobId,
    /// Cache key it answers.
    pub cache_key: String,
    /// The product.
    pub product: ProductRef,
    /// Scoring model.
    pub model: String,
    /// True when an upstream other than AliExpress is missing.
    pub partial: bool,
    /// The result document as JSON text.
    pub result: String,
}

/// [`complete_validation`] for many jobs in one statement: every job `owner` still holds is
/// marked succeeded and gets its result row (written once). Answers one [`Completion`] per row,
/// in order.
pub async fn complete_validations(
    exec: impl sqlx::PgExecutor<'_>,
    rows: &[OwnedResult],
    owner: &str,
) -> Result<Vec<Completion>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.job_id.0).collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.cache_key.as_str()).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.product.source.as_str()).collect();
    let products: Vec<&str> = rows.iter().map(|r| r.product.id.as_str()).collect();
    let models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    let partials: Vec<bool> = rows.iter().map(|r| r.partial).collect();
    let results: Vec<&str> = rows.iter().map(|r| r.result.as_str()).collect();
    let done: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
        "with input as (
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[])
                 as t(job_id, cache_key, source, product_id, model, partial, result)
         ), locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         ), done as (
             update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                    lease_expires_at = null, state_version = state_version + 1, updated_at = now()
             from locked
             where jobs.id = locked.id and locked.status = 'running' and locked.lease_owner = $8
             returning jobs.id
         ), stored as (
             insert into validation_results (job_id, cache_key, product_source, product_id, model, partial, result)
             select i.job_id, i.cache_key, i.source, i.product_id, i.model, i.partial, i.result::jsonb
             from input i join done d on d.id = i.job_id
             on conflict (job_id) do nothing
         )
         select d.id, exists(select 1 from batch_items bi where bi.job_id = d.id) from done d",
    )
    .bind(&ids)
    .bind(&keys)
    .bind(&sources)
    .bind(&products)
    .bind(&models)
    .bind(&partials)
    .bind(&results)
    .bind(owner)
    .fetch_all(exec)
    .await?;
    let done: std::collections::HashMap<uuid::Uuid, bool> = done.into_iter().collect();
    Ok(ids
        .iter()
        .map(|id| Completion {
            completed: done.contains_key(id),
            in_batch: done.get(id).copied().unwrap_or(false),
        })
        .collect())
}
