//! The `job_results` table: one row per succeeded search or suppliers job, written once.
//!
//! Validation results keep their own table (`validation_results`, with product and model
//! columns); the other result-bearing kinds share this one, keyed by their cache key.

use serde_json::Value;
use sqlx::PgPool;

/// Stores a job's result and marks the job succeeded, once (a state transition: see there).
pub use super::transitions::complete_with_result as complete;

/// The newest result for a cache key younger than `ttl_secs` (used when Redis lost the cache
/// entry): returns the document and the seconds it has left to live.
pub async fn fresh_for_key(pool: &PgPool, cache_key: &str, ttl_secs: f64) -> Result<Option<(Value, u64)>, sqlx::Error> {
    let row: Option<(Value, f64)> = sqlx::query!(
        r#"select result, $2 - extract(epoch from now() - created_at)::float8 as "left!"
         from job_results where cache_key = $1 order by created_at desc limit 1"#,
        cache_key,
        ttl_secs,
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.result, r.left));
    Ok(row.filter(|(_, left)| *left >= 1.0).map(|(v, left)| (v, left as u64)))
}
