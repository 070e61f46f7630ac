//! The table upkeep loop: on a PostgreSQL server whose autovacuum is off, vacuums and analyses
//! DropForge's tables by autovacuum's default thresholds, one table at a time, every
//! `DF_TABLE_UPKEEP_INTERVAL_SECS`. One worker at a time does it (a session advisory lock); the
//! others skip their round.
//!
//! Why the worker: with no autovacuum the statistics of a young database never change, so the
//! plans PostgreSQL caches for prepared statements stay those chosen while `batch_items` or
//! `jobs` were empty (sequential scans whose cost then grows with every row), and dead row
//! versions of `jobs` (four per validation) are never reclaimed. `ANALYZE` also invalidates the
//! cached plans, so every connection re-plans with the real sizes.

use std::time::Instant;

use dropforge_common::{
    config::{UpkeepConfig, UpkeepMode},
    db::upkeep::{self, Due},
    metric_names as m,
    shutdown::Shutdown,
};
use sqlx::PgPool;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// The tables vacuumed or analysed, with the action, in order.
    pub done: Vec<(String, &'static str)>,
    /// Another worker held the upkeep lock: nothing was checked.
    pub skipped: bool,
}

/// One round: takes the lock, then runs every table's due action (stops between tables on
/// `shutdown`). Each run is counted in `dropforge_table_upkeep_total`.
pub async fn round(pool: &PgPool, shutdown: &Shutdown) -> Result<Round, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if !upkeep::try_lock(&mut conn).await? {
        return Ok(Round {
            skipped: true,
            ..Round::default()
        });
    }
    let result = run_due(&mut conn, shutdown).await;
    // A failed unlock is harmless: the lock goes with the connection, which is then dropped.
    if upkeep::unlock(&mut conn).await.is_err() {
        conn.close_on_drop();
    }
    result
}

async fn run_due(conn: &mut sqlx::PgConnection, shutdown: &Shutdown) -> Result<Round, sqlx::Error> {
    let mut round = Round::default();
    let due: Vec<Due> = upkeep::due(&mut *conn).await?;
    for table in due {
        if shutdown.is_triggered() {
            break;
        }
        let started = Instant::now();
        upkeep::run(conn, &table).await?;
        let action = table.action();
        metrics::counter!(m::TABLE_UPKEEP_TOTAL, "table" => table.table.clone(), "action" => action).increment(1);
        tracing::debug!(table = %table.table, action, elapsed_ms = started.elapsed().as_millis() as u64, "table upkeep");
        round.done.push((table.table, action));
    }
    Ok(round)
}

/// Runs upkeep rounds until `shutdown`; returns at once when `DF_TABLE_UPKEEP=off` or when the
/// server runs autovacuum (read at start: turning autovacuum on later is seen at the next start).
pub async fn run(pool: PgPool, cfg: UpkeepConfig, shutdown: Shutdown) {
    if cfg.mode == UpkeepMode::Off {
        return;
    }
    match upkeep::autovacuum_on(&pool).await {
        Ok(true) => return,
        Ok(false) => tracing::warn!(
            interval_secs = cfg.interval.as_secs(),
            "PostgreSQL runs without autovacuum: this worker vacuums and analyses DropForge's tables itself \
             (DF_TABLE_UPKEEP=off to leave it to an operator)"
        ),
        Err(e) => tracing::warn!(error = %e, "table upkeep: could not read the autovacuum setting; checking anyway"),
    }
    loop {
        match round(&pool, &shutdown).await {
            Ok(r) if !r.done.is_empty() => tracing::info!(tables = ?r.done, "table upkeep ran"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "table upkeep round failed; retrying after the interval"),
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.interval) => {}
            () = shutdown.wait() => return,
        }
    }
}
