//! Group commit on one fixed lane: the calls made at one moment (the worker's jobs finishing, the
//! API's reads) share one statement or one Redis round trip.
//!
//! A [`Batcher`] owns a channel; each caller sends one item and awaits its answer. A background
//! task takes everything waiting in the channel (up to a limit), runs one call for the whole
//! group, and answers each caller. While a call is in flight the next group accumulates, so the
//! batch size follows the load by itself: one item per call when idle (no added latency), hundreds
//! per call under load (a fraction of the per-item cost). A few calls may run at once, so one slow
//! statement does not stall the pipeline.

use std::{fmt::Display, future::Future, sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};

/// Why a batched call produced no answer for an item.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// The group's call failed (the message of its error).
    #[error("{0}")]
    Failed(Arc<str>),
    /// The batcher's task is gone (process shutting down).
    #[error("the batcher stopped")]
    Stopped,
}

type Request<I, O> = (I, oneshot::Sender<Result<O, BatchError>>);

/// A handle to one group-commit lane; cheap to clone.
pub struct Batcher<I, O> {
    tx: mpsc::UnboundedSender<Request<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the lane: `call` gets up to `max_batch` items and must answer with exactly one output
    /// per item, in order; at most `parallel` calls run at once.
    pub fn spawn<F, Fut, E>(max_batch: usize, parallel: usize, call: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
        E: Display,
    {
        Self::spawn_lingering(max_batch, parallel, Duration::ZERO, call)
    }

    /// [`Batcher::spawn`] for a lane whose items may wait: a group is sent `linger` after its
    /// first item arrived (or once it is full), so a steady trickle of items makes one call per
    /// `linger` instead of one per item. Every item waits up to `linger` more.
    pub fn spawn_lingering<F, Fut, E>(max_batch: usize, parallel: usize, linger: Duration, call: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
        E: Display,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request<I, O>>();
        let call = Arc::new(call);
        let slots = Arc::new(Semaphore::new(parallel.max(1)));
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            loop {
                // Take a slot first: while every slot is busy, requests pile up into a bigger group.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut group = Vec::with_capacity(max_batch.min(64));
                if rx.recv_many(&mut group, max_batch).await == 0 {
                    return;
                }
                if !linger.is_zero() {
                    let deadline = Instant::now() + linger;
                    while group.len() < max_batch {
                        let room = max_batch - group.len();
                        match tokio::time::timeout_at(deadline, rx.recv_many(&mut group, room)).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                }
                let call = call.clone();
                tokio::spawn(async move {
                    let (items, replies): (Vec<I>, Vec<_>) = group.into_iter().unzip();
                    let expected = replies.len();
                    match call(items).await {
                        Ok(outputs) if outputs.len() == expected => {
                            for (reply, out) in replies.into_iter().zip(outputs) {
                                let _ = reply.send(Ok(out));
                            }
                        }
                        Ok(outputs) => {
                            let e: Arc<str> =
                                format!("batched call answered {} items for {expected}", outputs.len()).into();
                            for reply in replies {
                                let _ = reply.send(Err(BatchError::Failed(e.clone())));
                            }
                        }
                        Err(e) => {
                            let e: Arc<str> = e.to_string().into();
                            for reply in replies {
                                let _ = reply.send(Err(BatchError::Failed(e.clone())));
                            }
                        }
                    }
                    drop(slot);
                });
            }
        });
        Self { tx }
    }

    /// Sends one item and waits for its answer.
    pub async fn call(&self, item: I) -> Result<O, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).map_err(|_| BatchError::Stopped)?;
        answer.await.map_err(|_| BatchError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_calls_and_each_gets_its_own_answer() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let doubler = Batcher::spawn(100, 1, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, String>(items.into_iter().map(|i| i * 2).collect::<Vec<_>>())
            }
        });
        let answers = futures::future::join_all((0..300u32).map(|i| {
            let b = doubler.clone();
            async move { b.call(i).await }
        }))
        .await;
        for (i, a) in answers.into_iter().enumerate() {
            assert_eq!(a.ok(), Some(i as u32 * 2));
        }
        let n = calls.load(Ordering::SeqCst);
        assert!((3..=10).contains(&n), "300 concurrent items took {n} calls");
    }

    #[tokio::test]
    async fn a_lingering_lane_gathers_a_trickle_into_few_calls() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let lane = Batcher::spawn_lingering(100, 1, Duration::from_millis(50), move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, String>(items) }
        });
        // One item every 2 ms for 40 items (about 80 ms): without the linger, about 40 calls.
        let started = Instant::now();
        let mut waiting = Vec::new();
        for i in 0..40u32 {
            let b = lane.clone();
            waiting.push(tokio::spawn(async move { b.call(i).await }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for (i, w) in waiting.into_iter().enumerate() {
            assert_eq!(w.await.ok().and_then(|a| a.ok()), Some(i as u32));
        }
        let n = calls.load(Ordering::SeqCst);
        assert!(
            (2..=6).contains(&n),
            "40 items over {:?} took {n} calls",
            started.elapsed()
        );
        // A lone item waits for the linger, not longer.
        let alone = Instant::now();
        assert_eq!(lane.call(7).await.ok(), Some(7));
        let waited = alone.elapsed();
        assert!(
            waited >= Duration::from_millis(45) && waited < Duration::from_millis(1000),
            "a lone item waited {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_call_fails_every_item_of_its_group() {
        let b = Batcher::spawn(10, 2, |_items: Vec<u32>| async { Err::<Vec<u32>, _>("boom") });
        assert!(matches!(b.call(1).await, Err(BatchError::Failed(m)) if &*m == "boom"));
    }

    #[tokio::test]
    async fn a_short_answer_is_an_error_not_a_wrong_pairing() {
        let b = Batcher::spawn(10, 1, |_items: Vec<u32>| async { Ok::<_, String>(Vec::<u32>::new()) });
        assert!(matches!(b.call(1).await, Err(BatchError::Failed(_))));
    }
}
