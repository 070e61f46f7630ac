//! Job completion events over Redis pub/sub: workers publish, API processes wake waiting requests.
//!
//! Events are hints, not the truth: a waiter that misses one re-reads PostgreSQL on a timer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use crate::{contract::JobsFinished, domain::JobId, shutdown::Shutdown};

/// The channel all completion events go to.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}:events:job-finished")
}

/// Publishes that a job reached a terminal state (best effort).
pub async fn publish_finished(conn: &ConnectionManager, prefix: &str, id: JobId) {
    publish_many(conn, prefix, &[id]).await;
}

/// Publishes that several jobs reached a terminal state, as one message ([`JobsFinished`]: the
/// ids separated by commas; best effort). One `PUBLISH` for a whole group of completions keeps Redis' share of a
/// job small when thousands finish per second.
pub async fn publish_many(conn: &ConnectionManager, prefix: &str, ids: &[JobId]) {
    if ids.is_empty() {
        return;
    }
    let payload = JobsFinished(ids).encode();
    let mut conn = conn.clone();
    let sent: Result<i64, _> = redis::cmd("PUBLISH")
        .arg(channel(prefix))
        .arg(payload)
        .query_async(&mut conn)
        .await;
    if let Err(e) = sent {
        tracing::warn!(jobs = ids.len(), error = %e, "could not publish job completions");
    }
}

/// The job ids of one event message (one id, or several separated by commas); junk is skipped.
pub fn parse_event(payload: &str) -> impl Iterator<Item = JobId> + '_ {
    JobsFinished::decode(payload)
}

/// In-process registry of requests waiting for jobs, fed by one pub/sub subscription.
#[derive(Clone, Default)]
pub struct Waiters {
    inner: Arc<Mutex<HashMap<JobId, Arc<Notify>>>>,
}

/// A registered interest in one job; unregisters on drop.
pub struct Waiter {
    id: JobId,
    notify: Arc<Notify>,
    waiters: Waiters,
}

impl Waiters {
    /// Registers interest in `id` (call before reading the job's state, so no event is missed).
    pub fn register(&self, id: JobId) -> Waiter {
        let notify = {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(id).or_insert_with(|| Arc::new(Notify::new())).clone()
        };
        Waiter {
            id,
            notify,
            waiters: self.clone(),
        }
    }

    fn wake(&self, id: JobId) {
        let notify = self.inner.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// Subscribes to completion events until `shutdown`, reconnecting with backoff.
    pub async fn run_subscriber(self, redis_url: String, prefix: String, shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let client = redis::Client::open(redis_url.as_str())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(channel(&prefix)).await?;
                tracing::debug!("subscribed to job completion events");
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    if let Ok(payload) = msg.get_payload::<String>() {
                        for id in parse_event(&payload) {
                            self.wake(id);
                        }
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                r = session => match r {
                    Ok(()) => tracing::warn!("job event subscription ended; resubscribing"),
                    Err(e) => tracing::warn!(error = %e, "job event subscription failed; resubscribing"),
                },
                () = shutdown.wait() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.wait() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

impl Waiter {
    /// A future that completes on the next event; create it *before* checking the job's state.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.waiters.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Two references left (the map's and ours) means we were the last waiter.
        if map.get(&self.id).is_some_and(|n| Arc::strong_count(n) <= 2) {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_messages_carry_one_or_many_ids() {
        let (a, b) = (JobId::generate(), JobId::generate());
        assert_eq!(parse_event(&a.to_string()).collect::<Vec<_>>(), vec![a]);
        assert_eq!(parse_event(&format!("{a},{b}")).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(parse_event(&format!("junk,{b},")).collect::<Vec<_>>(), vec![b]);
    }
}
