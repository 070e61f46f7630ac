//! `AppState`: cheap, clonable handles shared by every request.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dropforge_common::{
    cache::Cache,
    config::Config,
    domain::JobKind,
    events::Waiters,
    queue::{Queue, QueueError},
    shutdown::Shutdown,
};
use sqlx::PgPool;

use crate::{cached_body::CachedBody, key_cache::KeyCache};

/// Everything a handler needs: one `Arc`, so the per-request clones of every middleware and
/// extractor cost one reference count, not one per field (profiled: 5 % of the cached path).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl AppState {
    /// Wraps the shared handles.
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The handles behind [`AppState`].
pub struct AppInner {
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
    /// Recent queue depths, so a miss does not always cost a Redis round trip.
    pub room: QueueRoom,
    /// Single submissions of a tenant and kind arriving together are created by one statement:
    /// see [`crate::lookup::group`].
    pub create_groups: crate::lookup::group::CreateGroups,
    /// Reads of jobs arriving together (waiters woken by one completion event) are made by one
    /// statement: see [`crate::lookup::reads`].
    pub job_reads: crate::lookup::reads::JobReads,
    /// Look-ups of fresh validation results in PostgreSQL arriving together are made by one
    /// statement: see [`crate::lookup::cache::FreshReads`].
    pub fresh_reads: crate::lookup::cache::FreshReads,
    /// Publishes the dispatchers' wake-up for jobs left in PostgreSQL, coalesced, off the
    /// request path: see [`crate::lookup::dispatch_wake`].
    pub dispatch_waker: crate::lookup::dispatch_wake::DispatchWaker,
    /// Triggered on SIGTERM: `/ready` answers 503 and waiting requests answer at once.
    pub draining: Shutdown,
    /// Deadline and breaker of request-path calls to the queue Redis (depth, push, publish).
    pub queue_redis: RedisGuard,
    /// Deadline and breaker of request-path calls to the cache Redis (the same guard as
    /// `queue_redis` when both roles share one server).
    pub cache_redis: RedisGuard,
}

/// A deadline on every request-path call to one Redis, and a breaker: once a call failed or
/// timed out, calls are refused at once for `breaker`, so a stalled Redis costs one deadline per
/// breaker period instead of one per request. Callers take their fallback on any error (a cache
/// read becomes a miss, a depth check or push leaves the job to the dispatcher).
#[derive(Clone)]
pub struct RedisGuard {
    inner: Arc<GuardInner>,
}

struct GuardInner {
    role: &'static str,
    timeout: Duration,
    breaker: Duration,
    epoch: Instant,
    /// Calls are refused until this many ms after `epoch`.
    open_until_ms: AtomicU64,
}

/// A call may take this many times its deadline while the runtime is far behind
/// ([`crate::deadline::within`]).
const GUARD_BACKSTOP_FACTOR: u32 = 4;

impl RedisGuard {
    /// A guard for the Redis playing `role` (for logs).
    pub fn new(role: &'static str, timeout: Duration, breaker: Duration) -> Self {
        Self {
            inner: Arc::new(GuardInner {
                role,
                timeout,
                breaker,
                epoch: Instant::now(),
                open_until_ms: AtomicU64::new(0),
            }),
        }
    }

    /// The deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// True while calls are refused after a failure.
    pub fn is_open(&self) -> bool {
        self.now_ms() < self.inner.open_until_ms.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2)
    }

    fn trip(&self, why: &dyn std::fmt::Display) {
        let breaker = u64::try_from(self.inner.breaker.as_millis()).unwrap_or(u64::MAX / 4);
        let until = self.now_ms().saturating_add(breaker);
        let previous = self.inner.open_until_ms.fetch_max(until, Ordering::Relaxed);
        if previous <= self.now_ms() {
            tracing::warn!(redis = self.inner.role, error = %why, breaker_ms = breaker,
                "Redis call failed on the request path; taking fallbacks");
        }
    }

    /// Runs `call` within the deadline (in the runtime's time, [`crate::deadline`]). While the
    /// breaker is open the call is not made at all.
    /// A timeout or an error opens the breaker and is returned as an error of `E`.
    pub async fn call<T, E>(&self, call: impl Future<Output = Result<T, E>>) -> Result<T, E>
    where
        E: From<redis::RedisError> + std::fmt::Display,
    {
        if self.is_open() {
            return Err(redis::RedisError::from((redis::ErrorKind::Io, "skipped: Redis failed moments ago")).into());
        }
        let timeout = self.inner.timeout;
        match crate::deadline::within(timeout, timeout * GUARD_BACKSTOP_FACTOR, call).await {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => {
                self.trip(&e);
                Err(e)
            }
            None => {
                let e = redis::RedisError::from((redis::ErrorKind::Io, "timed out on the request path"));
                self.trip(&e);
                Err(e.into())
            }
        }
    }
}

/// Whether an apalis queue has room under the cap, read from Redis at most every 100 ms and
/// counting this process's own pushes in between (the cap keeps ample slack below 8,000).
#[derive(Clone, Default)]
pub struct QueueRoom {
    depths: Arc<Mutex<HashMap<JobKind, (Instant, usize)>>>,
}

const DEPTH_REFRESH: Duration = Duration::from_millis(100);

impl QueueRoom {
    /// True when `kind`'s queue holds fewer than `cap` due jobs; reserves one slot when it does.
    /// The depth is read through `guard` (deadline and breaker).
    pub async fn reserve(
        &self,
        queue: &Queue,
        guard: &RedisGuard,
        kind: JobKind,
        cap: usize,
    ) -> Result<bool, QueueError> {
        let fresh = {
            let mut depths = self.depths.lock().unwrap_or_else(|p| p.into_inner());
            match depths.get_mut(&kind) {
                Some((at, depth)) if at.elapsed() < DEPTH_REFRESH => {
                    let room = *depth < cap;
                    *depth += usize::from(room);
                    Some(room)
                }
                _ => None,
            }
        };
        if let Some(room) = fresh {
            return Ok(room);
        }
        let depth = guard.call(queue.depth(kind)).await?;
        let room = depth < cap;
        self.depths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, (Instant::now(), depth + usize::from(room)));
        Ok(room)
    }
}

/// A tiny in-process memo in front of the Redis cache: hot products are answered without a
/// round trip, and without compressing again, for `ttl` (default 1 s, never longer than the
/// entry's own TTL in Redis). A hot entry is read again from Redis ahead of its expiry, by a task
/// of its own: no request waits for that read.
#[derive(Clone, Default)]
pub struct ResultMemo {
    entries: Arc<Mutex<HashMap<String, MemoEntry>>>,
}

/// A memoised answer, when it stops being fresh, and its refresh ahead of that.
struct MemoEntry {
    body: Arc<CachedBody>,
    until: Instant,
    /// From here on, the first request that finds the entry has it read again ahead.
    refresh_from: Instant,
    /// A read ahead was handed out (and has not stored its answer).
    refreshing: bool,
}

/// A fresh memoised answer, and whether the caller should read it again ahead of its expiry.
pub struct MemoHit {
    /// The encoded answer.
    pub body: Arc<CachedBody>,
    /// This caller is the one to read the entry again (see [`ResultMemo::refresh`]).
    pub refresh_ahead: bool,
}

const MEMO_MAX_ENTRIES: usize = 50_000;
/// How long after expiry an entry may still be served while one request at a time refreshes it
/// (a slow or unreachable cache Redis then costs one refresh per [`REFRESH_WINDOW`], never a
/// stampede of PostgreSQL reads).
const STALE_GRACE: Duration = Duration::from_secs(5);
/// How long the other requests wait for that refresh before another one tries.
const REFRESH_WINDOW: Duration = Duration::from_millis(100);
/// The last quarter of an entry's period is when it is read again ahead.
const REFRESH_AHEAD_DIVISOR: u32 = 4;

impl ResultMemo {
    /// A memoised answer, if still fresh; in the last quarter of its period the first caller is
    /// told to read it again ahead (once per period), while every caller keeps getting it. Just
    /// after it expired (no read ahead came back: a hot key seldom gets there), the first caller
    /// gets `None` (and refreshes it) while the others keep the previous copy for up to
    /// [`REFRESH_WINDOW`], so an expiry costs one Redis read and one compression, not one per
    /// request in flight.
    pub fn get(&self, key: &str) -> Option<MemoHit> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(key) {
            Some(entry) if now < entry.until => {
                let refresh_ahead = !entry.refreshing && now >= entry.refresh_from;
                entry.refreshing |= refresh_ahead;
                Some(MemoHit {
                    body: entry.body.clone(),
                    refresh_ahead,
                })
            }
            Some(entry) if now < entry.until + STALE_GRACE => {
                entry.until = now + REFRESH_WINDOW;
                None
            }
            _ => None,
        }
    }

    /// A memoised answer even if expired, up to [`STALE_GRACE`] after its expiry: served while the
    /// cache Redis is skipped (its breaker open), so that a stalled Redis does not turn every
    /// refresh of a hot key into a PostgreSQL read.
    pub fn stale(&self, key: &str) -> Option<Arc<CachedBody>> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|entry| now < entry.until + STALE_GRACE)
            .map(|entry| entry.body.clone())
    }

    /// The answer for a cached `result` read from Redis, remembered for `ttl`: the entry already
    /// held when it encodes the same result (a refresh of a hot key costs no compression), else a
    /// newly encoded one.
    pub fn refresh(&self, key: &str, result: &[u8], ttl: Duration) -> Arc<CachedBody> {
        let held = {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.get(key).map(|entry| entry.body.clone())
        };
        let body = match held {
            Some(body) if body.holds(result) => body,
            _ => Arc::new(CachedBody::new(result)),
        };
        self.put(key, body.clone(), ttl);
        body
    }

    /// Remembers an answer for `ttl`.
    pub fn put(&self, key: &str, value: Arc<CachedBody>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MEMO_MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= MEMO_MAX_ENTRIES {
                entries.clear();
            }
        }
        let now = Instant::now();
        let entry = MemoEntry {
            body: value,
            until: now + ttl,
            refresh_from: now + ttl - ttl / REFRESH_AHEAD_DIVISOR,
            refreshing: false,
        };
        entries.insert(key.to_owned(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_caller_reads_a_memo_entry_again_ahead_of_its_expiry() {
        let memo = ResultMemo::default();
        let ttl = Duration::from_millis(1000);
        memo.refresh("k", br#"{"score":1}"#, ttl);
        let hit = memo.get("k").expect("fresh");
        assert!(!hit.refresh_ahead, "not in the last quarter yet");
        std::thread::sleep(Duration::from_millis(800));
        let ahead: Vec<bool> = (0..5)
            .map(|_| memo.get("k").expect("still fresh").refresh_ahead)
            .collect();
        assert_eq!(ahead, [true, false, false, false, false], "one read ahead per period");
        // The read ahead stores what Redis answered: a new period, nothing to refresh yet.
        let body = memo.refresh("k", br#"{"score":1}"#, ttl);
        assert!(Arc::ptr_eq(&body, &hit.body), "the same result is not encoded again");
        assert!(!memo.get("k").expect("fresh").refresh_ahead);
        // Without a read ahead coming back, the entry expires as before.
        std::thread::sleep(Duration::from_millis(800));
        assert!(memo.get("k").expect("fresh").refresh_ahead);
        std::thread::sleep(Duration::from_millis(250));
        assert!(memo.get("k").is_none(), "expired: the first caller refreshes inline");
        assert!(
            memo.get("k").is_some(),
            "the others keep the copy for the refresh window"
        );
    }

    #[tokio::test]
    async fn a_stalled_call_times_out_then_the_breaker_skips_calls() {
        let guard = RedisGuard::new("test", Duration::from_millis(50), Duration::from_millis(300));
        let started = Instant::now();
        let stalled = guard
            .call(std::future::pending::<Result<(), redis::RedisError>>())
            .await;
        assert!(stalled.is_err());
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert!(guard.is_open());
        // While open, the call is not even polled.
        let skipped = guard
            .call(async { panic!("must not run while the breaker is open") as Result<(), redis::RedisError> })
            .await;
        assert!(skipped.is_err());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!guard.is_open());
        assert_eq!(guard.call(async { Ok::<_, redis::RedisError>(7) }).await.ok(), Some(7));
    }
}
