//! Creating or joining jobs: the row first (PostgreSQL is the truth), then, when the kind's queue
//! has room under `DF_QUEUE_CAP`, the push; otherwise the worker's dispatcher feeds the job later.

use dropforge_common::{
    db::{self, jobs::NewJob},
    domain::{JobId, JobKind, TenantId},
    metric_names as m,
};
use serde_json::Value;
use ulid::Ulid;

use crate::{error::ApiError, state::AppState};

/// Creates or joins a job and, when the queue has room, pushes it at once (otherwise the
/// worker's dispatcher feeds it from PostgreSQL under the queue cap). A queue Redis that does not
/// answer within its deadline leaves the job to the dispatcher too: the row is the truth.
pub async fn submit(
    state: &AppState,
    tenant: TenantId,
    kind: JobKind,
    dedupe_key: String,
    input: Value,
    webhook_url: Option<String>,
    request_id: Option<String>,
) -> Result<JobId, ApiError> {
    let job = NewJob {
        tenant_id: tenant,
        kind,
        dedupe_key: Some(dedupe_key),
        input,
        webhook_url,
        request_id,
        parent_id: None,
        dispatch_as: None,
    };
    let mut jobs = [job];
    reserve_dispatch(state, &mut jobs).await;
    let created = db::jobs::create_or_join(&state.pool, &jobs[0]).await?;
    push_new(state, &jobs, &[created]).await;
    Ok(created.id())
}

/// Marks the jobs that their queue has room for to be pushed at once (a fresh task id each); the
/// others are left to the worker's dispatcher, as when Redis does not answer in time.
pub async fn reserve_dispatch(state: &AppState, jobs: &mut [NewJob]) {
    let cap = state.config.worker.queue_cap;
    for job in jobs {
        let room = state
            .room
            .reserve(&state.queue, &state.queue_redis, job.kind, cap)
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "queue depth unknown; leaving the jobs to the dispatcher");
                false
            });
        job.dispatch_as = room.then(Ulid::generate);
    }
}

/// After the commit: pushes the new jobs marked for dispatch, one Redis call per kind (a failed
/// push leaves them to the dispatcher), and counts what was pushed, deferred and joined.
pub async fn push_new(state: &AppState, jobs: &[NewJob], created: &[db::jobs::Created]) {
    let mut pushes: Vec<(JobKind, JobId, Ulid)> = Vec::new();
    for (job, created) in jobs.iter().zip(created) {
        let outcome = match (created, job.dispatch_as) {
            (db::jobs::Created::New(id), Some(task)) => {
                pushes.push((job.kind, *id, task));
                "pushed"
            }
            (db::jobs::Created::New(_), None) => "deferred",
            (db::jobs::Created::Joined(_), _) => "joined",
        };
        metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => job.kind.as_str(), "outcome" => outcome).increment(1);
    }
    for kind in JobKind::ALL {
        let batch: Vec<(JobId, Ulid)> = pushes
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, id, task)| (*id, *task))
            .collect();
        if batch.is_empty() {
            continue;
        }
        // A push that timed out may still land later: the dispatcher then pushes the job again
        // under a new task id, and the worker's guarded claim drops the duplicate delivery.
        if let Err(e) = state.queue_redis.call(state.queue.push(kind, &batch)).await {
            tracing::warn!(jobs = batch.len(), error = %e, "push failed; the dispatcher will retry");
            for (id, task) in batch {
                // If PostgreSQL fails too, the reconciler finds the dispatch that Redis never got.
                if let Err(e) = db::jobs::undo_dispatch(&state.pool, id, task).await {
                    tracing::warn!(job.id = %id, error = %e, "could not undo the dispatch; the reconciler will");
                }
            }
        }
    }
}
