//! Cached results: the cache Redis, then the fresh results in PostgreSQL (written back to Redis,
//! which may have lost them). A slow or failed Redis read is a miss, never an error.

use std::{collections::HashMap, convert::Infallible, time::Duration};

use dropforge_common::{batching::Batcher, db};
use serde_json::Value;
use sqlx::PgPool;

use crate::{error::ApiError, state::AppState};

/// Most cache keys looked up by one statement.
const MAX_GROUP: usize = 256;

type Fresh = Result<Option<(Value, u64)>, ApiError>;

/// Look-ups of fresh validation results in PostgreSQL: the look-ups that arrive while one is
/// running are made together by the next statement (`db::results::fresh_for_keys`). Every
/// uncached submission makes one (Redis may have lost the entry), so under a burst of new
/// products a thousand concurrent misses cost a few statements instead of a thousand.
#[derive(Clone)]
pub struct FreshReads {
    lane: Batcher<String, Fresh>,
}

impl FreshReads {
    /// Look-ups on `pool`; results stay fresh `full` seconds (`partial` for partial ones). Starts
    /// the lane's task.
    pub fn new(pool: PgPool, full: Duration, partial: Duration) -> Self {
        let ttls = (full.as_secs_f64(), partial.as_secs_f64());
        let lane = Batcher::spawn(MAX_GROUP, 1, move |keys: Vec<String>| {
            let pool = pool.clone();
            async move { Ok::<_, Infallible>(look_up_group(&pool, ttls, keys).await) }
        });
        Self { lane }
    }

    /// The newest fresh result for `key` and the seconds it has left, looked up together with
    /// the look-ups waiting.
    async fn get(&self, key: String) -> Fresh {
        self.lane
            .call(key)
            .await
            .map_err(|e| ApiError::Unavailable(format!("result look-up: {e}")))?
    }
}

/// One statement for the group's distinct keys; an answer per key, in order.
async fn look_up_group(pool: &PgPool, (full, partial): (f64, f64), keys: Vec<String>) -> Vec<Fresh> {
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    match db::results::fresh_for_keys(pool, &distinct, full, partial).await {
        Ok(rows) => {
            // Found only when Redis lost the entry: rare, so a repeated key simply gets a copy.
            let found: HashMap<String, (Value, u64)> =
                rows.into_iter().map(|(key, doc, left)| (key, (doc, left))).collect();
            keys.iter().map(|key| Ok(found.get(key).cloned())).collect()
        }
        Err(e) => {
            tracing::warn!(keys = distinct.len(), error = %e, "result look-up failed");
            keys.iter().map(|_| Err(ApiError::from_db(&e))).collect()
        }
    }
}

/// Where PostgreSQL keeps the results of a kind, and how long they stay fresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Store {
    /// `validation_results`: full results for `DF_CACHE_VALIDATION_TTL`, partial ones for
    /// `DF_CACHE_PARTIAL_TTL`.
    Validations,
    /// `job_results` (search, suppliers), fresh for this long.
    JobResults(Duration),
}

/// The result cached in Redis under `key`, if Redis answers in time.
pub async fn read_redis(state: &AppState, key: &str) -> Option<Vec<u8>> {
    match state.cache_redis.call(state.cache.get(key)).await {
        Ok(hit) => hit,
        Err(e) => {
            tracing::debug!(error = %e, "cache read failed; falling back to PostgreSQL");
            None
        }
    }
}

/// The newest fresh result for `key` in PostgreSQL, written back to Redis for its remaining life.
pub async fn read_postgres(state: &AppState, key: &str, store: Store) -> Result<Option<Vec<u8>>, ApiError> {
    let found = match store {
        Store::Validations => state.fresh_reads.get(key.to_owned()).await?,
        Store::JobResults(ttl) => db::job_results::fresh_for_key(&state.pool, key, ttl.as_secs_f64()).await?,
    };
    let Some((doc, ttl_left)) = found else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
    recache(state, key, &bytes, ttl_left).await;
    Ok(Some(bytes))
}

/// The cached validation results of `keys` (Redis, then fresh results in PostgreSQL, re-cached).
pub async fn read_validations(state: &AppState, keys: &[String]) -> Result<HashMap<String, Value>, ApiError> {
    let mut found = HashMap::new();
    match state.cache_redis.call(state.cache.get_many(keys)).await {
        Ok(values) => {
            for (key, value) in keys.iter().zip(values) {
                if let Some(doc) = value.and_then(|v| serde_json::from_slice::<Value>(&v).ok()) {
                    found.insert(key.clone(), doc);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "cache read failed; falling back to PostgreSQL"),
    }
    let missing: Vec<String> = keys.iter().filter(|k| !found.contains_key(*k)).cloned().collect();
    let (full, partial) = validation_ttls(state);
    for (key, doc, ttl_left) in db::results::fresh_for_keys(&state.pool, &missing, full, partial).await? {
        if let Ok(bytes) = serde_json::to_vec(&doc) {
            recache(state, &key, &bytes, ttl_left).await;
        }
        found.insert(key, doc);
    }
    Ok(found)
}

/// `(full, partial)` freshness of validation results, in seconds.
fn validation_ttls(state: &AppState) -> (f64, f64) {
    let cache = &state.config.cache;
    (cache.validation_ttl.as_secs_f64(), cache.partial_ttl.as_secs_f64())
}

/// Writes a result found in PostgreSQL back to Redis; a failure only costs the next read.
async fn recache(state: &AppState, key: &str, bytes: &[u8], ttl_left: u64) {
    let set = state.cache.set(key, bytes, Duration::from_secs(ttl_left));
    if let Err(e) = state.cache_redis.call(set).await {
        tracing::debug!(error = %e, "could not re-populate the cache");
    }
}
