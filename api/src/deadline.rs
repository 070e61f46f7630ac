//! Deadlines in the runtime's time. On a saturated API every task waits for its turn behind every
//! connection's task, tens of milliseconds, the Redis connection's reader among them: a call whose
//! deadline expires then may have had its answer in the socket for most of that time. [`within`]
//! gives such a call more time, up to a backstop; on a runtime that keeps up, the deadline is the
//! clock's, so a stalled Redis is still detected in `timeout`.

use std::{
    future::Future,
    task::Poll,
    time::{Duration, Instant},
};

/// `future`'s output if it finishes within `timeout`, or later while the runtime is far behind
/// (a turn at the back of its queue takes a fifth of `timeout` or more), but never later than
/// `backstop`; `None` when it runs out of time.
pub async fn within<F: Future>(timeout: Duration, backstop: Duration, future: F) -> Option<F::Output> {
    let started = Instant::now();
    tokio::pin!(future);
    let mut deadline = started + timeout;
    loop {
        if let Ok(output) = tokio::time::timeout_at(deadline.into(), future.as_mut()).await {
            return Some(output);
        }
        let asked = Instant::now();
        tokio::task::yield_now().await;
        let behind = asked.elapsed();
        if let Poll::Ready(output) = futures::poll!(future.as_mut()) {
            return Some(output);
        }
        let now = Instant::now();
        if behind < timeout / 5 || now.duration_since(started) >= backstop {
            return None;
        }
        deadline = now + timeout;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_call_times_out_on_a_runtime_that_keeps_up() {
        let started = Instant::now();
        let out = within(
            Duration::from_millis(50),
            Duration::from_secs(5),
            std::future::pending::<()>(),
        )
        .await;
        assert!(out.is_none());
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_runtime_far_behind_extends_the_deadline_up_to_the_backstop() {
        // Another task keeps the only thread busy for 30 ms at a time: every turn is late.
        let hog = tokio::spawn(async {
            loop {
                std::thread::sleep(Duration::from_millis(30));
                tokio::task::yield_now().await;
            }
        });
        let started = Instant::now();
        let answered = within(Duration::from_millis(50), Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            7
        })
        .await;
        assert_eq!(
            answered,
            Some(7),
            "an answer within the backstop while the runtime lags"
        );
        let stalled = within(
            Duration::from_millis(50),
            Duration::from_millis(300),
            std::future::pending::<()>(),
        )
        .await;
        assert!(stalled.is_none());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
        hog.abort();
    }
}
