//! The retention loop: removes finished jobs older than `DF_RETENTION_DAYS`, with their results,
//! batch items and webhook deliveries, in chunks of `DF_RETENTION_BATCH` (one short transaction
//! each, [`db::retention`]) until a chunk comes back short, then sleeps
//! `DF_RETENTION_INTERVAL_SECS`. Several workers may run it at once: chunks skip each other's
//! locked rows.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dropforge_common::{
    config::RetentionConfig,
    db::{
        self,
        retention::{Cursor, Removed},
    },
    metric_names as m,
    shutdown::Shutdown,
};
use sqlx::PgPool;

/// Most finished jobs the pending gauge counts (bounds the index scan behind it).
pub const PENDING_CAP: i64 = 1_000_000;
/// How often the pending gauge is recounted; between counts it goes down by the jobs removed.
pub const PENDING_EVERY: Duration = Duration::from_secs(300);

/// Jobs that finished before this instant are past retention.
pub fn cutoff(days: u32) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(i64::from(days))
}

/// One round: chunks from the oldest finished job on, until a chunk comes back short or
/// `shutdown` is triggered. Counts every chunk in `dropforge_retention_rows_removed_total`.
pub async fn round(pool: &PgPool, cfg: &RetentionConfig, shutdown: &Shutdown) -> Result<Removed, sqlx::Error> {
    let cutoff = cutoff(cfg.days);
    let mut cursor = Cursor::start();
    let mut total = Removed::default();
    loop {
        let chunk = db::retention::remove_chunk(pool, cutoff, cursor, cfg.batch).await?;
        for (table, rows) in chunk.removed.by_table() {
            if rows > 0 {
                metrics::counter!(m::RETENTION_ROWS_REMOVED_TOTAL, "table" => table).increment(rows);
            }
        }
        total.add(&chunk.removed);
        match chunk.next {
            Some(next) if !shutdown.is_triggered() => cursor = next,
            _ => return Ok(total),
        }
    }
}

/// Runs retention rounds until `shutdown` (returns at once when `DF_RETENTION_DAYS=0`).
pub async fn run(pool: PgPool, cfg: RetentionConfig, shutdown: Shutdown) {
    if cfg.days == 0 {
        tracing::info!("retention disabled (DF_RETENTION_DAYS=0): finished jobs are kept");
        return;
    }
    let mut pending: Option<(Instant, i64)> = None;
    loop {
        if pending.is_none_or(|(at, _)| at.elapsed() >= PENDING_EVERY) {
            match db::retention::pending(&pool, cutoff(cfg.days), PENDING_CAP).await {
                Ok(n) => pending = Some((Instant::now(), n)),
                Err(e) => tracing::warn!(error = %e, "retention: counting pending jobs failed"),
            }
        }
        match round(&pool, &cfg, &shutdown).await {
            Ok(removed) => {
                if removed.jobs > 0 {
                    tracing::info!(
                        jobs = removed.jobs,
                        rows = removed.total(),
                        days = cfg.days,
                        "retention removed finished jobs"
                    );
                }
                if let Some((_, n)) = pending.as_mut() {
                    *n = n.saturating_sub(i64::try_from(removed.jobs).unwrap_or(i64::MAX)).max(0);
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention round failed; retrying after the interval"),
        }
        if let Some((_, n)) = pending {
            metrics::gauge!(m::RETENTION_ROWS_PENDING).set(n as f64);
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.interval) => {}
            () = shutdown.wait() => return,
        }
    }
}
