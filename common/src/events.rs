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

use crate::{domain::JobId, shutdown::Shutdown};

/// The channel all completion events go to.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}:events:job-finished")
}

/// Publishes that a job reached a terminal state (best effort).
pub async fn publish_finished(conn: &ConnectionManager, prefix: &str, id: JobId) {
    let mut conn = conn.clone();
    let sent: Result<i64, _> = redis::cmd("PUBLISH")
        .arg(channel(prefix))
        .arg(id.to_string())
        .query_async(&mut conn)
        .await;
    if let Err(e) = sent {
        tracing::warn!(job.id = %id, error = %e, "could not publish job completion");
    }
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
                    if let Ok(id) = msg
                        .get_payload::<String>()
                        .map_err(|_| ())
                        .and_then(|s| s.parse::<JobId>().map_err(|_| ()))
                    {
                        self.wake(id);
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
