//! `POST /v1/validations`: answer from the cache at once, otherwise create (or join) a job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    cache::{self, ValidationOptions},
    country::{self, CountryError},
    db::{self, jobs::NewJob},
    domain::{JobId, JobKind, TenantId},
    metric_names as m,
    product::{FieldError, ProductRef, parse_product},
    scoring::MODEL,
    webhook::{
        payload,
        ssrf::{self, UrlPolicy},
    },
};
use serde_json::{Value, json};
use ulid::Ulid;

use crate::{
    auth::Tenant,
    cached_body::CachedBody,
    error::ApiError,
    extract::JsonBody,
    routes::jobs::{job_document, job_location},
    state::AppState,
};

/// A validated `POST /v1/validations` body.
#[derive(Debug, Clone)]
pub struct ValidationRequest {
    /// The product.
    pub product: ProductRef,
    /// Options that shape the result.
    pub options: ValidationOptions,
    /// Where to send the `job.succeeded` / `job.failed` event (SSRF-checked).
    pub webhook_url: Option<url::Url>,
}

const MEMBERS: &[&str] = &["product", "country", "target_price", "webhook_url"];

/// Parses and validates the body, collecting every problem with its JSON pointer.
pub fn parse_request(body: &Value, default_country: &str, policy: &UrlPolicy) -> Result<ValidationRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| !MEMBERS.contains(&k.as_str())) {
        errors.push(FieldError::new(format!("/{key}"), "is not a known member"));
    }
    let product = match obj.get("product") {
        None => {
            errors.push(FieldError::new("/product", "is required"));
            None
        }
        Some(v) => parse_product(v, "/product").map_err(|e| errors.push(e)).ok(),
    };
    let country = match obj.get("country") {
        None | Some(Value::Null) => Some(default_country.to_owned()),
        Some(Value::String(c)) => match country::parse(c) {
            Ok(code) => Some(code.to_owned()),
            Err(e) => {
                errors.push(FieldError::new("/country", e.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/country", CountryError::Malformed.to_string()));
            None
        }
    };
    let target_price = match obj.get("target_price") {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(p) if p.is_finite() && p > 0.0 && p <= 100_000.0 => Some(Some((p * 100.0).round() / 100.0)),
            _ => {
                errors.push(FieldError::new(
                    "/target_price",
                    "must be a price between 0.01 and 100000",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/target_price", "must be a number"));
            None
        }
    };
    let webhook_url = match obj.get("webhook_url") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(url)) => match ssrf::check_url(url, policy) {
            Ok(url) => Some(Some(url)),
            Err(e) => {
                errors.push(FieldError::new("/webhook_url", e.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/webhook_url", "must be a string"));
            None
        }
    };
    match (product, country, target_price, webhook_url) {
        (Some(product), Some(country), Some(target_price), Some(webhook_url)) if errors.is_empty() => {
            Ok(ValidationRequest {
                product,
                options: ValidationOptions { country, target_price },
                webhook_url,
            })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// `Prefer: wait=N` (RFC 7240), clamped to `max` (however many digits N has); invalid
/// preferences are ignored.
pub fn preferred_wait(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait")).then(|| wait_seconds(value.trim().trim_matches('"')))?
        })
        .next()
        .map(|secs| Duration::from_secs(secs).min(max))
}

/// Seconds of a `wait` value: a non-empty run of digits, saturating at `u64::MAX` (RFC 7240
/// delta-seconds has no upper bound; the caller caps it).
fn wait_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

fn count_cache(result: &'static str) {
    metrics::counter!(m::CACHE_REQUESTS_TOTAL, "kind" => "validation", "result" => result).increment(1);
}

/// Handler of `POST /v1/validations`.
#[utoipa::path(
    post,
    path = "/v1/validations",
    tag = "validations",
    summary = "Validate a product",
    description = "Answers 200 with the cached result when there is one; otherwise creates (or joins an identical \
        pending) job and answers 202 with it and its `Location`. With `Prefer: wait=N` the request waits up to N \
        seconds (capped by the deployment) and answers 200 with the finished job when it finishes in time.",
    security(("bearer" = [])),
    params(
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "RFC 7240 `wait=N`: wait up to N seconds for the job to finish; invalid preferences are ignored."),
        ("Idempotency-Key" = Option<String>, Header, example = "8e03978e-40d5-43e8-bc93-6894a57f9324",
            description = "1 to 255 visible ASCII characters. A retry with the same key and body replays the first \
                answer (with `Idempotent-Replayed: true`); the same key with another body is 422; a retry while \
                the first request runs is 409."),
    ),
    request_body(content = crate::openapi::ValidationRequest, content_type = "application/json",
        description = "`application/json` or any `application/*+json`; at most 64 KiB."),
    responses(
        (status = 200, description = "A cached result (`CachedValidation`), or the job finished within `Prefer: wait` (`Job`)",
            content_type = "application/json",
            body = crate::openapi::ValidationAnswer,
            headers(
                ("Cache-Status" = String, description = "RFC 9211: `dropforge; hit` (with `detail=memory|postgres`) or `dropforge; fwd=miss`"),
                ("Content-Location" = String, description = "The finished job, when it is one (a cached answer to a \
                    request with `webhook_url` is recorded as a succeeded job, whose `job.succeeded` event is sent)"),
                ("Preference-Applied" = String, description = "`wait=N` when `Prefer: wait` was honoured"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"),
                ("RateLimit" = String, description = "Remaining quota of the most restrictive policy"),
                ("RateLimit-Policy" = String, description = "Applied quota policies"),
            )),
        (status = 202, description = "Job created or joined; poll `Location`", body = crate::openapi::Job,
            headers(
                ("Location" = String, description = "The job, `/v1/jobs/{id}`"),
                ("Retry-After" = u32, description = "Seconds before polling"),
                ("Cache-Status" = String, description = "`dropforge; fwd=miss`"),
                ("Preference-Applied" = String, description = "`wait=N` when `Prefer: wait` was honoured"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"),
                ("RateLimit" = String, description = "Remaining quota of the most restrictive policy"),
                ("RateLimit-Policy" = String, description = "Applied quota policies"),
            )),
        (status = 400, description = "Malformed JSON (`malformed_json`) or invalid `Idempotency-Key` (`idempotency_key_invalid`)",
            body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 405, response = crate::openapi::MethodNotAllowed),
        (status = 409, description = "A request with this `Idempotency-Key` is still running (`idempotency_request_in_progress`)",
            body = crate::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds before retrying"))),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)",
            body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, each in `errors` (`validation_failed`), a `webhook_url` \
            disabled after it answered 410 Gone (`webhook_url_disabled`, pointer `/webhook_url`), or an \
            `Idempotency-Key` reused with another body (`idempotency_key_reused`)",
            body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::ServiceUnavailable),
    )
)]
pub async fn create_validation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let cfg = &state.config;
    let policy = UrlPolicy::from(&cfg.webhooks);
    let request = parse_request(&body, &cfg.upstreams.aliexpress.ship_to_country, &policy)?;
    if let Some(url) = &request.webhook_url {
        // Names are checked where they resolve now, and again (pinned) at every delivery.
        ssrf::resolve_checked(url, &policy)
            .await
            .map_err(|e| ApiError::Validation(vec![FieldError::new("/webhook_url", e.to_string())]))?;
    }
    // A URL that answered 410 Gone would never get the event this request asks for: refuse it.
    let webhook_url = request.webhook_url.as_ref().map(url::Url::to_string);
    if let Some(url) = &webhook_url {
        refuse_disabled(&state, tenant, url).await?;
    }
    let key = cache::validation_key(&cfg.redis_prefix, MODEL, &request.product, &request.options);
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let input = json!({
        "product": request.product,
        "country": request.options.country,
        "target_price": request.options.target_price,
        "cache_key": key,
    });
    let hook = webhook_url.as_deref().map(|url| CachedHook {
        url,
        input: &input,
        key: &key,
        request_id: request_id.as_deref(),
    });

    // The memo holds only encoded answers; a request naming a webhook_url needs the result
    // document for its event, so it reads Redis (then PostgreSQL) instead.
    let memo_hit = if hook.is_none() { state.memo.get(&key) } else { None };
    if let Some(hit) = memo_hit {
        count_cache("hit");
        return Ok(hit.response(&headers, "dropforge; hit; detail=memory"));
    }
    // A slow or failed cache read is a miss: PostgreSQL, the truth, is read next.
    match state.cache_redis.call(state.cache.get(&key)).await {
        Ok(Some(hit)) => {
            count_cache("hit");
            let job = match &hook {
                Some(hook) => Some(answer_cached(&state, tenant, hook, &hit).await?),
                None => None,
            };
            let body = Arc::new(CachedBody::new(&hit));
            state.memo.put(&key, body.clone(), cfg.api.result_memo_ttl);
            return Ok(with_job_location(body.response(&headers, "dropforge; hit"), job));
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "cache read failed; falling back to PostgreSQL"),
    }
    let (full_ttl, partial_ttl) = (
        cfg.cache.validation_ttl.as_secs_f64(),
        cfg.cache.partial_ttl.as_secs_f64(),
    );
    if let Some((doc, ttl_left)) = db::results::fresh_for_key(&state.pool, &key, full_ttl, partial_ttl).await? {
        // Redis lost the entry but PostgreSQL, the truth, has a fresh result: serve and re-cache it.
        count_cache("hit");
        let bytes = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
        let job = match &hook {
            Some(hook) => Some(answer_cached(&state, tenant, hook, &bytes).await?),
            None => None,
        };
        let set = state.cache.set(&key, &bytes, Duration::from_secs(ttl_left));
        if let Err(e) = state.cache_redis.call(set).await {
            tracing::debug!(error = %e, "could not re-populate the cache");
        }
        let response = CachedBody::new(&bytes).response(&headers, "dropforge; hit; detail=postgres");
        return Ok(with_job_location(response, job));
    }
    count_cache("miss");

    let wait = preferred_wait(&headers, cfg.api.max_wait);
    // In-flight work is joined only when the webhook target matches too (each target gets its
    // event). Requests that join one job with one URL share its single event: the receiver could
    // not tell two identical events apart anyway.
    let dedupe = format!("validation:{key}:{}", webhook_url.as_deref().unwrap_or(""));
    let id = submit(
        &state,
        tenant,
        JobKind::Validation,
        dedupe,
        input,
        webhook_url,
        request_id,
    )
    .await?;

    // The job exists from here on: a failure while answering still tells the client where it is.
    Ok(job_response(&state, tenant, id, wait)
        .await
        .unwrap_or_else(|e| located(e, id)))
}

/// An error answer for a request whose job was already created: the problem document with a
/// `Location` header pointing at the job, so a `503` never hides work the client cannot see.
pub fn located(error: ApiError, id: JobId) -> Response {
    let mut response = error.into_response();
    if let Ok(location) = HeaderValue::from_str(&job_location(id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// What a cache hit needs to record a request that names a `webhook_url`.
#[derive(Debug, Clone, Copy)]
struct CachedHook<'a> {
    url: &'a str,
    input: &'a Value,
    key: &'a str,
    request_id: Option<&'a str>,
}

/// Refuses a `webhook_url` the tenant's receiver disabled with `410 Gone` (`webhook_url_disabled`):
/// accepting it would promise an event that is never sent. An operator re-enables it with
/// `dropforge-api webhooks enable`.
pub async fn refuse_disabled(state: &AppState, tenant: TenantId, url: &str) -> Result<(), ApiError> {
    if db::webhooks::url_disabled(&state.pool, tenant.0, url).await? {
        return Err(ApiError::WebhookUrlDisabled);
    }
    Ok(())
}

/// A cache hit for a request that names a `webhook_url`: records it as a job that already
/// succeeded with the cached result and writes its `job.succeeded` event to the outbox, in one
/// transaction; the worker delivers it like any other. Answers the job's id.
async fn answer_cached(
    state: &AppState,
    tenant: TenantId,
    hook: &CachedHook<'_>,
    result: &[u8],
) -> Result<JobId, ApiError> {
    let text = std::str::from_utf8(result).map_err(|e| ApiError::Internal(format!("cached result: {e}")))?;
    let doc: Value = serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("cached result: {e}")))?;
    let answer = db::webhooks::CachedAnswer {
        tenant_id: tenant,
        kind: JobKind::Validation,
        input: hook.input,
        cache_key: hook.key,
        result: text,
        url: hook.url,
        request_id: hook.request_id,
    };
    let (id, written) = db::webhooks::record_cached_answer(&state.pool, &answer, |id| {
        payload::job_event("job.succeeded", id, JobKind::Validation, Some(&doc), None)
    })
    .await?;
    if !written {
        // Disabled (410) between the check at submit and now.
        tracing::warn!(job.id = %id, "webhook URL disabled meanwhile; no event written");
    }
    Ok(id)
}

/// Adds `Content-Location` (the job recording a cached answer) to a cache hit's response.
fn with_job_location(mut response: Response, job: Option<JobId>) -> Response {
    if let Some(location) = job.and_then(|id| HeaderValue::from_str(&job_location(id)).ok()) {
        response.headers_mut().insert(header::CONTENT_LOCATION, location);
    }
    response
}

/// The answer for a job just created or joined: waits up to `wait` (`Prefer: wait`), then `200`
/// with the finished job (`Content-Location`) or `202` with it (`Location`, `Retry-After`).
pub async fn job_response(
    state: &AppState,
    tenant: TenantId,
    id: JobId,
    wait: Option<Duration>,
) -> Result<Response, ApiError> {
    let (job, finished) = match wait {
        Some(wait) if !wait.is_zero() => wait_for_job(state, tenant, id, wait).await?,
        _ => {
            let job = db::jobs::get(&state.pool, tenant, id)
                .await?
                .ok_or(ApiError::JobNotFound)?;
            let done = job.status().is_terminal();
            (job, done)
        }
    };
    let status = if finished { StatusCode::OK } else { StatusCode::ACCEPTED };
    let mut response = (status, axum::Json(job_document(&job))).into_response();
    let headers = response.headers_mut();
    if !finished {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Ok(location) = HeaderValue::from_str(&job_location(id)) {
        headers.insert(
            if finished {
                header::CONTENT_LOCATION
            } else {
                header::LOCATION
            },
            location,
        );
    }
    headers.insert("cache-status", HeaderValue::from_static("dropforge; fwd=miss"));
    if let Some(v) = wait.and_then(|w| HeaderValue::from_str(&format!("wait={}", w.as_secs())).ok()) {
        headers.insert("preference-applied", v);
    }
    Ok(response)
}

/// Creates or joins a job and, when the queue has room, pushes it at once (otherwise the
/// worker's dispatcher feeds it from PostgreSQL under the queue cap). A queue Redis that does not
/// answer within its deadline leaves the job to the dispatcher too: the row is the truth.
pub async fn submit(
    state: &AppState,
    tenant: TenantId,
    kind: JobKind,
    dedupe_key: String,
    input: Value,
    webhook_url: Option<String>,
    request_id: Option<String>,
) -> Result<JobId, ApiError> {
    let job = NewJob {
        tenant_id: tenant,
        kind,
        dedupe_key: Some(dedupe_key),
        input,
        webhook_url,
        request_id,
        parent_id: None,
        dispatch_as: None,
    };
    submit_job(state, job).await.map(db::jobs::Created::id)
}

/// [`submit`] for a prepared [`NewJob`] (batches set `parent_id`); tells new jobs from joined ones.
pub async fn submit_job(state: &AppState, job: NewJob) -> Result<db::jobs::Created, ApiError> {
    let mut jobs = [job];
    reserve_dispatch(state, &mut jobs).await;
    let created = db::jobs::create_or_join(&state.pool, &jobs[0]).await?;
    push_new(state, &jobs, &[created]).await;
    Ok(created)
}

/// Marks the jobs that their queue has room for to be pushed at once (a fresh task id each); the
/// others are left to the worker's dispatcher, as when Redis does not answer in time.
pub async fn reserve_dispatch(state: &AppState, jobs: &mut [NewJob]) {
    let cap = state.config.worker.queue_cap;
    for job in jobs {
        let room = state
            .room
            .reserve(&state.queue, &state.queue_redis, job.kind, cap)
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "queue depth unknown; leaving the jobs to the dispatcher");
                false
            });
        job.dispatch_as = room.then(Ulid::generate);
    }
}

/// After the commit: pushes the new jobs marked for dispatch, one Redis call per kind (a failed
/// push leaves them to the dispatcher), and counts what was pushed, deferred and joined.
pub async fn push_new(state: &AppState, jobs: &[NewJob], created: &[db::jobs::Created]) {
    let mut pushes: Vec<(JobKind, JobId, Ulid)> = Vec::new();
    for (job, created) in jobs.iter().zip(created) {
        let outcome = match (created, job.dispatch_as) {
            (db::jobs::Created::New(id), Some(task)) => {
                pushes.push((job.kind, *id, task));
                "pushed"
            }
            (db::jobs::Created::New(_), None) => "deferred",
            (db::jobs::Created::Joined(_), _) => "joined",
        };
        metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => job.kind.as_str(), "outcome" => outcome).increment(1);
    }
    for kind in JobKind::ALL {
        let batch: Vec<(JobId, Ulid)> = pushes
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, id, task)| (*id, *task))
            .collect();
        if batch.is_empty() {
            continue;
        }
        // A push that timed out may still land later: the dispatcher then pushes the job again
        // under a new task id, and the worker's guarded claim drops the duplicate delivery.
        if let Err(e) = state.queue_redis.call(state.queue.push(kind, &batch)).await {
            tracing::warn!(jobs = batch.len(), error = %e, "push failed; the dispatcher will retry");
            for (id, task) in batch {
                // If PostgreSQL fails too, the reconciler finds the dispatch that Redis never got.
                if let Err(e) = db::jobs::undo_dispatch(&state.pool, id, task).await {
                    tracing::warn!(job.id = %id, error = %e, "could not undo the dispatch; the reconciler will");
                }
            }
        }
    }
}

/// Waits up to `max` for a job to finish; answers the job as last read and whether it finished.
/// The job is read once first (it may already be done, e.g. when joined), then again only when
/// its completion event arrives or every 2 s in case an event was lost: a submission that waits
/// costs two reads of PostgreSQL, not one per poll.
pub async fn wait_for_job(
    state: &AppState,
    tenant: TenantId,
    id: JobId,
    max: Duration,
) -> Result<(db::jobs::JobRecord, bool), ApiError> {
    let waiter = state.waiters.register(id);
    let deadline = Instant::now() + max;
    loop {
        let notified = waiter.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let job = db::jobs::get(&state.pool, tenant, id)
            .await?
            .ok_or(ApiError::JobNotFound)?;
        if job.status().is_terminal() {
            return Ok((job, true));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok((job, false));
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(remaining.min(Duration::from_secs(2))) => {}
            // Shutting down: answer 202 now rather than hold the connection open.
            () = state.draining.wait() => return Ok((job, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_parsed_and_clamped() {
        let mut h = HeaderMap::new();
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=10"));
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(10))
        );
        h.insert("prefer", HeaderValue::from_static("wait=100"));
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        h.insert(
            "prefer",
            HeaderValue::from_static("wait=123456789012345678901234567890"),
        );
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(30)),
            "a 30-digit wait is capped, not ignored"
        );
        h.insert("prefer", HeaderValue::from_static("wait=abc"));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
        h.insert("prefer", HeaderValue::from_static("wait=-5"));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
        h.insert("prefer", HeaderValue::from_static("wait="));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
    }

    #[test]
    fn every_invalid_member_is_reported() {
        let body = json!({"product": {"id": "x"}, "country": "USA", "target_price": -1, "extra": 1});
        let Err(ApiError::Validation(errors)) = parse_request(&body, "US", &UrlPolicy::default()) else {
            panic!("must fail")
        };
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/extra", "/product/id", "/country", "/target_price"]);
    }

    #[test]
    fn countries_must_be_assigned_codes() {
        let product = json!({"source": "aliexpress", "id": "1005000000000001"});
        for unknown in ["XX", "ZZ", "uk"] {
            let body = json!({"product": product, "country": unknown});
            let Err(ApiError::Validation(errors)) = parse_request(&body, "US", &UrlPolicy::default()) else {
                panic!("{unknown} must be refused")
            };
            assert_eq!(errors[0].pointer, "/country");
            assert!(errors[0].detail.contains("ISO 3166-1"), "{}", errors[0].detail);
        }
        let body = json!({"product": product, "country": "de"});
        let parsed = parse_request(&body, "US", &UrlPolicy::default()).expect("de is Germany");
        assert_eq!(parsed.options.country, "DE");
    }
}
