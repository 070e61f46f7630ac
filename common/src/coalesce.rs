//! Group commit on lanes made on demand, one per key (a tenant, kind and class for job creation):
//! the calls of one lane that arrive while that lane's call runs are made together by its next call,
//! in arrival order. A fixed lane that lives as long as the process is a
//! [`crate::batching::Batcher`] (a task of its own, several calls in flight, a linger); here a lane
//! and its task exist only while it has calls, so lanes for many tenants cost nothing idle.
//!
//! A lane is present while its drain task runs; the task takes the lane's calls group by group
//! (at most `max` at a time) and removes the lane, under the same lock as the check, once none
//! waits. A call that finds no call of its lane running starts at once, so grouping costs an idle
//! system nothing and gathers more the busier the lane is. The task is spawned, so a group's work
//! runs to the end even when the caller that started it is dropped.

use std::{
    collections::{HashMap, hash_map::Entry},
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// One call waiting in a group: what it asks for and where its answer goes.
#[derive(Debug)]
pub struct Call<I, R> {
    /// What the caller asked for.
    pub item: I,
    /// The caller's answer; a dropped caller's send fails and is ignored.
    pub reply: oneshot::Sender<R>,
}

type Lanes<L, I, R> = Arc<Mutex<HashMap<L, Vec<Call<I, R>>>>>;

/// The calls waiting per lane.
pub struct Coalescer<L, I, R> {
    lanes: Lanes<L, I, R>,
    max: usize,
}

impl<L, I, R> Clone for Coalescer<L, I, R> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
            max: self.max,
        }
    }
}

impl<L, I, R> std::fmt::Debug for Coalescer<L, I, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").field("max", &self.max).finish()
    }
}

/// The drain task ended before its lane was empty (a panic, the runtime shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the group's task stopped before answering")]
pub struct Stopped;

impl<L, I, R> Coalescer<L, I, R>
where
    L: Hash + Eq + Clone + Send + 'static,
    I: Send + 'static,
    R: Send + 'static,
{
    /// Groups of at most `max` calls.
    pub fn new(max: usize) -> Self {
        Self {
            lanes: Arc::default(),
            max: max.max(1),
        }
    }

    /// Makes `item`'s call in `lane` together with the calls waiting there: `run` gets each
    /// group and must answer every call in it. When a call of the lane runs already, the `run`
    /// given here is not used (the running task's serves the lane).
    pub async fn call<F, Fut>(&self, lane: L, item: I, run: F) -> Result<R, Stopped>
    where
        F: Fn(L, Vec<Call<I, R>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start_drain = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            match lanes.entry(lane.clone()) {
                Entry::Occupied(mut waiting) => {
                    waiting.get_mut().push(Call { item, reply });
                    false
                }
                Entry::Vacant(slot) => {
                    slot.insert(vec![Call { item, reply }]);
                    true
                }
            }
        };
        if start_drain {
            tokio::spawn(self.clone().drain(lane, run));
        }
        answer.await.map_err(|_| Stopped)
    }

    /// Runs the lane's groups until no call waits.
    async fn drain<F, Fut>(self, lane: L, run: F)
    where
        F: Fn(L, Vec<Call<I, R>>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut close = CloseLane {
            lanes: self.lanes.clone(),
            lane: Some(lane.clone()),
        };
        loop {
            let group: Vec<Call<I, R>> = {
                let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
                match lanes.get_mut(&lane) {
                    Some(waiting) if !waiting.is_empty() => {
                        let n = waiting.len().min(self.max);
                        waiting.drain(..n).collect()
                    }
                    _ => {
                        // Under the same lock as the check: a call arriving now finds no lane
                        // and starts a drain of its own.
                        lanes.remove(&lane);
                        close.lane = None;
                        return;
                    }
                }
            };
            run(lane.clone(), group).await;
        }
    }
}

/// Removes a lane whose drain task ends before the lane is empty: a lane left behind would
/// collect calls that no task serves. Its calls are dropped and answer [`Stopped`].
struct CloseLane<L: Hash + Eq, I, R> {
    lanes: Lanes<L, I, R>,
    lane: Option<L>,
}

impl<L: Hash + Eq, I, R> Drop for CloseLane<L, I, R> {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.remove(&lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Sums its group's items after a pause; answers each call with (its item, group size).
    async fn slow_group(_lane: u8, group: Vec<Call<u32, (u32, usize)>>) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = group.len();
        for call in group {
            let _ = call.reply.send((call.item, n));
        }
    }

    #[tokio::test]
    async fn calls_arriving_during_a_call_go_together() {
        let groups = Coalescer::new(100);
        let first = tokio::spawn({
            let groups = groups.clone();
            async move { groups.call(0u8, 0u32, slow_group).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let rest: Vec<_> = (1..=10u32)
            .map(|i| {
                let groups = groups.clone();
                tokio::spawn(async move { groups.call(0u8, i, slow_group).await })
            })
            .collect();
        assert_eq!(
            first.await.expect("join"),
            Ok((0, 1)),
            "an idle lane runs a call at once"
        );
        for (i, call) in (1..=10u32).zip(rest) {
            assert_eq!(
                call.await.expect("join"),
                Ok((i, 10)),
                "the ten that waited go in one group"
            );
        }
        assert!(
            groups.lanes.lock().expect("lock").is_empty(),
            "a drained lane is removed"
        );
    }

    #[tokio::test]
    async fn groups_are_bounded_and_lanes_independent() {
        let groups = Coalescer::new(3);
        let calls: Vec<_> = (0..7u32)
            .map(|i| {
                let groups = groups.clone();
                tokio::spawn(async move { groups.call(u8::from(i == 6), i, slow_group).await })
            })
            .collect();
        let mut sizes = Vec::new();
        for call in calls {
            sizes.push(call.await.expect("join").expect("answered").1);
        }
        assert!(sizes.iter().all(|&n| n <= 3), "at most 3 per group: {sizes:?}");
        assert_eq!(sizes[6], 1, "lane 1 runs alone");
    }

    #[tokio::test]
    async fn a_group_that_drops_its_calls_answers_stopped_and_frees_the_lane() {
        let groups: Coalescer<u8, u32, u32> = Coalescer::new(10);
        let dropped = groups.call(0, 1, |_, group| async move { drop(group) }).await;
        assert_eq!(dropped, Err(Stopped));
        let answered = groups
            .call(0, 2, |_, group: Vec<Call<u32, u32>>| async move {
                for call in group {
                    let _ = call.reply.send(call.item * 10);
                }
            })
            .await;
        assert_eq!(answered, Ok(20));
    }
}
