//! Group commit: the jobs running at one moment share one statement or one Redis round trip.
//!
//! A [`Batcher`] owns a channel; each caller sends one item and awaits its answer. A background
//! task takes everything waiting in the channel (up to a limit), runs one call for the whole
//! group, and answers each caller. While a call is in flight the next group accumulates, so the
//! batch size follows the load by itself: one item per call when idle (no added latency), hundreds
//! per call under load (a fraction of the per-item cost). A few calls may run at once, so one slow
//! statement does not stall the pipeline.

use std::{fmt::Display, future::Future, sync::Arc};

use tokio::sync::{Semaphore, mpsc, oneshot};

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
