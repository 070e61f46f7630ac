//! `GET /v1/jobs/{id}`: a tenant's job with its result, an `ETag`, and `304` on `If-None-Match`.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    auth::Tenant,
    documents::{BatchProgress, Job},
    error::ApiError,
    extract::JobIdPath,
    lookup::{self, wait},
    problem::{
        Problem,
        responses::{InternalError, MethodNotAllowed, ServiceUnavailable, TooManyRequests, Unauthorized},
    },
    state::AppState,
};

/// Handler of `GET /v1/jobs/{id}`; another tenant's job answers 404 like a missing one.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    summary = "Read a job",
    description = "The job with its result once finished. Poll while `status` is `queued` or `running` (the answer \
        then carries `Retry-After`); send the last `ETag` in `If-None-Match` to get 304 when nothing changed.",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, example = "019ac3b2-6c1d-7e6f-9a8b-123456789abc", description = "Job id"),
        ("If-None-Match" = Option<String>, Header, example = "\"019ac3b2-6c1d-7e6f-9a8b-123456789abc-3\"",
            description = "An `ETag` from an earlier answer (or `*`): 304 when the job has not changed."),
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "`wait=N` (N capped at 30): answer when the job ends, or after N seconds (long poll)."),
    ),
    responses(
        (status = 200, description = "The job", body = Job,
            headers(
                ("ETag" = String, description = "Version of the job"),
                ("Cache-Control" = String, description = "`private, no-cache`"),
                ("Retry-After" = u32, description = "Seconds before polling again; only while the job is not finished"),
                ("RateLimit" = String, description = "Remaining quota of the most restrictive policy"),
                ("RateLimit-Policy" = String, description = "Applied quota policies"),
            )),
        (status = 304, description = "Not modified since the `ETag` in `If-None-Match`",
            headers(
                ("ETag" = String, description = "Version of the job"),
                ("Cache-Control" = String, description = "`private, no-cache`"),
                ("Retry-After" = u32, description = "Seconds before polling again; only while the job is not finished"),
            )),
        (status = 400, description = "The id is not a job id (`invalid_job_id`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such job for this API key's account (`job_not_found`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 405, response = MethodNotAllowed),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // `Prefer: wait=N` long-polls: the answer comes when the job ends (or after N seconds).
    let wait = wait::preferred_wait(&headers, state.config.api.max_wait);
    let (job, _) = wait::read_or_wait(&state, tenant, id, wait, false).await?;
    let (version, terminal) = (job.state_version, job.status().is_terminal());
    let document = lookup::jobs::document(&state, job).await?;
    // A batch's representation also changes as its items progress: the ETag covers both.
    let etag = match &document {
        Job::Batch(batch) => {
            let p = batch.progress.unwrap_or(BatchProgress::of(&[]));
            format!("\"{}-{}-{}-{}-{}\"", id, version, p.done, p.failed, p.canceled)
        }
        _ => format!("\"{}-{}\"", id, version),
    };
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.to_string()))?;
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag);
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        axum::Json(document).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag_value);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if !terminal {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(v) = wait::applied(wait) {
        h.insert(crate::header_names::PREFERENCE_APPLIED, v);
    }
    Ok(response)
}
