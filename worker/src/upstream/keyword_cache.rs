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

    /// A cached answer of `upstream` for `keyword` within `scope` (query parameters that matter).
    pub async fn get<T: DeserializeOwned>(&self, upstream: &str, scope: &str, keyword: &str) -> Option<T> {
        let found: Result<Option<Vec<u8>>, _> = self.conn.clone().get(self.key(upstream, scope, keyword)).await;
        match found {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "keyword cache read failed");
                None
            }
        }
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
