//! In-process cache of API-key lookups (positive and negative) and of the keys used since the last
//! `last_used_at` flush; revocation becomes visible within the cache's TTL and it never fails open.
//!
//! Entries are refreshed ahead of expiry: in the second half of an entry's TTL the first request
//! that sees it reads the key again while the others keep using it, so a busy key rarely expires.
//! When one does expire anyway (the refresh took longer than the other half: a saturated API), or a
//! key is seen for the first time (a thousand connections' first requests after a start), one
//! request reads it and the others wait for that read, all woken together when it ends, instead
//! of a thousand concurrent requests queueing for the pool (or for one another, one wake-up at a
//! time). Should that read fail, the requests that were waiting answer 503 at once rather than each
//! trying again.

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
use tokio::sync::Notify;

use crate::error::ApiError;

/// A cached lookup: the key's record (`None` = unknown key), when it was read (`None`: not yet),
/// when a read of it last failed, and who is reading it.
struct CachedLookup {
    record: Option<Arc<KeyRecord>>,
    read_at: Option<Instant>,
    failed_at: Option<Instant>,
    /// A request is reading it ahead of expiry (the others keep using the entry).
    refreshing: bool,
    /// A request is reading it because it expired or was never read: the others wait for this.
    reading: Option<Arc<Notify>>,
}

/// What the cache holds for a key id, seen by one request.
enum Seen {
    /// Fresh; `true` when this request should refresh it ahead of expiry.
    Fresh(Option<Arc<KeyRecord>>, bool),
    /// Expired or never read, and now this request's to read; its waiters wait on this.
    Read(Arc<Notify>),
    /// Expired or never read, and another request is reading it: wait for this.
    Wait(Arc<Notify>),
    /// Expired, and a read that ended after the request began to wait failed.
    Failed,
}

/// Cache of key lookups (positive and negative) and the set of keys used since the last flush.
#[derive(Clone, Default)]
pub struct KeyCache {
    entries: Arc<Mutex<HashMap<String, CachedLookup>>>,
    used: Arc<Mutex<HashSet<String>>>,
}

const MAX_ENTRIES: usize = 100_000;

impl CachedLookup {
    fn unread() -> Self {
        Self {
            record: None,
            read_at: None,
            failed_at: None,
            refreshing: false,
            reading: None,
        }
    }

    /// Whether `reading` is the read of this entry in progress.
    fn read_by(&self, reading: &Arc<Notify>) -> bool {
        self.reading
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, reading))
    }
}

/// A request's turn to read an expired or never-read key: ended when dropped (after the answer is
/// stored, after a failure, or with a request dropped mid-read), so waiters never wait for a read
/// nobody makes.
struct ReadTurn<'a> {
    cache: &'a KeyCache,
    id: &'a str,
    reading: Arc<Notify>,
}

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        self.cache.end_read(self.id, &self.reading);
    }
}

/// Makes room for one more entry (all of them go: a full cache is a flood of made-up key ids).
fn evict_if_full(entries: &mut HashMap<String, CachedLookup>) {
    if entries.len() >= MAX_ENTRIES {
        entries.clear();
    }
}

impl KeyCache {
    /// Verifies a presented bearer token; never fails open (a database error is a 503).
    pub async fn authenticate(&self, pool: &PgPool, ttl: Duration, token: &str) -> Result<TenantId, ApiError> {
        let Some(key) = apikey::parse(token) else {
            return Err(ApiError::Unauthorized("The API key is malformed."));
        };
        // An expired or never-read entry is read by one request; the others wait for its end.
        let mut waiting_since = None;
        let mut turn = None;
        let (cached, refresh) = loop {
            match self.seen(key.id, ttl, waiting_since) {
                Seen::Fresh(record, refresh) => break (Some(record), refresh),
                Seen::Read(reading) => {
                    turn = Some(ReadTurn {
                        cache: self,
                        id: key.id,
                        reading,
                    });
                    break (None, true);
                }
                // The read this request waited for failed: so would its own, for now.
                Seen::Failed => return Err(ApiError::Unavailable("postgres: the API key could not be read".into())),
                Seen::Wait(reading) => {
                    waiting_since.get_or_insert_with(Instant::now);
                    let ended = reading.notified();
                    tokio::pin!(ended);
                    // Registered before looking again, so an end in between is not missed.
                    ended.as_mut().enable();
                    if self.is_reading(key.id, &reading) {
                        ended.await;
                    }
                }
            }
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
                        self.store_failed_read(key.id);
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

    /// The entry of `id` as this request sees it (a never-read one is added, so that its first
    /// requests wait for one read too); marks a fresh entry in the second half of its TTL as being
    /// refreshed, and an expired one as being read, by this request. With `failed_since`, an
    /// expired entry whose last read failed after that instant is [`Seen::Failed`].
    fn seen(&self, id: &str, ttl: Duration, failed_since: Option<Instant>) -> Seen {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(id) {
            evict_if_full(&mut entries);
            entries.insert(id.to_owned(), CachedLookup::unread());
        }
        let Some(entry) = entries.get_mut(id) else {
            return Seen::Read(Arc::default());
        };
        match entry.read_at.map(|at| at.elapsed()) {
            Some(age) if age < ttl => {
                let refresh = !entry.refreshing && age >= ttl / 2;
                entry.refreshing |= refresh;
                Seen::Fresh(entry.record.clone(), refresh)
            }
            _ if failed_since
                .zip(entry.failed_at)
                .is_some_and(|(since, failed)| failed >= since) =>
            {
                Seen::Failed
            }
            _ => match &entry.reading {
                Some(reading) => Seen::Wait(reading.clone()),
                None => {
                    let reading = Arc::new(Notify::new());
                    entry.reading = Some(reading.clone());
                    Seen::Read(reading)
                }
            },
        }
    }

    /// Whether `reading` is still the read in progress of `id`.
    fn is_reading(&self, id: &str, reading: &Arc<Notify>) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(id).is_some_and(|entry| entry.read_by(reading))
    }

    /// Ends the read `reading` of `id` (stored, failed or abandoned) and wakes its waiters, also
    /// when the entry was evicted meanwhile.
    fn end_read(&self, id: &str, reading: &Arc<Notify>) {
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get_mut(id)
                && entry.read_by(reading)
            {
                entry.reading = None;
            }
        }
        reading.notify_waiters();
    }

    fn store(&self, id: &str, record: Option<Arc<KeyRecord>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(id) {
            evict_if_full(&mut entries);
        }
        let entry = entries.entry(id.to_owned()).or_insert_with(CachedLookup::unread);
        entry.record = record;
        entry.read_at = Some(Instant::now());
        entry.refreshing = false;
    }

    fn store_failed_read(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get_mut(id) {
            entry.failed_at = Some(Instant::now());
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
