//! In-process cache of API-key lookups (positive and negative) and of the keys used since the last
//! `last_used_at` flush; revocation becomes visible within the cache's TTL and it never fails open.
//!
//! Entries are refreshed ahead of expiry: in the second half of an entry's TTL the first request
//! that sees it reads the key again while the others keep using it, so a busy key rarely expires.
//! When one does expire anyway (the refresh took longer than the other half: a saturated API), the
//! requests that find it expired read it one at a time: the first reads PostgreSQL and the others
//! find its fresh answer, instead of a thousand concurrent requests queueing for the pool.

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
    record: Option<Arc<KeyRecord>>,
    read_at: Instant,
    refreshing: bool,
    /// Held by the request reading an expired entry again.
    reread: Arc<tokio::sync::Mutex<()>>,
}

/// What the cache holds for a key id, seen by one request.
enum Seen {
    /// Fresh; `true` when this request should refresh it ahead of expiry.
    Fresh(Option<Arc<KeyRecord>>, bool),
    /// Expired: read it again under this lock.
    Expired(Arc<tokio::sync::Mutex<()>>),
    /// Never read (or evicted).
    Unknown,
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
        // An expired entry is read again one request at a time; the turn is held until the
        // answer is stored.
        let mut turn = None;
        let (cached, refresh) = match self.seen(key.id, ttl) {
            Seen::Fresh(record, refresh) => (Some(record), refresh),
            Seen::Expired(reread) => {
                turn = Some(reread.lock_owned().await);
                match self.seen(key.id, ttl) {
                    // Another request read it while this one waited for its turn.
                    Seen::Fresh(record, _) => (Some(record), false),
                    Seen::Expired(_) | Seen::Unknown => (None, true),
                }
            }
            Seen::Unknown => (None, true),
        };
        let record = match (cached, refresh) {
            (Some(record), false) => record,
            (cached, _) => match api_keys::find(pool, key.id).await {
                Ok(record) => {
                    let record = record.map(Arc::new);
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
        drop(turn);
        match record {
            Some(r) if !r.revoked && apikey::digests_equal(&apikey::secret_digest(key.secret), &r.secret_hash) => {
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

    /// The entry of `id` as this request sees it; marks a fresh entry in the second half of its
    /// TTL as being refreshed (by this request).
    fn seen(&self, id: &str, ttl: Duration) -> Seen {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(id) {
            Some(entry) if entry.read_at.elapsed() < ttl => {
                let refresh = !entry.refreshing && entry.read_at.elapsed() >= ttl / 2;
                entry.refreshing |= refresh;
                Seen::Fresh(entry.record.clone(), refresh)
            }
            Some(entry) => Seen::Expired(entry.reread.clone()),
            None => Seen::Unknown,
        }
    }

    fn store(&self, id: &str, record: Option<Arc<KeyRecord>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let now = Instant::now();
        match entries.get_mut(id) {
            Some(entry) => {
                entry.record = record;
                entry.read_at = now;
                entry.refreshing = false;
            }
            None => {
                entries.insert(
                    id.to_owned(),
                    CachedLookup {
                        record,
                        read_at: now,
                        refreshing: false,
                        reread: Arc::default(),
                    },
                );
            }
        }
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
