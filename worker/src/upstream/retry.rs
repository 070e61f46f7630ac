//! Retries inside one job attempt: transient failures back off exponentially with full jitter;
//! short stated throttles (≤ 5 s, e.g. the AliExpress 1 s ban) are waited out; everything else
//! (long throttles, quota, auth, not found, invalid) returns at once.

use std::{future::Future, time::Duration};

use dropforge_common::config::UpstreamsConfig;

use super::error::UpstreamError;

/// Retry settings of one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (so at most `max_retries + 1` calls).
    pub max_retries: u32,
    /// Backoff base: the n-th retry waits a random time in `[0, min(cap, base·2^n)]`.
    pub base: Duration,
    /// Upper bound of one backoff.
    pub cap: Duration,
    /// Longest stated throttle that is waited out in-line; longer ones are returned.
    pub max_throttle_wait: Duration,
}

impl RetryPolicy {
    /// The policy of the configuration (`max_retries`, `retry_base`; cap 5 s; throttles ≤ 5 s).
    pub fn from_config(cfg: &UpstreamsConfig) -> Self {
        Self {
            max_retries: cfg.max_retries,
            base: cfg.retry_base,
            cap: Duration::from_secs(5),
            max_throttle_wait: Duration::from_secs(5),
        }
    }

    /// The largest backoff of retry `n` (0-based): `min(cap, base·2^n)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter backoff for retry `n`: uniform in `[0, ceiling(n)]`.
    pub fn backoff(&self, n: u32) -> Duration {
        jitter(self.ceiling(n))
    }

    /// How long to sleep before retrying after `err` on retry `n`, or `None` to give up.
    pub fn delay_for(&self, err: &UpstreamError, n: u32) -> Option<Duration> {
        if n >= self.max_retries {
            return None;
        }
        match err {
            UpstreamError::Transient { .. } => Some(self.backoff(n)),
            UpstreamError::Throttled { retry_after, .. } if *retry_after <= self.max_throttle_wait => {
                Some(*retry_after + jitter(self.base.min(self.cap)))
            }
            _ => None,
        }
    }

    /// Runs `call` until it succeeds, fails permanently, or the retry budget is spent.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut n = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(err) => match self.delay_for(&err, n) {
                    Some(delay) => {
                        tracing::debug!(upstream = ?err.upstream(), outcome = err.outcome(), retry = n + 1, ?delay, "upstream retry");
                        tokio::time::sleep(delay).await;
                        n += 1;
                    }
                    None => return Err(err),
                },
            }
        }
    }
}

/// A uniform random duration in `[0, max]` (millisecond resolution).
fn jitter(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(rand::random_range(0..=ms))
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::{TransientKind, Upstream};
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            max_throttle_wait: Duration::from_secs(5),
        }
    }

    fn transient() -> UpstreamError {
        UpstreamError::transient(Upstream::AliExpress, TransientKind::ServerError, "HTTP 503")
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        assert_eq!(p.ceiling(0), Duration::from_millis(10));
        assert_eq!(p.ceiling(1), Duration::from_millis(20));
        assert_eq!(p.ceiling(2), Duration::from_millis(40));
        assert_eq!(p.ceiling(3), Duration::from_millis(50));
        assert_eq!(p.ceiling(40), Duration::from_millis(50));
        for n in 0..10 {
            for _ in 0..200 {
                assert!(p.backoff(n) <= p.ceiling(n));
            }
        }
        // Full jitter: over many draws both small and large values show up.
        let draws: Vec<_> = (0..500).map(|_| p.backoff(3)).collect();
        assert!(draws.iter().any(|d| *d < Duration::from_millis(15)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(35)));
    }

    #[test]
    fn what_is_retried() {
        let p = policy();
        assert!(p.delay_for(&transient(), 0).is_some());
        assert!(p.delay_for(&transient(), 3).is_none());
        let short = UpstreamError::Throttled {
            upstream: Upstream::AliExpress,
            retry_after: Duration::from_secs(1),
            code: "ApiCallLimit".into(),
        };
        let d = p.delay_for(&short, 0).expect("short throttle is waited out");
        assert!(d >= Duration::from_secs(1) && d <= Duration::from_millis(1010));
        let long = UpstreamError::Throttled {
            upstream: Upstream::Meta,
            retry_after: Duration::from_secs(300),
            code: "613".into(),
        };
        assert!(p.delay_for(&long, 0).is_none());
        let auth = UpstreamError::auth(Upstream::AliExpress, "IncompleteSignature", "bad");
        assert!(p.delay_for(&auth, 0).is_none());
        let quota = UpstreamError::QuotaExhausted {
            upstream: Upstream::YouTube,
            until: None,
        };
        assert!(p.delay_for(&quota, 0).is_none());
    }

    #[tokio::test]
    async fn run_retries_transient_then_succeeds_and_stops_on_auth() {
        let p = policy();
        let calls = AtomicU32::new(0);
        let out = p
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(transient())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(UpstreamError::auth(Upstream::AliExpress, "InvalidAppKey", "x"))
            })
            .await;
        assert!(matches!(out, Err(UpstreamError::Auth { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(transient())
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
