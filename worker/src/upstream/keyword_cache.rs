//! Keyword-level cache of Meta, YouTube and text-search answers (docs/design/upstreams.md §4.2): one keyword's
//! ads, videos and listing count serve every product that shares it for 24 h, which is what makes
//! YouTube's ~100 searches a day and Meta's ~200 calls an hour go round. Only successes are cached.
//!
//! Redis holds the answers for every worker; each process also keeps the answers it read or wrote
//! for [`LOCAL_TTL`] (a [`Recent`] map), so a keyword shared by many products costs one `MGET` a
//! minute per process instead of one per validation. A local copy may outlive the Redis key (a
//! wipe, an expiry) by at most [`LOCAL_TTL`]; the answers are upstream data a day old at most.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Serialize, de::DeserializeOwned};

/// How long a process reuses an answer it read from (or wrote to) Redis without asking again.
pub const LOCAL_TTL: Duration = Duration::from_secs(60);
/// Most answers one process keeps; beyond it the expired ones go, and if that is not enough, all.
const LOCAL_MAX: usize = 8_192;

/// Redis-backed keyword cache with a short-lived copy per process; failures are logged and treated
/// as misses.
#[derive(Clone)]
pub struct KeywordCache {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
    recent: Arc<Recent>,
}

/// The answers this process saw lately: Redis key -> (when it stops being reused, the answer).
#[derive(Default)]
struct Recent {
    entries: Mutex<HashMap<String, (Instant, Bytes)>>,
}

impl Recent {
    /// The answer under `key`, while it is fresh.
    fn get(&self, key: &str, now: Instant) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(until, _)| *until > now)
            .map(|(_, v)| v.clone())
    }

    /// Forgets `key` (Redis no longer has it).
    fn remove(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(key);
    }

    /// Keeps `value` under `key` until `until`, within [`LOCAL_MAX`] entries.
    fn put(&self, key: String, value: Bytes, until: Instant, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= LOCAL_MAX && !entries.contains_key(&key) {
            entries.retain(|_, (u, _)| *u > now);
            if entries.len() >= LOCAL_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (until, value));
    }
}

impl fmt::Debug for KeywordCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeywordCache")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl KeywordCache {
    /// A cache writing keys under `{prefix}:kw:` with `ttl`.
    pub fn new(conn: ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            ttl,
            recent: Arc::default(),
        }
    }

    /// How long this process reuses an answer: [`LOCAL_TTL`], or the Redis TTL when shorter.
    fn local_ttl(&self) -> Duration {
        LOCAL_TTL.min(self.ttl)
    }

    fn key(&self, upstream: &str, scope: &str, keyword: &str) -> String {
        format!("{}:kw:{upstream}:{scope}:{keyword}", self.prefix)
    }

    /// The cached answers of several `(upstream, scope)` pairs for one keyword: from this
    /// process's recent answers when it has every one of them, otherwise in one round trip
    /// (`MGET`; three `GET`s were three round trips) whose answers replace the local copies.
    /// Each answer is still JSON; [`KeywordCache::decode`] reads it.
    pub async fn get_all<const N: usize>(&self, wanted: [(&str, &str); N], keyword: &str) -> [Option<Bytes>; N] {
        let keys: Vec<String> = wanted
            .iter()
            .map(|(upstream, scope)| self.key(upstream, scope, keyword))
            .collect();
        let now = Instant::now();
        let local: [Option<Bytes>; N] = std::array::from_fn(|i| self.recent.get(&keys[i], now));
        if local.iter().all(Option::is_some) {
            return local;
        }
        // `MGET` always answers a list, also for one key (redis-rs sends a lone key as `GET`).
        let found: Result<Vec<Option<Vec<u8>>>, _> =
            redis::cmd("MGET").arg(&keys).query_async(&mut self.conn.clone()).await;
        match found {
            Ok(values) if values.len() == N => {
                let until = now + self.local_ttl();
                let mut values = values.into_iter().zip(keys).map(|(value, key)| {
                    let value = value.map(Bytes::from);
                    match &value {
                        Some(v) => self.recent.put(key, v.clone(), until, now),
                        None => self.recent.remove(&key),
                    }
                    value
                });
                return std::array::from_fn(|_| values.next().flatten());
            }
            Ok(values) => tracing::debug!(
                got = values.len(),
                asked = N,
                "keyword cache read answered a short list"
            ),
            Err(e) => tracing::debug!(error = %e, "keyword cache read failed"),
        }
        std::array::from_fn(|_| None)
    }

    /// A cached answer read by [`KeywordCache::get_all`] (an unreadable one is a miss).
    pub fn decode<T: DeserializeOwned>(found: Option<Bytes>) -> Option<T> {
        serde_json::from_slice(&found?).ok()
    }

    /// Stores an answer (in Redis, and in this process's recent answers).
    pub async fn put<T: Serialize>(&self, upstream: &str, scope: &str, keyword: &str, value: &T) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        let bytes = Bytes::from(bytes);
        let key = self.key(upstream, scope, keyword);
        let now = Instant::now();
        self.recent.put(key.clone(), bytes.clone(), now + self.local_ttl(), now);
        let stored: Result<(), _> = self
            .conn
            .clone()
            .set_ex(key, bytes.as_ref(), self.ttl.as_secs().max(1))
            .await;
        if let Err(e) = stored {
            tracing::debug!(error = %e, "keyword cache write failed");
        }
    }
}
