//! Global rate and quota budgets per upstream and credential, shared by every worker process
//! through Redis (docs/design/upstreams.md §1.7, §2.4, §3.3, §6).
//!
//! **Budgets.** Each call takes `cost` from its upstream's budget right before it is sent, in one
//! atomic Lua script (`budget_take.lua`) keyed `{prefix}:budget:{upstream}:{credential-hash}:{kind}`
//! (the credential is SHA-256-hashed, never stored): `pause` (a recorded upstream throttle), `rate`
//! (GCRA: `N` per period with a burst of `N`, clocked by Redis `TIME` so worker clocks do not
//! matter) and `quota:{window-end}` (a counter that expires at the end of its day window).
//! The decisions the calls of one worker ask for within [`LINGER`] go to Redis together: one script
//! call takes them in order, each exactly as if it were alone (a group of one when idle). Three
//! AliExpress calls per validation each made a script call of their own: a round trip and six
//! commands each, two thirds of Redis's command time.
//! - AliExpress: `DF_BUDGET_ALIEXPRESS_PER_SEC` calls per second and `DF_BUDGET_ALIEXPRESS_PER_DAY`
//!   calls per UTC day, per app key.
//! - Meta: `DF_BUDGET_META_PER_HOUR` calls per rolling hour (GCRA over 1 h), per access token.
//! - YouTube: `DF_BUDGET_YOUTUBE_UNITS_PER_DAY` units per Pacific day (reset at midnight
//!   America/Los_Angeles, like Google's quota), per API key; a search costs 100, `videos.list` 1.
//!
//! Day windows other than YouTube's end at UTC midnight (AliExpress bans until Beijing midnight,
//! which is 16:00 UTC; a UTC day is the simple, documented approximation).
//!
//! **Reserve for interactive work.** A call made by a bulk job (a batch child; [`with_class`]
//! tells the budget the class of the job it runs for) may fill only [`BULK_SHARE_PERMILLE`] of a
//! rate budget's depth (its burst tolerance plus the longest wait): beyond that it is refused like
//! any over-budget call, while an interactive call still finds the last fifth free. The sustained
//! rate is the same for both; bulk only cannot take the headroom that keeps single validations
//! from being throttled behind a batch import.
//!
//! **Decisions.** A rate budget that admits the call within [`MAX_WAIT`] (1 s) reserves the slot and
//! the call waits in-process (`reason="rate_wait"`); a longer wait is
//! [`UpstreamError::Throttled`] with `code: "budget"` and the time until the budget allows. A used-up
//! quota is [`UpstreamError::QuotaExhausted`] with `until` = the window end (`reason="quota"`). A
//! throttle or quota exhaustion reported by the upstream itself (AE `ApiCallLimit` with its ban,
//! Meta 4/17/32/341/613, HTTP 429, YouTube `quotaExceeded`) is recorded as a pause that every worker
//! honours before calling that upstream and credential again (`budget_pause.lua`): short pauses are
//! waited out, longer ones are `Throttled { code: "paused" }` or, for quota, `QuotaExhausted`.
//! `dropforge_upstream_budget_waits_total{upstream,reason}` counts `rate_wait`, `pause_wait`,
//! `rate`, `paused`, `quota` and `unavailable`.
//!
//! **Upstream unreachable.** A call that cannot reach its upstream at all (connection refused,
//! reset or closed, a connect timeout: [`UpstreamError::is_connection_failure`]; a read timeout of
//! a connected call is a slow upstream and stays an ordinary transient error) records a short pause
//! for every worker through the same pause key (`budget_outage.lua`, kind `outage`): 2 s at the
//! first failure, growing by 1 s per 4 s of outage up to 5 s, and the call returns
//! `Throttled { code: "unreachable" }`, so the job is rescheduled without using up an attempt, exactly
//! like a throttle. The outage's start is kept in `{…}:outage` until 30 s pass without a failure.
//! **Bound:** an outage older than [`OUTAGE_GIVE_UP`] (10 min) is no longer paused for: its failures
//! are plain transient errors again, so a job still waiting fails after `DF_JOB_MAX_ATTEMPTS`
//! attempts (`attempts_exhausted`, `last_error.code = "upstream_unavailable"`), i.e. at most about
//! 10 min + 20 s into an outage that never ends. Without Redis (or without a budget) connection
//! failures stay transient errors as before.
//!
//! **Redis unreachable.** The budget fails open: the call is allowed (`reason="unavailable"`) and a
//! warning is logged at most once a minute. A budget is a courtesy to the upstream, which still
//! enforces its own limits (and those errors are handled below); stopping all work because the
//! coordination store is down would turn a Redis blip into an outage.
//!
//! **Retry policy.** In-call: a transient failure (5xx, timeout, transport, malformed body) is retried
//! up to `DF_UPSTREAM_MAX_RETRIES` (3) times with full jitter, `uniform(0, min(5 s, base·2ⁿ))` from
//! `DF_UPSTREAM_RETRY_BASE_MS` (200 ms); a stated throttle of at most 5 s (the AE 1 s ban, a short
//! budget refusal) is waited out plus jitter within the same retries ([`super::retry`]). Job level:
//! a failed attempt is rescheduled after `1 s·2ⁿ⁻¹ ±20 %`, capped at `DF_RETRY_MAX_MS` (5 min), for
//! at most `DF_JOB_MAX_ATTEMPTS` (5) attempts. Throttles and quota or budget exhaustion of
//! AliExpress reschedule the job for when the budget allows (+ up to 0.5 s jitter) without using up an
//! attempt; Meta and YouTube failures only make the result partial (YouTube `quota_exhausted`).

use std::{
    fmt,
    future::Future,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use dropforge_common::{
    batching::Batcher,
    config::{BudgetConfig, UpstreamsConfig},
    domain::JobClass,
    metric_names,
};
use redis::{Script, aio::ConnectionManager};
use tokio::sync::OnceCell;

use super::error::{Upstream, UpstreamError};
use decision::{Decision, parse};
use limits::{ALL, index};
pub use limits::{DayWindow, Limit, credential_hash};

mod decision;
mod limits;

/// Longest wait taken in-process for a rate budget or a short pause; longer ones are returned.
pub const MAX_WAIT: Duration = Duration::from_secs(1);
/// `Throttled.code` of a refusal by the rate budget.
pub const BUDGET_CODE: &str = "budget";
/// `Throttled.code` of a refusal because of a recorded upstream pause.
pub const PAUSED_CODE: &str = "paused";
/// Longest a budget decision may take before the call is allowed without one.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed connection attempt (lazy budgets), calls go unbudgeted this long before retrying.
const RECONNECT_MS: i64 = 5_000;
const LOG_EVERY_MS: i64 = 60_000;
/// `Throttled.code` of a call that could not reach its upstream (an outage pause was recorded).
pub const OUTAGE_CODE: &str = "unreachable";
/// Pause recorded at the first connection failure of an outage.
pub const OUTAGE_PAUSE_MIN: Duration = Duration::from_secs(2);
/// Longest pause recorded while an outage lasts.
pub const OUTAGE_PAUSE_MAX: Duration = Duration::from_secs(5);
/// An outage is over once this long passes without a connection failure.
const OUTAGE_QUIET: Duration = Duration::from_secs(30);
/// An outage older than this is no longer paused for: jobs use up attempts and fail.
pub const OUTAGE_GIVE_UP: Duration = Duration::from_secs(600);
/// Pause recorded for a quota exhaustion that did not say when it resets.
const DEFAULT_QUOTA_PAUSE: Duration = Duration::from_secs(3600);
/// Share (per mille) of a rate budget's depth that calls of bulk jobs may fill.
pub const BULK_SHARE_PERMILLE: u64 = 800;

tokio::task_local! {
    /// The class of the job the current task runs for (unset: interactive, the full budget).
    static CLASS: JobClass;
}

/// Runs `fut` (a job's work) with every budget decision inside it taken for `class`.
pub async fn with_class<F: Future>(class: JobClass, fut: F) -> F::Output {
    CLASS.scope(class, fut).await
}

/// The share of a rate budget's depth that the current task may fill, per mille.
fn share_permille() -> u64 {
    match CLASS.try_with(|c| *c).unwrap_or_default() {
        JobClass::Interactive => 1000,
        JobClass::Bulk => BULK_SHARE_PERMILLE,
    }
}

static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("budget_take.lua")));
static PAUSE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("budget_pause.lua")));
static OUTAGE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("budget_outage.lua")));

/// Most decisions in one take call.
const MAX_GROUP: usize = 64;
/// Take calls of one worker in flight at once.
const PARALLEL: usize = 2;
/// How long the lane gathers asks before it sends them. Without it, grouping came only from calls
/// already in flight: at batch load (about 500 validations/s, spread in time) 1.02 take calls per
/// validation (Redis `TIME` calls), each a round trip and six commands; with it, about 0.45. Every call waits this much longer for its
/// budget (up to 3 ms for a validation's three AliExpress calls, of 120 ms each).
const LINGER: Duration = Duration::from_millis(1);

/// One decision a call asks for: the take script's three keys and seven arguments.
struct Ask {
    keys: [String; 3],
    args: [i64; 7],
}

/// The lane that groups the decisions asked within [`LINGER`] into one take call. Each ask carries
/// the connection to use (the budget connects lazily), so the lane holds no budget.
type TakeLane = Batcher<(ConnectionManager, Ask), redis::Value>;

/// Runs one take call for a group of asks on the first ask's connection.
async fn take_group(asks: Vec<(ConnectionManager, Ask)>) -> Result<Vec<redis::Value>, redis::RedisError> {
    let Some(mut conn) = asks.first().map(|(c, _)| c.clone()) else {
        return Ok(Vec::new());
    };
    let mut inv = TAKE.prepare_invoke();
    for (_, ask) in &asks {
        for key in &ask.keys {
            inv.key(key);
        }
        for arg in ask.args {
            inv.arg(arg);
        }
    }
    match inv.invoke_async::<redis::Value>(&mut conn).await? {
        redis::Value::Array(replies) => Ok(replies),
        other => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "budget take script",
            format!("{other:?}"),
        ))),
    }
}

/// The Redis-backed budget of every upstream; clones share the connection and state.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    conn: OnceCell<ConnectionManager>,
    client: Option<redis::Client>,
    prefix: String,
    limits: [Limit; 3],
    creds: [String; 3],
    next_connect_ms: AtomicI64,
    last_log_ms: AtomicI64,
    /// Started on the first decision (a runtime is running by then).
    lane: std::sync::OnceLock<TakeLane>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("prefix", &self.inner.prefix)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Budget {
    fn build(
        conn: OnceCell<ConnectionManager>,
        client: Option<redis::Client>,
        prefix: &str,
        cfg: &BudgetConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                conn,
                client,
                prefix: prefix.to_owned(),
                limits: ALL.map(|u| Limit::from_config(cfg, u)),
                creds: ALL.map(|u| credential_hash(u, "")),
                next_connect_ms: AtomicI64::new(0),
                last_log_ms: AtomicI64::new(i64::MIN),
                lane: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A budget on an open connection, with keys under `{prefix}:budget:`.
    pub fn new(conn: ConnectionManager, prefix: &str, cfg: &BudgetConfig) -> Self {
        Self::build(OnceCell::new_with(Some(conn)), None, prefix, cfg)
    }

    /// A budget that connects to `redis_url` on first use (and again 5 s after a failure).
    pub fn lazy(redis_url: &str, prefix: &str, cfg: &BudgetConfig) -> Result<Self, UpstreamError> {
        let client = redis::Client::open(redis_url).map_err(|e| UpstreamError::Config(e.to_string()))?;
        Ok(Self::build(OnceCell::new(), Some(client), prefix, cfg))
    }

    /// [`Budget::new`] with the limits of `cfg.budget` and the credentials of `cfg`.
    pub fn from_config(conn: ConnectionManager, prefix: &str, cfg: &UpstreamsConfig) -> Self {
        Self::new(conn, prefix, &cfg.budget)
            .with_credential(Upstream::AliExpress, &cfg.aliexpress.app_key)
            .with_credential(Upstream::Meta, cfg.meta.access_token.expose())
            .with_credential(Upstream::YouTube, cfg.youtube.api_key.expose())
    }

    /// Sets the credential whose budget `upstream` calls take from (only its hash is kept).
    pub fn with_credential(mut self, upstream: Upstream, credential: &str) -> Self {
        let hash = credential_hash(upstream, credential);
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.creds[index(upstream)] = hash,
            None => tracing::warn!("budget credential set after the budget was shared; ignored"),
        }
        self
    }

    /// Replaces the limits of `upstream` (tests, tooling).
    pub fn with_limit(mut self, upstream: Upstream, limit: Limit) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.limits[index(upstream)] = limit;
        }
        self
    }

    fn key(&self, upstream: Upstream, kind: &str) -> String {
        let cred = &self.inner.creds[index(upstream)];
        format!("{}:budget:{}:{cred}:{kind}", self.inner.prefix, upstream.as_str())
    }

    /// Takes `cost` units for one call to `upstream`, waiting in-process up to [`MAX_WAIT`].
    pub async fn take(&self, upstream: Upstream, cost: u64) -> Result<(), UpstreamError> {
        for _ in 0..3 {
            let window_end = self.inner.limits[index(upstream)]
                .quota
                .map(|(_, w)| w.end_after(Utc::now()));
            let Some(decision) = self.decide(upstream, cost, window_end).await else {
                return Ok(());
            };
            match decision {
                Decision::Ok(wait) => {
                    if !wait.is_zero() {
                        count(upstream, "rate_wait");
                        tokio::time::sleep(wait).await;
                    }
                    return Ok(());
                }
                Decision::Rate(retry_after) => {
                    count(upstream, "rate");
                    return Err(throttled(upstream, retry_after, BUDGET_CODE));
                }
                Decision::Quota => {
                    count(upstream, "quota");
                    return Err(UpstreamError::QuotaExhausted {
                        upstream,
                        until: window_end,
                    });
                }
                Decision::Paused { left, quota: true, .. } => {
                    count(upstream, "quota");
                    let until = Utc::now() + chrono::Duration::from_std(left).unwrap_or_default();
                    return Err(UpstreamError::QuotaExhausted {
                        upstream,
                        until: Some(until),
                    });
                }
                Decision::Paused { left, code, .. } if left > MAX_WAIT => {
                    count(upstream, "paused");
                    tracing::debug!(%upstream, code, ?left, "upstream paused by a recorded throttle");
                    return Err(throttled(upstream, left, PAUSED_CODE));
                }
                Decision::Paused { left, .. } => {
                    count(upstream, "pause_wait");
                    tokio::time::sleep(left).await;
                }
            }
        }
        count(upstream, "paused");
        Err(throttled(upstream, MAX_WAIT, PAUSED_CODE))
    }

    /// Records a throttle or quota exhaustion reported by the upstream (not our own refusals), so
    /// every worker pauses that upstream and credential until it ends.
    pub async fn record(&self, err: &UpstreamError) {
        let (upstream, pause, kind, code) = match err {
            UpstreamError::Throttled {
                upstream,
                retry_after,
                code,
            } if code != BUDGET_CODE && code != PAUSED_CODE => (*upstream, *retry_after, "throttle", code.as_str()),
            UpstreamError::QuotaExhausted { upstream, until } => {
                let left = until.map_or(DEFAULT_QUOTA_PAUSE, |u| (u - Utc::now()).to_std().unwrap_or_default());
                (*upstream, left, "quota", "quota")
            }
            _ => return,
        };
        if pause.is_zero() {
            return;
        }
        let Some(mut conn) = self.conn().await else {
            return self.unavailable(upstream, "connect");
        };
        let mut inv = PAUSE.key(self.key(upstream, "pause"));
        inv.arg(micros(pause)).arg(kind).arg(code);
        match tokio::time::timeout(REDIS_TIMEOUT, inv.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => tracing::debug!(%upstream, code, ?pause, "upstream pause recorded for every worker"),
            Ok(Err(e)) => self.unavailable(upstream, &e.to_string()),
            Err(_) => self.unavailable(upstream, "timeout"),
        }
    }

    /// Records a connection failure of `err`'s upstream as an outage pause for every worker and
    /// returns `Throttled { code: "unreachable" }` for the pause; returns `err` unchanged when it is
    /// not a connection failure, when Redis did not answer, or when the outage is older than
    /// [`OUTAGE_GIVE_UP`] (the job then uses up attempts, which bounds an endless outage).
    pub async fn record_outage(&self, err: UpstreamError) -> UpstreamError {
        let Some(upstream) = err.upstream().filter(|_| err.is_connection_failure()) else {
            return err;
        };
        let Some(mut conn) = self.conn().await else {
            self.unavailable(upstream, "connect");
            return err;
        };
        let mut inv = OUTAGE.key(self.key(upstream, "pause"));
        inv.key(self.key(upstream, "outage"));
        inv.arg(micros(OUTAGE_PAUSE_MIN)).arg(micros(OUTAGE_PAUSE_MAX));
        inv.arg(micros(OUTAGE_QUIET))
            .arg(micros(OUTAGE_GIVE_UP))
            .arg(OUTAGE_CODE);
        let (age, pause) = match tokio::time::timeout(REDIS_TIMEOUT, inv.invoke_async::<(i64, i64)>(&mut conn)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.unavailable(upstream, &e.to_string());
                return err;
            }
            Err(_) => {
                self.unavailable(upstream, "timeout");
                return err;
            }
        };
        let age = Duration::from_micros(u64::try_from(age).unwrap_or(0));
        if pause <= 0 {
            tracing::warn!(%upstream, ?age, error = %err, "upstream unreachable for too long; attempts are used up again");
            return err;
        }
        let pause = Duration::from_micros(u64::try_from(pause).unwrap_or(0));
        tracing::info!(%upstream, ?age, ?pause, error = %err, "upstream unreachable; paused for every worker");
        throttled(upstream, pause, OUTAGE_CODE)
    }

    /// Runs the take script; `None` when Redis did not answer (the call is then allowed).
    async fn decide(&self, upstream: Upstream, cost: u64, window_end: Option<DateTime<Utc>>) -> Option<Decision> {
        let limit = self.inner.limits[index(upstream)];
        let Some(conn) = self.conn().await else {
            self.unavailable(upstream, "connect");
            return None;
        };
        let (interval, tolerance) = limit.rate.map_or((0, 0), |(n, period)| {
            let period = micros(period);
            ((period / n.max(1)).max(1), period)
        });
        let (quota_limit, end_ms) = match (limit.quota, window_end) {
            (Some((n, _)), Some(end)) => (signed(n), end.timestamp_millis()),
            _ => (-1, 0),
        };
        let quota_key = self.key(upstream, &format!("quota:{}", end_ms / 1000));
        let ask = Ask {
            keys: [self.key(upstream, "pause"), self.key(upstream, "rate"), quota_key],
            args: [
                signed(cost),
                signed(interval),
                signed(tolerance),
                signed(micros(MAX_WAIT)),
                quota_limit,
                end_ms,
                signed(share_permille()),
            ],
        };
        let lane = self
            .inner
            .lane
            .get_or_init(|| Batcher::spawn_lingering(MAX_GROUP, PARALLEL, LINGER, take_group));
        let reply = match tokio::time::timeout(REDIS_TIMEOUT, lane.call((conn, ask))).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.unavailable(upstream, &e.to_string());
                return None;
            }
            Err(_) => {
                self.unavailable(upstream, "timeout");
                return None;
            }
        };
        let parsed = parse(&reply);
        if parsed.is_none() {
            self.unavailable(upstream, "unexpected reply");
        }
        parsed
    }

    /// The connection, connecting lazily (at most once per [`RECONNECT_MS`] after a failure).
    async fn conn(&self) -> Option<ConnectionManager> {
        if let Some(c) = self.inner.conn.get() {
            return Some(c.clone());
        }
        let client = self.inner.client.as_ref()?;
        let now = Utc::now().timestamp_millis();
        if now < self.inner.next_connect_ms.load(Ordering::Relaxed) {
            return None;
        }
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connect = async {
            match tokio::time::timeout(Duration::from_secs(1), client.get_connection_manager_with_config(cfg)).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connect timeout".to_owned()),
            }
        };
        match self.inner.conn.get_or_try_init(|| connect).await {
            Ok(c) => Some(c.clone()),
            Err(e) => {
                tracing::debug!(error = %e, "budget redis connection failed");
                self.inner.next_connect_ms.store(now + RECONNECT_MS, Ordering::Relaxed);
                None
            }
        }
    }

    /// Counts an unbudgeted call and warns at most once a minute.
    fn unavailable(&self, upstream: Upstream, why: &str) {
        count(upstream, "unavailable");
        let now = Utc::now().timestamp_millis();
        let last = self.inner.last_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_EVERY_MS
            && self
                .inner
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%upstream, error = why, "upstream budget unavailable (Redis); calls proceed unbudgeted");
        }
    }
}

/// Takes from `budget` (when there is one), runs `call`, and records an upstream throttle or quota
/// exhaustion it returns; a connection failure becomes an outage pause and
/// `Throttled { code: "unreachable" }` ([`Budget::record_outage`]). Every client wraps each request in this.
pub async fn guarded<T, F>(budget: Option<&Budget>, upstream: Upstream, cost: u64, call: F) -> Result<T, UpstreamError>
where
    F: Future<Output = Result<T, UpstreamError>>,
{
    let Some(budget) = budget else {
        return call.await;
    };
    budget.take(upstream, cost).await?;
    match call.await {
        Err(e) if e.is_connection_failure() => Err(budget.record_outage(e).await),
        Err(e) => {
            budget.record(&e).await;
            Err(e)
        }
        ok => ok,
    }
}

fn throttled(upstream: Upstream, retry_after: Duration, code: &str) -> UpstreamError {
    UpstreamError::Throttled {
        upstream,
        retry_after,
        code: code.to_owned(),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(upstream: Upstream, reason: &'static str) {
    metrics::counter!(metric_names::BUDGET_WAITS_TOTAL, "upstream" => upstream.as_str(), "reason" => reason)
        .increment(1);
}
