//! The dispatcher: feeds each apalis queue from PostgreSQL, never past the queue cap.
//!
//! PostgreSQL holds any backlog; Redis only ever sees a few thousand due jobs per queue, so
//! apalis-redis's 8,000-due-jobs defect cannot trigger however large the backlog grows.

use std::time::Duration;

use dropforge_common::{db, domain::JobKind, metric_names as m, queue::Queue, shutdown::Shutdown};
use sqlx::PgPool;

/// Most jobs pushed per queue per round (keeps transactions and Lua calls short).
const MAX_PER_ROUND: usize = 1000;

/// Pushes due jobs of `kind` while the queue has room; returns how many were pushed.
pub async fn dispatch_once(pool: &PgPool, queue: &Queue, kind: JobKind, cap: usize) -> anyhow::Result<usize> {
    let depth = queue.depth(kind).await?;
    let room = cap.saturating_sub(depth).min(MAX_PER_ROUND);
    if room == 0 {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let jobs = db::jobs::take_due(&mut tx, kind, room).await?;
    if jobs.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    match queue.push(kind, &jobs).await {
        Ok(()) => {
            tx.commit().await?;
            metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => kind.as_str(), "outcome" => "dispatched")
                .increment(jobs.len() as u64);
            Ok(jobs.len())
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e.into())
        }
    }
}

/// Runs the dispatcher until `shutdown`: immediately again while it finds work, else every `every`.
pub async fn run(pool: PgPool, queue: Queue, kinds: Vec<JobKind>, cap: usize, every: Duration, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        let mut busy = false;
        for &kind in &kinds {
            match dispatch_once(&pool, &queue, kind, cap).await {
                Ok(n) => busy |= n == MAX_PER_ROUND,
                Err(e) => tracing::warn!(kind = kind.as_str(), error = %e, "dispatch failed"),
            }
        }
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.wait() => {}
            }
        }
    }
}
