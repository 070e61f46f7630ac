//! Group reads of jobs: the reads that arrive while one is running are made together by the next
//! statement (`db::jobs::get_many`), whatever their tenants.
//!
//! A waiting submission reads its job again when the job's completion event arrives, and the
//! worker announces its completions in groups: the requests waiting for one group all wake at
//! once. One statement per read made each of them take a pooled connection, check it with a round
//! trip and run the same look-up; one statement per group makes the requests woken by one event
//! cost one statement, and a read that finds no other running is made at once, as before.

use std::collections::HashMap;

use dropforge_common::{
    coalesce::{Call, Coalescer},
    db::{self, jobs::JobRecord},
    domain::{JobId, TenantId},
};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::error::ApiError;

/// Most jobs read by one statement.
const MAX_GROUP: usize = 256;

type Reply = Result<Option<JobRecord>, ApiError>;
type Key = (TenantId, JobId);

/// The reads waiting for the next statement.
#[derive(Clone, Debug)]
pub struct JobReads {
    pool: PgPool,
    groups: Coalescer<(), Key, Reply>,
}

impl JobReads {
    /// Reads made on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            groups: Coalescer::new(MAX_GROUP),
        }
    }

    /// The tenant's job, read together with the reads waiting; `None` when it does not exist or
    /// belongs to another tenant (as `db::jobs::get`).
    pub async fn read(&self, tenant: TenantId, id: JobId) -> Reply {
        let pool = self.pool.clone();
        self.groups
            .call((), (tenant, id), move |(), group| read_group(pool.clone(), group))
            .await
            .map_err(|_| ApiError::Unavailable("job read stopped".into()))?
    }
}

/// One statement for the group's distinct jobs; every read of the same job gets the row.
async fn read_group(pool: PgPool, group: Vec<Call<Key, Reply>>) {
    let mut replies: HashMap<(Uuid, Uuid), Vec<oneshot::Sender<Reply>>> = HashMap::with_capacity(group.len());
    let mut keys = Vec::with_capacity(group.len());
    for Call { item, reply } in group {
        let senders = replies.entry((item.0.0, item.1.0)).or_default();
        if senders.is_empty() {
            keys.push(item);
        }
        senders.push(reply);
    }
    let rows = match db::jobs::get_many(&pool, &keys).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(jobs = keys.len(), error = %e, "job read failed");
            for reply in replies.into_values().flatten() {
                let _ = reply.send(Err(ApiError::from_db(&e)));
            }
            return;
        }
    };
    for row in rows {
        let Some(mut senders) = replies.remove(&(row.tenant_id, row.id)) else {
            continue;
        };
        let last = senders.pop();
        for reply in senders {
            let _ = reply.send(Ok(Some(row.clone())));
        }
        if let Some(reply) = last {
            let _ = reply.send(Ok(Some(row)));
        }
    }
    // No row: missing, or another tenant's.
    for reply in replies.into_values().flatten() {
        let _ = reply.send(Ok(None));
    }
}
