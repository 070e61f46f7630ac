//! The `jobs` table: the source of truth for every job's state.
//!
//! State changes are guarded updates (`where status = .. and lease_owner = ..`), so a job that is
//! delivered twice, or whose worker died, still changes state exactly once per transition.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use ulid::Ulid;
use uuid::Uuid;

use crate::domain::{JobId, JobKind, JobStatus, TenantId};

/// A job as clients see it (plus its result when it has one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Kind name.
    pub kind: String,
    /// Status name.
    pub status: String,
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
    /// Parsed status (unknown strings read as failed, which cannot happen given the check constraint).
    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }
}

/// Reads one job with its result.
const SELECT_JOB_OF_TENANT: &str =
    "select j.id, j.tenant_id, j.kind, j.status, j.input, j.error, j.attempts, j.state_version,
        j.parent_id, j.webhook_url, j.next_run_at, j.created_at, j.started_at, j.finished_at, j.updated_at,
        coalesce(r.result, jr.result) as result
    from jobs j left join validation_results r on r.job_id = j.id
        left join job_results jr on jr.job_id = j.id
    where j.id = $1 and j.tenant_id = $2";

/// Reads a tenant's job; another tenant's id reads as missing.
pub async fn get(pool: &PgPool, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(SELECT_JOB_OF_TENANT)
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(pool)
        .await
}

/// Reads a job's status and version only (cheap polling).
pub async fn status_of(pool: &PgPool, id: JobId) -> Result<Option<JobStatus>, sqlx::Error> {
    let s: Option<String> = sqlx::query_scalar("select status from jobs where id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(s.and_then(|s| JobStatus::parse(&s)))
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
    /// The batch that created it (a batch cancel cancels it too).
    pub parent_id: Option<JobId>,
    /// When set, the job is created already marked as dispatched with this apalis task id
    /// (the caller pushes it right after the commit).
    pub dispatch_as: Option<Ulid>,
}

/// Result of [`create_or_join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new job row was written.
    New(JobId),
    /// An identical job was already in flight; this is its id.
    Joined(JobId),
}

impl Created {
    /// The job id either way.
    pub fn id(self) -> JobId {
        match self {
            Self::New(id) | Self::Joined(id) => id,
        }
    }
}

/// Creates a job, or joins the tenant's identical job in flight (same `dedupe_key`).
pub async fn create_or_join(pool: &PgPool, job: &NewJob) -> Result<Created, sqlx::Error> {
    for _ in 0..5 {
        let id = JobId::generate();
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "insert into jobs (id, tenant_id, kind, status, dedupe_key, input, webhook_url, request_id,
                               queue_task_id, dispatched_at, parent_id)
             values ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, case when $8::text is null then null else now() end, $9)
             on conflict (tenant_id, dedupe_key) where status in ('queued', 'running') and dedupe_key is not null
             do nothing returning id",
        )
        .bind(id.0)
        .bind(job.tenant_id.0)
        .bind(job.kind.as_str())
        .bind(&job.dedupe_key)
        .bind(&job.input)
        .bind(&job.webhook_url)
        .bind(&job.request_id)
        .bind(job.dispatch_as.map(|t| t.to_string()))
        .bind(job.parent_id.map(|p| p.0))
        .fetch_optional(pool)
        .await?;
        if let Some(id) = inserted {
            return Ok(Created::New(JobId(id)));
        }
        let existing: Option<Uuid> = sqlx::query_scalar(
            "select id from jobs where tenant_id = $1 and dedupe_key = $2 and status in ('queued', 'running')",
        )
        .bind(job.tenant_id.0)
        .bind(&job.dedupe_key)
        .fetch_optional(pool)
        .await?;
        if let Some(id) = existing {
            return Ok(Created::Joined(JobId(id)));
        }
        // The in-flight job finished between the two statements: try again.
    }
    Err(sqlx::Error::Protocol("job dedupe did not settle after 5 tries".into()))
}

/// [`create_or_join`] for many jobs at once (a batch's misses): one multi-row insert, one read
/// of the in-flight jobs that were joined instead. Answers one [`Created`] per job, in order. Jobs
/// must carry distinct `dedupe_key`s (a batch submits each distinct product once). Runs on one
/// connection, usually the transaction that also writes the batch and its items.
pub async fn create_or_join_many(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<Created>, sqlx::Error> {
    let mut answers: Vec<Option<Created>> = vec![None; jobs.len()];
    for _ in 0..5 {
        let pending: Vec<usize> = (0..jobs.len()).filter(|&i| answers[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = pending.iter().map(|_| JobId::generate().0).collect();
        let col = |f: &dyn Fn(&NewJob) -> Option<String>| -> Vec<Option<String>> {
            pending.iter().map(|&i| f(&jobs[i])).collect()
        };
        let tenants: Vec<Uuid> = pending.iter().map(|&i| jobs[i].tenant_id.0).collect();
        let kinds = col(&|j| Some(j.kind.as_str().to_owned()));
        let dedupe = col(&|j| j.dedupe_key.clone());
        let inputs: Vec<Value> = pending.iter().map(|&i| jobs[i].input.clone()).collect();
        let hooks = col(&|j| j.webhook_url.clone());
        let requests = col(&|j| j.request_id.clone());
        let tasks = col(&|j| j.dispatch_as.map(|t| t.to_string()));
        let parents: Vec<Option<Uuid>> = pending.iter().map(|&i| jobs[i].parent_id.map(|p| p.0)).collect();
        let inserted: Vec<Uuid> = sqlx::query_scalar(
            "insert into jobs (id, tenant_id, kind, status, dedupe_key, input, webhook_url, request_id,
                               queue_task_id, dispatched_at, parent_id)
             select t.id, t.tenant_id, t.kind, 'queued', t.dedupe_key, t.input, t.webhook_url, t.request_id,
                    t.task_id, case when t.task_id is null then null else now() end, t.parent_id
             from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
                         $8::text[], $9::uuid[])
                  as t(id, tenant_id, kind, dedupe_key, input, webhook_url, request_id, task_id, parent_id)
             on conflict (tenant_id, dedupe_key) where status in ('queued', 'running') and dedupe_key is not null
             do nothing returning id",
        )
        .bind(&ids)
        .bind(&tenants)
        .bind(&kinds)
        .bind(&dedupe)
        .bind(&inputs)
        .bind(&hooks)
        .bind(&requests)
        .bind(&tasks)
        .bind(&parents)
        .fetch_all(&mut *conn)
        .await?;
        let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
        let mut joined_keys: Vec<(Uuid, String)> = Vec::new();
        for (slot, &i) in pending.iter().enumerate() {
            if inserted.contains(&ids[slot]) {
                answers[i] = Some(Created::New(JobId(ids[slot])));
            } else if let Some(key) = &jobs[i].dedupe_key {
                joined_keys.push((jobs[i].tenant_id.0, key.clone()));
            }
        }
        if joined_keys.is_empty() {
            continue;
        }
        let (tenants, keys): (Vec<Uuid>, Vec<String>) = joined_keys.into_iter().unzip();
        let existing: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
            "select j.tenant_id, j.dedupe_key, j.id from jobs j
             join unnest($1::uuid[], $2::text[]) as k(tenant_id, dedupe_key)
               on j.tenant_id = k.tenant_id and j.dedupe_key = k.dedupe_key
             where j.status in ('queued', 'running')",
        )
        .bind(&tenants)
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await?;
        for (tenant, key, id) in existing {
            for &i in &pending {
                if answers[i].is_none() && jobs[i].tenant_id.0 == tenant && jobs[i].dedupe_key.as_deref() == Some(&key)
                {
                    answers[i] = Some(Created::Joined(JobId(id)));
                }
            }
        }
        // Keys whose in-flight job finished between the two statements are tried again.
    }
    answers
        .into_iter()
        .map(|a| a.ok_or_else(|| sqlx::Error::Protocol("job dedupe did not settle after 5 tries".into())))
        .collect()
}

/// Forgets a dispatch that could not be pushed, so the dispatcher pushes the job later.
pub async fn undo_dispatch(pool: &PgPool, id: JobId, task_id: Ulid) -> Result<(), sqlx::Error> {
    sqlx::query("update jobs set dispatched_at = null, queue_task_id = null where id = $1 and queue_task_id = $2")
        .bind(id.0)
        .bind(task_id.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// A job claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// Owner.
    pub tenant_id: Uuid,
    /// Kind name.
    pub kind: String,
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
}

/// Claims a due job for `owner` with a lease; `None` when it is not claimable (finished, not due,
/// or running under a live lease elsewhere): the delivery is then a duplicate and is dropped.
pub async fn claim(pool: &PgPool, id: JobId, owner: &str, lease: Duration) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "update jobs set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
                lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3),
                state_version = state_version + 1, updated_at = now()
         where id = $1
           and ((status = 'queued' and next_run_at <= now()) or (status = 'running' and lease_expires_at < now()))
         returning tenant_id, kind, input, attempts, created_at, next_run_at, webhook_url, request_id",
    )
    .bind(id.0)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
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

/// [`claim`] for many deliveries in one statement (group commit): returns the jobs claimed, in
/// no particular order; an id that is missing from the answer was not claimable.
pub async fn claim_many(
    pool: &PgPool,
    ids: &[Uuid],
    owner: &str,
    lease: Duration,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "with locked as (
             select id, status, next_run_at, lease_expires_at from jobs where id = any($1) order by id for update
         )
         update jobs set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
                lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3),
                state_version = state_version + 1, updated_at = now()
         from locked
         where jobs.id = locked.id
           and ((locked.status = 'queued' and locked.next_run_at <= now())
                or (locked.status = 'running' and locked.lease_expires_at < now()))
         returning jobs.id, jobs.tenant_id, jobs.kind, jobs.input, jobs.attempts, jobs.created_at,
                   jobs.next_run_at, jobs.webhook_url, jobs.request_id",
    )
    .bind(ids)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// [`mark_succeeded`] for many jobs in one statement: returns the ids this call completed (those
/// `owner` still held).
pub async fn succeed_many(exec: impl PgExecutor<'_>, ids: &[Uuid], owner: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "with locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         )
         update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         from locked
         where jobs.id = locked.id and locked.status = 'running' and locked.lease_owner = $2
         returning jobs.id",
    )
    .bind(ids)
    .bind(owner)
    .fetch_all(exec)
    .await
}

/// Extends the leases of jobs `owner` is still running.
///
/// Every statement that changes many jobs by id (this one, [`claim_many`], [`succeed_many`],
/// `results::complete_validations`) first locks its rows in id order: two of them running at
/// once then wait for each other instead of deadlocking (which PostgreSQL only detects after
/// `deadlock_timeout`, failing one whole group). Their conditions test the locked copy
/// (`locked.status`), never `jobs.status`: a status condition on `jobs` lets the planner walk a
/// partial index of every in-flight job instead of the primary key, which at a large backlog
/// (and stale statistics) cost seconds per statement.
pub async fn renew_leases(pool: &PgPool, ids: &[Uuid], owner: &str, lease: Duration) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "with locked as (
             select id, status, lease_owner from jobs where id = any($1) order by id for update
         )
         update jobs set lease_expires_at = now() + make_interval(secs => $3)
         from locked
         where jobs.id = locked.id and locked.lease_owner = $2 and locked.status = 'running'",
    )
    .bind(ids)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Marks a claimed job succeeded (kinds without a result row: webhook deliveries).
pub async fn mark_succeeded(exec: impl PgExecutor<'_>, id: JobId, owner: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set status = 'succeeded', finished_at = now(), error = null, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2",
    )
    .bind(id.0)
    .bind(owner)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a claimed job failed for good; false when `owner` no longer holds it.
pub async fn mark_failed(
    exec: impl PgExecutor<'_>,
    id: JobId,
    owner: &str,
    error: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set status = 'failed', finished_at = now(), error = $3, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2",
    )
    .bind(id.0)
    .bind(owner)
    .bind(error)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed job back in the queue, due after `delay`; `refund_attempt` for throttles that
/// should not use up an attempt. False when `owner` no longer holds it.
pub async fn reschedule(
    pool: &PgPool,
    id: JobId,
    owner: &str,
    delay: Duration,
    error: &Value,
    refund_attempt: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set status = 'queued', next_run_at = now() + make_interval(secs => $3), error = $4,
                attempts = attempts - $5, dispatched_at = null, queue_task_id = null, lease_owner = null,
                lease_expires_at = null, state_version = state_version + 1, updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2",
    )
    .bind(id.0)
    .bind(owner)
    .bind(delay.as_secs_f64())
    .bind(error)
    .bind(i32::from(refund_attempt))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Selects up to `limit` due, undispatched jobs of `kind`, marks them dispatched under fresh task
/// ids and returns them; the caller pushes them, then commits `tx` (or rolls back on failure).
pub async fn take_due(
    tx: &mut Transaction<'_, Postgres>,
    kind: JobKind,
    limit: usize,
) -> Result<Vec<(JobId, Ulid)>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select id from jobs where kind = $1 and status = 'queued' and dispatched_at is null and next_run_at <= now()
         order by next_run_at limit $2 for update skip locked",
    )
    .bind(kind.as_str())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tasks: Vec<Ulid> = ids.iter().map(|_| Ulid::generate()).collect();
    let task_texts: Vec<String> = tasks.iter().map(ToString::to_string).collect();
    sqlx::query(
        "update jobs set dispatched_at = now(), queue_task_id = t.task_id
         from unnest($1::uuid[], $2::text[]) as t(id, task_id) where jobs.id = t.id",
    )
    .bind(&ids)
    .bind(&task_texts)
    .execute(&mut **tx)
    .await?;
    Ok(ids.into_iter().map(JobId).zip(tasks).collect())
}

/// Requeues running jobs whose lease expired (their worker died); those out of attempts fail.
/// Returns `(requeued, failed)`.
pub async fn requeue_expired(pool: &PgPool, max_attempts: u32) -> Result<(u64, u64), sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "update jobs set
            status = case when attempts >= $1 then 'failed' else 'queued' end,
            error = case when attempts >= $1
                then jsonb_build_object('code', 'worker_lost', 'message', 'the job''s worker stopped responding on every attempt')
                else error end,
            finished_at = case when attempts >= $1 then now() else null end,
            dispatched_at = null, queue_task_id = null, lease_owner = null, lease_expires_at = null,
            state_version = state_version + 1, updated_at = now()
         where id in (select id from jobs where status = 'running' and lease_expires_at < now()
                      order by lease_expires_at limit 5000 for update skip locked)
         returning status",
    )
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .fetch_all(pool)
    .await?;
    let failed = rows.iter().filter(|(s,)| s == "failed").count() as u64;
    Ok((rows.len() as u64 - failed, failed))
}

/// Queued jobs dispatched longer than `grace` ago: `(job id, task id)` to verify against Redis.
pub async fn dispatched_before(
    pool: &PgPool,
    kind: JobKind,
    grace: Duration,
    limit: usize,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "select id, queue_task_id from jobs
         where kind = $1 and status = 'queued' and dispatched_at < now() - make_interval(secs => $2)
           and queue_task_id is not null
         order by dispatched_at limit $3",
    )
    .bind(kind.as_str())
    .bind(grace.as_secs_f64())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// Marks dispatches as verified (still in Redis) or lost (to be pushed again).
pub async fn settle_dispatches(
    pool: &PgPool,
    held: &[(Uuid, String)],
    lost: &[(Uuid, String)],
) -> Result<(), sqlx::Error> {
    let split = |v: &[(Uuid, String)]| -> (Vec<Uuid>, Vec<String>) { v.iter().cloned().unzip() };
    if !held.is_empty() {
        let (ids, tasks) = split(held);
        sqlx::query(
            "update jobs set dispatched_at = now() from unnest($1::uuid[], $2::text[]) as t(id, task_id)
             where jobs.id = t.id and jobs.queue_task_id = t.task_id and jobs.status = 'queued'",
        )
        .bind(&ids)
        .bind(&tasks)
        .execute(pool)
        .await?;
    }
    if !lost.is_empty() {
        let (ids, tasks) = split(lost);
        sqlx::query(
            "update jobs set dispatched_at = null, queue_task_id = null from unnest($1::uuid[], $2::text[]) as t(id, task_id)
             where jobs.id = t.id and jobs.queue_task_id = t.task_id and jobs.status = 'queued'",
        )
        .bind(&ids)
        .bind(&tasks)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Queue figures of one kind for the depth gauges.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct KindDepth {
    /// Queued jobs.
    pub queued: i64,
    /// Running jobs.
    pub running: i64,
    /// Age in seconds of the oldest due queued job (0 when none).
    pub oldest_queued_age: f64,
}

/// Counts queued and running jobs of a kind.
pub async fn depth(pool: &PgPool, kind: JobKind) -> Result<KindDepth, sqlx::Error> {
    sqlx::query_as(
        "select count(*) filter (where status = 'queued') as queued,
                count(*) filter (where status = 'running') as running,
                coalesce(extract(epoch from now() - min(next_run_at) filter (where status = 'queued'
                    and next_run_at <= now()))::float8, 0) as oldest_queued_age
         from jobs where kind = $1 and status in ('queued', 'running')",
    )
    .bind(kind.as_str())
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
    sqlx::query_as(
        "select j.id, j.tenant_id, j.kind, j.status, j.input, j.error, j.attempts, j.state_version,
                j.parent_id, j.webhook_url, j.next_run_at, j.created_at, j.started_at, j.finished_at, j.updated_at,
                null::jsonb as result
         from jobs j
         where j.tenant_id = $1
           and ($2::text is null or j.status = $2)
           and ($3::text is null or j.kind = $3)
           and (j.created_at, j.id) < ($4, $5)
         order by j.created_at desc, j.id desc
         limit $6",
    )
    .bind(tenant.0)
    .bind(f.status.map(JobStatus::as_str))
    .bind(f.kind.map(JobKind::as_str))
    .bind(before_at)
    .bind(before_id)
    .bind(f.limit + 1)
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

/// Cancels a tenant's queued job (and the queued children of a batch) in one statement.
pub async fn cancel(pool: &PgPool, tenant: TenantId, id: JobId) -> Result<Cancel, sqlx::Error> {
    let canceled: Option<Uuid> = sqlx::query_scalar(
        "with target as (
             update jobs set status = 'canceled', finished_at = now(), lease_owner = null, lease_expires_at = null,
                    state_version = state_version + 1, updated_at = now()
             where id = $1 and tenant_id = $2 and (status = 'queued' or (kind = 'batch' and status = 'running'))
             returning id
         ), children as (
             update jobs set status = 'canceled', finished_at = now(), state_version = state_version + 1, updated_at = now()
             where parent_id in (select id from target) and status = 'queued'
         )
         select id from target",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_optional(pool)
    .await?;
    if canceled.is_some() {
        return Ok(Cancel::Canceled);
    }
    let status: Option<String> = sqlx::query_scalar("select status from jobs where id = $1 and tenant_id = $2")
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(pool)
        .await?;
    Ok(match status.and_then(|s| JobStatus::parse(&s)) {
        Some(s) => Cancel::NotCancelable(s),
        None => Cancel::NotFound,
    })
}
