//! Group commit of single submissions: the submissions of one tenant and kind that arrive while
//! that tenant and kind's creating statement runs are created together by the next statement
//! (`db::jobs::create_group`), in arrival order.
//!
//! The statement updates the tenant's scheduling row (its fair-dispatch tag and queued counter).
//! One statement per submission made a thousand concurrent submissions of one tenant queue on that
//! row's lock inside PostgreSQL, each holding a pooled connection; one statement per group keeps a
//! single statement per tenant and kind at the row, and a burst costs one statement per group.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex},
};

use dropforge_common::{
    db::{
        self,
        jobs::{CreateError, Created, NewJob},
    },
    domain::{JobClass, JobKind, TenantId},
};
use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::error::ApiError;

use super::submit::count_quota;

/// Most submissions created by one statement.
const MAX_GROUP: usize = 256;

type Lane = (TenantId, JobKind, JobClass);
type Reply = Result<Created, ApiError>;

struct Waiter {
    job: NewJob,
    reply: oneshot::Sender<Reply>,
}

/// Removes a lane whose drain task ends before the lane is empty (a panic, or the runtime
/// shutting down): a lane left behind would collect submissions that no task serves. Its waiters
/// are dropped and answer 503.
struct CloseLane {
    lanes: Arc<Mutex<HashMap<Lane, Vec<Waiter>>>>,
    lane: Lane,
    armed: bool,
}

impl Drop for CloseLane {
    fn drop(&mut self) {
        if self.armed {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.remove(&self.lane);
        }
    }
}

/// The submissions waiting per tenant, kind and class. A lane is present while its drain task
/// runs; that task takes the lane's waiters group by group and removes the lane when none is left.
#[derive(Clone)]
pub struct CreateGroups {
    pool: PgPool,
    lanes: Arc<Mutex<HashMap<Lane, Vec<Waiter>>>>,
}

impl CreateGroups {
    /// Groups that create on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            lanes: Arc::default(),
        }
    }

    /// Creates or joins `job` together with the submissions of the same tenant and kind that are
    /// waiting; answers as `db::jobs::create_or_join` would for it alone.
    pub async fn create(&self, job: NewJob) -> Reply {
        let lane = (job.tenant_id, job.kind, job.requested_class());
        let (reply, answer) = oneshot::channel();
        let start_drain = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            match lanes.entry(lane) {
                Entry::Occupied(mut waiting) => {
                    waiting.get_mut().push(Waiter { job, reply });
                    false
                }
                Entry::Vacant(slot) => {
                    slot.insert(vec![Waiter { job, reply }]);
                    true
                }
            }
        };
        if start_drain {
            // A task of its own: the group's statement runs to the end even when the request
            // that started it is dropped, and every waiter gets its answer.
            tokio::spawn(self.clone().drain(lane));
        }
        answer
            .await
            .map_err(|_| ApiError::Unavailable("job creation stopped".into()))?
    }

    /// Runs the lane's statements until no submission waits.
    async fn drain(self, lane: Lane) {
        let mut close = CloseLane {
            lanes: self.lanes.clone(),
            lane,
            armed: true,
        };
        loop {
            let group: Vec<Waiter> = {
                let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
                match lanes.get_mut(&lane) {
                    Some(waiting) if !waiting.is_empty() => {
                        let n = waiting.len().min(MAX_GROUP);
                        waiting.drain(..n).collect()
                    }
                    _ => {
                        // Under the same lock as the check: a submission arriving now finds no
                        // lane and starts a drain of its own.
                        lanes.remove(&lane);
                        close.armed = false;
                        return;
                    }
                }
            };
            self.create_one_group(group).await;
        }
    }

    /// One statement for the group's distinct submissions; a repeated `dedupe_key` joins the job
    /// its first submission created.
    async fn create_one_group(&self, group: Vec<Waiter>) {
        let mut distinct: Vec<NewJob> = Vec::with_capacity(group.len());
        let mut first_of: HashMap<String, usize> = HashMap::new();
        // For each waiter: its job's slot in `distinct`, and whether it repeats an earlier key.
        let mut slots: Vec<(usize, bool)> = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        for Waiter { job, reply } in group {
            replies.push(reply);
            if let Some(&slot) = job.dedupe_key.as_ref().and_then(|k| first_of.get(k)) {
                slots.push((slot, true));
                continue;
            }
            if let Some(key) = &job.dedupe_key {
                first_of.insert(key.clone(), distinct.len());
            }
            slots.push((distinct.len(), false));
            distinct.push(job);
        }
        let outcome = match self.pool.acquire().await {
            Ok(mut conn) => db::jobs::create_group(&mut conn, &distinct, false).await,
            Err(e) => Err(e),
        };
        let answers = match outcome {
            Ok(answers) => answers,
            Err(e) => {
                tracing::warn!(jobs = distinct.len(), error = %e, "job creation failed");
                for reply in replies {
                    let _ = reply.send(Err(ApiError::from_db(&e)));
                }
                return;
            }
        };
        for (reply, (slot, repeat)) in replies.into_iter().zip(slots) {
            let job = &distinct[slot];
            let answer = match answers.get(slot) {
                Some(Ok(created)) if repeat => Ok(Created::Joined(created.id())),
                Some(Ok(created)) => Ok(*created),
                Some(Err(full)) => Err(CreateError::BacklogFull(full.clone())),
                None => Err(CreateError::Db(sqlx::Error::Protocol(
                    "job creation answered nothing".into(),
                ))),
            };
            let _ = reply.send(count_quota(job.tenant_id, job.requested_class(), answer));
        }
    }
}
