//! Job execution: claim in PostgreSQL, run the kind's work under a lease, record the outcome.

pub mod canary;
pub mod deliver;
pub mod events;
pub mod lanes;
pub mod search;
pub mod suppliers;
pub mod validate;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::Utc;
use dropforge_common::{
    batching::BatchError,
    cache::Cache,
    config::Config,
    contract::{EventType, JobError, JobErrorCode},
    db,
    db::jobs::Claimed,
    domain::JobId,
    domain::JobKind,
    events::publish_finished,
    metric_names as m,
    queue::{HandlerError, JobHandler, QueuedJob},
    scoring::ScoringConfig,
};
use rand::Rng;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tracing::Instrument;

use crate::{
    leases::LeaseRegistry,
    upstream::{UpstreamError, Upstreams},
};

/// Why a delivery could not record its outcome (the job stays claimed; its lease lapses and the
/// reconciler requeues it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A group-commit call failed.
    #[error("batched write: {0}")]
    Batch(#[from] BatchError),
    /// An error document did not serialise (cannot happen for the derived contract types).
    #[error("error document: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What one attempt ended with (success is written by the kind itself, in one transaction).
#[derive(Debug)]
pub enum Outcome {
    /// Result stored, job succeeded (or another delivery already finished it).
    Done,
    /// Give up: the job fails with this error.
    Failed(JobError),
    /// Try again after `delay`; `refund` when the attempt should not count (throttling).
    Retry {
        /// How long to wait.
        delay: Duration,
        /// The error of this attempt.
        error: JobError,
        /// Do not count this attempt.
        refund: bool,
    },
}

/// Everything a job needs; shared by every delivery.
pub struct Deps {
    /// Configuration.
    pub config: Arc<Config>,
    /// PostgreSQL.
    pub pool: PgPool,
    /// Result cache.
    pub cache: Cache,
    /// Queue Redis (completion events).
    pub events: ConnectionManager,
    /// Upstream clients.
    pub upstreams: Upstreams,
    /// score-v1 settings.
    pub scoring: ScoringConfig,
    /// Leases held by this process.
    pub leases: LeaseRegistry,
    /// This process's lease owner name.
    pub owner: String,
    /// Webhook sender (SSRF-guarded, no redirects).
    pub webhooks: crate::webhook::WebhookClient,
    /// Group-commit lanes (claims, completions, events).
    pub lanes: lanes::Lanes,
}

/// The apalis handler: one per process, cheap to clone.
#[derive(Clone)]
pub struct Runner {
    deps: Arc<Deps>,
}

impl Runner {
    /// A runner over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps: Arc::new(deps) }
    }

    /// The shared dependencies.
    pub fn deps(&self) -> &Arc<Deps> {
        &self.deps
    }
}

impl JobHandler for Runner {
    fn handle(&self, job: QueuedJob) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>> {
        let deps = self.deps.clone();
        Box::pin(async move {
            // Run on the multi-threaded runtime: apalis drives every handler future on one task.
            let id = job.job_id;
            tokio::spawn(run(deps, job))
                .await
                .map_err(|e| Box::new(e) as HandlerError)?
                .map_err(|e| {
                    // The job stays claimed: its lease lapses and the reconciler requeues it.
                    tracing::warn!(job.id = %id, error = %e, "could not record the job's outcome");
                    Box::new(e) as HandlerError
                })
        })
    }
}

fn upstream_error(code: JobErrorCode, e: &UpstreamError) -> JobError {
    JobError::upstream(code, e.to_string(), e.upstream().map(|u| u.to_string()))
}

/// Maps an AliExpress failure to the job's next step, for every kind that needs AliExpress: an
/// unknown product and auth errors fail at once, throttles and quotas reschedule without using an
/// attempt, transient errors retry with backoff.
pub(crate) fn failure_outcome(e: &UpstreamError) -> Outcome {
    let doc = |code| upstream_error(code, e);
    match e {
        UpstreamError::NotFound { .. } => Outcome::Failed(doc(JobErrorCode::ProductNotFound)),
        UpstreamError::Auth { .. } | UpstreamError::Config(_) => Outcome::Failed(doc(JobErrorCode::UpstreamAuth)),
        UpstreamError::Invalid { .. } => Outcome::Failed(doc(JobErrorCode::UpstreamRejected)),
        UpstreamError::Throttled { retry_after, .. } => Outcome::Retry {
            delay: *retry_after,
            error: doc(JobErrorCode::UpstreamThrottled),
            refund: true,
        },
        UpstreamError::QuotaExhausted { .. } => Outcome::Retry {
            delay: e.retry_after().unwrap_or_default(),
            error: doc(JobErrorCode::UpstreamQuotaExhausted),
            refund: true,
        },
        UpstreamError::Transient { .. } => Outcome::Retry {
            delay: Duration::ZERO,
            error: doc(JobErrorCode::UpstreamUnavailable),
            refund: false,
        },
    }
}

/// Delay before retry `attempt` (1-based): `base · 2^(attempt-1)`, capped, with ±20 % jitter.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    exp.mul_f64(jitter).min(max)
}

/// Fails a claimed job for good; with its `job.failed` webhook event in the same transaction.
async fn fail(deps: &Deps, id: JobId, kind: JobKind, claimed: &Claimed, error: &JobError) -> Result<bool, StoreError> {
    let doc = serde_json::to_value(error)?;
    let failed = match claimed.webhook_url.as_deref().filter(|_| kind != JobKind::Webhook) {
        None => db::jobs::mark_failed(&deps.pool, id, &deps.owner, &doc).await?,
        Some(url) => {
            let mut tx = deps.pool.begin().await?;
            let failed = db::jobs::mark_failed(&mut *tx, id, &deps.owner, &doc).await?;
            if failed {
                let payload = events::job_failed(id, kind, error.clone());
                events::enqueue(&mut *tx, claimed.tenant_id, id, url, EventType::JobFailed, &payload).await?;
            }
            tx.commit().await?;
            failed
        }
    };
    if failed {
        publish_finished(&deps.events, &deps.config.redis_prefix, id).await;
        if kind == JobKind::Validation {
            deps.lanes.batch_children.call(id.0).await?;
        }
    }
    Ok(failed)
}

/// The work of one attempt, by kind, each kind's future on the heap of its own.
///
/// The futures of the kinds differ in size by orders of magnitude (a validation's holds three
/// upstream calls, a canary's one statement); inline in [`run`] they would make every delivery's
/// future as large as the largest, copied whole when the task is spawned and again when it first
/// runs (measured: a quarter of the worker's CPU in the canary pipeline was `memmove`).
fn work<'a>(
    deps: &'a Deps,
    id: JobId,
    claimed: &'a Claimed,
) -> Pin<Box<dyn Future<Output = Result<Outcome, StoreError>> + Send + 'a>> {
    let limit = deps.config.worker.job_timeout;
    match claimed.kind {
        JobKind::Validation => Box::pin(with_timeout(limit, validate::run(deps, id, claimed))),
        JobKind::Webhook => Box::pin(async move { Ok(deliver::run(deps, id, claimed).await?) }),
        JobKind::Search => Box::pin(async move { Ok(with_timeout(limit, search::run(deps, id, claimed)).await?) }),
        JobKind::Suppliers => {
            Box::pin(async move { Ok(with_timeout(limit, suppliers::run(deps, id, claimed)).await?) })
        }
        JobKind::Canary => Box::pin(canary::run(deps, id, claimed)),
        JobKind::Batch => Box::pin(std::future::ready(Ok(Outcome::Failed(JobError::new(
            JobErrorCode::UnsupportedKind,
            "batch jobs are never dispatched; their items are",
        ))))),
    }
}

/// Runs one attempt under the job timeout; an attempt that exceeds it is retried.
async fn with_timeout<E>(limit: Duration, attempt: impl Future<Output = Result<Outcome, E>>) -> Result<Outcome, E> {
    match tokio::time::timeout(limit, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(Outcome::Retry {
            delay: Duration::ZERO,
            error: JobError::timeout(),
            refund: false,
        }),
    }
}

/// Runs one delivery. Returns `Err` only when PostgreSQL could not record anything.
async fn run(deps: Arc<Deps>, job: QueuedJob) -> Result<(), StoreError> {
    let id = job.job_id;
    let cfg = &deps.config.worker;
    let Some(claimed) = deps.lanes.claims.call(id.0).await? else {
        tracing::debug!(job.id = %id, "duplicate or stale delivery dropped");
        return Ok(());
    };
    let _lease = deps.leases.hold(id);
    let kind = claimed.kind;
    let wait = (Utc::now() - claimed.next_run_at).to_std().unwrap_or_default();
    metrics::histogram!(m::JOB_QUEUE_WAIT_SECONDS, "kind" => kind.as_str()).record(wait.as_secs_f64());
    let started = std::time::Instant::now();
    let span = tracing::info_span!("job", job.id = %id, job.kind = kind.as_str(), job.attempt = claimed.attempts,
        request.id = claimed.request_id.as_deref().unwrap_or(""));
    // `instrument`, never `span.enter()` across an await: an entered guard leaks the span into
    // every task the thread polls meanwhile. Upstream budgets give bulk work a smaller share.
    tracing::debug!(parent: &span, "job started");
    let work = work(&deps, id, &claimed).instrument(span);
    let outcome = crate::upstream::budget::with_class(claimed.class, work).await?;
    metrics::histogram!(m::JOB_DURATION_SECONDS, "kind" => kind.as_str()).record(started.elapsed().as_secs_f64());
    let attempts = u32::try_from(claimed.attempts).unwrap_or(u32::MAX);
    let label = match outcome {
        Outcome::Done => "succeeded",
        Outcome::Failed(error) => {
            if Box::pin(fail(&deps, id, kind, &claimed, &error)).await? {
                tracing::info!(job.id = %id, error = %error, "job failed");
            }
            "failed"
        }
        Outcome::Retry { delay, error, refund } => {
            if !refund && attempts >= cfg.max_attempts {
                let error = JobError::attempts_exhausted(attempts, error);
                Box::pin(fail(&deps, id, kind, &claimed, &error)).await?;
                "failed"
            } else {
                let delay = if refund {
                    // Throttled: come back when the upstream allows, plus a little jitter.
                    delay + Duration::from_millis(rand::rng().random_range(0..500))
                } else {
                    delay.max(backoff(cfg.retry_base, cfg.retry_max, attempts))
                };
                tracing::info!(job.id = %id, delay_ms = delay.as_millis() as u64, error = %error, "job rescheduled");
                let doc = serde_json::to_value(&error)?;
                Box::pin(db::jobs::reschedule(&deps.pool, id, &deps.owner, delay, &doc, refund)).await?;
                if refund { "throttled" } else { "retried" }
            }
        }
    };
    metrics::counter!(m::JOBS_FINISHED_TOTAL, "kind" => kind.as_str(), "outcome" => label).increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for attempt in 1..30 {
            let d = backoff(base, max, attempt);
            assert!(d <= max, "{d:?}");
            let nominal = (base * (1 << (attempt - 1).min(20))).min(max);
            assert!(d >= nominal.mul_f64(0.79).min(max), "attempt {attempt}: {d:?}");
        }
    }
}
