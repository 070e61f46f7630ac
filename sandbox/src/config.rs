//! Sandbox configuration: credentials, pinned products, and the runtime-tunable part (latency, faults, limits).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::data::Archetype;

/// Log-normal latency profile of one upstream (docs/design/upstreams.md §7.6): median, p99 and a hard cap, in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyProfile {
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyProfile {
    /// A profile with the given median / p99 / max.
    pub const fn new(median_ms: f64, p99_ms: f64, max_ms: f64) -> Self {
        Self {
            median_ms,
            p99_ms,
            max_ms,
        }
    }
}

/// Per-request fault probabilities of one upstream (docs/design/upstreams.md §7.6); their sum must stay ≤ 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultRates {
    /// Hold the connection for `max_ms` + 1 s, then answer 504 with an empty body.
    pub timeout: f64,
    /// 500 / 502 / 503 (503 carries `Retry-After`).
    pub http_5xx: f64,
    /// The upstream's own throttle body (AE `ApiCallLimit`, Meta 613, YouTube `rateLimitExceeded`).
    pub in_band_throttle: f64,
    /// Plain HTTP 429 with `Retry-After` (chaos only; the real APIs signal in-band).
    pub http_429: f64,
    /// The real body truncated in the middle.
    pub malformed: f64,
}

impl FaultRates {
    /// Splits a total fault probability across kinds: throttle 40 %, 5xx 40 %, timeout 10 %, malformed 10 %.
    pub fn split_total(total: f64) -> Self {
        let t = total.clamp(0.0, 1.0);
        Self {
            timeout: t * 0.1,
            http_5xx: t * 0.4,
            in_band_throttle: t * 0.4,
            http_429: 0.0,
            malformed: t * 0.1,
        }
    }
}

/// How a YouTube `search.list` call is charged (docs/design/upstreams.md §3.3, §7.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchModel {
    /// Current docs: one call out of a separate daily bucket of search calls.
    #[default]
    Bucket,
    /// Older docs: 100 units out of the daily unit budget.
    Units,
}

/// Sandbox quotas and throttles (docs/design/upstreams.md §7.5). Defaults are generous; real-world values in comments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// AliExpress calls per app key per second (real: about 10).
    pub ae_per_app_per_sec: u64,
    /// AliExpress calls per app key per Beijing day.
    pub ae_per_app_per_day: u64,
    /// Meta calls per token per sliding hour (real: about 200).
    pub meta_per_token_per_hour: u64,
    /// HTTP status used with Meta code 613.
    pub meta_throttle_status: u16,
    /// YouTube search charging model.
    pub yt_search_model: SearchModel,
    /// YouTube search calls per key per quota window (bucket model; real: 100).
    pub yt_search_calls_per_day: u64,
    /// YouTube units per key per quota window (real: 10 000).
    pub yt_units_per_day: u64,
    /// Quota window length in seconds; `None` = the Pacific calendar day.
    pub yt_quota_window_secs: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ae_per_app_per_sec: 100_000,
            ae_per_app_per_day: 100_000_000,
            meta_per_token_per_hour: 10_000_000,
            meta_throttle_status: 400,
            yt_search_model: SearchModel::Bucket,
            yt_search_calls_per_day: 10_000_000,
            yt_units_per_day: 100_000_000,
            yt_quota_window_secs: None,
        }
    }
}

impl Limits {
    /// The real-world default quotas (10/s AE, 200/h Meta, 100 searches/day YouTube).
    pub fn realistic() -> Self {
        Self {
            ae_per_app_per_sec: 10,
            ae_per_app_per_day: 100_000,
            meta_per_token_per_hour: 200,
            yt_search_calls_per_day: 100,
            yt_units_per_day: 10_000,
            ..Self::default()
        }
    }
}

/// Latency and faults of one upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamBehaviour {
    pub latency: LatencyProfile,
    #[serde(default)]
    pub faults: FaultRates,
}

/// The part of the configuration that `GET/PUT /__sandbox/config` reads and replaces at runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// Multiplies every sampled latency; 0.0 disables sleeping.
    pub latency_scale: f64,
    pub aliexpress: UpstreamBehaviour,
    pub meta: UpstreamBehaviour,
    pub youtube: UpstreamBehaviour,
    #[serde(default)]
    pub limits: Limits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            latency_scale: 1.0,
            aliexpress: UpstreamBehaviour {
                latency: LatencyProfile::new(120.0, 400.0, 3000.0),
                faults: FaultRates::default(),
            },
            meta: UpstreamBehaviour {
                latency: LatencyProfile::new(150.0, 500.0, 4000.0),
                faults: FaultRates::default(),
            },
            youtube: UpstreamBehaviour {
                latency: LatencyProfile::new(100.0, 350.0, 3000.0),
                faults: FaultRates::default(),
            },
            limits: Limits::default(),
        }
    }
}

/// One AliExpress app registered with the sandbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AeApp {
    pub app_key: String,
    pub secret: String,
    pub tracking_id: String,
}

/// Credentials the sandbox accepts (defaults match the worker's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    pub ae_apps: Vec<AeApp>,
    pub ae_access_tokens: Vec<String>,
    pub ae_refresh_token: String,
    pub meta_tokens: Vec<String>,
    pub youtube_keys: Vec<String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            ae_apps: vec![AeApp {
                app_key: "500001".into(),
                secret: "sandbox-secret-0001".into(),
                tracking_id: "df".into(),
            }],
            ae_access_tokens: vec!["sandbox-token".into()],
            ae_refresh_token: "sandbox-refresh-token".into(),
            meta_tokens: vec!["sandbox-meta-token".into()],
            youtube_keys: vec!["sandbox-yt-key".into()],
        }
    }
}

/// What a pinned product id resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    NotFound,
    Is(Archetype),
}

/// Full sandbox configuration. `Default` gives the documented defaults; use the `with_*` helpers in tests.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Global data and fault seed.
    pub seed: u64,
    /// Fixed "now" for generated dates; `None` = wall clock.
    pub frozen_now: Option<DateTime<Utc>>,
    /// Base of absolute links (Meta `paging.next`); `None` = `http://{Host header}` (`spawn` fills in the bound address).
    pub public_base_url: Option<String>,
    /// Honour `x-sandbox-fault` / `x-sandbox-latency-ms`.
    pub allow_test_headers: bool,
    /// Accepted AliExpress timestamp skew, seconds.
    pub timestamp_skew_secs: i64,
    /// Meta: commercial ads only when an EU/EEA country is requested.
    pub emulate_dsa_scope: bool,
    pub credentials: Credentials,
    /// Product ids pinned to an archetype (or to "not found").
    pub pinned: BTreeMap<String, Pin>,
    /// Latency, faults and limits (replaceable at runtime).
    pub runtime: RuntimeConfig,
    /// Memory for generated data and built answers, bytes (0 = generate every answer afresh); the
    /// process grows by about this much.
    pub cache_bytes: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let pinned = [
            ("1005000000000404", Pin::NotFound),
            ("1005000000000001", Pin::Is(Archetype::Winner)),
            ("1005000000000002", Pin::Is(Archetype::Promising)),
            ("1005000000000003", Pin::Is(Archetype::Average)),
            ("1005000000000004", Pin::Is(Archetype::Dud)),
            ("1005000000000005", Pin::Is(Archetype::Saturated)),
            ("1005000000000006", Pin::Is(Archetype::Problem)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            seed: 42,
            frozen_now: None,
            public_base_url: None,
            allow_test_headers: true,
            timestamp_skew_secs: 600,
            emulate_dsa_scope: true,
            credentials: Credentials::default(),
            pinned,
            runtime: RuntimeConfig::default(),
            cache_bytes: 32 << 20,
        }
    }
}

impl SandboxConfig {
    /// Defaults with no latency and a frozen clock (2025-06-01T00:00:00Z): the usual setup for tests.
    pub fn for_tests() -> Self {
        Self::default()
            .with_latency_scale(0.0)
            .with_frozen_now(DateTime::from_timestamp(1_748_736_000, 0))
    }

    /// Sets the latency multiplier (0.0 = no sleeping).
    pub fn with_latency_scale(mut self, scale: f64) -> Self {
        self.runtime.latency_scale = scale;
        self
    }

    /// Freezes (or unfreezes) the data clock.
    pub fn with_frozen_now(mut self, now: Option<DateTime<Utc>>) -> Self {
        self.frozen_now = now;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.runtime.limits = limits;
        self
    }

    /// Sets the cache memory (0 disables caching).
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Applies the same fault rates to all three upstreams.
    pub fn with_faults(mut self, faults: FaultRates) -> Self {
        self.runtime.aliexpress.faults = faults.clone();
        self.runtime.meta.faults = faults.clone();
        self.runtime.youtube.faults = faults;
        self
    }

    /// The clock used for generated dates.
    pub fn now(&self) -> DateTime<Utc> {
        self.frozen_now.unwrap_or_else(Utc::now)
    }

    /// The secret of a known app key.
    pub fn ae_app(&self, app_key: &str) -> Option<&AeApp> {
        self.credentials.ae_apps.iter().find(|a| a.app_key == app_key)
    }
}
