//! In-process GCRA used for the per-IP policy while Redis is unreachable or slow. Each replica
//! allows `limit / replicas` per window, so the fleet as a whole stays near the shared limit.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use dropforge_common::config::RatePolicy;

/// Entries are pruned (expired ones dropped) at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// Hard cap on tracked clients; beyond it the table is cleared (fail open for the fallback only).
const MAX_CLIENTS: usize = 200_000;

/// One decision of a GCRA (Redis or local), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests left in the burst after this one.
    pub remaining: u64,
    /// When denied: how long until one request is allowed again.
    pub retry_after_ms: u64,
    /// How long until the full quota is available again.
    pub reset_ms: u64,
}

/// GCRA parameters in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval T = window / limit.
    pub interval_us: u64,
    /// Burst tolerance = T * limit.
    pub tolerance_us: u64,
    /// The quota (burst size).
    pub limit: u64,
}

impl Gcra {
    /// GCRA for `limit` per `window` (burst = limit).
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = u64::from(limit.max(1));
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX / 4).max(1);
        let interval_us = (window_us / limit).max(1);
        Self {
            interval_us,
            tolerance_us: interval_us * limit,
            limit,
        }
    }

    /// Decides one request given the stored TAT (theoretical arrival time) and `now`;
    /// returns the decision and the TAT to store when allowed.
    pub fn decide(&self, tat: Option<u64>, now: u64) -> (Decision, u64) {
        let tat = tat.unwrap_or(now).max(now);
        let new_tat = tat + self.interval_us;
        let allow_at = new_tat.saturating_sub(self.tolerance_us);
        if now < allow_at {
            let decision = Decision {
                allowed: false,
                remaining: 0,
                retry_after_ms: (allow_at - now).div_ceil(1000),
                reset_ms: (tat - now).div_ceil(1000),
            };
            return (decision, tat);
        }
        let used = new_tat - now;
        let decision = Decision {
            allowed: true,
            remaining: (self.tolerance_us - used) / self.interval_us,
            retry_after_ms: 0,
            reset_ms: used.div_ceil(1000),
        };
        (decision, new_tat)
    }
}

/// The per-replica limiter.
pub struct LocalGcra {
    gcra: Gcra,
    /// The per-replica quota.
    pub policy: RatePolicy,
    epoch: Instant,
    table: Mutex<Table>,
}

struct Table {
    tats: HashMap<String, u64>,
    pruned_at: Instant,
}

impl LocalGcra {
    /// A limiter for `policy.limit / replicas` per `policy.window` (at least 1).
    pub fn new(policy: RatePolicy, replicas: u32) -> Self {
        let limit = (policy.limit / replicas.max(1)).max(1);
        let policy = RatePolicy {
            limit,
            window: policy.window,
        };
        Self {
            gcra: Gcra::new(limit, policy.window),
            policy,
            epoch: Instant::now(),
            table: Mutex::new(Table {
                tats: HashMap::new(),
                pruned_at: Instant::now(),
            }),
        }
    }

    /// Decides one request of `client`.
    pub fn check(&self, client: &str) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX / 4);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.pruned_at.elapsed() >= PRUNE_EVERY || table.tats.len() >= MAX_CLIENTS {
            table.tats.retain(|_, tat| *tat > now);
            if table.tats.len() >= MAX_CLIENTS {
                table.tats.clear();
            }
            table.pruned_at = Instant::now();
        }
        let (decision, tat) = self.gcra.decide(table.tats.get(client).copied(), now);
        if decision.allowed {
            table.tats.insert(client.to_owned(), tat);
        }
        decision
    }

    /// Number of tracked clients (tests).
    pub fn tracked(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).tats.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let g = Gcra::new(100, Duration::from_secs(900));
        let mut tat = None;
        let now = 1_000_000;
        for i in 0..100 {
            let (d, t) = g.decide(tat, now);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 99 - i);
            tat = Some(t);
        }
        let (d, _) = g.decide(tat, now);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 9000);
        let (d, _) = g.decide(tat, now + 9_000_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn local_quota_is_split_across_replicas() {
        let policy = RatePolicy {
            limit: 20,
            window: Duration::from_secs(60),
        };
        let l = LocalGcra::new(policy, 4);
        let allowed = (0..20).filter(|_| l.check("v4:1.2.3.4").allowed).count();
        assert_eq!(allowed, 5);
        assert!(l.check("v4:5.6.7.8").allowed);
        assert_eq!(l.tracked(), 2);
    }
}
