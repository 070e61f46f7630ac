//! `ApiError`: every failure a client can see, rendered as RFC 9457 `application/problem+json`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::product::FieldError;
use serde_json::json;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Client-visible errors, each with a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// Wrong or missing `Content-Type`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Well-formed JSON with invalid members.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A path parameter is not a job id.
    #[error("invalid job id")]
    InvalidJobId,
    /// No such job for this tenant.
    #[error("job not found")]
    JobNotFound,
    /// The job has started or finished, so it cannot be canceled.
    #[error("job not cancelable")]
    JobNotCancelable(&'static str),
    /// No route.
    #[error("not found")]
    RouteNotFound,
    /// Route exists, method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Missing or invalid API key.
    #[error("unauthorized")]
    Unauthorized(&'static str),
    /// A dependency (PostgreSQL, Redis) is unavailable; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug; details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed", "Invalid request"),
            Self::InvalidJobId => (StatusCode::BAD_REQUEST, "invalid-job-id", "Invalid job id"),
            Self::JobNotFound => (StatusCode::NOT_FOUND, "job-not-found", "Job not found"),
            Self::JobNotCancelable(_) => (StatusCode::CONFLICT, "job-not-cancelable", "Job cannot be canceled"),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal-error", "Internal error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::MalformedJson(e) => format!("The request body is not valid JSON: {e}"),
            Self::UnsupportedMediaType => "Send the request body as application/json.".into(),
            Self::Validation(errors) if errors.len() == 1 => format!("{} {}", errors[0].pointer, errors[0].detail),
            Self::Validation(errors) => format!("{} members are invalid; see errors.", errors.len()),
            Self::InvalidJobId => "Job ids are UUIDs such as 019ac3b2-6c1d-7e6f-9a8b-123456789abc.".into(),
            Self::JobNotFound => "No job with this id exists for your account.".into(),
            Self::JobNotCancelable(status) => format!("Only queued jobs can be canceled; this job is {status}."),
            Self::RouteNotFound => "No such route. See /openapi.json.".into(),
            Self::MethodNotAllowed => "This route does not support this method.".into(),
            Self::PayloadTooLarge => "The request body exceeds 64 KiB.".into(),
            Self::Unauthorized(why) => (*why).into(),
            Self::Unavailable(_) => "A dependency is temporarily unavailable; retry shortly.".into(),
            Self::Internal(_) => "An unexpected error occurred; it has been logged.".into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(format!("postgres: {e}"))
            }
            other => Self::Internal(format!("postgres: {other}")),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        Self::Unavailable(format!("redis: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        match &self {
            Self::Internal(e) => tracing::error!(error = %e, "internal error"),
            Self::Unavailable(e) => tracing::warn!(error = %e, "dependency unavailable"),
            _ => {}
        }
        let mut body = json!({
            "type": format!("/problems/{code}"),
            "title": title,
            "status": status.as_u16(),
            "detail": self.detail(),
            "code": code.replace('-', "_"),
        });
        if let Self::Validation(errors) = &self {
            body["errors"] = json!(errors);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"dropforge\""),
                );
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}
