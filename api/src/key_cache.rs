//! In-process cache of API-key lookups (positive and negative) and of the keys used since the last
//! `last_used_at` flush; revocation becomes visible within the cache's TTL and it never fails open.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use dropforge_common::{
    apikey,
    db::api_keys::{self, KeyRecord},
    domain::TenantId,
};
use sqlx::PgPool;

use crate::error::ApiError;

/// A cached lookup: the key's record (`None` = unknown key) and when it was read.
type CachedLookup = (Option<KeyRecord>, Instant);

/// Cache of key lookups (positive and negative) and the set of keys used since the last flush.
#[derive(Clone, Default)]
pub struct KeyCache {
    entries: Arc<Mutex<HashMap<String, CachedLookup>>>,
    used: Arc<Mutex<HashSet<String>>>,
}

const MAX_ENTRIES: usize = 100_000;

impl KeyCache {
    /// Verifies a presented bearer token; never fails open (a database error is a 503).
    pub async fn authenticate(&self, pool: &PgPool, ttl: Duration, token: &str) -> Result<TenantId, ApiError> {
        let Some(key) = apikey::parse(token) else {
            return Err(ApiError::Unauthorized("The API key is malformed."));
        };
        let cached = {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries
                .get(key.id)
                .filter(|(_, at)| at.elapsed() < ttl)
                .map(|(rec, _)| rec.clone())
        };
        let record = match cached {
            Some(record) => record,
            None => {
                let record = api_keys::find(pool, key.id)
                    .await
                    .map_err(ApiError::from)
                    .map_err(|e| match e {
                        ApiError::Internal(msg) => ApiError::Unavailable(msg),
                        other => other,
                    })?;
                let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(key.id.to_owned(), (record.clone(), Instant::now()));
                record
            }
        };
        match record {
            Some(r) if !r.revoked && apikey::digests_equal(&apikey::hash_secret(key.secret), &r.secret_hash) => {
                let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
                if !used.contains(key.id) {
                    used.insert(key.id.to_owned());
                }
                Ok(r.tenant_id)
            }
            Some(r) if r.revoked => Err(ApiError::Unauthorized("The API key has been revoked.")),
            _ => Err(ApiError::Unauthorized("The API key is not valid.")),
        }
    }

    /// Takes the ids of keys used since the last call (for a batched `last_used_at` update).
    pub fn drain_used(&self) -> Vec<String> {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).drain().collect()
    }
}
