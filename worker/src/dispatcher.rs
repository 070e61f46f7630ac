//! The dispatcher: feeds each apalis queue from PostgreSQL, never past the queue cap, in fair order.
//!
//! PostgreSQL holds any backlog; Redis only ever sees a few thousand due jobs per queue, so
//! apalis-redis's 8,000-due-jobs defect cannot trigger however large the backlog grows. Each kind
//! has an interactive and (for the kinds clients submit in bulk) a bulk queue; each round takes
//! the due jobs of a queue in tag order (`transitions::take_due`, docs/SCHEDULING.md), after
//! queueing the kind's scheduled jobs that became due (`transitions::promote_due`).

use std::{sync::Arc, time::Duration};

use dropforge_common::{
    db,
    domain::{JobClass, JobKind},
    metric_names as m,
    queue::Queue,
    shutdown::Shutdown,
    wake::Signal,
};
use sqlx::PgPool;

/// Most jobs pushed per queue per round (keeps transactions and Lua calls short).
const MAX_PER_ROUND: usize = 1000;
/// Most due jobs in a bulk queue: bulk work waits in PostgreSQL, where it is in tag order, rather
/// than in Redis, where it is first come first served (about a second of work at full speed).
const BULK_CAP: usize = 1000;

/// One round over `kinds`: the depth of every queue in one Redis round trip, then, for the queues
/// with room under `cap` (bulk queues under at most [`BULK_CAP`]), a single statement finds which
/// have due jobs waiting in PostgreSQL and which kinds have scheduled jobs whose time came
/// ([`db::jobs::pending_work`]); those kinds' scheduled jobs are queued again
/// (`transitions::promote_due`), then each queue with room and work gets due jobs pushed. Returns
/// the most jobs pushed to one queue (a full round is [`MAX_PER_ROUND`]).
///
/// Asking first matters under load: completions wake the dispatcher every few milliseconds, and
/// a round that tried every queue of every kind cost a promotion per kind and a transaction per
/// queue (about 26 statements) even when one queue had work, or none. A round whose queues are
/// all full asks PostgreSQL nothing; a queue that moved jobs last round (`moved`, updated here)
/// goes straight to its take.
pub async fn dispatch_round(
    pool: &PgPool,
    queue: &Queue,
    kinds: &[JobKind],
    cap: usize,
    moved: &mut Vec<(JobKind, JobClass)>,
) -> anyhow::Result<usize> {
    let queues: Vec<(JobKind, JobClass)> = kinds
        .iter()
        .flat_map(|&kind| kind.classes().iter().map(move |&class| (kind, class)))
        .collect();
    if queues.is_empty() {
        return Ok(0);
    }
    let depths = queue.depths_of(&queues).await?;
    let open: Vec<((JobKind, JobClass), usize)> = queues
        .iter()
        .zip(depths)
        .filter_map(|(&(kind, class), depth)| {
            let cap = match class {
                JobClass::Interactive => cap,
                JobClass::Bulk => cap.min(BULK_CAP),
            };
            let room = cap.saturating_sub(depth).min(MAX_PER_ROUND);
            (room > 0).then_some(((kind, class), room))
        })
        .collect();
    if open.is_empty() {
        return Ok(0);
    }
    let with_room: Vec<(JobKind, JobClass)> = open.iter().map(|(q, _)| *q).collect();
    let work = db::jobs::pending_work(pool, &with_room, moved).await?;
    moved.clear();
    for &kind in &work.due {
        match db::jobs::promote_due(pool, kind, MAX_PER_ROUND).await {
            Ok(0) => {}
            Ok(promoted) => tracing::debug!(kind = kind.as_str(), promoted, "scheduled jobs are due again"),
            Err(e) => tracing::warn!(kind = kind.as_str(), error = %e, "promoting due jobs failed"),
        }
    }
    let mut most = 0;
    for ((kind, class), room) in open {
        // A promoted kind may now have queued jobs in either class.
        if !work.ready.contains(&(kind, class)) && !work.due.contains(&kind) {
            continue;
        }
        match dispatch_queue(pool, queue, kind, class, room).await {
            Ok(n) => {
                if n > 0 {
                    moved.push((kind, class));
                }
                most = most.max(n);
            }
            Err(e) => tracing::warn!(kind = kind.as_str(), class = class.as_str(), error = %e, "dispatch failed"),
        }
    }
    Ok(most)
}

/// One round for the queue of `kind` and `class`, which has `room`: returns how many were pushed.
async fn dispatch_queue(
    pool: &PgPool,
    queue: &Queue,
    kind: JobKind,
    class: JobClass,
    room: usize,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let taken = db::jobs::take_due(&mut tx, kind, class, room).await?;
    if taken.jobs.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    match queue.push_to(kind, class, &taken.jobs).await {
        Ok(()) => {
            // After the push, just before the commit: the tenants' rows are locked from here to
            // the commit, not through the push (every submission of a tenant updates its row).
            db::jobs::record_drain(&mut *tx, kind, class, &taken.per_tenant).await?;
            tx.commit().await?;
            metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => kind.as_str(), "outcome" => "dispatched")
                .increment(taken.jobs.len() as u64);
            Ok(taken.jobs.len())
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e.into())
        }
    }
}

/// Shortest time between two rounds started by wake-ups (a burst of them is one round).
const WAKE_GAP: Duration = Duration::from_millis(5);
/// Longest fallback tick of an idle dispatcher (unless `DF_DISPATCH_MS` is longer).
pub const IDLE_TICK: Duration = Duration::from_secs(1);

/// The fallback tick after a round: `every` after a round that moved jobs (or a wake-up), then
/// doubling per round that found nothing, up to [`IDLE_TICK`]. Every round asks each queue's
/// depth and runs a statement per kind and queue; at a fixed 50 ms tick an idle worker spent 8 %
/// of a core on them, PostgreSQL and Redis as much again. Jobs left in PostgreSQL come with a
/// wake-up (API, reconciler), so only a retry whose delay ran out waits for the tick, at most
/// [`IDLE_TICK`] longer than its backoff.
pub fn next_tick(last: Duration, every: Duration, moved: bool) -> Duration {
    if moved {
        every
    } else {
        (last * 2).clamp(every, IDLE_TICK.max(every))
    }
}

/// What starts a dispatch round before the tick.
#[derive(Default)]
pub struct Wakeups {
    /// Raised by the wake-up subscriber: someone left jobs in PostgreSQL (`{prefix}:wake:dispatch`).
    pub published: Option<Arc<Signal>>,
    /// Raised by this process's job completions (room freed in a queue). Heeded only after a round
    /// that dispatched something: when PostgreSQL held nothing due, room alone changes nothing.
    pub completions: Option<Arc<Signal>>,
}

/// Runs the dispatcher until `shutdown`: immediately again while it finds full rounds, else on the
/// next wake-up (at most every [`WAKE_GAP`]) or after the fallback tick ([`next_tick`]: `every`,
/// longer while idle), whichever comes first.
pub async fn run(
    pool: PgPool,
    queue: Queue,
    kinds: Vec<JobKind>,
    cap: usize,
    every: Duration,
    wakeups: Wakeups,
    shutdown: Shutdown,
) {
    let idle = Arc::new(Signal::default());
    let published = wakeups.published.unwrap_or_else(|| idle.clone());
    let completions = wakeups.completions.unwrap_or(idle);
    let mut tick_every = every;
    let mut moved_last_round = Vec::new();
    while !shutdown.is_triggered() {
        let round = tokio::time::Instant::now();
        let (busy, moved) = match dispatch_round(&pool, &queue, &kinds, cap, &mut moved_last_round).await {
            Ok(n) => (n == MAX_PER_ROUND, n > 0),
            Err(e) => {
                tracing::warn!(error = %e, "dispatch round failed");
                (false, false)
            }
        };
        if busy {
            continue;
        }
        tick_every = next_tick(tick_every, every, moved);
        let tick = tokio::time::sleep(tick_every);
        tokio::pin!(tick);
        let woken = tokio::select! {
            () = &mut tick => false,
            () = published.taken() => true,
            () = completions.taken(), if moved => true,
            () = shutdown.wait() => false,
        };
        if woken {
            tick_every = every;
            // Coalesce: wake-ups during the gap are taken by the next round (it reads everything).
            tokio::select! {
                () = tokio::time::sleep_until(round + WAKE_GAP) => {}
                () = &mut tick => {}
                () = shutdown.wait() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_backs_off_while_idle_and_resets_on_work() {
        let every = Duration::from_millis(50);
        let mut tick = every;
        let mut seen = Vec::new();
        for _ in 0..7 {
            tick = next_tick(tick, every, false);
            seen.push(tick.as_millis());
        }
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1000, 1000, 1000],
            "doubling up to the idle tick"
        );
        assert_eq!(
            next_tick(tick, every, true),
            every,
            "a round that moved jobs: back to `every`"
        );
        let slow = Duration::from_secs(5);
        assert_eq!(
            next_tick(slow, slow, false),
            slow,
            "a configured tick above the cap stays"
        );
    }
}
