//! The `validation_results` table: one row per succeeded validation job, written once.

use serde_json::Value;
use sqlx::PgPool;

pub use super::transitions::{complete_validation, complete_validations};
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

/// The newest result for each of `cache_keys` still younger than its TTL (used when Redis lost the
/// cache entry), in one query: `(cache key, document, seconds left)` per fresh hit.
pub async fn fresh_for_keys(
    pool: &PgPool,
    cache_keys: &[String],
    full_ttl_secs: f64,
    partial_ttl_secs: f64,
) -> Result<Vec<(String, Value, u64)>, sqlx::Error> {
    if cache_keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"select distinct on (cache_key) cache_key, result,
                (case when partial then $3::float8 else $2::float8 end) - extract(epoch from now() - created_at)::float8 as "left!"
         from validation_results where cache_key = any($1) order by cache_key, created_at desc"#,
        cache_keys,
        full_ttl_secs,
        partial_ttl_secs,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.left >= 1.0)
        .map(|r| (r.cache_key, r.result, r.left as u64))
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
