//! The worker's group-commit lanes: claims, plain completions and completion events of the jobs
//! running at one moment go to PostgreSQL and Redis together (see [`dropforge_common::batching`]).

use std::{collections::HashMap, time::Duration};

use dropforge_common::{
    cache::Cache,
    db,
    db::{
        jobs::Claimed,
        results::{Completion, OwnedResult},
    },
    domain::JobId,
    events,
};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use uuid::Uuid;

use dropforge_common::batching::Batcher;

/// Most items in one statement or one event message.
const MAX_GROUP: usize = 512;
/// Calls of one lane in flight at once (each holds a pool connection while it runs).
const PARALLEL: usize = 2;
/// How long the result lane gathers finished validations before it stores them. Without it two
/// calls in flight took whatever had arrived, 2.25 results per statement under full load (8,874
/// statements for 20,000 validations), each a transaction with its own locks and commit; with it,
/// 4.5 per statement. At 2 ms, batches from 8 clients (about 530 validations/s, 400 in flight)
/// still stored 2.8 results per statement, and each statement costs about 0.29 ms whatever its size
/// (opening `jobs` and its indexes) against 0.04 ms per row; at 10 ms, 7.2 per statement, and
/// PostgreSQL's CPU per batch validation fell from 0.66-0.71 to 0.51-0.58 ms (singles: 15 and 27
/// per statement, no change in CPU or p99). A validation's answer comes at most this much later.
const RESULT_LINGER: Duration = Duration::from_millis(10);
/// How long the result lane of bulk jobs (batch children) gathers. Their clients wait for the
/// batch, which ends after all of its children, not for one child; at one batch per client
/// (about 450 validations/s) the 10 ms of the interactive lane stored six results per statement
/// at 0.76 ms each, and 30 ms stores about 27 (README, "Job cost, fourteenth pass").
const BULK_RESULT_LINGER: Duration = Duration::from_millis(30);
/// How long the batch lane gathers ended children before it asks whether their batches are done.
/// Every ended child otherwise made its own transaction, and its check reads the batch's open
/// items: with 8 batches of 50 in flight, 4,083 calls for 10,000 children. A batch finishes at
/// most this much later.
const BATCH_LINGER: Duration = Duration::from_millis(10);
/// How long the cache-write and completion-event lanes gather. The jobs of one result group reach
/// them within microseconds of each other, but without a linger the first of them left alone
/// and the rest in a second call: at batch load (about 500 validations/s) 0.9 `PUBLISH` per
/// validation. A waiting request hears of its job at most this much later.
const SIGNAL_LINGER: Duration = Duration::from_millis(1);

/// Runs `call` again (up to three times in all) when PostgreSQL aborted it as a deadlock victim or
/// a serialization failure: the whole group would otherwise fail and wait for its leases to lapse.
async fn retrying<T, F, Fut>(call: F) -> Result<T, sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match call().await {
            Err(e) if tries < 3 && is_retryable(&e) => {
                tracing::debug!(error = %e, "group statement aborted; running it again");
            }
            other => return other,
        }
    }
}

/// Deadlock (`40P01`) or serialization failure (`40001`).
fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

/// The lanes of one worker process.
#[derive(Clone)]
pub struct Lanes {
    /// Claims: `Some` when this delivery won the job (a duplicate in the same group gets `None`).
    pub claims: Batcher<Uuid, Option<Claimed>>,
    /// Plain completions (no result row): true when this process still held the job.
    pub successes: Batcher<Uuid, bool>,
    /// Completion events for `Prefer: wait` requests; one message per group.
    pub events: Batcher<JobId, ()>,
    /// Validation results without a webhook: result row and job state, one statement per group.
    pub validations: Batcher<OwnedResult, Completion>,
    /// The same for bulk jobs (batch children), gathered longer ([`BULK_RESULT_LINGER`]).
    pub bulk_validations: Batcher<OwnedResult, Completion>,
    /// Cache writes (key, value, TTL): one pipeline per group; a failed write only costs a miss.
    pub cache_sets: Batcher<(String, Vec<u8>, Duration), ()>,
    /// Batch children that ended: their batches finish (or start running) in one transaction.
    pub batch_children: Batcher<Uuid, ()>,
}

impl Lanes {
    /// Starts the lanes for `owner` (the lease owner name of this process).
    pub fn start(
        pool: PgPool,
        events_conn: ConnectionManager,
        cache: Cache,
        prefix: String,
        owner: String,
        lease: Duration,
    ) -> Self {
        let claims = {
            let (pool, owner) = (pool.clone(), owner.clone());
            Batcher::spawn(MAX_GROUP, PARALLEL, move |ids: Vec<Uuid>| {
                let (pool, owner) = (pool.clone(), owner.clone());
                async move {
                    let rows = retrying(|| db::jobs::claim_many(&pool, &ids, &owner, lease)).await?;
                    let mut won: HashMap<Uuid, Claimed> = rows.into_iter().map(|r| (r.id, r.job)).collect();
                    // The first delivery of an id takes the claim; a duplicate in the same group is dropped.
                    Ok::<_, sqlx::Error>(ids.iter().map(|id| won.remove(id)).collect::<Vec<_>>())
                }
            })
        };
        let results_lane = |linger: Duration| {
            let (pool, owner) = (pool.clone(), owner.clone());
            Batcher::spawn_lingering(MAX_GROUP, PARALLEL, linger, move |rows: Vec<OwnedResult>| {
                let (pool, owner) = (pool.clone(), owner.clone());
                async move { retrying(|| db::results::complete_validations(&pool, &rows, &owner)).await }
            })
        };
        let validations = results_lane(RESULT_LINGER);
        let bulk_validations = results_lane(BULK_RESULT_LINGER);
        let cache_sets = Batcher::spawn_lingering(
            MAX_GROUP,
            PARALLEL,
            SIGNAL_LINGER,
            move |entries: Vec<(String, Vec<u8>, Duration)>| {
                let cache = cache.clone();
                async move {
                    if let Err(e) = cache.set_many(&entries).await {
                        tracing::warn!(entries = entries.len(), error = %e, "cache writes failed (PostgreSQL has the results)");
                    }
                    Ok::<_, std::convert::Infallible>(vec![(); entries.len()])
                }
            },
        );
        let batch_children = {
            let (pool, conn, prefix) = (pool.clone(), events_conn.clone(), prefix.clone());
            Batcher::spawn_lingering(MAX_GROUP, 1, BATCH_LINGER, move |children: Vec<Uuid>| {
                let (pool, conn, prefix) = (pool.clone(), conn.clone(), prefix.clone());
                async move {
                    retrying(|| crate::batch_state::after_children(&pool, &conn, &prefix, &children)).await?;
                    Ok::<_, sqlx::Error>(vec![(); children.len()])
                }
            })
        };
        let successes = Batcher::spawn(MAX_GROUP, PARALLEL, move |ids: Vec<Uuid>| {
            let (pool, owner) = (pool.clone(), owner.clone());
            async move {
                let done: std::collections::HashSet<Uuid> = retrying(|| db::jobs::succeed_many(&pool, &ids, &owner))
                    .await?
                    .into_iter()
                    .collect();
                Ok::<_, sqlx::Error>(ids.iter().map(|id| done.contains(id)).collect::<Vec<_>>())
            }
        });
        let events = Batcher::spawn_lingering(MAX_GROUP, PARALLEL, SIGNAL_LINGER, move |ids: Vec<JobId>| {
            let (conn, prefix) = (events_conn.clone(), prefix.clone());
            async move {
                events::publish_many(&conn, &prefix, &ids).await;
                Ok::<_, std::convert::Infallible>(vec![(); ids.len()])
            }
        });
        Self {
            claims,
            successes,
            events,
            validations,
            bulk_validations,
            cache_sets,
            batch_children,
        }
    }
}
