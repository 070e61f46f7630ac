//! The `jobs` table: the source of truth for every job's state.
//!
//! Here: job creation (with in-flight dedupe), reads, lists and the queue figures. Every change of
//! state of an existing job is in [`super::transitions`] (re-exported here under its old names).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use ulid::Ulid;
use uuid::Uuid;

pub use super::transitions::{
    PendingWork, Taken, cancel, claim, claim_many, mark_failed, mark_succeeded, pending_work, promote_due,
    record_drain, renew_leases, requeue_expired, reschedule, settle_dispatches, succeed_many, take_due, undo_dispatch,
};
use super::{
    batches::NewBatch,
    sched::{self, BacklogFull},
};
use crate::domain::{JobClass, JobId, JobKind, JobStatus, TenantId};

/// A job as clients see it (plus its result when it has one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Kind.
    pub kind: JobKind,
    /// Status.
    pub status: JobStatus,
    /// Input as submitted (normalised).
    pub input: Value,
    /// Error of a failed job.
    pub error: Option<Value>,
    /// Attempts started.
    pub attempts: i32,
    /// Bumped on every state change (ETag).
    pub state_version: i32,
    /// Parent batch.
    pub parent_id: Option<Uuid>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Next attempt time while queued.
    pub next_run_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// First started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The result document, when succeeded.
    pub result: Option<Value>,
}

impl JobRecord {
    /// The status (also a field; kept for callers written against the old text column).
    pub fn status(&self) -> JobStatus {
        self.status
    }
}

/// Reads a tenant's job; another tenant's id reads as missing.
pub async fn get(pool: &PgPool, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as!(
        JobRecord,
        r#"select j.id, j.tenant_id, j.kind as "kind: JobKind", j.status as "status: JobStatus", j.input, j.error,
                j.attempts, j.state_version, j.parent_id, j.webhook_url, j.next_run_at, j.created_at, j.started_at,
                j.finished_at, j.updated_at, coalesce(r.result, jr.result) as result
         from jobs j left join validation_results r on r.job_id = j.id
             left join job_results jr on jr.job_id = j.id
         where j.id = $1 and j.tenant_id = $2"#,
        id.0,
        tenant.0,
    )
    .fetch_optional(pool)
    .await
}

/// Reads several jobs, each of its own tenant, in one statement: [`get`] for every `(tenant, id)`
/// pair. A pair whose job is missing or belongs to another tenant has no row; rows come in no
/// particular order.
pub async fn get_many(pool: &PgPool, keys: &[(TenantId, JobId)]) -> Result<Vec<JobRecord>, sqlx::Error> {
    let ids: Vec<Uuid> = keys.iter().map(|(_, id)| id.0).collect();
    let tenants: Vec<Uuid> = keys.iter().map(|(tenant, _)| tenant.0).collect();
    sqlx::query_as!(
        JobRecord,
        r#"select j.id, j.tenant_id, j.kind as "kind: JobKind", j.status as "status: JobStatus", j.input, j.error,
                j.attempts, j.state_version, j.parent_id, j.webhook_url, j.next_run_at, j.created_at, j.started_at,
                j.finished_at, j.updated_at, coalesce(r.result, jr.result) as result
         from unnest($1::uuid[], $2::uuid[]) as k(id, tenant_id)
             cross join lateral (select * from jobs j where j.id = k.id and j.tenant_id = k.tenant_id limit 1) j
             left join validation_results r on r.job_id = j.id
             left join job_results jr on jr.job_id = j.id"#,
        &ids,
        &tenants,
    )
    .fetch_all(pool)
    .await
}

/// Reads a job's status and version only (cheap polling).
pub async fn status_of(pool: &PgPool, id: JobId) -> Result<Option<JobStatus>, sqlx::Error> {
    sqlx::query_scalar!(r#"select status as "status: JobStatus" from jobs where id = $1"#, id.0)
        .fetch_optional(pool)
        .await
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Owner.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: JobKind,
    /// Identical in-flight work of the tenant joins the job with the same key.
    pub dedupe_key: Option<String>,
    /// Normalised input.
    pub input: Value,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Request id for log correlation.
    pub request_id: Option<String>,
    /// The batch that created it (a batch cancel cancels it too). A batch child is bulk work;
    /// every other job asks for the interactive class.
    pub parent_id: Option<JobId>,
    /// When set, an interactive job is created already marked as dispatched with this apalis
    /// task id (the caller pushes it right after the commit). Bulk jobs ignore it: they always
    /// go through the dispatcher, in tag order.
    pub dispatch_as: Option<Ulid>,
}

impl NewJob {
    /// The class the job asks for: bulk for a batch child, interactive otherwise.
    pub fn requested_class(&self) -> JobClass {
        if self.parent_id.is_some() {
            JobClass::Bulk
        } else {
            JobClass::Interactive
        }
    }
}

/// Result of [`create_or_join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new job row was written (marked dispatched when `dispatch_as` was given).
    New(JobId),
    /// A new job row was written, but as bulk work (the tenant is beyond its interactive
    /// allowance): `dispatch_as` was not applied, the dispatcher feeds it.
    Deferred(JobId),
    /// An identical job was already in flight; this is its id.
    Joined(JobId),
    /// An identical queued bulk job (a batch child) was joined and promoted to interactive with a
    /// fresh tag (marked dispatched when `dispatch_as` was given).
    Promoted(JobId),
}

impl Created {
    /// The job id either way.
    pub fn id(self) -> JobId {
        match self {
            Self::New(id) | Self::Deferred(id) | Self::Joined(id) | Self::Promoted(id) => id,
        }
    }

    /// True when this call wrote the row: the job is queued and nobody has run it yet.
    pub fn is_fresh(self) -> bool {
        matches!(self, Self::New(_) | Self::Deferred(_))
    }
}

/// Why a job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A statement failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The tenant's queued jobs would exceed its quota: nothing was written.
    #[error("the tenant's backlog is full ({} queued of {})", .0.queued, .0.max_queued)]
    BacklogFull(BacklogFull),
}

/// Creates a job, or joins the tenant's identical job in flight (same `dedupe_key`): a group of
/// one of [`create_group`], refused with [`CreateError::BacklogFull`] when the tenant's queued jobs
/// are at its quota.
pub async fn create_or_join(pool: &PgPool, job: &NewJob) -> Result<Created, CreateError> {
    let mut conn = pool.acquire().await?;
    let answer = create_group(&mut conn, std::slice::from_ref(job), false).await?.pop();
    match answer {
        Some(Ok(created)) => Ok(created),
        Some(Err(full)) => Err(CreateError::BacklogFull(full)),
        None => Err(sqlx::Error::Protocol("job creation answered nothing".into()).into()),
    }
}

/// Writes a batch, its items and the jobs serving its misses in one statement, which is its own
/// transaction: all or nothing. When any job would exceed the tenant's quota nothing is written
/// and the answer is [`CreateError::BacklogFull`]. `ids[i]` is the id `jobs[i]` gets when it is
/// created (the items name them; every job's `parent_id` is the batch); a job that joins one in
/// flight answers that job's id instead, and the items that named it name the joined job.
///
/// One statement instead of a transaction of three: with the worker saturating the machine, every
/// round trip of a submission waits for a core, and the tenant's scheduling row that the jobs'
/// creation updates stayed locked through the round trip of the `COMMIT`, so the tenant's other
/// submissions queued on it. Now the row is locked from the end of the statement to its commit,
/// inside PostgreSQL. A job of the same tenant and key created concurrently, after the statement's
/// snapshot, leaves an item naming a job that was not written: the deferred check of
/// `batch_items.job_id` then refuses the whole statement, and it runs again, joining that job.
pub async fn create_batch(
    conn: &mut PgConnection,
    batch: &NewBatch<'_>,
    jobs: &[NewJob],
    ids: &[JobId],
) -> Result<(JobRecord, Vec<Created>), CreateError> {
    if jobs.is_empty()
        || jobs
            .iter()
            .any(|j| j.parent_id != Some(batch.id) || j.tenant_id != batch.tenant)
    {
        return Err(sqlx::Error::Protocol("a batch is written with its jobs, each its child".into()).into());
    }
    let (answers, written) = create_group_with_ids(conn, jobs, ids, true, Some(batch)).await?;
    let refused = answers.iter().filter(|a| a.is_err()).count();
    if let Some(Err(full)) = answers.iter().find(|a| a.is_err()) {
        let requested = i64::try_from(refused).unwrap_or(i64::MAX);
        return Err(CreateError::BacklogFull(BacklogFull {
            requested,
            ..full.clone()
        }));
    }
    let written = written.ok_or_else(|| sqlx::Error::Protocol("the batch was not written".into()))?;
    Ok((written, answers.into_iter().filter_map(Result::ok).collect()))
}

/// Creates or joins many jobs with one statement per tenant, kind and requested class, which also
/// tags them for fair dispatch (docs/SCHEDULING.md). Answers one result per job, in order.
///
/// - Join: a job whose `dedupe_key` matches the tenant's job in flight answers that job.
///   Jobs of one call must carry distinct keys (or none). Each key is one probe of the dedupe
///   index of unfinished jobs (`jobs_live_dedupe`, whose condition no other index shares), and
///   each job joined is one look-up by id for its promotion: both are `lateral ... limit 1`,
///   which the planner cannot turn into joins. As joins, planned on a young table's statistics,
///   they read every open job of the tenant (about 4,000 index entries per submission with
///   2,000 open).
/// - Class: a batch child is bulk. Any other job is interactive while the tenant has fewer than
///   [`sched::INTERACTIVE_ALLOWANCE`] interactive jobs of the kind queued or running, counting
///   this call's earlier jobs; the rest are bulk (kinds without a bulk queue stay interactive).
/// - Promotion: an interactive job that joins a queued, undispatched bulk job promotes it
///   (interactive, a fresh tag, dispatched under `dispatch_as` when given).
/// - Tags: per class, `greatest(tenant's last tag, the queue's virtual time) + k * 1000 / weight`
///   for the class's k-th job, the last one written back as the tenant's tag with its queued
///   counter raised by the jobs left to the dispatcher. One update of the tenant's row per class
///   and call, so concurrent submissions of a tenant grouped into one call do not queue on that
///   row's lock.
/// - Lock order: the tags are computed from the tenant's row as the statement's snapshot saw it,
///   and the row update (the only lock on it) runs last, after the jobs are written. The row lock
///   is then held from the end of the statement to the commit, not through the insert of every
///   job: with the update first, 8 batches of one tenant submitted together waited on each other
///   for 15-75 ms. The update itself still adds to the row's current value, so `last_vft` and the
///   counter stay exact; only two submissions of one tenant that overlap in time may get
///   overlapping tags (their jobs interleave, and the tenant's next tags start after both).
/// - Quota: a new job that would take the tenant's queued jobs beyond its quota is refused
///   ([`BacklogFull`]) and not written; joins and promotions are never refused. With
///   `all_or_nothing`, every new job of a tenant, kind and class is refused when they do not all
///   fit (a batch is accepted whole or not at all).
pub async fn create_group(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    all_or_nothing: bool,
) -> Result<Vec<Result<Created, BacklogFull>>, sqlx::Error> {
    let ids: Vec<JobId> = jobs.iter().map(|_| JobId::generate()).collect();
    let (answers, _) = create_group_with_ids(conn, jobs, &ids, all_or_nothing, None).await?;
    Ok(answers)
}

/// [`create_group`] with the id each new job gets (`ids[i]` for `jobs[i]`, kept across the
/// statement's retries), and, with `batch`, the batch and its items written by the same statement
/// (its record answered when it was written; its jobs must make one group).
async fn create_group_with_ids(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    ids: &[JobId],
    all_or_nothing: bool,
    mut batch: Option<&NewBatch<'_>>,
) -> Result<(Vec<Result<Created, BacklogFull>>, Option<JobRecord>), sqlx::Error> {
    if ids.len() != jobs.len() {
        return Err(sqlx::Error::Protocol(format!(
            "{} ids for {} jobs",
            ids.len(),
            jobs.len()
        )));
    }
    let mut answers: Vec<Option<Result<Created, BacklogFull>>> = vec![None; jobs.len()];
    let mut groups: Vec<((TenantId, JobKind, JobClass), Vec<usize>)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let key = (job.tenant_id, job.kind, job.requested_class());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    if batch.is_some() && groups.len() != 1 {
        return Err(sqlx::Error::Protocol(
            "a batch's jobs are one tenant's, of one kind and class".into(),
        ));
    }
    let mut written = None;
    // The items' arrays once, not per attempt (with no batch, or once it is settled, the
    // statement writes none of them).
    let listed = batch.map(BatchColumns::of).unwrap_or_default();
    for ((tenant, kind, class), members) in groups {
        let allowance = (class == JobClass::Interactive && kind.classes().contains(&JobClass::Bulk))
            .then_some(sched::INTERACTIVE_ALLOWANCE);
        for attempt in 1..=5 {
            let pending: Vec<usize> = members.iter().copied().filter(|&i| answers[i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let fresh_ids: Vec<Uuid> = pending.iter().map(|&i| ids[i].0).collect();
            let col = |f: &dyn Fn(&NewJob) -> Option<String>| -> Vec<Option<String>> {
                pending.iter().map(|&i| f(&jobs[i])).collect()
            };
            let dedupe = col(&|j| j.dedupe_key.clone());
            let inputs: Vec<Value> = pending.iter().map(|&i| jobs[i].input.clone()).collect();
            let hooks = col(&|j| j.webhook_url.clone());
            let requests = col(&|j| j.request_id.clone());
            let tasks = col(&|j| j.dispatch_as.map(|t| t.to_string()));
            let parents: Vec<Option<Uuid>> = pending.iter().map(|&i| jobs[i].parent_id.map(|p| p.0)).collect();
            let rows = sqlx::query!(
                r#"with input as (
                     select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::uuid[],
                                          $7::text[]) with ordinality
                         as t(id, dedupe_key, input, webhook_url, request_id, parent_id, task_id, ord)
                 ), existing as (
                     select i.dedupe_key, j.id from input i cross join lateral (
                         select j.id from jobs j
                         where j.tenant_id = $8 and j.dedupe_key = i.dedupe_key and j.dedupe_key is not null
                           and j.status not in ('succeeded', 'failed', 'canceled')
                         limit 1
                     ) j
                 ), open as (
                     select count(*) as n from (select 1 from jobs
                         where tenant_id = $8 and kind = $9 and class = 0 and status in ('queued', 'scheduled', 'running')
                         limit coalesce($11::int8, 0)) o
                 ), promotable as (
                     select l.id from existing e cross join lateral (
                         select j.id, j.class, j.status, j.dispatched_at from jobs j
                         where j.id = e.id and $10::int2 = 0
                         limit 1 for update skip locked
                     ) l
                     where l.class = 1 and l.status = 'queued' and l.dispatched_at is null
                 ), wanting as (
                     select i.ord, i.task_id, p.id is not null as promote
                     from input i left join existing e on e.dedupe_key = i.dedupe_key
                          left join promotable p on p.id = e.id
                     where e.id is null or p.id is not null
                 ), placed as (
                     select w.*, case when $10::int2 <> 0 then 1::int2
                                      when $11::int8 is null then 0::int2
                                      when row_number() over (order by w.ord) <= $11::int8 - (select n from open)
                                          then 0::int2
                                      else 1::int2 end as class,
                            case when $13::bool then count(*) over (partition by w.promote)
                                 else row_number() over (partition by w.promote order by w.ord) end as fresh_rank
                     from wanting w
                 ), used as (
                     select coalesce(sum(queued), 0) as queued, coalesce(min(max_queued), $12) as max_queued
                     from tenant_sched where tenant_id = $8
                 ), decided as (
                     select p.ord, p.promote, p.class, case when p.class = 0 then p.task_id end as task,
                            p.promote or used.queued + p.fresh_rank <= used.max_queued as accepted
                     from placed p, used
                     where not p.promote or p.class = 0
                 ), members as (
                     select d.*, row_number() over (partition by d.class order by d.ord) as rn,
                            count(*) over (partition by d.class) as n
                     from decided d where d.accepted
                 ), counts as (
                     select class, count(*) as n, count(*) filter (where task is null) as pending
                     from members group by class
                 ), tagged as (
                     select m.ord, m.promote, m.class, m.task,
                            greatest(coalesce(c.last_vft, 0),
                                     coalesce((select vt from sched_clock k where k.kind = $9 and k.class = m.class), 0))
                                + m.rn * (1000 / coalesce(c.weight, 1)) as vft
                     from members m left join tenant_sched c
                          on c.tenant_id = $8 and c.kind = $9 and c.class = m.class
                 ), tag as (
                     insert into tenant_sched as s (tenant_id, kind, class, last_vft, queued)
                     select $8, $9, c.class,
                            coalesce((select vt from sched_clock k where k.kind = $9 and k.class = c.class), 0)
                                + 1000 * c.n,
                            c.pending
                     from counts c order by c.class
                     on conflict (tenant_id, kind, class) do update
                        set last_vft = greatest(s.last_vft, coalesce((select vt from sched_clock k
                                                  where k.kind = $9 and k.class = excluded.class), 0))
                                       + (select n from counts c where c.class = excluded.class) * (1000 / s.weight),
                            queued = s.queued + excluded.queued
                 ), promote as (
                     update jobs j set class = 0, vft = t.vft, queue_task_id = t.task,
                            dispatched_at = case when t.task is null then null else now() end
                     from tagged t join input i on i.ord = t.ord join existing e on e.dedupe_key = i.dedupe_key
                     where t.promote and j.id = e.id
                     returning j.id
                 ), ins as (
                     insert into jobs (id, tenant_id, kind, status, dedupe_key, input, webhook_url, request_id,
                                       queue_task_id, dispatched_at, parent_id, class, vft)
                     select i.id, $8, $9, 'queued', i.dedupe_key, i.input, i.webhook_url, i.request_id, t.task,
                            case when t.task is null then null else now() end, i.parent_id, t.class, t.vft
                     from tagged t join input i on i.ord = t.ord
                     where not t.promote
                     on conflict (tenant_id, dedupe_key) where status not in ('succeeded', 'failed', 'canceled')
                         and dedupe_key is not null
                     do nothing
                     returning id
                 ), batch as (
                     insert into jobs (id, tenant_id, kind, status, input, webhook_url, request_id)
                     select $14, $8, 'batch', 'queued', $15, $16, $17
                     where $14::uuid is not null
                       and not exists (select 1 from decided d where not d.promote and not d.accepted)
                     returning attempts, state_version, next_run_at, created_at, updated_at
                 ), listed as (
                     insert into batch_items (batch_id, position, product, cache_key, job_id, result)
                     select $14, it.position, it.product, it.cache_key, coalesce(e.id, it.job_id), it.result
                     from unnest($18::int[], $19::jsonb[], $20::text[], $21::uuid[], $22::json[])
                              as it(position, product, cache_key, job_id, result)
                          left join input i on i.id = it.job_id
                          left join existing e on e.dedupe_key = i.dedupe_key
                     where exists (select 1 from batch)
                 )
                 select i.ord as "ord!", n.id as "created?", e.id as "existing?",
                        exists(select 1 from promote pr where pr.id = e.id) as "promoted!",
                        coalesce(d.class, $10::int2) as "class!",
                        coalesce(not d.promote and not d.accepted, false) as "refused!",
                        b.attempts as "batch_attempts?", b.state_version as "batch_state_version?",
                        b.next_run_at as "batch_next_run_at?", b.created_at as "batch_created_at?",
                        b.updated_at as "batch_updated_at?"
                 from input i left join ins n on n.id = i.id left join existing e on e.dedupe_key = i.dedupe_key
                      left join decided d on d.ord = i.ord
                      left join batch b on true
                 order by i.ord"#,
                &fresh_ids,
                &dedupe as &[Option<String>],
                &inputs,
                &hooks as &[Option<String>],
                &requests as &[Option<String>],
                &parents as &[Option<Uuid>],
                &tasks as &[Option<String>],
                tenant.0,
                kind.as_str(),
                class.as_i16(),
                allowance,
                sched::DEFAULT_MAX_QUEUED,
                all_or_nothing,
                batch.map(|b| b.id.0),
                batch.map(|b| b.input),
                batch.and_then(|b| b.webhook_url),
                batch.and_then(|b| b.request_id),
                &listed.positions,
                &listed.products,
                &listed.keys,
                &listed.jobs as &[Option<Uuid>],
                &listed.results as &[Option<Value>],
            )
            .fetch_all(&mut *conn)
            .await;
            let rows = match rows {
                // A job of the same key written after the statement's snapshot: an item named
                // a job that was not written, and the whole statement was undone. Again, to join it.
                Err(e) if batch.is_some() && attempt < 5 && is_foreign_key_violation(&e) => {
                    tracing::debug!(error = %e, "a batch met a job created concurrently; writing it again");
                    continue;
                }
                rows => rows?,
            };
            if let (Some(b), Some(row)) = (batch, rows.first()) {
                if let (Some(attempts), Some(state_version), Some(next_run_at), Some(created_at), Some(updated_at)) = (
                    row.batch_attempts,
                    row.batch_state_version,
                    row.batch_next_run_at,
                    row.batch_created_at,
                    row.batch_updated_at,
                ) {
                    written = Some(b.record(attempts, state_version, next_run_at, created_at, updated_at));
                }
                // Written or refused, the batch is settled: a later round creates jobs alone.
                batch = None;
            }
            let mut refused = Vec::new();
            for row in rows {
                let Some(&i) = usize::try_from(row.ord - 1).ok().and_then(|slot| pending.get(slot)) else {
                    continue;
                };
                let asked_now = jobs[i].dispatch_as.is_some();
                answers[i] = match (row.created, row.existing) {
                    (Some(id), _) if asked_now && row.class != JobClass::Interactive.as_i16() => {
                        Some(Ok(Created::Deferred(JobId(id))))
                    }
                    (Some(id), _) => Some(Ok(Created::New(JobId(id)))),
                    (None, Some(id)) if row.promoted => Some(Ok(Created::Promoted(JobId(id)))),
                    (None, Some(id)) => Some(Ok(Created::Joined(JobId(id)))),
                    (None, None) if row.refused => {
                        refused.push(i);
                        None
                    }
                    // Inserted concurrently after this statement's snapshot: tried again.
                    (None, None) => None,
                };
            }
            if !refused.is_empty() {
                let full = sched::backlog(&mut *conn, tenant, 1).await?;
                for i in refused {
                    answers[i] = Some(Err(full.clone()));
                }
            }
        }
    }
    let answers = answers
        .into_iter()
        .map(|a| a.ok_or_else(|| sqlx::Error::Protocol("job dedupe did not settle after 5 tries".into())))
        .collect::<Result<_, _>>()?;
    Ok((answers, written))
}

/// A foreign key refused the statement (`23503`).
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23503")
}

/// A batch's items as the creating statement's arrays (empty without a batch).
#[derive(Default)]
struct BatchColumns {
    positions: Vec<i32>,
    products: Vec<Value>,
    keys: Vec<String>,
    jobs: Vec<Option<Uuid>>,
    results: Vec<Option<Value>>,
}

impl BatchColumns {
    fn of(batch: &NewBatch<'_>) -> Self {
        let items = batch.items;
        Self {
            positions: items.iter().map(|i| i.position).collect(),
            products: items.iter().map(|i| i.product.clone()).collect(),
            keys: items.iter().map(|i| i.cache_key.clone()).collect(),
            jobs: items.iter().map(|i| i.job_id.map(|j| j.0)).collect(),
            results: items.iter().map(|i| i.result.clone()).collect(),
        }
    }
}

/// A job claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// Owner.
    pub tenant_id: Uuid,
    /// Kind.
    pub kind: JobKind,
    /// Input.
    pub input: Value,
    /// Attempt number of this run (1-based).
    pub attempts: i32,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When this attempt became due.
    pub next_run_at: DateTime<Utc>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Request id of the submitting request.
    pub request_id: Option<String>,
    /// Its dispatch class (the upstream budget gives bulk work a smaller share).
    pub class: JobClass,
}

/// A claimed job with its id (batched claims).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    /// The job.
    pub id: Uuid,
    /// What the worker needs of it.
    #[sqlx(flatten)]
    pub job: Claimed,
}

/// A dispatch to verify against Redis: the job, its apalis task id and the class of its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The job.
    pub id: Uuid,
    /// The apalis task id it was pushed under.
    pub task_id: String,
    /// The queue class it was pushed to.
    pub class: JobClass,
}

/// Queued jobs dispatched longer than `grace` ago, to verify against Redis.
pub async fn dispatched_before(
    pool: &PgPool,
    kind: JobKind,
    grace: Duration,
    limit: usize,
) -> Result<Vec<Dispatch>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id, queue_task_id as "queue_task_id!", class from jobs
         where kind = $1 and status = 'queued' and dispatched_at < now() - make_interval(secs => $2)
           and queue_task_id is not null
         order by dispatched_at limit $3"#,
        kind.as_str(),
        grace.as_secs_f64(),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Dispatch {
            id: r.id,
            task_id: r.queue_task_id,
            class: JobClass::from_i16(r.class),
        })
        .collect())
}

/// Queue figures of one kind for the depth gauges.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct KindDepth {
    /// Queued jobs (scheduled ones included).
    pub queued: i64,
    /// Running jobs.
    pub running: i64,
    /// Age in seconds of the oldest due queued job (0 when none).
    pub oldest_queued_age: f64,
}

/// Counts queued and running jobs of a kind.
pub async fn depth(pool: &PgPool, kind: JobKind) -> Result<KindDepth, sqlx::Error> {
    // Scheduled jobs (waiting for a retry) count as queued, as clients see them; they are read
    // from their own small index.
    sqlx::query_as!(
        KindDepth,
        r#"select count(*) filter (where status = 'queued')
                    + (select count(*) from jobs where kind = $1 and status = 'scheduled') as "queued!",
                count(*) filter (where status = 'running') as "running!",
                coalesce(extract(epoch from now() - min(next_run_at) filter (where status = 'queued'
                    and next_run_at <= now()))::float8, 0) as "oldest_queued_age!"
         from jobs where kind = $1 and status in ('queued', 'running')"#,
        kind.as_str(),
    )
    .fetch_one(pool)
    .await
}

/// A page of a tenant's jobs, newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Keyset cursor: jobs strictly older than this `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    /// Page size (1..=100).
    pub limit: i64,
}

/// Lists a tenant's jobs newest first; returns up to `limit + 1` rows so callers can tell `has_more`.
pub async fn list(pool: &PgPool, tenant: TenantId, f: &JobFilter) -> Result<Vec<JobRecord>, sqlx::Error> {
    // Always a keyset bound (the first page starts after the largest possible key), so the cursor
    // is an index condition of `jobs_tenant_recent`, never a filter over every newer row.
    let (before_at, before_id) = f.before.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    sqlx::query_as!(
        JobRecord,
        r#"select j.id, j.tenant_id, j.kind as "kind: JobKind", j.status as "status: JobStatus", j.input, j.error,
                j.attempts, j.state_version, j.parent_id, j.webhook_url, j.next_run_at, j.created_at, j.started_at,
                j.finished_at, j.updated_at, null::json as result
         from jobs j
         where j.tenant_id = $1
           and ($2::text is null or j.status = $2 or ($2 = 'queued' and j.status = 'scheduled'))
           and ($3::text is null or j.kind = $3)
           and (j.created_at, j.id) < ($4, $5)
         order by j.created_at desc, j.id desc
         limit $6"#,
        tenant.0,
        f.status.map(JobStatus::as_str),
        f.kind.map(JobKind::as_str),
        before_at,
        before_id,
        f.limit + 1,
    )
    .fetch_all(pool)
    .await
}

/// Outcome of [`cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The job was queued and is now canceled.
    Canceled,
    /// The job exists but has started or finished.
    NotCancelable(JobStatus),
    /// No such job for this tenant.
    NotFound,
}
