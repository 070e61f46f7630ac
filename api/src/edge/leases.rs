//! Token leases: with a decision it has to take in Redis anyway, a replica may take a few more of
//! a hot bucket's tokens and spend them in-process for [`LEASE_TTL`]; the tokens it has not spent
//! by then go back to the bucket with the next script call. Every admitted request still holds a
//! token taken atomically from the shared bucket, so the fleet never admits more than the limit;
//! a request that finds a token here is decided without a Redis round trip or a suspension. A
//! lease below half of its last grant is refilled ahead, without a request waiting for it.
//!
//! What it costs in exactness: while a replica holds unspent tokens of a bucket (at most
//! `DF_RATE_LIMIT_LEASE` of them, for at most [`LEASE_TTL`]), the other replicas see that bucket
//! that much emptier. Leases are only taken for buckets in demand (asked again within
//! [`LEASE_TTL`]) and never exceed a hundredth of the quota, so a small quota stays decided
//! request by request in Redis.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{decisions::Bucket, fallback::Decision};

/// How long leased tokens may be spent before they go back to the bucket.
pub(crate) const LEASE_TTL: Duration = Duration::from_millis(250);
/// A lease is at most this fraction of the quota (1/100).
const QUOTA_DIVISOR: u64 = 100;
/// Most buckets with a lease or a demand record; beyond it the table is cleared (its unspent
/// tokens are given back).
const MAX_BUCKETS: usize = 100_000;

/// One bucket's tokens held by this replica.
#[derive(Debug, Clone)]
struct Lease {
    /// Tokens left to spend.
    tokens: u64,
    /// Tokens spent since this record was made (the demand that sizes the next lease).
    spent: u64,
    /// Tokens of the last grant: below half of them left, a refill is asked for ahead.
    granted: u64,
    /// Whether a refill asked for ahead has not been deposited yet.
    refilling: bool,
    /// When the tokens stop being spendable.
    expires: Instant,
    /// The bucket's theoretical arrival time after the grant, counting every leased token as
    /// spent, in this process's clock.
    tat: Instant,
    interval_us: u64,
    tolerance_us: u64,
    ttl_ms: u64,
}

impl Lease {
    /// The decision for a request that spent one of this lease's tokens (`self.tokens` already
    /// counts it as gone): the bucket as if the unspent tokens were not taken yet.
    fn decision(&self, now: Instant) -> Decision {
        let unspent = Duration::from_micros(self.tokens.saturating_mul(self.interval_us));
        let used = self.tat.checked_sub(unspent).map_or(0, |tat| {
            u64::try_from(tat.saturating_duration_since(now).as_micros()).unwrap_or(u64::MAX)
        });
        Decision {
            allowed: true,
            remaining: self.tolerance_us.saturating_sub(used) / self.interval_us.max(1),
            retry_after_ms: 0,
            reset_ms: used.div_ceil(1000),
        }
    }
}

/// A request decided from leased tokens.
#[derive(Debug)]
pub(crate) struct Spent {
    /// One decision per bucket, in order.
    pub decisions: Vec<Decision>,
    /// Buckets whose lease should be refilled ahead, `extra` set.
    pub refill: Vec<Bucket>,
}

/// Tokens to give back to a bucket with the next script call.
#[derive(Debug, Clone)]
pub(crate) struct Return {
    pub bucket: Bucket,
    pub tokens: u64,
}

/// The leases of one API process.
#[derive(Debug)]
pub(crate) struct Leases {
    /// Most tokens one lease takes (`DF_RATE_LIMIT_LEASE`; 0 = no leases).
    max: u64,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    leases: HashMap<String, Lease>,
    returns: Vec<Return>,
}

impl Table {
    /// Removes the lease of `key`, queueing its unspent tokens to go back.
    fn retire(&mut self, key: &str) {
        if let Some(lease) = self.leases.remove(key) {
            self.queue_return(key, &lease);
        }
    }

    fn queue_return(&mut self, key: &str, lease: &Lease) {
        if lease.tokens > 0 {
            self.returns.push(Return {
                bucket: Bucket {
                    key: key.to_owned(),
                    interval_us: lease.interval_us,
                    tolerance_us: lease.tolerance_us,
                    ttl_ms: lease.ttl_ms,
                    extra: 0,
                },
                tokens: lease.tokens,
            });
        }
    }
}

impl Leases {
    /// Leases of at most `max` tokens (0: every request is decided in Redis).
    pub(crate) fn new(max: u32) -> Self {
        Self {
            max: u64::from(max),
            table: Mutex::new(Table::default()),
        }
    }

    /// Whether leases are taken at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The decisions for a request counted against `buckets`, when every bucket has a leased
    /// token here (one is spent from each), with the buckets to refill ahead (a lease below half
    /// of its last grant, `extra` set to the tokens to ask for); `None` sends the request to
    /// Redis, each bucket's `extra` set to the tokens worth asking for with that call.
    pub(crate) fn try_spend(&self, buckets: &mut [Bucket]) -> Option<Spent> {
        if self.max == 0 {
            return None;
        }
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let mut ready = true;
        for bucket in buckets.iter_mut() {
            match table.leases.get(&bucket.key) {
                Some(l) if now < l.expires && l.tokens > 0 => bucket.extra = 0,
                Some(l) => {
                    ready = false;
                    bucket.extra = self.size(bucket, l.spent);
                    // Expired but not yet swept: still in demand, its unspent tokens go back.
                    if now >= l.expires {
                        table.retire(&bucket.key);
                    }
                }
                None => {
                    ready = false;
                    bucket.extra = 0;
                }
            }
        }
        if !ready {
            return None;
        }
        let mut spent = Spent {
            decisions: Vec::with_capacity(buckets.len()),
            refill: Vec::new(),
        };
        for bucket in buckets.iter() {
            let Some(lease) = table.leases.get_mut(&bucket.key) else {
                continue;
            };
            lease.tokens -= 1;
            lease.spent += 1;
            spent.decisions.push(lease.decision(now));
            if !lease.refilling && lease.tokens.saturating_mul(2) < lease.granted {
                let extra = self.size(bucket, lease.spent);
                if extra > 0 {
                    lease.refilling = true;
                    spent.refill.push(Bucket {
                        extra,
                        ..bucket.clone()
                    });
                }
            }
        }
        Some(spent)
    }

    /// Marks the refill of `key` as not coming (it could not be sent): the lease runs dry and
    /// its next request asks for tokens instead.
    pub(crate) fn refill_dropped(&self, key: &str) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lease) = table.leases.get_mut(key) {
            lease.refilling = false;
        }
    }

    /// Tokens to ask for besides a request's own, for a bucket whose lease ran dry after `spent`
    /// tokens: twice the demand seen, within `max` and a hundredth of the quota.
    fn size(&self, bucket: &Bucket, spent: u64) -> u64 {
        let quota = bucket.tolerance_us / bucket.interval_us.max(1);
        spent
            .saturating_add(1)
            .saturating_mul(2)
            .min(self.max)
            .min(quota / QUOTA_DIVISOR)
    }

    /// Records what a script call did to `bucket`: the request decided in Redis (`decided`) and
    /// the `granted` extra tokens, with the bucket's TAT `tat_ahead_us` beyond Redis's clock after
    /// the grant. A bucket decided in Redis gets a demand record even without tokens, so that a
    /// second request within [`LEASE_TTL`] asks for some.
    pub(crate) fn deposit(&self, bucket: &Bucket, decided: u64, granted: u64, tat_ahead_us: u64) {
        if self.max == 0 {
            return;
        }
        let now = Instant::now();
        let tat = now + Duration::from_micros(tat_ahead_us);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.leases.len() >= MAX_BUCKETS && !table.leases.contains_key(&bucket.key) {
            let keys: Vec<String> = table.leases.keys().cloned().collect();
            for key in keys {
                table.retire(&key);
            }
        }
        match table.leases.get_mut(&bucket.key) {
            Some(lease) if now < lease.expires => {
                lease.tokens += granted;
                lease.spent += decided;
                lease.tat = lease.tat.max(tat);
                lease.refilling = false;
                if granted > 0 {
                    lease.granted = lease.tokens;
                    lease.expires = now + LEASE_TTL;
                }
            }
            _ => {
                table.retire(&bucket.key);
                table.leases.insert(
                    bucket.key.clone(),
                    Lease {
                        tokens: granted,
                        spent: decided,
                        granted,
                        refilling: false,
                        expires: now + LEASE_TTL,
                        tat,
                        interval_us: bucket.interval_us,
                        tolerance_us: bucket.tolerance_us,
                        ttl_ms: bucket.ttl_ms,
                    },
                );
            }
        }
    }

    /// Retires every expired lease and takes the tokens waiting to go back.
    pub(crate) fn take_returns(&self) -> Vec<Return> {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let expired: Vec<String> = table
            .leases
            .iter()
            .filter(|(_, lease)| now >= lease.expires)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            table.retire(&key);
        }
        std::mem::take(&mut table.returns)
    }

    /// Unspent tokens held (tests).
    #[cfg(test)]
    fn held(&self, key: &str) -> Option<u64> {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.leases.get(key).map(|l| l.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(limit: u64) -> Bucket {
        // limit per 60 s
        let interval_us = 60_000_000 / limit;
        Bucket {
            key: "b".into(),
            interval_us,
            tolerance_us: interval_us * limit,
            ttl_ms: 60_000,
            extra: 0,
        }
    }

    #[test]
    fn a_bucket_in_demand_gets_a_lease_that_grows_with_use() {
        let leases = Leases::new(64);
        let mut b = [bucket(1_000_000)];
        // First sight: no lease, no extra asked (a cold bucket never leases).
        assert!(leases.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 0);
        leases.deposit(&b[0], 1, 0, 60);
        // Asked again within the TTL: worth a lease.
        assert!(leases.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 4, "twice the demand (1 decided + this one)");
        leases.deposit(&b[0], 1, 4, 300);
        for _ in 0..4 {
            let d = leases.try_spend(&mut b).expect("a leased token");
            assert!(d.decisions[0].allowed);
        }
        assert_eq!(leases.held("b"), Some(0));
        assert!(leases.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 14, "2 x (6 spent + 1)");
        // Capped by DF_RATE_LIMIT_LEASE.
        leases.deposit(&b[0], 1, 0, 300);
        let mut many = 0;
        for _ in 0..100 {
            leases.deposit(&b[0], 1, 0, 300);
            many += 1;
        }
        assert!(leases.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 64, "{many} decisions later");
    }

    #[test]
    fn a_lease_below_half_is_refilled_ahead_once() {
        let leases = Leases::new(1024);
        let b = bucket(1_000_000);
        leases.deposit(&b, 1, 10, 600);
        let refills: Vec<usize> = (0..7)
            .map(|_| leases.try_spend(&mut [b.clone()]).expect("a leased token").refill.len())
            .collect();
        // 10 tokens: the 6th spend leaves 4 (below half), and asks once.
        assert_eq!(refills, [0, 0, 0, 0, 0, 1, 0]);
        leases.deposit(&b, 0, 20, 900);
        assert_eq!(leases.held("b"), Some(23));
        let later: usize = (0..12)
            .map(|_| leases.try_spend(&mut [b.clone()]).expect("a leased token").refill.len())
            .sum();
        assert_eq!(later, 1, "the deposit re-arms the refill, below half of 23");
        // A refill that could not be sent re-arms it too.
        let mut again = 0;
        leases.refill_dropped("b");
        if let Some(spent) = leases.try_spend(&mut [b.clone()]) {
            again = spent.refill.len();
        }
        assert_eq!(again, 1);
    }

    #[test]
    fn small_quotas_are_never_leased() {
        let leases = Leases::new(64);
        let mut b = [bucket(150)];
        leases.deposit(&b[0], 50, 0, 60);
        assert!(leases.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 1, "a hundredth of 150");
        let mut tiny = [bucket(20)];
        leases.deposit(&tiny[0], 50, 0, 60);
        assert!(leases.try_spend(&mut tiny).is_none());
        assert_eq!(tiny[0].extra, 0);
        let off = Leases::new(0);
        let mut b = [bucket(1_000_000)];
        off.deposit(&b[0], 50, 0, 60);
        assert!(off.try_spend(&mut b).is_none());
        assert_eq!(b[0].extra, 0);
        assert!(!off.enabled());
    }

    #[test]
    fn a_request_needs_a_token_of_every_bucket() {
        let leases = Leases::new(64);
        let a = bucket(1_000_000);
        let mut other = bucket(1_000_000);
        other.key = "other".into();
        leases.deposit(&a, 1, 10, 600);
        let mut both = [a.clone(), other];
        assert!(leases.try_spend(&mut both).is_none());
        assert_eq!(leases.held("b"), Some(10), "nothing spent when one bucket has no token");
        assert_eq!(both[0].extra, 0, "a bucket with tokens asks for none");
    }

    #[test]
    fn the_decision_counts_unspent_tokens_as_remaining() {
        let leases = Leases::new(64);
        let b = bucket(1000); // interval 60 ms, tolerance 60 s
        // The grant took the request's token and 9 more: TAT 10 intervals ahead.
        leases.deposit(&b, 1, 9, 600_000);
        let d = leases.try_spend(&mut [b.clone()]).expect("a leased token").decisions[0];
        // Two tokens spent in all: the bucket is two intervals ahead, 998 left.
        assert!(d.allowed);
        assert!((997..=998).contains(&d.remaining), "{d:?}");
        assert!((119..=120).contains(&d.reset_ms), "{d:?}");
    }

    #[test]
    fn unspent_tokens_go_back_once_the_lease_expires() {
        let leases = Leases::new(64);
        let b = bucket(1_000_000);
        leases.deposit(&b, 1, 30, 2_000);
        assert!(leases.take_returns().is_empty(), "a live lease stays");
        let _ = leases.try_spend(&mut [b.clone()]).expect("a leased token");
        {
            let mut table = leases.table.lock().expect("lock");
            let lease = table.leases.get_mut("b").expect("lease");
            lease.expires = Instant::now();
        }
        let returns = leases.take_returns();
        assert_eq!(returns.len(), 1);
        assert_eq!(returns[0].tokens, 29);
        assert_eq!(returns[0].bucket.key, "b");
        assert_eq!(leases.held("b"), None);
        assert!(leases.take_returns().is_empty(), "given back once");
    }
}
