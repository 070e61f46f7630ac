//! Group commit of single submissions: the submissions of one tenant and kind that arrive while
//! that tenant and kind's creating statement runs are created together by the next statement
//! (`db::jobs::create_group`), in arrival order.
//!
//! The statement updates the tenant's scheduling row (its fair-dispatch tag and queued counter).
//! One statement per submission made a thousand concurrent submissions of one tenant queue on that
//! row's lock inside PostgreSQL, each holding a pooled connection; one statement per group keeps a
//! single statement per tenant and kind at the row, and a burst costs one statement per group.

use std::collections::HashMap;

use dropforge_common::{
    coalesce::{Call, Coalescer},
    db::{
        self,
        jobs::{CreateError, Created, NewJob},
    },
    domain::{JobClass, JobKind, TenantId},
};
use sqlx::PgPool;

use crate::error::ApiError;

use super::submit::count_quota;

/// Most submissions created by one statement.
const MAX_GROUP: usize = 256;

type Lane = (TenantId, JobKind, JobClass);
type Reply = Result<Created, ApiError>;

/// The submissions waiting per tenant, kind and class: each lane has at most one statement
/// running, and the submissions arriving meanwhile go in its next one.
#[derive(Clone)]
pub struct CreateGroups {
    pool: PgPool,
    groups: Coalescer<Lane, NewJob, Reply>,
}

impl CreateGroups {
    /// Groups that create on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            groups: Coalescer::new(MAX_GROUP),
        }
    }

    /// Creates or joins `job` together with the submissions of the same tenant and kind that are
    /// waiting; answers as `db::jobs::create_or_join` would for it alone.
    pub async fn create(&self, job: NewJob) -> Reply {
        let lane = (job.tenant_id, job.kind, job.requested_class());
        let pool = self.pool.clone();
        self.groups
            .call(lane, job, move |_, group| create_one_group(pool.clone(), group))
            .await
            .map_err(|_| ApiError::Unavailable("job creation stopped".into()))?
    }
}

/// One statement for the group's distinct submissions; a repeated `dedupe_key` joins the job its
/// first submission created.
async fn create_one_group(pool: PgPool, group: Vec<Call<NewJob, Reply>>) {
    let mut distinct: Vec<NewJob> = Vec::with_capacity(group.len());
    let mut first_of: HashMap<String, usize> = HashMap::new();
    // For each waiter: its job's slot in `distinct`, and whether it repeats an earlier key.
    let mut slots: Vec<(usize, bool)> = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    for Call { item: job, reply } in group {
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
    let outcome = match pool.acquire().await {
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
