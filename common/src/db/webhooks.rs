//! Webhook tables: tenants' signing secrets (with rotation), deliveries (the outbox), attempts and
//! disabled URLs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::{
    apikey,
    domain::{JobId, JobKind, TenantId},
};

/// The secrets that sign a tenant's webhooks now: the current one first, then every replaced
/// secret whose promised overlap has not ended, newest first (receivers accept any signature).
pub async fn signing_secrets(pool: &PgPool, tenant: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar!(
        r#"select secret as "secret!" from (
             select webhook_secret as secret, 0 as rank, null::timestamptz as replaced from tenants where id = $1
             union all
             select secret, 1, replaced_at from webhook_secret_overlaps where tenant_id = $1 and valid_until > now()
             union all
             -- written by binaries older than webhook_secret_overlaps during a rolling upgrade
             select webhook_secret_previous, 2, null from tenants
             where id = $1 and webhook_secret_previous is not null and webhook_secret_previous_until > now()
         ) s order by rank, replaced desc"#,
        tenant,
    )
    .fetch_all(pool)
    .await?;
    let mut secrets: Vec<String> = Vec::with_capacity(rows.len());
    for secret in rows {
        if !secrets.contains(&secret) {
            secrets.push(secret);
        }
    }
    Ok(secrets)
}

/// Rotates a tenant's signing secret; the replaced one keeps signing for `overlap`, and every
/// secret replaced earlier keeps signing until the end of its own overlap. Returns the new one.
pub async fn rotate_secret(pool: &PgPool, tenant_name: &str, overlap: Duration) -> Result<Option<String>, sqlx::Error> {
    let secret = apikey::generate_webhook_secret();
    let mut tx = pool.begin().await?;
    let current: Option<(Uuid, String)> = sqlx::query!(
        "select id, webhook_secret from tenants where name = $1 for update",
        tenant_name
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.id, r.webhook_secret));
    let Some((tenant, replaced)) = current else {
        return Ok(None);
    };
    sqlx::query!(
        "delete from webhook_secret_overlaps where tenant_id = $1 and valid_until <= now()",
        tenant
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into webhook_secret_overlaps (tenant_id, secret, replaced_at, valid_until)
         values ($1, $2, clock_timestamp(), now() + make_interval(secs => $3))
         on conflict (tenant_id, secret) do update
         set valid_until = greatest(webhook_secret_overlaps.valid_until, excluded.valid_until),
             replaced_at = excluded.replaced_at",
        tenant,
        &replaced,
        overlap.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update tenants set webhook_secret_previous = webhook_secret, webhook_secret = $2,
                webhook_secret_previous_until = now() + make_interval(secs => $3)
         where id = $1",
        tenant,
        &secret,
        overlap.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(secret))
}

/// A delivery to create with the job event that triggers it.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// Tenant of the job.
    pub tenant_id: TenantId,
    /// The job the event is about.
    pub job_id: JobId,
    /// `job.succeeded`, `job.failed`, `batch.completed`.
    pub event_type: &'a str,
    /// Target URL (vetted at submit time, and again at delivery).
    pub url: &'a str,
    /// The exact body to sign and send.
    pub payload: &'a str,
}

/// Writes a delivery and the webhook job that sends it, in one statement (call it in the same
/// transaction that finishes the job, so the event survives a crash right after). Nothing is
/// written when the tenant disabled the URL (410 Gone) or the event was already recorded.
pub async fn enqueue(exec: impl PgExecutor<'_>, d: &NewDelivery<'_>) -> Result<bool, sqlx::Error> {
    let delivery_id = format!("msg_{}", ulid::Ulid::generate());
    let job_id = JobId::generate();
    let written: Option<Option<String>> = sqlx::query_scalar!(
        "with delivery as (
             insert into webhook_deliveries (id, tenant_id, job_id, event_type, url, payload)
             select $1, $2, $3, $4, $5, $6
             where not exists (select 1 from disabled_webhook_urls where tenant_id = $2 and url = $5)
             on conflict (job_id, event_type, url) do nothing
             returning id
         )
         insert into jobs (id, tenant_id, kind, status, input, parent_id)
         select $7, $2, $8, 'queued', jsonb_build_object('delivery_id', id), $3 from delivery
         returning input ->> 'delivery_id'",
        &delivery_id,
        d.tenant_id.0,
        d.job_id.0,
        d.event_type,
        d.url,
        d.payload,
        job_id.0,
        JobKind::Webhook.as_str(),
    )
    .fetch_optional(exec)
    .await?;
    Ok(written.flatten().is_some())
}

/// A delivery as the sender needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Target.
    pub url: String,
    /// Body.
    pub payload: String,
    /// `pending`, `delivered`, `failed`, `disabled`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
}

/// Loads a delivery.
pub async fn load(pool: &PgPool, id: &str) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as!(
        Delivery,
        "select id, tenant_id, url, payload, status, attempts from webhook_deliveries where id = $1",
        id,
    )
    .fetch_optional(pool)
    .await
}

/// One logged attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// 1-based attempt number.
    pub attempt_no: i32,
    /// Wall time.
    pub duration: Duration,
    /// HTTP status, when a response arrived.
    pub response_status: Option<u16>,
    /// `timeout`, `connect`, `dns`, `blocked_ip`, `http_status`, `redirect`, ...
    pub error_class: Option<&'a str>,
    /// First bytes of the response body.
    pub response_excerpt: &'a str,
    /// When the next attempt is due (`None`: no more attempts).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The delivery's status after this attempt.
    pub delivery_status: &'a str,
}

/// Logs an attempt and updates its delivery, in one statement.
pub async fn record_attempt(pool: &PgPool, delivery_id: &str, a: &Attempt<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "with logged as (
             insert into webhook_attempts (delivery_id, attempt_no, duration_ms, response_status, error_class,
                                           response_excerpt, next_attempt_at)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (delivery_id, attempt_no) do nothing
         )
         update webhook_deliveries set attempts = greatest(attempts, $2), status = $8, next_attempt_at = $7,
                finished_at = case when $8 = 'pending' then null else now() end
         where id = $1",
        delivery_id,
        a.attempt_no,
        i32::try_from(a.duration.as_millis()).unwrap_or(i32::MAX),
        a.response_status.map(i32::from),
        a.error_class,
        a.response_excerpt,
        a.next_attempt_at,
        a.delivery_status,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Disables a URL for a tenant (the receiver answered 410 Gone).
pub async fn disable_url(pool: &PgPool, tenant: Uuid, url: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into disabled_webhook_urls (tenant_id, url, reason) values ($1, $2, $3) on conflict do nothing",
        tenant,
        url,
        reason,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Re-enables a URL the tenant disabled (after a `410 Gone`): later submissions naming it are
/// accepted and delivered again. Answers `None` when no tenant has this name, otherwise whether a
/// disabled URL was removed.
pub async fn enable_url(pool: &PgPool, tenant_name: &str, url: &str) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"with t as (select id from tenants where name = $1),
              removed as (
                  delete from disabled_webhook_urls d using t where d.tenant_id = t.id and d.url = $2
                  returning 1
              )
         select exists(select 1 from removed) as "removed!" from t"#,
        tenant_name,
        url,
    )
    .fetch_optional(pool)
    .await
}

/// A request answered from the cache that named a webhook URL: the job row that records it.
#[derive(Debug, Clone)]
pub struct CachedAnswer<'a> {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Kind of the job (`validation`).
    pub kind: JobKind,
    /// Normalised input, as a run job would carry it.
    pub input: &'a serde_json::Value,
    /// The cache key the answer came from.
    pub cache_key: &'a str,
    /// The cached result document as JSON text.
    pub result: &'a str,
    /// The webhook target (already vetted).
    pub url: &'a str,
    /// Request id for log correlation.
    pub request_id: Option<&'a str>,
}

/// Records a request answered from the cache as a job that already `succeeded` (its result in
/// `job_results`, so it is readable at `/v1/jobs/{id}` but never read back as a fresher cache
/// entry) and writes its `job.succeeded` event to the outbox, all in one transaction. `payload`
/// builds the event body from the new job's id. Answers the job's id and whether the event was
/// written (not when the tenant disabled the URL in the meantime).
pub async fn record_cached_answer(
    pool: &PgPool,
    a: &CachedAnswer<'_>,
    payload: impl FnOnce(JobId) -> String,
) -> Result<(JobId, bool), sqlx::Error> {
    let id = JobId::generate();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "with job as (
             insert into jobs (id, tenant_id, kind, status, input, webhook_url, request_id, started_at, finished_at)
             values ($1, $2, $3, 'succeeded', $4, $5, $6, now(), now())
             returning id
         )
         insert into job_results (job_id, cache_key, kind, result)
         select id, $7, $3, $8::text::jsonb from job",
        id.0,
        a.tenant_id.0,
        a.kind.as_str(),
        a.input,
        a.url,
        a.request_id,
        a.cache_key,
        a.result,
    )
    .execute(&mut *tx)
    .await?;
    let body = payload(id);
    let written = enqueue(
        &mut *tx,
        &NewDelivery {
            tenant_id: a.tenant_id,
            job_id: id,
            event_type: "job.succeeded",
            url: a.url,
            payload: &body,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, written))
}

/// True when the tenant disabled this URL.
pub async fn url_disabled(pool: &PgPool, tenant: Uuid, url: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from disabled_webhook_urls where tenant_id = $1 and url = $2) as "disabled!""#,
        tenant,
        url,
    )
    .fetch_one(pool)
    .await
}

/// One row of `GET /v1/jobs/{id}/deliveries`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeliveryLogEntry {
    /// `webhook-id`.
    pub delivery_id: String,
    /// Event type.
    pub event_type: String,
    /// Target URL.
    pub url: String,
    /// This attempt's outcome: `delivered` (2xx), `disabled` (410 Gone, or the URL was disabled),
    /// `failed` (any other answer or error); `pending` for a delivery not attempted yet.
    pub status: String,
    /// The delivery's status now (`pending`, `delivered`, `failed`, `disabled`), the same on every
    /// attempt of one delivery.
    pub delivery_status: String,
    /// Attempt number (absent for a delivery not attempted yet).
    pub attempt: Option<i32>,
    /// When the attempt ran.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i32>,
    /// HTTP status of the receiver.
    pub response_status: Option<i32>,
    /// Error class when it failed.
    pub error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The delivery log of a tenant's job, oldest first.
pub async fn log_for_job(pool: &PgPool, tenant: TenantId, job: JobId) -> Result<Vec<DeliveryLogEntry>, sqlx::Error> {
    sqlx::query_as!(
        DeliveryLogEntry,
        r#"select d.id as delivery_id, d.event_type, d.url,
                case when a.attempt_no is null then d.status
                     when a.error_class = 'disabled' or a.response_status = 410 then 'disabled'
                     when a.response_status between 200 and 299 then 'delivered'
                     else 'failed' end as "status!",
                d.status as delivery_status, a.attempt_no as "attempt?", a.attempted_at as "attempted_at?",
                a.duration_ms as "duration_ms?", a.response_status as "response_status?", a.error_class as "error?",
                coalesce(a.next_attempt_at, case when a.attempt_no is null then d.next_attempt_at end) as next_attempt_at
         from webhook_deliveries d left join webhook_attempts a on a.delivery_id = d.id -- a.* may be null (`?`)
         where d.job_id = $1 and d.tenant_id = $2
         order by d.created_at, a.attempt_no"#,
        job.0,
        tenant.0,
    )
    .fetch_all(pool)
    .await
}
