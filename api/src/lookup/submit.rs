//! Creating or joining jobs: the row first (PostgreSQL is the truth, and the statement tags it for
//! fair dispatch), then, for interactive work whose queue has room under `DF_QUEUE_CAP`, the push;
//! otherwise the worker's dispatcher feeds the job later, in tag order. Bulk work (batch children,
//! a tenant's singles beyond its interactive allowance) always goes through the dispatcher.

use dropforge_common::{
    db::{
        self,
        jobs::{CreateError, Created, NewJob},
    },
    domain::{JobClass, JobId, JobKind, TenantId},
    metric_names as m,
};
use serde_json::Value;
use ulid::Ulid;

use crate::{error::ApiError, state::AppState};

/// Creates or joins a job (grouped with the tenant's concurrent submissions of the kind, see
/// [`super::group`]) and, when the queue has room, pushes it at once (otherwise the worker's
/// dispatcher feeds it from PostgreSQL under the queue cap). A queue Redis that does not
/// answer within its deadline leaves the job to the dispatcher too: the row is the truth.
pub async fn submit(
    state: &AppState,
    tenant: TenantId,
    kind: JobKind,
    dedupe_key: String,
    input: Value,
    webhook_url: Option<String>,
    request_id: Option<String>,
) -> Result<Created, ApiError> {
    let dispatch_as = reserve_dispatch(state, kind).await;
    let job = NewJob {
        tenant_id: tenant,
        kind,
        dedupe_key: Some(dedupe_key),
        input,
        webhook_url,
        request_id,
        parent_id: None,
        dispatch_as,
    };
    let created = state.create_groups.create(job).await?;
    push_new(state, &[(kind, dispatch_as)], &[created]).await;
    Ok(created)
}

/// Counts a creation against the tenant's quota in `dropforge_tenant_refused_total{tenant,class}`:
/// a refusal adds one and its answer is returned; an accepted creation adds zero, so every tenant
/// that submits has the series before its first refusal (rates and alerts need it).
pub fn count_quota<T>(tenant: TenantId, class: JobClass, result: Result<T, CreateError>) -> Result<T, ApiError> {
    let refused =
        metrics::counter!(m::TENANT_REFUSED_TOTAL, "tenant" => tenant.0.to_string(), "class" => class.as_str());
    match result {
        Ok(created) => {
            refused.increment(0);
            Ok(created)
        }
        Err(e) => {
            if let CreateError::BacklogFull(full) = &e {
                tracing::info!(tenant = %tenant.0, queued = full.queued, max_queued = full.max_queued,
                    requested = full.requested, "submission refused: tenant backlog full");
                refused.increment(1);
            }
            Err(e.into())
        }
    }
}

/// A fresh task id when the queue of `kind` has room for a job to be pushed at once; `None` leaves
/// it to the worker's dispatcher, as when Redis does not answer in time.
pub async fn reserve_dispatch(state: &AppState, kind: JobKind) -> Option<Ulid> {
    let room = state
        .room
        .reserve(&state.queue, &state.queue_redis, kind, state.config.worker.queue_cap)
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, "queue depth unknown; leaving the job to the dispatcher");
            false
        });
    room.then(Ulid::generate)
}

/// After the commit: pushes the new jobs marked for dispatch (each job's kind and `dispatch_as`,
/// in the order of `created`), one Redis call per kind (a failed push leaves them to the
/// dispatcher), and counts what was pushed, deferred and joined.
pub async fn push_new(state: &AppState, jobs: &[(JobKind, Option<Ulid>)], created: &[Created]) {
    let mut pushes: Vec<(JobKind, JobId, Ulid)> = Vec::new();
    for (&(kind, dispatch_as), created) in jobs.iter().zip(created) {
        let outcome = match (created, dispatch_as) {
            (Created::New(id), Some(task)) => {
                pushes.push((kind, *id, task));
                "pushed"
            }
            (Created::Promoted(id), Some(task)) => {
                pushes.push((kind, *id, task));
                "joined"
            }
            (Created::New(_) | Created::Deferred(_), _) => "deferred",
            (Created::Joined(_) | Created::Promoted(_), _) => "joined",
        };
        metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => kind.as_str(), "outcome" => outcome).increment(1);
    }
    if jobs.iter().zip(created).any(|(&(_, dispatch_as), c)| {
        matches!(c, Created::Deferred(_))
            || (matches!(c, Created::New(_) | Created::Promoted(_)) && dispatch_as.is_none())
    }) {
        // Jobs left in PostgreSQL: wake the dispatchers now rather than at their next tick.
        state.dispatch_waker.wake();
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
