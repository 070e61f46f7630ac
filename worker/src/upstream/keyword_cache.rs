//! Keyword-level cache of Meta, YouTube and text-search answers (docs/design/upstreams.md §4.2): one keyword's
//! ads, videos and listing count serve every product that shares it for 24 h, which is what makes
//! YouTube's ~100 searches a day and Meta's ~200 calls an hour go round. Only successes are cached.

use std::{fmt, time::Duration};

use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Serialize, de::DeserializeOwned};

/// Redis-backed keyword cache; failures are logged and treated as misses.
#[derive(Clone)]
pub struct KeywordCache {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
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
        }
    }

    fn key(&self, upstream: &str, scope: &str, keyword: &str) -> String {
        format!("{}:kw:{upstream}:{scope}:{keyword}", self.prefix)
    }

    /// The cached answers of several `(upstream, scope)` pairs for one keyword, in one round trip
    /// (`MGET`): a validation looks up three of them, and three `GET`s were three round trips.
    /// Each answer is still JSON; [`KeywordCache::decode`] reads it.
    pub async fn get_all<const N: usize>(&self, wanted: [(&str, &str); N], keyword: &str) -> [Option<Vec<u8>>; N] {
        let keys: Vec<String> = wanted
            .iter()
            .map(|(upstream, scope)| self.key(upstream, scope, keyword))
            .collect();
        // `MGET` always answers a list, also for one key (redis-rs sends a lone key as `GET`).
        let found: Result<Vec<Option<Vec<u8>>>, _> =
            redis::cmd("MGET").arg(&keys).query_async(&mut self.conn.clone()).await;
        match found {
            Ok(values) if values.len() == N => {
                let mut values = values.into_iter();
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
    pub fn decode<T: DeserializeOwned>(found: Option<Vec<u8>>) -> Option<T> {
        serde_json::from_slice(&found?).ok()
    }

    /// Stores an answer.
    pub async fn put<T: Serialize>(&self, upstream: &str, scope: &str, keyword: &str, value: &T) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        let stored: Result<(), _> = self
            .conn
            .clone()
            .set_ex(self.key(upstream, scope, keyword), bytes, self.ttl.as_secs().max(1))
            .await;
        if let Err(e) = stored {
            tracing::debug!(error = %e, "keyword cache write failed");
        }
    }
}
