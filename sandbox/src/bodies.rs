//! The bounded cache of built answers (HTTP 200 JSON bodies), keyed by everything that determines
//! them. What still varies per request (the AliExpress request id, clock-relative times) is left as
//! holes and filled in on every hit; quotas, faults and latency are applied by the caller per request.
//! An answer is kept from its second request on, so one-off answers (a sweep over distinct product
//! ids) cost neither a copy nor memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::StatusCode;

use crate::cache::BoundedCache;
use crate::reply::Reply;
use crate::template::{Cut, Fill, Template};

/// A freshly serialized answer and the per-request values to cut out of it before reuse.
#[derive(Debug)]
pub struct Built {
    pub json: Vec<u8>,
    pub outcome: &'static str,
    pub cuts: Vec<Cut>,
}

impl Built {
    /// An answer whose bytes never vary for its key.
    pub fn fixed(json: Vec<u8>, outcome: &'static str) -> Self {
        Self {
            json,
            outcome,
            cuts: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Cached {
    template: Template,
    outcome: &'static str,
}

/// A cache key: length-prefixed parts, so that different part lists never collide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key for one route (or method).
    pub fn new(route: &str) -> Self {
        Self(Vec::with_capacity(512)).part(route)
    }

    /// Appends a part.
    pub fn part(mut self, p: impl AsRef<[u8]>) -> Self {
        let p = p.as_ref();
        self.0.extend_from_slice(&(p.len() as u64).to_le_bytes());
        self.0.extend_from_slice(p);
        self
    }

    /// Appends a number.
    pub fn num(self, n: i64) -> Self {
        self.part(n.to_le_bytes())
    }
}

/// Remembers (lossily) the hashes of keys answered once and not cached yet.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
}

impl Doorkeeper {
    fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// True when the key hashed to `h` was seen since it was last admitted; otherwise remembers it.
    fn admit(&self, h: u64) -> bool {
        let h = h | 1;
        let slot = &self.slots[(h % self.slots.len() as u64) as usize];
        if slot.load(Ordering::Relaxed) == h {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(h, Ordering::Relaxed);
            false
        }
    }
}

/// The cache of answers.
pub struct Bodies {
    cache: BoundedCache<Box<[u8]>, Arc<Cached>>,
    doorkeeper: Doorkeeper,
    enabled: bool,
}

impl Bodies {
    /// An empty cache of about `budget` bytes (0 caches nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            cache: BoundedCache::new(budget),
            doorkeeper: Doorkeeper::new((budget / 512).clamp(1024, 1 << 20)),
            enabled: budget > 0,
        }
    }

    /// Number of answers held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when no answer is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The answer for `key`: the cached body with this request's holes filled in, else `build()`'s
    /// answer (kept for next time from the key's second request on; an `Err` reply is returned as is).
    pub fn answer(&self, key: Key, fill: &Fill<'_>, build: impl FnOnce() -> Result<Built, Reply>) -> Reply {
        if !self.enabled {
            return build().map_or_else(
                |r| r,
                |b| Reply::json_bytes(StatusCode::OK, Bytes::from(b.json), b.outcome),
            );
        }
        let h = self.cache.hash_of(key.0.as_slice());
        if let Some(hit) = self.cache.get_hashed(h, key.0.as_slice()) {
            return Reply::json_bytes(StatusCode::OK, hit.template.render(fill), hit.outcome);
        }
        let built = match build() {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if !self.doorkeeper.admit(h) {
            return Reply::json_bytes(StatusCode::OK, Bytes::from(built.json), built.outcome);
        }
        let (body, template) = if built.cuts.is_empty() {
            // The kept bytes share the answer's buffer: drop its spare capacity first.
            let mut json = built.json;
            json.shrink_to_fit();
            let body = Bytes::from(json);
            (body.clone(), Some(Template::fixed(body)))
        } else {
            let template = Template::cut(&built.json, &built.cuts);
            (Bytes::from(built.json), template)
        };
        if let Some(template) = template {
            let weight = template.weight() + key.0.len();
            let cached = Cached {
                template,
                outcome: built.outcome,
            };
            self.cache
                .insert_hashed(h, key.0.into_boxed_slice(), Arc::new(cached), weight);
        }
        Reply::json_bytes(StatusCode::OK, body, built.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Hole;
    use chrono::DateTime;

    #[test]
    fn third_answer_comes_from_the_cache_with_its_own_request_id() {
        let bodies = Bodies::new(1 << 20);
        let now = DateTime::from_timestamp(1_748_736_000, 0).unwrap_or_default();
        let build = |rid: &str| {
            let rid = rid.to_string();
            move || -> Result<Built, Reply> {
                Ok(Built {
                    json: format!(r#"{{"request_id":"{rid}","x":1}}"#).into_bytes(),
                    outcome: "ok",
                    cuts: vec![Cut {
                        key: "request_id",
                        value: rid,
                        hole: Hole::RequestId,
                    }],
                })
            }
        };
        let key = || Key::new("m").part("a").num(1);
        let first = bodies.answer(key(), &Fill { request_id: "21a", now }, build("21a"));
        assert_eq!(&first.body[..], br#"{"request_id":"21a","x":1}"#);
        // Kept from the second request on.
        let second = bodies.answer(key(), &Fill { request_id: "21b", now }, build("21b"));
        assert_eq!(&second.body[..], br#"{"request_id":"21b","x":1}"#);
        let third = bodies.answer(key(), &Fill { request_id: "21c", now }, || unreachable!());
        assert_eq!(&third.body[..], br#"{"request_id":"21c","x":1}"#);
        assert_eq!(third.outcome, "ok");
        assert_ne!(Key::new("ab").part("c"), Key::new("a").part("bc"));
    }
}
