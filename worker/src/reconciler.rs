//! The reconciler: PostgreSQL is the truth, Redis is repaired to match it.
//!
//! Each round it requeues running jobs whose lease expired, re-dispatches queued jobs that Redis
//! no longer holds (restart without persistence, FLUSHALL, eviction), deletes finished apalis
//! tasks, and samples the queue gauges. Every [`SCHED_EVERY`] rounds it also repairs the
//! tenants' queued-job counters from the jobs table and samples the per-tenant gauges.

use std::time::Duration;

use dropforge_common::{
    config::WorkerConfig, db, domain::JobKind, metric_names as m, queue::Queue, shutdown::Shutdown,
};
use sqlx::PgPool;

/// Dispatches verified per round and kind.
const CHECK_BATCH: usize = 2000;
/// Finished apalis tasks deleted per set and call (one Lua call holds Redis a few milliseconds).
pub const CLEANUP_BATCH: usize = 5000;
/// Most cleanup calls per queue and round: a round goes on while calls come back full, so a queue
/// finishing up to 50,000 tasks a second (at the default 2 s round) never grows its done set.
/// One call per round kept at most 2,500 a second: the canary pipeline finishes 5,000 a second
/// and left hundreds of thousands of finished tasks in Redis.
const CLEANUP_CALLS: usize = 20;
/// Rounds between two repairs of the tenants' queued counters (a count over the ready set).
pub const SCHED_EVERY: u64 = 15;

/// One reconciliation round.
pub async fn reconcile_once(pool: &PgPool, queue: &Queue, kinds: &[JobKind], cfg: &WorkerConfig) -> anyhow::Result<()> {
    let (requeued, failed) = db::jobs::requeue_expired(pool, cfg.max_attempts).await?;
    // Jobs this round hands back to the dispatcher (lapsed leases, lost dispatches) wake it.
    let mut handed_back = requeued > 0;
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
        for &class in kind.classes() {
            let of_class: Vec<(uuid::Uuid, String)> = dispatched
                .iter()
                .filter(|d| d.class == class)
                .map(|d| (d.id, d.task_id.clone()))
                .collect();
            if !of_class.is_empty() {
                let task_ids: Vec<String> = of_class.iter().map(|(_, t)| t.clone()).collect();
                let held = queue.held(kind, class, &task_ids).await?;
                let (present, lost): (Vec<_>, Vec<_>) = of_class.into_iter().zip(held).partition(|(_, h)| *h);
                let present: Vec<_> = present.into_iter().map(|(d, _)| d).collect();
                let lost: Vec<_> = lost.into_iter().map(|(d, _)| d).collect();
                if !lost.is_empty() {
                    tracing::warn!(
                        kind = kind.as_str(),
                        class = class.as_str(),
                        jobs = lost.len(),
                        "queued jobs missing from Redis; re-dispatching"
                    );
                    metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "redispatched")
                        .increment(lost.len() as u64);
                }
                handed_back |= !lost.is_empty();
                db::jobs::settle_dispatches(pool, &present, &lost).await?;
            }
            for _ in 0..CLEANUP_CALLS {
                if queue.cleanup_finished(kind, class, CLEANUP_BATCH).await? < CLEANUP_BATCH {
                    break;
                }
            }
        }
        let depth = db::jobs::depth(pool, kind).await?;
        let mut dead = 0;
        for &class in kind.classes() {
            dead += queue.dead(kind, class).await.unwrap_or(0);
        }
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "queued").set(depth.queued as f64);
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "running").set(depth.running as f64);
        metrics::gauge!(m::QUEUE_DEPTH, "kind" => kind.as_str(), "state" => "dead").set(dead as f64);
        metrics::gauge!(m::QUEUE_OLDEST_JOB_AGE_SECONDS, "kind" => kind.as_str()).set(depth.oldest_queued_age);
    }
    if handed_back {
        queue.wake_dispatchers().await?;
    }
    Ok(())
}

/// Repairs the tenants' queued counters and sets the per-tenant gauges (queued jobs per class,
/// quota).
pub async fn reconcile_sched(pool: &PgPool) -> anyhow::Result<()> {
    let fixed = db::sched::repair_queued(pool).await?;
    if fixed > 0 {
        tracing::debug!(rows = fixed, "tenant queued counters repaired");
        metrics::counter!(m::RECONCILER_ACTIONS_TOTAL, "action" => "repaired_tenant_queued").increment(fixed);
    }
    for q in db::sched::tenant_queues(pool).await? {
        let tenant = q.tenant_id.to_string();
        metrics::gauge!(m::TENANT_QUEUED_JOBS, "tenant" => tenant.clone(), "class" => q.class.as_str())
            .set(q.queued as f64);
        metrics::gauge!(m::TENANT_MAX_QUEUED_JOBS, "tenant" => tenant).set(q.max_queued as f64);
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
    let mut round: u64 = 0;
    loop {
        if let Err(e) = reconcile_once(&pool, &queue, &kinds, &cfg).await {
            tracing::warn!(error = %e, "reconciliation round failed");
        }
        if round.is_multiple_of(SCHED_EVERY)
            && let Err(e) = reconcile_sched(&pool).await
        {
            tracing::warn!(error = %e, "tenant counter repair failed");
        }
        round += 1;
        dropforge_common::telemetry::record_pool(&pool);
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => return,
        }
    }
}
