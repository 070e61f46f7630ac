//! `POST /v1/validations`: answer from the cache at once, otherwise create (or join) a job.

use axum::{extract::State, response::Response};
use dropforge_common::{
    cache,
    contract::{JobInput, ValidationInput},
    domain::JobKind,
    scoring::MODEL,
    webhook::ssrf::UrlPolicy,
};

use crate::{
    auth::Tenant,
    documents::{ValidationAnswer, job::ValidationJob},
    error::ApiError,
    extract::JsonWithHeaders,
    lookup::{Lookup, Store},
    problem::{
        Problem,
        responses::{
            InternalError, MethodNotAllowed, PayloadTooLarge, ServiceUnavailable, TooManyRequestsOrBacklogFull,
            Unauthorized,
        },
    },
    requests::{ValidationRequest, webhook},
    state::AppState,
};

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
            pattern = "^(?:[!#-\\[\\]-~]{1,255}|\"[!#-\\[\\]-~]{1,255}\")$",
            description = "1 to 255 visible ASCII characters. A retry with the same key and body replays the first \
                answer (with `Idempotent-Replayed: true`); the same key with another body is 422; a retry while \
                the first request runs is 409."),
    ),
    request_body(content = ValidationRequest, content_type = "application/json",
        description = "`application/json` or any `application/*+json`; at most 64 KiB."),
    responses(
        (status = 200, description = "A cached result (`CachedValidation`), or the job finished within `Prefer: wait` (`Job`)",
            content_type = "application/json",
            body = ValidationAnswer,
            headers(
                ("Cache-Status" = String, description = "RFC 9211: `dropforge; hit` (with `detail=memory|postgres`) or `dropforge; fwd=miss`"),
                ("Content-Location" = String, description = "The finished job, when it is one (a cached answer to a \
                    request with `webhook_url` is recorded as a succeeded job, whose `job.succeeded` event is sent)"),
                ("Preference-Applied" = String, description = "`wait=N` when `Prefer: wait` was honoured"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"),
                ("RateLimit" = String, description = "Remaining quota of the most restrictive policy"),
                ("RateLimit-Policy" = String, description = "Applied quota policies"),
            )),
        (status = 202, description = "Job created or joined; poll `Location`", body = ValidationJob,
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
            body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 405, response = MethodNotAllowed),
        (status = 409, description = "A request with this `Idempotency-Key` is still running (`idempotency_request_in_progress`)",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds before retrying"))),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, each in `errors` (`validation_failed`), a `webhook_url` \
            disabled after it answered 410 Gone (`webhook_url_disabled`, pointer `/webhook_url`), or an \
            `Idempotency-Key` reused with another body (`idempotency_key_reused`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequestsOrBacklogFull),
        (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn create_validation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonWithHeaders { headers, body }: JsonWithHeaders,
) -> Result<Response, ApiError> {
    let cfg = &state.config;
    let policy = UrlPolicy::from(&cfg.webhooks);
    let request = ValidationRequest::parse(&body, &cfg.upstreams.aliexpress.ship_to_country, &policy)?;
    if let Some(url) = &request.webhook_url {
        // Boxed: a rare path (DNS included) whose state would otherwise be in every request's.
        Box::pin(webhook::check(&state, tenant, url, &policy)).await?;
    }
    let webhook_url = request.webhook_url.as_ref().map(url::Url::to_string);
    let key = cache::validation_key(&cfg.redis_prefix, MODEL, &request.product, &request.options());
    let ValidationRequest {
        product,
        country,
        target_price,
        ..
    } = request;
    let lookup = Lookup {
        kind: JobKind::Validation,
        key,
        store: Store::Validations,
        input: move || JobInput::from(ValidationInput::new(product, country, target_price)),
        webhook_url,
    };
    lookup.answer(&state, tenant, &headers).await
}
