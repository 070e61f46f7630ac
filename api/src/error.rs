//! `ApiError`: every failure a client can see, each with a stable `code`, rendered as a [`Problem`].

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{db::jobs::CreateError, product::FieldError};

pub use crate::problem::PROBLEM_JSON;
use crate::problem::Problem;

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
    /// The `webhook_url` answered `410 Gone` earlier and is disabled for the tenant.
    #[error("webhook url disabled")]
    WebhookUrlDisabled,
    /// A path parameter is not a job id.
    #[error("invalid job id")]
    InvalidJobId,
    /// A query parameter is given more than once (`?status=a&status=b`); the name is decoded.
    #[error("duplicate query parameter {0}")]
    DuplicateQueryParameter(String),
    /// A query parameter's name or value is not UTF-8 once percent-decoded; the JSON pointer.
    #[error("query parameter {0} is not UTF-8")]
    InvalidQueryEncoding(String),
    /// A path segment is not UTF-8 once percent-decoded; the JSON pointer.
    #[error("path parameter {0} is not UTF-8")]
    InvalidPathEncoding(String),
    /// The query string does not fit the route's parameters (no route has such a parameter today).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
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
    /// The tenant's queued jobs would exceed its quota: nothing of the submission was kept.
    #[error("tenant backlog full: {queued} queued of {max_queued}")]
    TenantBacklogFull {
        /// The tenant's queued jobs.
        queued: i64,
        /// Its quota.
        max_queued: i64,
        /// When to retry (whole seconds, 1..=300).
        retry_after: u64,
    },
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
            Self::WebhookUrlDisabled => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "webhook-url-disabled",
                "Webhook URL disabled",
            ),
            Self::InvalidJobId => (StatusCode::BAD_REQUEST, "invalid-job-id", "Invalid job id"),
            Self::DuplicateQueryParameter(_) => (
                StatusCode::BAD_REQUEST,
                "duplicate-query-parameter",
                "Duplicate query parameter",
            ),
            Self::InvalidQueryEncoding(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-query-encoding",
                "Query parameter is not UTF-8",
            ),
            Self::InvalidPathEncoding(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-path-encoding",
                "Path segment is not UTF-8",
            ),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid-query", "Invalid query string"),
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
            Self::TenantBacklogFull { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "tenant-backlog-full",
                "Tenant backlog full",
            ),
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
            Self::WebhookUrlDisabled => "This webhook_url answered 410 Gone and is disabled for your account, so no \
                event would ever reach it; use another URL, or ask an operator to re-enable it."
                .into(),
            Self::InvalidJobId => "Job ids are UUIDs such as 019ac3b2-6c1d-7e6f-9a8b-123456789abc.".into(),
            Self::DuplicateQueryParameter(name) => {
                format!("The query parameter `{name}` is given more than once; give it once.")
            }
            Self::InvalidQueryEncoding(pointer) => {
                format!("{pointer} is not valid UTF-8 once percent-decoded.")
            }
            Self::InvalidPathEncoding(pointer) => {
                format!("{pointer} is not valid UTF-8 once percent-decoded.")
            }
            Self::InvalidQuery(e) => format!("The query string is invalid: {e}"),
            Self::JobNotFound => "No job with this id exists for your account.".into(),
            Self::JobNotCancelable(status) => format!("Only queued jobs can be canceled; this job is {status}."),
            Self::RouteNotFound => "No such route. See /openapi.json.".into(),
            Self::MethodNotAllowed => "This route does not support this method.".into(),
            Self::PayloadTooLarge => "The request body exceeds 64 KiB.".into(),
            Self::Unauthorized(why) => (*why).into(),
            Self::TenantBacklogFull {
                queued,
                max_queued,
                retry_after,
            } => format!(
                "Your account has {queued} jobs waiting and may have at most {max_queued}; this submission would \
                 exceed that, so nothing of it was accepted. Retry in about {retry_after} s, as jobs drain."
            ),
            Self::Unavailable(_) => "A dependency is temporarily unavailable; retry shortly.".into(),
            Self::Internal(_) => "An unexpected error occurred; it has been logged.".into(),
        }
    }

    /// The `errors[]` members of this problem: every invalid member, or the one bad parameter.
    fn field_errors(&self) -> Option<Vec<FieldError>> {
        match self {
            Self::Validation(errors) => Some(errors.clone()),
            Self::WebhookUrlDisabled => Some(vec![FieldError::new(
                "/webhook_url",
                "is disabled for your account (it answered 410 Gone)",
            )]),
            Self::DuplicateQueryParameter(name) => Some(vec![FieldError::new(
                format!("/query/{}", pointer_token(name)),
                "is given more than once",
            )]),
            Self::InvalidQueryEncoding(pointer) | Self::InvalidPathEncoding(pointer) => Some(vec![FieldError::new(
                pointer.clone(),
                "is not valid UTF-8 once percent-decoded",
            )]),
            _ => None,
        }
    }
}

/// A name escaped as one JSON pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// SQLSTATEs that mean "this connection or server cannot serve you right now", not "your query
/// is wrong": 53300 too many connections, 57P01 admin shutdown (`pg_terminate_backend`), 57P02
/// crash shutdown, 57P03 cannot connect now (starting up or in recovery).
const UNAVAILABLE_SQLSTATES: [&str; 4] = ["53300", "57P01", "57P02", "57P03"];

/// True when a PostgreSQL error means the database is (momentarily) out of reach: pool timeouts,
/// closed pools, I/O and TLS failures, protocol desynchronisation after a dropped connection, a
/// crashed connection worker, SQLSTATE class 08 (connection exception) and [`UNAVAILABLE_SQLSTATES`].
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || UNAVAILABLE_SQLSTATES.contains(&code.as_ref())),
        _ => false,
    }
}

impl ApiError {
    /// The answer to a failed statement, for each of the requests that shared it.
    pub fn from_db(e: &sqlx::Error) -> Self {
        if is_unavailable(e) {
            Self::Unavailable(format!("postgres: {e}"))
        } else {
            Self::Internal(format!("postgres: {e}"))
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::from_db(&e)
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Db(e) => e.into(),
            CreateError::BacklogFull(full) => Self::TenantBacklogFull {
                queued: full.queued,
                max_queued: full.max_queued,
                retry_after: full.retry_after().as_secs().clamp(1, 300),
            },
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
        let mut problem = Problem::new(status, code, title, self.detail());
        if let Some(errors) = self.field_errors() {
            problem = problem.with_errors(errors);
        }
        let mut response = problem.into_response();
        let headers = response.headers_mut();
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
            Self::TenantBacklogFull { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}
