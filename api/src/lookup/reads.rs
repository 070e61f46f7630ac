//! Group reads of jobs: the reads that arrive while one is running are made together by the next
//! statement (`db::jobs::get_many`), whatever their tenants.
//!
//! A waiting submission reads its job again when the job's completion event arrives, and the
//! worker announces its completions in groups: the requests waiting for one group all wake at
//! once. One statement per read made each of them take a pooled connection, check it with a round
//! trip and run the same look-up; one statement per group makes the requests woken by one event
//! cost one statement, and a read that finds no other running is made at once, as before.

use std::{collections::HashMap, convert::Infallible};

use dropforge_common::{
    batching::Batcher,
    db::{self, jobs::JobRecord},
    domain::{JobId, TenantId},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

/// Most jobs read by one statement.
const MAX_GROUP: usize = 256;

type Reply = Result<Option<JobRecord>, ApiError>;
type Key = (TenantId, JobId);

/// The reads waiting for the next statement (one statement runs at a time).
#[derive(Clone)]
pub struct JobReads {
    lane: Batcher<Key, Reply>,
}

impl JobReads {
    /// Reads made on `pool` (starts the lane's task).
    pub fn new(pool: PgPool) -> Self {
        let lane = Batcher::spawn(MAX_GROUP, 1, move |keys: Vec<Key>| {
            let pool = pool.clone();
            async move { Ok::<_, Infallible>(read_group(&pool, &keys).await) }
        });
        Self { lane }
    }

    /// The tenant's job, read together with the reads waiting; `None` when it does not exist or
    /// belongs to another tenant (as `db::jobs::get`).
    pub async fn read(&self, tenant: TenantId, id: JobId) -> Reply {
        self.lane
            .call((tenant, id))
            .await
            .map_err(|e| ApiError::Unavailable(format!("job read: {e}")))?
    }
}

/// One statement for the group's distinct jobs; an answer per key, in order (a key read twice
/// gets a copy of the row).
async fn read_group(pool: &PgPool, keys: &[Key]) -> Vec<Reply> {
    let mut distinct: Vec<Key> = keys.to_vec();
    distinct.sort_unstable_by_key(|(tenant, id)| (tenant.0, id.0));
    distinct.dedup();
    match db::jobs::get_many(pool, &distinct).await {
        Ok(rows) => {
            let mut found: HashMap<(Uuid, Uuid), JobRecord> =
                rows.into_iter().map(|row| ((row.tenant_id, row.id), row)).collect();
            let mut readers: HashMap<(Uuid, Uuid), usize> = HashMap::with_capacity(distinct.len());
            for (tenant, id) in keys {
                *readers.entry((tenant.0, id.0)).or_default() += 1;
            }
            // The last reader of a row takes it, the others a copy; no row: missing, or another
            // tenant's.
            keys.iter()
                .map(|(tenant, id)| {
                    let key = (tenant.0, id.0);
                    let left = readers.get_mut(&key).map_or(0, |n| {
                        *n -= 1;
                        *n
                    });
                    Ok(if left == 0 {
                        found.remove(&key)
                    } else {
                        found.get(&key).cloned()
                    })
                })
                .collect()
        }
        Err(e) => {
            tracing::warn!(jobs = distinct.len(), error = %e, "job read failed");
            keys.iter().map(|_| Err(ApiError::from_db(&e))).collect()
        }
    }
}
