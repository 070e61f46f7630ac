//! `POST /v1/validations/batch`: up to 50 products; cached items answered at once, each distinct
//! miss served by one validation job (shared within the batch, joined when already in flight).

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::webhook::ssrf::UrlPolicy;

use crate::{
    auth::Tenant,
    documents::{BatchJob, CachedBatch, job_location},
    error::ApiError,
    extract::JsonWithHeaders,
    lookup::{
        self,
        batch::{Outcome, submit_batch},
        located,
    },
    problem::{
        Problem,
        responses::{
            InternalError, MethodNotAllowed, PayloadTooLarge, ServiceUnavailable, TooManyRequestsOrBacklogFull,
            Unauthorized,
        },
    },
    requests::{BatchRequest, webhook},
    state::AppState,
};

/// Handler of `POST /v1/validations/batch`.
#[utoipa::path(post, path = "/v1/validations/batch", tag = "validations", summary = "Validate up to 50 products",
    security(("bearer" = [])),
    request_body(content = BatchRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^(?:[!#-\\[\\]-~]{1,255}|\"[!#-\\[\\]-~]{1,255}\")$",
        description = "1 to 255 visible ASCII characters (optionally as a quoted string); replays the first answer for 24 h")),
    responses(
        (status = 200, description = "Every item was cached: items with their results", body = CachedBatch,
            headers(("Cache-Status" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "Batch job created; cached items are filled in, the rest follow",
            body = BatchJob,
            headers(("Location" = String), ("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized), (status = 405, response = MethodNotAllowed),
        (status = 409, description = "Same Idempotency-Key in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (JSON pointer `/products/{i}`), more than 50 products, or a \
            `webhook_url` disabled after it answered 410 Gone (`webhook_url_disabled`, pointer `/webhook_url`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequestsOrBacklogFull), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn create_batch(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonWithHeaders { headers, body }: JsonWithHeaders,
) -> Result<Response, ApiError> {
    let policy = UrlPolicy::from(&state.config.webhooks);
    let request = BatchRequest::parse(&body, &state.config.upstreams.aliexpress.ship_to_country, &policy)?;
    if let Some(url) = &request.webhook_url {
        webhook::check(&state, tenant, url, &policy).await?;
    }
    let webhook_url = request.webhook_url.as_ref().map(url::Url::to_string);
    let request_id = lookup::request_id(&headers);
    let (batch, document) = match submit_batch(&state, tenant, &request, webhook_url, request_id.as_deref()).await? {
        Outcome::Cached(body) => {
            let mut response = (StatusCode::OK, Json(body)).into_response();
            response.headers_mut().insert(
                crate::header_names::CACHE_STATUS,
                HeaderValue::from_static("dropforge; hit"),
            );
            return Ok(response);
        }
        Outcome::Created { batch, document } => (batch, document),
    };
    // The batch exists from here on: a failure while answering still says where it is.
    let document = match document {
        Ok(document) => document,
        Err(e) => return Ok(located(e, batch)),
    };
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&job_location(batch)) {
        h.insert(header::LOCATION, location);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(response)
}
