//! Budget limits per upstream (from `BudgetConfig`), day windows and credential hashes.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use dropforge_common::config::BudgetConfig;
use sha2::{Digest, Sha256};

use super::super::error::Upstream;
use super::super::pacific::next_pacific_midnight;

/// Where a daily quota window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayWindow {
    /// Midnight UTC.
    Utc,
    /// Midnight America/Los_Angeles (YouTube).
    Pacific,
}

impl DayWindow {
    /// The first window end strictly after `now`.
    pub fn end_after(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Pacific => next_pacific_midnight(now),
            Self::Utc => {
                let day = now
                    .date_naive()
                    .checked_add_days(Days::new(1))
                    .unwrap_or(now.date_naive());
                day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
            }
        }
    }
}

/// The limits of one upstream (`None`: not limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// At most `n` units per period, with a burst of `n`.
    pub rate: Option<(u64, Duration)>,
    /// At most `n` units per day window.
    pub quota: Option<(u64, DayWindow)>,
}

impl Limit {
    /// The configured limits of `upstream` (a 0 disables a limit).
    pub fn from_config(cfg: &BudgetConfig, upstream: Upstream) -> Self {
        let nz = |n: u64| (n > 0).then_some(n);
        match upstream {
            Upstream::AliExpress => Self {
                rate: nz(cfg.aliexpress_per_sec).map(|n| (n, Duration::from_secs(1))),
                quota: nz(cfg.aliexpress_per_day).map(|n| (n, DayWindow::Utc)),
            },
            Upstream::Meta => Self {
                rate: nz(cfg.meta_per_hour).map(|n| (n, Duration::from_secs(3600))),
                quota: None,
            },
            Upstream::YouTube => Self {
                rate: None,
                quota: nz(cfg.youtube_units_per_day).map(|n| (n, DayWindow::Pacific)),
            },
        }
    }
}

pub(super) fn index(upstream: Upstream) -> usize {
    match upstream {
        Upstream::AliExpress => 0,
        Upstream::Meta => 1,
        Upstream::YouTube => 2,
    }
}

pub(super) const ALL: [Upstream; 3] = [Upstream::AliExpress, Upstream::Meta, Upstream::YouTube];

/// A short, stable, non-reversible name of a credential for Redis keys.
pub fn credential_hash(upstream: Upstream, credential: &str) -> String {
    let digest = Sha256::digest(format!("{}\0{credential}", upstream.as_str()));
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_limits() {
        let t: DateTime<Utc> = "2025-07-01T12:00:00Z".parse().expect("ts");
        assert_eq!(DayWindow::Utc.end_after(t).to_rfc3339(), "2025-07-02T00:00:00+00:00");
        assert_eq!(
            DayWindow::Pacific.end_after(t).to_rfc3339(),
            "2025-07-02T07:00:00+00:00"
        );
        let cfg = BudgetConfig {
            aliexpress_per_sec: 5,
            aliexpress_per_day: 0,
            meta_per_hour: 200,
            youtube_units_per_day: 10_000,
        };
        let ae = Limit::from_config(&cfg, Upstream::AliExpress);
        assert_eq!(ae.rate, Some((5, Duration::from_secs(1))));
        assert_eq!(ae.quota, None);
        assert_eq!(
            Limit::from_config(&cfg, Upstream::YouTube).quota,
            Some((10_000, DayWindow::Pacific))
        );
        let h = credential_hash(Upstream::YouTube, "secret-key");
        assert_eq!(h.len(), 16);
        assert!(!h.contains("secret"));
        assert_ne!(h, credential_hash(Upstream::Meta, "secret-key"));
    }
}
