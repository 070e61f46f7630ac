//! In-process cache of API-key lookups (positive and negative) and of the keys used since the last
//! `last_used_at` flush; revocation becomes visible within the cache's TTL and it never fails open.
//!
//! Entries are refreshed ahead of expiry: in the second half of an entry's TTL the first request
//! that sees it reads the key again while the others keep using it, so a busy key never expires
//! and a thousand concurrent requests never look the same key up at once.

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

/// A cached lookup: the key's record (`None` = unknown key), when it was read, and whether a
/// request is reading it again.
struct CachedLookup {
    record: Option<KeyRecord>,
    read_at: Instant,
    refreshing: bool,
}

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
        let (cached, refresh) = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get_mut(key.id) {
                Some(entry) if entry.read_at.elapsed() < ttl => {
                    let refresh = !entry.refreshing && entry.read_at.elapsed() >= ttl / 2;
                    entry.refreshing |= refresh;
                    (Some(entry.record.clone()), refresh)
                }
                _ => (None, true),
            }
        };
        let record = match (cached, refresh) {
            (Some(record), false) => record,
            (cached, _) => match api_keys::find(pool, key.id).await {
                Ok(record) => {
                    self.store(key.id, record.clone());
                    record
                }
                // A refresh ahead of expiry that failed: the entry is still valid, retry later.
                Err(e) => match cached {
                    Some(record) => {
                        self.store_failed_refresh(key.id);
                        record
                    }
                    None => {
                        return Err(match ApiError::from(e) {
                            ApiError::Internal(msg) => ApiError::Unavailable(msg),
                            other => other,
                        });
                    }
                },
            },
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

    fn store(&self, id: &str, record: Option<KeyRecord>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            id.to_owned(),
            CachedLookup {
                record,
                read_at: Instant::now(),
                refreshing: false,
            },
        );
    }

    fn store_failed_refresh(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get_mut(id) {
            entry.refreshing = false;
        }
    }

    /// Takes the ids of keys used since the last call (for a batched `last_used_at` update).
    pub fn drain_used(&self) -> Vec<String> {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).drain().collect()
    }
}
