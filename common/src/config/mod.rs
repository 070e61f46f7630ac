//! One typed configuration, read once from environment variables, with working local defaults.
//!
//! Every setting has exactly one default, here. Nothing else in the workspace reads `std::env`.
//! Secrets are wrapped in [`Secret`] so they never appear in `Debug` output or logs.

use std::{collections::HashMap, fmt, time::Duration};

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

mod reader;
mod sections;

pub use sections::{
    AliExpressConfig, ApiConfig, BudgetConfig, CacheConfig, EdgeConfig, HttpLayer, MetaConfig, RatePolicy,
    RetentionConfig, SignMethod, UpkeepConfig, UpkeepMode, UpstreamsConfig, WebhookConfig, WorkerConfig, YouTubeConfig,
};

use reader::Reader;

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
        let concurrency = r.parse("DF_WORKER_CONCURRENCY", 1024);
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
                http_threads: r.parse("DF_API_HTTP_THREADS", cores()),
                max_wait: r.secs("DF_API_MAX_WAIT_SECS", 30),
                key_cache_ttl: r.millis("DF_API_KEY_CACHE_MS", 1000),
                result_memo_ttl: r.millis("DF_API_RESULT_MEMO_MS", 1000),
                drain_delay: r.secs("DF_API_DRAIN_SECS", 2),
                redis_timeout: r.millis("DF_API_REDIS_TIMEOUT_MS", 150),
                redis_breaker: r.millis("DF_API_REDIS_BREAKER_MS", 1000),
                db_acquire_timeout: r.millis("DF_API_DB_ACQUIRE_TIMEOUT_MS", 1000),
                ready_check_timeout: r.millis("DF_API_READY_CHECK_MS", 500),
            },
            worker: WorkerConfig {
                metrics_listen: r.addr("DF_WORKER_METRICS_LISTEN", "127.0.0.1:9465"),
                threads: r.parse("DF_WORKER_THREADS", cores()).max(1),
                concurrency,
                bulk_concurrency: r.parse("DF_WORKER_BULK_CONCURRENCY", concurrency),
                poll_interval: r.millis("DF_WORKER_POLL_MS", 250),
                heartbeat: r.secs("DF_WORKER_HEARTBEAT_SECS", 2),
                missed_heartbeats: r.parse("DF_WORKER_MISSED_HEARTBEATS", 3),
                lease: r.secs("DF_JOB_LEASE_SECS", 6),
                lease_renew: r.secs("DF_JOB_LEASE_RENEW_SECS", 2),
                reconcile_interval: r.millis("DF_RECONCILE_MS", 2000),
                dispatch_interval: r.millis("DF_DISPATCH_MS", 50),
                canary_interval: r.millis("DF_CANARY_INTERVAL_MS", 5000),
                queue_cap: r.parse("DF_QUEUE_CAP", 3000),
                redis_grace: r.secs("DF_REDIS_GRACE_SECS", 5),
                max_attempts: r.parse("DF_JOB_MAX_ATTEMPTS", 5),
                job_timeout: r.secs("DF_JOB_TIMEOUT_SECS", 60),
                shutdown_timeout: r.secs("DF_WORKER_SHUTDOWN_SECS", 30),
                fixed_plans: r.parse("DF_WORKER_FIXED_PLANS", true),
                retry_base: r.millis("DF_RETRY_BASE_MS", 1000),
                retry_max: r.millis("DF_RETRY_MAX_MS", 300_000),
                retention: RetentionConfig {
                    days: r.parse("DF_RETENTION_DAYS", 30),
                    batch: r.parse("DF_RETENTION_BATCH", 5000),
                    interval: r.secs("DF_RETENTION_INTERVAL_SECS", 60),
                },
                upkeep: UpkeepConfig {
                    mode: r.parse("DF_TABLE_UPKEEP", UpkeepMode::Auto),
                    interval: r.secs("DF_TABLE_UPKEEP_INTERVAL_SECS", 10),
                },
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
                rate_limit_lease: r.parse("DF_RATE_LIMIT_LEASE", 1024),
                trusted_proxies: r.list("DF_TRUSTED_PROXIES", ""),
                hsts: r.flag("DF_HSTS", environment == Environment::Production),
                request_timeout: r.secs("DF_REQUEST_TIMEOUT_SECS", 35),
                idempotency_ttl: r.secs("DF_IDEMPOTENCY_TTL_SECS", 86_400),
                layers_off: r.list("DF_BENCH_LAYERS_OFF", ""),
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
        if w.bulk_concurrency == 0 {
            errors.push("DF_WORKER_BULK_CONCURRENCY must be at least 1".into());
        }
        if w.queue_cap == 0 || w.queue_cap > 6000 {
            errors.push("DF_QUEUE_CAP must be between 1 and 6000 (apalis-redis wedges at 8000 due jobs)".into());
        }
        if w.retention.batch == 0 || w.retention.batch > 100_000 {
            errors.push("DF_RETENTION_BATCH must be between 1 and 100000".into());
        }
        if w.retention.interval.is_zero() {
            errors.push("DF_RETENTION_INTERVAL_SECS must be at least 1".into());
        }
        if w.upkeep.interval.is_zero() {
            errors.push("DF_TABLE_UPKEEP_INTERVAL_SECS must be at least 1".into());
        }
        if w.lease_renew >= w.lease {
            errors.push("DF_JOB_LEASE_RENEW_SECS must be shorter than DF_JOB_LEASE_SECS".into());
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            errors.push("DF_REDIS_PREFIX must be a non-empty word".into());
        }
        if self.api.redis_timeout.is_zero() || self.api.db_acquire_timeout.is_zero() {
            errors.push("DF_API_REDIS_TIMEOUT_MS and DF_API_DB_ACQUIRE_TIMEOUT_MS must be positive".into());
        }
        if self.api.ready_check_timeout.is_zero() || self.api.ready_check_timeout > Duration::from_secs(1) {
            errors.push("DF_API_READY_CHECK_MS must be between 1 and 1000 (/ready answers within 1 s)".into());
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
        if self.environment == Environment::Production && !e.layers_off.is_empty() {
            errors.push("DF_BENCH_LAYERS_OFF is for benchmarks; it is refused in production".into());
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

/// The cores this process may run on (1 when the system cannot say).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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
        assert_eq!(c.edge.rate_limit_lease, 1024);
        let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let off = Config::from_vars(&vars(&[("DF_RATE_LIMIT_LEASE", "0")])).expect("leases off");
        assert_eq!(off.edge.rate_limit_lease, 0);
        let err = Config::from_vars(&vars(&[("DF_RATE_LIMIT_LEASE", "-1")])).expect_err("negative lease");
        assert!(err.to_string().contains("DF_RATE_LIMIT_LEASE"), "{err}");
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
        assert!(c.edge.layers_off.is_empty(), "every layer on by default");
        let c = Config::from_vars(&vars(&[("DF_BENCH_LAYERS_OFF", "cors, compression")])).expect("layers off");
        assert_eq!(c.edge.layers_off, [HttpLayer::Cors, HttpLayer::Compression]);
        let err = Config::from_vars(&vars(&[("DF_BENCH_LAYERS_OFF", "auth")])).expect_err("unknown layer");
        assert!(err.to_string().contains("unknown layer"), "{err}");
        let err = Config::from_vars(&vars(&[("DF_ENV", "production"), ("DF_BENCH_LAYERS_OFF", "cors")]))
            .expect_err("layers off refused in production");
        assert!(err.to_string().contains("DF_BENCH_LAYERS_OFF"), "{err}");
    }

    #[test]
    fn api_failure_deadlines() {
        let api = Config::local_default().api;
        assert_eq!(api.redis_timeout, Duration::from_millis(150));
        assert_eq!(api.redis_breaker, Duration::from_secs(1));
        assert_eq!(api.db_acquire_timeout, Duration::from_secs(1));
        assert_eq!(api.ready_check_timeout, Duration::from_millis(500));
        let vars = |k: &str, v: &str| -> HashMap<String, String> { [(k.to_owned(), v.to_owned())].into() };
        assert!(Config::from_vars(&vars("DF_API_READY_CHECK_MS", "1500")).is_err());
        assert!(Config::from_vars(&vars("DF_API_REDIS_TIMEOUT_MS", "0")).is_err());
        let c = Config::from_vars(&vars("DF_API_REDIS_TIMEOUT_MS", "40")).expect("override");
        assert_eq!(c.api.redis_timeout, Duration::from_millis(40));
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
