//! The sections of [`Config`](super::Config): api, worker, cache, edge, webhooks and upstreams.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use super::Secret;

/// API process settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `DF_API_LISTEN` (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `DF_API_METRICS_LISTEN` (default `127.0.0.1:9464`), never public.
    pub metrics_listen: SocketAddr,
    /// `DF_API_BACKLOG`: TCP listen backlog (default 4096).
    pub backlog: u32,
    /// `DF_API_HTTP_THREADS`: threads that serve HTTP connections, each a single-threaded runtime
    /// (default: one per core); 0 serves them on the process's shared runtime.
    pub http_threads: usize,
    /// `DF_API_MAX_WAIT_SECS`: upper bound of `Prefer: wait` (default 30).
    pub max_wait: Duration,
    /// `DF_API_KEY_CACHE_MS`: how long a verified API key is trusted in-process (default 1000).
    pub key_cache_ttl: Duration,
    /// `DF_API_RESULT_MEMO_MS`: in-process memo of hot cache entries (default 1000; 0 disables).
    pub result_memo_ttl: Duration,
    /// `DF_API_DRAIN_SECS`: after SIGTERM, how long `/ready` answers 503 before the listener
    /// closes, so load balancers stop sending traffic (default 2).
    pub drain_delay: Duration,
    /// `DF_API_REDIS_TIMEOUT_MS`: deadline of every Redis call on the request path (cache read,
    /// queue depth, push, idempotency, event publish); past it the request takes its fallback
    /// (default 150).
    pub redis_timeout: Duration,
    /// `DF_API_REDIS_BREAKER_MS`: after a Redis call failed or timed out, how long the request path
    /// skips that Redis and takes the fallback at once (default 1000; 0 disables).
    pub redis_breaker: Duration,
    /// `DF_API_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a PostgreSQL connection before
    /// answering 503 (default 1000).
    pub db_acquire_timeout: Duration,
    /// `DF_API_READY_CHECK_MS`: deadline of each `/ready` dependency check (default 500).
    pub ready_check_timeout: Duration,
}

/// Worker process settings (queue, leases, reconciler).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `DF_WORKER_METRICS_LISTEN` (default `127.0.0.1:9465`).
    pub metrics_listen: SocketAddr,
    /// `DF_WORKER_THREADS`: threads of the worker's runtime (default: one per core, at least 1; 1 is a
    /// single-threaded runtime).
    /// One thread wakes no other thread for a job's next step: on two cores shared with
    /// PostgreSQL, Redis and the sandbox the worker spent 10-20 % less CPU per batch validation,
    /// and single submissions ran 7-16 % slower (README, Performance, twelfth and thirteenth passes).
    pub threads: usize,
    /// `DF_WORKER_CONCURRENCY`: interactive jobs in flight per kind and worker process (default 1024).
    pub concurrency: usize,
    /// `DF_WORKER_BULK_CONCURRENCY`: bulk jobs (batch children, singles beyond a tenant's
    /// interactive allowance) in flight per kind and worker process (default: `DF_WORKER_CONCURRENCY`,
    /// so lowering that one bounds both classes). Each class
    /// has its own queue and slots, so neither starves the other.
    pub bulk_concurrency: usize,
    /// `DF_WORKER_POLL_MS`: apalis fetch tick of an idle queue (default 250). Pushes wake the queue's
    /// workers at once over Redis pub/sub (`{prefix}:wake:queue:{kind}`), so this tick is only the
    /// fallback for wake-ups lost while the subscriber reconnects; a queue handing out tasks polls
    /// every 2 ms.
    pub poll_interval: Duration,
    /// `DF_WORKER_HEARTBEAT_SECS` (default 2).
    pub heartbeat: Duration,
    /// `DF_WORKER_MISSED_HEARTBEATS` (default 3 → 6 s orphan threshold).
    pub missed_heartbeats: u32,
    /// `DF_JOB_LEASE_SECS`: a running job's lease in PostgreSQL (default 6; a killed
    /// worker's jobs are requeued within lease + one reconciler round, under 10 s).
    pub lease: Duration,
    /// `DF_JOB_LEASE_RENEW_SECS`: how often live jobs renew their lease (default 2,
    /// so a lease survives two missed renewals).
    pub lease_renew: Duration,
    /// `DF_RECONCILE_MS`: reconciler period (default 2000).
    pub reconcile_interval: Duration,
    /// `DF_DISPATCH_MS`: dispatcher period (default 50), doubling per round that finds nothing up
    /// to 1 s (`dispatcher::next_tick` in the worker); a wake-up on
    /// `{prefix}:wake:dispatch` (published when the API leaves jobs to the dispatcher) or a job
    /// completion after a round that moved jobs starts a round sooner.
    pub dispatch_interval: Duration,
    /// `DF_CANARY_INTERVAL_MS`: how often each worker submits a canary job (default 5000; 0 = never).
    pub canary_interval: Duration,
    /// `DF_QUEUE_CAP`: most due jobs allowed in one apalis queue (default 3000, defect 1 is at 8000).
    pub queue_cap: usize,
    /// `DF_REDIS_GRACE_SECS`: age after which a dispatched job must be visible in Redis (default 5).
    pub redis_grace: Duration,
    /// `DF_JOB_MAX_ATTEMPTS`: attempts before a job fails for good (default 5).
    pub max_attempts: u32,
    /// `DF_JOB_TIMEOUT_SECS`: hard cap of one attempt (default 60).
    pub job_timeout: Duration,
    /// `DF_WORKER_SHUTDOWN_SECS`: graceful shutdown cap (default 30).
    pub shutdown_timeout: Duration,
    /// `DF_WORKER_FIXED_PLANS`: the worker's connections keep one generic plan per statement and
    /// scan sequentially only where no index applies (default true; `db::Planning::Fixed`).
    pub fixed_plans: bool,
    /// `DF_RETRY_BASE_MS`: first retry delay of a failed attempt (default 1000, doubles, ±20 % jitter).
    pub retry_base: Duration,
    /// `DF_RETRY_MAX_MS`: retry delay cap (default 300000).
    pub retry_max: Duration,
    /// Removal of old finished jobs (`DF_RETENTION_*`).
    pub retention: RetentionConfig,
    /// Vacuum and statistics of DropForge's tables when the server runs no autovacuum
    /// (`DF_TABLE_UPKEEP*`).
    pub upkeep: UpkeepConfig,
}

/// Table upkeep: `VACUUM` and `ANALYZE` of DropForge's own tables by the worker, with
/// autovacuum's default thresholds, on a server whose autovacuum is off (docs/OPERATIONS.md
/// "Table upkeep").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpkeepConfig {
    /// `DF_TABLE_UPKEEP`: `auto` (default: only while the server's `autovacuum` is off) or `off`.
    pub mode: UpkeepMode,
    /// `DF_TABLE_UPKEEP_INTERVAL_SECS`: how often the tables' change counters are read (default 10).
    pub interval: Duration,
}

/// When the worker keeps the tables vacuumed and analysed itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpkeepMode {
    /// Only while the server's `autovacuum` setting is off.
    Auto,
    /// Never (autovacuum, or an operator, does it).
    Off,
}

impl FromStr for UpkeepMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            other => Err(format!("expected auto or off, got {other:?}")),
        }
    }
}

/// Retention of finished jobs: the worker removes them, with their results, batch items and
/// webhook deliveries, once they are older than the period (docs/OPERATIONS.md "Retention").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `DF_RETENTION_DAYS`: jobs finished longer ago than this are removed (default 30; 0 keeps
    /// everything).
    pub days: u32,
    /// `DF_RETENTION_BATCH`: most jobs removed per chunk, one short transaction (default 5000).
    pub batch: u32,
    /// `DF_RETENTION_INTERVAL_SECS`: pause after a round caught up (default 60).
    pub interval: Duration,
}

/// Cache TTLs per kind.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `DF_CACHE_VALIDATION_TTL_SECS` (default 86400).
    pub validation_ttl: Duration,
    /// `DF_CACHE_PARTIAL_TTL_SECS`: a result with a missing upstream (default 3600).
    pub partial_ttl: Duration,
    /// `DF_CACHE_SEARCH_TTL_SECS` (default 3600).
    pub search_ttl: Duration,
    /// `DF_CACHE_SUPPLIERS_TTL_SECS` (default 86400).
    pub suppliers_ttl: Duration,
    /// `DF_CACHE_KEYWORD_TTL_SECS`: Meta, YouTube and text-search answers per keyword (default 86400).
    pub keyword_ttl: Duration,
}

/// A rate-limit policy: `limit` requests per `window` (written `100/900`, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
}

impl FromStr for RatePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (limit, window) = s.split_once('/').ok_or("expected LIMIT/WINDOW_SECS, e.g. 100/900")?;
        let limit: u32 = limit.trim().parse().map_err(|e| format!("limit: {e}"))?;
        let window: u64 = window.trim().parse().map_err(|e| format!("window: {e}"))?;
        if limit == 0 || window == 0 {
            return Err("limit and window must be positive".into());
        }
        Ok(Self {
            limit,
            window: Duration::from_secs(window),
        })
    }
}

/// HTTP edge settings of the API.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `DF_CORS_ORIGINS`: comma list of allowed origins (default: the original's three).
    pub cors_origins: Vec<String>,
    /// `DF_CORS_CREDENTIALS`: allow credentials (default true; refused together with `*`).
    pub cors_credentials: bool,
    /// `DF_RATE_LIMIT_ENABLED` (default true).
    pub rate_limit_enabled: bool,
    /// `DF_RATE_LIMIT_IP`: per client IP (default `100/900`, the original's 100 per 15 min).
    pub rate_limit_ip: RatePolicy,
    /// `DF_RATE_LIMIT_KEY`: per API key (default `6000/60`).
    pub rate_limit_key: RatePolicy,
    /// `DF_RATE_LIMIT_ROUTES`: per-route overrides of the per-key policy,
    /// `METHOD /route/template=LIMIT/WINDOW;...` (default none).
    pub rate_limit_routes: Vec<(String, RatePolicy)>,
    /// `DF_RATE_LIMIT_TIMEOUT_MS`: Redis decision timeout before the in-process fallback (default 50).
    pub rate_limit_timeout: Duration,
    /// `DF_RATE_LIMIT_REPLICAS`: API replicas sharing the per-IP limit; the fallback allows `limit / replicas` (default 1).
    pub rate_limit_replicas: u32,
    /// `DF_RATE_LIMIT_LEASE`: most tokens of a hot bucket one replica takes ahead from Redis and
    /// spends in-process for 250 ms, unspent ones given back (default 1024; never more than a
    /// hundredth of the quota; 0 = every request decided in Redis).
    pub rate_limit_lease: u32,
    /// `DF_TRUSTED_PROXIES`: comma list of CIDRs whose `X-Forwarded-For` is believed (default none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `DF_HSTS`: send `Strict-Transport-Security` (default: on in production).
    pub hsts: bool,
    /// `DF_REQUEST_TIMEOUT_SECS`: whole-request timeout (default 35, above the 30 s `Prefer: wait` cap).
    pub request_timeout: Duration,
    /// `DF_IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` answer is kept (default 86400).
    pub idempotency_ttl: Duration,
    /// `DF_BENCH_LAYERS_OFF`: comma list of HTTP layers left out, to measure what each costs
    /// (`bench/run.sh layers`); default none, refused in production.
    pub layers_off: Vec<HttpLayer>,
}

/// An HTTP layer of the API that `DF_BENCH_LAYERS_OFF` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpLayer {
    /// `Idempotency-Key` replay.
    Idempotency,
    /// The rate limiter (its headers and its decision).
    RateLimit,
    /// The request body limit.
    BodyLimit,
    /// gzip / brotli answers.
    Compression,
    /// The whole-request timeout guard.
    Timeout,
    /// CORS.
    Cors,
    /// The security headers.
    SecurityHeaders,
    /// HTTP request metrics.
    Metrics,
    /// The request span.
    Trace,
    /// `X-Request-Id` set and propagated.
    RequestId,
}

impl HttpLayer {
    /// Every layer, outermost last, by its name in `DF_BENCH_LAYERS_OFF`.
    pub const ALL: [(&'static str, Self); 10] = [
        ("idempotency", Self::Idempotency),
        ("rate_limit", Self::RateLimit),
        ("body_limit", Self::BodyLimit),
        ("compression", Self::Compression),
        ("timeout", Self::Timeout),
        ("cors", Self::Cors),
        ("security_headers", Self::SecurityHeaders),
        ("metrics", Self::Metrics),
        ("trace", Self::Trace),
        ("request_id", Self::RequestId),
    ];
}

impl FromStr for HttpLayer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, layer)| *layer)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown layer (expected one of {})", names.join(", "))
            })
    }
}

/// Outgoing webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `DF_WEBHOOK_ALLOW_CIDRS`: CIDRs exempt from the SSRF guard, for local receivers (default none;
    /// refused in production).
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// `DF_WEBHOOK_HTTPS_ONLY` (default: on in production).
    pub https_only: bool,
    /// `DF_WEBHOOK_TIMEOUT_SECS`: one delivery attempt (default 15).
    pub timeout: Duration,
    /// `DF_WEBHOOK_SCHEDULE_SECS`: delays before each attempt (default Svix: `0,5,300,1800,7200,18000,36000,36000`).
    pub schedule: Vec<Duration>,
}

/// Which AliExpress signature algorithm the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    /// `MD5(secret + s + secret)`.
    Md5,
    /// `HMAC-SHA256(secret, s)`, sent as `sha256`.
    Sha256,
}

/// External API endpoints and credentials (the sandbox by default).
#[derive(Debug, Clone)]
pub struct UpstreamsConfig {
    /// `DF_UPSTREAM_TIMEOUT_MS`: per-call timeout (default 10000).
    pub timeout: Duration,
    /// `DF_UPSTREAM_CONNECT_TIMEOUT_MS` (default 2000).
    pub connect_timeout: Duration,
    /// `DF_UPSTREAM_MAX_RETRIES`: retries of a transient failure inside one attempt (default 3).
    pub max_retries: u32,
    /// `DF_UPSTREAM_RETRY_BASE_MS`: backoff base, doubled per retry with full jitter (default 200).
    pub retry_base: Duration,
    /// AliExpress Open Platform.
    pub aliexpress: AliExpressConfig,
    /// Meta Ad Library.
    pub meta: MetaConfig,
    /// YouTube Data API v3.
    pub youtube: YouTubeConfig,
    /// Shared rate and quota budgets per upstream and credential (enforced through Redis).
    pub budget: BudgetConfig,
}

/// Global upstream budgets, shared by every worker through Redis (0 disables a limit). The
/// defaults are generous so sandbox benchmarks are never throttled; the real platforms allow
/// about: AliExpress a few to tens of calls per second per app key, with a daily cap visible in
/// the console; Meta ~200 calls per user-hour; YouTube 10,000 units a day (a search costs 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    /// `DF_BUDGET_ALIEXPRESS_PER_SEC`: AliExpress calls per second per app key (default 10000).
    pub aliexpress_per_sec: u64,
    /// `DF_BUDGET_ALIEXPRESS_PER_DAY`: AliExpress calls per UTC day per app key (default 100000000).
    pub aliexpress_per_day: u64,
    /// `DF_BUDGET_META_PER_HOUR`: Meta calls per rolling hour per token (default 1000000; real ≈ 200).
    pub meta_per_hour: u64,
    /// `DF_BUDGET_YOUTUBE_UNITS_PER_DAY`: YouTube units per Pacific day per key (default 100000000;
    /// real 10000; search 100 units, videos 1).
    pub youtube_units_per_day: u64,
}

/// AliExpress Open Platform settings.
#[derive(Debug, Clone)]
pub struct AliExpressConfig {
    /// `DF_ALIEXPRESS_BASE_URL` (default `http://127.0.0.1:8089`); the client appends `/sync`.
    pub base_url: String,
    /// `DF_ALIEXPRESS_APP_KEY` (default `500001`).
    pub app_key: String,
    /// `DF_ALIEXPRESS_APP_SECRET` (default `sandbox-secret-0001`).
    pub app_secret: Secret,
    /// `DF_ALIEXPRESS_ACCESS_TOKEN` (default `sandbox-token`).
    pub access_token: Secret,
    /// `DF_ALIEXPRESS_TRACKING_ID` (default `df`).
    pub tracking_id: String,
    /// `DF_ALIEXPRESS_SIGN_METHOD`: `md5` or `sha256` (default `sha256`).
    pub sign_method: SignMethod,
    /// `DF_ALIEXPRESS_SHIP_TO` default ship-to country (default `US`).
    pub ship_to_country: String,
    /// `DF_ALIEXPRESS_CURRENCY` (default `USD`).
    pub currency: String,
}

/// Meta Ad Library settings.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// `DF_META_GRAPH_BASE_URL` (default `http://127.0.0.1:8089`).
    pub base_url: String,
    /// `DF_META_API_VERSION` (default `v21.0`).
    pub api_version: String,
    /// `DF_META_ACCESS_TOKEN` (default `sandbox-meta-token`).
    pub access_token: Secret,
    /// `DF_META_COUNTRIES`: comma list of EU countries queried (default `IE,DE,FR`).
    pub countries: Vec<String>,
    /// `DF_META_MAX_PAGES` (default 3).
    pub max_pages: u32,
    /// `DF_META_PAGE_LIMIT` (default 100).
    pub page_limit: u32,
}

/// YouTube Data API v3 settings.
#[derive(Debug, Clone)]
pub struct YouTubeConfig {
    /// `DF_YOUTUBE_BASE_URL` (default `http://127.0.0.1:8089`); the client appends `/youtube/v3/...`.
    pub base_url: String,
    /// `DF_YOUTUBE_API_KEY` (default `sandbox-yt-key`).
    pub api_key: Secret,
    /// `DF_YOUTUBE_MAX_RESULTS` (default 10).
    pub max_results: u32,
}
