//! Reads the binary's configuration from `DF_SANDBOX_*` environment variables.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use crate::config::{FaultRates, SandboxConfig};

/// Configuration of the `dropforge-sandbox` binary.
#[derive(Clone, Debug)]
pub struct BinaryConfig {
    pub listen: SocketAddr,
    /// Threads serving requests (`DF_SANDBOX_THREADS`, default 1: one thread runs every answer in
    /// turn and wakes no other thread; a load that needs more than a core can ask for more).
    pub threads: usize,
    pub sandbox: SandboxConfig,
}

fn parse<T: std::str::FromStr>(get: &impl Fn(&str) -> Option<String>, name: &str, default: T) -> Result<T, String> {
    match get(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("{name}: cannot parse {v:?}")),
    }
}

impl BinaryConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration from any key lookup (testable without touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let listen: SocketAddr = parse(&get, "DF_SANDBOX_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8089)))?;
        let mut cfg = SandboxConfig::default().with_seed(parse(&get, "DF_SANDBOX_SEED", 42u64)?);
        cfg.runtime.latency_scale = parse(&get, "DF_SANDBOX_LATENCY_SCALE", 1.0f64)?;
        if !cfg.runtime.latency_scale.is_finite() || cfg.runtime.latency_scale < 0.0 {
            return Err("DF_SANDBOX_LATENCY_SCALE must be >= 0".into());
        }
        let fault_rate: f64 = parse(&get, "DF_SANDBOX_FAULT_RATE", 0.0)?;
        if !(0.0..=1.0).contains(&fault_rate) {
            return Err("DF_SANDBOX_FAULT_RATE must be in [0, 1]".into());
        }
        cfg = cfg.with_faults(FaultRates::split_total(fault_rate));
        cfg.frozen_now = match get("DF_SANDBOX_FROZEN_NOW").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(
                DateTime::parse_from_rfc3339(v.trim())
                    .map_err(|e| format!("DF_SANDBOX_FROZEN_NOW: {e}"))?
                    .with_timezone(&Utc),
            ),
        };
        cfg.public_base_url = Some(
            get("DF_SANDBOX_PUBLIC_BASE_URL")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| format!("http://{listen}")),
        );
        cfg.allow_test_headers = parse(&get, "DF_SANDBOX_ALLOW_TEST_HEADERS", true)?;
        let cache_mb: usize = parse(&get, "DF_SANDBOX_CACHE_MB", cfg.cache_bytes >> 20)?;
        cfg.cache_bytes = cache_mb.saturating_mul(1 << 20);
        let l = &mut cfg.runtime.limits;
        l.ae_per_app_per_sec = parse(&get, "DF_SANDBOX_AE_PER_SEC", l.ae_per_app_per_sec)?;
        l.ae_per_app_per_day = parse(&get, "DF_SANDBOX_AE_PER_DAY", l.ae_per_app_per_day)?;
        l.meta_per_token_per_hour = parse(&get, "DF_SANDBOX_META_PER_HOUR", l.meta_per_token_per_hour)?;
        l.yt_search_calls_per_day = parse(&get, "DF_SANDBOX_YT_SEARCH_PER_DAY", l.yt_search_calls_per_day)?;
        l.yt_units_per_day = parse(&get, "DF_SANDBOX_YT_UNITS_PER_DAY", l.yt_units_per_day)?;
        l.yt_quota_window_secs = match get("DF_SANDBOX_YT_QUOTA_WINDOW_SECS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| format!("DF_SANDBOX_YT_QUOTA_WINDOW_SECS: cannot parse {v:?}"))?,
            ),
        };
        let threads = parse(&get, "DF_SANDBOX_THREADS", 1usize)?;
        if threads == 0 {
            return Err("DF_SANDBOX_THREADS must be at least 1".into());
        }
        Ok(Self {
            listen,
            threads,
            sandbox: cfg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = BinaryConfig::from_lookup(|_| None).expect("defaults parse");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8089");
        assert_eq!(c.sandbox.public_base_url.as_deref(), Some("http://127.0.0.1:8089"));
        assert_eq!(c.sandbox.runtime.limits.ae_per_app_per_sec, 100_000);
        assert_eq!(c.sandbox.cache_bytes, 32 << 20);
        assert_eq!(c.threads, 1);
        let c = BinaryConfig::from_lookup(|k| match k {
            "DF_SANDBOX_THREADS" => Some("2".into()),
            "DF_SANDBOX_FAULT_RATE" => Some("0.1".into()),
            "DF_SANDBOX_LATENCY_SCALE" => Some("0".into()),
            "DF_SANDBOX_FROZEN_NOW" => Some("2025-06-01T00:00:00Z".into()),
            "DF_SANDBOX_YT_QUOTA_WINDOW_SECS" => Some("60".into()),
            "DF_SANDBOX_CACHE_MB" => Some("0".into()),
            _ => None,
        })
        .expect("overrides parse");
        assert!((c.sandbox.runtime.meta.faults.http_5xx - 0.04).abs() < 1e-12);
        assert_eq!(c.sandbox.runtime.latency_scale, 0.0);
        assert!(c.sandbox.frozen_now.is_some());
        assert_eq!(c.sandbox.runtime.limits.yt_quota_window_secs, Some(60));
        assert_eq!(c.sandbox.cache_bytes, 0);
        assert_eq!(c.threads, 2);
        assert!(BinaryConfig::from_lookup(|k| (k == "DF_SANDBOX_SEED").then(|| "x".into())).is_err());
        assert!(BinaryConfig::from_lookup(|k| (k == "DF_SANDBOX_THREADS").then(|| "0".into())).is_err());
    }
}
