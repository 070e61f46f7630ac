//! One typed configuration, read once from environment variables, with working local defaults.
//!
//! Every setting has exactly one default, here. Nothing else in the workspace reads `std::env`.
//! Secrets are wrapped in [`Secret`] so they never appear in `Debug` output or logs.

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

/// A secret string whose `Debug`/`Display` never reveal the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value; call only where it is sent to its destination.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Deployment flavour: decides log format and a few safety defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Readable logs, sandbox upstreams, loopback allowed.
    Development,
    /// JSON logs, strict defaults.
    Production,
}

/// Configuration errors found while reading the environment (all reported at once).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

/// The whole service configuration, shared by api, worker and tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DF_ENV`: `development` (default) or `production`.
    pub environment: Environment,
    /// `DF_LOG_FORMAT`: `pretty` or `json` (default: json in production, pretty otherwise).
    pub log_json: bool,
    /// `DATABASE_URL`.
    pub database_url: Secret,
    /// `DF_DB_MAX_CONNECTIONS`: pool size per process.
    pub db_max_connections: u32,
    /// `REDIS_URL`: the queue Redis (apalis, pub/sub, budgets).
    pub redis_url: Secret,
    /// `DF_CACHE_REDIS_URL`: the cache Redis (defaults to `REDIS_URL`).
    pub cache_redis_url: Secret,
    /// `DF_REDIS_PREFIX`: prefix of every Redis key and channel this deployment owns.
    pub redis_prefix: String,
    /// API process settings.
    pub api: ApiConfig,
    /// Worker process settings.
    pub worker: WorkerConfig,
    /// Cache TTLs.
    pub cache: CacheConfig,
    /// HTTP edge: CORS, rate limits, security headers, idempotency.
    pub edge: EdgeConfig,
    /// Outgoing webhooks.
    pub webhooks: WebhookConfig,
    /// External API endpoints and credentials.
    pub upstreams: UpstreamsConfig,
}

/// API process settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `DF_API_LISTEN` (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `DF_API_METRICS_LISTEN` (default `127.0.0.1:9464`), never public.
    pub metrics_listen: SocketAddr,
    /// `DF_API_BACKLOG`: TCP listen backlog (default 4096).
    pub backlog: u32,
    /// `DF_API_MAX_WAIT_SECS`: upper bound of `Prefer: wait` (default 30).
    pub max_wait: Duration,
    /// `DF_API_KEY_CACHE_MS`: how long a verified API key is trusted in-process (default 1000).
    pub key_cache_ttl: Duration,
    /// `DF_API_RESULT_MEMO_MS`: in-process memo of hot cache entries (default 1000; 0 disables).
    pub result_memo_ttl: Duration,
    /// `DF_API_DRAIN_SECS`: after SIGTERM, how long `/ready` answers 503 before the listener
    /// closes, so load balancers stop sending traffic (default 2).
    pub drain_delay: Duration,
}

/// Worker process settings (queue, leases, reconciler).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `DF_WORKER_METRICS_LISTEN` (default `127.0.0.1:9465`).
    pub metrics_listen: SocketAddr,
    /// `DF_WORKER_CONCURRENCY`: jobs in flight per worker process (default 1024).
    pub concurrency: usize,
    /// `DF_WORKER_POLL_MS`: apalis fetch tick (default 25).
    pub poll_interval: Duration,
    /// `DF_WORKER_HEARTBEAT_SECS` (default 5).
    pub heartbeat: Duration,
    /// `DF_WORKER_MISSED_HEARTBEATS` (default 3 → 15 s orphan threshold).
    pub missed_heartbeats: u32,
    /// `DF_JOB_LEASE_SECS`: a running job's lease in PostgreSQL (default 15).
    pub lease: Duration,
    /// `DF_JOB_LEASE_RENEW_SECS`: how often live jobs renew their lease (default 5).
    pub lease_renew: Duration,
    /// `DF_RECONCILE_MS`: reconciler period (default 2000).
    pub reconcile_interval: Duration,
    /// `DF_DISPATCH_MS`: dispatcher period when idle (default 50).
    pub dispatch_interval: Duration,
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
    /// `DF_RETRY_BASE_MS`: first retry delay of a failed attempt (default 1000, doubles, ±20 % jitter).
    pub retry_base: Duration,
    /// `DF_RETRY_MAX_MS`: retry delay cap (default 300000).
    pub retry_max: Duration,
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
    /// `DF_TRUSTED_PROXIES`: comma list of CIDRs whose `X-Forwarded-For` is believed (default none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `DF_HSTS`: send `Strict-Transport-Security` (default: on in production).
    pub hsts: bool,
    /// `DF_REQUEST_TIMEOUT_SECS`: whole-request timeout (default 35, above the 30 s `Prefer: wait` cap).
    pub request_timeout: Duration,
    /// `DF_IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` answer is kept (default 86400).
    pub idempotency_ttl: Duration,
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

/// Reads typed values from a variable map and collects every problem.
struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    errors: Vec<String>,
}

impl<'a> Reader<'a> {
    fn string(&self, name: &str, default: &str) -> String {
        match self.vars.get(name) {
            Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
            _ => default.to_owned(),
        }
    }

    fn parse<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        match self.vars.get(name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => match v.parse() {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.errors.push(format!("{name}={v:?}: {e}"));
                    default
                }
            },
            _ => default,
        }
    }

    fn millis(&mut self, name: &str, default_ms: u64) -> Duration {
        Duration::from_millis(self.parse(name, default_ms))
    }

    fn secs(&mut self, name: &str, default_s: u64) -> Duration {
        Duration::from_secs(self.parse(name, default_s))
    }

    fn list<T: FromStr>(&mut self, name: &str, default: &str) -> Vec<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.string(name, default);
        let mut out = Vec::new();
        for item in raw.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            match item.parse() {
                Ok(v) => out.push(v),
                Err(e) => self.errors.push(format!("{name}: {item:?}: {e}")),
            }
        }
        out
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.string(name, "").to_ascii_lowercase().as_str() {
            "" => default,
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => {
                self.errors.push(format!("{name}={other:?}: expected true or false"));
                default
            }
        }
    }

    fn addr(&mut self, name: &str, default: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        let raw = self.string(name, default);
        match raw.parse() {
            Ok(a) => a,
            Err(e) => {
                self.errors.push(format!("{name}={raw:?}: {e}"));
                fallback
            }
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment (call once at start-up).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the configuration from an explicit variable map (tests).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            vars,
            errors: Vec::new(),
        };
        let environment = match r.string("DF_ENV", "development").as_str() {
            "production" | "prod" => Environment::Production,
            "development" | "dev" | "test" => Environment::Development,
            other => {
                r.errors
                    .push(format!("DF_ENV={other:?}: expected development or production"));
                Environment::Development
            }
        };
        let log_json = match r.string("DF_LOG_FORMAT", "").as_str() {
            "json" => true,
            "pretty" | "text" => false,
            "" => environment == Environment::Production,
            other => {
                r.errors
                    .push(format!("DF_LOG_FORMAT={other:?}: expected json or pretty"));
                false
            }
        };
        let redis_url = r.string("REDIS_URL", "redis://127.0.0.1:6379");
        let sign_method = match r.string("DF_ALIEXPRESS_SIGN_METHOD", "sha256").as_str() {
            "md5" => SignMethod::Md5,
            "sha256" | "hmac-sha256" => SignMethod::Sha256,
            other => {
                r.errors
                    .push(format!("DF_ALIEXPRESS_SIGN_METHOD={other:?}: expected md5 or sha256"));
                SignMethod::Sha256
            }
        };
        let sandbox = "http://127.0.0.1:8089";
        let config = Config {
            environment,
            log_json,
            database_url: Secret::new(r.string("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dropforge")),
            db_max_connections: r.parse("DF_DB_MAX_CONNECTIONS", 16),
            cache_redis_url: Secret::new(r.string("DF_CACHE_REDIS_URL", &redis_url)),
            redis_url: Secret::new(redis_url),
            redis_prefix: r.string("DF_REDIS_PREFIX", "df"),
            api: ApiConfig {
                listen: r.addr("DF_API_LISTEN", "127.0.0.1:8080"),
                metrics_listen: r.addr("DF_API_METRICS_LISTEN", "127.0.0.1:9464"),
                backlog: r.parse("DF_API_BACKLOG", 4096),
                max_wait: r.secs("DF_API_MAX_WAIT_SECS", 30),
                key_cache_ttl: r.millis("DF_API_KEY_CACHE_MS", 1000),
                result_memo_ttl: r.millis("DF_API_RESULT_MEMO_MS", 1000),
                drain_delay: r.secs("DF_API_DRAIN_SECS", 2),
            },
            worker: WorkerConfig {
                metrics_listen: r.addr("DF_WORKER_METRICS_LISTEN", "127.0.0.1:9465"),
                concurrency: r.parse("DF_WORKER_CONCURRENCY", 1024),
                poll_interval: r.millis("DF_WORKER_POLL_MS", 25),
                heartbeat: r.secs("DF_WORKER_HEARTBEAT_SECS", 5),
                missed_heartbeats: r.parse("DF_WORKER_MISSED_HEARTBEATS", 3),
                lease: r.secs("DF_JOB_LEASE_SECS", 15),
                lease_renew: r.secs("DF_JOB_LEASE_RENEW_SECS", 5),
                reconcile_interval: r.millis("DF_RECONCILE_MS", 2000),
                dispatch_interval: r.millis("DF_DISPATCH_MS", 50),
                queue_cap: r.parse("DF_QUEUE_CAP", 3000),
                redis_grace: r.secs("DF_REDIS_GRACE_SECS", 5),
                max_attempts: r.parse("DF_JOB_MAX_ATTEMPTS", 5),
                job_timeout: r.secs("DF_JOB_TIMEOUT_SECS", 60),
                shutdown_timeout: r.secs("DF_WORKER_SHUTDOWN_SECS", 30),
                retry_base: r.millis("DF_RETRY_BASE_MS", 1000),
                retry_max: r.millis("DF_RETRY_MAX_MS", 300_000),
            },
            cache: CacheConfig {
                validation_ttl: r.secs("DF_CACHE_VALIDATION_TTL_SECS", 86_400),
                partial_ttl: r.secs("DF_CACHE_PARTIAL_TTL_SECS", 3_600),
                search_ttl: r.secs("DF_CACHE_SEARCH_TTL_SECS", 3_600),
                suppliers_ttl: r.secs("DF_CACHE_SUPPLIERS_TTL_SECS", 86_400),
                keyword_ttl: r.secs("DF_CACHE_KEYWORD_TTL_SECS", 86_400),
            },
            edge: EdgeConfig {
                cors_origins: r.list(
                    "DF_CORS_ORIGINS",
                    "https://www.dropstackerpro.com,http://localhost:3000,http://localhost:5173",
                ),
                cors_credentials: r.flag("DF_CORS_CREDENTIALS", true),
                rate_limit_enabled: r.flag("DF_RATE_LIMIT_ENABLED", true),
                rate_limit_ip: r.parse(
                    "DF_RATE_LIMIT_IP",
                    RatePolicy {
                        limit: 100,
                        window: Duration::from_secs(900),
                    },
                ),
                rate_limit_key: r.parse(
                    "DF_RATE_LIMIT_KEY",
                    RatePolicy {
                        limit: 6000,
                        window: Duration::from_secs(60),
                    },
                ),
                rate_limit_routes: {
                    let raw = r.string("DF_RATE_LIMIT_ROUTES", "");
                    let mut routes = Vec::new();
                    for item in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                        match item
                            .rsplit_once('=')
                            .map(|(route, p)| (route.trim().to_owned(), p.parse::<RatePolicy>()))
                        {
                            Some((route, Ok(policy))) => routes.push((route, policy)),
                            Some((_, Err(e))) => r.errors.push(format!("DF_RATE_LIMIT_ROUTES: {item:?}: {e}")),
                            None => r
                                .errors
                                .push(format!("DF_RATE_LIMIT_ROUTES: {item:?}: expected ROUTE=LIMIT/WINDOW")),
                        }
                    }
                    routes
                },
                rate_limit_timeout: r.millis("DF_RATE_LIMIT_TIMEOUT_MS", 50),
                rate_limit_replicas: r.parse("DF_RATE_LIMIT_REPLICAS", 1),
                trusted_proxies: r.list("DF_TRUSTED_PROXIES", ""),
                hsts: r.flag("DF_HSTS", environment == Environment::Production),
                request_timeout: r.secs("DF_REQUEST_TIMEOUT_SECS", 35),
                idempotency_ttl: r.secs("DF_IDEMPOTENCY_TTL_SECS", 86_400),
            },
            webhooks: WebhookConfig {
                allow_cidrs: r.list("DF_WEBHOOK_ALLOW_CIDRS", ""),
                https_only: r.flag("DF_WEBHOOK_HTTPS_ONLY", environment == Environment::Production),
                timeout: r.secs("DF_WEBHOOK_TIMEOUT_SECS", 15),
                schedule: r
                    .list::<u64>("DF_WEBHOOK_SCHEDULE_SECS", "0,5,300,1800,7200,18000,36000,36000")
                    .into_iter()
                    .map(Duration::from_secs)
                    .collect(),
            },
            upstreams: UpstreamsConfig {
                timeout: r.millis("DF_UPSTREAM_TIMEOUT_MS", 10_000),
                connect_timeout: r.millis("DF_UPSTREAM_CONNECT_TIMEOUT_MS", 2_000),
                max_retries: r.parse("DF_UPSTREAM_MAX_RETRIES", 3),
                retry_base: r.millis("DF_UPSTREAM_RETRY_BASE_MS", 200),
                aliexpress: AliExpressConfig {
                    base_url: r.string("DF_ALIEXPRESS_BASE_URL", sandbox),
                    app_key: r.string("DF_ALIEXPRESS_APP_KEY", "500001"),
                    app_secret: Secret::new(r.string("DF_ALIEXPRESS_APP_SECRET", "sandbox-secret-0001")),
                    access_token: Secret::new(r.string("DF_ALIEXPRESS_ACCESS_TOKEN", "sandbox-token")),
                    tracking_id: r.string("DF_ALIEXPRESS_TRACKING_ID", "df"),
                    sign_method,
                    ship_to_country: r.string("DF_ALIEXPRESS_SHIP_TO", "US"),
                    currency: r.string("DF_ALIEXPRESS_CURRENCY", "USD"),
                },
                meta: MetaConfig {
                    base_url: r.string("DF_META_GRAPH_BASE_URL", sandbox),
                    api_version: r.string("DF_META_API_VERSION", "v21.0"),
                    access_token: Secret::new(r.string("DF_META_ACCESS_TOKEN", "sandbox-meta-token")),
                    countries: r
                        .string("DF_META_COUNTRIES", "IE,DE,FR")
                        .split(',')
                        .map(|c| c.trim().to_uppercase())
                        .filter(|c| !c.is_empty())
                        .collect(),
                    max_pages: r.parse("DF_META_MAX_PAGES", 3),
                    page_limit: r.parse("DF_META_PAGE_LIMIT", 100),
                },
                youtube: YouTubeConfig {
                    base_url: r.string("DF_YOUTUBE_BASE_URL", sandbox),
                    api_key: Secret::new(r.string("DF_YOUTUBE_API_KEY", "sandbox-yt-key")),
                    max_results: r.parse("DF_YOUTUBE_MAX_RESULTS", 10),
                },
                budget: BudgetConfig {
                    aliexpress_per_sec: r.parse("DF_BUDGET_ALIEXPRESS_PER_SEC", 10_000),
                    aliexpress_per_day: r.parse("DF_BUDGET_ALIEXPRESS_PER_DAY", 100_000_000),
                    meta_per_hour: r.parse("DF_BUDGET_META_PER_HOUR", 1_000_000),
                    youtube_units_per_day: r.parse("DF_BUDGET_YOUTUBE_UNITS_PER_DAY", 100_000_000),
                },
            },
        };
        config.validate(&mut r.errors);
        if r.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(r.errors))
        }
    }

    fn validate(&self, errors: &mut Vec<String>) {
        let w = &self.worker;
        if w.concurrency == 0 {
            errors.push("DF_WORKER_CONCURRENCY must be at least 1".into());
        }
        if w.queue_cap == 0 || w.queue_cap > 6000 {
            errors.push("DF_QUEUE_CAP must be between 1 and 6000 (apalis-redis wedges at 8000 due jobs)".into());
        }
        if w.lease_renew >= w.lease {
            errors.push("DF_JOB_LEASE_RENEW_SECS must be shorter than DF_JOB_LEASE_SECS".into());
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            errors.push("DF_REDIS_PREFIX must be a non-empty word".into());
        }
        if self.api.max_wait > Duration::from_secs(30) {
            errors.push("DF_API_MAX_WAIT_SECS must be at most 30".into());
        }
        let e = &self.edge;
        if e.cors_credentials && e.cors_origins.iter().any(|o| o == "*") {
            errors.push("DF_CORS_ORIGINS may not contain * while DF_CORS_CREDENTIALS is on".into());
        }
        if e.rate_limit_replicas == 0 {
            errors.push("DF_RATE_LIMIT_REPLICAS must be at least 1".into());
        }
        if self.environment == Environment::Production && !self.webhooks.allow_cidrs.is_empty() {
            errors.push("DF_WEBHOOK_ALLOW_CIDRS is for development and tests; it is refused in production".into());
        }
        if self.webhooks.schedule.is_empty() {
            errors.push("DF_WEBHOOK_SCHEDULE_SECS must list at least one delay".into());
        }
        if self.upstreams.meta.countries.is_empty() {
            errors.push("DF_META_COUNTRIES must name at least one country".into());
        }
    }

    /// The default configuration (what a developer gets with no variables set).
    pub fn local_default() -> Self {
        // Reading an empty map cannot fail: every default above is valid.
        Self::from_vars(&HashMap::new()).unwrap_or_else(|e| panic!("defaults are invalid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_secrets_are_redacted() {
        let c = Config::local_default();
        assert_eq!(c.api.backlog, 4096);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("sandbox-secret-0001"), "secret leaked: {dbg}");
        assert!(dbg.contains("Secret(***)"));
    }

    #[test]
    fn bad_values_are_all_reported() {
        let vars: HashMap<String, String> = [
            ("DF_QUEUE_CAP", "9000"),
            ("DF_API_LISTEN", "nope"),
            ("DF_WORKER_CONCURRENCY", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let err = Config::from_vars(&vars).expect_err("must fail");
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn edge_defaults_and_refusals() {
        let c = Config::local_default();
        assert_eq!(
            c.edge.rate_limit_ip,
            RatePolicy {
                limit: 100,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(c.edge.cors_origins.len(), 3);
        assert_eq!(c.webhooks.schedule.len(), 8);
        let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let err = Config::from_vars(&vars(&[("DF_CORS_ORIGINS", "*")])).expect_err("* with credentials");
        assert!(err.to_string().contains("DF_CORS_ORIGINS"), "{err}");
        assert!(Config::from_vars(&vars(&[("DF_CORS_ORIGINS", "*"), ("DF_CORS_CREDENTIALS", "false")])).is_ok());
        let err = Config::from_vars(&vars(&[
            ("DF_ENV", "production"),
            ("DF_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8"),
        ]))
        .expect_err("allow-list refused in production");
        assert!(err.to_string().contains("DF_WEBHOOK_ALLOW_CIDRS"));
        let c =
            Config::from_vars(&vars(&[("DF_RATE_LIMIT_ROUTES", "POST /v1/validations/batch=10/60")])).expect("routes");
        assert_eq!(c.edge.rate_limit_routes[0].1.limit, 10);
        assert!(Config::from_vars(&vars(&[("DF_RATE_LIMIT_IP", "0/60")])).is_err());
    }

    #[test]
    fn budget_defaults_and_overrides() {
        let b = Config::local_default().upstreams.budget;
        assert_eq!(
            b,
            BudgetConfig {
                aliexpress_per_sec: 10_000,
                aliexpress_per_day: 100_000_000,
                meta_per_hour: 1_000_000,
                youtube_units_per_day: 100_000_000,
            }
        );
        let vars: HashMap<String, String> = [
            ("DF_BUDGET_ALIEXPRESS_PER_SEC", "5"),
            ("DF_BUDGET_YOUTUBE_UNITS_PER_DAY", "10000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let b = Config::from_vars(&vars).expect("budget vars").upstreams.budget;
        assert_eq!((b.aliexpress_per_sec, b.youtube_units_per_day), (5, 10_000));
        let bad: HashMap<String, String> = [("DF_BUDGET_META_PER_HOUR".to_owned(), "-1".to_owned())].into();
        assert!(Config::from_vars(&bad).is_err());
    }
}
