//! Group commit of rate-limit decisions: requests that arrive while a decision call is in flight
//! are decided together by the next call of `gcra_batch.lua`, in arrival order. Redis still takes
//! every decision atomically against the shared buckets, so the limit stays exact across replicas;
//! a burst costs one round trip per group instead of one per request. A few calls may be in flight
//! at once (pipelined on the one connection), so a slow wake-up of this task under load does not
//! cap the request rate at one group per round trip.
//!
//! A call's deadline is measured from when it is sent, in the runtime's time ([`bounded_call`]).

use std::{collections::HashMap, sync::LazyLock, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::fallback::Decision;

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("gcra_batch.lua")));

/// Most requests decided by one script call.
const MAX_GROUP: usize = 256;
/// Script calls in flight at once.
const MAX_IN_FLIGHT: usize = 4;
/// Longest a script call may take while the runtime is saturated ([`bounded_call`]).
const CALL_BACKSTOP: Duration = Duration::from_millis(500);
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
/// The decisions of a whole group, per request.
type GroupReply = Result<Vec<Vec<Decision>>, DecideError>;

struct Pending {
    buckets: Vec<Bucket>,
    reply: oneshot::Sender<Reply>,
}

/// Handle to the decision task of one API process.
#[derive(Clone)]
pub(crate) struct Decider {
    tx: mpsc::Sender<Pending>,
}

impl Decider {
    /// Starts the decision task on the current runtime; each script call is bounded by `timeout`
    /// of the runtime's time ([`bounded_call`]).
    pub(crate) fn spawn(conn: ConnectionManager, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(conn, rx, timeout));
        Self { tx }
    }

    /// The decision for each of `buckets` (in order), taken with whatever requests are waiting.
    pub(crate) async fn decide(&self, buckets: Vec<Bucket>) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { buckets, reply })
            .await
            .map_err(|_| DecideError::Stopped)?;
        answer.await.map_err(|_| DecideError::Stopped)?
    }
}

async fn run(conn: ConnectionManager, mut rx: mpsc::Receiver<Pending>, timeout: Duration) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        let mut group = Vec::new();
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            received = rx.recv_many(&mut group, MAX_GROUP), if in_flight.len() < MAX_IN_FLIGHT => {
                if received == 0 {
                    break;
                }
                in_flight.push(decide_group(conn.clone(), group, timeout));
            }
        }
    }
    while in_flight.next().await.is_some() {}
}

/// Decides one group and answers each of its requests. Requests whose caller already gave up are
/// decided too: their place in the order was fixed when they arrived.
async fn decide_group(mut conn: ConnectionManager, group: Vec<Pending>, timeout: Duration) {
    match bounded_call(&mut conn, &group, timeout).await {
        Ok(decisions) => {
            for (pending, decided) in group.into_iter().zip(decisions) {
                let _ = pending.reply.send(Ok(decided));
            }
        }
        Err(e) => {
            for pending in group {
                let _ = pending.reply.send(Err(e.clone()));
            }
        }
    }
}

/// [`call`] within `timeout` from when it is sent, in the runtime's time ([`crate::deadline`]).
async fn bounded_call(conn: &mut ConnectionManager, group: &[Pending], timeout: Duration) -> GroupReply {
    match crate::deadline::within(timeout, CALL_BACKSTOP, call(conn, group)).await {
        Some(Ok(decisions)) => Ok(decisions),
        Some(Err(e)) => Err(DecideError::Redis(e.to_string())),
        None => Err(DecideError::Timeout),
    }
}

/// One script call for the whole group; the decisions per request, in the group's order.
async fn call(conn: &mut ConnectionManager, group: &[Pending]) -> redis::RedisResult<Vec<Vec<Decision>>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut keys: Vec<&Bucket> = Vec::new();
    let mut requests: Vec<usize> = Vec::new();
    for pending in group {
        requests.push(pending.buckets.len());
        for bucket in &pending.buckets {
            let i = *index.entry(bucket.key.as_str()).or_insert_with(|| {
                keys.push(bucket);
                keys.len()
            });
            requests.push(i);
        }
    }
    let mut invocation = SCRIPT.prepare_invoke();
    for bucket in &keys {
        invocation.key(&bucket.key);
    }
    for bucket in &keys {
        invocation
            .arg(bucket.interval_us)
            .arg(bucket.tolerance_us)
            .arg(bucket.ttl_ms.max(1));
    }
    for value in requests {
        invocation.arg(value);
    }
    let raw: Vec<i64> = invocation.invoke_async(conn).await?;
    parse(&raw, group.iter().map(|p| p.buckets.len()))
}

/// Splits the script's flat reply into per-request decisions.
fn parse(raw: &[i64], sizes: impl Iterator<Item = usize>) -> redis::RedisResult<Vec<Vec<Decision>>> {
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
    if rest.is_empty() { Ok(out) } else { Err(unexpected()) }
}

fn unexpected() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Client, "unexpected rate-limit script reply"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_reply_splits_per_request() {
        let raw = [1, 1, 5, 0, 10, 0, 1, 4, 0, 9, 0, 0, 300, 1000];
        let out = parse(&raw, [1, 2].into_iter()).expect("well-formed");
        assert_eq!(out.len(), 2);
        assert!(out[0][0].allowed && out[0][0].remaining == 5);
        assert!(out[1][0].allowed && !out[1][1].allowed);
        assert_eq!(out[1][1].retry_after_ms, 300);
        assert!(parse(&raw, [1, 1].into_iter()).is_err(), "leftover values are refused");
        assert!(parse(&raw[..5], [2].into_iter()).is_err(), "short replies are refused");
    }
}
