//! Every change of state of an existing job row, in one place: the job state machine.
//!
//! ```text
//!            take_due / settle_dispatches / undo_dispatch (queued ⇄ queued, dispatched or not)
//!   queued ──claim──▶ running ──complete / succeed──▶ succeeded
//!     ▲  │              │  │ ──fail────────────────▶ failed
//!     │  │              │  └─requeue_expired (out of attempts)─▶ failed (worker_lost)
//!     │  │              ├─reschedule (refunded or not)──▶ scheduled ──promote_due (due)──▶ queued
//!     │  │              └─requeue_expired (lease lapsed)──▶ queued
//!     │  └──cancel──▶ canceled            (also from scheduled; a batch also from running, with its
//!     │                                    queued and scheduled children)
//!   batch: queued ──mark_running──▶ running ──finish_ready (no item open)──▶ succeeded
//! ```
//!
//! Rules every statement here keeps:
//!
//! - each is one guarded `UPDATE` (`where status = ..`, and `lease_owner = ..` on a running job),
//!   so a duplicate delivery, a stale worker or a lost race changes nothing and reports it;
//! - a change of `status` bumps `state_version` (the ETag) and `updated_at`; lease renewal and
//!   dispatch bookkeeping do not;
//! - statements that change many jobs by id lock their rows in id order first (`locked`), so two
//!   of them wait for each other instead of deadlocking, and test the locked copy
//!   (`locked.status`), never `jobs.status`, so the planner stays on the primary key.
//!
//! The single-job forms ([`claim`], [`mark_succeeded`], [`complete_validation`], a batch's
//! [`finish_ready`] and [`mark_running`]) run the statement of their group form with one id:
//! one statement per transition, checked at compile time, with the same guards.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use ulid::Ulid;
use uuid::Uuid;

use super::{
    batches::Finished,
    jobs::{Cancel, Claimed, ClaimedJob},
    results::{Completion, NewResult, OwnedResult},
};
use crate::domain::{JobClass, JobId, JobKind, JobStatus, TenantId};

/// Seconds of a [`Duration`] as PostgreSQL `make_interval(secs => ..)` takes them.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Claims a due job for `owner` with a lease; `None` when it is not claimable (finished, not due,
/// or running under a live lease elsewhere): the delivery is then a duplicate and is dropped.
pub async fn claim(pool: &PgPool, id: JobId, owner: &str, lease: Duration) -> Result<Option<Claimed>, sqlx::Error> {
    Ok(claim_many(pool, &[id.0], owner, lease)
        .await?
        .into_iter()
        .next()
        .map(|c| c.job))
}

/// [`claim`] for many deliveries in one statement (group commit): returns the jobs claimed, in
/// no particular order; an id that is missing from the answer was not claimable. A claim takes a
/// `queued` job that is due, or a `running` one whose lease expired (a takeover), sets it
/// `running` under a lease of `owner` and counts the attempt.
pub async fn claim_many(
    pool: &PgPool,
    ids: &[Uuid],
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"with locked as (
             select id, status, next_run_at, lease_expires_at from jobs where id = any($1) order by id for update
         )
         update jobs set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
                lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3),
                state_version = state_version + 1, updated_at = now()
         from locked
         where jobs.id = locked.id
           and ((locked.status = 'queued' and locked.next_run_at <= now())
                or (locked.status = 'running' and locked.lease_expires_at < now()))
         returning jobs.id, jobs.tenant_id, jobs.kind as "kind: JobKind", jobs.input, jobs.attempts,
                   jobs.created_at, jobs.next_run_at, jobs.webhook_url, jobs.request_id, jobs.class"#,
        ids,
        owner,
        secs(lease),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClaimedJob {
            id: r.id,
            job: Claimed {
                tenant_id: r.tenant_id,
                kind: r.kind,
                input: r.input,
                attempts: r.attempts,
                created_at: r.created_at,
                next_run_at: r.next_run_at,
                webhook_url: r.webhook_url,
                request_id: r.request_id,
                class: JobClass::from_i16(r.class),
            },
        })
        .collect())
}

/// Extends the leases of jobs `owner` is still running (no state change: no version bump).
/// Returns how many it extended.
pub async fn renew_leases(pool: &PgPool, ids: &[Uuid], owner: &str, lease: Duration) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query!(
        "with locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         )
         update jobs set lease_expires_at = now() + make_interval(secs => $3)
         from locked
         where jobs.id = locked.id and locked.lease_owner = $2 and locked.status = 'running'",
        ids,
        owner,
        secs(lease),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Marks a claimed job succeeded (kinds without a result row: webhook deliveries, canaries);
/// false when `owner` no longer holds it (or it already finished).
pub async fn mark_succeeded(exec: impl PgExecutor<'_>, id: JobId, owner: &str) -> Result<bool, sqlx::Error> {
    Ok(!succeed_many(exec, &[id.0], owner).await?.is_empty())
}

/// [`mark_succeeded`] for many jobs in one statement: returns the ids this call completed (those
/// `owner` still held).
pub async fn succeed_many(exec: impl PgExecutor<'_>, ids: &[Uuid], owner: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar!(
        "with locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         )
         update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         from locked
         where jobs.id = locked.id and locked.status = 'running' and locked.lease_owner = $2
         returning jobs.id",
        ids,
        owner,
    )
    .fetch_all(exec)
    .await
}

/// Marks a claimed job failed for good with `error`; false when `owner` no longer holds it.
pub async fn mark_failed(
    exec: impl PgExecutor<'_>,
    id: JobId,
    owner: &str,
    error: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update jobs set status = 'failed', finished_at = now(), error = $3, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2",
        id.0,
        owner,
        error,
    )
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed job back to wait, due after `delay`, undispatched, with `error` as its last
/// error; `refund_attempt` gives the attempt back (throttles, quotas), otherwise it counts. The job
/// is `scheduled` (clients see `queued`): out of the dispatcher's ready set until [`promote_due`]
/// queues it again with a fresh tag. False when `owner` no longer holds it.
pub async fn reschedule(
    pool: &PgPool,
    id: JobId,
    owner: &str,
    delay: Duration,
    error: &Value,
    refund_attempt: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update jobs set status = 'scheduled', next_run_at = now() + make_interval(secs => $3), error = $4,
                attempts = attempts - $5, dispatched_at = null, queue_task_id = null, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2",
        id.0,
        owner,
        secs(delay),
        error,
        i32::from(refund_attempt),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Which queues a dispatcher round has work for: each `(kind, class)` of `queues` with due,
/// undispatched `queued` jobs, and each kind with `scheduled` jobs that became due. One statement,
/// at most two index probes per queue (`jobs_ready`, `jobs_scheduled`), so a round that finds
/// nothing costs one statement instead of a transaction and a take per queue and a promotion per
/// kind. Queues in `assume_ready` (they moved jobs last round, so their take will tell) are
/// answered ready without probing: the head of `jobs_ready` holds the entries of the rows a busy
/// queue just dispatched until a vacuum removes them, and the take walks them anyway.
///
/// Each probe is a `lateral … limit 1`, not an `exists`: PostgreSQL ran an `exists` in the select
/// list as a *hashed* subplan, reading the whole of `jobs_ready` once per call (18 ms a call with
/// 100,000 canaries queued; the pipeline lost a fifth of its rate), where the lateral form can
/// only be a parameterized probe of the index.
pub async fn pending_work(
    pool: &PgPool,
    queues: &[(JobKind, JobClass)],
    assume_ready: &[(JobKind, JobClass)],
) -> Result<PendingWork, sqlx::Error> {
    let kinds: Vec<&str> = queues.iter().map(|(k, _)| k.as_str()).collect();
    let classes: Vec<i16> = queues.iter().map(|(_, c)| c.as_i16()).collect();
    let probe: Vec<bool> = queues.iter().map(|q| !assume_ready.contains(q)).collect();
    let rows = sqlx::query!(
        r#"select q.i as "i!", (not q.probe or r.found is not null) as "ready!", d.found is not null as "due!"
           from unnest($1::text[], $2::int2[], $3::bool[]) with ordinality as q(kind, class, probe, i)
           left join lateral (
               select 1 as found from jobs j
               where q.probe and j.kind = q.kind and j.class = q.class and j.status = 'queued'
                 and j.dispatched_at is null and j.next_run_at <= now()
               limit 1
           ) r on true
           left join lateral (
               select 1 as found from jobs j
               where j.kind = q.kind and j.status = 'scheduled' and j.next_run_at <= now()
               limit 1
           ) d on true"#,
        &kinds as &[&str],
        &classes,
        &probe,
    )
    .fetch_all(pool)
    .await?;
    let mut work = PendingWork::default();
    for row in rows {
        let Some(&(kind, class)) = usize::try_from(row.i - 1).ok().and_then(|i| queues.get(i)) else {
            continue;
        };
        if row.ready {
            work.ready.push((kind, class));
        }
        if row.due && !work.due.contains(&kind) {
            work.due.push(kind);
        }
    }
    Ok(work)
}

/// What [`pending_work`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingWork {
    /// Queues with due, undispatched `queued` jobs.
    pub ready: Vec<(JobKind, JobClass)>,
    /// Kinds with `scheduled` jobs whose time came.
    pub due: Vec<JobKind>,
}

/// What [`take_due`] took: the jobs to push, and how many of them each tenant had queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// The jobs marked dispatched, with their fresh task ids, in tag order.
    pub jobs: Vec<(JobId, Ulid)>,
    /// Jobs taken per tenant, in tenant order: what [`record_drain`] counts once they are pushed.
    pub per_tenant: Vec<(TenantId, i32)>,
}

/// Selects up to `limit` due, undispatched `queued` jobs of `kind` and `class` in tag order
/// (`vft`, then id), skipping rows another dispatcher holds, marks them dispatched under fresh
/// task ids and returns them; the caller pushes them, counts the drain ([`record_drain`]) and
/// commits `tx` (or rolls back on failure, leaving them undispatched). In the same
/// statement the queue's virtual time moves up to the highest tag taken. A transaction-scoped
/// advisory lock per queue lets one dispatcher at a time fill it: another one takes nothing this
/// round.
///
/// The tenants' scheduling rows are not touched here: every submission of a tenant updates its
/// row, and a row this statement locked stayed locked through the push to Redis, so each of the
/// tenant's submissions waited for the push (for as long as Redis took to answer it).
pub async fn take_due(
    tx: &mut Transaction<'_, Postgres>,
    kind: JobKind,
    class: JobClass,
    limit: usize,
) -> Result<Taken, sqlx::Error> {
    // Fresh task ids without sending one per row: a new ULID's first 22 characters (its time and
    // 62 random bits) followed by the row number in 4 hex digits (all valid ULID characters).
    let base: String = Ulid::generate().to_string().chars().take(22).collect();
    let rows = sqlx::query!(
        r#"with gate as (
             select pg_try_advisory_xact_lock(hashtextextended('dropforge:dispatch:' || $1::text || ':' || $2::int2::text, 0)) as ok
         ), picked as (
             select id, tenant_id, vft from jobs
             where kind = $1 and class = $2 and status = 'queued' and dispatched_at is null and next_run_at <= now()
               and (select ok from gate)
             order by vft, id limit $3 for update skip locked
         ), numbered as (
             select id, row_number() over (order by vft, id) as rn from picked
         ), marked as (
             update jobs j set dispatched_at = now(), queue_task_id = $4 || lpad(upper(to_hex(n.rn)), 4, '0')
             from numbered n where j.id = n.id
             returning j.id, j.queue_task_id
         ), clock as (
             insert into sched_clock (kind, class, vt)
             select $1, $2, max(vft) from picked having count(*) > 0
             on conflict (kind, class) do update set vt = greatest(sched_clock.vt, excluded.vt)
         )
         select m.id as "id!", m.queue_task_id as "task!", p.tenant_id as "tenant!"
         from marked m join picked p on p.id = m.id"#,
        kind.as_str(),
        class.as_i16(),
        i64::try_from(limit.min(0xFFFF)).unwrap_or(0xFFFF),
        base,
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = Vec::with_capacity(rows.len());
    let mut counts: BTreeMap<Uuid, i32> = BTreeMap::new();
    for row in rows {
        let Ok(task) = Ulid::from_string(&row.task) else {
            continue;
        };
        jobs.push((JobId(row.id), task));
        *counts.entry(row.tenant).or_default() += 1;
    }
    // Tag order, as the queue is filled.
    jobs.sort_by_key(|(_, task)| *task);
    Ok(Taken {
        jobs,
        per_tenant: counts.into_iter().map(|(t, n)| (TenantId(t), n)).collect(),
    })
}

/// Counts a dispatch round of `kind` and `class` in its tenants' scheduling rows: each tenant's
/// queued counter goes down by what was taken from it, and the recent drain rate (the
/// `Retry-After` of a refused submission) is updated every 10 seconds; rows locked in tenant
/// order. The dispatcher runs it in the round's transaction after the push to Redis, right before
/// the commit, so the rows are locked for that last round trip only, and a round still commits
/// once.
pub async fn record_drain(
    db: impl PgExecutor<'_>,
    kind: JobKind,
    class: JobClass,
    per_tenant: &[(TenantId, i32)],
) -> Result<(), sqlx::Error> {
    if per_tenant.is_empty() {
        return Ok(());
    }
    let (tenants, counts): (Vec<Uuid>, Vec<i32>) = per_tenant.iter().map(|(t, n)| (t.0, *n)).unzip();
    sqlx::query!(
        r#"with per_tenant as (
             select * from unnest($3::uuid[], $4::int4[]) as p(tenant_id, n)
         ), locked as (
             select s.tenant_id from tenant_sched s
             where s.kind = $1 and s.class = $2 and s.tenant_id in (select tenant_id from per_tenant)
             order by s.tenant_id for update
         )
         update tenant_sched s set
             queued = greatest(s.queued - p.n, 0),
             drained = s.drained + p.n,
             drain_rate = case when now() - s.drain_mark_at >= interval '10 seconds'
                 then (s.drained + p.n - s.drain_mark) / extract(epoch from now() - s.drain_mark_at)::float8
                 else s.drain_rate end,
             drain_mark = case when now() - s.drain_mark_at >= interval '10 seconds'
                 then s.drained + p.n else s.drain_mark end,
             drain_mark_at = case when now() - s.drain_mark_at >= interval '10 seconds'
                 then now() else s.drain_mark_at end
         from per_tenant p join locked l on l.tenant_id = p.tenant_id
         where s.tenant_id = p.tenant_id and s.kind = $1 and s.class = $2"#,
        kind.as_str(),
        class.as_i16(),
        &tenants,
        &counts,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Queues the `scheduled` jobs of `kind` that are due (at most `limit`, oldest first, skipping
/// rows another dispatcher holds) with fresh tags: per tenant and class, one update of its row
/// reserves the tags (`greatest(last tag, virtual time) + k · 1000 / weight`) and counts the jobs
/// as queued. Not a change clients can see (both read `queued`): no version bump. Returns how
/// many were queued.
pub async fn promote_due(pool: &PgPool, kind: JobKind, limit: usize) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"with due as (
             select id, tenant_id, class from jobs
             where kind = $1 and status = 'scheduled' and next_run_at <= now()
             order by next_run_at limit $2 for update skip locked
         ), groups as (
             select tenant_id, class, count(*)::int4 as n from due group by tenant_id, class
         ), tagged as (
             insert into tenant_sched as s (tenant_id, kind, class, last_vft, queued)
             select g.tenant_id, $1, g.class,
                    coalesce((select vt from sched_clock c where c.kind = $1 and c.class = g.class), 0) + 1000 * g.n, g.n
             from groups g order by g.tenant_id, g.class
             on conflict (tenant_id, kind, class) do update
                set last_vft = greatest(s.last_vft, excluded.last_vft - 1000 * excluded.queued)
                               + excluded.queued * (1000 / s.weight),
                    queued = s.queued + excluded.queued
             returning s.tenant_id, s.class, s.last_vft, 1000 / s.weight as stride
         ), numbered as (
             select d.id, d.tenant_id, d.class, g.n,
                    row_number() over (partition by d.tenant_id, d.class order by d.id) as rn
             from due d join groups g on g.tenant_id = d.tenant_id and g.class = d.class
         )
         update jobs j set status = 'queued', vft = t.last_vft - (nb.n - nb.rn) * t.stride
         from numbered nb join tagged t on t.tenant_id = nb.tenant_id and t.class = nb.class
         where j.id = nb.id"#,
        kind.as_str(),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets a dispatch that could not be pushed, so the dispatcher pushes the job later.
pub async fn undo_dispatch(pool: &PgPool, id: JobId, task_id: Ulid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update jobs set dispatched_at = null, queue_task_id = null where id = $1 and queue_task_id = $2",
        id.0,
        task_id.to_string(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks dispatches as verified (still in Redis) or lost (to be pushed again); only jobs still
/// `queued` under the same task id change.
pub async fn settle_dispatches(
    pool: &PgPool,
    held: &[(Uuid, String)],
    lost: &[(Uuid, String)],
) -> Result<(), sqlx::Error> {
    let split = |v: &[(Uuid, String)]| -> (Vec<Uuid>, Vec<String>) { v.iter().cloned().unzip() };
    if !held.is_empty() {
        let (ids, tasks) = split(held);
        sqlx::query!(
            "update jobs set dispatched_at = now() from unnest($1::uuid[], $2::text[]) as t(id, task_id)
             where jobs.id = t.id and jobs.queue_task_id = t.task_id and jobs.status = 'queued'",
            &ids,
            &tasks,
        )
        .execute(pool)
        .await?;
    }
    if !lost.is_empty() {
        let (ids, tasks) = split(lost);
        sqlx::query!(
            "update jobs set dispatched_at = null, queue_task_id = null from unnest($1::uuid[], $2::text[]) as t(id, task_id)
             where jobs.id = t.id and jobs.queue_task_id = t.task_id and jobs.status = 'queued'",
            &ids,
            &tasks,
        )
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Requeues running jobs whose lease expired (their worker died): back to `queued` and
/// undispatched while attempts are left, else `failed` with `worker_lost`. A job under a live
/// lease is never touched. At most 5,000 per call. Returns `(requeued, failed)`.
pub async fn requeue_expired(pool: &PgPool, max_attempts: u32) -> Result<(u64, u64), sqlx::Error> {
    let statuses: Vec<JobStatus> = sqlx::query_scalar!(
        r#"update jobs set
            status = case when attempts >= $1 then 'failed' else 'queued' end,
            error = case when attempts >= $1
                then jsonb_build_object('code', 'worker_lost', 'message', 'the job''s worker stopped responding on every attempt')
                else error end,
            finished_at = case when attempts >= $1 then now() else null end,
            dispatched_at = null, queue_task_id = null, lease_owner = null, lease_expires_at = null,
            state_version = state_version + 1, updated_at = now()
         where id in (select id from jobs where status = 'running' and lease_expires_at < now()
                      order by lease_expires_at limit 5000 for update skip locked)
         returning status as "status: JobStatus""#,
        i32::try_from(max_attempts).unwrap_or(i32::MAX),
    )
    .fetch_all(pool)
    .await?;
    let failed = statuses.iter().filter(|s| **s == JobStatus::Failed).count() as u64;
    Ok((statuses.len() as u64 - failed, failed))
}

/// Cancels a tenant's queued job (and a batch still `queued` or `running`, with its `queued`
/// children) in one statement. A job that is running or finished answers
/// [`Cancel::NotCancelable`] with its status, another tenant's job [`Cancel::NotFound`].
pub async fn cancel(pool: &PgPool, tenant: TenantId, id: JobId) -> Result<Cancel, sqlx::Error> {
    let canceled: Option<Uuid> = sqlx::query_scalar!(
        r#"with target as (
             update jobs set status = 'canceled', finished_at = now(), lease_owner = null, lease_expires_at = null,
                    state_version = state_version + 1, updated_at = now()
             where id = $1 and tenant_id = $2
               and (status in ('queued', 'scheduled') or (kind = 'batch' and status = 'running'))
             returning id
         ), children as (
             update jobs set status = 'canceled', finished_at = now(), state_version = state_version + 1, updated_at = now()
             where parent_id in (select id from target) and status in ('queued', 'scheduled')
         )
         select id as "id!" from target"#,
        id.0,
        tenant.0,
    )
    .fetch_optional(pool)
    .await?;
    if canceled.is_some() {
        return Ok(Cancel::Canceled);
    }
    let status = sqlx::query_scalar!(
        r#"select status as "status: JobStatus" from jobs where id = $1 and tenant_id = $2"#,
        id.0,
        tenant.0,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match status {
        Some(s) => Cancel::NotCancelable(s),
        None => Cancel::NotFound,
    })
}

/// Finishes the open batches that `child` belongs to (or every open batch, with `None`) once none
/// of their items is queued or running; returns the batches finished by this call. Run it after the
/// child's own state change committed, so the last child to finish always sees every other one.
///
/// Two statements, not one with `($1 is null or ...)`: under a generic plan that OR hides both the
/// child's `batch_items_job` lookup and the index of open jobs (`jobs_open`), and every call
/// scanned `jobs`.
pub async fn finish_ready(exec: impl PgExecutor<'_>, child: Option<JobId>) -> Result<Vec<Finished>, sqlx::Error> {
    match child {
        Some(child) => finish_ready_many(exec, &[child.0]).await,
        None => {
            sqlx::query_as!(
                Finished,
                "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1,
                        updated_at = now()
                 where b.kind = 'batch' and b.status in ('queued', 'running')
                   and (select bi.position from batch_items bi
                        where bi.batch_id = b.id
                          and (select c.status from jobs c where c.id = bi.job_id) in ('queued', 'scheduled', 'running')
                        order by bi.position desc limit 1) is null
                 returning b.id, b.tenant_id, b.webhook_url",
            )
            .fetch_all(exec)
            .await
        }
    }
}

/// [`finish_ready`] for the batches of many children at once (the group commit of the worker):
/// one statement for every child that ended at the same moment.
///
/// Two shapes are deliberate, so that its cost is bounded by the batches' own items, never by
/// how many jobs are open (a generic plan is chosen once, from whatever the statistics said then):
/// - an item's job status is a scalar subquery: as a join, a plan made while few jobs were open
///   walked every open job (`jobs_open`) for each batch, and at 400 open jobs the check took
///   2.5-4 ms per call instead of 0.6;
/// - the batch's status is tested as "not finished", which `jobs_open` cannot serve, so the
///   batches are found by primary key, not by walking every open batch.
pub async fn finish_ready_many(exec: impl PgExecutor<'_>, children: &[Uuid]) -> Result<Vec<Finished>, sqlx::Error> {
    if children.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as!(
        Finished,
        "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1,
                updated_at = now()
         where b.id = any(array(select batch_id from batch_items where job_id = any($1)))
           and b.kind = 'batch' and b.status not in ('succeeded', 'failed', 'canceled')
           and (select bi.position from batch_items bi
                where bi.batch_id = b.id
                  and (select c.status from jobs c where c.id = bi.job_id) in ('queued', 'scheduled', 'running')
                order by bi.position desc limit 1) is null
         returning b.id, b.tenant_id, b.webhook_url",
        children,
    )
    .fetch_all(exec)
    .await
}

/// Marks the open batches of `child` as running (their first item started or ended).
pub async fn mark_running(exec: impl PgExecutor<'_>, child: JobId) -> Result<(), sqlx::Error> {
    mark_running_many(exec, &[child.0]).await
}

/// [`mark_running`] for the open batches of many children at once: only `queued` batches move.
pub async fn mark_running_many(exec: impl PgExecutor<'_>, children: &[Uuid]) -> Result<(), sqlx::Error> {
    if children.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update jobs set status = 'running', started_at = coalesce(started_at, now()),
                state_version = state_version + 1, updated_at = now()
         where id = any(array(select batch_id from batch_items where job_id = any($1)))
           and kind = 'batch' and status = 'queued'",
        children,
    )
    .execute(exec)
    .await?;
    Ok(())
}

/// Stores a validation result and marks its job succeeded, in one statement: only while `owner`
/// still holds the job's lease, and never twice (`on conflict (job_id) do nothing`): a second
/// completion of the same job answers `completed: false` and writes nothing.
pub async fn complete_validation(
    exec: impl PgExecutor<'_>,
    r: &NewResult<'_>,
    owner: &str,
) -> Result<Completion, sqlx::Error> {
    let row = OwnedResult {
        job_id: r.job_id,
        cache_key: r.cache_key.to_owned(),
        product: r.product.clone(),
        model: r.model.to_owned(),
        partial: r.partial,
        result: r.result.to_owned(),
    };
    Ok(complete_validations(exec, std::slice::from_ref(&row), owner)
        .await?
        .into_iter()
        .next()
        .unwrap_or(Completion {
            completed: false,
            in_batch: false,
        }))
}

/// [`complete_validation`] for many jobs in one statement: every job `owner` still holds is
/// marked succeeded and gets its result row (written once). Answers one [`Completion`] per row,
/// in order.
pub async fn complete_validations(
    exec: impl PgExecutor<'_>,
    rows: &[OwnedResult],
    owner: &str,
) -> Result<Vec<Completion>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.job_id.0).collect();
    let keys: Vec<String> = rows.iter().map(|r| r.cache_key.clone()).collect();
    let sources: Vec<String> = rows.iter().map(|r| r.product.source.clone()).collect();
    let products: Vec<String> = rows.iter().map(|r| r.product.id.clone()).collect();
    let models: Vec<String> = rows.iter().map(|r| r.model.clone()).collect();
    let partials: Vec<bool> = rows.iter().map(|r| r.partial).collect();
    let results: Vec<&str> = rows.iter().map(|r| r.result.as_str()).collect();
    let done = sqlx::query!(
        r#"with input as (
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[])
                 as t(job_id, cache_key, source, product_id, model, partial, result)
         ), locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         ), done as (
             update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                    lease_expires_at = null, state_version = state_version + 1, updated_at = now()
             from locked
             where jobs.id = locked.id and locked.status = 'running' and locked.lease_owner = $8
             returning jobs.id
         ), stored as (
             insert into validation_results (job_id, cache_key, product_source, product_id, model, partial, result)
             select i.job_id, i.cache_key, i.source, i.product_id, i.model, i.partial, i.result::json
             from input i join done d on d.id = i.job_id
             on conflict (job_id) do nothing
         )
         select d.id as "id!", exists(select 1 from batch_items bi where bi.job_id = d.id) as "in_batch!"
         from done d"#,
        &ids,
        &keys,
        &sources,
        &products,
        &models,
        &partials,
        &results as &[&str],
        owner,
    )
    .fetch_all(exec)
    .await?;
    let done: HashMap<Uuid, bool> = done.into_iter().map(|r| (r.id, r.in_batch)).collect();
    Ok(ids
        .iter()
        .map(|id| Completion {
            completed: done.contains_key(id),
            in_batch: done.get(id).copied().unwrap_or(false),
        })
        .collect())
}

/// Stores a search or suppliers result and marks its job succeeded, in one statement: only while
/// `owner` still holds the job's lease, and never twice. `result` is the JSON text of the document
/// (serialised once, also used for the cache). True if the job was completed by this call; a
/// second completion of the same job answers false and writes nothing.
pub async fn complete_with_result(
    exec: impl PgExecutor<'_>,
    job_id: JobId,
    cache_key: &str,
    kind: JobKind,
    result: &str,
    owner: &str,
) -> Result<bool, sqlx::Error> {
    let completed = sqlx::query_scalar!(
        r#"with done as (
             update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                    lease_expires_at = null, state_version = state_version + 1, updated_at = now()
             where id = $1 and status = 'running' and lease_owner = $5
             returning id
         ), stored as (
             insert into job_results (job_id, cache_key, kind, result)
             select id, $2, $3, $4::text::json from done
             on conflict (job_id) do nothing
         )
         select count(*) as "completed!" from done"#,
        job_id.0,
        cache_key,
        kind.as_str(),
        result,
        owner,
    )
    .fetch_one(exec)
    .await?;
    Ok(completed == 1)
}
