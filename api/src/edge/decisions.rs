//! Group commit of rate-limit decisions: requests that arrive while a decision call is in flight
//! are decided together by the next call of `gcra_batch.lua`, in arrival order. Redis still takes
//! every decision atomically against the shared buckets, so the limit stays exact across replicas;
//! a burst costs one round trip per group instead of one per request. A few calls may be in flight
//! at once (pipelined on the one connection), so a slow wake-up of this task under load does not
//! cap the request rate at one group per round trip.
//!
//! The task runs on a runtime of its own, on its own thread, with its own Redis connection
//! ([`Decider::spawn`]): the API's runtime, saturated, made every round trip wait for turns. On
//! its own runtime nothing waits ahead of a call, so its deadline is the clock's, from when it is
//! sent ([`bounded_call`]).
//!
//! The same calls carry the token leases of [`super::leases`]: the extra tokens a hot bucket asks
//! for are granted after the group's requests and deposited here, and every [`LEASE_TTL`] the
//! unspent tokens of expired leases go back in a call of their own.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
    time::Duration,
};

use futures::{StreamExt, stream::FuturesUnordered};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::{
    fallback::Decision,
    leases::{LEASE_TTL, Leases, Return},
};

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("gcra_batch.lua")));

/// Most requests decided by one script call.
const MAX_GROUP: usize = 256;
/// Script calls in flight at once.
const MAX_IN_FLIGHT: usize = 4;
/// Requests queued for the next call; a request beyond this waits for room within its deadline.
const QUEUE_CAPACITY: usize = 8192;

/// One bucket a request is counted against, with its GCRA parameters.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Redis key of the bucket.
    pub key: String,
    /// Emission interval, µs.
    pub interval_us: u64,
    /// Burst tolerance, µs.
    pub tolerance_us: u64,
    /// Expiry of the bucket's key, ms.
    pub ttl_ms: u64,
    /// Tokens to lease besides the request's own ([`Leases::try_spend`] sets it).
    pub extra: u64,
}

/// Why no decision came from Redis (the caller then takes the in-process fallback).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum DecideError {
    /// Redis answered with an error or the connection failed.
    #[error("Redis error: {0}")]
    Redis(String),
    /// The script call did not answer within the limiter's timeout.
    #[error("Redis too slow")]
    Timeout,
    /// The decision task is gone (runtime shutting down).
    #[error("decision task stopped")]
    Stopped,
}

type Reply = Result<Vec<Decision>, DecideError>;
/// The decisions of a whole group, per request, and its grants.
type GroupReply = Result<CallReply, DecideError>;

struct Pending {
    buckets: Vec<Bucket>,
    /// `None`: a refill asked for ahead ([`Decider::refill`]), no request of its own to decide.
    reply: Option<oneshot::Sender<Reply>>,
}

/// Handle to the decision task of one API process.
#[derive(Clone)]
pub(crate) struct Decider {
    tx: mpsc::Sender<Pending>,
}

impl Decider {
    /// Starts the decision task on a runtime of its own, on its own thread, with its own Redis
    /// connection `conn` (not yet connected: it connects there); each script call is bounded by
    /// `timeout` ([`bounded_call`]).
    ///
    /// On the API's runtime, a saturated one, the task and its connection's reader each waited
    /// for a turn behind every connection's task: a lease's refill took longer to come back than
    /// the lease lasted, and one request in six found it dry and waited for Redis. On a runtime
    /// of its own the round trip is Redis's. Should the thread not start, the limiter decides
    /// on its in-process fallback (the decisions answer [`DecideError::Stopped`]).
    pub(crate) fn spawn(conn: ConnectionManager, timeout: Duration, leases: Arc<Leases>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let started = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|runtime| {
                std::thread::Builder::new()
                    .name("dropforge-limiter".into())
                    .spawn(move || runtime.block_on(run(conn, rx, timeout, leases)))
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "rate limiter: decision thread did not start; local fallback");
        }
        Self { tx }
    }

    /// The decision for each of `buckets` (in order), taken with whatever requests are waiting.
    pub(crate) async fn decide(&self, buckets: Vec<Bucket>) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                buckets,
                reply: Some(reply),
            })
            .await
            .map_err(|_| DecideError::Stopped)?;
        answer.await.map_err(|_| DecideError::Stopped)?
    }

    /// Asks for `buckets`' extra tokens with the next call, without waiting; gives them back when
    /// the queue is full or the task is gone (the leases then run dry and their next request asks).
    pub(crate) fn refill(&self, buckets: Vec<Bucket>) -> Result<(), Vec<Bucket>> {
        self.tx
            .try_send(Pending { buckets, reply: None })
            .map_err(|e| e.into_inner().buckets)
    }
}

async fn run(conn: ConnectionManager, mut rx: mpsc::Receiver<Pending>, timeout: Duration, leases: Arc<Leases>) {
    let mut in_flight = FuturesUnordered::new();
    let mut sweep = tokio::time::interval(LEASE_TTL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut group = Vec::new();
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            received = rx.recv_many(&mut group, MAX_GROUP), if in_flight.len() < MAX_IN_FLIGHT => {
                if received == 0 {
                    break;
                }
                in_flight.push(decide_group(conn.clone(), group, Vec::new(), timeout, leases.clone()));
            }
            _ = sweep.tick(), if leases.enabled() && in_flight.len() < MAX_IN_FLIGHT => {
                let returns = leases.take_returns();
                if !returns.is_empty() {
                    in_flight.push(decide_group(conn.clone(), Vec::new(), returns, timeout, leases.clone()));
                }
            }
        }
    }
    while in_flight.next().await.is_some() {}
}

/// Decides one group (and gives back `returns`), answers each of its requests and deposits the
/// leased tokens. Requests whose caller already gave up are decided too: their place in the order
/// was fixed when they arrived. Tokens given back by a call that fails are lost to the bucket
/// until its window moves on: the limit errs on the strict side.
async fn decide_group(
    mut conn: ConnectionManager,
    group: Vec<Pending>,
    returns: Vec<Return>,
    timeout: Duration,
    leases: Arc<Leases>,
) {
    match bounded_call(&mut conn, &group, &returns, timeout).await {
        Ok(reply) => {
            let requests = || group.iter().filter(|p| p.reply.is_some());
            for (key, grant) in &reply.grants {
                let decided = requests()
                    .zip(&reply.decisions)
                    .filter(|(p, d)| d.iter().all(|d| d.allowed) && p.buckets.iter().any(|b| b.key == key.key))
                    .count();
                leases.deposit(key, decided as u64, grant.granted, grant.tat_ahead_us);
            }
            let replies = group.into_iter().filter_map(|p| p.reply);
            for (reply, decided) in replies.zip(reply.decisions) {
                let _ = reply.send(Ok(decided));
            }
        }
        Err(e) => {
            for pending in group {
                match pending.reply {
                    Some(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    None => pending.buckets.iter().for_each(|b| leases.refill_dropped(&b.key)),
                }
            }
        }
    }
}

/// [`call`] within `timeout` from when it is sent.
async fn bounded_call(
    conn: &mut ConnectionManager,
    group: &[Pending],
    returns: &[Return],
    timeout: Duration,
) -> GroupReply {
    match tokio::time::timeout(timeout, call(conn, group, returns)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(DecideError::Redis(e.to_string())),
        Err(_) => Err(DecideError::Timeout),
    }
}

/// What the script granted one bucket of a call's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grant {
    /// Extra tokens leased.
    granted: u64,
    /// The bucket's TAT ahead of Redis's clock after the call, µs.
    tat_ahead_us: u64,
}

/// A call's answer: the decisions per request, in the group's order, and the grant of each bucket
/// the requests counted against.
struct CallReply {
    decisions: Vec<Vec<Decision>>,
    grants: Vec<(Bucket, Grant)>,
}

/// One key of a script call: its bucket, the extra tokens asked for and the tokens given back.
struct CallKey<'a> {
    bucket: &'a Bucket,
    extra: u64,
    back: u64,
    /// Whether a request of the call counts against it (only given-back tokens otherwise).
    requested: bool,
}

/// One script call for the whole group and the given-back tokens.
async fn call(conn: &mut ConnectionManager, group: &[Pending], returns: &[Return]) -> redis::RedisResult<CallReply> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut keys: Vec<CallKey<'_>> = Vec::new();
    let mut requests: Vec<usize> = Vec::new();
    for pending in group {
        let own = pending.reply.is_some();
        if own {
            requests.push(pending.buckets.len());
        }
        for bucket in &pending.buckets {
            let i = *index.entry(bucket.key.as_str()).or_insert_with(|| {
                keys.push(CallKey {
                    bucket,
                    extra: 0,
                    back: 0,
                    requested: true,
                });
                keys.len()
            });
            let key = &mut keys[i - 1];
            key.extra = key.extra.max(bucket.extra);
            if own {
                requests.push(i);
            }
        }
    }
    for returned in returns {
        let i = *index.entry(returned.bucket.key.as_str()).or_insert_with(|| {
            keys.push(CallKey {
                bucket: &returned.bucket,
                extra: 0,
                back: 0,
                requested: false,
            });
            keys.len()
        });
        keys[i - 1].back += returned.tokens;
    }
    let mut invocation = SCRIPT.prepare_invoke();
    for key in &keys {
        invocation.key(&key.bucket.key);
    }
    for key in &keys {
        invocation
            .arg(key.bucket.interval_us)
            .arg(key.bucket.tolerance_us)
            .arg(key.bucket.ttl_ms.max(1))
            .arg(key.extra)
            .arg(key.back);
    }
    for value in requests {
        invocation.arg(value);
    }
    let raw: Vec<i64> = invocation.invoke_async(conn).await?;
    let sizes = group.iter().filter(|p| p.reply.is_some()).map(|p| p.buckets.len());
    let (decisions, tail) = parse(&raw, sizes, keys.len())?;
    let grants = keys
        .iter()
        .zip(tail)
        .filter(|(key, _)| key.requested)
        .map(|(key, grant)| (key.bucket.clone(), grant))
        .collect();
    Ok(CallReply { decisions, grants })
}

/// Splits the script's flat reply into per-request decisions and the grant of each of `keys`.
fn parse(
    raw: &[i64],
    sizes: impl Iterator<Item = usize>,
    keys: usize,
) -> redis::RedisResult<(Vec<Vec<Decision>>, Vec<Grant>)> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut rest = raw;
    let mut out = Vec::new();
    for size in sizes {
        let Some((_allowed, after)) = rest.split_first() else {
            return Err(unexpected());
        };
        if after.len() < 4 * size {
            return Err(unexpected());
        }
        let (mine, after) = after.split_at(4 * size);
        out.push(
            mine.chunks_exact(4)
                .map(|r| Decision {
                    allowed: r[0] == 1,
                    remaining: n(r[1]),
                    retry_after_ms: n(r[2]),
                    reset_ms: n(r[3]),
                })
                .collect(),
        );
        rest = after;
    }
    if rest.len() != 2 * keys {
        return Err(unexpected());
    }
    let grants = rest
        .chunks_exact(2)
        .map(|g| Grant {
            granted: n(g[0]),
            tat_ahead_us: n(g[1]),
        })
        .collect();
    Ok((out, grants))
}

fn unexpected() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Client, "unexpected rate-limit script reply"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_reply_splits_per_request() {
        let raw = [1, 1, 5, 0, 10, 0, 1, 4, 0, 9, 0, 0, 300, 1000, 7, 4_000, 0, 900];
        let (out, grants) = parse(&raw, [1, 2].into_iter(), 2).expect("well-formed");
        assert_eq!(out.len(), 2);
        assert!(out[0][0].allowed && out[0][0].remaining == 5);
        assert!(out[1][0].allowed && !out[1][1].allowed);
        assert_eq!(out[1][1].retry_after_ms, 300);
        assert_eq!(
            grants,
            [
                Grant {
                    granted: 7,
                    tat_ahead_us: 4_000
                },
                Grant {
                    granted: 0,
                    tat_ahead_us: 900
                }
            ]
        );
        assert!(
            parse(&raw, [1, 1].into_iter(), 2).is_err(),
            "leftover values are refused"
        );
        assert!(
            parse(&raw, [1, 2].into_iter(), 1).is_err(),
            "grants must match the keys"
        );
        assert!(
            parse(&raw[..5], [2].into_iter(), 0).is_err(),
            "short replies are refused"
        );
    }
}
