//! `AppState`: cheap, clonable handles shared by every request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use dropforge_common::{cache::Cache, config::Config, events::Waiters, queue::Queue};
use sqlx::PgPool;

use crate::auth::KeyCache;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    /// Configuration, read once.
    pub config: Arc<Config>,
    /// PostgreSQL pool.
    pub pool: PgPool,
    /// Result cache (Redis).
    pub cache: Cache,
    /// Job queues (Redis, apalis).
    pub queue: Queue,
    /// Requests waiting for job completion.
    pub waiters: Waiters,
    /// Verified API keys.
    pub keys: KeyCache,
    /// Hot cache entries kept in-process for a moment.
    pub memo: ResultMemo,
}

/// A tiny in-process memo in front of the Redis cache: hot products are answered without a
/// round trip for `ttl` (default 1 s, never longer than the entry's own TTL in Redis).
#[derive(Clone, Default)]
pub struct ResultMemo {
    entries: Arc<Mutex<HashMap<String, (Bytes, Instant)>>>,
}

const MEMO_MAX_ENTRIES: usize = 50_000;

impl ResultMemo {
    /// A memoised value, if still fresh.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(v, _)| v.clone())
    }

    /// Remembers a value for `ttl`.
    pub fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MEMO_MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= MEMO_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (value, Instant::now() + ttl));
    }
}
