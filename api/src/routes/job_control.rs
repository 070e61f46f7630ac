//! `GET /v1/jobs` (newest first, filters, keyset cursor), `DELETE /v1/jobs/{id}` (cancel) and
//! `GET /v1/jobs/{id}/deliveries` (webhook delivery log).

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use dropforge_common::{
    db::{self, jobs::Cancel, jobs::JobFilter},
    domain::{JobKind, JobStatus},
    events,
    product::FieldError,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::Tenant,
    documents::{DeliveryAttempt, DeliveryLog, Job, JobPage},
    error::ApiError,
    extract::{JobIdPath, StrictQuery},
    lookup,
    problem::{
        Problem,
        responses::{BadQuery, InternalError, MethodNotAllowed, ServiceUnavailable, TooManyRequests, Unauthorized},
    },
    state::AppState,
};

/// Query parameters of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `queued|running|succeeded|failed|canceled`.
    pub status: Option<String>,
    /// `validation|batch|search|suppliers|webhook`.
    pub kind: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<String>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", at.timestamp_micros(), id.simple()))
}

fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (micros, id) = text.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

fn parse_filter(q: &ListQuery) -> Result<JobFilter, ApiError> {
    let mut errors = Vec::new();
    let status = q.status.as_deref().and_then(|s| {
        JobStatus::parse(s).or_else(|| {
            errors.push(FieldError::new(
                "/query/status",
                "must be queued, running, succeeded, failed or canceled",
            ));
            None
        })
    });
    let kind = q.kind.as_deref().and_then(|k| {
        JobKind::parse(k).or_else(|| {
            errors.push(FieldError::new(
                "/query/kind",
                "must be validation, batch, search, suppliers, webhook or canary",
            ));
            None
        })
    });
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new("/query/limit", "must be an integer between 1 and 100"));
            20
        }
    };
    let before = q.cursor.as_deref().and_then(|c| {
        decode_cursor(c).or_else(|| {
            errors.push(FieldError::new("/query/cursor", "is not a cursor returned by this API"));
            None
        })
    });
    if errors.is_empty() {
        Ok(JobFilter {
            status,
            kind,
            before,
            limit,
        })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Handler of `GET /v1/jobs`: the tenant's jobs newest first (results are read per job).
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", summary = "List jobs", security(("bearer" = [])),
    params(("status" = Option<JobStatus>, Query, description = "queued, running, succeeded, failed or canceled"),
           ("kind" = Option<JobKind>, Query, description = "validation, batch, search, suppliers, webhook or canary"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size (20)"),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Newest first", body = JobPage,
            headers(("Link" = String, description = "rel=next when there is another page"),
                    ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized), (status = 405, response = MethodNotAllowed),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequests), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    StrictQuery(query): StrictQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = parse_filter(&query)?;
    let mut rows = db::jobs::list(&state.pool, tenant, &filter).await?;
    let has_more = rows.len() as i64 > filter.limit;
    rows.truncate(usize::try_from(filter.limit).unwrap_or(20));
    let next_cursor = has_more
        .then(|| rows.last().map(|j| encode_cursor(j.created_at, j.id)))
        .flatten();
    let page = JobPage {
        data: rows.into_iter().map(Job::from_owned).collect(),
        has_more,
        next_cursor,
    };
    let mut response = Json(&page).into_response();
    if let Some(cursor) = &page.next_cursor {
        let mut link = format!("</v1/jobs?cursor={cursor}&limit={}", filter.limit);
        if let Some(s) = filter.status {
            link.push_str(&format!("&status={}", s.as_str()));
        }
        if let Some(k) = filter.kind {
            link.push_str(&format!("&kind={}", k.as_str()));
        }
        link.push_str(">; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}

/// Handler of `DELETE /v1/jobs/{id}`: cancels a queued job (and a batch's queued children).
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", summary = "Cancel a queued job", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Canceled", body = Job,
            headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, description = "Invalid job id", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 405, response = MethodNotAllowed),
        (status = 409, description = "Not cancelable (`job_not_cancelable`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequests), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn cancel_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
) -> Result<Response, ApiError> {
    match db::jobs::cancel(&state.pool, tenant, id).await? {
        Cancel::Canceled => {
            // Best effort (waiters re-read PostgreSQL anyway): bounded by the request-path deadline.
            let publish = events::publish_finished(state.queue.connection(), &state.config.redis_prefix, id);
            if !state.queue_redis.is_open()
                && tokio::time::timeout(state.queue_redis.timeout(), publish)
                    .await
                    .is_err()
            {
                tracing::debug!(job.id = %id, "cancel event not published in time");
            }
            let job = lookup::jobs::read(&state, tenant, id).await?;
            Ok(Json(Job::from_owned(job)).into_response())
        }
        Cancel::NotCancelable(status) => Err(ApiError::JobNotCancelable(status.as_str())),
        Cancel::NotFound => Err(ApiError::JobNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("time");
        let id = Uuid::from(ulid::Ulid::generate());
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }
}

/// Handler of `GET /v1/jobs/{id}/deliveries`: the job's webhook delivery log (one row per attempt).
#[utoipa::path(get, path = "/v1/jobs/{id}/deliveries", tag = "jobs", summary = "Webhook delivery log of a job",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "One entry per attempt (attempt, time, status code or error, next retry)",
            body = DeliveryLog, headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, description = "Invalid job id", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 405, response = MethodNotAllowed),
        (status = 429, response = TooManyRequests), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
) -> Result<Response, ApiError> {
    lookup::jobs::read(&state, tenant, id).await?;
    let entries = db::webhooks::log_for_job(&state.pool, tenant, id).await?;
    let log = DeliveryLog {
        data: entries.into_iter().map(DeliveryAttempt::from).collect(),
    };
    Ok(Json(log).into_response())
}
