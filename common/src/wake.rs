//! Wake-ups over Redis pub/sub, so that nothing waits for a poll: every push publishes on its
//! queue's channel in the same round trip, and each worker process keeps one subscriber connection
//! that raises the [`Signal`] of that queue's poller (or of the dispatcher) at once.
//!
//! Channels: `{prefix}:wake:{queue}` (the queue name without the prefix, e.g.
//! `df:wake:queue:validation`) and `{prefix}:wake:dispatch`. A message carries nothing: it only
//! says "look now". Nothing depends on a message arriving: the pollers keep their slow tick, and
//! after every (re)connection of the subscriber every signal is raised once, for whatever was
//! published while it was away.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{StreamExt, future::BoxFuture, task::AtomicWaker};
use redis::{Cmd, Pipeline, RedisFuture, Value, aio::ConnectionLike};

use crate::{metric_names, shutdown::Shutdown};

/// The target of the dispatcher's channel.
pub const DISPATCH: &str = "dispatch";

/// Liveness check of the subscriber connection (a silent drop otherwise goes unnoticed).
const PING_EVERY: Duration = Duration::from_secs(15);
/// Deadline of connecting, subscribing and each ping.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest delay before the subscriber reconnects.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The channel of a wake-up target (a queue name or [`DISPATCH`]) under `prefix`; a queue name
/// that starts with the prefix loses it (`df:queue:validation` -> `df:wake:queue:validation`).
pub fn channel(prefix: &str, target: &str) -> String {
    let target = target
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix(':'))
        .unwrap_or(target);
    format!("{prefix}:wake:{target}")
}

/// A coalescing wake-up flag with one waiting consumer: any number of raises before the consumer
/// looks count as one.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Sets the flag and wakes the consumer.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Takes the flag if it is set; otherwise registers `cx` to be woken by the next raise.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raised.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.raised.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Resolves once the flag is set (taking it).
    pub async fn taken(&self) {
        std::future::poll_fn(|cx| self.poll_take(cx)).await;
    }
}

/// The signals of one process, by channel, each with its metric label.
#[derive(Debug, Clone, Default)]
pub struct Wakes {
    prefix: String,
    by_channel: Arc<HashMap<String, (String, Arc<Signal>)>>,
}

impl Wakes {
    /// Signals for `targets` (queue names and/or [`DISPATCH`]) under `prefix`.
    pub fn new(prefix: &str, targets: &[String]) -> Self {
        let by_channel = targets
            .iter()
            .map(|t| {
                let channel = channel(prefix, t);
                let label = channel.rsplit(':').next().unwrap_or(t).to_owned();
                (channel, (label, Arc::new(Signal::default())))
            })
            .collect();
        Self {
            prefix: prefix.to_owned(),
            by_channel: Arc::new(by_channel),
        }
    }

    /// The signal of a target, if this process listens to it.
    pub fn signal(&self, target: &str) -> Option<Arc<Signal>> {
        self.by_channel
            .get(&channel(&self.prefix, target))
            .map(|(_, s)| s.clone())
    }

    /// Raises the signal of a channel (a message arrived); unknown channels are ignored.
    fn raise_channel(&self, channel: &str) {
        if let Some((label, signal)) = self.by_channel.get(channel) {
            metrics::counter!(metric_names::QUEUE_WAKEUPS_TOTAL, "target" => label.clone()).increment(1);
            signal.raise();
        }
    }

    /// Raises every signal (after a (re)connection: messages may have been missed).
    fn raise_all(&self) {
        for (_, signal) in self.by_channel.values() {
            signal.raise();
        }
    }

    /// Keeps one subscriber connection to `redis_url` on every channel until `shutdown`,
    /// reconnecting with backoff (100 ms doubling to 5 s) whenever it fails or goes silent.
    pub async fn subscribe(self, redis_url: String, shutdown: Shutdown) {
        if self.by_channel.is_empty() {
            return;
        }
        let mut backoff = BACKOFF_MIN;
        while !shutdown.is_triggered() {
            let started = tokio::time::Instant::now();
            match self.session(&redis_url, &shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    metrics::counter!(metric_names::WAKE_SUBSCRIBER_RECONNECTS_TOTAL).increment(1);
                    tracing::warn!(error = %e, retry_in = ?backoff, "wake-up subscriber lost; polling only until it is back");
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff = BACKOFF_MIN;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.wait() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection: subscribe, raise everything once, then relay messages until an error or
    /// `shutdown` (`Ok`).
    async fn session(&self, redis_url: &str, shutdown: &Shutdown) -> Result<(), redis::RedisError> {
        let client = redis::Client::open(redis_url)?;
        let pubsub = within(client.get_async_pubsub()).await?;
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<&String> = self.by_channel.keys().collect();
        within(sink.subscribe(&channels)).await?;
        self.raise_all();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => self.raise_channel(msg.get_channel_name()),
                    None => return Err(closed("the subscriber connection closed")),
                },
                _ = ping.tick() => {
                    within(sink.ping::<Value>()).await?;
                }
                () = shutdown.wait() => return Ok(()),
            }
        }
    }
}

async fn within<T>(f: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(closed("timed out")))
}

fn closed(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, what))
}

/// A connection that sends `PUBLISH channel` right behind every command, in the same write and
/// read (one round trip): wraps the connection a push goes through, so the wake-up always follows
/// the push it announces (Redis runs one connection's commands in order).
pub struct PublishAfter<'c, C> {
    inner: &'c mut C,
    channel: &'c str,
}

impl<'c, C> PublishAfter<'c, C> {
    /// Wraps `inner`; every command sent through the wrapper is followed by a publish on `channel`.
    pub fn new(inner: &'c mut C, channel: &'c str) -> Self {
        Self { inner, channel }
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for PublishAfter<'_, C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let fut: BoxFuture<'a, redis::RedisResult<Value>> = Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.add_command(cmd.clone()).cmd("PUBLISH").arg(self.channel).arg("1");
            let mut values = self.inner.req_packed_commands(&pipe, 0, 2).await?;
            if values.is_empty() {
                return Err(closed("no reply to a published command"));
            }
            Ok(values.swap_remove(0))
        });
        fut
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Publishes one wake-up on `target`'s channel.
pub async fn publish<C: ConnectionLike + Send>(conn: &mut C, prefix: &str, target: &str) -> redis::RedisResult<()> {
    redis::cmd("PUBLISH")
        .arg(channel(prefix, target))
        .arg("1")
        .query_async::<()>(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_drop_the_prefix_of_queue_names() {
        assert_eq!(channel("df", "df:queue:validation"), "df:wake:queue:validation");
        assert_eq!(channel("df", DISPATCH), "df:wake:dispatch");
        assert_eq!(channel("dft:01", "dft:01:queue:canary"), "dft:01:wake:queue:canary");
        assert_eq!(channel("df", "dfx:queue:search"), "df:wake:dfx:queue:search");
    }

    #[test]
    fn raises_coalesce_and_wake_the_consumer() {
        let signal = Signal::default();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(signal.poll_take(&mut cx).is_pending());
        signal.raise();
        signal.raise();
        assert!(signal.poll_take(&mut cx).is_ready());
        assert!(signal.poll_take(&mut cx).is_pending(), "two raises are one wake-up");
    }

    #[test]
    fn wakes_find_their_signals() {
        let wakes = Wakes::new("df", &["df:queue:validation".to_owned(), DISPATCH.to_owned()]);
        let s = wakes.signal("df:queue:validation").expect("queue signal");
        assert!(wakes.signal("df:queue:search").is_none());
        wakes.raise_channel("df:wake:queue:validation");
        let waker = futures::task::noop_waker();
        assert!(s.poll_take(&mut Context::from_waker(&waker)).is_ready());
        assert_eq!(wakes.by_channel["df:wake:dispatch"].0, "dispatch");
        assert_eq!(wakes.by_channel["df:wake:queue:validation"].0, "validation");
    }
}
