//! Wake-ups of the worker's dispatchers, published in the background and coalesced: the requests
//! that leave jobs in PostgreSQL while one `PUBLISH` runs (or during the short gap after it) share
//! the next one, and no request waits for Redis to take it.
//!
//! Under load most single submissions are bulk (beyond the tenant's interactive allowance) and
//! each used to publish its own wake-up on the request path: 0.8 `PUBLISH` per validation in
//! 10,000 singles, each delivered to every worker's subscriber. The dispatcher itself starts at
//! most one round per 5 ms however many wake-ups arrive, so one message per [`GAP`] loses nothing.

use std::time::Duration;

use dropforge_common::queue::Queue;
use tokio::sync::mpsc;

use crate::state::RedisGuard;

/// Shortest time between two wake-ups published by one API process.
const GAP: Duration = Duration::from_millis(2);

/// The handle requests use; the publishing task ends when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct DispatchWaker {
    pending: mpsc::Sender<()>,
}

impl DispatchWaker {
    /// Starts the publishing task (on the current tokio runtime).
    pub fn spawn(queue: Queue, guard: RedisGuard) -> Self {
        // Capacity one: a wake-up raised while another is pending is the same wake-up.
        let (pending, mut raised) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while raised.recv().await.is_some() {
                // A failure is only a later pickup: the dispatcher's tick is the fallback.
                if let Err(e) = guard.call(queue.wake_dispatchers()).await {
                    tracing::debug!(error = %e, "dispatch wake-up not published; the dispatcher's tick will find the jobs");
                }
                tokio::time::sleep(GAP).await;
            }
        });
        Self { pending }
    }

    /// Asks for a wake-up; returns at once.
    pub fn wake(&self) {
        // Full: one is already pending and will cover this one. Closed: the runtime is ending.
        let _ = self.pending.try_send(());
    }
}
