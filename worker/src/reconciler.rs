//! The reconciler: PostgreSQL is the truth, Redis is repaired to match it.
//!
//! Each round it requeues running jobs whose lease expired, re-dispatches queued jobs that Redis
//! no longer holds (restart without persistence, FLUSHALL, eviction), deletes finished apalis
//! tasks, and samples the queue gauges.

use std::time::Duration;

use dropforge_common::{
    config::WorkerConfig, db, domain::JobKind, metric_names as m, queue::Queue, shutdown::Shutdown,
};
use sqlx::PgPool;

/// Dispatches verified per round and kind.
const CHECK_BATCH: usize = 2000;
/// Finished apalis tasks deleted per set and round.
const CLEANUP_BATCH: usize = 5000;

/// One reconciliation round.
pub async fn reconcile_once(pool: &PgPool, queue: &Queue, kinds: &[JobKind], cfg: &WorkerConfig) -> anyhow::Result<()> {
    let (requeued, failed) = db::jobs::requeue_expired(pool, cfg.max_attempts).await?;
    if requeued + failed > 0 {
        tracing::info!(requeued, failed, "requeued jobs whose lease expired");
        metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "requeued_lease").increment(requeued);
        metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "failed_lease").increment(failed);
    }
    // Safety net: batches whose last item ended without the hook running (a canceled item, a crash).
    let finished = crate::batch_state::finish_all_ready(pool, queue.connection(), queue.prefix()).await?;
    if finished > 0 {
        metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "finished_batch").increment(finished as u64);
    }
    for &kind in kinds {
        let dispatched = db::jobs::dispatched_before(pool, kind, cfg.redis_grace, CHECK_BATCH).await?;
        if !dispatched.is_empty() {
            let task_ids: Vec<String> = dispatched.iter().map(|(_, t)| t.clone()).collect();
            let held = queue.held(kind, &task_ids).await?;
            let (present, lost): (Vec<_>, Vec<_>) = dispatched.into_iter().zip(held).partition(|(_, h)| *h);
            let present: Vec<_> = present.into_iter().map(|(d, _)| d).collect();
            let lost: Vec<_> = lost.into_iter().map(|(d, _)| d).collect();
            if !lost.is_empty() {
                tracing::warn!(
                    kind = kind.as_str(),
                    jobs = lost.len(),
                    "queued jobs missing from Redis; re-dispatching"
                );
                metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "redispatched").increment(lost.len() as u64);
            }
            db::jobs::settle_dispatches(pool, &present, &lost).await?;
        }
        queue.cleanup_finished(kind, CLEANUP_BATCH).await?;
        let depth = db::jobs::depth(pool, kind).await?;
        let dead = queue.dead(kind).await.unwrap_or(0);
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "queued").set(depth.queued as f64);
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "running").set(depth.running as f64);
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "dead").set(dead as f64);
        metrics::gauge!(m::QUEUE_OLDEST_JOB_AGE_SECONDS, "kind" => kind.as_str()).set(depth.oldest_queued_age);
    }
    Ok(())
}

/// Runs reconciliation rounds every `every` until `shutdown`.
pub async fn run(
    pool: PgPool,
    queue: Queue,
    kinds: Vec<JobKind>,
    cfg: WorkerConfig,
    every: Duration,
    shutdown: Shutdown,
) {
    loop {
        if let Err(e) = reconcile_once(&pool, &queue, &kinds, &cfg).await {
            tracing::warn!(error = %e, "reconciliation round failed");
        }
        dropforge_common::telemetry::record_pool(&pool);
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => return,
        }
    }
}
