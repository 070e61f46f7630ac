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
    cancel, claim, claim_many, mark_failed, mark_succeeded, renew_leases, requeue_expired, reschedule,
    settle_dispatches, succeed_many, take_due, undo_dispatch,
};
use crate::domain::{JobId, JobKind, JobStatus, TenantId};

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
        let inserted: Option<Uuid> = sqlx::query_scalar!(
            "insert into jobs (id, tenant_id, kind, status, dedupe_key, input, webhook_url, request_id,
                               queue_task_id, dispatched_at, parent_id)
             values ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, case when $8::text is null then null else now() end, $9)
             on conflict (tenant_id, dedupe_key) where status in ('queued', 'running') and dedupe_key is not null
             do nothing returning id",
            id.0,
            job.tenant_id.0,
            job.kind.as_str(),
            job.dedupe_key.as_deref(),
            &job.input,
            job.webhook_url.as_deref(),
            job.request_id.as_deref(),
            job.dispatch_as.map(|t| t.to_string()),
            job.parent_id.map(|p| p.0),
        )
        .fetch_optional(pool)
        .await?;
        if let Some(id) = inserted {
            return Ok(Created::New(JobId(id)));
        }
        let existing: Option<Uuid> = sqlx::query_scalar!(
            "select id from jobs where tenant_id = $1 and dedupe_key = $2 and status in ('queued', 'running')",
            job.tenant_id.0,
            job.dedupe_key.as_deref() as Option<&str>,
        )
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
        let inserted: Vec<Uuid> = sqlx::query_scalar!(
            "insert into jobs (id, tenant_id, kind, status, dedupe_key, input, webhook_url, request_id,
                               queue_task_id, dispatched_at, parent_id)
             select t.id, t.tenant_id, t.kind, 'queued', t.dedupe_key, t.input, t.webhook_url, t.request_id,
                    t.task_id, case when t.task_id is null then null else now() end, t.parent_id
             from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
                         $8::text[], $9::uuid[])
                  as t(id, tenant_id, kind, dedupe_key, input, webhook_url, request_id, task_id, parent_id)
             on conflict (tenant_id, dedupe_key) where status in ('queued', 'running') and dedupe_key is not null
             do nothing returning id",
            &ids,
            &tenants,
            &kinds as &[Option<String>],
            &dedupe as &[Option<String>],
            &inputs,
            &hooks as &[Option<String>],
            &requests as &[Option<String>],
            &tasks as &[Option<String>],
            &parents as &[Option<Uuid>],
        )
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
        let existing = sqlx::query!(
            r#"select j.tenant_id, j.dedupe_key as "dedupe_key!", j.id from jobs j
             join unnest($1::uuid[], $2::text[]) as k(tenant_id, dedupe_key)
               on j.tenant_id = k.tenant_id and j.dedupe_key = k.dedupe_key
             where j.status in ('queued', 'running')"#,
            &tenants,
            &keys,
        )
        .fetch_all(&mut *conn)
        .await?;
        for (tenant, key, id) in existing.into_iter().map(|r| (r.tenant_id, r.dedupe_key, r.id)) {
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

/// Queued jobs dispatched longer than `grace` ago: `(job id, task id)` to verify against Redis.
pub async fn dispatched_before(
    pool: &PgPool,
    kind: JobKind,
    grace: Duration,
    limit: usize,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id, queue_task_id as "queue_task_id!" from jobs
         where kind = $1 and status = 'queued' and dispatched_at < now() - make_interval(secs => $2)
           and queue_task_id is not null
         order by dispatched_at limit $3"#,
        kind.as_str(),
        grace.as_secs_f64(),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.queue_task_id)).collect())
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
    sqlx::query_as!(
        KindDepth,
        r#"select count(*) filter (where status = 'queued') as "queued!",
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
                j.finished_at, j.updated_at, null::jsonb as result
         from jobs j
         where j.tenant_id = $1
           and ($2::text is null or j.status = $2)
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
